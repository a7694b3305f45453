"""The bench file: instruments, wiring, chip, safety limits, operating points (pydantic).

Every mistake is reported with the key that holds it (``instruments.pg.driver``,
``wiring.inputs.4``, ...) and what would fix it.  See ``docs/bench.md``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from labbench.addressing import canonical_address, parse_line

from .drivers import DRIVERS

ROLES = ("source_meter", "pulse_generator", "switch_matrix")   # every bench has one of each
OPTIONAL_ROLES = ("temperature_controller",)                   # a heated chuck, for bakes
#: or one array tester (an ArC TWO) that drives the chip itself, in all three roles
ARRAY_TESTER = "array_tester"
#: an ArC TWO's output ranges (pyarc2's OutputRange): the largest |V| a channel reaches
OUTPUT_RANGES = {"std": 10.0, "ext": 20.0}


class _Strict(BaseModel):
    # no NaN or infinity anywhere in a bench file; no unknown keys
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# A limit is a real number, never a bool or a string that happens to parse ("true" is 1.0
# in lax validation), finite and positive.
Limit = Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)]


class SimFault(_Strict):
    """A simulated instrument that fails mid-run, to rehearse what a lab script does then."""

    kind: Literal["timeout", "disconnect", "garbage", "truncate", "nan", "error"]
    after: int = Field(ge=0, description="VISA transactions (writes and reads) before the fault")


class InstrumentConfig(_Strict):
    role: Literal["source_meter", "pulse_generator", "switch_matrix", "temperature_controller", "array_tester"]
    driver: str = Field(description=f"one of {sorted(DRIVERS)}")
    address: str = Field("", description="VISA resource name, e.g. GPIB0::24::INSTR (not for an array tester)")
    simulated: bool = True
    sim_fault: SimFault | None = Field(None, description="simulated instruments only: a fault after N transactions")
    output_load: dict[str, Literal["high_z"] | Annotated[float, Field(ge=0.3, le=1e6, strict=True)]] | None = Field(
        None, description="pulse generators: each channel's load setting, 'high_z' or ohms; set and read back on "
                          "opening, and used to convert limits to the voltage at the cell")

    chuck_rating: Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)] | None = Field(
        None, description="temperature controllers: the heated chuck's rated maximum, K (its data sheet)")

    # -- an array tester (ArC TWO): labbench.instruments.arc2 ------------------------------
    board: int | None = Field(None, ge=0, description="array tester: the board id (pyarc2.find_ids())")
    firmware: str | None = Field(None, description="array tester: the firmware file pyarc2 loads (hardware)")
    mapper: str | None = Field(None, description="array tester: channel map (TOML), relative to the bench file "
                                                 "or a shipped name")
    output_range: Literal["std", "ext"] | None = Field(
        None, description="array tester: std (±10 V) or ext (±20 V); no limit may exceed it")
    idle: Literal["float", "ground"] | None = Field(
        None, description="array tester: every channel's state whenever outputs are off (closing included)")
    channel_limits: dict[Annotated[int, Field(ge=0, le=63)], Limit] | None = Field(
        None, description="array tester: max |V| on particular channels (e.g. {0: 2.0}), below the terminals'")

    @model_validator(mode="after")
    def _array_tester_fields(self):
        keys = ("board", "firmware", "mapper", "output_range", "idle", "channel_limits")
        if self.role != ARRAY_TESTER:
            given = [k for k in keys if getattr(self, k) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} apply to an array tester (an ArC TWO) only")
            if not self.address:
                raise ValueError("address is required (a VISA resource name, e.g. GPIB0::24::INSTR)")
            return self
        if self.address:
            raise ValueError("an array tester has no VISA address: give its board id (board: 0)")
        for k, example in (("mapper", "arc2_1t1r_32x32"), ("output_range", "std"), ("idle", "ground")):
            if getattr(self, k) is None:
                raise ValueError(f"an ArC TWO needs {k} (e.g. {k}: {example}): "
                                 + {"mapper": "which channel or selector each chip line is on",
                                    "output_range": "std (±10 V) or ext (±20 V), the range every limit must fit",
                                    "idle": "float or ground, every channel's state when outputs are off"}[k])
        if not self.simulated and not self.firmware:
            raise ValueError("a hardware ArC TWO needs firmware: the path of the .bin file pyarc2 loads "
                             "(it ships with arc2control)")
        return self

    @model_validator(mode="after")
    def _fault_needs_simulation(self):
        if self.sim_fault is not None and not self.simulated:
            raise ValueError("sim_fault applies to a simulated instrument only (simulated: true)")
        if self.role == "temperature_controller" and self.chuck_rating is None:
            raise ValueError("a temperature controller needs chuck_rating, the heated chuck's rated maximum in K "
                             "(e.g. chuck_rating: 573.15 for a 300 °C chuck): no set point may exceed it")
        if self.role != "temperature_controller" and self.chuck_rating is not None:
            raise ValueError("chuck_rating applies to a temperature controller only")
        if self.role == "pulse_generator":
            terms = DRIVERS[self.driver].terminals if self.driver in DRIVERS else ()
            if not self.output_load:
                raise ValueError(
                    "a pulse generator needs output_load, its channels' load setting (e.g. output_load: {"
                    + ", ".join(f"{t}: high_z" for t in terms or ("ch1", "ch2")) + "}): the level it "
                    "delivers into a cell depends on it (a 50 ohm setting into a high-impedance cell doubles it)")
            unknown = sorted(set(self.output_load) - set(terms)) if terms else []
            if unknown:
                raise ValueError(f"output_load: {', '.join(unknown)} is not a channel of {self.driver} "
                                 f"({', '.join(terms)})")
            missing = sorted(set(terms) - set(self.output_load))
            if missing:
                raise ValueError(f"output_load: give every channel's load; missing {', '.join(missing)}")
        elif self.output_load is not None:
            raise ValueError("output_load applies to a pulse generator only")
        return self

    def load_ohms(self, terminal: str) -> float:
        """A channel's declared load in ohms (inf for high impedance)."""
        v = (self.output_load or {}).get(terminal, "high_z")
        return float("inf") if v == "high_z" else float(v)


