"""A device model as aihwkit configurations: the device, the 2T2R cell with refresh, mixed
precision, read noise and a retention noise model, with the summary of what maps.

The output is data (a JSON of aihwkit 1.2.0 dataclass fields, ``class`` naming each) and a
small Python file that builds the ``RPUConfig`` objects from it (:mod:`.aihwkit_python`).
"""
from __future__ import annotations

import math

from labbench.physics.device_model import DeviceModel

from .aihwkit_device import WeightUnits, device_config
from .bound_noise import add_noise_at_bound
from .summary import Summary

__all__ = ["AIHWKIT_VERSION", "TESTED_VERSIONS", "export_aihwkit"]

#: the aihwkit version the field names and update rules were checked against (bench/export_check.py)
AIHWKIT_VERSION = "1.2.0"
TESTED_VERSIONS = (AIHWKIT_VERSION,)


def _two_t2r(model: DeviceModel, device: dict, units: WeightUnits, level: float, check_every: int,
             summary: Summary) -> dict:
    """OneSidedUnitCell: both devices only SET; a pair is RESET and re-written when its larger
    device passes ``level`` of the window (labbench's ``threshold`` refresh policy)."""
    w_max = device.get("w_max", device.get("range_max"))
    w_min = device.get("w_min", device.get("range_min"))
    g_level = model.gmin + level * (model.gmax - model.gmin)
    upper = float(units.w(g_level)) / w_max
    dev = dict(device)
    dev["reset"] = w_min   # a RESET lands at the HRS
    hrs = model.variability.hrs_c2c
    dev["reset_std"] = model.gmin * hrs / units.scale if hrs else 0.0
    if hrs:
        summary.add_approx("variability.hrs_c2c", "PulsedDevice.reset_std (2T2R cell)",
                           "lognormal σ of ln G at the HRS -> Gaussian σ of the reset weight at Gmin",
                           f"σ_w = {dev['reset_std']:.4g}")
    summary.add_exact("2T2R refresh (labbench 'threshold' policy)",
                      "OneSidedUnitCell(refresh_every, refresh_upper_thres, refresh_lower_thres)",
                      f"refresh when the larger device passes {level:.0%} of the window, checked every "
                      f"{check_every} update(s), whatever the smaller one holds")
    return {"class": "OneSidedUnitCell", "unit_cell_devices": [dev], "refresh_every": int(check_every),
            "units_in_mbatch": False, "refresh_upper_thres": upper, "refresh_lower_thres": w_min / w_max - 0.01}


def _mixed_precision(device: dict, summary: Summary) -> dict:
    summary.add_exact("mixed-precision mode (labbench 'mixed', per-synapse digital state)",
                      "MixedPrecisionCompound (DigitalRankUpdateRPUConfig)",
                      "a float accumulator per synapse, transferred to the device in whole pulses "
                      "(granularity = dw_min); 4 B/synapse of digital state, as labbench reports it")
    return {"class": "MixedPrecisionCompound", "device": dict(device), "transfer_every": 1,
            "granularity": 0.0, "n_x_bins": 0, "n_d_bins": 0}


def _read_noise(model: DeviceModel, units: WeightUnits, summary: Summary) -> dict:
    sigma_rel = model.read.noise_rel
    g_mid = 0.5 * (model.gmin + model.gmax)
    forward = {"w_noise_type": "AdditiveConstant" if sigma_rel else "None",
               "w_noise": sigma_rel * g_mid / units.scale}
    if sigma_rel:
        summary.add_approx("read.noise_rel", "IOParameters.w_noise (AdditiveConstant)",
                           "labbench's read σ is relative to G; aihwkit's weight noise is one σ for all weights: "
                           "the σ at mid-range conductance",
                           f"σ ×{g_mid / model.gmin:.2g} too large at Gmin, ×{g_mid / model.gmax:.2g} at Gmax")
    if model.read.iv != "linear":
        summary.add_dropped("read.iv", "aihwkit reads are linear in the weight", f"sinh I-V, v0 = {model.read.v0:g} V")
    return forward


def _faults(model: DeviceModel, device: dict, summary: Summary) -> None:
    f = model.faults
    p = f.stuck_at_gmin + f.stuck_at_gmax
    device["corrupt_devices_prob"] = p
    device["corrupt_devices_range"] = 0.0
    if p:
        summary.add_approx("faults", "PulsedDevice.corrupt_devices_prob",
                           "aihwkit fixes a corrupt device at a weight within ±corrupt_devices_range of 0, "
                           "not at a bound", f"{p:.2%} of devices stuck at w = 0 instead of Gmin/Gmax")


