"""A fitted update model as an aihwkit device config (the dataclass fields of aihwkit 1.2.0).

Weight units.  aihwkit weights live in ``[w_min, w_max] ∋ 0``; a conductance range does not
hold 0.  We map ``G = ref + scale·w`` with ``ref`` the middle of the range and ``scale`` half
of it (so ``w ∈ [−1, 1]``), or, for a model already in aihwkit units (``w_min < 0 < w_max``),
the identity.  Every exported config records ``ref`` and ``scale`` (siemens).

Which device (the update rules are aihwkit's C++, ``src/rpucuda/rpu_*_device.cpp``):

* ``neurosim`` → ``LinearStepDevice``.  NeuroSim's discrete update from a position x to
  x + 1 gives ``ΔG = k·(B + Gmin − G)`` (SET) with ``k = 1 − e^(−1/A)``: a step *linear in
  G*, which is what LinearStep does (``Δw = scale_up + slope_up·w``,
  ``slope_up = −γ_up·scale_up/w_max`` with ``mean_bound_reference``), clipped at the same
  hard bounds.  So ``scale_up = k·(B + Gmin − ref)/scale`` and ``γ_up = k·w_max/scale_up``,
  RESET alike: exact, pulse by pulse.  (``SoftBoundsPmaxDevice`` is not: its asymptote *is*
  its hard bound, while NeuroSim clips at Pmax before its asymptote, and its down
  direction relaxes to w_min at twice the up rate instead of mirroring LTP.)
* ``softbounds`` → ``SoftBoundsPmaxDevice`` when the model is the symmetric case that
  parametrization can hold (``up_down = 1 + 2·w_min/(w_max − w_min)``), else
  ``SoftBoundsDevice``; both exact.
* ``expstep`` / ``powstep`` → ``ExpStepDevice`` / ``PowStepDevice``: labbench implements
  aihwkit's own rules, so exact.
* ``piecewise`` and anything else → ``PiecewiseStepDevice``: the mean step sampled at up to
  64 evenly spaced nodes (aihwkit's GPU limit), relative to ``dw_min``.

Cycle-to-cycle noise: labbench's ``c2c_rel`` (σ relative to the step) is aihwkit's
multiplicative ``dw_min_std``; its ``c2c_abs`` (additive σ per pulse, a fraction of the
range: NeuroSim's sigmaCtoC) is LinearStep's additive ``dw_min_std`` (``mult_noise=False``),
σ = dw_min_std·scale_up per pulse.  One ``dw_min_std`` serves both directions: it is set for
SET (the direction a 2T2R cell trains with) and the RESET mismatch is reported.

Device-to-device: labbench draws lognormal factors on the model's parameters; aihwkit draws
Gaussian ones on ``dw_min`` (gain), ``up_down``, ``γ`` and the bounds.  Each aihwkit σ is
the spread of the exact per-device aihwkit parameters over many sampled labbench devices
(moment matching), and the measured spreads are compared in ``bench/export_check.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from labbench.physics.aihwkit_models import ExpStepModel, PowStepModel, SoftBoundsModel, split_scales
from labbench.physics.device_model import DeviceModel
from labbench.physics.models import RESET, SET, NeuroSimModel, UpdateModel
from labbench.physics.piecewise import PiecewiseModel

from .summary import Summary

__all__ = ["WeightUnits", "weight_units", "device_config", "MAX_NODES"]

#: aihwkit's piecewise vectors must stay below 64 nodes on GPUs (PiecewiseStepDevice docs)
MAX_NODES = 64
#: devices drawn to estimate the aihwkit D2D σ's (moment matching)
D2D_SAMPLES = 20000
#: labbench's D2D draws are truncated at ±truncate σ; aihwkit's Gaussians are not
_ZERO_DTOD = {"dw_min_dtod": 0.0, "up_down_dtod": 0.0, "w_min_dtod": 0.0, "w_max_dtod": 0.0}


@dataclass(frozen=True)
class WeightUnits:
    """``G = ref + scale·w`` (S)."""

    ref: float
    scale: float

    def w(self, g):
        return (np.asarray(g, float) - self.ref) / self.scale

    def to_dict(self) -> dict:
        return {"ref_S": self.ref, "scale_S": self.scale, "g_of_w": "G = ref_S + scale_S * w"}


def weight_units(up: UpdateModel) -> WeightUnits:
    lo, hi = float(up.gmin), float(up.gmax)
    if lo < 0 < hi and not getattr(up, "w_ref", None):   # already aihwkit weight units (normalized data)
        return WeightUnits(0.0, 1.0)
    if getattr(up, "uses_reference", False):   # soft bounds and exp step measure from their reference
        ref = float(up.reference)
        return WeightUnits(ref, max(hi - ref, ref - lo))
    return WeightUnits(0.5 * (lo + hi), 0.5 * (hi - lo))


def _lognormal_rel(sigma: float) -> float:
    """Relative σ of a lognormal factor exp(σ·z): aihwkit's Gaussian relative σ that matches it."""
    return math.sqrt(math.expm1(sigma * sigma) * math.exp(sigma * sigma))


