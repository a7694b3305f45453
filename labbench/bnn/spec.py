"""TrainSpec: one complete, validated description of a training run.

A spec is nested, one section per part of the run (unknown keys are refused in each)::

    network:    sizes, binarize_input
    optimizer:  name, lr, lr_end, threshold          (gradient -> desired weight change)
    rule:       name, threshold, pulse_step          (weight change -> SET pulses)
    refresh:    policy, level, check_every, every, cap, verify, patience
    sense:      offset, noise                        (the differential sense amplifier)
    array:      kind (sim | bench | ideal), bench, init_pulses, idle_between_epochs
    data:       kind (mnist | synthetic), path, subset, train, test, noise
    output:     dir, db, plots
    precision, device_model, epochs, batch, seed

Building one checks every value (finite numbers in range, names in their registries:
:data:`~labbench.bnn.optimizers.OPTIMIZERS`, :data:`~labbench.bnn.update_rules.RULES`,
:data:`~labbench.bnn.refresh.POLICIES`, the precision modes, and the strict mode's rules).
:meth:`TrainSpec.check` checks what needs files, without building an array: the device
model (loads, a chip can be made of it), the rule, refresh policy and optimizer built with
their parameters, the memory the network needs, the bench chip, the data's shape.

**Flat keys.** ``labbench train`` options, sweep-file fields and checkpoints name the
settings flat (``refresh_level``, ``lr``, ``mode``), as the old ``TrainConfig`` did.
:data:`FLAT_KEYS` maps each to its place in the spec; ``TrainSpec(**flat)`` accepts them
(beside or inside the sections) and :meth:`TrainSpec.flat` gives them back, so a
checkpoint or a sweep table written before the spec existed still reads the same.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labbench.errors import LabbenchError
from labbench.physics import DeviceModel

from .optimizers import OPTIMIZERS, ZERO_STATE
from .precision import PRECISIONS, strict_conflicts
from .refresh import POLICIES
from .update_rules import RULES

MNIST_IN, MNIST_OUT = 784, 10
MAX_SEED = 2**32 - 1


def refresh_program(model, tolerance: float | None):
    """Program-verify settings for a verified refresh to within ``tolerance`` (None: none)."""
    if tolerance is None:
        return None
    from labbench.array.program_verify import VerifySettings

    return VerifySettings.for_model(model, tolerance=tolerance)


class TrainSpecError(LabbenchError, ValueError):
    """A training spec that cannot run; ``field`` is the flat key it is about (or None)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# -- the float settings and their ranges (the CLI's option types read these too) ----------
# flat name -> (low, high, low_open)
FLOAT_RANGES = {
    "lr": (0.0, 1.0, True),
    "lr_end": (0.0, 1.0, True),
    "refresh_level": (0.0, 1.0, True),
    "refresh_cap": (0.0, 1.0, False),
    "refresh_program": (0.0, 0.5, True),
    "sense_offset": (0.0, 1.0, False),
    "sense_noise": (0.0, 1.0, False),
    "rule_threshold": (0.0, math.inf, True),
    "rule_horizon": (1.0, 1e6, False),
    "optimizer_threshold": (0.0, 1e3, False),
    "idle_between_epochs": (0.0, 1e9, False),
}


def range_text(name: str) -> str:
    """``FLOAT_RANGES[name]`` written as an interval, e.g. ``(0, 1]``."""
    lo, hi, lo_open = FLOAT_RANGES[name]
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"


def check_float(name: str, value) -> float:
    """``value`` finite and in the range of ``name`` (:data:`FLOAT_RANGES`), else ValueError."""
    lo, hi, lo_open = FLOAT_RANGES[name]
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < lo or (lo_open and v == lo) or v > hi:
        raise ValueError(f"{name} must be a finite number in {range_text(name)}, got {value!r}")
    return v


# -- memory --------------------------------------------------------------------------------
# What one synapse (a device pair) costs in memory while training, measured on a
# 784-1000-10 network (tracemalloc): device mode ~60 B steady (conductances, per-device
# parameters, event counters, Adam moments), ~120 B peak while the arrays are built, more
# while a checkpoint is serialized; ideal mode ~12 B steady, ~20 B peak in an epoch.
BYTES_PER_PAIR = {"device": 160, "ideal": 48}
FALLBACK_MEMORY_CAP = 4 << 30


