"""Is what a fit leaves over noise, or shape?  The Wald–Wolfowitz runs test on residual signs.

A model that misses the curve's shape leaves residuals of one sign over long stretches:
few sign *runs*.  Given n₊ positive and n₋ negative residuals in a trace, the number of
runs R of independent residuals has an exact distribution (Wald & Wolfowitz 1940)::

    P(R = 2k)   = 2·C(n₊−1, k−1)·C(n₋−1, k−1) / C(n, n₊)
    P(R = 2k+1) = [C(n₊−1, k)·C(n₋−1, k−1) + C(n₊−1, k−1)·C(n₋−1, k)] / C(n, n₊)

Neither scipy nor the installed packages ship it (statsmodels' ``runstest_1samp`` is the
normal approximation, and statsmodels is not a dependency), so it is computed here,
exactly, in logs.  The test is one-sided (too *few* runs): residuals that alternate more
than chance (read noise seen through a one-step fit is negatively correlated) are not
structure.  Traces are pooled by summing their runs, whose exact distribution is the
convolution of the per-trace ones (each conditional on its own n₊, n₋); past
:data:`EXACT_MAX` signs, its normal approximation.  A fit's residuals are *structured* when
a direction's runs are both significantly few and materially few (:func:`verdict`).

Which residuals: those the data's noise makes independent under the right model, the same
for every candidate so that their tests compare.  When read noise dominates (the fitter's
``trajectory`` method) they are ``G − curve``; when write noise carried from pulse to pulse
dominates (``onestep``) a trajectory's residuals are a random walk whatever the curve, so
they are the innovations ``G_{k+1} − F(G_k)`` of each model's one-step map.
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import gammaln

from .variation import direction_name

#: residuals smaller than this fraction of the data's range carry no sign (no read is that precise)
RESOLUTION = 1e-6
#: the runs test's level for calling residuals structured (Bonferroni over the two directions)
ALPHA = 0.01
#: ... and the shortfall of runs below their expectation that counts as structure: about a
#: 0.05 correlation of consecutive signs.  Hundreds of trains detect far smaller departures
#: (the default chip's RESET innovations: 1.7 % short, p ≈ 3e-5), which the note reports
#: without calling them structure
MIN_SHORTFALL = 0.05


def _log_comb(n, k):
    n, k = np.asarray(n, float), np.asarray(k, float)
    ok = (k >= 0) & (k <= n)
    out = gammaln(np.maximum(n, 0) + 1) - gammaln(np.clip(k, 0, None) + 1) - gammaln(np.clip(n - k, 0, None) + 1)
    return np.where(ok, out, -np.inf)


def runs_pmf(n_pos: int, n_neg: int) -> np.ndarray:
    """P(R = r) for r = 0 … n of independent signs with ``n_pos`` and ``n_neg`` of each."""
    n = n_pos + n_neg
    pmf = np.zeros(n + 1)
    if n_pos == 0 or n_neg == 0:
        pmf[1 if n else 0] = 1.0
        return pmf
    r = np.arange(2, n + 1)
    k = r // 2
    even = r % 2 == 0
    with np.errstate(invalid="ignore"):
        le = np.log(2.0) + _log_comb(n_pos - 1, k - 1) + _log_comb(n_neg - 1, k - 1)
        lo = np.logaddexp(_log_comb(n_pos - 1, k) + _log_comb(n_neg - 1, k - 1),
                          _log_comb(n_pos - 1, k - 1) + _log_comb(n_neg - 1, k))
    pmf[2:] = np.exp(np.where(even, le, lo) - _log_comb(n, n_pos))
    return pmf


def _signs(residual) -> np.ndarray:
    r = np.asarray(residual, float)
    r = r[np.isfinite(r)]
    return np.sign(r[r != 0])   # exact zeros carry no sign: dropped, as in the textbook test


def _count(s: np.ndarray) -> int:
    return int(1 + np.count_nonzero(s[1:] != s[:-1])) if s.size else 0


#: above this many signed residuals in all, the pooled p is the normal approximation of the
#: summed runs (exact mean and variance per trace; hundreds of traces make it Gaussian) instead
#: of the exact convolution, whose cost grows as n²
EXACT_MAX = 5000


def runs_test(residuals) -> dict:
    """One-sided runs test (too few runs), pooled over one or more traces (each a 1-D
    residual array; one array is one trace).

    Returns runs (observed, summed over traces), expected (their mean under independence),
    p (P(R ≤ observed)), n (signed residuals), traces and whether p is ``exact``.
    """
    traces = [residuals] if isinstance(residuals, np.ndarray) and residuals.ndim == 1 else list(residuals)
    counts = []
    for tr in traces:
        s = _signs(tr)
        npos, nneg = int((s > 0).sum()), int((s < 0).sum())
        if npos and nneg:   # one sign throughout: the conditional test says nothing
            counts.append((_count(s), npos, nneg))
    if not counts:
        return {"runs": 0, "expected": float("nan"), "p": 1.0, "n": 0, "traces": 0, "exact": True}
    r, a, b = (np.array(v, float) for v in zip(*counts))
    n = a + b
    mean = 1.0 + 2.0 * a * b / n
    runs, expected, total = int(r.sum()), float(mean.sum()), int(n.sum())
    exact = total <= EXACT_MAX or len(counts) == 1
    if exact:
        pmf = np.array([1.0])
        for _, npos, nneg in counts:
            pmf = np.convolve(pmf, runs_pmf(npos, nneg))
        p = float(min(pmf[: runs + 1].sum(), 1.0))
    else:
        var = float((2.0 * a * b * (2.0 * a * b - n) / (n * n * (n - 1))).sum())
        p = float(stats.norm.cdf((runs + 0.5 - expected) / np.sqrt(var)))   # continuity-corrected
    return {"runs": runs, "expected": expected, "p": p, "n": total, "traces": len(counts), "exact": exact}


def lag1(r: np.ndarray) -> float:
    """Lag-1 autocorrelation of one residual series (0 when too short or constant)."""
    r = np.asarray(r, float)
    return float(np.corrcoef(r[:-1], r[1:])[0, 1]) if r.size > 3 and r.std() > 0 else 0.0


def block_length(rho: float, n: int) -> int:
    """Bootstrap block length for residuals with lag-1 autocorrelation ``rho``: 1 unless ρ is
    above its ~2σ noise level 2/√n under independence, else the AR(1) variance inflation
    (1+ρ)/(1−ρ) = n/n_eff, so that resampled blocks keep the data's effective sample size."""
    if not rho > 2.0 / np.sqrt(max(n, 1)):
        return 1
    return int(max(1, min(np.ceil((1 + rho) / (1 - rho)), n // 4)))


def resample(res: np.ndarray, block: int, rng, reps: int) -> np.ndarray:
    """Moving-block resamples (reps, n) of the series ``res`` (block 1: the plain bootstrap)."""
    n = res.size
    starts = rng.integers(0, n - block + 1, (reps, -(-n // block)))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(reps, -1)[:, :n]
    return res[idx]


def trace_residuals(f, kind: str = "trajectory") -> list[np.ndarray]:
    """The residuals of one fit (a :class:`.trajectories.DirectionFit`), one array per train,
    in units of the data's range: ``G − curve`` (``kind="trajectory"``) or the one-step
    innovations (``"onestep"``).  Residuals below :data:`RESOLUTION` are set to 0 (no sign):
    they are the fit's arithmetic, not the device (noise-free simulated data leave ~1e-8).

    Innovations are taken about the model's noise-free step.  A device that clips its noisy
    state at a bound would bias them there; the simulated chip's noise shrinks near its
    bounds instead (the clipped mean was tried: on the default chip it made RESET's innovations
    21 % short of runs, the plain step 1.7 %).
    """
    out = []
    if kind == "onestep":
        x = f.norm.x(f.g)
        dp = np.nan_to_num(f.p[..., 1:] - f.p[..., :-1])
        with np.errstate(invalid="ignore"):
            res = x[..., 1:] - f.one_step(np.nan_to_num(x[..., :-1]), dp)
        res = np.where(np.isfinite(x[..., :-1]) & (dp > 0), res, np.nan)
    else:
        res = (f.g - f.pred) / f.norm.span
    res = np.where(np.abs(res) < RESOLUTION, 0.0, res)
    for u in range(res.shape[0]):
        for t in range(res.shape[1]):
            r = res[u, t]
            r = r[np.isfinite(r)]
            if r.size >= 2:
                out.append(r)
    return out


def direction_runs(traces: list[np.ndarray], alpha: float) -> dict:
    """Runs test of one direction's trains pooled, its shortfall of runs, and how many trains
    alone fall below ``alpha`` (by chance about ``alpha`` of them)."""
    pooled = runs_test(traces)
    per = [runs_test(t)["p"] for t in traces]
    short = 1.0 - pooled["runs"] / pooled["expected"] if pooled["traces"] else 0.0
    return {**pooled, "shortfall": float(short), "traces_flagged": int(sum(p < alpha for p in per))}


def verdict(dirs: dict, alpha: float) -> tuple[bool, float]:
    """Structured when a direction's runs are both significantly few (p below α/2: Bonferroni
    over the two directions) and materially few (at least MIN_SHORTFALL below expectation);
    returns (structured, the Bonferroni p)."""
    p = min(1.0, len(dirs) * min(v["p"] for v in dirs.values()))
    return any(v["p"] < alpha / len(dirs) and v["shortfall"] >= MIN_SHORTFALL for v in dirs.values()), p


def structure(fits: dict, kinds, mode: str, chosen: str, ranking, residuals: str = "trajectory",
              alpha: float = ALPHA) -> dict:
    """The runs test of every fitted candidate, per direction (trains pooled), and whether
    the chosen model's residuals are structured (:func:`verdict`).

    ``ranking`` is :func:`.selection.rank`'s table over ``kinds``; the answer lists the
    candidates by BIC with their runs-test p, and which of them leave no structure.
    """
    per_model = {}
    for kind in kinds:
        parts = {d: f for (k, d, m), f in fits.items() if k == kind and m == mode}
        if not parts:
            continue
        dirs = {direction_name(d): direction_runs(trace_residuals(parts[d], residuals), alpha)
                for d in sorted(parts, reverse=True)}
        structured, p = verdict(dirs, alpha)
        per_model[kind] = {"p": p, "structured": structured, "directions": dirs}
    ch = per_model[chosen]
    bic = ranking.set_index("model")["bic"]
    ranked = [{"model": k, "delta_bic": float(bic[k] - bic[chosen]), "runs_p": per_model[k]["p"],
               "structured": per_model[k]["structured"]}
              for k in ranking["model"] if k in per_model]
    return {"test": "Wald-Wolfowitz runs test on residual signs (exact, one-sided: too few runs), per train "
                    "and per direction with its trains pooled", "residuals": residuals, "alpha": alpha,
            "min_shortfall": MIN_SHORTFALL, "model": chosen, "structured": ch["structured"], "p": ch["p"],
            "directions": ch["directions"], "candidates": ranked,
            "remove_structure": [r["model"] for r in ranked if r["model"] != chosen and not r["structured"]]}


def structure_note(s: dict) -> str | None:
    """One note for the fit's notes: structured residuals, or a detectable but small shortfall."""
    def one(d, v):
        extra = f", {v['traces_flagged']}/{v['traces']} trains below {s['alpha']:g}" if v["traces"] > 1 else ""
        return (f"{d} {v['runs']} runs in {v['n']} residuals (expected {v['expected']:.1f}, "
                f"{100 * v['shortfall']:.0f} % short, p = {v['p']:.2g}{extra})")

    dirs = "; ".join(one(d, v) for d, v in s["directions"].items() if v["traces"])
    if not s.get("structured"):
        level = s["alpha"] / max(len(s["directions"]), 1)
        small = [one(d, v) for d, v in s["directions"].items() if v["traces"] and v["p"] < level]
        if small:   # significant, but too small to call structure (see MIN_SHORTFALL)
            return (f"residuals of the {s['model']} fit: fewer sign runs than chance, by less than "
                    f"{100 * s['min_shortfall']:.0f} % ({'; '.join(small)}): a small departure from independence, "
                    "not called structure")
        return None
    better = [c for c in s["candidates"] if c["model"] != s["model"]]
    ranked = ", ".join(f"{c['model']} (ΔBIC {c['delta_bic']:+.1f}, runs p = {c['runs_p']:.2g}"
                       + ("" if c["structured"] else ", no structure") + ")" for c in better)
    if s.get("candidates_not_fitted"):
        fix = s["candidates_not_fitted"]
    elif s["remove_structure"]:
        fix = f"models whose residuals show no structure: {', '.join(s['remove_structure'])}"
    else:
        fix = ("no candidate model removes it: the misfit is not one of these curve shapes (or the noise is "
               "carried from pulse to pulse, or the reads drift)")
    where = f" {s['why']}" if s.get("why") else ""
    return (f"residuals of the {s['model']} fit are structured{where} (runs test, α = {s['alpha']:g}: {dirs}); "
            f"{fix}" + (f"; candidates by BIC: {ranked}" if ranked else ""))
