"""Piecewise model: the step size per direction, linearly interpolated over G from nodes.

The data-driven fallback when no closed form fits (the idea of aihwkit's
``PiecewiseStepDevice``, whose ``piecewise_up/down`` factors sit on evenly spaced
nodes over [w_min, w_max] and multiply dw_min; here the nodes are explicit
conductances and the steps are in siemens, so measured ΔG(G) tables load as-is).
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from .models import UpdateModel, _directional, register


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class PiecewiseModel(UpdateModel):
    """``ΔG_up(G) = step_scale·interp(G; g_nodes, step_up)``, down likewise (negative).

    ``step_up`` and ``step_down`` are step magnitudes (S, ≥ 0) at the nodes; the bounds
    are the first and last node.  ``step_scale`` is the per-device gain that
    device-to-device variation acts on.
    """

    kind: ClassVar[str] = "piecewise"
    variable_params: ClassVar[tuple[str, ...]] = ("step_scale",)

    g_nodes: tuple
    step_up: tuple
    step_down: tuple
    step_scale: Any = 1.0

    def __post_init__(self):
        self._check_noise_at_bound()
        # tuples, not arrays: UpdateModel.index() slices array fields per device
        for name in ("g_nodes", "step_up", "step_down"):
            object.__setattr__(self, name, tuple(float(v) for v in np.ravel(getattr(self, name))))
        nodes = np.asarray(self.g_nodes)
        self._check(nodes.size >= 2, "g_nodes needs at least 2 conductances")
        self._check(bool(np.all(np.diff(nodes) > 0)), "g_nodes must be strictly increasing")
        self._check(len(self.step_up) == nodes.size and len(self.step_down) == nodes.size,
                    f"step_up and step_down need one value per node ({nodes.size})")
        self._check(min(self.step_up) >= 0 and min(self.step_down) >= 0,
                    "step_up and step_down are magnitudes and must be >= 0")
        self._check(np.all(np.asarray(self.step_scale) > 0), "step_scale must be > 0")

    @property
    def gmin(self):
        return self.g_nodes[0]

    @property
    def gmax(self):
        return self.g_nodes[-1]

    def mean_step(self, g, direction):
        g = np.asarray(g)
        up = np.interp(g, self.g_nodes, self.step_up) * self.step_scale
        down = -np.interp(g, self.g_nodes, self.step_down) * self.step_scale
        return _directional(direction, up, down)

    def to_dict(self) -> dict:
        if isinstance(self.step_scale, np.ndarray):
            raise ValueError("a per-device (sampled) model cannot be serialised; save the nominal one")
        out = {"kind": self.kind, "g_nodes": list(self.g_nodes), "step_up": list(self.step_up),
               "step_down": list(self.step_down), "step_scale": float(self.step_scale),
               "c2c_rel": float(self.c2c_rel), "c2c_abs": float(self.c2c_abs)}
        if self.noise_at_bound != "shrink":   # the default is left out (UpdateModel.to_dict)
            out["noise_at_bound"] = self.noise_at_bound
        return out
