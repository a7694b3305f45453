"""Device models are data: a validated YAML schema (SI units) around an update model.

A device-model file holds everything the simulated chip needs to replay a device:
the conductance-update model (any registered kind), device-to-device spread, read
noise and I-V shape, forming and switching thresholds, and stuck-cell fractions.
The fitter writes these files; :class:`~labbench.physics.chip.Chip` reads them.
The update block's noise settings (``c2c_abs``, ``c2c_rel``, and ``noise_at_bound: shrink |
clip``, what a pulse's noise does at the bounds) are described in docs/device-models.md.
Validation is pydantic's: an unknown or misspelled key is an error that names it.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .models import UpdateModel, check_noise_at_bound, model_class

# Physical bounds on the variation parameters (a value outside is a typo or a unit mistake,
# and NaN/inf never reach the simulator: every schema model sets allow_inf_nan=False).
#: D2D: σ of a lognormal factor exp(σ·z) on a parameter.  σ = 2 already spreads devices by
#: e^(±6) ≈ ×400 at the default ±3σ truncation; measured D2D spreads are ≲ 0.5.
D2D_SIGMA_MAX = 2.0
#: C2C, relative: σ of one pulse's step as a multiple of the mean step (aihwkit's dw_min_std).
#: It may exceed 1 for tiny, noisy steps (Gong 2018 HfO2 in weight units fits ≈ 26), so the
#: cap is generous: 100 still catches a 1e6 typo.
C2C_REL_MAX = 100.0
#: C2C, additive: σ per pulse as a fraction of the range gmax − gmin (NeuroSim's sigmaCtoC,
#: typically 0.01–0.05).  One pulse scattering a device over the whole range is no longer a
#: gradual (analog) device.
C2C_ABS_MAX = 1.0
#: read noise: relative σ of a read.  A σ as large as the conductance itself is no read at all.
READ_NOISE_MAX = 1.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _not_bool(v):
    # YAML's yes/no/true are booleans, which pydantic would take as 1.0/0.0
    if isinstance(v, bool):
        raise ValueError(f"must be a number, got {v!r}")
    return v


def _d2d_sigma_range(s: float) -> float:
    if not 0.0 <= s <= D2D_SIGMA_MAX:
        raise ValueError(f"must be between 0 and {D2D_SIGMA_MAX:g} (σ of a lognormal factor exp(σ·z); "
                         f"{D2D_SIGMA_MAX:g} already spreads devices ×400), got {s:g}")
    return s


D2DSigma = Annotated[float, BeforeValidator(_not_bool), AfterValidator(_d2d_sigma_range)]


class DeviceToDevice(_Strict):
    """Per-device parameter spread: each named parameter gets a factor exp(σ·z)."""

    distribution: Literal["lognormal"] = "lognormal"
    # beyond ±10σ a normal is never drawn: a larger value changes nothing and is a typo
    truncate: float = Field(3.0, gt=0, le=10, description="z is clipped to ±truncate")
    sigma: dict[str, D2DSigma] = Field(default_factory=dict,
                                       description=f"parameter -> lognormal σ in [0, {D2D_SIGMA_MAX:g}]")


class ReadModel(_Strict):
    """Read behaviour: I = G·V (linear) or I = G·v0·sinh(V/v0), times (1 + noise)."""

    noise_rel: float = Field(0.0, ge=0, le=READ_NOISE_MAX,
                             description="relative σ of each read (1/f + thermal, lumped)")
    iv: Literal["linear", "sinh"] = "linear"
    v0: float = Field(0.25, gt=0, description="V, sinh shape parameter")
    voltage: float = Field(0.1, gt=0, description="V, nominal read voltage")
    gate: float | None = Field(None, gt=0, le=10, description="V, word line of a read (None: no access "
                                                              "transistor in the read path)")


class Kinetics(_Strict):
    """Voltage-time trade-off of one switching direction (see :mod:`labbench.physics.kinetics`).

    A pulse of width t at device voltage V acts like ``m`` nominal pulses,
    ``m = ln(1 + (t/tau)·exp((V − V_nom)/v0)) / ln(1 + t_nom/tau)``: exponential in V,
    logarithmic in t once t ≫ tau.  At the nominal pulse m = 1 exactly, so the update
    model (fitted at that pulse) is unchanged there."""

    amplitude: float = Field(gt=0, le=20, description="V at the cell, the nominal pulse the update model describes")
    width: float = Field(gt=0, le=10, description="s, nominal pulse width")
    tau: float = Field(gt=0, le=1e3, description="s, switching time at the nominal voltage")
    v0: float = Field(gt=0, le=5, description="V, voltage per e-fold of the switching rate")
    gate: float | None = Field(None, gt=0, le=10, description="V, word line of the nominal pulse (None: no "
                                                              "access transistor limits it)")


class Switching(_Strict):
    """Electrical behaviour the simulated bench uses (1T1R, SET on BL, RESET on SL)."""

    v_form: float = Field(3.0, gt=0, description="V, forming voltage of a pristine cell (nominal SET width)")
    g_pristine: float = Field(1e-9, ge=0, description="S, conductance before forming")
    v_set: float = Field(0.8, gt=0, description="V, device voltage below which a SET pulse does nothing")
    v_reset: float = Field(0.9, gt=0, description="V, device voltage below which a RESET pulse does nothing")
    v_gate_threshold: float = Field(0.4, ge=0, description="V, access transistor threshold V_T")
    min_pulse_width: float = Field(1e-8, gt=0, description="s, shorter pulses do nothing")
    on_resistance: float = Field(1e3, ge=0, description="Ω, lines and contacts in series (the access "
                                                        "transistor is solved from transistor_k: physics.circuit)")
    transistor_k: float = Field(5e-5, gt=0, le=1.0,
                                description="A/V², square law: I_sat = k·(V_G − V_T)², linear region "
                                            "k·(2·V_ov·V_DS − V_DS²)")
    v_compliance: float = Field(0.4, gt=0, le=5,
                                description="V, a SET limited to current I_C reaches G = I_C / v_compliance")
    dc_time: float = Field(1e-3, gt=0, le=100, description="s, how long one DC (SMU) reading biases a cell")
    hrs_excess: float = Field(0.0, ge=0, le=5, description="ln(G_HRS/Gmin) where a RESET that just saturates "
                                                           "lands; stronger RESETs go deeper, down to Gmin")
    hrs_saturation: float = Field(1.5, gt=0, le=20, description="how fast the HRS deepens with RESET drive: "
                                                                "G_HRS/Gmin = exp(hrs_excess·r^(-1/this)), r the "
                                                                "drive in saturating trains")
    set_kinetics: Kinetics = Field(default_factory=lambda: Kinetics(amplitude=1.5, width=1e-6, tau=1e-4, v0=0.1))
    reset_kinetics: Kinetics = Field(default_factory=lambda: Kinetics(amplitude=1.8, width=1e-6, tau=1e-3, v0=0.2))


#: lognormal σ of a level or threshold: 1 is already a factor e^(±3) at ±3σ
LEVEL_SIGMA_MAX = 1.0


class Spread(_Strict):
    """Lognormal spread of a threshold: a per-device factor exp(σ_d2d·z) and a per-event
    factor exp(σ_c2c·ξ), both truncated at ±3σ."""

    d2d: float = Field(0.0, ge=0, le=LEVEL_SIGMA_MAX, description="σ of ln(threshold) across devices")
    c2c: float = Field(0.0, ge=0, le=LEVEL_SIGMA_MAX, description="σ of ln(threshold) from event to event")


class Variability(_Strict):
    """Where real devices spread beyond the update model's own noise.

    HRS and LRS device to device are the update model's ``g_min``/``g_max`` under
    ``d2d.sigma``; cycle to cycle they are the lognormal σ's below."""

    hrs_c2c: float = Field(0.0, ge=0, le=LEVEL_SIGMA_MAX,
                           description="σ of ln G where a RESET bottoms out (full RESET, end of a RESET train)")
    lrs_c2c: float = Field(0.0, ge=0, le=LEVEL_SIGMA_MAX,
                           description="σ of ln G where a current-limited SET (or forming) lands")
    v_form: Spread = Field(default_factory=Spread)
    v_set: Spread = Field(default_factory=Spread)
    v_reset: Spread = Field(default_factory=Spread)


