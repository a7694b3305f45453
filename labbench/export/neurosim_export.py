"""A device model as NeuroSim parameters: MLP+NeuroSim V3.0 ``RealDevice`` (``Cell.cpp``)
and the DNN+NeuroSim V2.1 training arguments, with the summary of what maps.

The nonlinearity labels come from :func:`labbench.fitting.neurosim_nl.neurosim_nonlinearity`,
NeuroSim's own normalization (``nonlinear_fit.m``) applied to the model's mean LTP and LTD
trains: the same function the fitter reports, so the label a user reads after a fit is the
label exported.  NeuroSim then turns the label back into A through its ``getParamA`` table
(labels in steps of 0.01, rounded down), which :mod:`.neurosim_cell` reproduces; the RMSE of
the curve NeuroSim will run against labbench's is in the summary.
"""
from __future__ import annotations

import math

import numpy as np

from labbench.physics.device_model import DeviceModel
from labbench.physics.models import RESET, SET, NeuroSimModel
from labbench.physics.nonlinearity import nl_from_normalized_a

from .bound_noise import add_noise_at_bound
from .compare import REACH as _REACH
from .compare import pulses_to_bottom, pulses_to_top
from .neurosim_cell import TABLE_SIZE, NeuroSimArray, NeuroSimParams, table_index
from .summary import Summary

__all__ = ["NEUROSIM_VERSIONS", "export_neurosim", "emitted_label", "mean_trains", "render_cell_cpp", "pulses_to_top",
           "pulses_to_bottom", "reproduce"]

NEUROSIM_VERSIONS = "MLP+NeuroSim V3.0 (Cell.cpp RealDevice) / DNN+NeuroSim V2.1 (train.py arguments)"


def emitted_label(nl: float) -> float:
    """``nl`` rounded to NeuroSim's table step (0.01), written so that C's ``(int)(|NL|·100) − 1``
    lands on that entry (0.29·100 is 28.999… in binary: such a label is written 0.291)."""
    target = int(round(abs(nl) * 100))
    target = min(max(target, 1), TABLE_SIZE)
    for text in (f"{target / 100:.2f}", f"{(target + 0.1) / 100:.3f}"):
        if int(table_index(float(text))) == target - 1:
            return math.copysign(float(text), nl)
    raise AssertionError(f"no decimal form of the label {nl} reaches its table entry")   # pragma: no cover


def mean_trains(model: DeviceModel, n_set: int, n_reset: int) -> np.ndarray:
    """The noise-free nominal device: a SET train from Gmin, then a RESET train (n + 1 reads)."""
    up = model.update
    g = [float(up.gmin)]
    cur = np.array([up.gmin], float)
    for k in range(n_set + n_reset):
        cur = up.advance(cur, np.ones(1, np.int64), SET if k < n_set else RESET)
        g.append(float(cur[0]))
    return np.array(g)


def _labels(model: DeviceModel, n_set: int, n_reset: int) -> dict:
    from labbench.fitting.neurosim_nl import neurosim_nonlinearity

    curve = mean_trains(model, n_set, n_reset)
    ltp = neurosim_nonlinearity(np.arange(n_set + 1), curve[: n_set + 1], "ltp", interval=False)
    ltd = neurosim_nonlinearity(np.arange(n_reset + 1), curve[n_set:], "ltd", interval=False)
    return {"ltp": ltp, "ltd": ltd}


def _d2d_label_sigma(model: DeviceModel, name: str, pmax: float) -> float:
    """σ of NeuroSim's label over devices whose A is lognormal (labbench's d2d on a_set/a_reset)."""
    sigma = model.d2d.sigma.get(name, 0.0)
    if not sigma:
        return 0.0
    a = abs(float(getattr(model.update, name))) / pmax
    z = np.clip(np.random.default_rng(0).standard_normal(20000), -model.d2d.truncate, model.d2d.truncate)
    labels = [nl_from_normalized_a(v) for v in a * np.exp(sigma * z[:4000])]
    return float(np.std(labels))


