"""Turn a SET fit and a RESET fit into update-model parameters (per fit unit).

The per-direction fits live in normalized units (:class:`.trajectories.Norm`); here they
become the named, SI parameters of the registered models in :mod:`labbench.physics`,
as arrays of shape (U,) — scalars for a pooled fit, one value per device for D2D.
"""
from __future__ import annotations

import numpy as np

from labbench.physics.aihwkit_models import split_gammas, split_scales
from labbench.physics.models import model_class

from .trajectories import PIECEWISE_NODES, DirectionFit

MIN_CURVATURE = 1e-3  # NeuroSim needs A > 0 (SET) / A < 0 (RESET): a wrong-way bend becomes ~linear


def reference(w_min, w_max):
    """The conductance aihwkit calls w = 0 (see labbench.physics.aihwkit_models)."""
    w_min, w_max = np.asarray(w_min), np.asarray(w_max)
    return np.where((w_min < 0) & (w_max > 0), 0.0, 0.5 * (w_min + w_max))


def expstep_x_ref(norm) -> float:
    """Normalized position of the exp-step reference for data bounds [lo, lo + span]."""
    return float(norm.x(reference(norm.lo, norm.lo + norm.span)))


def combine(kind: str, up: DirectionFit, down: DirectionFit) -> dict[str, np.ndarray]:
    """Model keyword arguments (arrays over units) from the two directions' fits."""
    norm = up.norm
    sp = norm.span
    P, Q = up.params, down.params
    if kind == "neurosim":
        c_s = np.maximum(P["c"], MIN_CURVATURE)
        c_r = np.maximum(Q["c"], MIN_CURVATURE)
        return {"g_min": norm.g(0.5 * (P["x_start"] + Q["x_end"])),
                "g_max": norm.g(0.5 * (P["x_end"] + Q["x_start"])),
                "pmax_set": up.pmax, "a_set": up.pmax / c_s,
                "pmax_reset": down.pmax, "a_reset": -down.pmax / c_r}
    if kind == "softbounds":
        w_max, w_min = norm.g(P["bound"]), norm.g(Q["bound"])
        ref = reference(w_min, w_max)
        dw_min, up_down = split_scales(P["rate"] * (w_max - ref), Q["rate"] * (ref - w_min))
        return {"dw_min": dw_min, "up_down": np.clip(up_down, -0.999, 0.999), "w_min": w_min, "w_max": w_max}
    if kind == "powstep":
        w_max, w_min = norm.g(P["bound"]), norm.g(Q["bound"])
        rng_x = np.maximum(P["bound"] - Q["bound"], 1e-9)
        dw_min, up_down = split_scales(P["c"] * rng_x ** P["gamma"] * sp, Q["c"] * rng_x ** Q["gamma"] * sp)
        pow_gamma, pow_up_down = split_gammas(P["gamma"], Q["gamma"])
        return {"dw_min": dw_min, "up_down": np.clip(up_down, -0.999, 0.999), "w_min": w_min, "w_max": w_max,
                "pow_gamma": pow_gamma, "pow_up_down": np.clip(pow_up_down, -0.999, 0.999)}
    if kind == "expstep":
        dw_min, up_down = split_scales(P["s"] * sp, Q["s"] * sp)
        shape = np.shape(dw_min)
        return {"dw_min": dw_min, "up_down": np.clip(up_down, -0.999, 0.999),
                "w_min": np.full(shape, norm.lo), "w_max": np.full(shape, norm.lo + sp),
                "A_up": P["A"], "A_down": Q["A"], "gamma_up": P["gamma"], "gamma_down": Q["gamma"],
                "a": np.full(shape, 0.5), "b": np.zeros(shape)}
    if kind == "piecewise":
        nodes = np.linspace(0.0, 1.0, PIECEWISE_NODES)
        up_s = np.column_stack([P[f"s{i}"] for i in range(nodes.size)]) * sp
        dn_s = np.column_stack([Q[f"s{i}"] for i in range(nodes.size)]) * sp
        return {"g_nodes": norm.g(nodes), "step_up": up_s, "step_down": dn_s}
    raise ValueError(f"unknown model kind {kind!r}")


def nominal_model(kind: str, params: dict[str, np.ndarray], c2c_rel: float = 0.0, c2c_abs: float = 0.0):
    """The registered UpdateModel from one unit's parameters (index 0)."""
    kw = {}
    for k, v in params.items():
        v = np.asarray(v)
        if k in ("g_nodes",):
            kw[k] = tuple(float(t) for t in v)
        elif k in ("step_up", "step_down"):
            kw[k] = tuple(float(t) for t in v[0])
        else:
            kw[k] = float(v.ravel()[0])
    return model_class(kind)(**kw, c2c_rel=float(c2c_rel), c2c_abs=float(c2c_abs))


def per_device_values(kind: str, params: dict[str, np.ndarray], nominal) -> dict[str, np.ndarray]:
    """Per-unit values of the parameters that device-to-device variation acts on."""
    if kind == "piecewise":
        tot = np.asarray(params["step_up"]).sum(axis=1) + np.asarray(params["step_down"]).sum(axis=1)
        return {"step_scale": tot / (sum(nominal.step_up) + sum(nominal.step_down))}
    out = {name: np.asarray(params[name], float) for name in nominal.variable_params if name in params}
    if kind == "neurosim":
        # a device whose curve shows no bend has its A clamped at pmax / MIN_CURVATURE (linear):
        # its A is not identified, so it says nothing about the spread of A across devices
        for name, pmax in (("a_set", params.get("pmax_set")), ("a_reset", params.get("pmax_reset"))):
            if name in out and pmax is not None:
                clamped = np.abs(out[name]) >= (np.asarray(pmax, float) / MIN_CURVATURE) * (1 - 1e-9)
                out[name] = np.where(clamped, np.nan, out[name])
    return out