def _base(units: WeightUnits, up: UpdateModel) -> dict:
    return {"w_min": float(units.w(up.gmin)), "w_max": float(units.w(up.gmax)), **_ZERO_DTOD,
            "dw_min_dtod_log_normal": False, "construction_seed": 0}


# -- NeuroSim -> LinearStep ------------------------------------------------------------------
def _linear_step_params(up: NeuroSimModel, units: WeightUnits) -> dict:
    """Per-device (arrays, when ``up`` is sampled) exact LinearStep parameters in ``units``."""
    span = np.asarray(up.g_max, float) - np.asarray(up.g_min, float)
    a_s, a_r = np.asarray(up.a_set, float), -np.asarray(up.a_reset, float)
    b_s = span / -np.expm1(-up.pmax_set / a_s)
    b_r = span / -np.expm1(-up.pmax_reset / a_r)
    k_s, k_r = -np.expm1(-1.0 / a_s), -np.expm1(-1.0 / a_r)
    w_max, w_min = units.w(up.g_max), units.w(up.g_min)
    w_max_nom, w_min_nom = float(units.w(np.mean(up.g_max))), float(units.w(np.mean(up.g_min)))
    # SET: ΔG = k_s·(Gmin + B_s − G)  ->  Δw = k_s·(Gmin + B_s − ref)/scale − k_s·w
    scale_up = k_s * (np.asarray(up.g_min) + b_s - units.ref) / units.scale
    # RESET: ΔG = −k_r·(G − Gmax + B_r)  ->  Δw = −k_r·(ref − Gmax + B_r)/scale − k_r·w
    scale_down = k_r * (units.ref - np.asarray(up.g_max) + b_r) / units.scale
    # aihwkit: slope_up = −γ_up·scale_up/w_max, slope_down = γ_down·scale_down/|w_min| (mean bounds)
    gamma_up = k_s * w_max_nom / scale_up
    gamma_down = k_r * abs(w_min_nom) / scale_down
    return {"scale_up": scale_up, "scale_down": scale_down, "gamma_up": gamma_up, "gamma_down": gamma_down,
            "w_max": w_max, "w_min": w_min}