def _lognormal_sd(value: float, sigma: float) -> float:
    return value * math.sqrt(math.expm1(sigma * sigma) * math.exp(sigma * sigma))


def _variation(model: DeviceModel, summary: Summary, n_set: int, n_reset: int) -> dict:
    out = {"sigmaDtoD": 0.0, "maxConductanceVar": 0.0, "minConductanceVar": 0.0}
    sig = model.d2d.sigma
    s_ltp = _d2d_label_sigma(model, "a_set", n_set) if "a_set" in sig else 0.0
    s_ltd = _d2d_label_sigma(model, "a_reset", n_reset) if "a_reset" in sig else 0.0
    if s_ltp or s_ltd:
        out["sigmaDtoD"] = s_ltp or s_ltd
        summary.add_approx("d2d.sigma.a_set" + (" / a_reset" if s_ltd else ""), "sigmaDtoD",
                           "labbench's lognormal σ on A -> NeuroSim's Gaussian σ on the label (the σ of the "
                           "label over sampled devices); NeuroSim uses one σ for LTP and LTD",
                           f"σ_NL(LTP) = {s_ltp:.3g}, σ_NL(LTD) = {s_ltd:.3g}; exported {out['sigmaDtoD']:.3g}")
    for name, key in (("g_max", "maxConductanceVar"), ("g_min", "minConductanceVar")):
        if name in sig:
            out[key] = _lognormal_sd(float(getattr(model.update, name)), sig[name])
            summary.add_approx(f"d2d.sigma.{name}", f"conductanceRangeVar, {key}",
                               "lognormal -> Gaussian of the same σ (S)", f"σ = {out[key]:.3g} S")
    for name in set(sig) - {"a_set", "a_reset", "g_max", "g_min"}:
        summary.add_dropped(f"d2d.sigma.{name}", "no NeuroSim counterpart", f"σ = {sig[name]:g}")
    return out


def _noise(model: DeviceModel, summary: Summary) -> float:
    up = model.update
    span = float(up.gmax) - float(up.gmin)
    sigma = up.c2c_abs * span
    if up.c2c_abs:
        summary.add_exact("update.c2c_abs", "sigmaCtoC", "additive σ per pulse, a fraction of the range "
                          "(NeuroSim: × √numPulse per write)")
    if up.c2c_rel:
        mid = 0.5 * (float(up.gmin) + float(up.gmax))
        step = float(abs(up.mean_step(np.array([mid]), SET)[0]))
        extra = up.c2c_rel * step
        sigma = math.hypot(sigma, extra)
        summary.add_approx("update.c2c_rel", "sigmaCtoC", "NeuroSim's noise is additive: the relative σ is "
                           "taken at the mid-range SET step", f"σ = {extra / span:.3g} of the range, exact at mid-range")
    return sigma


def _dropped(model: DeviceModel, summary: Summary) -> None:
    summary.add_dropped("switching", "NeuroSim pulses are identical (write voltage and width are its only "
                        "pulse parameters): no thresholds, kinetics, forming or compliance",
                        "pulses other than the nominal one (the one the update model describes) cannot be expressed")
    var = model.variability
    if var.hrs_c2c or var.lrs_c2c or any(getattr(var, k).d2d or getattr(var, k).c2c for k in ("v_form", "v_set", "v_reset")):
        summary.add_dropped("variability", "no HRS/LRS level spread or thresholds in NeuroSim", block=True)
    if model.faults.stuck_at_gmin or model.faults.stuck_at_gmax:
        summary.add_dropped("faults", "no stuck devices in NeuroSim",
                            f"{model.faults.stuck_at_gmin + model.faults.stuck_at_gmax:.2%} of devices", block=True)
    for block, why in (("retention", "MLP+NeuroSim V3.0 has no drift (DNN+NeuroSim V2.1's --t/--v drift is a "
                        "different model, not mapped)"),
                       ("read_disturb", "NeuroSim reads never move a device"),
                       ("endurance", "NeuroSim devices never wear out"),
                       ("energy", "NeuroSim computes energy from its own circuit models, not labbench's")):
        if getattr(model, block) is not None:
            summary.add_dropped(block, why, block=True)
    if model.read.iv != "linear":
        summary.add_dropped("read.iv", "RealDevice reads linearly (nonlinearIV is for cross-point writes)",
                            f"sinh I-V, v0 = {model.read.v0:g} V")


