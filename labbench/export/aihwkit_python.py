"""The small Python file written beside an aihwkit export: it builds the ``RPUConfig`` objects
from the exported fields, and defines the retention noise model.

The file is self-contained (it needs aihwkit and torch only, not labbench), so an aihwkit
user can take it elsewhere.  Its configuration is embedded as JSON text.
"""
from __future__ import annotations

import json

__all__ = ["render_python"]

_TEMPLATE = '''\
"""aihwkit {version} configurations of the labbench device model {model!r}.

Written by `labbench export aihwkit`; what maps exactly, what is approximated and what is
dropped is in the summary beside this file.  Weights are in units where
G = {ref:.6g} S + {scale:.6g} S * w.

    from {module} import single_rpu_config, two_t2r_rpu_config, mixed_precision_rpu_config, noise_model
"""
import json
import math

import torch
from aihwkit.inference.converter.conductance import SinglePairConductanceConverter
from aihwkit.inference.noise.base import BaseNoiseModel
from aihwkit.simulator import configs as _configs
from aihwkit.simulator.configs import DigitalRankUpdateRPUConfig, SingleRPUConfig, UnitCellRPUConfig
from aihwkit.simulator.parameters.enums import WeightNoiseType

CONFIG = json.loads(r"""{config_json}""")


def _build(spec):
    """An aihwkit config dataclass from its fields (``class`` names it; nested devices too)."""
    fields = {{k: v for k, v in spec.items() if k != "class"}}
    if "unit_cell_devices" in fields:
        fields["unit_cell_devices"] = [_build(d) for d in fields["unit_cell_devices"]]
    if isinstance(fields.get("device"), dict):
        fields["device"] = _build(fields["device"])
    return getattr(_configs, spec["class"])(**fields)


def device():
    return _build(CONFIG["device"])


def _forward(rpu_config):
    fw = CONFIG["forward"]
    rpu_config.forward.w_noise_type = WeightNoiseType(fw["w_noise_type"])
    rpu_config.forward.w_noise = fw["w_noise"]
    return rpu_config


def single_rpu_config():
    """One device per weight."""
    return _forward(SingleRPUConfig(device=device()))


def two_t2r_rpu_config():
    """The 2T2R cell: two devices that only SET, refreshed (RESET + re-write) near saturation."""
    return _forward(UnitCellRPUConfig(device=_build(CONFIG["two_t2r"])))


def mixed_precision_rpu_config():
    """Mixed precision: a digital accumulator per synapse, transferred in whole pulses."""
    return _forward(DigitalRankUpdateRPUConfig(device=_build(CONFIG["mixed_precision"])))


class LabbenchRetentionNoise(BaseNoiseModel):
    """labbench's retention block as an inference noise model (conductances in uS).

    Long-term drift towards G_inf = Gmin + level (Gmax - Gmin), with u = (G - G_inf)/(Gmax - G_inf):
    ln u + beta u = ln u0 + beta u0 - t/tau_i, tau_i lognormal per device (the drift
    coefficients); and, when given, the post-program relaxation of ln G, sigma(w) xi f(t).
    """

    def __init__(self, g_min_uS, g_max_uS, level, tau_s, tau_d2d, state_factor, temperature_K,
                 relax_sigma_hrs=0.0, relax_sigma_lrs=0.0, relax_t0_s=0.1, relax_t_sat_s=1e4, g_converter=None):
        super().__init__(g_converter or SinglePairConductanceConverter(g_max=g_max_uS, g_min=g_min_uS))
        self.g_min, self.g_max, self.level = g_min_uS, g_max_uS, level
        self.tau, self.tau_d2d, self.beta, self.temperature = tau_s, tau_d2d, state_factor, temperature_K
        self.relax = (relax_sigma_hrs, relax_sigma_lrs, relax_t0_s, relax_t_sat_s)

    @torch.no_grad()
    def apply_programming_noise_to_conductance(self, g_target):
        return g_target.clone()

    @torch.no_grad()
    def generate_drift_coefficients(self, g_target):
        z = torch.randn_like(g_target).clamp(-3.0, 3.0)
        return self.tau * torch.exp(self.tau_d2d * z)

    def _longterm(self, u0, kt):
        if not self.beta:
            return u0 * torch.exp(-kt)
        up = u0.clamp(min=1e-30, max=5.0)
        c = torch.log(up) + self.beta * up - kt
        y = c.clone()   # Newton on y + beta e^y = c: convex, from the right it never overshoots
        for _ in range(60):
            e = self.beta * torch.exp(y)
            y = y - (y + e - c) / (1.0 + e)
        return torch.where(u0 > 0, torch.exp(y), u0 * torch.exp(-kt))

    @torch.no_grad()
    def apply_drift_noise_to_conductance(self, g_prog, drift_noise_param, t_inference):
        g_inf = self.g_min + self.level * (self.g_max - self.g_min)
        u0 = (g_prog - g_inf) / (self.g_max - g_inf)
        g = g_inf + self._longterm(u0, t_inference / drift_noise_param) * (self.g_max - g_inf)
        s_hrs, s_lrs, t0, t_sat = self.relax
        if (s_hrs or s_lrs) and t_inference > 0:
            w = ((g_prog - self.g_min) / (self.g_max - self.g_min)).clamp(0.0, 1.0)
            f = min(1.0, math.log1p(t_inference / t0) / math.log1p(t_sat / t0))
            g = g * torch.exp((s_hrs + (s_lrs - s_hrs) * w) * torch.randn_like(g) * f)
        return g


def noise_model():
    """The retention noise model (None when the device model has no retention block)."""
    spec = CONFIG["noise_model"]
    if spec is None:
        return None
    return LabbenchRetentionNoise(**{{k: v for k, v in spec.items() if k != "class"}})
'''


def render_python(config: dict, module: str) -> str:
    """The Python file's text for an exported ``config`` (``module``: its import name)."""
    slim = {k: config[k] for k in ("aihwkit_version", "labbench_model", "units", "device", "forward", "two_t2r",
                                   "mixed_precision", "noise_model")}
    text = json.dumps(slim, indent=1)
    if '"""' in text:
        raise ValueError("the configuration holds a triple quote: cannot embed it")
    return _TEMPLATE.format(version=config["aihwkit_version"], model=config["labbench_model"],
                            ref=config["units"]["ref_S"], scale=config["units"]["scale_S"], module=module,
                            config_json=text)