def memory_estimate(sizes, mode: str = "device") -> tuple[int, int]:
    """(device pairs, bytes) that training a network of ``sizes`` needs, roughly."""
    pairs = sum(int(a) * int(b) for a, b in zip(sizes[:-1], sizes[1:]))
    return pairs, pairs * BYTES_PER_PAIR.get(mode, BYTES_PER_PAIR["device"])


def memory_cap() -> int:
    """The most memory a training run may plan to use: half of this machine's RAM."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY_CAP


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def check_memory(sizes, mode: str = "device", option: str = "sizes") -> None:
    """ValueError when a network of ``sizes`` would need more than :func:`memory_cap`."""
    pairs, need = memory_estimate(sizes, mode)
    cap = memory_cap()
    if need > cap:
        raise ValueError(
            f"{option}: a {'-'.join(str(s) for s in sizes)} network has {pairs:,} device pairs; "
            f"training it would need about {human_bytes(need)} (~{BYTES_PER_PAIR.get(mode, 0)} B per pair), "
            f"more than the {human_bytes(cap)} allowed (half of this machine's memory); "
            "use smaller hidden layers")


# -- the sections ----------------------------------------------------------------------------
class _Section(BaseModel):
    # frozen: a spec is a value (compared, hashed, recorded), never edited in place
    model_config = ConfigDict(extra="forbid", frozen=True)


def _ranged(flat: str):
    """A field validator holding a float to ``FLOAT_RANGES[flat]`` (None passes: 'not set')."""
    def check(cls, v):
        return v if v is None else check_float(flat, v)
    return check


class NetworkSpec(_Section):
    sizes: tuple[int, ...] = (784, 500, 10)
    binarize_input: bool = False     # ±1 inputs instead of real values in [−1, 1]

    @field_validator("sizes")
    @classmethod
    def _widths(cls, v):
        if len(v) < 2 or min(v) < 1:
            raise ValueError(f"sizes must be >= 2 positive layer widths, got {v}")
        return v


class OptimizerSpec(_Section):
    name: str = "adam"
    lr: float = 0.005                # first epoch
    lr_end: float = 0.0002           # last epoch (exponential decay per epoch)
    threshold: float = 0.0           # name="sign": skip |g| below this × the layer's RMS

    _lr = field_validator("lr")(_ranged("lr"))
    _lr_end = field_validator("lr_end")(_ranged("lr_end"))
    _threshold = field_validator("threshold")(_ranged("optimizer_threshold"))

    @field_validator("name")
    @classmethod
    def _known(cls, v):
        if v not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {v!r}; choose one of {sorted(OPTIMIZERS)} "
                             f"(with no per-synapse state: {', '.join(ZERO_STATE)})")
        return v


class RuleSpec(_Section):
    name: str = "accumulate"
    threshold: float = 0.5           # pulses, for name="threshold"
    horizon: float = 8.0             # updates, for name="noise_aware" (update_rules.NoiseAwareRounding)
    pulse_step: float | None = None  # weight change per nominal pulse; None = 1/Pmax of the device model

    _threshold = field_validator("threshold")(_ranged("rule_threshold"))
    _horizon = field_validator("horizon")(_ranged("rule_horizon"))

    @field_validator("name")
    @classmethod
    def _known(cls, v):
        if v not in RULES:
            raise ValueError(f"unknown update rule {v!r}; choose one of {sorted(RULES)}")
        return v

    @field_validator("pulse_step")
    @classmethod
    def _step(cls, v):
        if v is not None and not (math.isfinite(v) and 0 < v <= 1):
            raise ValueError(f"pulse_step must be a finite number in (0, 1], got {v!r}")
        return v


class RefreshSpec(_Section):
    policy: str = "threshold"
    level: float = 0.9
    check_every: int = Field(50, ge=1)
    every: int = Field(100, ge=1)
    cap: float | None = 0.5          # None: re-write the full difference
    verify: int = Field(1, ge=0)
    patience: int | None = Field(3, ge=1)   # threshold policy: give up on a pair after N checks in a row
    # re-write through program-verify to within this fraction (None: open loop, `verify` rounds);
    # a verify loop keeps no per-synapse state, so strict mode allows it (precision.py)
    program: float | None = None

    _level = field_validator("level")(_ranged("refresh_level"))
    _cap = field_validator("cap")(_ranged("refresh_cap"))
    _program = field_validator("program")(_ranged("refresh_program"))

    @field_validator("policy")
    @classmethod
    def _known(cls, v):
        if v not in POLICIES:
            raise ValueError(f"unknown refresh policy {v!r}; choose one of {list(POLICIES)}")
        return v


class SenseSpec(_Section):
    offset: float = 0.0              # σ, fraction of the range
    noise: float = 0.0

    _offset = field_validator("offset")(_ranged("sense_offset"))
    _noise = field_validator("noise")(_ranged("sense_noise"))


class ArraySpec(_Section):
    kind: Literal["sim", "bench", "ideal"] = "sim"
    bench: str | None = None         # kind="bench": a bench file (shipped name or path)
    init_pulses: int = Field(1, ge=0)
    idle_between_epochs: float = 0.0     # s the arrays sit idle (drift) after each epoch, before its test

    _idle = field_validator("idle_between_epochs")(_ranged("idle_between_epochs"))

    @model_validator(mode="after")
    def _consistent(self):
        if self.kind == "bench" and not self.bench:
            raise ValueError("--array bench needs --bench NAME|PATH (array.bench; e.g. --bench sim)")
        if self.bench and self.kind != "bench":
            raise ValueError(f"--bench is used only with --array bench (this run is --array {self.kind})")
        if self.idle_between_epochs and self.kind != "sim":
            raise ValueError("--idle-between-epochs needs --array sim (only a simulator skips time)")
        return self


class DataSpec(_Section):
    kind: Literal["mnist", "synthetic"] = "mnist"
    path: str | None = None          # mnist: the folder of the four files (default: $LABBENCH_MNIST, the cache)
    subset: int | None = Field(None, ge=1)   # the first N training samples
    train: int | None = Field(None, ge=10)   # synthetic: samples (default 400 train, 200 test)
    test: int | None = Field(None, ge=10)
    noise: float | None = Field(None, ge=0, le=10)

    @model_validator(mode="after")
    def _keys_of_kind(self):
        allowed = {"mnist": {"path"}, "synthetic": {"train", "test", "noise"}}[self.kind]
        given = {k for k in ("path", "train", "test", "noise") if getattr(self, k) is not None}
        if extra := sorted(given - allowed):
            raise ValueError(f"unknown key {extra[0]!r} for kind {self.kind}; allowed: "
                             f"{', '.join(sorted(allowed | {'kind', 'subset'}))}")
        return self


class OutputSpec(_Section):
    dir: str | None = None           # run folder (checkpoint, metrics.csv, plots); None: nothing written
    db: str | None = None            # QCoDeS dataset for one row per epoch; None: none
    plots: bool = True


# -- flat keys -----------------------------------------------------------------------------
#: the old TrainConfig's flat names -> (section, field) in TrainSpec (section None: top level).
#: ``mode`` ("device" | "ideal") is array.kind seen from the trainer: "ideal" or any array.
FLAT_KEYS: dict[str, tuple[str | None, str]] = {
    "sizes": ("network", "sizes"),
    "epochs": (None, "epochs"),
    "batch": (None, "batch"),
    "lr": ("optimizer", "lr"),
    "lr_end": ("optimizer", "lr_end"),
    "mode": ("array", "kind"),
    "precision": (None, "precision"),
    "optimizer": ("optimizer", "name"),
    "optimizer_threshold": ("optimizer", "threshold"),
    "rule": ("rule", "name"),
    "rule_threshold": ("rule", "threshold"),
    "rule_horizon": ("rule", "horizon"),
    "refresh": ("refresh", "policy"),
    "refresh_level": ("refresh", "level"),
    "refresh_check_every": ("refresh", "check_every"),
    "refresh_every": ("refresh", "every"),
    "refresh_cap": ("refresh", "cap"),
    "refresh_verify": ("refresh", "verify"),
    "refresh_patience": ("refresh", "patience"),
    "refresh_program": ("refresh", "program"),
    "sense_offset": ("sense", "offset"),
    "sense_noise": ("sense", "noise"),
    "binarize_input": ("network", "binarize_input"),
    "idle_between_epochs": ("array", "idle_between_epochs"),
    "init_pulses": ("array", "init_pulses"),
    "pulse_step": ("rule", "pulse_step"),
    "train_subset": ("data", "subset"),
    "seed": (None, "seed"),
}
_NESTED_NAME = {v: k for k, v in FLAT_KEYS.items() if v[0] is not None}
SECTIONS = ("network", "optimizer", "rule", "refresh", "sense", "array", "data", "output")


def flat_name(loc: tuple) -> str | None:
    """The flat key of a location in the spec (``("refresh", "level")`` -> ``refresh_level``)."""
    if len(loc) >= 2 and loc[0] in SECTIONS:
        return _NESTED_NAME.get((str(loc[0]), str(loc[1])))
    if len(loc) == 1 and loc[0] in FLAT_KEYS and loc[0] not in SECTIONS:
        return str(loc[0])
    return None


def flatten(data: dict) -> dict:
    """``data`` with its sections (``refresh: {policy: .., level: ..}``) written as flat keys
    (``refresh``, ``refresh_level``): the inverse of :func:`nest`, for places that address
    settings one by one (sweep files).  A field with no flat name is refused."""
    out = {}
    for key, value in data.items():
        if key not in SECTIONS or not isinstance(value, dict):
            out[key] = value
            continue
        for name, v in value.items():
            flat = _NESTED_NAME.get((key, name))
            if flat is None:
                raise ValueError(f"{key}.{name} is not a setting that can be given here "
                                 f"(known: {', '.join(k for k, (s, _) in FLAT_KEYS.items() if s == key)})")
            if key == "array" and name == "kind":
                if v not in ("sim", "ideal"):
                    raise ValueError(f"array.kind {v!r}: give sim or ideal here")
                v = "device" if v == "sim" else v
            if flat in out or (flat in data and flat != key):
                raise ValueError(f"{flat} is given twice, flat and as {key}.{name}; give it once")
            out[flat] = v
    return out


def _mode_to_kind(mode, section: dict) -> str:
    if mode not in ("device", "ideal"):
        raise ValueError(f"mode must be 'device' or 'ideal', got {mode!r}")
    kind = section.get("kind")
    if mode == "ideal":
        if kind not in (None, "ideal"):
            raise ValueError(f"mode 'ideal' and array kind {kind!r} contradict each other; give one")
        return "ideal"
    if kind == "ideal":
        raise ValueError("mode 'device' and array kind 'ideal' contradict each other; give one")
    return kind or "sim"


def nest(data: dict) -> dict:
    """``data`` with its flat keys moved into their sections (the sections may be given too;
    a setting given both ways is refused).  A section given as a name (``refresh:
    threshold``, ``optimizer: sgd``, ``rule: stochastic``) is that section's name field."""
    out = {k: (dict(v) if k in SECTIONS and isinstance(v, dict) else v) for k, v in data.items()}
    for key in ("optimizer", "rule", "refresh"):         # a name where a section could be
        if key in out and not isinstance(out[key], (dict, BaseModel)):
            out[key] = {FLAT_KEYS[key][1]: out[key]}
    for key, (section, name) in FLAT_KEYS.items():
        if section is None or key not in data or key in SECTIONS:
            continue
        value = out.pop(key)
        sec = out.setdefault(section, {})
        if isinstance(sec, BaseModel):
            sec = out[section] = sec.model_dump()
        if not isinstance(sec, dict):
            continue                                       # the section's own validation says what is wrong
        if key == "mode":
            value = _mode_to_kind(value, sec)
        elif name in sec and sec[name] != value:
            raise ValueError(f"{key} is given twice, flat and as {section}.{name}; give it once")
        sec[name] = value
    return out


