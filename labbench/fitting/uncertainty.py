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
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

#: the D2D σ a "would resolve" estimate is given for when the data cannot bound one: a
#: typical measured spread (the default device model's 0.10-0.15; Gong et al. 2018)
SIGMA_TARGET = 0.1
LEVEL = 0.95


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
    return {"sigma": math.sqrt(max(s2 - fit_var, 0.0)),
            "ci95": [math.sqrt(max(lo_tot - fit_var, 0.0)), math.sqrt(upper)],
            "resolved": bool(lo_tot > fit_var), "n_devices": int(n),
            "fit_noise": math.sqrt(fit_var), "sigma_raw": math.sqrt(s2)}


def devices_to_resolve(sigma: float, fit_var: float, level: float = LEVEL, n_max: int = 100000) -> int:
    """Devices needed for a spread ``sigma`` to be resolved on average: the χ² lower bound of
    the expected total variance σ² + s_fit² clears s_fit²."""
    total = sigma * sigma + max(fit_var, 0.0)
    if fit_var <= 0:
        return 3
    ratio = fit_var / total
    n = 3
    while n < n_max:
        if (n - 1) / stats.chi2.ppf(0.5 + level / 2, n - 1) > ratio:
            return n
        n = n + 1 if n < 100 else int(n * 1.1)
    return n_max


def not_resolved_note(name: str, est: dict, n_cycles: int | None, what: str = "cycles") -> str:
    """The message for a spread the data do not resolve: its bound, and what would resolve it."""
    fit_var = est.get("fit_noise", 0.0) ** 2
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