class Pin(_Strict):
    card: int = Field(ge=1, le=4, description="matrix module (Normal configuration mode)")
    output: int = Field(ge=1, le=48)


class PinGroup(_Strict):
    """Lines <kind>0..<kind>N-1 on consecutive outputs of one card."""

    card: int = Field(ge=1, le=4, description="matrix module (Normal configuration mode)")
    first_output: int = Field(ge=1, le=48)


class WiringConfig(_Strict):
    matrix: str = Field(description="the switch-matrix instrument")
    inputs: dict[int, str] = Field(description="matrix input port -> 'instrument.terminal' or 'ground'")
    lines: dict[str, Pin | PinGroup] = Field(
        description="chip line -> matrix pin: WL/BL/BLB as groups, SL (or WL3, ...) as single pins")


class TerminalLimits(_Strict):
    # max_voltage on every terminal that drives the chip, max_temperature on a temperature
    # controller's loop (BenchConfig checks which applies where)
    max_voltage: Limit | None = Field(None, description="V, largest |level| this terminal may drive")
    max_temperature: Limit | None = Field(None, description="K, highest set point (temperature controllers)")
    max_ramp: Limit | None = Field(None, description="K/min, fastest set-point ramp (temperature controllers)")
    max_compliance: Limit | None = Field(None, description="A, largest current limit (SMU)")
    max_pulse_width: Limit | None = Field(None, description="s, longest pulse (pulse generator)")


class ChipConfig(_Strict):
    device_model: str = Field(description="device-model file, or a name in device_models/")
    rows: int = Field(gt=0)
    cols: int = Field(gt=0)
    seed: int = 0
    formed: bool = True


class PulseSpec(_Strict):
    amplitude: float = Field(gt=0, description="V at the cell")
    width: float = Field(gt=0, description="s")
    gate: float = Field(gt=0, description="V on the word line")