def _linear_step(model: DeviceModel, units: WeightUnits, summary: Summary) -> dict:
    up: NeuroSimModel = model.update
    p = _linear_step_params(up, units)
    dw_min, up_down = (float(x) for x in split_scales(p["scale_up"], p["scale_down"]))
    cfg = {"class": "LinearStepDevice", **_base(units, up), "dw_min": dw_min, "up_down": up_down,
           "gamma_up": float(p["gamma_up"]), "gamma_down": float(p["gamma_down"]),
           "gamma_up_dtod": 0.0, "gamma_down_dtod": 0.0, "allow_increasing": False,
           "mean_bound_reference": True, "mult_noise": False, "dw_min_std": 0.0, "write_noise_std": 0.0}
    summary.add_exact("update (neurosim: g_min, g_max, pmax_set, a_set, pmax_reset, a_reset)",
                      "LinearStepDevice(dw_min, up_down, gamma_up, gamma_down, w_min, w_max)",
                      "NeuroSim's per-pulse step is linear in G: k·(B + Gmin − G), k = 1 − e^(−1/A); "
                      "same hard bounds, pulse by pulse")
    scale_up, scale_down = float(p["scale_up"]), float(p["scale_down"])
    sigma_w = up.c2c_abs * float(up.g_max - up.g_min) / units.scale
    if up.c2c_abs and up.c2c_rel:
        summary.add_approx("update.c2c_rel", "", "LinearStep has one noise convention; the additive "
                           "c2c_abs is kept", f"c2c_rel = {up.c2c_rel:g} dropped")
    if up.c2c_abs:
        cfg["dw_min_std"] = sigma_w / scale_up
        summary.add_exact("update.c2c_abs (SET)", "LinearStepDevice.dw_min_std, mult_noise=False",
                          f"additive σ per pulse = dw_min_std·scale_up = {sigma_w:.4g} (w units)")
        ratio = scale_down / scale_up
        if abs(ratio - 1) > 1e-6:
            summary.add_approx("update.c2c_abs (RESET)", "LinearStepDevice.dw_min_std",
                               "one dw_min_std for both directions: σ_down = dw_min_std·scale_down",
                               f"RESET per-pulse σ ×{ratio:.3g} of labbench's")
    elif up.c2c_rel:
        cfg["mult_noise"] = True
        cfg["dw_min_std"] = float(up.c2c_rel)
        summary.add_exact("update.c2c_rel", "LinearStepDevice.dw_min_std, mult_noise=True",
                          "σ relative to the step, per pulse")
    if model.d2d.sigma:
        _linear_step_d2d(model, units, cfg, summary)
    return cfg


def _linear_step_d2d(model: DeviceModel, units: WeightUnits, cfg: dict, summary: Summary) -> None:
    rng = np.random.default_rng(0)
    dev = model.update.sample_devices((D2D_SAMPLES,), model.d2d.sigma, rng, truncate=model.d2d.truncate)
    p = _linear_step_params(dev, units)
    dw, ud = cfg["dw_min"], cfg["up_down"]
    up_bias, down_bias = min(ud, 0.0), -max(ud, 0.0)
    a, b = p["scale_up"] / dw - up_bias, p["scale_down"] / dw - down_bias
    gain, r = 0.5 * (a + b), 0.5 * (a - b)
    moments = {"dw_min_dtod": float(np.std(gain)), "up_down_dtod": float(np.std(r)),
               "gamma_up_dtod": float(np.std(p["gamma_up"])), "gamma_down_dtod": float(np.std(p["gamma_down"])),
               "w_max_dtod": float(np.std(np.broadcast_to(p["w_max"], (D2D_SAMPLES,))) / abs(cfg["w_max"])),
               "w_min_dtod": float(np.std(np.broadcast_to(p["w_min"], (D2D_SAMPLES,))) / abs(cfg["w_min"]))}
    corr = float(np.corrcoef(p["gamma_up"], np.broadcast_to(p["w_max"], (D2D_SAMPLES,)))[0, 1]) \
        if np.ndim(p["w_max"]) and np.std(p["gamma_up"]) > 0 else 0.0
    factors, spread = _calibrate_d2d(model, units, cfg, moments)
    cfg.update({k: v * factors[k] for k, v in moments.items()})
    names = ", ".join(f"{k} σ={v:g}" for k, v in model.d2d.sigma.items())
    summary.add_approx(f"d2d.sigma ({names})",
                       "dw_min_dtod, up_down_dtod, gamma_up_dtod, gamma_down_dtod, w_min_dtod, w_max_dtod",
                       "the σ's of the exact per-device LinearStep parameters over sampled labbench devices, "
                       f"scaled (×{factors['dw_min_dtod']:.3f}; γ_down, w_min and up_down ×{factors['w_min_dtod']:.3f}) "
                       "so that the D2D spread of G over a SET + RESET train matches "
                       "labbench's (aihwkit draws the parameters independently and Gaussian; labbench's lognormal "
                       f"draws move the asymptote and the bound together: corr(γ_up, w_max) = {corr:+.2f})",
                       f"D2D spread after the scaling, SET ×{spread['set']:.3f}, RESET ×{spread['reset']:.3f} "
                       "of labbench's (a NumPy reading of LinearStep; bench/export_check.py measures it in aihwkit)")


