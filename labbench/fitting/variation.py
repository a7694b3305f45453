"""Cycle-to-cycle noise from step residuals, device-to-device spread from per-device fits.

**C2C.**  For every read ``x_k`` the fitted (per-device) curve predicts the next read;
``r_k = x_{k+1} − pred`` mixes the write noise of that pulse with the read noise of
both reads, which shows as a negative lag-1 correlation.  ``v_k = r_k² + r_k·r_{k+1} +
r_{k−1}·r_k`` cancels the read-noise terms in expectation (an MA(1) moment estimator),
so ``E[v_k]`` is the write-noise variance of pulse k and ``−E[r_k·r_{k+1}]`` is the read
noise.  The noise form follows each framework: NeuroSim's is additive (σ as a fraction of
the range, ``c2c_abs``); aihwkit's ``dw_min_std`` is relative to the step (``c2c_rel``).

**D2D.**  The spread of each variable parameter across per-device fits, as the σ of its
log (the lognormal factor the device model uses).  Each per-device value also carries
fit noise; its variance is estimated by split-half (fits on the even and on the odd
cycles, see :func:`d2d_estimate`) and subtracted.
"""
from __future__ import annotations

import numpy as np

from labbench.physics.models import SET

from . import uncertainty
from .trajectories import DirectionFit


def step_residuals(fit: DirectionFit):
    """(residual, mean step, valid) of one-pulse predictions, in S, shape (U, T, L−1)."""
    x = fit.norm.x(fit.g)
    dp = fit.p[..., 1:] - fit.p[..., :-1]
    pred = fit.one_step(np.nan_to_num(x[..., :-1]), np.nan_to_num(dp))
    valid = np.isfinite(x[..., 1:]) & np.isfinite(x[..., :-1]) & (np.nan_to_num(dp) > 0)
    r = np.where(valid, x[..., 1:] - pred, 0.0) * fit.norm.span
    m = np.where(valid, pred - np.nan_to_num(x[..., :-1]), 0.0) * fit.norm.span
    return r, m, valid


def c2c_estimate(fit: DirectionFit, form: str, span: float, guard_S: float = 0.0) -> dict[str, float]:
    """Write-noise and read-noise estimates for one direction (see module docstring).

    ``guard_S`` (a previous σ estimate, S) drops steps whose prediction lies within
    1.5·σ of a clip bound, where the device truncates its noise.
    """
    r, m, valid = step_residuals(fit)
    inner = valid.copy()
    if guard_S > 0 and fit.bounds is not None:
        lo, hi = fit.bounds()
        shape = (-1,) + (1,) * (r.ndim - 1)
        x = fit.norm.x(fit.g)[..., :-1]
        pred_x = np.nan_to_num(x) + m / fit.norm.span
        gx = 1.5 * guard_S / fit.norm.span
        inner &= (pred_x > lo.reshape(shape) + gx) & (pred_x < hi.reshape(shape) - gx)
    inner[..., 1:] &= valid[..., :-1]
    inner[..., :-1] &= valid[..., 1:]
    inner[..., 0] = False
    inner[..., -1] = False
    lag_f = np.zeros_like(r)
    lag_f[..., :-1] = r[..., :-1] * r[..., 1:]
    lag_b = np.zeros_like(r)
    lag_b[..., 1:] = r[..., 1:] * r[..., :-1]
    v = (r * r + lag_f + lag_b)[inner]
    mm = m[inner]
    pair = valid[..., :-1] & valid[..., 1:]
    read_var = -float(np.mean((r[..., :-1] * r[..., 1:])[pair])) if pair.any() else 0.0
    g_mean = float(np.nanmean(fit.g))
    out = {"n_steps": int(inner.sum()), "read_noise_rel": float(np.sqrt(max(read_var, 0.0)) / g_mean)}
    if v.size == 0:
        out.update(c2c_abs=0.0, c2c_rel=0.0)
        return out
    if form == "abs":
        out["c2c_abs"] = float(np.sqrt(max(v.mean(), 0.0)) / span)
        out["c2c_rel"] = 0.0
    else:
        w = mm * mm
        out["c2c_rel"] = float(np.sqrt(max((v * w).sum() / max((w * w).sum(), 1e-300), 0.0)))
        out["c2c_abs"] = 0.0
    out["residual_sigma_S"] = float(np.sqrt(np.mean(r[valid] ** 2)))
    out.update(_c2c_intervals(r, m, inner, valid, form, span, g_mean))
    return out


