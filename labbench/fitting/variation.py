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
fit noise, which the split halves (fits on the even and on the odd cycles, see
:func:`d2d_estimate`) take out.
"""
from __future__ import annotations

import numpy as np

from labbench.physics.models import NOISE_ROOM, SET

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
    (NOISE_ROOM + 1)·σ of a bound: within NOISE_ROOM·σ (3σ) the device's noise shrinks to a third of the distance
    (:func:`labbench.physics.models.toward`): with the old 1.5σ guard the shrunk steps at
    the top of SET trains and along the RESET tails pulled the estimate 3-5 % low.
    ``span`` (S) may be one per fit unit: each device's noise is a fraction of its own range
    (NeuroSim's σ = c2c·(Gmax − Gmin) per device), so each device's residuals are taken in
    its own range; with one nominal span the D2D of the range sampled by a few devices
    moved the estimate beyond its interval.
    """
    r, m, valid = step_residuals(fit)
    shape = (-1,) + (1,) * (r.ndim - 1)
    span_u = np.asarray(span, float).reshape(shape) if np.ndim(span) else float(span)
    inner = valid.copy()
    if np.any(np.asarray(guard_S) > 0) and fit.bounds is not None:
        lo, hi = fit.bounds()
        x = fit.norm.x(fit.g)[..., :-1]
        pred_x = np.nan_to_num(x) + m / fit.norm.span
        # NOISE_ROOM σ and one more for the fitted bounds' own error (4σ: RESET C2C 0.976 → 0.985,
        # SET 0.996 → 0.999 of the truth at 64 devices × 3 cycles, no D2D or read noise)
        gx = (NOISE_ROOM + 1.0) * (np.asarray(guard_S, float).reshape(shape) if np.ndim(guard_S) else guard_S) \
            / fit.norm.span
        inner &= (pred_x > lo.reshape(shape) + gx) & (pred_x < hi.reshape(shape) - gx)
    inner[..., 1:] &= valid[..., :-1]
    inner[..., :-1] &= valid[..., 1:]
    inner[..., 0] = False
    inner[..., -1] = False
    lag_f = np.zeros_like(r)
    lag_f[..., :-1] = r[..., :-1] * r[..., 1:]
    lag_b = np.zeros_like(r)
    lag_b[..., 1:] = r[..., 1:] * r[..., :-1]
    v = ((r * r + lag_f + lag_b) / (span_u * span_u))[inner]   # in units of each device's range
    mm = (m / span_u * np.ones_like(m))[inner]
    pair = valid[..., :-1] & valid[..., 1:]
    read_var = -float(np.mean((r[..., :-1] * r[..., 1:])[pair])) if pair.any() else 0.0
    g_mean = float(np.nanmean(fit.g))
    out = {"n_steps": int(inner.sum()), "read_noise_rel": float(np.sqrt(max(read_var, 0.0)) / g_mean)}
    if v.size == 0:
        out.update(c2c_abs=0.0, c2c_rel=0.0)
        return out
    # the fit took ~2 parameters per unit and direction from these residuals: their sum of
    # squares is short of n·σ² by about that many σ² (0.8 % in σ at 8 devices × 2 cycles)
    dof = v.size / max(v.size - 2 * r.shape[0], 1)
    if form == "abs":
        out["c2c_abs"] = float(np.sqrt(max(v.mean() * dof, 0.0)))
        out["c2c_rel"] = 0.0
    else:
        w = mm * mm
        out["c2c_rel"] = float(np.sqrt(max(dof * (v * w).sum() / max((w * w).sum(), 1e-300), 0.0)))
        out["c2c_abs"] = 0.0
    out["residual_sigma_S"] = float(np.sqrt(np.mean(r[valid] ** 2)))
    out.update(_c2c_intervals(r, m, inner, valid, form, span_u, g_mean, dof))
    return out


