"""IBM aihwkit's soft-bounds, exponential-step and power-step update models.

Parameter names and semantics follow aihwkit (``aihwkit.simulator.configs.devices``)
so a fitted model can be handed to aihwkit users as-is; the update rules are those of
the RPUCUDA C++ sources (IBM/aihwkit, ``src/rpucuda/``):

* ``rpu_pulsed_device.cpp`` (``populate``): ``scale_up = (1 + min(up_down, 0))·dw_min``,
  ``scale_down = (1 − max(up_down, 0))·dw_min`` — ``up_down > 0`` shrinks the down step.
* ``rpu_softbounds_reference_device.cpp``: up ``Δw = scale_up·(1 − w/w_max)``, down
  ``Δw = −scale_down·(1 − w/w_min)``.
* ``rpu_expstep_device.cpp``: ``z = 2·a·w/(w_max − w_min) + b``; up
  ``Δw = scale_up·max(1 − A_up·e^(gamma_up·z), 0)``, down
  ``Δw = −scale_down·max(1 − A_down·e^(−gamma_down·z), 0)``.
* ``rpu_powstep_device.cpp``: up ``Δw = scale_up·((w_max − w)/(w_max − w_min))^γ_up``,
  down ``Δw = −scale_down·((w − w_min)/(w_max − w_min))^γ_down`` with
  ``γ_up = (1 + min(pow_up_down, 0))·pow_gamma``, ``γ_down = (1 − max(pow_up_down, 0))·pow_gamma``.

Cycle-to-cycle noise: aihwkit's ``dw_min_std`` (relative σ of each step) is this
package's ``c2c_rel``; ``c2c_abs`` adds NeuroSim-style additive noise.

**Conductance units.**  aihwkit weights live in ``[w_min, w_max] ∋ 0`` and soft bounds
and exp-step measure ``w`` from that 0.  A conductance range has ``w_min ≥ 0``, where
``1 − w/w_min`` is undefined.  We therefore measure from a reference ``w_ref`` (the
conductance that aihwkit would call w = 0): up ``Δw = scale_up·(w_max − w)/(w_max − w_ref)``,
down ``Δw = −scale_down·(w − w_min)/(w_ref − w_min)``, and exp-step's
``z = 2a·(w − w_ref)/(w_max − w_min) + b``.  ``w_ref`` defaults to 0 when
``w_min < 0 < w_max`` — then every formula is *exactly* aihwkit's — and to the middle of
the range otherwise.  :meth:`to_aihwkit` maps a model onto aihwkit weight units
(``w = (G − w_ref)/scale``), where the reference lands on 0.  Power step has no origin
and needs no reference.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from .models import SET, UpdateModel, _directional, register


def _scales(dw_min, up_down):
    """aihwkit's up/down step scales from dw_min and up_down (rpu_pulsed_device.cpp)."""
    ud = np.asarray(up_down)
    return (1.0 + np.minimum(ud, 0.0)) * dw_min, (1.0 - np.maximum(ud, 0.0)) * dw_min


def split_scales(scale_up, scale_down):
    """Inverse of :func:`_scales`: (dw_min, up_down) from measured up and down step scales."""
    su, sd = np.asarray(scale_up, float), np.asarray(scale_down, float)
    dw_min = np.maximum(su, sd)
    up_down = np.where(su >= sd, 1.0 - sd / dw_min, su / dw_min - 1.0)
    return dw_min, up_down


