"""Intervals for what the fitter reports: parameters from the Jacobian, spreads by χ².

* **Parameters** of a least-squares fit with independent residuals: the covariance
  ``s²·(JᵀJ)⁻¹`` at the solution, ``s² = RSS/(n − k)`` (the textbook linearization that
  scipy's ``curve_fit`` also uses), and a Student-t 95 % interval.
* **A device-to-device spread** σ of ln(parameter): the sample variance of per-device
  values over n devices is ``(σ² + s_fit²)·χ²_(n−1)/(n−1)`` for normal logs, so the exact
  χ² interval of the total variance, less the per-device fit variance ``s_fit²`` (estimated
  separately: split-half or the per-device Jacobian), bounds σ.  σ is *resolved* when
  the interval's lower end is above 0: the devices differ by more than their fits' noise.
  Otherwise the report says so, with the number of devices (and cycles) that would
  resolve a spread of a given size.
* **A device-to-device spread from split halves** (:func:`split_half_interval`): each device
  fitted twice, on its even and on its odd cycles.  The halves' fit errors are independent,
  so the spread of their mean less the spread of their half-difference is σ² whatever the
  fits' noise is (a one-way random-effects model with two replicates per device); its
  interval is the modified large-sample (Graybill-Wang) interval of a difference of two
  variances (Burdick & Graybill 1992, sec. 3.3), within 0.5 % of 95 % coverage from 8
  devices up in simulation.  A spread counts as *resolved* only when its interval's lower
  end is above 0 and the interval spans at most :data:`RESOLVED_FACTOR` (a spread known
  to no better than a factor of 3 is reported by its bound, not as a number).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

#: the D2D σ a "would resolve" estimate is given for when the data cannot bound one: a
#: typical measured spread (the default device model's 0.10-0.15; Gong et al. 2018)
SIGMA_TARGET = 0.1
LEVEL = 0.95
#: the widest interval (hi/lo) a spread or parameter may have and still be called resolved
RESOLVED_FACTOR = 3.0


def jacobian_errors(jac: np.ndarray, residual: np.ndarray) -> tuple[np.ndarray, int]:
    """(standard errors of the k parameters, degrees of freedom) from J (n×k) and r (n)."""
    n, k = jac.shape
    dof = max(n - k, 1)
    s2 = float(residual @ residual) / dof
    try:
        cov = s2 * np.linalg.inv(jac.T @ jac)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        se = np.full(k, np.inf)
    return se, dof


def t_interval(value: float, se: float, dof: int, level: float = LEVEL) -> tuple[float, float]:
    q = float(stats.t.ppf(0.5 + level / 2, max(dof, 1)))
    return value - q * se, value + q * se


def sigma_interval(log_values: np.ndarray, fit_var: float = 0.0, level: float = LEVEL) -> dict:
    """σ of ``log_values`` across devices, less the per-device fit variance, with its χ²
    interval and whether it is resolved (see module doc)."""
    x = np.asarray(log_values, float)
    x = x[np.isfinite(x)]
    if x.size < 3:
        return {"sigma": float("nan"), "ci95": [0.0, float("inf")], "resolved": False, "n_devices": int(x.size)}
    return sigma_interval_from(float(np.var(x, ddof=1)), x.size, fit_var, level)


def sigma_interval_from(s2: float, n: int, fit_var: float = 0.0, level: float = LEVEL) -> dict:
    """:func:`sigma_interval` from the sample variance ``s2`` of ``n`` per-device logs."""
    lo_q, hi_q = stats.chi2.ppf([0.5 + level / 2, 0.5 - level / 2], n - 1)
    lo_tot, hi_tot = (n - 1) * s2 / lo_q, (n - 1) * s2 / hi_q
    fit_var = max(float(fit_var), 0.0)
    # a fit-noise estimate above even the upper bound of the total (noisy split halves) says
    # nothing about σ: the bound is then the total's, uncorrected
    upper = hi_tot - fit_var if hi_tot > fit_var else hi_tot
    lo_s, hi_s = math.sqrt(max(lo_tot - fit_var, 0.0)), math.sqrt(upper)
    return {"sigma": math.sqrt(max(s2 - fit_var, 0.0)), "ci95": [lo_s, hi_s],
            "resolved": bool(lo_tot > fit_var and hi_s <= RESOLVED_FACTOR * lo_s), "n_devices": int(n),
            "fit_noise": math.sqrt(fit_var), "sigma_raw": math.sqrt(s2)}


_MEDIAN_FACTOR: dict[int, float] = {}


def median_variance_factor(n: int) -> float:
    """n·Var(median of n standard normals): 1 for n ≤ 2, → π/2 (computed once per n by
    simulation with a fixed seed; 0.3 % precise)."""
    if n <= 2:
        return 1.0
    if n not in _MEDIAN_FACTOR:
        z = np.random.default_rng(12345).standard_normal((200_000 // max(1, n // 8), n))
        _MEDIAN_FACTOR[n] = float(n * np.var(np.median(z, axis=1), ddof=1))
    return _MEDIAN_FACTOR[n]


def median_interval(values, level: float = LEVEL) -> tuple[float, float, float]:
    """(median, lo, hi) of the median device: values lognormal across devices (D2D) with their
    fits' noise, so in logs the median ± t(n−1)·se, se² = c_n·s²/n with c_n the sample
    median's variance factor for normal data (:func:`median_variance_factor`).  A percentile
    bootstrap of the median of 8 devices held the truth in 86-92 % (it takes few distinct
    values and underestimates the spread of small samples).  Negative values (A_reset) by
    their magnitude."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v != 0)]
    sign = -1.0 if np.median(v) < 0 else 1.0
    x = np.log(np.abs(v[np.sign(v) == sign]))
    n = x.size
    med = float(np.median(x))
    se = math.sqrt(median_variance_factor(n) * float(np.var(x, ddof=1)) / n)
    q = float(stats.t.ppf(0.5 + level / 2, max(n - 1, 1)))
    lo, hi = sign * math.exp(med - q * se), sign * math.exp(med + q * se)
    return sign * math.exp(med), min(lo, hi), max(lo, hi)