def _c2c_intervals(r, m, inner, valid, form: str, span: float, g_mean: float, dof: float = 1.0) -> dict:
    """95 % intervals of the write and read noise over devices (a device's trains share its
    fit, whose errors leave a little of the curve in every residual), or over trains for
    one device (each starts from a full RESET; steps within a train are not independent)."""
    lag_f = np.zeros_like(r)
    lag_f[..., :-1] = r[..., :-1] * r[..., 1:]
    lag_b = np.zeros_like(r)
    lag_b[..., 1:] = r[..., 1:] * r[..., :-1]
    # write noise in units of each device's range (``span``: scalar or per unit, see c2c_estimate)
    v = np.where(inner, (r * r + lag_f + lag_b) / (span * span), 0.0).reshape(-1, r.shape[-1])
    w = np.where(inner, (m / span) ** 2, 0.0).reshape(-1, r.shape[-1])
    pair = (valid[..., :-1] & valid[..., 1:]).reshape(-1, r.shape[-1] - 1)
    rr = np.where(pair, (r[..., :-1] * r[..., 1:]).reshape(pair.shape), 0.0)
    per = {"n": inner.reshape(v.shape).sum(1), "v": v.sum(1), "vw": (v * w).sum(1), "ww": (w * w).sum(1),
           "rr": rr.sum(1), "np": pair.sum(1)}
    if r.ndim == 3 and r.shape[0] >= 3:   # (devices, trains, steps): one cluster per device
        per = {k: x.reshape(r.shape[0], -1).sum(1) for k, x in per.items()}
    keep = per["n"] > 0
    if keep.sum() < 3:
        return {}
    per = {k: x[keep] for k, x in per.items()}
    # σ² is a ratio of sums over trains (independent: each starts from a full RESET); its
    # interval is the linearized one with a t quantile, then the square root
    if form == "abs":
        _, lo, hi = uncertainty.ratio_interval(per["v"], per["n"])
        key, unit = "c2c_abs", 1.0
    else:
        _, lo, hi = uncertainty.ratio_interval(per["vw"], per["ww"])
        key, unit = "c2c_rel", 1.0
    _, rlo, rhi = uncertainty.ratio_interval(-per["rr"], per["np"])
    root = lambda a, u: [float(np.sqrt(max(a[0], 0.0)) / u), float(np.sqrt(max(a[1], 0.0)) / u)]   # noqa: E731
    return {f"{key}_ci95": root((lo * dof, hi * dof), unit), "read_noise_rel_ci95": root((rlo, rhi), g_mean),
            "n_trains": int(keep.sum())}