def reproduce(params: NeuroSimParams, n_devices: int, n_set: int, n_reset: int, seed: int = 0) -> np.ndarray:
    """NeuroSim's pulse response (reads × devices): SET train from Gmin, then RESET."""
    return NeuroSimArray(params, n_devices, seed).train(n_set, n_reset)


def export_neurosim(model: DeviceModel) -> tuple[dict, Summary]:
    """(parameters dict, summary) of ``model`` for :data:`NEUROSIM_VERSIONS`."""
    summary = Summary(NEUROSIM_VERSIONS, model.name)
    up = model.update
    if float(up.gmin) < 0:
        raise ValueError(f"device model {model.name!r} is in normalized (aihwkit weight) units "
                         f"(g_min {float(up.gmin):g} < 0): NeuroSim needs conductances in S; refit in siemens")
    n_set, n_reset = pulses_to_top(model), pulses_to_bottom(model)
    labels = _labels(model, n_set, n_reset)
    nl_ltp, nl_ltd = emitted_label(labels["ltp"].nl), emitted_label(labels["ltd"].nl)
    var = _variation(model, summary, n_set, n_reset)
    sigma_c2c = _noise(model, summary)
    add_noise_at_bound(summary, model, "NeuroSim")
    params = NeuroSimParams(maxConductance=float(up.gmax), minConductance=float(up.gmin), maxNumLevelLTP=n_set,
                            maxNumLevelLTD=n_reset, NL_LTP=nl_ltp, NL_LTD=nl_ltd, sigmaCtoC=sigma_c2c, **var)
    mean = mean_trains(model, n_set, n_reset)
    ns = reproduce(NeuroSimParams(**{**vars(params), "sigmaCtoC": 0.0, "sigmaDtoD": 0.0, "maxConductanceVar": 0.0,
                                     "minConductanceVar": 0.0}), 1, n_set, n_reset)[:, 0]
    rmse = float(np.sqrt(np.mean((ns - mean) ** 2)) / (float(up.gmax) - float(up.gmin)))
    curve_note = (f"labels from NeuroSim's normalization of the mean trains (fitting.neurosim_nl): LTP "
                  f"{labels['ltp'].nl:+.4f}, LTD {labels['ltd'].nl:+.4f}, written {nl_ltp:+g} / {nl_ltd:+g} "
                  f"(getParamA's 0.01 step); maxNumLevel = floor(Pmax)")
    if isinstance(up, NeuroSimModel):
        summary.add_approx("update (neurosim)", "maxConductance, minConductance, maxNumLevelLTP/LTD, NL_LTP/LTD",
                           curve_note, f"mean-train RMSE {rmse:.3%} of the range (label rounding, integer Pmax)")
    else:
        summary.add_approx(f"update ({up.kind})", "maxConductance, minConductance, maxNumLevelLTP/LTD, NL_LTP/LTD",
                           curve_note + f"; Pmax = pulses to {_REACH:.0%} of the range",
                           f"mean-train RMSE {rmse:.3%} of the range (NeuroSim's exponential vs the {up.kind} curve)")
    for direction, lab in labels.items():
        for note in lab.notes:
            summary.add_approx(f"update ({direction.upper()} label)", f"NL_{direction.upper()}", note,
                               f"label {lab.nl:+.3f}, normalized-curve RMSE {lab.rmse:.2%}")
    summary.add_exact("read.noise_rel", "readNoise = true, sigmaReadNoise" if model.read.noise_rel else "readNoise = false",
                      "relative σ of each read: I = V·G·(1 + N(0, σ))")
    summary.add_exact("read.voltage", "readVoltage", f"{model.read.voltage:g} V")
    sw = model.switching
    summary.add_exact("switching.set_kinetics / reset_kinetics (nominal pulse)",
                      "writeVoltageLTP/LTD, writePulseWidthLTP/LTD", "the pulse the update model was fitted at")
    _dropped(model, summary)
    cell = {**vars(params), "readNoise": bool(model.read.noise_rel), "sigmaReadNoise": model.read.noise_rel,
            "readVoltage": model.read.voltage, "writeVoltageLTP": sw.set_kinetics.amplitude,
            "writeVoltageLTD": sw.reset_kinetics.amplitude, "writePulseWidthLTP": sw.set_kinetics.width,
            "writePulseWidthLTD": sw.reset_kinetics.width, "nonlinearWrite": True,
            "conductanceRangeVar": bool(var["maxConductanceVar"] or var["minConductanceVar"])}
    c2c_frac = sigma_c2c / (float(up.gmax) - float(up.gmin))
    dnn = {"--nonlinearityLTP": nl_ltp, "--nonlinearityLTD": nl_ltd, "--max_level": max(n_set, n_reset),
           "--d2dVari": var["sigmaDtoD"], "--c2cVari": c2c_frac, "--onoffratio": float(up.gmax) / float(up.gmin)}
    if n_set != n_reset:
        summary.add_approx("update.pmax_set / pmax_reset", "DNN+NeuroSim V2.1 --max_level",
                           "V2.1 takes one level count for both directions: the larger", f"{n_set} vs {n_reset} levels")
    summary.add_approx("update.c2c_abs", "DNN+NeuroSim V2.1 --c2cVari", "V2.1 draws one σ per weight update "
                       "(not per pulse, not × √n)", "exact for one-pulse updates")
    return {"neurosim_versions": NEUROSIM_VERSIONS, "labbench_model": model.name, "mlp_v3_cell": cell,
            "dnn_v2_1_args": dnn, "labels": {k: v.to_dict() for k, v in labels.items()},
            "mean_train_rmse_of_range": rmse, "summary": summary.to_dict()}, summary