@dataclasses.dataclass(frozen=True, kw_only=True)
class _AihwkitBase(UpdateModel):
    """Shared fields and checks: bounds, dw_min, up_down (aihwkit PulsedDevice)."""

    variable_params: ClassVar[tuple[str, ...]] = ("dw_min", "w_min", "w_max")
    uses_reference: ClassVar[bool] = True

    dw_min: Any
    up_down: Any = 0.0
    w_min: Any
    w_max: Any

    def _check_common(self):
        self._check_noise_at_bound()
        self._check(np.all(np.asarray(self.w_max) > np.asarray(self.w_min)),
                    f"w_max ({self.w_max}) must exceed w_min ({self.w_min})")
        self._check(np.all(np.asarray(self.dw_min) > 0), f"dw_min must be > 0, got {self.dw_min}")
        ud = np.asarray(self.up_down)
        self._check(np.all((ud > -1) & (ud < 1)),
                    f"up_down must lie in (-1, 1) so both directions move, got {self.up_down}")
        self._check(self.c2c_rel >= 0 and self.c2c_abs >= 0, "c2c_rel and c2c_abs must be >= 0")

    @property
    def gmin(self):
        return self.w_min

    @property
    def gmax(self):
        return self.w_max

    @property
    def scale_up(self):
        return _scales(self.dw_min, self.up_down)[0]

    @property
    def scale_down(self):
        return _scales(self.dw_min, self.up_down)[1]

    @property
    def reference(self):
        """The conductance aihwkit calls w = 0 (see the module docstring)."""
        w_ref = getattr(self, "w_ref", None)
        if w_ref is not None:
            return w_ref
        lo, hi = np.asarray(self.w_min), np.asarray(self.w_max)
        return np.where((lo < 0) & (hi > 0), 0.0, 0.5 * (lo + hi))

    def to_aihwkit(self, scale: float | None = None) -> dict:
        """Parameters in aihwkit weight units, ``w = (G − reference)/scale``.

        ``scale`` defaults to the larger distance from the reference to a bound, so the
        weights span at most [−1, 1].  The result feeds the aihwkit device config of the
        same name (``SoftBoundsReferenceDevice``, ``ExpStepDevice``, ``PowStepDevice``).
        """
        d = self.to_dict()
        ref = float(self.reference) if self.uses_reference else 0.0
        if scale is None:
            scale = max(float(self.w_max) - ref, ref - float(self.w_min)) if self.uses_reference else 1.0
        out = {k: v for k, v in d.items() if k not in ("kind", "c2c_rel", "c2c_abs", "noise_at_bound", "w_ref")}
        out["w_min"] = (float(self.w_min) - ref) / scale
        out["w_max"] = (float(self.w_max) - ref) / scale
        out["dw_min"] = float(self.dw_min) / scale
        out["dw_min_std"] = float(self.c2c_rel)
        return out


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class SoftBoundsModel(_AihwkitBase):
    """aihwkit ``SoftBoundsReferenceDevice``: the step shrinks linearly toward each bound."""

    kind: ClassVar[str] = "softbounds"

    w_ref: float | None = None

    def __post_init__(self):
        self._check_common()
        if self.w_ref is not None:
            self._check(np.all((np.asarray(self.w_min) < self.w_ref) & (self.w_ref < np.asarray(self.w_max))),
                        f"w_ref ({self.w_ref}) must lie strictly between w_min and w_max")

    def mean_step(self, g, direction):
        g = np.asarray(g)
        r = self.reference
        up = self.scale_up * (self.w_max - g) / (self.w_max - r)
        down = -self.scale_down * (g - self.w_min) / (r - self.w_min)
        return _directional(direction, up, down)


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class ExpStepModel(_AihwkitBase):
    """aihwkit ``ExpStepDevice``: steps ``dw_min·max(1 − A·e^(±γ·z), 0)``."""

    kind: ClassVar[str] = "expstep"

    A_up: float
    A_down: float
    gamma_up: float
    gamma_down: float
    a: float = 0.5
    b: float = 0.0
    w_ref: float | None = None

    def __post_init__(self):
        self._check_common()
        for name in ("A_up", "A_down", "gamma_up", "gamma_down", "a", "b"):
            self._check(np.all(np.isfinite(np.asarray(getattr(self, name), float))), f"{name} must be finite")
        if self.w_ref is not None:
            self._check(np.all((np.asarray(self.w_min) < self.w_ref) & (self.w_ref < np.asarray(self.w_max))),
                        f"w_ref ({self.w_ref}) must lie strictly between w_min and w_max")

    def _z(self, g):
        return 2.0 * self.a * (np.asarray(g) - self.reference) / (self.w_max - self.w_min) + self.b

    def mean_step(self, g, direction):
        z = self._z(g)
        with np.errstate(over="ignore"):
            y_up = np.maximum(1.0 - self.A_up * np.exp(self.gamma_up * z), 0.0)
            y_down = np.maximum(1.0 - self.A_down * np.exp(-self.gamma_down * z), 0.0)
        return _directional(direction, self.scale_up * y_up, -self.scale_down * y_down)


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class PowStepModel(_AihwkitBase):
    """aihwkit ``PowStepDevice``: step ∝ (distance to the bound / range)^γ."""

    kind: ClassVar[str] = "powstep"
    variable_params: ClassVar[tuple[str, ...]] = ("dw_min", "w_min", "w_max", "pow_gamma")
    uses_reference: ClassVar[bool] = False

    pow_gamma: Any = 1.0
    pow_up_down: float = 0.0

    def __post_init__(self):
        self._check_common()
        self._check(np.all(np.asarray(self.pow_gamma) > 0), f"pow_gamma must be > 0, got {self.pow_gamma}")
        self._check(-1 < self.pow_up_down < 1, f"pow_up_down must lie in (-1, 1), got {self.pow_up_down}")

    @property
    def gamma_up(self):
        return (1.0 + min(self.pow_up_down, 0.0)) * np.asarray(self.pow_gamma)

    @property
    def gamma_down(self):
        return (1.0 - max(self.pow_up_down, 0.0)) * np.asarray(self.pow_gamma)

    def mean_step(self, g, direction):
        g = np.asarray(g)
        span = self.w_max - self.w_min
        up = self.scale_up * np.clip((self.w_max - g) / span, 0.0, None) ** self.gamma_up
        down = -self.scale_down * np.clip((g - self.w_min) / span, 0.0, None) ** self.gamma_down
        return _directional(direction, up, down)


def split_gammas(gamma_up, gamma_down):
    """(pow_gamma, pow_up_down) from fitted up/down exponents (inverse of PowStepModel's map)."""
    return split_scales(gamma_up, gamma_down)


__all__ = ["SoftBoundsModel", "ExpStepModel", "PowStepModel", "split_scales", "split_gammas", "SET"]