class TrainSpec(_Section):
    """A complete, validated description of one training run (see the module's docs)."""

    precision: str = "mixed-precision"   # or "strict": no per-synapse digital state (precision.py)
    device_model: str | DeviceModel = "hfox_2t2r_default"   # a shipped name, a path, or the model itself
    epochs: int = Field(10, ge=1)
    batch: int = Field(100, ge=1)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    network: NetworkSpec = NetworkSpec()
    optimizer: OptimizerSpec = OptimizerSpec()
    rule: RuleSpec = RuleSpec()
    refresh: RefreshSpec = RefreshSpec()
    sense: SenseSpec = SenseSpec()
    array: ArraySpec = ArraySpec()
    data: DataSpec = DataSpec()
    output: OutputSpec = OutputSpec()

    def __init__(self, **data):
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise explain(e) from None

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_keys(cls, data):
        return nest(data) if isinstance(data, dict) else data

    @field_validator("precision")
    @classmethod
    def _known_precision(cls, v):
        if v not in PRECISIONS:
            raise ValueError(f"unknown precision mode {v!r}; choose one of {list(PRECISIONS)}")
        return v

    @model_validator(mode="after")
    def _strict(self):
        if self.precision == "strict" and (bad := strict_conflicts(self)):
            raise ValueError("--mode strict keeps no per-synapse digital state and models the paper's "
                             "chip; these options conflict with it: " + "; ".join(bad)
                             + " (or use --mode mixed-precision)")
        return self

    # -- views ------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """'ideal' (software latent weights) or 'device' (arrays in the loop)."""
        return "ideal" if self.array.kind == "ideal" else "device"

    @property
    def sizes(self) -> tuple[int, ...]:
        return self.network.sizes

    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (0-based): exponential from lr to lr_end."""
        o = self.optimizer
        if self.epochs == 1:
            return o.lr
        return o.lr * (o.lr_end / o.lr) ** (epoch / (self.epochs - 1))

    def memory(self) -> tuple[int, int]:
        """(device pairs, bytes) this run's network needs while training, roughly."""
        return memory_estimate(self.network.sizes, self.mode)

    def flat(self) -> dict[str, Any]:
        """The settings that decide the result, by their flat names (:data:`FLAT_KEYS`):
        what checkpoints and sweep tables record and compare."""
        out = {}
        for key, (section, name) in FLAT_KEYS.items():
            out[key] = getattr(self if section is None else getattr(self, section), name)
        out["mode"] = self.mode
        out["sizes"] = list(out["sizes"])
        return out

    def replace(self, **changes) -> "TrainSpec":
        """A copy with ``changes``, validated again: flat keys change one setting (``refresh``
        the policy, keeping the section's other settings), a mapping or a section object
        replaces its whole section."""
        data = self.model_dump(exclude={"device_model"})
        data["device_model"] = self.device_model
        for key, value in changes.items():
            section, name = FLAT_KEYS.get(key, (None, key))
            if key in SECTIONS and isinstance(value, (dict, BaseModel)):
                data[key] = value
            elif key == "mode":
                data["array"] = {**data["array"], "kind": _mode_to_kind(value, {}), "bench": None}
            elif section is None:
                data[key] = value
            else:
                data[section][name] = value
        return TrainSpec(**data)

    # -- files --------------------------------------------------------------------------------
    def to_yaml(self, path: str | Path | None = None) -> str:
        """The spec as YAML (the device model by name, or inline when it is an object)."""
        import yaml

        data = self.model_dump(mode="json", exclude={"device_model"})
        dm = self.device_model
        text = yaml.safe_dump({"device_model": dm.to_dict() if isinstance(dm, DeviceModel) else dm, **data},
                              sort_keys=False, width=100)
        if path is not None:
            from labbench.atomic import write_text

            write_text(Path(path), text)
        return text

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainSpec":
        """Read a spec file; a relative device-model path is relative to the file."""
        from labbench.yamlfile import load_validated

        try:
            spec = load_validated(cls, path, "training spec")
        except ValueError as e:
            raise TrainSpecError(str(e)) from None
        dm = spec.device_model
        if isinstance(dm, str) and not Path(dm).is_absolute() and (Path(path).parent / dm).exists():
            spec = spec.replace(device_model=str(Path(path).parent / dm))
        return spec

    # -- the checks that need files ---------------------------------------------------------
    def load_device_model(self, base: Path | None = None) -> DeviceModel:
        from labbench.physics import load_device_model

        dm = self.device_model
        return dm if isinstance(dm, DeviceModel) else load_device_model(dm, base)

    def check(self, base: Path | None = None) -> DeviceModel:
        """Everything this run needs, checked without building an array or reading data:
        the memory, the device model, the rule/refresh/optimizer with their parameters, the
        data's shape, the bench chip.  Returns the device model; TrainSpecError names the field."""
        from labbench.paths import NotFound
        from labbench.physics.chip import check_chip_model

        try:
            check_memory(self.network.sizes, self.mode, option="sizes")
        except ValueError as e:
            raise TrainSpecError(str(e).removeprefix("sizes: "), "sizes") from None
        try:
            dm = self.load_device_model(base)
            check_chip_model(dm)
        except (NotFound, ValueError) as e:
            raise TrainSpecError(str(e), "device_model") from None
        self._check_parts(dm)
        self._check_data()
        if self.array.kind == "bench":
            self._check_bench()
        return dm

    def _check_parts(self, dm: DeviceModel) -> None:
        """The trainer's own factories, built with this spec's parameters (no arrays)."""
        from .optimizers import make_optimizer
        from .refresh import make_policy
        from .update_rules import rule_for

        r, f, o = self.rule, self.refresh, self.optimizer
        for key, build in (
                ("rule", lambda: rule_for(r, dm)),
                ("refresh", lambda: make_policy(f.policy, dm, level=f.level, check_every=f.check_every, every=f.every,
                                                cap=f.cap, verify=f.verify, patience=f.patience,
                                                program=refresh_program(dm, f.program))),
                ("optimizer", lambda: make_optimizer(o.name, [], **({"threshold": o.threshold}
                                                                    if o.name == "sign" else {})))):
            try:
                build()
            except ValueError as e:
                raise TrainSpecError(f"{key}: {e}", key) from None

    def _check_data(self) -> None:
        sizes = self.network.sizes
        if self.data.kind == "mnist" and (sizes[0] != MNIST_IN or sizes[-1] != MNIST_OUT):
            raise TrainSpecError(f"sizes {list(sizes)}: MNIST needs {MNIST_IN} inputs and {MNIST_OUT} outputs",
                                 "sizes")

    def _check_bench(self) -> None:
        """The bench file only (no instrument opened): a layer must fit its chip."""
        from labbench.instruments.config import BenchConfig

        chip = BenchConfig.from_yaml(self.array.bench).chip
        sizes = self.network.sizes
        if not any(r <= chip.rows and c <= chip.cols for r, c in zip(sizes[:-1], sizes[1:])):
            raise TrainSpecError(f"no layer of {'-'.join(map(str, sizes))} fits the bench chip "
                                 f"({chip.rows}×{chip.cols}); use a smaller --hidden", "sizes")