def _retention(model: DeviceModel, summary: Summary) -> dict | None:
    from labbench.physics import retention as _r

    ret = model.retention
    if ret is None:
        return None
    tau = _r.arrhenius(ret)
    out = {"class": "LabbenchRetentionNoise", "g_min_uS": model.gmin * 1e6, "g_max_uS": model.gmax * 1e6,
           "level": ret.level, "tau_s": tau, "tau_d2d": ret.tau_d2d, "state_factor": ret.state_factor,
           "temperature_K": ret.temperature}
    rel = ret.relaxation
    if rel is not None:
        out.update(relax_sigma_hrs=rel.sigma_hrs, relax_sigma_lrs=rel.sigma_lrs, relax_t0_s=rel.t0,
                   relax_t_sat_s=rel.t_sat)
    summary.add_exact("retention (long-term drift)", "LabbenchRetentionNoise (a BaseNoiseModel, in the Python file)",
                      f"ln u + β·u = ln u0 + β·u0 − t/τ_i, τ = {tau:.3g} s at {ret.temperature:g} K, "
                      f"lognormal τ_i (σ {ret.tau_d2d:g}) drawn per device as drift coefficients; not DriftParameter, "
                      "which shows no drift on SingleRPUConfig (aihwkit #727)")
    summary.add_approx("retention.activation_energy", "LabbenchRetentionNoise.tau_s",
                       "aihwkit's t_inference has no temperature: τ is taken at the model's operating temperature",
                       f"E_a = {ret.activation_energy:g} eV: another temperature needs another export "
                       "(set retention.temperature)")
    if rel is not None:
        summary.add_approx("retention.relaxation", "LabbenchRetentionNoise (relaxation terms)",
                           "σ(w)·ξ·f(t) on ln G with t the time since programming (one program per device)",
                           "labbench integrates σ along G's path (relax_move); here σ at the programmed state: "
                           f"differs by < σ² = {max(rel.sigma_hrs, rel.sigma_lrs) ** 2:.2%} of ln G")
    return out


def _dropped_blocks(model: DeviceModel, summary: Summary) -> None:
    sw = model.switching
    summary.add_exact("switching.set_kinetics.amplitude/width (the nominal pulse)", "one aihwkit pulse",
                      f"aihwkit pulses are all nominal: {sw.set_kinetics.amplitude:g} V, {sw.set_kinetics.width:g} s")
    summary.add_dropped("switching", "aihwkit pulses are identical: no amplitude, width, gate, thresholds, "
                        "forming or 1T1R circuit",
                        "pulses other than the nominal one (the one the update model describes) cannot be expressed")
    var = model.variability
    if any(getattr(var, k).d2d or getattr(var, k).c2c for k in ("v_form", "v_set", "v_reset")):
        summary.add_dropped("variability", "no switching thresholds in aihwkit (v_form, v_set, v_reset spreads)", block=True)
    if var.lrs_c2c:
        summary.add_dropped("variability.lrs_c2c", "no current-limited SET in aihwkit", f"σ = {var.lrs_c2c:g}")
    for block, why in (("read_disturb", "aihwkit reads never move a device"),
                       ("endurance", "aihwkit devices never wear out"),
                       ("energy", "aihwkit does not count energy")):
        if getattr(model, block) is not None:
            summary.add_dropped(block, why, block=True)


def export_aihwkit(model: DeviceModel, refresh_level: float = 0.9, check_every: int = 1) -> tuple[dict, Summary]:
    """(configuration dict, summary) of ``model`` for aihwkit :data:`AIHWKIT_VERSION`."""
    if not 0 < refresh_level < 1:
        raise ValueError(f"--refresh-level must lie strictly between 0 and 1 (a fraction of the window), "
                         f"got {refresh_level:g}")
    if check_every < 1 or not math.isfinite(check_every):
        raise ValueError(f"--check-every must be a whole number of updates >= 1, got {check_every}")
    summary = Summary(f"aihwkit {AIHWKIT_VERSION}", model.name)
    device, units = device_config(model, summary)
    add_noise_at_bound(summary, model, "aihwkit")
    _faults(model, device, summary)
    forward = _read_noise(model, units, summary)
    config = {
        "aihwkit_version": AIHWKIT_VERSION,
        "labbench_model": model.name,
        "units": units.to_dict(),
        "device": device,
        "forward": forward,
        "two_t2r": _two_t2r(model, device, units, refresh_level, check_every, summary),
        "mixed_precision": _mixed_precision(device, summary),
        "noise_model": _retention(model, summary),
    }
    _dropped_blocks(model, summary)
    config["summary"] = summary.to_dict()
    return config, summary