class Faults(_Strict):
    stuck_at_gmin: float = Field(0.0, ge=0, le=1, description="fraction of devices stuck at Gmin")
    stuck_at_gmax: float = Field(0.0, ge=0, le=1, description="fraction of devices stuck at Gmax")

    @model_validator(mode="after")
    def _total(self):
        if self.stuck_at_gmin + self.stuck_at_gmax > 1:
            raise ValueError("faults: stuck_at_gmin + stuck_at_gmax must be <= 1")
        return self


class Relaxation(_Strict):
    """Fast post-programming relaxation: each program gives a device a random displacement
    of ln G, ``σ(w)·ξ·f(a)``, growing with the log of the time ``a`` since the program and
    saturating at ``t_sat`` (see :mod:`labbench.physics.retention`)."""

    sigma_hrs: float = Field(ge=0, le=LEVEL_SIGMA_MAX, description="σ of ln G at saturation for a state at "
                                                                   "the HRS end of the window (w = 0)")
    sigma_lrs: float = Field(ge=0, le=LEVEL_SIGMA_MAX, description="σ of ln G at saturation at the LRS (w = 1)")
    t0: float = Field(0.1, gt=0, le=1e4, description="s, onset: f(a) = ln(1 + a/t0)/ln(1 + t_sat/t0)")
    t_sat: float = Field(1e4, gt=0, le=1e8, description="s, the relaxation is complete (f = 1) this long "
                                                        "after a program (at t_ref_temperature)")

    @model_validator(mode="after")
    def _order(self):
        if self.t_sat <= self.t0:
            raise ValueError(f"relaxation.t_sat ({self.t_sat:g} s) must exceed relaxation.t0 ({self.t0:g} s)")
        if self.sigma_lrs > self.sigma_hrs:
            raise ValueError(f"relaxation.sigma_lrs ({self.sigma_lrs:g}) must not exceed relaxation.sigma_hrs "
                             f"({self.sigma_hrs:g}): low-conductance states relax more (HfO2 data), and "
                             f"the model's σ(G) must not grow with G")
        return self


