"""The loop's closure test: does a replay of a fitted model behave like the chip it was fitted on?

Measure pulse trains on a bench, fit them (``labbench fit``'s :func:`fit_device`, reads
de-embedded, every block fitted or inherited), point a copy of the bench at the fitted model
(a fresh simulated chip), measure the same trains again, and compare each observable of the
two campaigns as distributions: a two-sample Kolmogorov-Smirnov test per observable at
α = 0.01 with a Bonferroni correction over the observables, and the medians within 5 % and
the σ ratio within 0.8-1.25 (issue 18's criteria).  Observables (per device and cycle):

* ``hrs``: the read before the first SET pulse (the HRS a full RESET left);
* ``first_set_step``: the first SET pulse's step;
* ``mid_set``: the level half-way through the SET train;
* ``saturated``: the last read of the SET train;
* ``first_reset_step``: the first RESET pulse's step (from the saturated level);
* ``end_reset``: the last read of the RESET train.

Everything is measured through the instruments, as a lab would (reads through the transistor).
"""
from __future__ import annotations

import copy
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

OBSERVABLES = ("hrs", "first_set_step", "mid_set", "saturated", "first_reset_step", "end_reset")
#: what a whole campaign adds (labbench characterize): I-V plateaus, endurance levels, retention
#: decay, and the read-disturb climb (G after the stress reads over G before)
CAMPAIGN_OBSERVABLES = OBSERVABLES + ("iv_set_plateau", "iv_reset_peak", "endurance_lrs", "endurance_hrs",
                                      "retention_kept", "read_disturb_climb")
#: asked for by issue 18 but not measured by any procedure of the campaign (said in the table)
NOT_OBSERVED = {"energy_per_pulse": "the bench does not measure the current during a pulse (the energy block's I-V "
                                    "shape is fitted from the I-V sweeps, its read time inherited)"}


