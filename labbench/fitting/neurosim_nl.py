"""NeuroSim's nonlinearity label of one measured trace, by NeuroSim's own procedure.

NeuroSim (MLP_NeuroSim V3.0, ``nonlinear_fit.m`` and the user manual §5.2) labels a
device's LTP or LTD curve this way:

1. LTD is *mirrored*: plotted against ``max(P) − P``, so that it rises from pulse 0 as LTP does.
2. The pulse axis is divided by ``xf = floor(max P)`` (the number of pulses, the script's
   ``xf_ltp``/``xf_ltd``); the conductance is mapped to [0, 1] by the curve's own minimum and
   maximum (``yi``/``yf``; for LTP these are its first and last reads, for a noisy LTD
   not always).
3. The normalized curve ``y = B·(1 − e^(−x/A))``, ``B = 1/(1 − e^(−1/A))``, which passes
   through (0, 0) and (1, 1), is matched to the points by choosing A (negative for LTD); the
   manual's advice is to find A "without variation" first, then to tune it with
   cycle-to-cycle noise and a fixed random seed, by eye.
4. The label is looked up from |A| in ``Nonlinearity-NormA.htm`` (sign carried).

Here step 3 is least squares over A of all the normalized points (the reproducible part;
the hand tuning against one noisy realization is not), and step 4 is
:func:`labbench.physics.nonlinearity.nl_from_normalized_a`, which reproduces NeuroSim's
table.  The 95 % interval is a bootstrap of the whole procedure: traces are re-drawn from
the device's curve (free end points, :mod:`.trajectories`) plus this trace's own residuals,
resampled in blocks when they are autocorrelated, and relabelled; the procedure's error in
that world (its label less the device curve's own) gives a basic-bootstrap interval.  It
carries the noise of the two end points that step 2 pins the curve to, the procedure's
largest source of spread, and corrects the pull they give the label towards 0; the label
itself stays NeuroSim's.  This is the one place the label is computed; the NeuroSim export reuses it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from labbench.physics.nonlinearity import nl_from_normalized_a

from .residuals import ALPHA, block_length, lag1, resample, runs_test
from .trajectories import Norm, _u, fit_neurosim

#: curvature c = 1/A searched; |c| = 200 is A = 0.005 (label 9.78, beyond the 9 of NeuroSim's table)
C_MAX = 200.0
_GRID = np.concatenate([-np.geomspace(C_MAX, 1e-3, 300), [0.0], np.geomspace(1e-3, C_MAX, 300)])
BOOTSTRAP = 2000
#: ... fewer for long traces (each replicate costs a grid and a golden search over its reads)
BOOTSTRAP_READS = 200000
LEVEL = 0.95
#: NeuroSim's table (Nonlinearity-NormA.htm, formula.cpp getParamA) stops at |label| = 9
TABLE_MAX = 9.0


@dataclass(frozen=True)
class NeuroSimNL:
    """One trace's NeuroSim label: ``nl`` with its 95 % ``ci95``, and how it was obtained."""

    direction: str          # "ltp" or "ltd"
    nl: float
    ci95: tuple[float, float] | None
    a_normalized: float
    a_ci95: tuple[float, float] | None
    pulses: int             # xf = floor(max P): NeuroSim's Pmax for this curve
    g_min: float            # the normalization (S): the curve's own min and max
    g_max: float
    rmse: float             # of the normalized curve (units of the G range)
    n: int
    runs_p: float           # runs test on the normalized residuals (small: structured)
    rho: float              # lag-1 autocorrelation of the device curve's residuals
    block: int              # bootstrap block length (1: independent residuals)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["notes"] = list(self.notes)
        for k in ("ci95", "a_ci95"):   # JSON has no infinity: an open end (the straight line) is None
            d[k] = None if d[k] is None else [float(v) if math.isfinite(v) else None for v in d[k]]
        if not math.isfinite(d["a_normalized"]):
            d["a_normalized"] = None
        return d


def normalized_rmse(pulse, conductance, direction: str, a_normalized: float) -> float:
    """RMSE of NeuroSim's normalized curve at a given A on a trace (e.g. a published A)."""
    direction = {"set": "ltp", "reset": "ltd"}.get(direction, direction)
    x, y = _normalize(np.asarray(pulse, float), np.asarray(conductance, float), direction)[:2]
    return float(np.sqrt(np.mean((y - _u(x, 1.0 / a_normalized)) ** 2)))


