"""The noise-at-bound convention in an export, with its size measured on the model itself.

labbench's default (``update.noise_at_bound: shrink``) shrinks a pulse's noise near a bound,
so nothing is clipped and the mean response is unbiased; aihwkit 1.2.0 and NeuroSim add the
full noise and clip at the bound, so a device near a bound random-walks inside it and the
mean there sits off the bound.  Neither simulator can express shrink.  The export says so,
with the size: the model replayed on labbench's Chip with ``shrink`` and with ``clip`` (the
same devices, the same normals), each device from its own Gmin through a SET train then a
RESET train, C2C noise only; the RMSE between the mean responses and the ratio of the C2C
spreads.  2000 devices take well under a second (the Chip's compiled loop, or NumPy for a
model in weight units), so every ``labbench export`` measures it.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from labbench.physics.device_model import DeviceModel

from .compare import labbench_trains, pulses_to_bottom, pulses_to_top, rmse_of_range
from .summary import Summary

__all__ = ["with_noise_at_bound", "convention_size", "add_noise_at_bound", "DEVICES", "MAX_TRAIN"]

#: devices of each replay (the issue asks for >= 1000)
DEVICES = 2000
#: pulses per train at most (a soft-bounds curve never reaches 99 % of its range)
MAX_TRAIN = 500


def with_noise_at_bound(model: DeviceModel, convention: str) -> DeviceModel:
    """``model`` with ``update.noise_at_bound`` set to ``convention``."""
    if model.update.noise_at_bound == convention:
        return model
    return model.model_copy(update={"update": dataclasses.replace(model.update, noise_at_bound=convention)})


def _rms_spread(g: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.var(g, axis=1, ddof=1))))


def convention_size(model: DeviceModel, devices: int = DEVICES, seed: int = 1) -> dict:
    """How much ``clip`` differs from ``shrink`` on ``model`` (C2C noise only, D2D off): the RMSE
    of the mean response as a fraction of the range, and the C2C spread ratios clip / shrink
    (RMS over the SET train and over the RESET train)."""
    n_set, n_reset = pulses_to_top(model, MAX_TRAIN), pulses_to_bottom(model, MAX_TRAIN)
    runs = {c: labbench_trains(with_noise_at_bound(model, c), devices, n_set, n_reset, seed=seed, noise="c2c")
            for c in ("shrink", "clip")}
    sets, resets = slice(0, n_set + 1), slice(n_set, None)

    def ratio(rows):
        ours = _rms_spread(runs["shrink"][rows])
        return _rms_spread(runs["clip"][rows]) / ours if ours > 0 else 1.0

    return {"devices": devices, "n_set": n_set, "n_reset": n_reset,
            "mean_rmse_of_range": rmse_of_range(runs["clip"], runs["shrink"], model.gmax - model.gmin),
            "c2c_ratio_set": ratio(sets), "c2c_ratio_reset": ratio(resets)}


def add_noise_at_bound(summary: Summary, model: DeviceModel, target: str) -> dict | None:
    """The convention's entry in an export's summary (``target``: "aihwkit", "NeuroSim");
    returns the measured size (None: the model has no C2C noise, or clips already)."""
    up = model.update
    if not (up.c2c_abs or up.c2c_rel):
        return None
    if up.noise_at_bound == "clip":
        summary.add_exact("update.noise_at_bound: clip", f"{target}'s clip at the bounds",
                          "the full noise added to the unbounded step, then clipped: the target's own rule")
        return None
    size = convention_size(model)
    summary.add_approx(
        "update.noise_at_bound: shrink", f"{target}'s clip at the bounds",
        f"{target} cannot express shrink (σ shrinks within 3σ of a bound: nothing clipped, the mean unbiased): "
        f"it adds the full noise and clips, so a device near a bound random-walks inside it; to replay the "
        f"export in labbench, set update.noise_at_bound: clip",
        f"measured on this model, clip vs shrink ({size['devices']} devices, C2C only, {size['n_set']} SET + "
        f"{size['n_reset']} RESET pulses): mean response RMSE {size['mean_rmse_of_range']:.2%} of the range; "
        f"C2C spread ×{size['c2c_ratio_set']:.3f} (SET), ×{size['c2c_ratio_reset']:.3f} (RESET)")
    return size