class Retention(_Strict):
    """Conductance drift at rest (see :mod:`labbench.physics.retention`): a long-term,
    state-dependent relaxation towards a level, ``ln u + β·u = ln u0 + β·u0 − t/τ_i`` with
    ``u = (G − G_inf)/(Gmax − G_inf)`` (β = 0: ``G(t) = G_inf + (G_0 − G_inf)·exp(−t/τ_i)``),
    a per-device lognormal τ_i, an Arrhenius temperature dependence
    ``τ(T) = τ·exp(E_a/k·(1/T − 1/T_ref))``, and optionally the fast relaxation after each
    program (``relaxation``).

    A model that keeps less than 1 % of its window after one day at 25 °C is refused unless
    marked ``volatile: true``."""

    tau: float = Field(gt=0, le=1e16, description="s, relaxation time constant of a state near the level, "
                                                  "at t_ref_temperature")
    level: float = Field(0.0, ge=0, le=1, description="where devices relax to, as a fraction of "
                                                      "gmax − gmin above each device's gmin (0: the HRS)")
    tau_d2d: float = Field(0.0, ge=0, le=LEVEL_SIGMA_MAX * 3, description="σ of ln τ across devices")
    state_factor: float = Field(0.0, ge=0, le=100, description="β: the LRS relaxes (1 + β)× slower than a "
                                                               "state near the level (0: every state alike)")
    activation_energy: float = Field(1.0, ge=0, le=5, description="eV, Arrhenius activation energy of τ")
    t_ref_temperature: float = Field(300.0, gt=0, le=1000, description="K, temperature at which tau is given")
    temperature: float = Field(300.0, gt=0, le=1000, description="K, operating temperature of the chip")
    time_step: float = Field(1.0, gt=0, le=1e4,
                             description="s, drift is applied once at least this much time has passed "
                                         "(transport and pulse times of a measurement never drift the chip)")
    relaxation: Relaxation | None = Field(None, description="fast post-programming relaxation (None: none)")
    volatile: bool = Field(False, description="a volatile device: its window may be lost within a day")
    validated_temperature: tuple[float, float] | None = Field(
        None, description="K, [low, high]: the temperatures the retention parameters were measured (bakes) or set "
                          "for; beyond them the Arrhenius law is an extrapolation.  Say where it comes from in "
                          "provenance['retention.validated_temperature'] (schema 4)")

    @field_validator("validated_temperature")
    @classmethod
    def _validated_range(cls, v):
        if v is not None and not 0 < v[0] < v[1] <= 1000:
            raise ValueError(f"must be [low, high] in K with 0 < low < high <= 1000, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _not_volatile_unless_said(self):
        from . import retention as _r

        if self.volatile:
            return self
        kept = _r.kept_fraction(self, 1e-6, _r.VOLATILE_TIME, _r.VOLATILE_TEMPERATURE)
        if kept < _r.VOLATILE_FRACTION:
            tau_25 = _r.arrhenius(self, _r.VOLATILE_TEMPERATURE)
            raise ValueError(
                f"retention.tau = {self.tau:g} s at retention.t_ref_temperature = {self.t_ref_temperature:g} K "
                f"with retention.activation_energy = {self.activation_energy:g} eV is tau = {tau_25:.3g} s at 25 °C: "
                f"a state near the level keeps {100 * kept:.2g} % of its window after one day at 25 °C "
                f"(< {100 * _r.VOLATILE_FRACTION:g} %), a volatile device; lengthen retention.tau (or raise "
                f"retention.activation_energy), or say so with retention.volatile: true")
        return self


class ReadDisturb(_Strict):
    """What a read does to the device it reads.

    ``model: kinetics`` (the default from schema 3): a read is a weak, long pulse, and moves
    the device by the same switching kinetics a SET (positive read) or RESET (negative)
    pulse does, at the device voltage the 1T1R circuit leaves it and for the read's duration:
    ``m = factor·ln(1 + (t/τ)·e^((V_dev − V_nom)/v0)) / ln(1 + t_nom/τ)`` nominal pulses
    (:func:`labbench.physics.kinetics.read_disturb_pulses`), so disturb follows voltage and
    time as SET does.  ``factor`` > 1 models a device whose read disturb exceeds its own SET
    kinetics' sub-threshold tail; ``reset_factor`` (None: ``factor``) is that of negative,
    RESET-polarity reads, which a positive read-disturb stress does not measure.

    ``model: fraction`` (schema 2 files): each read at V moves G a fraction
    ``shift·exp((|V| − v_ref)/v0)`` of the way to Gmax (V > 0) or Gmin, whatever its duration."""

    model: Literal["kinetics", "fraction"] = "kinetics"
    factor: float = Field(1.0, ge=0, le=1e9, description="kinetics: the read's pulse equivalent times this")
    # a read-disturb stress measures one polarity; the other keeps its own factor, because a
    # factor fitted on top of the SET kinetics' v0 (which it corrects at the stress voltage)
    # says nothing of the RESET kinetics (one factor for both moved the I-V's RESET peak 30 %)
    reset_factor: float | None = Field(None, ge=0, le=1e9, description="kinetics: the factor of negative "
                                                                       "(RESET-polarity) reads; None: factor")
    shift: float | None = Field(None, ge=0, le=0.1, description="fraction: of the remaining way moved per "
                                                                "read at v_ref")
    v_ref: float = Field(0.1, gt=0, le=5, description="fraction: V, the read voltage at which shift is given")
    v0: float = Field(0.1, gt=0, le=5, description="fraction: V per e-fold of the disturb with read voltage")

    def factor_for(self, voltage: float) -> float:
        """The kinetics factor of a read at ``voltage`` (its polarity's)."""
        return self.factor if voltage >= 0 or self.reset_factor is None else self.reset_factor

    @model_validator(mode="after")
    def _shift_for_fraction(self):
        if self.model == "fraction" and self.shift is None:
            raise ValueError("read_disturb.shift is missing: model 'fraction' needs the fraction moved per read "
                             "(or use model: kinetics, the switching kinetics at the read's voltage and duration)")
        return self


class Endurance(_Strict):
    """Write events (pulses, SET or RESET, and DC switching readings) a device survives:
    lognormal across devices; past it the device is stuck at ``stuck_at``."""

    median: float = Field(ge=1, le=1e15, description="write events the median device survives")
    sigma: float = Field(0.0, ge=0, le=LEVEL_SIGMA_MAX * 3, description="σ of ln(endurance) across devices")
    stuck_at: Literal["gmin", "gmax"] = Field("gmin", description="where a worn-out device sticks")


class Energy(_Strict):
    """What a pulse or read costs: ``|V|·I(G)·t`` through the access transistor, with the
    device's I-V (``iv``, shape ``v0``) and the series R_on of ``switching``."""

    iv: Literal["linear", "sinh"] = Field(description="the device I-V energy is computed with: linear or sinh")
    v0: float = Field(0.25, gt=0, description="V, sinh shape parameter (iv: sinh)")
    read_time: float = Field(1e-7, gt=0, le=1, description="s, how long one read biases a device")

    @model_validator(mode="before")
    @classmethod
    def _needs_iv(cls, data):
        if isinstance(data, dict) and "iv" not in data:
            raise ValueError("energy.iv is missing: an energy term needs the device's I-V "
                             "(iv: linear or sinh) to turn a conductance into a current")
        return data


class MigrationWarning(UserWarning):
    """A device-model file in an older format was migrated on loading (what changed is said)."""


# The device-model file format.  A file without ``schema_version`` is version 1 (every
# file written before versions were recorded).  Each migration turns version k into k + 1
# and says what it changed or filled in; a file newer than this labbench is refused.
SCHEMA_VERSION = 4


def _migrate_1_to_2(data: dict) -> tuple[dict, list[str]]:
    # version 2 only starts recording the version: no key changed meaning or default
    return data, ["the schema version is now recorded (no key changed)"]


def _migrate_2_to_3(data: dict) -> tuple[dict, list[str]]:
    # version 3 solves the 1T1R circuit (physics.circuit): on_resistance is the lines only,
    # and the access transistor is in series where the nominal gates are declared.  A file
    # of version 2 declares none, so its cells keep no transistor in series: the same
    # electrical behaviour, said so.
    rd = data.get("read_disturb")
    extra = []
    if isinstance(rd, dict) and "shift" in rd and "model" not in rd:
        data = {**data, "read_disturb": {"model": "fraction", **rd}}
        extra = ["read_disturb keeps its per-read fraction (model: fraction, duration-independent); "
                 "model: kinetics derives it from the switching kinetics at the read's voltage and duration"]
    notes = ["the access transistor is now solved in series (linear and saturation regions) where "
             "switching.set_kinetics.gate / reset_kinetics.gate / read.gate are declared; this file declares "
             "none, so its reads and nominal pulses keep no transistor in series (add the gates your bench "
             "uses to model it); switching.on_resistance now means lines and contacts only"] + extra
    return data, notes


def _migrate_3_to_4(data: dict) -> tuple[dict, list[str]]:
    # version 4 adds an optional key, retention.validated_temperature (the range the retention
    # was measured or set for): a version-3 file means what it meant, so nothing is said
    return data, []


MIGRATIONS = {1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4}


def migrate(data: dict, where: str = "device model") -> tuple[dict, list[str]]:
    """``data`` brought to :data:`SCHEMA_VERSION`, with one note per change made."""
    version = data.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"schema_version: {version!r} is not a version (a whole number from 1)")
    if version > SCHEMA_VERSION:
        raise ValueError(f"{where}: schema_version {version} is newer than this labbench reads "
                         f"({SCHEMA_VERSION}); upgrade labbench (pip install -U labbench) to load it")
    notes: list[str] = []
    while version < SCHEMA_VERSION:
        data, said = MIGRATIONS[version](dict(data))
        notes += [f"schema {version} -> {version + 1}: {n}" for n in said]
        version += 1
    return {**data, "schema_version": version}, notes