def _label(c: float) -> float:
    return 0.0 if c == 0 else nl_from_normalized_a(1.0 / c)


def _normalize(p: np.ndarray, g: np.ndarray, direction: str):
    """NeuroSim's axes (steps 1-2): x = P'/floor(max P'), y = (G − min)/(max − min)."""
    order = np.argsort(p, kind="stable")
    p, g = p[order], g[order]
    pm = p.max() - p if direction == "ltd" else p - p.min()   # LTD mirrored; both start at pulse 0
    xf = math.floor(float(pm.max()))
    if xf < 1:
        raise ValueError("a NeuroSim label needs a trace over at least one pulse")
    lo, hi = float(g.min()), float(g.max())
    if not hi > lo:
        raise ValueError("the trace's conductance is constant: no curve to label")
    return pm / xf, (g - lo) / (hi - lo), xf, lo, hi, pm, g


def _best_c(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Least-squares c = 1/A of y ≈ u(x; c) for each row of Y (shared x): a grid, then golden section."""
    U = _u(x[:, None], _GRID[None, :])                     # (L, G)
    rss = -2.0 * Y @ U + (U * U).sum(axis=0)[None, :]      # Σy² dropped: the same for every c
    i = np.argmin(rss, axis=1)
    a, b = _GRID[np.maximum(i - 1, 0)], _GRID[np.minimum(i + 1, _GRID.size - 1)]

    def f(c):
        return ((Y - _u(x[None, :], c[:, None])) ** 2).sum(axis=1)

    phi = (math.sqrt(5.0) - 1.0) / 2.0
    c1, c2 = b - phi * (b - a), a + phi * (b - a)
    f1, f2 = f(c1), f(c2)
    for _ in range(40):   # the bracket shrinks 0.618× a step: 40 steps resolve c to ~1e-8 of a grid cell
        left = f1 <= f2
        b, a = np.where(left, c2, b), np.where(left, a, c1)
        c2n, c1n = np.where(left, c1, a + phi * (b - a)), np.where(left, b - phi * (b - a), c2)
        fn = f(np.where(left, c1n, c2n))
        f2, f1 = np.where(left, f1, fn), np.where(left, fn, f2)
        c1, c2 = c1n, c2n
    return 0.5 * (c1 + c2)


def neurosim_nonlinearity(pulse, conductance, direction: str, interval: bool = True,
                          bootstrap: int = BOOTSTRAP, seed: int = 0) -> NeuroSimNL:
    """NeuroSim's nonlinearity label of one trace (``direction`` "ltp"/"set" or "ltd"/"reset"),
    pulses in their real order (LTD falling), with the label's 95 % interval (see module doc)."""
    direction = {"set": "ltp", "reset": "ltd"}.get(direction, direction)
    if direction not in ("ltp", "ltd"):
        raise ValueError(f"direction must be ltp/set or ltd/reset, got {direction!r}")
    p, g = np.asarray(pulse, float), np.asarray(conductance, float)
    keep = np.isfinite(p) & np.isfinite(g)
    p, g = p[keep], g[keep]
    if p.size < 4:
        raise ValueError(f"a NeuroSim label needs at least 4 reads in the trace, got {p.size}")
    x, y, xf, lo, hi, pm, gs = _normalize(p, g, direction)
    c = float(_best_c(x, y[None, :])[0])
    res = y - _u(x, c)
    runs = runs_test(res)
    rho, block = 0.0, 1
    if interval:
        # the device's curve: free end points on the same axes (x in pulses/xf, G in S); its
        # residuals are what a re-measured trace would scatter by
        dev = fit_neurosim(gs[None, None, :], pm[None, None, :], 1, Norm(lo, hi - lo), float(xf), "cycle")
        curve = dev.pred[0, 0]
        r = gs - curve
        rho = lag1(r)
        block = block_length(rho, r.size)   # autocorrelated residuals are resampled in blocks
    notes = []
    nl = _label(c)
    if (direction == "ltp") != (c > 0) and c != 0:
        notes.append(f"the {direction.upper()} curve bends the wrong way for NeuroSim's model "
                     f"(normalized A = {1 / c:.3g}, label {nl:+.2f})")
    if abs(nl) > TABLE_MAX:
        notes.append(f"|label| {abs(nl):.2f} is beyond NeuroSim's table (0-{TABLE_MAX:g})")
    if runs["p"] < ALPHA:
        notes.append(f"NeuroSim's curve leaves structured residuals on this trace (runs test p = {runs['p']:.2g}): "
                     "the label summarizes a shape the model does not follow")
    ci = a_ci = None
    if interval:
        r = (r - r.mean()) * math.sqrt(r.size / max(r.size - 3, 1))   # 3 fitted: undo the shrinkage
        rng = np.random.default_rng(seed)
        G = curve[None, :] + resample(r, block, rng, min(bootstrap, max(200, BOOTSTRAP_READS // r.size)))
        ymin, ymax = G.min(axis=1, keepdims=True), G.max(axis=1, keepdims=True)
        cb = _best_c(x, (G - ymin) / (ymax - ymin))
        # basic bootstrap: in the resampling world the truth is the device curve's own c, so
        # c* − c_dev estimates the procedure's error, including its pull by the noisy end points
        q_lo, q_hi = np.quantile(cb - float(dev.params["c"][0]), [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        lo_c, hi_c = c - q_hi, c - q_lo
        ci = (_label(float(lo_c)), _label(float(hi_c)))   # the label rises with c: same order
        if lo_c < 0 < hi_c:
            a_ci = (-math.inf, math.inf)   # the interval holds the straight line (A → ±∞)
            notes.append("the interval holds a straight line: the curvature is not resolved")
        else:
            a_ci = (1.0 / hi_c, 1.0 / lo_c)
    if block > 1:
        notes.append(f"residuals autocorrelated (lag-1 ρ = {rho:.2f}): resampled in blocks of {block} reads, "
                     f"an effective sample size of about {r.size * (1 - rho) / (1 + rho):.0f} of {r.size}")
    return NeuroSimNL(direction=direction, nl=nl, ci95=ci, a_normalized=1.0 / c if c else math.inf,
                      a_ci95=a_ci, pulses=xf, g_min=lo, g_max=hi, rmse=float(np.sqrt(np.mean(res ** 2))),
                      n=int(res.size),
                      runs_p=float(runs["p"]), rho=rho, block=block, notes=tuple(notes))


def labels(trains: dict) -> dict:
    """NeuroSim's label per direction of packed trains ({direction: :class:`.io.Trains`}).

    One trace: :func:`neurosim_nonlinearity` with its interval.  Several: each trace's label,
    and their median and 2.5-97.5 % spread (a spread across traces, not an interval).
    """
    from labbench.physics.models import SET

    out = {}
    for d, tr in trains.items():
        name = "set" if d == SET else "reset"
        series = [(p[np.isfinite(g)], g[np.isfinite(g)]) for g, p in zip(tr.g.reshape(-1, tr.g.shape[-1]),
                                                                         tr.p.reshape(-1, tr.p.shape[-1]))]
        series = [(p, g) for p, g in series if p.size >= 4 and np.ptp(g) > 0 and np.ptp(p) >= 1]
        if not series:
            continue
        if len(series) == 1:
            out[name] = {**neurosim_nonlinearity(*series[0], name).to_dict(), "n_traces": 1,
                         "procedure": PROCEDURE}
            continue
        # each trace normalized alone; traces on one pulse grid (the usual case) fitted in one batch
        groups: dict = {}
        for p, g in series:
            x, y = _normalize(p, g, "ltp" if d == SET else "ltd")[:2]
            groups.setdefault(x.tobytes(), (x, []))[1].append(y)
        nl = np.array([_label(float(c)) for x, ys in groups.values() for c in _best_c(x, np.array(ys))])
        lo, hi = np.quantile(nl, [0.025, 0.975])
        out[name] = {"nl": float(np.median(nl)), "spread95": [float(lo), float(hi)], "n_traces": len(series),
                     "procedure": PROCEDURE + "; the median over traces, each labelled alone"}
    return out


PROCEDURE = ("NeuroSim nonlinear_fit.m: LTD mirrored, P / floor(max P), G to [0, 1] by the curve's own min and "
             "max, A by least squares of B(1 - exp(-x/A)), label from Nonlinearity-NormA")
