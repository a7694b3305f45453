"""An aihwkit device config as a labbench device model (``labbench import aihwkit``).

The input is what an aihwkit user has: a JSON of the device config's dataclass fields,
named as in aihwkit 1.2.0 (the version the names and update rules were checked against),
with that version recorded::

    import dataclasses, json, aihwkit
    from aihwkit.simulator.presets.devices import ReRamESPresetDevice
    dev = ReRamESPresetDevice()
    spec = {"class": type(dev).__name__, **dataclasses.asdict(dev)}
    json.dump({"aihwkit_version": aihwkit.__version__, "device": spec}, open("dev.json", "w"), default=str)

or, where aihwkit is installed, a preset's name.  A file from another aihwkit version is
refused: its fields may mean something else.  Missing fields take aihwkit 1.2.0's defaults
(``aihwkit_1_2_0_devices.json``, read from the dataclasses of the built package).  The model
writes ``update.noise_at_bound: clip``: aihwkit adds the full noise and clips at the bounds.

aihwkit weights become conductances by ``G = g_min + (w − w_min)/(w_max − w_min)·(g_max − g_min)``;
the blocks aihwkit has no notion of (read, switching, retention, ...) are inherited from a
base model and marked so in the provenance (DESIGN principle 10).
"""
from __future__ import annotations

import dataclasses
import json
import math
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from labbench.physics.aihwkit_models import ExpStepModel, PowStepModel, SoftBoundsModel
from labbench.physics.device_model import DeviceModel, load_device_model
from labbench.physics.models import NeuroSimModel, UpdateModel
from labbench.physics.piecewise import PiecewiseModel

from .aihwkit_export import TESTED_VERSIONS
from .summary import Summary

__all__ = ["import_aihwkit", "aihwkit_fields", "device_from_spec"]


def aihwkit_fields() -> dict:
    """{class: {field: default}} of the device configs of aihwkit 1.2.0."""
    text = resources.files("labbench.export").joinpath("aihwkit_1_2_0_devices.json").read_text()
    return json.loads(text)["classes"]


def _versions() -> str:
    return ", ".join(TESTED_VERSIONS)


def _from_file(path: Path) -> tuple[dict, str]:
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a JSON file ({e}); give a JSON of the aihwkit device config's fields "
                         f"(docs/export.md shows how to write one)") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'aihwkit_version' and 'device'")
    version = data.get("aihwkit_version")
    if version is None:
        raise ValueError(f"{path}: 'aihwkit_version' is missing; labbench reads device configs of aihwkit "
                         f"{_versions()} (add the version the fields were written with)")
    if str(version) not in TESTED_VERSIONS:
        raise ValueError(f"{path}: written by aihwkit {version}; labbench reads device configs of aihwkit "
                         f"{_versions()} only (the versions tested): write it again with aihwkit {_versions()}")
    spec = data.get("device", data)
    if not isinstance(spec, dict) or "class" not in spec:
        raise ValueError(f"{path}: 'device' must be an object with a 'class' key naming the aihwkit device "
                         f"(one of {', '.join(aihwkit_fields())})")
    return dict(spec), str(version)


def _from_preset(name: str) -> tuple[dict, str]:
    try:
        import aihwkit
        from aihwkit.simulator.presets import devices as presets
    except ImportError:
        raise ValueError(f"{name!r} is not a file; as an aihwkit preset name it needs aihwkit installed "
                         f"(pip install aihwkit=={TESTED_VERSIONS[-1]}), which this Python lacks; without it, give a "
                         f"JSON of the device config's fields (docs/export.md shows how)") from None
    if aihwkit.__version__ not in TESTED_VERSIONS:
        raise ValueError(f"installed aihwkit is {aihwkit.__version__}; labbench reads aihwkit {_versions()} only")
    known = sorted(n for n in dir(presets) if n.endswith("PresetDevice"))
    cls = getattr(presets, name, None)
    if cls is None or name not in known:
        raise ValueError(f"{name!r} is neither a file nor an aihwkit preset device; presets: {', '.join(known)}")
    obj = cls()
    supported = aihwkit_fields()
    base = next((k.__name__ for k in type(obj).__mro__ if k.__name__ in supported), None)
    if base is None:
        raise ValueError(f"preset {name} is a {type(obj).__mro__[1].__name__}, which labbench does not import; "
                         f"supported: {', '.join(supported)}")
    spec = {"class": base}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        spec[f.name] = dataclasses.asdict(v) if dataclasses.is_dataclass(v) else getattr(v, "value", v)
    return spec, aihwkit.__version__