class DeviceModel(_Strict):
    """One device technology, as a lab would describe it."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    schema_version: int = Field(SCHEMA_VERSION, description="the file format's version (see MIGRATIONS)")
    name: str
    description: str = ""
    references: list[str] = Field(default_factory=list)
    provenance: dict[str, str] = Field(default_factory=dict,
                                       description="key -> where its value comes from (technology, source)")
    update: UpdateModel
    d2d: DeviceToDevice = Field(default_factory=DeviceToDevice)
    read: ReadModel = Field(default_factory=ReadModel)
    switching: Switching = Field(default_factory=Switching)
    variability: Variability = Field(default_factory=Variability)
    faults: Faults = Field(default_factory=Faults)
    retention: Retention | None = None
    read_disturb: ReadDisturb | None = None
    endurance: Endurance | None = None
    energy: Energy | None = None
    fit: dict[str, Any] | None = Field(None, description="provenance and metrics written by the fitter")

    @model_validator(mode="before")
    @classmethod
    def _check_update_fields(cls, data):
        """The update model is a dataclass, not a pydantic model: check its fields here, so
        each problem names its key (``update.c2c_rel: ...``) instead of failing in NumPy."""
        if not isinstance(data, dict):
            return data
        upd = data.get("update")
        if isinstance(upd, dict) and "kind" in upd:
            try:
                target = model_class(upd["kind"])
            except (ValueError, TypeError):
                return data  # the field validator names the unknown kind
            values, problems = _check_update(target, dict(upd), given=True)
            if problems:
                raise ValueError("\n  ".join(problems))
            return {**data, "update": values}
        if isinstance(upd, UpdateModel):
            values = {f.name: getattr(upd, f.name) for f in dataclasses.fields(upd)}
            _, problems = _check_update(type(upd), values, given=False)
            if problems:
                raise ValueError("\n  ".join(problems))
        return data

    @field_validator("update", mode="before")
    @classmethod
    def _build_update(cls, v):
        if isinstance(v, UpdateModel):
            return v
        if not isinstance(v, dict) or "kind" not in v:
            raise ValueError("update must be a mapping with a 'kind' key")
        try:
            return model_class(v["kind"]).from_dict(v)
        except TypeError as e:  # a wrong type the checks above did not foresee: still no traceback
            raise ValueError(f"{v['kind']} model: {e}") from None

    @model_validator(mode="after")
    def _check_d2d(self):
        bad = set(self.d2d.sigma) - set(self.update.variable_params)
        if bad:
            raise ValueError(
                f"d2d.sigma names {sorted(bad)}, which the {self.update.kind} model cannot vary; "
                f"allowed: {list(self.update.variable_params)}"
            )
        return self

    @model_validator(mode="after")
    def _check_cell(self):
        """Blocks that contradict each other: a threshold the declared nominal pulse can never
        put across the device (the 1T1R circuit solved at its gate, physics.circuit)."""
        from . import circuit

        sw = self.switching
        try:
            g_lo, g_hi = float(np.min(self.update.gmin)), float(np.max(self.update.gmax))
        except (TypeError, ValueError, NotImplementedError):
            return self
        for name, kin, g, reset, where in (("v_reset", sw.reset_kinetics, g_hi, True, "a device at Gmax"),
                                           ("v_set", sw.set_kinetics, g_lo, False, "a device at Gmin")):
            kin_key = "reset_kinetics" if reset else "set_kinetics"
            if not 0 < g_lo < g_hi < 1:   # weights in arbitrary units (a normalized model): no circuit to solve
                continue
            if kin.gate is not None and kin.gate <= sw.v_gate_threshold:
                raise ValueError(f"switching.{kin_key}.gate ({kin.gate:g} V) is at or below "
                                 f"switching.v_gate_threshold ({sw.v_gate_threshold:g} V): the nominal pulse "
                                 f"would pass no current; raise the gate or lower the threshold")
            v_dev = float(circuit.device_voltage(sw, np.array([g]), kin.amplitude, kin.gate, reset)[0])
            if v_dev < getattr(sw, name):
                if kin.gate is not None:
                    raise ValueError(
                        f"switching.{name} ({getattr(sw, name):g} V) is never reached by the nominal pulse "
                        f"switching.{kin_key} ({kin.amplitude:g} V at gate {kin.gate:g} V puts {v_dev:.3g} V across "
                        f"{where}, the transistor in series): lower switching.{name}, or raise "
                        f"switching.{kin_key}.amplitude or .gate")
                # no transistor: the lines' on_resistance divides the pulse (a low-resistance device
                # with the default 1 kOhm took 38 % of it: no pulse could switch it)
                raise ValueError(
                    f"switching.{name} ({getattr(sw, name):g} V) is never reached by the nominal pulse "
                    f"switching.{kin_key} ({kin.amplitude:g} V puts {v_dev:.3g} V across {where} "
                    f"({1 / g:.4g} Ohm); switching.on_resistance ({sw.on_resistance:g} Ohm) takes the rest): lower "
                    f"switching.on_resistance or switching.{name}, or raise switching.{kin_key}.amplitude")
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
        order = ["schema_version", "name", "description", "references", "provenance", "update", "d2d", "read", "switching",
                 "variability", "faults", "retention", "read_disturb", "endurance", "energy", "fit"]
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
    def from_file_data(cls, data: dict, path) -> dict:
        """A file's mapping brought to the current format (:func:`migrate`), saying what
        changed as a :class:`MigrationWarning`.  Models built in code are current already."""
        data, notes = migrate(data, str(path))
        if notes:
            import warnings

            warnings.warn(f"{path}: device model written in an older format, migrated on loading: "
                          f"{'; '.join(notes)}; save it again (DeviceModel.from_yaml(p).to_yaml(p)) to record "
                          f"the version", MigrationWarning, stacklevel=3)
        return data

    @classmethod
    def from_yaml(cls, path: str | Path) -> "DeviceModel":
        from labbench.yamlfile import load_validated

        return load_validated(cls, path, "device model")


def _number(v) -> float | None:
    """``v`` as a float when it is a number (or a numeric string: PyYAML reads ``1e-5``, without
    a dot, as text); None otherwise.  Booleans are not numbers here."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