def _c2c_intervals(r, m, inner, valid, form: str, span: float, g_mean: float, n_boot: int = 400) -> dict:
    """95 % intervals of the write and read noise by bootstrap over trains (each starts from
    a full RESET, so trains are independent; steps within a train are not)."""
    lag_f = np.zeros_like(r)
    lag_f[..., :-1] = r[..., :-1] * r[..., 1:]
    lag_b = np.zeros_like(r)
    lag_b[..., 1:] = r[..., 1:] * r[..., :-1]
    v = np.where(inner, r * r + lag_f + lag_b, 0.0).reshape(-1, r.shape[-1])
    w = np.where(inner, m * m, 0.0).reshape(-1, r.shape[-1])
    pair = (valid[..., :-1] & valid[..., 1:]).reshape(-1, r.shape[-1] - 1)
    rr = np.where(pair, (r[..., :-1] * r[..., 1:]).reshape(pair.shape), 0.0)
    per = {"n": inner.reshape(v.shape).sum(1), "v": v.sum(1), "vw": (v * w).sum(1), "ww": (w * w).sum(1),
           "rr": rr.sum(1), "np": pair.sum(1)}
    keep = per["n"] > 0
    if keep.sum() < 3:
        return {}
    per = {k: x[keep] for k, x in per.items()}
    rng = np.random.default_rng(0)
    idx = rng.integers(0, keep.sum(), (n_boot, int(keep.sum())))
    tot = {k: x[idx].sum(1) for k, x in per.items()}
    if form == "abs":
        c2c = np.sqrt(np.maximum(tot["v"] / np.maximum(tot["n"], 1), 0.0)) / span
        key = "c2c_abs"
    else:
        c2c = np.sqrt(np.maximum(tot["vw"] / np.maximum(tot["ww"], 1e-300), 0.0))
        key = "c2c_rel"
    read = np.sqrt(np.maximum(-tot["rr"] / np.maximum(tot["np"], 1), 0.0)) / g_mean
    q = lambda x: [float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))]   # noqa: E731
    return {f"{key}_ci95": q(c2c), "read_noise_rel_ci95": q(read), "n_trains": int(keep.sum())}


def d2d_estimate(device_values: dict[str, np.ndarray], halves: list[dict] | None = None
                 ) -> dict[str, dict[str, float]]:
    """σ of log(parameter) across devices, corrected for per-device fit noise.

    ``halves`` are the same per-device values fitted on the even and on the odd cycles:
    each half has twice the fit variance of the full fit, so the full fit's noise
    variance is ``var(log a − log b)/4`` (split-half; more robust than per-cycle scatter,
    whose single-train fits are often ill-conditioned).
    """
    out = {}
    for name, v in device_values.items():
        v = np.abs(np.asarray(v, float))
        ok = np.isfinite(v) & (v > 0)
        if ok.sum() < 3:
            continue
        total = float(np.var(np.log(v[ok]), ddof=1))
        noise = 0.0
        if halves is not None and all(name in h for h in halves):
            a, b = (np.abs(np.asarray(h[name], float)) for h in halves)
            both = ok & np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
            if both.sum() >= 3:
                noise = float(np.var(np.log(a[both]) - np.log(b[both]), ddof=1)) / 4.0
        out[name] = {"sigma": float(np.sqrt(max(total - noise, 0.0))), "sigma_raw": float(np.sqrt(total)),
                     "fit_noise": float(np.sqrt(max(noise, 0.0))), "n_devices": int(ok.sum())}
        # χ² interval less the split-half fit noise; without halves the fits' own noise is
        # unknown, so no spread counts as resolved (uncertainty.sigma_interval_from)
        iv = uncertainty.sigma_interval_from(total, int(ok.sum()), max(noise, 0.0))
        out[name].update(ci95=iv["ci95"], resolved=bool(iv["resolved"] and halves is not None))
    return out


def direction_name(d: int) -> str:
    return "set" if d == SET else "reset"