def _linear_step_spread(cfg: dict, dtod: dict, n: int, n_set: int, n_reset: int, z: np.ndarray) -> np.ndarray:
    """G spread (std over devices, per read) of LinearStep devices under D2D only: aihwkit's
    ``PulsedRPUDevice::populate`` and ``LinearStepRPUDevice::populate``/update, read in NumPy."""
    ud, dw = cfg["up_down"], cfg["dw_min"]
    up_bias, down_bias = min(ud, 0.0), -max(ud, 0.0)
    w_max_b = np.abs(cfg["w_max"] * (1 + dtod["w_max_dtod"] * z[0]))
    w_min_b = -np.abs(cfg["w_min"] * (1 + dtod["w_min_dtod"] * z[1]))
    gain, r = 1 + dtod["dw_min_dtod"] * z[2], dtod["up_down_dtod"] * z[3]
    s_up, s_down = np.abs((up_bias + gain + r) * dw), np.abs((down_bias + gain - r) * dw)
    g_up = np.abs(cfg["gamma_up"] + dtod["gamma_up_dtod"] * z[4])
    g_down = np.abs(cfg["gamma_down"] + dtod["gamma_down_dtod"] * z[5])
    slope_up, slope_down = -g_up * s_up / cfg["w_max"], -g_down * s_down / cfg["w_min"]
    w = w_min_b.copy()
    out = [w.std()]
    for k in range(n_set + n_reset):
        w = w + slope_up * w + s_up if k < n_set else w - (slope_down * w + s_down)
        w = np.clip(w, w_min_b, w_max_b)
        out.append(w.std())
    return np.array(out)


def _labbench_spread(model: DeviceModel, units: WeightUnits, n: int, n_set: int, n_reset: int) -> np.ndarray:
    dev = model.update.sample_devices((n,), model.d2d.sigma, np.random.default_rng(1), truncate=model.d2d.truncate)
    g = np.broadcast_to(np.asarray(dev.gmin, float), (n,)).copy()
    out = [g.std()]
    for k in range(n_set + n_reset):
        g = dev.advance(g, np.ones(n, np.int64), SET if k < n_set else RESET)
        out.append(g.std())
    return np.array(out) / units.scale


_DOWN_ONLY = ("gamma_down_dtod", "w_min_dtod", "up_down_dtod")


def _calibrate_d2d(model: DeviceModel, units: WeightUnits, cfg: dict, moments: dict) -> tuple[dict, dict]:
    """Factors on the aihwkit D2D σ's that make the RMS D2D spread over a SET train and over
    the RESET train after it (each Pmax pulses) equal labbench's: one on every σ (for SET)
    and one on the σ's RESET feels most (γ_down, w_min, up_down); and the SET / RESET spread
    ratios they leave."""
    up = model.update
    n_set, n_reset, n = max(1, round(up.pmax_set)), max(1, round(up.pmax_reset)), 4000
    ours = _labbench_spread(model, units, n, n_set, n_reset)
    z = np.random.default_rng(2).standard_normal((6, n))
    sets, resets = slice(0, n_set + 1), slice(n_set, None)

    def rms(x, rows=slice(None)):
        return float(np.sqrt(np.mean(x[rows] ** 2)))

    def theirs(c_all, c_down):
        d = {k: v * c_all * (c_down if k in _DOWN_ONLY else 1.0) for k, v in moments.items()}
        return _linear_step_spread(cfg, d, n, n_set, n_reset, z)

    def solve(f, target, lo=0.0, hi=4.0):
        if not f(lo) < target:
            return lo    # out of reach: the nearest end (the summary shows the spread left)
        if not target < f(hi):
            return hi
        for _ in range(40):   # the spread grows with the factor: bisection
            c = 0.5 * (lo + hi)
            lo, hi = (c, hi) if f(c) < target else (lo, c)
        return 0.5 * (lo + hi)

    c_all, c_down = 1.0, 1.0
    for _ in range(4):   # SET feels mostly the common factor, RESET the other: alternate
        c_all = solve(lambda c, d=c_down: rms(theirs(c, d), sets), rms(ours, sets))
        c_down = solve(lambda c, a=c_all: rms(theirs(a, c), resets), rms(ours, resets))
    t = theirs(c_all, c_down)
    factors = {k: c_all * (c_down if k in _DOWN_ONLY else 1.0) for k in moments}
    return factors, {"set": rms(t, sets) / rms(ours, sets), "reset": rms(t, resets) / rms(ours, resets)}


