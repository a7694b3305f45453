"""Device models are data: a validated YAML schema (SI units) around an update model.

A device-model file holds everything the simulated chip needs to replay a device:
the conductance-update model (any registered kind), device-to-device spread, read
noise and I-V shape, forming and switching thresholds, and stuck-cell fractions.
The fitter writes these files; :class:`~labbench.physics.chip.Chip` reads them.
Validation is pydantic's: an unknown or misspelled key is an error that names it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .models import UpdateModel, model_class


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceToDevice(_Strict):
    """Per-device parameter spread: each named parameter gets a factor exp(σ·z)."""

    distribution: Literal["lognormal"] = "lognormal"
    truncate: float = Field(3.0, gt=0, description="z is clipped to ±truncate")
    sigma: dict[str, float] = Field(default_factory=dict)

    @field_validator("sigma")
    @classmethod
    def _non_negative(cls, v):
        for k, s in v.items():
            if s < 0:
                raise ValueError(f"d2d.sigma.{k} must be >= 0, got {s}")
        return v


class ReadModel(_Strict):
    """Read behaviour: I = G·V (linear) or I = G·v0·sinh(V/v0), times (1 + noise)."""

    noise_rel: float = Field(0.0, ge=0, description="relative σ of each read (1/f + thermal, lumped)")
    iv: Literal["linear", "sinh"] = "linear"
    v0: float = Field(0.25, gt=0, description="V, sinh shape parameter")
    voltage: float = Field(0.1, gt=0, description="V, nominal read voltage")


class Switching(_Strict):
    """Electrical thresholds the simulated bench uses (1T1R, SET on BL, RESET on SL)."""

    v_form: float = Field(3.0, gt=0, description="V, forming voltage of a pristine cell")
    g_pristine: float = Field(1e-9, ge=0, description="S, conductance before forming")
    v_set: float = Field(0.8, gt=0, description="V, minimum BL amplitude for a (gradual) SET")
    v_reset: float = Field(0.9, gt=0, description="V, minimum SL amplitude for a (gradual) RESET")
    v_gate_threshold: float = Field(0.4, ge=0, description="V, access transistor threshold")
    min_pulse_width: float = Field(1e-8, gt=0, description="s, shorter pulses do nothing")
    on_resistance: float = Field(1e3, ge=0, description="Ω, access transistor in series")


class Faults(_Strict):
    stuck_at_gmin: float = Field(0.0, ge=0, le=1, description="fraction of devices stuck at Gmin")
    stuck_at_gmax: float = Field(0.0, ge=0, le=1, description="fraction of devices stuck at Gmax")

    @model_validator(mode="after")
    def _total(self):
        if self.stuck_at_gmin + self.stuck_at_gmax > 1:
            raise ValueError("faults: stuck_at_gmin + stuck_at_gmax must be <= 1")
        return self


class DeviceModel(_Strict):
    """One device technology, as a lab would describe it."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str
    description: str = ""
    references: list[str] = Field(default_factory=list)
    update: UpdateModel
    d2d: DeviceToDevice = Field(default_factory=DeviceToDevice)
    read: ReadModel = Field(default_factory=ReadModel)
    switching: Switching = Field(default_factory=Switching)
    faults: Faults = Field(default_factory=Faults)
    fit: dict[str, Any] | None = Field(None, description="provenance and metrics written by the fitter")

    @field_validator("update", mode="before")
    @classmethod
    def _build_update(cls, v):
        if isinstance(v, UpdateModel):
            return v
        if not isinstance(v, dict) or "kind" not in v:
            raise ValueError("update must be a mapping with a 'kind' key")
        return model_class(v["kind"]).from_dict(v)

    @model_validator(mode="after")
    def _check_d2d(self):
        bad = set(self.d2d.sigma) - set(self.update.variable_params)
        if bad:
            raise ValueError(
                f"d2d.sigma names {sorted(bad)}, which the {self.update.kind} model cannot vary; "
                f"allowed: {list(self.update.variable_params)}"
            )
        return self

    @property
    def gmin(self) -> float:
        return float(self.update.gmin)

    @property
    def gmax(self) -> float:
        return float(self.update.gmax)

    # -- files ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = self.model_dump(exclude={"update"}, exclude_none=True)
        d["update"] = self.update.to_dict()
        order = ["name", "description", "references", "update", "d2d", "read", "switching", "faults", "fit"]
        return {k: d[k] for k in order if k in d}

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, width=100)
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            from labbench.atomic import write_text

            write_text(path, text)  # a crash never leaves half a model file
        return text

    @classmethod
    def from_yaml(cls, path: str | Path) -> "DeviceModel":
        from labbench.yamlfile import load_validated

        return load_validated(cls, path, "device model")


DEFAULT_MODEL = "hfox_2t2r_default"


def default_model_path() -> Path:
    from labbench.paths import resolve_device_model

    return resolve_device_model(DEFAULT_MODEL)


def load_device_model(path_or_name: str | Path | None = None, base: Path | None = None) -> DeviceModel:
    """Load by path (relative to ``base`` too), or by shipped name (``None`` = the default chip).

    A name that is neither lists the shipped ones (:class:`labbench.paths.NotFound`)."""
    from labbench.paths import resolve_device_model

    return DeviceModel.from_yaml(resolve_device_model(path_or_name or DEFAULT_MODEL, base))
