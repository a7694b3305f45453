"""Are the fitter's intervals calibrated?  Fast pulse-train campaigns of a known model,
fitted, and every reported interval scored against the truth (``bench/fit_coverage.py``).

**The generator** (:func:`simulate_pulse_trains`) runs :class:`procedures.PulseTrain`'s
protocol directly on a :class:`~labbench.physics.chip.Chip`, all measured devices at once,
through the same chip calls the simulated bench's wiring makes (:mod:`labbench.sim.wiring`):

* a full RESET is the SMU holding SL at the strong-RESET voltage for one reading:
  ``Chip.dc(idx, −V, compliance, gate)`` (the reading it takes is a read event too);
* a pulse is ``Chip.pulse(idx, 1, direction, amplitude, width, gate)`` with the gate of the
  word line (the bit/source line at 0 V);
* a read is ``Chip.current(idx, V_read, compliance, gate=read gate, duration=dc_time)`` / V:
  the access transistor and lines in series, the model's read noise, and the read's
  disturb; what the instrument reports, which :func:`fit_device` de-embeds;
* the virtual clock advances as the bench's does (≈ 5 ms per read), so drift and
  post-program relaxation act as on the bench.

The chip's noise is counter-based (keyed by device and event), so visiting all devices at
once gives the same draws as the bench's cell-by-cell order: with the same chip size and
seed the data equal the bench's up to the SMU's own reading noise (~1e-4 of a read) and
the timing of drift.  Only the SMU's reading noise floor (range offset and RMS noise,
:mod:`labbench.sim.current_source`) is left out.

**The score** (:func:`score_fit`): per parameter, the truth, the estimate, its 95 %
interval, whether the interval holds the truth, and, for spreads, whether the fit called
the spread resolved and the interval's width as a factor.  :func:`coverage_table`
aggregates seeds: coverage with its Clopper-Pearson 95 % interval, the median of
estimate/truth, how often a "not resolved" upper bound holds the truth, and how often
a parameter was called resolved with an interval wider than a factor of 3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from labbench.physics.chip import Chip
from labbench.physics.device_model import DeviceModel, load_device_model
from labbench.physics.models import RESET, SET

#: the bench's operating point (benches/sim.yaml): SET, RESET, read and the strong RESET
OPERATING = {"set": {"amplitude": 1.5, "width": 1e-6, "gate": 1.2},
             "reset": {"amplitude": 1.8, "width": 1e-6, "gate": 2.5},
             "read_voltage": 0.1, "read_gate": 1.8, "compliance": 1e-4,
             "strong_reset_voltage": 1.5, "strong_reset_gate": 2.5}
#: the sweep of the coverage runs: gate (the ceiling k(V_G − V_T)²/v_C falls below Gmax at
#: 0.8 and 1.0 V), amplitude (v0) and width up to a third of τ (where the step stops
#: growing linearly in width: what resolves τ)
SWEEP = {"gates": (0.8, 1.0), "amplitudes": (1.3, 1.7), "widths": (3e-6, 3e-5)}
#: virtual seconds per read (with its pulse) and per full RESET, as on the simulated bench
T_STEP, T_RESET = 4.935e-3, 5.5e-3


def conditions(sweep: dict | None = SWEEP, op: dict = OPERATING) -> list[tuple[float, float, float]]:
    """(gate, amplitude, width) of each SET condition, the operating one first, each sweep
    varying one quantity around it (as :meth:`PulseTrain.conditions`)."""
    s = op["set"]
    out = [(s["gate"], s["amplitude"], s["width"])]
    sweep = sweep or {}
    out += [(g, s["amplitude"], s["width"]) for g in sweep.get("gates", ())]
    out += [(s["gate"], a, s["width"]) for a in sweep.get("amplitudes", ())]
    out += [(s["gate"], s["amplitude"], w) for w in sweep.get("widths", ())]
    return list(dict.fromkeys(out))


def simulate_pulse_trains(model: DeviceModel | None = None, devices: int = 8, cycles: int = 2, pulses: int = 64,
                          seed: int = 0, sweep: dict | None = SWEEP, rows: int = 32, cols: int = 32,
                          op: dict = OPERATING, first_row: int = 0) -> pd.DataFrame:
    """PulseTrain's tidy data for ``devices`` devices (cells ``first_row:first_row + devices/2, 0``,
    both sides) of
    a ``rows``×``cols`` chip of ``model`` (the bench's 32×32 by default, so the chip's devices
    are the bench's at the same seed), every condition × ``cycles`` (see module doc)."""
    model = load_device_model() if model is None else model
    if devices % 2:
        raise ValueError("devices come in pairs (both sides of a cell)")
    n_cells = devices // 2
    if first_row + n_cells > rows:
        raise ValueError(f"{devices} devices from row {first_row} need {first_row + n_cells} rows; the chip has {rows}")
    chip = Chip(model, rows, cols, seed=seed)
    r = np.repeat(np.arange(first_row, first_row + n_cells), 2)
    side = np.tile([0, 1], n_cells)
    idx = (r * cols + 0) * 2 + side
    conds = conditions(sweep, op)
    dc_time = model.switching.dc_time
    v_read, comp = op["read_voltage"], op["compliance"]
    clock = [0.0]
    cols_out = {k: [] for k in ("condition", "cycle", "direction", "pulse", "time", "gate", "amplitude", "width")}
    reads = []

    def tick(dt):
        clock[0] += dt
        chip.advance_to(clock[0])

    def full_reset():
        tick(T_RESET)
        chip.dc(idx, -op["strong_reset_voltage"], comp, gate=op["strong_reset_gate"])

    full_reset()   # full_reset_first
    for ci, (gate, amp, width) in enumerate(conds):
        for cyc in range(cycles):
            if ci or cyc:
                full_reset()
            for d, name in ((SET, "set"), (RESET, "reset")):
                pulse = (gate, amp, width) if d == SET else \
                    (op["reset"]["gate"], op["reset"]["amplitude"], op["reset"]["width"])
                for p in range(pulses + 1):
                    tick(T_STEP)
                    if p:
                        chip.pulse(idx, 1, d, amplitude=pulse[1], width=pulse[2], gate=pulse[0])
                    i = chip.current(idx, v_read, comp, gate=op["read_gate"], duration=dc_time)
                    reads.append(i / v_read)
                    for k, v in zip(cols_out, (ci, cyc, name, p, clock[0], *pulse)):
                        cols_out[k].append(v)
    g = np.stack(reads, axis=1)           # (devices, reads): tidy order is device-major
    nd, nr = g.shape
    out = {"cell": np.repeat(idx, nr), "row": np.repeat(r, nr), "col": 0, "side": np.repeat(side, nr)}
    out.update({k: np.tile(np.asarray(v), nd) for k, v in cols_out.items()})
    out["conductance"] = g.ravel()
    out["read_voltage"], out["read_gate"] = v_read, op["read_gate"]
    return pd.DataFrame(out)


# -- the truth and the score ------------------------------------------------------------------

def _clipped_normal_sd(t: float) -> float:
    """σ of a standard normal clipped (not truncated) at ±t, as the chip draws D2D factors."""
    tail = 2 * stats.norm.sf(t)
    inner = (stats.norm.cdf(t) - stats.norm.cdf(-t)) - 2 * t * stats.norm.pdf(t)
    return math.sqrt(inner + tail * t * t)


def truth_of(model: DeviceModel) -> dict[str, float]:
    """What the fit should report for ``model``: update parameters of the median device,
    C2C, read noise, the D2D σ of ln(parameter) (as the chip draws them: clipped at
    ``d2d.truncate``), and the SET kinetics."""
    up, sw = model.update, model.switching
    f = _clipped_normal_sd(model.d2d.truncate)
    out = {"g_min": up.g_min, "g_max": up.g_max, "a_set": up.a_set, "a_reset": up.a_reset,
           "c2c_abs": up.c2c_abs, "read_noise": model.read.noise_rel,
           "transistor_k": sw.transistor_k, "v0": sw.set_kinetics.v0, "tau": sw.set_kinetics.tau}
    for name in up.variable_params:
        out[f"d2d_{name}"] = f * model.d2d.sigma.get(name, 0.0)
    return {k: float(v) for k, v in out.items()}


@dataclass
class Row:
    param: str
    truth: float
    estimate: float
    lo: float
    hi: float
    kind: str               # "interval" (a 95 % interval) or "spread" (D2D: resolved or a bound)
    resolved: bool = True

    def as_dict(self) -> dict:
        inside = bool(self.lo <= self.truth <= self.hi) if np.isfinite(self.lo) and np.isfinite(self.hi) else None
        width = self.hi / self.lo if self.lo > 0 and np.isfinite(self.hi) else math.inf
        return {"param": self.param, "truth": self.truth, "estimate": self.estimate, "lo": self.lo, "hi": self.hi,
                "kind": self.kind, "resolved": self.resolved, "inside": inside, "width_factor": width,
                "ratio": self.estimate / self.truth if self.truth else math.nan}


def score_fit(fit, truth: dict[str, float]) -> list[dict]:
    """One row per reported parameter of a :class:`FitResult` against ``truth``."""
    rows: list[Row] = []
    unc = fit.uncertainty
    for k in ("g_min", "g_max", "a_set", "a_reset"):
        if k in unc:
            lo, hi = unc[k]["ci95"]
            t = truth[k]
            sgn = -1.0 if t < 0 else 1.0   # a_reset < 0: scored as |A|
            lo, hi = sorted((sgn * lo, sgn * hi))
            rows.append(Row(k, abs(t), sgn * unc[k]["value"], lo, hi, "interval", bool(unc[k].get("resolved", True))))
    for d in ("set", "reset"):
        e = fit.c2c.get(d, {})
        if "c2c_abs_ci95" in e:
            rows.append(Row(f"c2c_abs_{d}", truth["c2c_abs"], e["c2c_abs"], *e["c2c_abs_ci95"], "interval"))
    rn = unc.get("read.noise_rel")
    if rn is not None:
        rows.append(Row("read_noise", truth["read_noise"], float(fit.device_model.read.noise_rel), *rn["ci95"],
                        "interval", bool(rn.get("resolved", True))))
    for k, v in fit.d2d.items():
        t = truth.get(f"d2d_{k}")
        if t is None:
            continue
        lo, hi = v["ci95"]
        rows.append(Row(f"d2d_{k}", t, v["sigma"], lo, hi, "spread", bool(v.get("resolved"))))
    if fit.switching is not None:
        s = fit.switching
        for k, t in (("transistor_k", truth["transistor_k"]), ("v0", truth["v0"]), ("tau", truth["tau"])):
            key = "log10_tau" if k == "tau" else k
            lo, hi = s.interval[key]
            est = s.params[key]
            if k == "tau":
                est, lo, hi = 10 ** est, 10 ** lo, 10 ** hi
            rows.append(Row(k, t, est, lo, hi, "interval", bool(s.resolved[key])))
    return [r.as_dict() for r in rows]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of a proportion k/n."""
    if n == 0:
        return math.nan, math.nan
    a = 1 - level
    lo = stats.beta.ppf(a / 2, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(1 - a / 2, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def coverage_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per parameter over seeds (``rows``: :func:`score_fit` rows with a ``seed`` column):
    coverage of the 95 % interval with its Clopper-Pearson 95 % interval (of resolved
    parameters; for spreads, of every seed's interval), how many spreads were "not resolved" and how
    often their upper bound held the truth, how often one was called resolved with an
    interval wider than a factor of 3, and the median of estimate/truth."""
    out = []
    for p, g in rows.groupby("param", sort=False):
        kind = g["kind"].iloc[0]
        res = g[g["resolved"].astype(bool)]
        # a spread's interval is reported whether resolved or not (then as its bound): all seeds
        scored = (g if kind == "spread" else res)
        scored = scored[scored["inside"].notna()]
        k, n = int(scored["inside"].astype(bool).sum()), len(scored)
        lo, hi = clopper_pearson(k, n)
        nr = g[~g["resolved"].astype(bool)] if kind == "spread" else g.iloc[:0]
        nr_ok = int((nr["hi"] >= nr["truth"]).sum())
        has = res["lo"].notna() & res["hi"].notna()   # an estimate without an interval is not "wide"
        wide = int((res["width_factor"][has] > 3).sum())
        out.append({"param": p, "seeds": len(g), "truth": g["truth"].iloc[0],
                    "median_ratio": float(np.median(g["ratio"])),
                    "coverage": k / n if n else math.nan, "cov_lo": lo, "cov_hi": hi,
                    "calibrated": bool(lo <= 0.95 <= hi) if n else None,
                    "not_resolved": len(nr), "bound_holds": nr_ok / len(nr) if len(nr) else math.nan,
                    "resolved_wide": wide})
    return pd.DataFrame(out)


def format_table(t: pd.DataFrame) -> str:
    lines = [f"{'parameter':<18}{'truth':>10}{'est/truth':>10}{'coverage (95% CP)':>24}{'ok':>4}"
             f"{'not res.':>9}{'bound ok':>9}{'wide':>6}"]
    for _, r in t.iterrows():
        cov = "" if not np.isfinite(r.coverage) else f"{r.coverage:6.1%} ({r.cov_lo:.1%}-{r.cov_hi:.1%})"
        ok = "" if r.calibrated is None else ("yes" if r.calibrated else "NO")
        bnd = "" if not r.not_resolved else f"{r.bound_holds:.0%}"
        lines.append(f"{r.param:<18}{r.truth:>10.4g}{r.median_ratio:>10.3f}{cov:>24}{ok:>4}"
                     f"{int(r.not_resolved):>9}{bnd:>9}{int(r.resolved_wide):>6}")
    return "\n".join(lines)