# -- aihwkit's own models ---------------------------------------------------------------------
def _aihwkit_kind(model: DeviceModel, units: WeightUnits, summary: Summary) -> dict:
    up = model.update
    d = up.to_aihwkit(scale=units.scale)   # its reference is units.ref (weight_units)
    d.pop("w_ref", None)
    cfg = {**_base(units, up), **d}
    # power step has no origin (to_aihwkit measures it from 0): the same affine map for every kind
    cfg["w_min"], cfg["w_max"] = float(units.w(up.gmin)), float(units.w(up.gmax))
    cfg["dw_min"] = float(up.dw_min) / units.scale
    kind_cls = {"softbounds": "SoftBoundsDevice", "expstep": "ExpStepDevice", "powstep": "PowStepDevice"}[up.kind]
    cfg["class"] = kind_cls
    if isinstance(up, ExpStepModel):
        cfg["a"], cfg["b"] = float(up.a), float(up.b)
    if isinstance(up, SoftBoundsModel):
        cfg["mult_noise"] = True
        pmax = _soft_bounds_pmax(cfg)
        if pmax is not None:
            cfg = {k: v for k, v in cfg.items() if k not in ("w_min", "w_max", "dw_min", "up_down")}
            cfg.update(pmax)
    summary.add_exact(f"update ({up.kind})", cfg["class"], "labbench implements aihwkit's own update rule")
    _relative_noise(up, cfg, summary)
    _aihwkit_d2d(model, cfg, summary, ("dw_min", "w_min", "w_max", "pow_gamma"))
    return cfg


def _soft_bounds_pmax(cfg: dict) -> dict | None:
    """SoftBoundsPmaxDevice fields when the soft-bounds config is the symmetric case it can hold."""
    w_min, w_max, dw, ud = cfg["w_min"], cfg["w_max"], cfg["dw_min"], cfg["up_down"]
    b = w_max - w_min
    if abs(ud - (1 + 2 * w_min / b)) > 1e-6 * max(1.0, abs(ud)):
        return None
    alpha = dw / b
    p_max = max(1, round(2.0 / alpha))   # any p_max works: range_max follows from it
    return {"class": "SoftBoundsPmaxDevice", "p_max": int(p_max), "alpha": alpha, "range_min": w_min,
            "range_max": w_min + b * -math.expm1(-p_max * alpha)}


def _relative_noise(up: UpdateModel, cfg: dict, summary: Summary) -> None:
    cfg["dw_min_std"] = float(up.c2c_rel)
    if up.c2c_rel:
        summary.add_exact("update.c2c_rel", f"{cfg['class']}.dw_min_std", "multiplicative σ per pulse")
    if up.c2c_abs:
        mid = 0.5 * (float(up.gmin) + float(up.gmax))
        step = float(np.abs(up.mean_step(np.array([mid]), SET))[0])
        extra = up.c2c_abs * float(up.gmax - up.gmin) / step if step > 0 else 0.0
        cfg["dw_min_std"] = math.hypot(cfg["dw_min_std"], extra)
        summary.add_approx("update.c2c_abs", f"{cfg['class']}.dw_min_std",
                           "an additive σ turned into a multiplicative one at mid-range (this device has only "
                           "multiplicative noise)", "σ exact at mid-range, proportional to the step elsewhere")