def observables(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """One value per (device, cycle) for each observable, from tidy pulse-train data."""
    key = ["cell", "side", "cycle"] if "cell" in df.columns else ["row", "col", "side", "cycle"]
    out = {k: [] for k in OBSERVABLES}
    for _, tr in df.groupby(key):
        s = tr[tr.direction == "set"].sort_values("pulse")["conductance"].to_numpy()
        r = tr[tr.direction == "reset"].sort_values("pulse")["conductance"].to_numpy()
        if len(s) < 3 or len(r) < 2:
            continue
        out["hrs"].append(s[0])
        out["first_set_step"].append(s[1] - s[0])
        out["mid_set"].append(s[len(s) // 2])
        out["saturated"].append(s[-1])
        out["first_reset_step"].append(r[1] - r[0])
        out["end_reset"].append(r[-1])
    return {k: np.asarray(v, float) for k, v in out.items()}


@dataclass
class Closure:
    table: pd.DataFrame                 # one row per observable
    alpha: float
    fitted_model: object = field(repr=False)
    chip: pd.DataFrame = field(repr=False, default=None)
    replay: pd.DataFrame = field(repr=False, default=None)

    @property
    def closes(self) -> bool:
        """Every observable within what the campaign can resolve (see :func:`compare`)."""
        return bool(self.table["ok"].all())

    @property
    def closes_strict(self) -> bool:
        """Every observable within the issue's fixed criteria (5 %, 0.8-1.25), whatever the sample size."""
        return bool(self.table["ok_strict"].all())

    def text(self) -> str:
        t = self.table.copy()
        for c in ("chip_median", "replay_median", "chip_sd", "replay_sd"):
            t[c] = t[c].map(lambda v: f"{v:.4g}")
        t["p"] = t["p"].map(lambda v: f"{v:.3g}")
        for c in ("median_diff",):
            t[c] = t[c].map(lambda v: f"{v:+.1%}")
        t["median_tol"] = t["median_tol"].map(lambda v: f"±{v:.1%}")
        t["sd_ratio"] = t["sd_ratio"].map(lambda v: f"{v:.2f}")
        t["sd_band"] = t["sd_band"].map(lambda v: f"{1 / v:.2f}-{v:.2f}")
        head = (f"closure: two-sample KS per observable (one value per device) at alpha = {self.alpha:g} / {len(t)} "
                f"(Bonferroni); medians within max(5 %, what the chip's sample resolves) and sd ratio within "
                f"max(0.8-1.25, resolved band) -> the loop {'CLOSES' if self.closes else 'does NOT close'}; with the "
                f"fixed 5 % / 0.8-1.25 alone it {'closes' if self.closes_strict else 'does not close'} "
                f"(ok_strict)")
        return head + "\n" + t.to_string(index=False)


def campaign_observables(runs: dict[str, list[pd.DataFrame]]) -> dict[str, np.ndarray]:
    """The observables of a whole campaign (``runs``: procedure name -> its runs' rows); one
    value per device (pulse trains, endurance: the mean over its cycles), per device and gate
    (I-V), per device and bake (retention).  Pulse trains at the operating point only
    (condition 0)."""
    out = {k: np.zeros(0) for k in CAMPAIGN_OBSERVABLES}
    # One value per device (its mean over cycles, gates alike): the cycles of one device are
    # not independent draws (they share its D2D parameters), and the KS test assumes
    # independent samples; per (device, cycle) values overstate n about threefold and make
    # even the true model fail (measured: bench/results/closure.txt).
    trains = [df[df["condition"] == 0] if "condition" in df.columns else df for df in runs.get("pulse-train", [])]
    if trains:
        t = pd.concat(trains, ignore_index=True)
        per_dev = [observables(g) for _, g in t.groupby(["cell", "side"])]
        for k in OBSERVABLES:
            out[k] = np.array([np.mean(o[k]) for o in per_dev if len(o[k])])
    ivs = runs.get("iv-sweep", [])
    if ivs:
        iv = pd.concat(ivs, ignore_index=True)
        g = iv.groupby(["cell", "side", "gate", "cycle"])
        plateau = g.apply(lambda t: t.loc[t.voltage > 0, "current"].max(), include_groups=False)
        peak = g.apply(lambda t: t.loc[t.voltage < 0, "current"].abs().max(), include_groups=False)
        out["iv_set_plateau"] = plateau.groupby(level=[0, 1, 2]).mean().dropna().to_numpy(float)
        out["iv_reset_peak"] = peak.groupby(level=[0, 1, 2]).mean().dropna().to_numpy(float)
    ends = runs.get("endurance", [])
    if ends:
        e = pd.concat(ends, ignore_index=True).groupby(["cell", "side"])[["g_lrs", "g_hrs"]].mean()
        out["endurance_lrs"], out["endurance_hrs"] = e["g_lrs"].to_numpy(float), e["g_hrs"].to_numpy(float)
    bakes = runs.get("retention", [])
    if bakes:
        r = pd.concat(bakes, ignore_index=True)
        key = ["cell", "side"] + (["temperature"] if "temperature" in r.columns else [])
        r = r.sort_values("time")
        kept = r.groupby(key, dropna=False)["conductance"].agg(lambda g: g.iloc[-1] / g.iloc[0])
        out["retention_kept"] = kept.to_numpy(float)
    stress = runs.get("read-disturb", [])
    if stress:
        r = pd.concat(stress, ignore_index=True).sort_values("stress_reads")
        climb = r.groupby(["cell", "side"])["conductance"].agg(lambda g: g.iloc[-1] / g.iloc[0])
        out["read_disturb_climb"] = climb.to_numpy(float)
    return {k: v for k, v in out.items() if len(v)}


def resolution(a: np.ndarray, m: int, alpha: float = 0.01) -> tuple[float, float]:
    """What a campaign of ``a``'s size can resolve, at family-wise ``alpha`` over ``m``
    observables: (relative median difference, sd ratio band) that two independent samples of
    this size and spread exceed with probability about alpha/m when they come from the same
    population.  Large-sample standard errors, √2 for two samples, Student's t with n − 1
    degrees of freedom: SE(median) = 1.2533·sd/√n, SE(ln sd) = √((κ − 1)/(4n)) with κ the
    sample kurtosis, floored at a normal sample's 3.  Measured (tests/test_closure.py): two
    chips of one population pass one observable at alpha 0.01 in 98-99 % of draws (normal
    spread) and 96-97 % (lognormal, σ 0.3) at n = 12 and 80; a bootstrap of the chip's own
    median and sd was optimistic (90 %)."""
    from scipy import stats

    n = len(a)
    if n < 4:
        return float("inf"), float("inf")
    t = stats.t.ppf(1 - alpha / (2 * m), n - 1)
    sd = float(np.std(a, ddof=1))
    scale = max(abs(float(np.median(a))), sd)
    med_tol = t * np.sqrt(2) * 1.2533 * sd / np.sqrt(n) / scale if scale else float("inf")
    kurt = float(stats.kurtosis(a, fisher=False, bias=False)) if sd > 0 else 3.0
    se_ln_sd = np.sqrt((max(kurt, 3.0) - 1.0) / (4.0 * n))   # floored at the normal: a small sample's kurtosis runs low
    return float(med_tol), float(np.exp(t * np.sqrt(2) * se_ln_sd))


def compare(chip: dict[str, np.ndarray], replay: dict[str, np.ndarray], alpha: float = 0.01) -> pd.DataFrame:
    """Each observable of ``chip`` against ``replay``: KS p (Bonferroni over the observables),
    median difference, σ ratio, and whether the criteria hold.

    ``ok_strict`` is issue 18's fixed criteria: medians within 5 %, σ ratio within 0.8-1.25.
    A replay of the *true* model on another chip fails them at the campaign's sizes (a median
    of 80 devices with 15 % D2D spread moves by ~3 % between two chips; 4 endurance devices
    resolve nothing finer than ~20 %), so ``ok`` widens each to what the chip's own sample
    resolves at the same family-wise alpha (:func:`resolution`), never below 5 % / 0.8-1.25:
    a misfit larger than the campaign can see still fails, and the table says how fine each
    observable can see (``median_tol``, ``sd_band``)."""
    from scipy import stats

    rows = []
    names = [k for k in chip if k in replay]
    for k in names:
        a, b = np.asarray(chip[k], float), np.asarray(replay[k], float)
        p = float(stats.ks_2samp(a, b).pvalue)
        ma, mb = float(np.median(a)), float(np.median(b))
        sa, sb = float(np.std(a, ddof=1)), float(np.std(b, ddof=1))
        diff = (mb - ma) / abs(ma) if ma else float("nan")
        ratio = sb / sa if sa else float("nan")
        # a median near 0 (a step that is mostly noise) is judged on its spread: 5 % of the
        # chip's own sd instead of 5 % of a vanishing median
        scale = max(abs(ma), sa)
        ks_ok = p >= alpha / len(names)
        ok_strict = ks_ok and abs(mb - ma) <= 0.05 * scale and 0.8 <= ratio <= 1.25
        tol, band = resolution(a, len(names), alpha)
        tol, band = max(tol, 0.05), max(band, 1.25)
        ok = ks_ok and abs(mb - ma) <= tol * scale and 1 / band <= ratio <= band
        rows.append({"observable": k, "n": len(a), "chip_median": ma, "replay_median": mb, "median_diff": diff,
                     "median_tol": tol, "chip_sd": sa, "replay_sd": sb, "sd_ratio": ratio, "sd_band": band, "p": p,
                     "ok": bool(ok), "ok_strict": bool(ok_strict)})
    return pd.DataFrame(rows)


def run(bench_file, cells: str = "0:16, 0:2", cycles: int = 3, pulses: int = 32, seed: int = 0,
        replay_seed: int = 1, alpha: float = 0.01, progress: bool = False) -> Closure:
    """Measure, fit, replay on a fresh chip of the fitted model, measure again, compare."""
    from labbench.fitting.api import fit_device
    from labbench.instruments import Bench
    from labbench.paths import resolve_bench
    from labbench.physics.device_model import load_device_model
    from labbench.procedures import PulseTrain
    from labbench.runner import run_procedure

    src = Path(resolve_bench(str(bench_file)))
    raw = yaml.safe_load(src.read_text())

    def measure(chip_block) -> pd.DataFrame:
        cfg = copy.deepcopy(raw)
        cfg["chip"] = {**cfg["chip"], **chip_block}
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "bench.yaml"
            f.write_text(yaml.safe_dump(cfg))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Bench.from_yaml(f) as b:
                    proc = PulseTrain(cells=cells, sides="+-", cycles=cycles, pulses=pulses)
                    return run_procedure(proc, b, None, progress=progress).data

    chip_df = measure({"seed": seed})
    base = load_device_model(raw["chip"].get("device_model"), src.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_device(chip_df, model="neurosim", base=base, source="closure campaign")
    with tempfile.TemporaryDirectory() as d:
        mf = Path(d) / "fitted.yaml"
        fit.device_model.to_yaml(mf)
        replay_df = measure({"seed": replay_seed, "device_model": str(mf)})
    table = compare(observables(chip_df), observables(replay_df), alpha)
    return Closure(table=table, alpha=alpha, fitted_model=fit.device_model, chip=chip_df, replay=replay_df)


@dataclass
class CampaignClosure:
    """A whole campaign's closure: the fitted replay against the chip, and, as the test's own
    yardstick, a replay of the *true* model on another chip (``null``): what the same criteria
    say when the model is exactly right, at this campaign's sample sizes."""

    fitted: Closure
    null: Closure | None
    fit: object = field(repr=False, default=None)       # characterize.fit.CampaignFit
    seconds: dict = field(default_factory=dict)

    def text(self) -> str:
        out = ["== chip against the replay of the model fitted to it", self.fitted.text()]
        if self.null is not None:
            out += ["", "== chip against a replay of its TRUE model on another chip (the criteria's own false-alarm "
                        "check: what 'closes' can mean at these sample sizes)", self.null.text()]
        out += [""] + [f"not compared: {k}: {why}" for k, why in NOT_OBSERVED.items()]
        return "\n".join(out)


def run_campaign_closure(bench_file="sim", plan=None, seed: int = 0, replay_seed: int = 1, alpha: float = 0.01,
                         null: bool = True, progress: bool = False) -> CampaignClosure:
    """Run ``plan`` (default: the shipped one) on a simulated chip of the bench's model (the
    hidden truth), fit it as ``labbench characterize`` does, replay the fitted model on a fresh
    chip (``replay_seed``), run the same plan there, and compare every observable."""
    import time

    from labbench.characterize import fit_campaign, load_plan, run_campaign
    from labbench.paths import resolve_bench
    from labbench.physics.device_model import load_device_model
    from labbench.store import Store

    plan = load_plan(plan) if plan is None or isinstance(plan, (str, Path)) else plan
    src = Path(resolve_bench(str(bench_file)))
    raw = yaml.safe_load(src.read_text())
    truth_path = str(load_device_model(raw["chip"]["device_model"], src.parent).name)
    truth_file = src.parent / raw["chip"]["device_model"] if (src.parent / raw["chip"]["device_model"]).exists() \
        else raw["chip"]["device_model"]
    seconds = {}

    def campaign(folder: Path, chip_block: dict):
        cfg = copy.deepcopy(raw)
        cfg["chip"] = {**cfg["chip"], **chip_block}
        folder.mkdir(parents=True, exist_ok=True)
        bf = folder / "bench.yaml"
        bf.write_text(yaml.safe_dump(cfg))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = run_campaign(plan, bf, folder, folder / "labbench.db", progress=progress, echo=lambda *_: None)
        store = Store(res.db)
        runs: dict[str, list] = {}
        for step in plan.steps:
            runs.setdefault(step.procedure, []).append(store.load(res.state["steps"][step.name]["run_id"]))
        return res, runs

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        t = time.monotonic()
        res, chip_runs = campaign(d / "chip", {"seed": seed})
        seconds["chip campaign"] = time.monotonic() - t
        t = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_campaign(res, load_device_model(None), name=f"{truth_path}_fitted", model=plan.fit.model,
                               method=plan.fit.method)
        seconds["fit"] = time.monotonic() - t
        fitted_file = d / "fitted.yaml"
        fit.device_model.to_yaml(fitted_file)
        t = time.monotonic()
        _, replay_runs = campaign(d / "replay", {"seed": replay_seed, "device_model": str(fitted_file)})
        seconds["replay campaign"] = time.monotonic() - t
        chip_obs = campaign_observables(chip_runs)
        fitted = Closure(compare(chip_obs, campaign_observables(replay_runs), alpha), alpha, fit.device_model)
        null_closure = None
        if null:
            t = time.monotonic()
            _, null_runs = campaign(d / "null", {"seed": replay_seed, "device_model": str(truth_file)})
            seconds["true-model replay"] = time.monotonic() - t
            null_closure = Closure(compare(chip_obs, campaign_observables(null_runs), alpha), alpha, None)
    return CampaignClosure(fitted=fitted, null=null_closure, fit=fit, seconds=seconds)
