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
convolution of the per-trace ones (each conditional on its own n₊, n₋).

Which residuals: those the data's noise makes independent under the right model, the same
for every candidate so that their tests compare.  When read noise dominates (the fitter's
``trajectory`` method) they are ``G − curve``; when write noise carried from pulse to pulse
dominates (``onestep``) a trajectory's residuals are a random walk whatever the curve, so
they are the innovations ``G_{k+1} − F(G_k)`` of each model's one-step map.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from .variation import direction_name

#: the pooled runs test's level for calling residuals structured
ALPHA = 0.01


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


def runs_test(residuals) -> dict:
    """Exact one-sided runs test, pooled over one or more traces (each a 1-D residual array).

    Returns runs (observed, summed over traces), expected (their mean under independence),
    p (P(R ≤ observed)), n (signed residuals) and traces.
    """
    traces = [residuals] if isinstance(residuals, np.ndarray) and residuals.ndim == 1 else list(residuals)
    total = np.array([1.0])
    runs = expected = n = used = 0
    for tr in traces:
        s = _signs(tr)
        npos, nneg = int((s > 0).sum()), int((s < 0).sum())
        if npos == 0 or nneg == 0:   # one sign throughout: the conditional test says nothing
            continue
        pmf = runs_pmf(npos, nneg)
        total = np.convolve(total, pmf)
        runs += _count(s)
        expected += 1.0 + 2.0 * npos * nneg / (npos + nneg)
        n += s.size
        used += 1
    if not used:
        return {"runs": 0, "expected": float("nan"), "p": 1.0, "n": 0, "traces": 0}
    p = float(min(total[: runs + 1].sum(), 1.0))
    return {"runs": int(runs), "expected": float(expected), "p": p, "n": int(n), "traces": int(used)}


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
    """The residuals of one fit (a :class:`.trajectories.DirectionFit`), one array per train:
    ``G − curve`` (``kind="trajectory"``) or the one-step innovations (``"onestep"``)."""
    out = []
    if kind == "onestep":
        x = f.norm.x(f.g)
        dp = np.nan_to_num(f.p[..., 1:] - f.p[..., :-1])
        with np.errstate(invalid="ignore"):
            res = x[..., 1:] - f.one_step(np.nan_to_num(x[..., :-1]), dp)
        res = np.where(np.isfinite(x[..., :-1]) & (dp > 0), res, np.nan)
    else:
        res = f.g - f.pred
    for u in range(res.shape[0]):
        for t in range(res.shape[1]):
            r = res[u, t]
            r = r[np.isfinite(r)]
            if r.size >= 2:
                out.append(r)
    return out


def fit_runs(f, residuals: str = "trajectory", alpha: float = ALPHA) -> dict:
    """Runs test of one direction's fit: pooled over its trains, and how many trains alone
    fall below ``alpha`` (by chance about ``alpha`` of them)."""
    traces = trace_residuals(f, residuals)
    pooled = runs_test(traces)
    per = [runs_test(t)["p"] for t in traces]
    return {**pooled, "traces_flagged": int(sum(p < alpha for p in per))}


def structure(fits: dict, kinds, mode: str, chosen: str, ranking, residuals: str = "trajectory",
              alpha: float = ALPHA) -> dict:
    """The runs test of every fitted candidate (both directions pooled, and per direction),
    and whether the chosen model's residuals are structured.

    ``ranking`` is :func:`.selection.rank`'s table over ``kinds``; the answer lists the
    candidates by BIC with their runs-test p, and which of them leave no structure.
    """
    per_model = {}
    for kind in kinds:
        parts = {d: f for (k, d, m), f in fits.items() if k == kind and m == mode}
        if not parts:
            continue
        dirs = {direction_name(d): fit_runs(f, residuals, alpha) for d, f in sorted(parts.items(), reverse=True)}
        pooled = runs_test([t for f in parts.values() for t in trace_residuals(f, residuals)])
        per_model[kind] = {"p": pooled["p"], "runs": pooled["runs"], "expected": pooled["expected"],
                           "n": pooled["n"], "structured": bool(pooled["p"] < alpha), "directions": dirs}
    ch = per_model[chosen]
    bic = ranking.set_index("model")["bic"]
    ranked = [{"model": k, "delta_bic": float(bic[k] - bic[chosen]), "runs_p": per_model[k]["p"],
               "structured": per_model[k]["structured"]}
              for k in ranking["model"] if k in per_model]
    return {"test": "Wald-Wolfowitz runs test on residual signs (exact, one-sided: too few runs), "
                    "per train and pooled", "residuals": residuals, "alpha": alpha, "model": chosen,
            "structured": ch["structured"], "p": ch["p"], "runs": ch["runs"], "expected": ch["expected"],
            "n": ch["n"], "directions": ch["directions"], "candidates": ranked,
            "remove_structure": [r["model"] for r in ranked if r["model"] != chosen and not r["structured"]]}


def structure_note(s: dict) -> str | None:
    """One note for the fit's notes when the chosen model's residuals are structured."""
    if not s.get("structured"):
        return None
    dirs = "; ".join(f"{d} {v['runs']} runs in {v['n']} residuals (expected {v['expected']:.1f}, p = {v['p']:.2g}"
                     + (f", {v['traces_flagged']}/{v['traces']} trains below {s['alpha']:g}" if v["traces"] > 1 else "")
                     + ")" for d, v in s["directions"].items())
    better = [c for c in s["candidates"] if c["model"] != s["model"]]
    ranked = ", ".join(f"{c['model']} (ΔBIC {c['delta_bic']:+.1f}, runs p = {c['p_fmt']})"
                       for c in ({**c, "p_fmt": f"{c['runs_p']:.2g}"} for c in better))
    if s["remove_structure"]:
        fix = f"models whose residuals show no structure: {', '.join(s['remove_structure'])}"
    else:
        fix = ("no candidate model removes it: the misfit is not one of these curve shapes (or the noise is "
               "carried from pulse to pulse, or the reads drift)")
    return (f"residuals of the {s['model']} fit are structured (runs test, α = {s['alpha']:g}: {dirs}); "
            f"{fix}" + (f"; candidates by BIC: {ranked}" if ranked else ""))