def _complete(spec: dict) -> dict:
    table = aihwkit_fields()
    cls = spec["class"]
    if cls not in table:
        raise ValueError(f"device class {cls!r}: labbench imports {', '.join(table)} (aihwkit {_versions()})")
    unknown = sorted(set(spec) - set(table[cls]) - {"class"})
    if unknown:
        raise ValueError(f"{cls}: unknown field(s) {unknown} for aihwkit {_versions()}; its fields: "
                         f"{', '.join(table[cls])}")
    out = {**table[cls], **spec}
    for k, v in out.items():
        if isinstance(v, bool) or isinstance(v, (dict, list, str)) or v is None:
            continue
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{cls}.{k}: must be a finite number, got {v!r}")
    return out


def _scales(p: dict) -> tuple[float, float]:
    ud, dw = p["up_down"], p["dw_min"]
    return (1 + min(ud, 0.0)) * dw, (1 - max(ud, 0.0)) * dw


class _Map:
    """w -> G for one import."""

    def __init__(self, w_min: float, w_max: float, g_min: float, g_max: float):
        if not w_max > w_min:
            raise ValueError(f"w_max ({w_max}) must exceed w_min ({w_min})")
        self.scale = (g_max - g_min) / (w_max - w_min)
        self.ref = g_min - w_min * self.scale   # G at w = 0
        self.g_min, self.g_max = g_min, g_max

    def g(self, w: float) -> float:
        return self.ref + self.scale * w


def _linear_step(p: dict, m: _Map, s: Summary) -> UpdateModel:
    su, sd = _scales(p)
    # aihwkit: Δw_up = su − γ_up·su·w/w_max, Δw_down = −(sd − γ_down·sd·w/w_min) (mean_bound_reference)
    k_up, k_down = p["gamma_up"] * su / p["w_max"], p["gamma_down"] * sd / abs(p["w_min"])
    if not p["mean_bound_reference"]:
        s.add_approx("mean_bound_reference", "", "each device's own bound sets its slope in aihwkit; here the nominal",
                     "differs only under D2D of the bounds")
    w_inf_up = su / k_up if k_up > 0 else math.inf
    w_inf_down = -sd / k_down if k_down > 0 else -math.inf
    span = m.g_max - m.g_min
    b_s, b_r = m.g(w_inf_up) - m.g_min, m.g_max - m.g(w_inf_down)
    if 0 < k_up < 1 and 0 < k_down < 1 and b_s > span and b_r > span and not p["allow_increasing"]:
        a_set, a_reset = -1.0 / math.log1p(-k_up), -1.0 / math.log1p(-k_down)
        s.add_exact("LinearStepDevice (dw_min, up_down, gamma_up, gamma_down, w_min, w_max)", "update: neurosim",
                    "a step linear in G with its asymptote beyond the bound is NeuroSim's exponential, pulse by pulse")
        return NeuroSimModel(g_min=m.g_min, g_max=m.g_max, a_set=a_set, a_reset=-a_reset,
                             pmax_set=-a_set * math.log1p(-span / b_s), pmax_reset=-a_reset * math.log1p(-span / b_r))
    steps_up = [max(m.scale * (su - k_up * w), 0.0) for w in (p["w_min"], p["w_max"])]
    steps_down = [max(m.scale * (sd + k_down * w), 0.0) for w in (p["w_min"], p["w_max"])]
    s.add_exact("LinearStepDevice", "update: piecewise (2 nodes)", "a step linear in G is exactly linear interpolation "
                "between the bounds")
    return PiecewiseModel(g_nodes=(m.g_min, m.g_max), step_up=tuple(steps_up), step_down=tuple(steps_down))


def _soft_bounds(p: dict, m: _Map, s: Summary) -> UpdateModel:
    if p["class"] == "SoftBoundsPmaxDevice":   # aihwkit's own as_bindings conversion
        b = (p["range_max"] - p["range_min"]) / (1 - math.exp(-p["p_max"] * p["alpha"]))
        p = {**p, "w_min": p["range_min"], "w_max": p["range_min"] + b, "dw_min": b * p["alpha"],
             "up_down": 1 + 2 * p["range_min"] / b}
        m = _Map(p["w_min"], p["w_max"], m.g_min, m.g_max)
    if p["class"] == "SoftBoundsReferenceDevice" and (p["reference_mean"] or p["reference_std"]
                                                      or p["subtract_symmetry_point"]):
        s.add_dropped("SoftBoundsReferenceDevice reference", "labbench devices have no reference device subtracted",
                      f"reference_mean {p['reference_mean']:g}, reference_std {p['reference_std']:g}")
    s.add_exact(p["class"], "update: softbounds", "the same rule, w_ref at the conductance of w = 0")
    return SoftBoundsModel(dw_min=p["dw_min"] * m.scale, up_down=p["up_down"], w_min=m.g(p["w_min"]),
                           w_max=m.g(p["w_max"]), w_ref=m.ref)