def ratio_interval(num: np.ndarray, den: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(R, lo, hi) of R = Σnum/Σden over independent clusters (trains or devices): the
    jackknife variance (leave one cluster out) with a t(n−1) quantile.  A percentile
    bootstrap over 16 trains held the truth in 80-85 % of seeds, the linearized
    (delta-method) variance over 8 devices in 83-88 % (it runs ~15 % short at so few)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    n = num.size
    tot_n, tot_d = float(num.sum()), float(den.sum())
    if n < 3 or tot_d <= 0:
        return float("nan"), float("nan"), float("nan")
    r = tot_n / tot_d
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = (tot_n - num) / (tot_d - den)
    loo = loo[np.isfinite(loo)]
    se = math.sqrt((n - 1) / n * float(np.sum((loo - loo.mean()) ** 2))) if loo.size >= 2 else float("inf")
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return r, r - q * se, r + q * se


def variance_difference_interval(s1: float, s2: float, df1: int, df2: int, level: float = LEVEL
                                 ) -> tuple[float, float]:
    """Modified large-sample (Graybill-Wang) interval of θ = σ₁² − σ₂² from independent
    sample variances ``s1``, ``s2`` with ``df1``, ``df2`` degrees of freedom (Burdick &
    Graybill, *Confidence Intervals on Variance Components*, 1992, eqs. 3.8-3.9)."""
    a = (1 - level) / 2
    fa1, fl1 = stats.chi2.ppf(1 - a, df1) / df1, stats.chi2.ppf(a, df1) / df1
    fa2, fl2 = stats.chi2.ppf(1 - a, df2) / df2, stats.chi2.ppf(a, df2) / df2
    f12a, f12l = stats.f.ppf(1 - a, df1, df2), stats.f.ppf(a, df1, df2)
    g1, h2 = 1 - 1 / fa1, 1 / fl2 - 1
    g12 = ((f12a - 1) ** 2 - g1 ** 2 * f12a ** 2 - h2 ** 2) / f12a
    h1, g2 = 1 / fl1 - 1, 1 - 1 / fa2
    h12 = ((1 - f12l) ** 2 - h1 ** 2 * f12l ** 2 - g2 ** 2) / f12l
    th = s1 - s2
    lo = th - math.sqrt(max(g1 ** 2 * s1 ** 2 + h2 ** 2 * s2 ** 2 + g12 * s1 * s2, 0.0))
    hi = th + math.sqrt(max(h1 ** 2 * s1 ** 2 + g2 ** 2 * s2 ** 2 + h12 * s1 * s2, 0.0))
    return float(lo), float(hi)


def split_half_interval(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> dict:
    """σ of a device-to-device spread from two independent fits per device (``a``, ``b``: the
    logs of a parameter fitted on each device's even and on its odd cycles; see module doc).

    ``fit_noise`` is the σ of the halves' mean that was subtracted (what a device's estimate
    scatters by from its fits alone)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 3:
        return {"sigma": float("nan"), "ci95": [0.0, float("inf")], "resolved": False, "n_devices": n,
                "fit_noise": float("nan")}
    m, d = 0.5 * (a[ok] + b[ok]), 0.5 * (a[ok] - b[ok])
    s_m, s_d = float(np.var(m, ddof=1)), float(np.var(d, ddof=1))
    lo, hi = variance_difference_interval(s_m, s_d, n - 1, n - 1, level)
    lo_s, hi_s = math.sqrt(max(lo, 0.0)), math.sqrt(max(hi, 0.0))
    return {"sigma": math.sqrt(max(s_m - s_d, 0.0)), "ci95": [lo_s, hi_s],
            "resolved": bool(lo > 0 and hi_s <= RESOLVED_FACTOR * lo_s), "n_devices": n,
            "fit_noise": math.sqrt(s_d)}


def devices_to_resolve(sigma: float, fit_var: float, level: float = LEVEL, n_max: int = 100000) -> int:
    """Devices needed for a spread ``sigma`` to be resolved on average: at the expected
    variances (σ² + s_fit² across devices, s_fit² of the fits alone) the interval of σ²
    (:func:`variance_difference_interval`) excludes 0 and spans at most RESOLVED_FACTOR in σ."""
    fit_var = max(float(fit_var), 0.0) if np.isfinite(fit_var) else 0.0
    total = sigma * sigma + fit_var

    def resolved(n):
        lo, hi = variance_difference_interval(total, fit_var, n - 1, n - 1, level)
        return lo > 0 and hi <= RESOLVED_FACTOR ** 2 * lo

    if resolved(3):
        return 3
    lo_n, hi_n = 3, 4
    while not resolved(hi_n):   # bracket, then bisect (resolved is monotone in n)
        lo_n, hi_n = hi_n, 2 * hi_n
        if hi_n >= n_max:
            return n_max
    while hi_n - lo_n > 1:
        mid = (lo_n + hi_n) // 2
        lo_n, hi_n = (lo_n, mid) if resolved(mid) else (mid, hi_n)
    return hi_n


def not_resolved_note(name: str, est: dict, n_cycles: int | None, what: str = "cycles") -> str:
    """The message for a spread the data do not resolve: its bound, and what would resolve it."""
    fit_var = est.get("fit_noise", 0.0) ** 2
    if not np.isfinite(fit_var):   # one cycle per device: the fits' own noise is unknown
        return (f"d2d {name}: not resolved by {est['n_devices']} devices (95 % upper bound "
                f"{est['ci95'][1]:.3g}, fit noise included)")
    upper = est["ci95"][1]
    n_now = devices_to_resolve(SIGMA_TARGET, fit_var)
    fmt = lambda n: f"{n}" if n < 10000 else "> 10⁴"   # noqa: E731
    msg = (f"d2d {name}: not resolved by {est['n_devices']} devices"
           + (f" × {n_cycles} {what}" if n_cycles else "")
           + f" (95 % upper bound {upper:.3g}; per-device fit noise {math.sqrt(fit_var):.3g} in ln)")
    if n_cycles:
        # per-device fit variance falls as 1/cycles: what 4× the cycles would need
        n4 = devices_to_resolve(SIGMA_TARGET, fit_var / 4)
        msg += (f"; a spread σ = {SIGMA_TARGET:g} would be resolved by about {fmt(n_now)} devices × "
                f"{n_cycles} {what}, or {fmt(n4)} devices × {4 * n_cycles} {what}")
    else:
        msg += f"; a spread σ = {SIGMA_TARGET:g} would be resolved by about {fmt(n_now)} devices"
    return msg
