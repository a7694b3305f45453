"""Pulse responses to compare an export with its target: labbench's side, and the figures.

The protocol is the one a device engineer runs: every device starts at its own Gmin, takes
a SET train, then a RESET train, and is read (noise-free) after each pulse.  Three runs
separate what is compared: ``full`` (everything), ``c2c`` (device-to-device spread off:
the spread across devices is cycle-to-cycle noise alone) and ``d2d`` (cycle-to-cycle noise
off: the spread is device-to-device alone).

Figures: the RMSE of the mean response as a fraction of the range, and for a spread the
ratio (target / labbench) of its RMS over the train, with a 95 % bootstrap interval over
devices (both sides resampled).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from labbench.physics.device_model import DeviceModel
from labbench.physics.models import RESET, SET, NeuroSimModel

__all__ = ["variant", "labbench_trains", "rmse_of_range", "spread_ratio", "pulses_to_top", "pulses_to_bottom",
           "BOOTSTRAP", "REACH"]

BOOTSTRAP = 400
#: a curve that never reaches its top (soft bounds): the train stops at this fraction of the range
REACH = 0.99
_MAX_PULSES = 100000


def variant(model: DeviceModel, noise: str) -> DeviceModel:
    """``model`` with only the named noise: ``full``, ``c2c`` (no D2D), ``d2d`` (no C2C) or ``none``."""
    if noise == "full":
        return model
    if noise == "none":
        return variant(variant(model, "c2c"), "d2d")
    if noise == "c2c":
        return model.model_copy(update={"d2d": model.d2d.model_copy(update={"sigma": {}})})
    if noise == "d2d":
        return model.model_copy(update={"update": dataclasses.replace(model.update, c2c_rel=0.0, c2c_abs=0.0)})
    raise ValueError(f"noise must be full, c2c, d2d or none, got {noise!r}")


def labbench_trains(model: DeviceModel, n_devices: int, n_set: int, n_reset: int, seed: int = 0,
                    noise: str = "full") -> np.ndarray:
    """G (reads × devices): labbench's Chip (the update model alone for a model in weight units,
    which a chip refuses), each device from its own Gmin, SET then RESET, one pulse at a time."""
    m = variant(model, noise)
    if m.gmin >= 0:
        from labbench.physics.chip import Chip

        chip = Chip(m, rows=(n_devices + 1) // 2, cols=1, seed=seed)
        idx = np.arange(n_devices)
        out = [chip.g[idx].copy()]
        for k in range(n_set + n_reset):
            chip.pulse(idx, 1, SET if k < n_set else RESET)
            out.append(chip.g[idx].copy())
        return np.array(out)
    rng = np.random.default_rng(seed)
    dev = m.update.sample_devices((n_devices,), m.d2d.sigma, rng, truncate=m.d2d.truncate)
    g = np.broadcast_to(np.asarray(dev.gmin, float), (n_devices,)).copy()
    out = [g.copy()]
    for k in range(n_set + n_reset):
        g = dev.step(g, 1, SET if k < n_set else RESET, rng=rng)
        out.append(g.copy())
    return np.array(out)


def rmse_of_range(a: np.ndarray, b: np.ndarray, g_range: float) -> float:
    """RMSE between two mean responses (reads × devices arrays, or means) over the range."""
    ma = a.mean(axis=1) if a.ndim == 2 else a
    mb = b.mean(axis=1) if b.ndim == 2 else b
    return float(np.sqrt(np.mean((ma - mb) ** 2)) / g_range)


def _rms_spread(g: np.ndarray, rows: slice) -> float:
    return float(np.sqrt(np.mean(np.var(g[rows], axis=1, ddof=1))))


def spread_ratio(target: np.ndarray, ours: np.ndarray, rows: slice = slice(None), seed: int = 0,
                 n_boot: int = BOOTSTRAP) -> dict:
    """RMS over reads ``rows`` of the spread across devices, target / ours, with a 95 % interval."""
    rng = np.random.default_rng(seed)
    t, o = target[rows], ours[rows]
    point = _rms_spread(t, slice(None)) / _rms_spread(o, slice(None))
    boots = np.empty(n_boot)
    for i in range(n_boot):
        it = rng.integers(0, t.shape[1], t.shape[1])
        io = rng.integers(0, o.shape[1], o.shape[1])
        boots[i] = _rms_spread(t[:, it], slice(None)) / _rms_spread(o[:, io], slice(None))
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {"ratio": point, "ci95": [float(lo), float(hi)], "devices": [int(t.shape[1]), int(o.shape[1])]}


def pulses_to_top(model: DeviceModel, limit: int | None = None) -> int:
    """The SET train's length: floor(Pmax) for NeuroSim's model, else the pulses the mean
    device takes from Gmin to :data:`REACH` of its range (at most ``limit``)."""
    return _train_length(model, SET, limit)


def pulses_to_bottom(model: DeviceModel, limit: int | None = None) -> int:
    """The RESET train's length, from Gmax, as :func:`pulses_to_top`."""
    return _train_length(model, RESET, limit)


def _train_length(model: DeviceModel, direction, limit: int | None) -> int:
    up = model.update
    up_set = direction == SET
    if isinstance(up, NeuroSimModel):
        return max(1, math.floor(up.pmax_set if up_set else up.pmax_reset))
    lo, hi = float(up.gmin), float(up.gmax)
    g = np.array([lo if up_set else hi], float)
    for n in range(1, (limit or _MAX_PULSES) + 1):
        g = up.advance(g, np.ones(1, np.int64), direction)
        if (g[0] >= lo + REACH * (hi - lo)) if up_set else (g[0] <= hi - REACH * (hi - lo)):
            return n
    if limit:
        return limit
    raise ValueError(f"the {up.kind} model's {'SET' if up_set else 'RESET'} train does not reach {REACH:.0%} of "
                     f"its range in {_MAX_PULSES} pulses")