def _exp_step(p: dict, m: _Map, s: Summary) -> UpdateModel:
    s.add_exact("ExpStepDevice", "update: expstep", "the same rule, w_ref at the conductance of w = 0")
    return ExpStepModel(dw_min=p["dw_min"] * m.scale, up_down=p["up_down"], w_min=m.g(p["w_min"]),
                        w_max=m.g(p["w_max"]), A_up=p["A_up"], A_down=p["A_down"], gamma_up=p["gamma_up"],
                        gamma_down=p["gamma_down"], a=p["a"], b=p["b"], w_ref=m.ref)


def _pow_step(p: dict, m: _Map, s: Summary) -> UpdateModel:
    s.add_exact("PowStepDevice", "update: powstep", "the same rule (no origin)")
    return PowStepModel(dw_min=p["dw_min"] * m.scale, up_down=p["up_down"], w_min=m.g(p["w_min"]),
                        w_max=m.g(p["w_max"]), pow_gamma=p["pow_gamma"], pow_up_down=p["pow_up_down"])


def _piecewise(p: dict, m: _Map, s: Summary) -> UpdateModel:
    su, sd = _scales(p)
    up, down = list(p["piecewise_up"]), list(p["piecewise_down"])
    if p["class"] == "ConstantStepDevice":
        up, down = [1.0, 1.0], [1.0, 1.0]
    if len(up) != len(down) or not up:
        raise ValueError("PiecewiseStepDevice: piecewise_up and piecewise_down need the same, non-zero length")
    if len(up) == 1:
        up, down = up * 2, down * 2
    n = len(up)
    nodes = tuple(m.g_min + (m.g_max - m.g_min) * i / (n - 1) for i in range(n))
    s.add_exact(p["class"], f"update: piecewise ({n} nodes)", "evenly spaced nodes over [w_min, w_max]")
    return PiecewiseModel(g_nodes=nodes, step_up=tuple(abs(v) * su * m.scale for v in up),
                          step_down=tuple(abs(v) * sd * m.scale for v in down))


_BUILDERS = {"LinearStepDevice": _linear_step, "SoftBoundsDevice": _soft_bounds, "SoftBoundsPmaxDevice": _soft_bounds,
             "SoftBoundsReferenceDevice": _soft_bounds, "ExpStepDevice": _exp_step, "PowStepDevice": _pow_step,
             "PiecewiseStepDevice": _piecewise, "ConstantStepDevice": _piecewise}


def _noise(p: dict, up: UpdateModel, m: _Map, s: Summary) -> UpdateModel:
    std = float(p.get("dw_min_std", 0.0))
    if not std:
        return up
    mult = p.get("mult_noise", True) if "mult_noise" in p else True
    if p["class"] == "ExpStepDevice" and (p.get("dw_min_std_add") or p.get("dw_min_std_slope")):
        s.add_dropped("dw_min_std_add / dw_min_std_slope", "labbench's relative noise has no offset or slope term")
    if mult:
        if std > 100:
            raise ValueError(f"dw_min_std {std:g} is beyond labbench's range for a relative step noise (100)")
        s.add_exact("dw_min_std (multiplicative)", "update.c2c_rel", "σ relative to the step, per pulse")
        return dataclasses.replace(up, c2c_rel=std)
    su, sd = _scales(p)
    frac = std * su * m.scale / (m.g_max - m.g_min)
    s.add_approx("dw_min_std (additive)", "update.c2c_abs", "σ = dw_min_std·scale_up per pulse, as a fraction of the range",
                 f"exact for SET; RESET's σ in aihwkit is ×{sd / su:.3g} of it" if abs(sd - su) > 1e-12 * su else "exact")
    if frac > 1.0:
        raise ValueError(f"dw_min_std {std:g} (additive) is a per-pulse σ of {frac:.3g} of the range, beyond a gradual "
                         f"device (labbench's c2c_abs is at most 1)")
    return dataclasses.replace(up, c2c_abs=frac)