_C2C_RANGE = {"c2c_rel": (C2C_REL_MAX, "σ of a step relative to the mean step"),
              "c2c_abs": (C2C_ABS_MAX, "σ per pulse as a fraction of gmax − gmin")}


def _check_update(target: type[UpdateModel], values: dict, given: bool) -> tuple[dict, list[str]]:
    """(values with numeric strings converted, problems naming ``update.<key>``).

    ``given``: the values come from a file (a missing required key is a problem there)."""
    problems: list[str] = []
    kind = target.kind
    for f in dataclasses.fields(target):
        key = f"update.{f.name}"
        if f.name not in values:
            if given and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{key}: missing; the {kind} model needs it")
            continue
        v = values[f.name]
        if f.name == "noise_at_bound":   # the one field that is a word, not a number
            try:
                check_noise_at_bound(v)
            except ValueError as e:
                problems.append(f"{key}: {str(e).removeprefix('noise_at_bound ')}")
            continue
        typ = str(f.type)
        if v is None and "None" in typ:
            continue
        if isinstance(v, np.ndarray):  # a per-device (sampled) model built in code
            if v.dtype.kind not in "iuf" or not np.isfinite(v).all():
                problems.append(f"{key}: must hold finite numbers")
            continue
        if "tuple" in typ:  # a list of numbers (piecewise nodes and steps)
            seq = list(v) if isinstance(v, (list, tuple)) else None
            nums = None if seq is None else [_number(x) for x in seq]
            if nums is None or any(x is None for x in nums):
                problems.append(f"{key}: must be a list of numbers, got {v!r}")
            elif not all(math.isfinite(x) for x in nums):
                problems.append(f"{key}: must hold finite numbers (no .nan or .inf), got {v!r}")
            else:
                values[f.name] = nums
            continue
        x = _number(v)
        if x is None:
            what = "a list" if isinstance(v, (list, tuple)) else type(v).__name__
            problems.append(f"{key}: must be a number, got {what} {v!r}")
            continue
        if not math.isfinite(x):
            problems.append(f"{key}: must be a finite number, got {v!r}")
            continue
        if f.name in _C2C_RANGE:
            hi, meaning = _C2C_RANGE[f.name]
            if not 0.0 <= x <= hi:
                problems.append(f"{key}: must be between 0 and {hi:g} ({meaning}), got {x:g}")
                continue
        if isinstance(v, str):
            values[f.name] = x
    return values, problems


DEFAULT_MODEL = "hfox_2t2r_default"


def load_device_model(path_or_name: str | Path | None = None, base: Path | None = None) -> DeviceModel:
    """Load by path (relative to ``base`` too), or by shipped name (``None`` = the default chip).

    A name that is neither lists the shipped ones (:class:`labbench.paths.NotFound`)."""
    from labbench.paths import resolve_device_model

    return DeviceModel.from_yaml(resolve_device_model(path_or_name or DEFAULT_MODEL, base))