class OperatingConfig(_Strict):
    read_terminal: str = "smu.hi"
    pulse_terminal: str = "pg.ch1"
    gate_terminal: str = "pg.ch2"
    read_voltage: float = Field(0.1, gt=0)
    read_gate: float = Field(1.8, gt=0)
    compliance: float = Field(1e-4, gt=0)
    nplc: float = Field(0.01, gt=0)
    set: PulseSpec = PulseSpec(amplitude=1.5, width=1e-6, gate=1.2)
    reset: PulseSpec = PulseSpec(amplitude=1.8, width=1e-6, gate=2.5)
    strong_reset_voltage: float = Field(1.5, gt=0, description="V, SMU on SL for a full RESET")
    strong_reset_gate: float = Field(2.5, gt=0, description="V on the word line during it")


class BenchConfig(_Strict):
    name: str
    description: str = ""
    visa_library: str = Field("", description="PyVISA library for real instruments ('' = default, '@py')")
    chip: ChipConfig
    instruments: dict[str, InstrumentConfig]
    wiring: WiringConfig | None = None
    limits: dict[str, TerminalLimits] = Field(default_factory=dict)
    operating: OperatingConfig = OperatingConfig()

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self):  # noqa: C901 - one rule of the bench file per branch, each naming its key
        # drivers and addresses
        seen: dict[str, str] = {}
        for name, inst in self.instruments.items():
            if inst.driver not in DRIVERS:
                raise ValueError(f"instruments.{name}.driver: unknown driver {inst.driver!r}; "
                                 f"use one of {sorted(DRIVERS)}")
            if DRIVERS[inst.driver].role != inst.role:
                raise ValueError(f"instruments.{name}.driver: {inst.driver} is a "
                                 f"{DRIVERS[inst.driver].role}, not a {inst.role}")
            if inst.role == ARRAY_TESTER:
                continue
            try:
                addr = canonical_address(inst.address)
            except ValueError as e:
                raise ValueError(f"instruments.{name}.address: {e}") from None
            if addr in seen:
                raise ValueError(f"instruments.{name}.address: duplicate address {inst.address} "
                                 f"(also used by instruments.{seen[addr]}); give each instrument its own")
            seen[addr] = name
        if self.array_tester() is not None:
            self._check_array_tester()
            return self
        for role in ROLES:
            if not any(i.role == role for i in self.instruments.values()):
                raise ValueError(f"instruments: missing instrument with role {role!r}; "
                                 f"add one (see benches/sim.yaml)")
        # wiring: every name must exist; no loops, no shorts
        w = self.wiring
        if w is None:
            raise ValueError("wiring: missing; say which instrument terminal feeds which matrix input and which "
                             "matrix output is which chip line (see benches/sim.yaml)")
        mx = self.instruments.get(w.matrix)
        if mx is None or mx.role != "switch_matrix":
            raise ValueError(f"wiring.matrix: {w.matrix!r} is not a switch_matrix in instruments")
        parent: dict[str, str] = {}

        def find(x):
            while parent.setdefault(x, x) != x:
                x = parent[x]
            return x

        def join(a, b, key):
            ra, rb = find(a), find(b)
            if ra == rb:
                raise ValueError(f"{key}: wiring loop: {a} and {b} are already connected "
                                 f"(through the matrix); wire each terminal to one input")
            parent[ra] = rb

        for port, term in w.inputs.items():
            key = f"wiring.inputs.{port}"
            if not 1 <= port <= 14:
                raise ValueError(f"{key}: the matrix has inputs 1..14")
            if term != "ground":
                inst, _, t = term.partition(".")
                if inst not in self.instruments or not t:
                    raise ValueError(f"{key}: {term!r} is not 'instrument.terminal' of a listed "
                                     f"instrument nor 'ground'")
                if inst == w.matrix:
                    raise ValueError(f"{key}: wiring loop: matrix {inst} wired back into its own input")
                if t not in DRIVERS[self.instruments[inst].driver].terminals:
                    raise ValueError(f"{key}: {inst} has terminals "
                                     f"{DRIVERS[self.instruments[inst].driver].terminals}, not {t!r}")
            join(f"input {port}", "matrix", key)
            if term != "ground":
                join(term, f"input {port}", key)
        used: dict[tuple[int, int], str] = {}
        for line, pin in self.wiring_pins().items():
            if pin in used:
                raise ValueError(f"wiring.lines: {line} and {used[pin]} share card {pin[0]} output "
                                 f"{pin[1]} (a short); give each line its own output")
            used[pin] = line
        for key in (self.operating.read_terminal, self.operating.pulse_terminal, self.operating.gate_terminal):
            if key not in w.inputs.values():
                raise ValueError(f"operating: terminal {key!r} is not wired to any matrix input")
        if "ground" not in w.inputs.values():
            raise ValueError("wiring.inputs: no input is wired to 'ground'")
        thermal = self.temperature_terminals()
        for term, lim in self.limits.items():
            if term in thermal:
                if lim.max_temperature is None or lim.max_voltage is not None or lim.max_compliance is not None \
                        or lim.max_pulse_width is not None:
                    raise ValueError(f"limits.{term}: a temperature loop takes max_temperature (K) and optionally "
                                     f"max_ramp (K/min), e.g. {{max_temperature: 523.15, max_ramp: 20}}")
                continue
            if term not in w.inputs.values():
                raise ValueError(f"limits.{term}: no such wired terminal")
            if lim.max_voltage is None:
                raise ValueError(f"limits.{term}: max_voltage is required (V, the largest |level| it may drive)")
            if lim.max_temperature is not None or lim.max_ramp is not None:
                raise ValueError(f"limits.{term}: max_temperature and max_ramp apply to a temperature controller's "
                                 f"loop only")
        for term in thermal:
            if term not in self.limits:
                raise ValueError(f"limits.{term}: the temperature loop needs limits (max_temperature in K, at or "
                                 f"below the chuck's rating): nothing heats without them")
        self._check_ratings()
        self._check_operating_point()
        return self

    def array_tester(self) -> str | None:
        """The name of the bench's array tester (an ArC TWO), if it has one."""
        return next((n for n, i in self.instruments.items() if i.role == ARRAY_TESTER), None)

    def _check_array_tester(self) -> None:
        """An ArC TWO bench: the one instrument drives the chip in the three roles (terminals
        ``hi``: reads and DC, ``ch1``: programming pulses, ``ch2``: the word-line gate
        level), its map is its mapper file, and every limit fits its declared output range."""
        name = self.array_tester()
        inst = self.instruments[name]
        testers = [n for n, i in self.instruments.items() if i.role == ARRAY_TESTER]
        if len(testers) > 1:
            raise ValueError(f"instruments: {', '.join(testers)} are array testers; a bench drives one chip "
                             f"through one")
        others = [n for n, i in self.instruments.items() if i.role not in (ARRAY_TESTER, "temperature_controller")]
        if others:
            raise ValueError(f"instruments.{others[0]}: an ArC TWO bench drives the chip itself (reads, pulses, "
                             f"gates); remove the {self.instruments[others[0]].role} (a heated chuck may stay)")
        if self.wiring is not None:
            raise ValueError("wiring: an ArC TWO bench has no switch matrix; its channel map is the mapper file "
                             f"(instruments.{name}.mapper); remove wiring")
        terms = [f"{name}.{t}" for t in DRIVERS[inst.driver].terminals]
        self._check_array_tester_limits(name, inst, terms)
        op = self.operating
        for key, t in (("read_terminal", "hi"), ("pulse_terminal", "ch1"), ("gate_terminal", "ch2")):
            want = f"{name}.{t}"
            if getattr(op, key) != want:
                raise ValueError(f"operating.{key}: on an ArC TWO bench it is {want!r}, not {getattr(op, key)!r}")
            if want not in self.limits:
                raise ValueError(f"operating.{key}: terminal {want!r} has no limits; add limits.{want} (max_voltage)")

        def within(what: str, value: float, term: str, key: str) -> None:
            lim = getattr(self.limits[term], key)
            if lim is None:
                raise ValueError(f"operating.{what}: limits.{term} has no {key}; add it")
            if abs(value) > lim:
                raise ValueError(f"operating.{what} = {value:g} exceeds limits.{term}.{key} = {lim:g}; "
                                 f"lower the operating point or raise the limit")

        within("read_voltage", op.read_voltage, op.read_terminal, "max_voltage")
        within("strong_reset_voltage", op.strong_reset_voltage, op.pulse_terminal, "max_voltage")
        within("read_gate", op.read_gate, op.gate_terminal, "max_voltage")
        within("strong_reset_gate", op.strong_reset_gate, op.gate_terminal, "max_voltage")
        for spec_name in ("set", "reset"):
            spec = getattr(op, spec_name)
            within(f"{spec_name}.amplitude", spec.amplitude, op.pulse_terminal, "max_voltage")
            within(f"{spec_name}.width", spec.width, op.pulse_terminal, "max_pulse_width")
            within(f"{spec_name}.gate", spec.gate, op.gate_terminal, "max_voltage")

    def _check_array_tester_limits(self, name: str, inst, terms: list[str]) -> None:
        """Every limit of an ArC TWO bench inside the declared output range and pyarc2's
        pulse cap; a heated chuck's loop inside its ratings."""
        top = OUTPUT_RANGES[inst.output_range]
        rating = DRIVERS[inst.driver].rating
        thermal = self.temperature_terminals()
        for term in thermal:
            lim = self.limits.get(term)
            if lim is None or lim.max_temperature is None:
                raise ValueError(f"limits.{term}: the temperature loop needs limits (max_temperature in K, at or "
                                 f"below the chuck's rating): nothing heats without them")
            chuck = self.instruments[term.partition(".")[0]]
            top_t = min(chuck.chuck_rating, DRIVERS[chuck.driver].rating.max_temperature)
            if lim.max_temperature > top_t:
                raise ValueError(f"limits.{term}.max_temperature: {lim.max_temperature:g} K is above the chuck's "
                                 f"or its sensor's rating ({top_t:g} K)")
        for term, lim in self.limits.items():
            if term in thermal:
                continue
            if term not in terms:
                raise ValueError(f"limits.{term}: no such terminal; an ArC TWO bench has {', '.join(terms)} "
                                 f"(reads, programming pulses, word-line gate)")
            if lim.max_voltage is None:
                raise ValueError(f"limits.{term}: max_voltage is required (V, the largest |level| it may drive)")
            if lim.max_voltage > top:
                raise ValueError(f"limits.{term}.max_voltage: {lim.max_voltage:g} V is above the declared output "
                                 f"range ({inst.output_range}: ±{top:g} V); a limit must fit the range the "
                                 f"board is set to (output_range: ext is ±20 V)")
            if lim.max_pulse_width is not None and lim.max_pulse_width > rating.max_pulse_width:
                raise ValueError(f"limits.{term}.max_pulse_width: {lim.max_pulse_width:g} s is above pyarc2's "
                                 f"high-speed pulse cap ({rating.max_pulse_width:g} s); longer biases are DC levels")
            if lim.max_compliance is not None or lim.max_temperature is not None or lim.max_ramp is not None:
                raise ValueError(f"limits.{term}: an ArC TWO terminal takes max_voltage and max_pulse_width only "
                                 f"(it has no compliance: on a 1T1R array the access transistor limits the current)")
        for ch, v in (inst.channel_limits or {}).items():
            if v > top:
                raise ValueError(f"instruments.{name}.channel_limits.{ch}: {v:g} V is above the declared output "
                                 f"range ({inst.output_range}: ±{top:g} V)")

    def arc2_lines(self) -> dict[tuple[str, int], tuple[str, int]]:
        """The array tester's channel map, {(kind, index): ("channel"|"selector", n)}."""
        from .arc2_mapper import load_mapper

        inst = self.instruments[self.array_tester()]
        return load_mapper(inst.mapper, self._source.parent if self._source else None, self.chip.rows,
                           self.chip.cols)

    def temperature_terminals(self) -> list[str]:
        """'instrument.loop1' of every temperature controller (terminals not on the matrix)."""
        return [f"{n}.{t}" for n, i in self.instruments.items() if i.role == "temperature_controller"
                for t in DRIVERS[i.driver].terminals]

    def _terminal_driver(self, term: str):
        return DRIVERS[self.instruments[term.partition(".")[0]].driver]

    def _check_ratings(self) -> None:
        """Every limit inside what its instrument can deliver (a limit of 35 V on a bench
        meant for 3.5 V is a typo the file must not hide)."""
        for term, lim in self.limits.items():
            rating = self._terminal_driver(term).rating
            for key in ("max_voltage", "max_compliance", "max_pulse_width", "max_temperature"):
                value = getattr(lim, key)
                if value is None:
                    continue
                top = getattr(rating, key, None) if rating else None
                if top is None:
                    raise ValueError(f"limits.{term}.{key}: {self.instruments[term.partition('.')[0]].driver} "
                                     f"has no {key.removeprefix('max_').replace('_', ' ')} to limit; remove the key")
                if value > top:
                    raise ValueError(f"limits.{term}.{key}: {value:g} is above the instrument's own rating "
                                     f"({top:g}); a safety limit must be at or below it")
                chuck = self.instruments[term.partition(".")[0]].chuck_rating
                if key == "max_temperature" and chuck is not None and value > chuck:
                    raise ValueError(f"limits.{term}.max_temperature: {value:g} K is above the chuck's rating "
                                     f"(chuck_rating {chuck:g} K); a safety limit must be at or below it")
            rated = self._terminal_driver(term).rating
            if lim.max_compliance is None and rated is not None and getattr(rated, "max_compliance", None):
                raise ValueError(f"limits.{term}: a source-meter terminal needs max_compliance (A), the largest "
                                 f"current limit it may be given; add it (e.g. max_compliance: 1.0e-3)")

    def _check_operating_point(self) -> None:
        """The operating point (read, SET, RESET, gate levels) must be drivable: the right
        kind of terminal, with limits, and inside them.  Otherwise the first measurement
        would fail mid-run instead of here."""
        op = self.operating
        kinds = {"read_terminal": "source_meter", "pulse_terminal": "pulse_generator",
                 "gate_terminal": "pulse_generator"}
        for key, role in kinds.items():
            term = getattr(op, key)
            inst, _, t = term.partition(".")
            if inst not in self.instruments or self.instruments[inst].role != role:
                raise ValueError(f"operating.{key}: {term!r} is not a terminal of a {role}")
            if role == "pulse_generator" and not (t.startswith("ch") and t[2:].isdigit()):
                raise ValueError(f"operating.{key}: {term!r}: pulse-generator terminals are ch1, ch2, ...")
            if term not in self.limits:
                raise ValueError(f"operating.{key}: terminal {term!r} has no limits; "
                                 f"add limits.{term} (max_voltage, ...)")

        def within(what: str, value: float, term: str, key: str) -> None:
            top = getattr(self.limits[term], key)
            if top is None:
                raise ValueError(f"operating.{what}: limits.{term} has no {key}; add it")
            if not math.isfinite(value) or abs(value) > top:
                raise ValueError(f"operating.{what} = {value:g} exceeds limits.{term}.{key} = {top:g}; "
                                 f"lower the operating point or raise the limit")

        within("read_voltage", op.read_voltage, op.read_terminal, "max_voltage")
        within("strong_reset_voltage", op.strong_reset_voltage, op.read_terminal, "max_voltage")
        within("compliance", op.compliance, op.read_terminal, "max_compliance")
        within("read_gate", op.read_gate, op.gate_terminal, "max_voltage")
        within("strong_reset_gate", op.strong_reset_gate, op.gate_terminal, "max_voltage")
        for name in ("set", "reset"):
            spec = getattr(op, name)
            within(f"{name}.amplitude", spec.amplitude, op.pulse_terminal, "max_voltage")
            within(f"{name}.width", spec.width, op.pulse_terminal, "max_pulse_width")
            within(f"{name}.gate", spec.gate, op.gate_terminal, "max_voltage")

    def wiring_pins(self) -> dict[str, tuple[int, int]]:
        """Chip line name -> (card, output), groups expanded over the chip size."""
        out: dict[str, tuple[int, int]] = {}
        n = {"WL": self.chip.rows, "BL": self.chip.cols, "BLB": self.chip.cols}
        for name, pin in self.wiring.lines.items():
            key = f"wiring.lines.{name}"
            if isinstance(pin, PinGroup):
                kind = name.upper()
                if kind not in n:
                    raise ValueError(f"{key}: groups are WL, BL or BLB")
                last = pin.first_output + n[kind] - 1
                if last > 48:
                    raise ValueError(f"{key}: {n[kind]} lines from output {pin.first_output} "
                                     f"overrun the card's 48 outputs")
                for k in range(n[kind]):
                    out[f"{kind}{k}"] = (pin.card, pin.first_output + k)
            else:
                try:
                    kind, idx = parse_line(name)
                except ValueError as e:
                    raise ValueError(f"{key}: {e}") from None
                out[f"{kind}{idx}" if kind != "SL" else "SL"] = (pin.card, pin.output)
        return out

    # -- files --------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path) -> "BenchConfig":
        """Load a bench file by path or by shipped name (``sim``, ``hardware_example``)."""
        from labbench.paths import resolve_bench
        from labbench.yamlfile import load_validated

        path = resolve_bench(path)
        cfg = load_validated(cls, path, "bench file")
        cfg._source = path
        return cfg

    def device_model_path(self) -> Path:
        """The chip's device model: a shipped name, or a path relative to the bench file."""
        from labbench.paths import resolve_device_model

        return resolve_device_model(self.chip.device_model, self._source.parent if self._source else None)

    def build_world(self):
        """The simulated bench for the ``simulated: true`` instruments."""
        from labbench.physics.chip import Chip, compile_loops
        from labbench.physics.device_model import load_device_model
        from labbench.sim.wiring import Wiring
        from labbench.sim.world import SimWorld

        model = load_device_model(self.device_model_path())
        chip = Chip(model, self.chip.rows, self.chip.cols, seed=self.chip.seed, formed=self.chip.formed)
        compile_loops(model, chip.dtype)   # before any run: compilation must not swallow a signal
        tester = self.array_tester()
        if tester is not None:   # an ArC TWO: a simulated board on the world, no VISA instruments
            from labbench.sim.arc2 import Arc2Board

            world = SimWorld(chip, None)
            world.arc2 = Arc2Board(world, self.arc2_lines(), self.instruments[tester].board or 0)
            for name, inst in self.instruments.items():   # a heated chuck beside it, behind VISA
                if inst.role == "temperature_controller" and inst.simulated:
                    world.add(DRIVERS[inst.driver].sim_model, name, inst.address).set_rating(inst.chuck_rating)
            return world
        wiring = Wiring(self.wiring.matrix, dict(self.wiring.inputs), self.wiring_pins())
        world = SimWorld(chip, wiring)
        for name, inst in self.instruments.items():
            if inst.simulated:
                sim = world.add(DRIVERS[inst.driver].sim_model, name, inst.address)
                if inst.sim_fault is not None:
                    sim.schedule_fault(inst.sim_fault.kind, inst.sim_fault.after)
                if hasattr(sim, "set_limits"):   # an instrument that runs scripts holds the limits itself
                    sim.set_limits(self.interlock_limits(name, sim.TERMINALS))
                if inst.chuck_rating is not None:  # the chuck cannot get hotter than it is rated
                    sim.set_rating(inst.chuck_rating)
        return world

    def interlock_limits(self, name: str, terminals) -> dict[str, tuple[float, float | None]]:
        """{terminal: (max |V|, max compliance)} of one instrument, for its interlock: a
        terminal the bench file gives no limits may not source anything (0 V)."""
        out = {}
        for t in terminals:
            lim = self.limits.get(f"{name}.{t}")
            out[t] = (0.0, 1e-10) if lim is None else (lim.max_voltage, lim.max_compliance)
        return out


def _world_from_bench_file(path: Path):
    return BenchConfig.from_yaml(path).build_world()


def _register_with_simulator() -> None:
    # the simulator builds worlds from bench files through this hook; it never imports us
    from labbench.sim.world import set_bench_loader

    set_bench_loader(_world_from_bench_file)


_register_with_simulator()