def _d2d(p: dict, up: UpdateModel, s: Summary) -> dict:
    sigma = {}

    def lognormal(rel):   # a Gaussian relative σ -> the lognormal σ of the same relative spread
        return math.sqrt(math.log1p(rel * rel))

    pairs = {"dw_min_dtod": ("dw_min" if "dw_min" in up.variable_params else
                             "step_scale" if "step_scale" in up.variable_params else "a_set")}
    if isinstance(up, NeuroSimModel):
        pairs.update({"w_max_dtod": "g_max", "w_min_dtod": "g_min"})
    elif "w_max" in up.variable_params:
        pairs.update({"w_max_dtod": "w_max", "w_min_dtod": "w_min"})
    for key, target in pairs.items():
        v = float(p.get(key, 0.0))
        if v:
            sigma[target] = min(lognormal(v), 2.0)
            s.add_approx(key, f"d2d.sigma.{target}", "aihwkit's Gaussian relative σ -> a lognormal σ of the same spread",
                         f"σ = {sigma[target]:.3g}")
    for key in ("up_down_dtod", "gamma_up_dtod", "gamma_down_dtod", "pow_gamma_dtod", "slope_up_dtod",
                "slope_down_dtod", "diffusion", "lifetime", "write_noise_std", "corrupt_devices_prob"):
        v = p.get(key)
        if v and key not in pairs:
            s.add_dropped(key, "no labbench counterpart in this update model", f"{v:g}")
    return sigma


def device_from_spec(spec: dict, g_min: float, g_max: float, summary: Summary) -> tuple[UpdateModel, dict]:
    """(update model, d2d σ's) of an aihwkit device spec (fields completed with 1.2.0's defaults)."""
    p = _complete(spec)
    if p["class"] == "SoftBoundsPmaxDevice":
        w_min, w_max = p["range_min"], p["range_min"] + (p["range_max"] - p["range_min"]) / (
            1 - math.exp(-p["p_max"] * p["alpha"]))
    else:
        w_min, w_max = p["w_min"], p["w_max"]
    m = _Map(w_min, w_max, g_min, g_max)
    up = _BUILDERS[p["class"]](p, m, summary)
    up = _noise(p, up, m, summary)
    # aihwkit adds the full noise to the step and clips at the bounds (rpu_*_device.cpp
    # update_once): the imported model replays that, not labbench's default shrink
    up = dataclasses.replace(up, noise_at_bound="clip")
    summary.add_exact("noise at the bounds (added in full, then clipped)", "update.noise_at_bound: clip",
                      "aihwkit's rule, replayed as is")
    return up, _d2d(p, up, summary)


def import_aihwkit(source: str, g_min: float | None = None, g_max: float | None = None,
                   base: str = "hfox_2t2r_default", name: str | None = None) -> tuple[DeviceModel, list[str]]:
    """A labbench device model from an aihwkit config file or preset name; and notes for the user."""
    path = Path(source)
    spec, version = _from_file(path) if path.suffix.lower() == ".json" or path.exists() else _from_preset(source)
    base_model = load_device_model(base)
    g_min = base_model.gmin if g_min is None else g_min
    g_max = base_model.gmax if g_max is None else g_max
    if not (math.isfinite(g_min) and math.isfinite(g_max) and 0 <= g_min < g_max):
        raise ValueError(f"--g-min/--g-max must be finite conductances with 0 <= g_min < g_max (S), got {g_min:g}, {g_max:g}")
    summary = Summary(f"labbench (from aihwkit {version})", spec.get("class", "?"))
    up, sigma = device_from_spec(spec, g_min, g_max, summary)
    label = name or f"aihwkit_{spec['class']}"
    inherited = ["read", "switching", "variability", "faults", "retention", "read_disturb", "endurance", "energy"]
    provenance = {"update": f"aihwkit {version} {spec['class']} config ({source}), w_min -> {g_min:g} S, w_max -> {g_max:g} S",
                  "d2d": f"aihwkit {version} {spec['class']} *_dtod fields (Gaussian -> lognormal)"}
    provenance.update({b: f"inherited from base model {base_model.name!r} (aihwkit has no such block)" for b in inherited})
    data = base_model.to_dict()
    data.update({"name": label, "description": f"imported from an aihwkit {version} {spec['class']} config",
                 "references": [f"IBM aihwkit {version}"], "provenance": provenance, "update": up.to_dict(),
                 "d2d": {"distribution": "lognormal", "truncate": 3.0, "sigma": sigma}})
    data.pop("fit", None)
    try:
        model = DeviceModel.model_validate(data)
    except ValidationError as e:
        why = "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())
        raise ValueError(f"the imported device does not fit base model {base_model.name!r}'s other blocks: {why}; "
                         f"choose another --base (a model of this conductance range) or --g-min/--g-max") from None
    notes = [f"{e.what} -> {e.target or 'dropped'}: {e.size or e.note}" for e in summary.approximated + summary.dropped]
    notes.append(f"read, switching, retention and the other blocks come from base model {base_model.name!r}")
    return model, notes