def explain(e: ValidationError) -> TrainSpecError:
    """One message for a spec's validation errors, each naming its setting by flat key."""
    parts, first = [], None
    errors = e.errors()
    inline = [err for err in errors if len(err["loc"]) > 1 and err["loc"][0] == "device_model"
              and err["loc"][1] != "str"]
    if inline:
        # an inline model that does not validate: its own errors (the union's branch label
        # dropped), not also "or give a name"
        errors = [err for err in errors if err["loc"][:1] != ("device_model",)]
        errors += [{**err, "loc": ("device_model", *err["loc"][2:])} for err in inline]
    for err in errors:
        loc = tuple(err["loc"])
        name = flat_name(loc) or ".".join(str(x) for x in loc)
        first = first or flat_name(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(msg if (not name or msg.startswith(name) or msg.startswith("--")) else f"{name}: {msg}")
    return TrainSpecError("; ".join(parts), first)


def differences(mine: dict, theirs: dict) -> list[str]:
    """Flat keys whose values differ between two flat settings; a key one side lacks (a
    setting newer than a checkpoint or a results table) counts as its default."""
    default = TrainSpec().flat()
    a, b = {**default, **mine}, {**default, **theirs}
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def preset_spec(preset: str, **overrides) -> TrainSpec:
    """The TrainSpec of ``preset`` ("strict" or "mixed-precision"), ``overrides`` on top."""
    from .precision import PRESETS

    if preset not in PRESETS:
        raise ValueError(f"unknown mode {preset!r}; choose one of {list(PRESETS)}")
    return TrainSpec(**{**PRESETS[preset], **overrides})