def _aihwkit_d2d(model: DeviceModel, cfg: dict, summary: Summary, names) -> None:
    for name, sigma in model.d2d.sigma.items():
        if name == "dw_min" or name == "step_scale":
            cfg["dw_min_dtod"], cfg["dw_min_dtod_log_normal"] = float(sigma), True
            summary.add_exact(f"d2d.sigma.{name}", "dw_min_dtod, dw_min_dtod_log_normal=True",
                              f"lognormal gain on both directions (labbench truncates at ±{model.d2d.truncate:g}σ)")
        elif name in ("w_min", "w_max", "g_min", "g_max") and f"{name[2:]}" in ("min", "max"):
            key = f"w_{name[2:]}_dtod"
            cfg[key] = _lognormal_rel(sigma)
            summary.add_approx(f"d2d.sigma.{name}", key, "lognormal factor -> Gaussian of the same relative σ",
                               f"σ_rel {cfg[key]:.4g} (the shape of the distribution differs beyond 1σ)")
        elif name == "pow_gamma":
            cfg["pow_gamma_dtod"] = _lognormal_rel(sigma)
            summary.add_approx("d2d.sigma.pow_gamma", "pow_gamma_dtod", "lognormal -> Gaussian relative σ",
                               f"σ_rel {cfg['pow_gamma_dtod']:.4g}")
        else:
            summary.add_dropped(f"d2d.sigma.{name}", f"no aihwkit counterpart for {cfg['class']}", f"σ = {sigma:g}")


# -- anything else -> PiecewiseStep ---------------------------------------------------------
def _piecewise(model: DeviceModel, units: WeightUnits, summary: Summary) -> dict:
    up = model.update
    lo, hi = float(up.gmin), float(up.gmax)
    own = np.asarray(up.g_nodes) if isinstance(up, PiecewiseModel) else None
    evenly = own is not None and own.size <= MAX_NODES and np.allclose(np.diff(own), (hi - lo) / (own.size - 1),
                                                                       rtol=1e-6)
    n = own.size if evenly else MAX_NODES
    g = np.linspace(lo, hi, n)
    nominal = up if not isinstance(up, PiecewiseModel) else _unit_scale(up)
    s_up = np.abs(nominal.mean_step(g, SET))
    s_down = np.abs(nominal.mean_step(g, RESET))
    if isinstance(up, PiecewiseModel):   # its own node values (mean_step's toward() is not involved)
        s_up = np.interp(g, up.g_nodes, up.step_up)
        s_down = np.interp(g, up.g_nodes, up.step_down)
    dw = float(max(s_up.max(), s_down.max())) / units.scale
    if not dw > 0:
        raise ValueError(f"the {up.kind} model has no step anywhere in its range: nothing to export")
    cfg = {"class": "PiecewiseStepDevice", **_base(units, up), "dw_min": dw, "up_down": 0.0,
           "piecewise_up": [float(v) for v in s_up / units.scale / dw],
           "piecewise_down": [float(v) for v in s_down / units.scale / dw], "write_noise_std": 0.0}
    if evenly:
        summary.add_exact(f"update ({up.kind}, {n} evenly spaced nodes)", "PiecewiseStepDevice",
                          "the same nodes, relative to dw_min")
    else:
        err = _resample_error(nominal, g)
        summary.add_approx(f"update ({up.kind})", f"PiecewiseStepDevice ({n} nodes)",
                           f"the mean step sampled at {n} evenly spaced nodes, linearly interpolated",
                           f"largest step error between nodes {err:.2%} of the largest step")
    _relative_noise(up, cfg, summary)
    _aihwkit_d2d(model, cfg, summary, ("step_scale",))
    return cfg


def _unit_scale(up: PiecewiseModel) -> PiecewiseModel:
    import dataclasses

    return dataclasses.replace(up, step_scale=1.0)


def _resample_error(up: UpdateModel, nodes: np.ndarray) -> float:
    fine = np.linspace(nodes[0], nodes[-1], 4097)
    worst, top = 0.0, 0.0
    for d in (SET, RESET):
        exact = np.abs(up.mean_step(fine, d))
        approx = np.interp(fine, nodes, np.abs(up.mean_step(nodes, d)))
        worst, top = max(worst, float(np.max(np.abs(exact - approx)))), max(top, float(exact.max()))
    return worst / top if top else 0.0


def device_config(model: DeviceModel, summary: Summary) -> tuple[dict, WeightUnits]:
    """The aihwkit device config (a dict of its dataclass fields plus ``class``) and the units."""
    up = model.update
    units = weight_units(up)
    if isinstance(up, NeuroSimModel):
        cfg = _linear_step(model, units, summary)
    elif isinstance(up, (SoftBoundsModel, ExpStepModel, PowStepModel)):
        cfg = _aihwkit_kind(model, units, summary)
    else:
        cfg = _piecewise(model, units, summary)
    return cfg, units