def _cpp(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def render_cell_cpp(export: dict) -> str:
    """The lines to set in MLP+NeuroSim V3.0 ``Cell.cpp``, ``RealDevice::RealDevice``."""
    c = export["mlp_v3_cell"]
    span = c["maxConductance"] - c["minConductance"]
    lines = [f"// labbench export of {export['labbench_model']!r} for MLP+NeuroSim V3.0, RealDevice::RealDevice",
             "// (Cell.cpp).  Replace the matching assignments; the rest of the constructor stays."]
    for key in ("maxConductance", "minConductance", "readVoltage", "writeVoltageLTP", "writeVoltageLTD",
                "writePulseWidthLTP", "writePulseWidthLTD", "maxNumLevelLTP", "maxNumLevelLTD", "nonlinearWrite",
                "readNoise", "sigmaReadNoise", "NL_LTP", "NL_LTD", "sigmaDtoD"):
        lines.append(f"{key} = {_cpp(c[key])};")
    lines.append(f"sigmaCtoC = {_cpp(c['sigmaCtoC'] / span if span else 0.0)} * (maxConductance - minConductance);")
    lines.append(f"conductanceRangeVar = {_cpp(c['conductanceRangeVar'])};")
    lines.append(f"maxConductanceVar = {_cpp(c['maxConductanceVar'])};")
    lines.append(f"minConductanceVar = {_cpp(c['minConductanceVar'])};")
    args = " ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in export["dnn_v2_1_args"].items())
    lines += ["", "// DNN+NeuroSim V2.1 (Training_pytorch/train.py):", f"// python train.py {args}"]
    return "\n".join(lines) + "\n"