def read_noise_estimate(fits: list[DirectionFit], scales: list[np.ndarray | None], level: float = 0.95) -> dict:
    """Relative read noise from the step residuals of both directions, with a 95 % interval.

    A read's noise enters the residual before it (+e) and after it (−f'·e, f' the slope of
    the one-step map at that read), so ``E[r_k·r_{k+1}] = −f'·σ²`` of the shared read; write
    noise does not correlate from pulse to pulse.  Each read's σ is ``ρ·s`` with ``s`` the
    conductance change per unit relative change of what the instrument read (``scales``,
    same shape as each fit's ``g``; None: the read is the conductance, ``s = G``; reads
    de-embedded from a series transistor have ``s ≈ G²/G_read``), so
    ``ρ² = Σ −r_k·r_{k+1} / Σ f'·s²`` over all pairs.  Dividing instead by the mean G of all
    reads (the earlier estimator) mixed reads of different noise and left out f' (0 where a
    SET train sits at its clip, 0.92-0.97 elsewhere).  The pairs are not weighted: weighting
    by 1/Var(r_k·r_k+1) favours the tails near a bound, where a curve that does not end
    exactly at the device's bound leaves correlated residuals, and drove the estimate to 0.
    Interval: bootstrap over devices (a device's trains share its fit), or over trains for
    one device, with a t quantile (:func:`uncertainty.ratio_interval`).  ``resolved``: the
    interval excludes 0 and spans at most a factor of 3.
    """
    num, den = [], []
    for f, sc in zip(fits, scales):
        r, _, valid = step_residuals(f)
        if r.shape[-1] < 2:
            continue
        x = np.nan_to_num(f.norm.x(f.g)[..., 1:-1])
        dp = np.nan_to_num(f.p[..., 2:] - f.p[..., 1:-1])
        h = 1e-4
        slope = (f.one_step(x + h, dp) - f.one_step(x - h, dp)) / (2 * h)
        pair = valid[..., :-1] & valid[..., 1:]
        s = np.nan_to_num((f.g if sc is None else sc)[..., 1:-1])
        num.append(np.where(pair, -r[..., :-1] * r[..., 1:], 0.0).sum(-1))   # (U, T) per train
        den.append(np.where(pair, np.clip(slope, 0.0, None) * s * s, 0.0).sum(-1))
    if not num:
        return {"value": float("nan"), "ci95": [float("nan"), float("nan")]}
    n_tot, d_tot = sum(float(a.sum()) for a in num), sum(float(a.sum()) for a in den)
    value = float(np.sqrt(max(n_tot, 0.0) / d_tot)) if d_tot > 0 else float("nan")
    units = {a.shape[0] for a in num}
    if len(units) == 1 and next(iter(units)) >= 3:   # clusters: devices (both directions)
        cn, cd, what = sum(a.sum(1) for a in num), sum(a.sum(1) for a in den), "devices"
    else:
        cn, cd, what = np.concatenate([a.ravel() for a in num]), np.concatenate([a.ravel() for a in den]), "trains"
    out = {"value": value, "method": f"MA(1) residual covariance, t interval over {what}", "n": int(cn.size)}
    if cn.size >= 3:
        _, lo, hi = uncertainty.ratio_interval(cn, cd, level)
        lo_s, hi_s = float(np.sqrt(max(lo, 0.0))), float(np.sqrt(max(hi, 0.0)))
        out["ci95"] = [lo_s, hi_s]
        out["resolved"] = bool(lo_s > 0 and hi_s <= uncertainty.RESOLVED_FACTOR * lo_s)
    return out


def d2d_estimate(device_values: dict[str, np.ndarray], halves: list[dict] | None = None
                 ) -> dict[str, dict[str, float]]:
    """σ of log(parameter) across devices, free of the per-device fit noise.

    ``halves`` are the same per-device values fitted on the even and on the odd cycles.
    Their fit errors are independent, so σ² = var(mean of the halves) − var(half-difference)
    holds whatever the fits' noise (:func:`uncertainty.split_half_interval`).  The older
    correction, var(full) − var(log a − log b)/4, assumed a fit's variance falls as
    1/cycles; the half fits (one or two trains) are worse than that, so it overestimated the
    noise (split-half 0.24-0.28 against a true 0.22 in ln A_set at 3 cycles, 0.03 against
    0.006 in ln G_max) and reported real spreads as "not resolved, ≤ 0.03".  Devices without
    both halves (one cycle) count in ``sigma_raw`` only.  Without halves no spread counts as
    resolved: the χ² interval of the raw spread is an upper bound.
    """
    out = {}
    for name, v in device_values.items():
        v = np.abs(np.asarray(v, float))
        ok = np.isfinite(v) & (v > 0)
        if ok.sum() < 3:
            continue
        total = float(np.var(np.log(v[ok]), ddof=1))
        est = None
        if halves is not None and all(name in h for h in halves):
            a, b = (np.abs(np.asarray(h[name], float)) for h in halves)
            with np.errstate(divide="ignore", invalid="ignore"):
                la = np.where(a > 0, np.log(a), np.nan)
                lb = np.where(b > 0, np.log(b), np.nan)
            if (np.isfinite(la) & np.isfinite(lb)).sum() >= 3:
                est = uncertainty.split_half_interval(la, lb)
        if est is None:
            iv = uncertainty.sigma_interval_from(total, int(ok.sum()), 0.0)
            est = {"sigma": iv["sigma"], "ci95": [0.0, iv["ci95"][1]], "resolved": False,
                   "n_devices": int(ok.sum()), "fit_noise": float("nan")}
        out[name] = {**est, "sigma_raw": float(np.sqrt(total)), "n_devices_raw": int(ok.sum())}
    return out


def direction_name(d: int) -> str:
    return "set" if d == SET else "reset"
