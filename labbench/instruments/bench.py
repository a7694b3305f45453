"""The Bench: instruments by role, wiring, safety limits, a clock, cell-level helpers.

``with Bench.from_yaml("benches/sim.yaml") as bench: G = bench.read_cell(0, 0, 0)``.
The same file drives real instruments when ``simulated: false`` (PyVISA's default
library, or ``visa_library``).  Leaving the ``with`` block by any path, an exception
or Ctrl-C included, switches every output off and opens every relay.
"""
from __future__ import annotations

import logging
import sys
import time
from collections import deque
from functools import partial
from pathlib import Path

import numpy as np

import pyvisa

from labbench.physics.models import parse_direction, SET

from .config import BenchConfig
from .drivers import DRIVERS
from .roles import PulseGenerator, SafetyError, SourceMeter, SwitchMatrix, TemperatureController

log = logging.getLogger(__name__)

__all__ = ["Bench", "SafetyError"]


class Bench:
    def __new__(cls, config: BenchConfig, *args, **kw):
        # a bench file with an array tester (an ArC TWO) opens as an Arc2Bench
        if cls is Bench and config.array_tester() is not None:
            cls = Arc2Bench
        return super().__new__(cls)

    def __init__(self, config: BenchConfig, path: str | Path | None = None, *, record: bool = False):
        """``record``: keep every message each simulated instrument receives
        (``world.instruments[name].log``), from the first byte of opening on."""
        self.config = config
        self.path = Path(path) if path else None
        self.record = record
        self.world = None
        self.adapters: dict[str, object] = {}
        self.sent: dict[str, deque] = {}   # last commands written to each instrument
        self._closed = False
        self.unconfirmed_off: list[str] = []   # instruments the last outputs_off() could not confirm
        self._t0 = time.monotonic()
        self.source_meter = self.pulse_generator = self.switch_matrix = None
        self.temperature_controller = None   # a heated chuck, if the bench file has one
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_yaml(cls, path: str | Path, **kw) -> "Bench":
        """Open a bench file by path or shipped name (``sim``)."""
        cfg = BenchConfig.from_yaml(path)
        return cls(cfg, cfg._source, **kw)

    @classmethod
    def rehearsal(cls, path: str | Path) -> "Bench":
        """The same bench file with every instrument replaced by its simulated twin,
        recording every message each one receives (``labbench bench rehearse``)."""
        cfg = BenchConfig.from_yaml(path)
        sim = cfg.model_copy(update={"instruments": {
            n: i.model_copy(update={"simulated": True}) for n, i in cfg.instruments.items()}})
        sim._source = cfg._source
        return cls(sim, cfg._source, record=True)

    # -- opening ------------------------------------------------------------------------
    def _open(self) -> None:
        cfg = self.config
        sim_lib = None
        if any(i.simulated for i in cfg.instruments.values()):
            from labbench.sim.highlevel import LabbenchVisaLibrary

            self.world = cfg.build_world()
            if self.record:
                for inst in self.world.instruments.values():
                    inst.log = []
            sim_lib = LabbenchVisaLibrary.for_world(self.world)
        for name, inst in cfg.instruments.items():
            lib = sim_lib if inst.simulated else cfg.visa_library
            try:
                from labbench.store import quiet_prints

                with quiet_prints():     # QCoDeS's "Connected to: ..." goes to the log
                    adapter = DRIVERS[inst.driver].factory(name, inst.address, lib)
            except (ConnectionError, OSError, ValueError, UnicodeDecodeError, pyvisa.errors.Error) as e:
                raise instrument_fault(name, inst.address, e, "opening it") from None   # named, what to check
            except ImportError as e:
                if "pyvisa" not in str(e):
                    raise
                raise instrument_fault(name, inst.address, e, "opening it") from None
            self._record_commands(name, adapter)
            adapter = self.adapters[name] = NamedAdapter(name, inst.address, adapter)
            if inst.role == "source_meter" and self.source_meter is None:
                self.source_meter = SourceMeter(name, adapter, cfg.limits)
            elif inst.role == "pulse_generator" and self.pulse_generator is None:
                loads = {int(t.removeprefix("ch")): inst.load_ohms(t) for t in DRIVERS[inst.driver].terminals}
                self.pulse_generator = PulseGenerator(name, adapter, cfg.limits, loads)
            elif inst.role == "switch_matrix" and name == cfg.wiring.matrix:
                self.switch_matrix = SwitchMatrix(name, adapter)
            elif inst.role == "temperature_controller" and self.temperature_controller is None:
                self.temperature_controller = TemperatureController(name, adapter, cfg.limits)
        op = cfg.operating
        self._port = {term: port for port, term in sorted(cfg.wiring.inputs.items(), reverse=True)}
        self._pins = cfg.wiring_pins()
        self._pulse_ch = int(op.pulse_terminal.rpartition("ch")[2])
        self._gate_ch = int(op.gate_terminal.rpartition("ch")[2])
        # A previous run may have died where nothing could run (kill -9, power loss) and
        # left outputs on: bring every instrument to a safe state before anything else.
        failed = self.outputs_off()
        if failed:
            from labbench.errors import InstrumentFault

            raise InstrumentFault(f"could not bring {', '.join(failed)} to a safe state on opening (no valid "
                                  f"answer), so {'their' if len(failed) > 1 else 'its'} outputs may be on: switch "
                                  f"{'them' if len(failed) > 1 else 'it'} off at the front panel, check the "
                                  f"connection and power, then run again")
        self._set_loads()
        self.switch_matrix.configure()
        self.source_meter.configure(op.compliance, op.nplc)
        self._gate = None

    def _set_loads(self) -> None:
        """Each pulse-generator channel's load as the bench file declares it, set and read
        back (:meth:`PulseGenerator.apply_loads`): a mismatch stops here, before any level."""
        self.pulse_generator.apply_loads()

    # -- clock ----------------------------------------------------------------------------
    @property
    def simulated(self) -> bool:
        return self.world is not None

    def now(self) -> float:
        """Seconds since the bench opened: virtual in simulation, wall-clock on hardware."""
        return self.world.clock.now() if self.world is not None else time.monotonic() - self._t0

    #: waits instead of time.sleep on hardware when set (the live view's Abort ends the wait)
    waiter = None

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep {seconds} s")
        if self.world is not None:
            self.world.clock.advance(seconds)
        else:
            (self.waiter or time.sleep)(seconds)

    # -- routing and cell helpers ---------------------------------------------------------
    def _pin(self, line: str) -> tuple[int, int]:
        try:
            return self._pins[line]
        except KeyError:
            raise ValueError(f"chip line {line} is not wired (wiring.lines)") from None

    def route(self, row: int, col: int, side: int, mode: str) -> None:
        """Connect the cell for ``mode``: 'read' (SMU on the bit line), 'set' (pulse on
        the bit line), 'reset' (pulse on SL, bit line grounded) or 'strong_reset' (SMU on
        SL, bit line grounded); gate on WL, SL grounded for read/set."""
        self.switch_matrix.set_paths(self._plan(row, col, side, mode))

    def _plan(self, row: int, col: int, side: int, mode: str) -> list[tuple[int, int, int]]:
        cfg = self.config
        if not (0 <= row < cfg.chip.rows and 0 <= col < cfg.chip.cols and side in (0, 1)):
            raise IndexError(f"cell ({row}, {col}, side {side}) outside the "
                             f"{cfg.chip.rows}×{cfg.chip.cols} chip")
        op = cfg.operating
        bit = f"{'BL' if side == 0 else 'BLB'}{col}"
        gnd = self._port["ground"]
        if mode == "read":
            plan = [(op.read_terminal, bit), ("ground", "SL")]
        elif mode == "set":
            plan = [(op.pulse_terminal, bit), ("ground", "SL")]
        elif mode == "reset":
            plan = [(op.pulse_terminal, "SL"), ("ground", bit)]
        elif mode == "strong_reset":
            plan = [(op.read_terminal, "SL"), ("ground", bit)]
        else:
            raise ValueError(f"route mode must be 'read', 'set', 'reset' or 'strong_reset', got {mode!r}")
        plan.append((op.gate_terminal, f"WL{row}"))
        paths = []
        for term, line in plan:
            card, out = self._pin(line)
            paths.append((card, gnd if term == "ground" else self._port[term], out))
        return paths

    def _route_smu(self, row: int, col: int, side: int, mode: str) -> None:
        """Route for an SMU operation; a biased SMU is set to 0 V before relays move, so
        no source is ever switched live onto a line (sweep steps on one route do not)."""
        paths = self._plan(row, col, side, mode)
        if self.switch_matrix.changes(paths) and self.source_meter.adapter.biased():
            self.source_meter.set_voltage(0.0)
        self.switch_matrix.set_paths(paths)

    def _set_gate(self, level: float) -> None:
        if level != self._gate:
            self.pulse_generator.set_dc(self._gate_ch, level)
            self.pulse_generator.output(self._gate_ch, True)
            self._gate = level

    def read_current(self, row: int, col: int, side: int, voltage: float | None = None,
                     gate: float | None = None) -> float:
        """Current (A) of one device at ``voltage`` with word line ``gate`` (operating
        defaults); a gate near threshold makes the access transistor the compliance."""
        op = self.config.operating
        v = op.read_voltage if voltage is None else voltage
        gate = op.read_gate if gate is None else gate
        self.source_meter.check(v)  # every limit before anything is sent
        self.pulse_generator.check(self._gate_ch, gate)
        self._route_smu(row, col, side, "read")
        self._set_gate(gate)
        self.source_meter.set_voltage(v)
        self.source_meter.output(True)
        return self.source_meter.measure_current()

    def read_cell(self, row: int, col: int, side: int, voltage: float | None = None) -> float:
        """Conductance (S) of one device, read as I/V at the read voltage."""
        v = self.config.operating.read_voltage if voltage is None else voltage
        return self.read_current(row, col, side, v) / v

    def _checked_pulse(self, direction, n, amplitude, width, gate) -> tuple:
        """(direction, amplitude, width, gate) of a pulse, the operating defaults filled in,
        the count and level sane, and every limit checked before anything is sent or queued."""
        d = parse_direction(direction)
        spec = self.config.operating.set if d == SET else self.config.operating.reset
        amplitude = spec.amplitude if amplitude is None else amplitude
        width = spec.width if width is None else width
        gate = spec.gate if gate is None else gate
        if int(n) != n or n < 1:
            raise ValueError(f"pulse count must be a positive integer, got {n!r}")
        if amplitude <= 0:
            raise ValueError(f"pulse amplitude is the level at the cell, > 0 V; got {amplitude} "
                             f"(the direction, 'set' or 'reset', picks the line)")
        self.pulse_generator.check(self._pulse_ch, amplitude, width)
        self.pulse_generator.check(self._gate_ch, gate)
        return d, amplitude, width, gate

    def pulse_cell(self, row: int, col: int, side: int, direction="set", n: int = 1,
                   amplitude: float | None = None, width: float | None = None,
                   gate: float | None = None) -> None:
        """``n`` programming pulses: SET on the bit line, RESET on SL (operating defaults)."""
        d, amplitude, width, gate = self._checked_pulse(direction, n, amplitude, width, gate)
        pg = self.pulse_generator
        pg.configure_pulse(self._pulse_ch, amplitude, width)
        self.route(row, col, side, "set" if d == SET else "reset")
        self._set_gate(gate)
        pg.set_count(self._pulse_ch, n)
        pg.output(self._pulse_ch, True)
        pg.trigger()

    def reset_cell(self, row: int, col: int, side: int, voltage: float | None = None,
                   gate: float | None = None) -> float:
        """Full RESET of one device: the SMU holds SL at ``voltage`` (bit line grounded)
        for one reading, the DC equivalent of a long, high SL pulse.  Returns the current."""
        op = self.config.operating
        v = op.strong_reset_voltage if voltage is None else voltage
        gate = op.strong_reset_gate if gate is None else gate
        self.source_meter.check(v)  # every limit before anything is sent
        self.pulse_generator.check(self._gate_ch, gate)
        self._route_smu(row, col, side, "strong_reset")
        self._set_gate(gate)
        self.source_meter.output(True)
        self.source_meter.set_voltage(v)
        try:
            return self.source_meter.measure_current()
        finally:
            self.source_meter.set_voltage(0.0)

    # -- metadata -------------------------------------------------------------------------
    def snapshot(self) -> dict:
        cfg = self.config
        inst = {}
        for name, a in self.adapters.items():
            entry = cfg.instruments[name].model_dump()
            try:
                entry["idn"] = a.idn()
                entry["settings"] = a.settings()
            except Exception as e:  # noqa: BLE001 - a snapshot must not fail a run
                entry["error"] = f"{type(e).__name__}: {e}"
            inst[name] = entry
        from labbench.physics.device_model import load_device_model

        return {
            "bench": cfg.name,
            "file": str(self.path) if self.path else None,
            "simulated": self.simulated,
            "time": self.now(),
            "instruments": inst,
            "wiring": cfg.wiring.model_dump() if cfg.wiring is not None else None,
            "limits": {k: v.model_dump() for k, v in cfg.limits.items()},
            "operating": cfg.operating.model_dump(),
            "chip": {**cfg.chip.model_dump(),
                     "model": load_device_model(cfg.device_model_path()).to_dict()},
        }

    def _record_commands(self, name: str, adapter) -> None:
        """Keep the last commands written to each instrument, so an instrument error can
        name the command that caused it."""
        log = self.sent[name] = deque(maxlen=32)
        res = getattr(adapter, "resource", lambda: None)()
        if res is None:
            return
        write = res.write

        def recording_write(message, *args, **kw):
            log.append(message)
            return write(message, *args, **kw)

        res.write = recording_write

    def instrument_errors(self) -> list[str]:
        """Read every instrument's error queue; one line per error, naming the instrument
        and the last commands it was sent.  An unreadable queue is reported too."""
        out = []
        for name, a in self.adapters.items():
            try:
                errs = a.errors()
            except Exception as e:  # noqa: BLE001 - a dead instrument is itself an error
                out.append(f"{name}: could not read its error queue ({type(e).__name__}: {e})")
                continue
            for err in errs or []:
                text = err if isinstance(err, str) else ",".join(str(x) for x in err) \
                    if isinstance(err, (list, tuple)) else str(err)
                last = list(self.sent.get(name, ()))[-3:]
                out.append(f"{name}: {text.strip()}" + (f" (after {' | '.join(c.strip() for c in last)})"
                                                      if last else ""))
        return out

    def idns(self) -> dict[str, str]:
        return {name: a.idn() for name, a in self.adapters.items()}

    # -- closing --------------------------------------------------------------------------
    def outputs_off(self) -> list[str]:
        """Switch every output off and open every relay; returns what failed (logged)."""
        failed = []
        for role in (self.source_meter, self.pulse_generator, self.switch_matrix, self.temperature_controller):
            if role is None:
                continue
            try:
                role.off()
            except Exception as e:  # noqa: BLE001 - keep switching the others off
                log.error("could not switch %s off: %s", role.name, e)
                failed.append(role.name)
        self._gate = None
        self.unconfirmed_off = failed      # what a message about the outputs must not claim
        return failed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.outputs_off()
        for line in self.instrument_errors():
            log.warning("instrument error at close: %s", line)
        for name, a in self.adapters.items():
            try:
                a.close()
            except Exception as e:  # noqa: BLE001
                log.warning("closing %s: %s", name, e)
        if self.world is not None:
            from labbench.sim.highlevel import LabbenchVisaLibrary

            LabbenchVisaLibrary.release(self.world)

    def __enter__(self) -> "Bench":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if sys.is_finalizing():  # PyVISA has closed its sessions already
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def instrument_fault(name: str, address: str, e: BaseException, doing: str = ""):
    """An InstrumentFault naming the instrument, what went wrong in words, and what to check."""
    from labbench.errors import InstrumentFault

    text = str(e)
    if "Could not locate a VISA implementation" in text or "pyvisa_py" in text or "pyvisa-py" in text \
            and "No module" in text:
        return InstrumentFault(f"{name} ({address}): no VISA library on this machine to reach a real instrument: "
                               f"pip install 'labbench[hardware]' (pyvisa-py), or install NI-VISA / Keysight IO "
                               f"Libraries; docs/hardware.md has the GPIB and USB setup")
    if "CONN_LOST" in text or isinstance(e, ConnectionError) and "garbled" not in text:
        what = "the connection was lost" + (f" ({text})" if text and text != name else "")
        check = "its cable and power, then run again"
    elif "TMO" in text or "Timeout" in text:
        what = "it did not answer within the VISA timeout"
        check = "its power, address and cable; is it busy or in another command language?"
    elif isinstance(e, UnicodeDecodeError):
        what = "it answered bytes that are not text (a garbled reply)"
        check = "the cable, the read termination and, on serial, the baud rate"
    elif "RSRC_NFOUND" in text or "not found" in text.lower():
        what = f"no instrument answers at {address}"
        check = "the address in the bench file and that the instrument is on"
    else:
        what = f"it answered something that is not a valid reply ({text[:120]})"
        check = "the cable and the read termination"
    return InstrumentFault(f"{name} ({address}){' while ' + doing if doing else ''}: {what}; check {check}")


class NamedAdapter:
    """An adapter whose failures name the instrument: a lost connection, a timeout or a
    garbled reply from any call becomes an :class:`~labbench.errors.InstrumentFault`
    saying which instrument and what to check.  Safety refusals pass through unchanged."""

    def __init__(self, name: str, address: str, adapter):
        self._name, self._address, self._adapter = name, address, adapter

    @property
    def wrapped(self):
        return self._adapter

    def __getattr__(self, attr):
        value = getattr(self._adapter, attr)
        if not callable(value):
            return value
        import pyvisa

        from .roles import SafetyError

        def call(*args, **kw):
            try:
                return value(*args, **kw)
            except SafetyError:
                raise
            except (ConnectionError, pyvisa.errors.VisaIOError, UnicodeDecodeError, ValueError) as e:
                raise instrument_fault(self._name, self._address, e) from None

        call.__name__ = attr
        return call


class Arc2Bench(Bench):
    """A bench whose chip hangs on an ArC TWO (:mod:`labbench.instruments.arc2`): the same
    cell operations and roles as a :class:`Bench` (procedures, BenchArray and the live view
    run unchanged), each one a short pyarc2 program instead of routes and SCPI."""

    arc2 = None

    def _open(self) -> None:
        from labbench.errors import InstrumentFault

        from .arc2 import Arc2Adapter, Arc2PulseView, Arc2SourceMeterView, import_pyarc2
        from .config import OUTPUT_RANGES

        cfg = self.config
        name = cfg.array_tester()
        inst = cfg.instruments[name]
        if inst.simulated:
            from labbench.sim import arc2 as lib

            self.world = cfg.build_world()
            lib.plug(self.world.arc2)
            lines = self.world.arc2.lines
            attach = partial(lib.plug, self.world.arc2)
        else:
            lib = import_pyarc2()
            lines, attach = cfg.arc2_lines(), None
        adapter = Arc2Adapter(name, inst, lines, lib, OUTPUT_RANGES[inst.output_range], attach)
        self.arc2 = self.adapters[name] = adapter
        self.sent[name] = deque(maxlen=32)
        self.source_meter = SourceMeter(name, Arc2SourceMeterView(adapter), cfg.limits)
        self.pulse_generator = PulseGenerator(name, Arc2PulseView(adapter), cfg.limits,
                                              {1: float("inf"), 2: float("inf")})
        self._pulse_ch, self._gate_ch = 1, 2
        self._gate = None
        self._open_chuck()
        failed = self.outputs_off()
        if failed:
            raise InstrumentFault(f"could not bring {name} to its idle state on opening; check the USB cable "
                                  f"and power, then run again")

    def _open_chuck(self) -> None:
        """A heated chuck beside the ArC TWO (a VISA temperature controller), as Bench opens one."""
        cfg = self.config
        for name, inst in cfg.instruments.items():
            if inst.role != "temperature_controller":
                continue
            lib = cfg.visa_library
            if inst.simulated:
                from labbench.sim.highlevel import LabbenchVisaLibrary

                lib = LabbenchVisaLibrary.for_world(self.world)
            try:
                adapter = DRIVERS[inst.driver].factory(name, inst.address, lib)
            except (ConnectionError, OSError, ValueError, pyvisa.errors.Error) as e:
                raise instrument_fault(name, inst.address, e, "opening it") from None
            self._record_commands(name, adapter)
            self.adapters[name] = NamedAdapter(name, inst.address, adapter)
            self.temperature_controller = TemperatureController(name, self.adapters[name], cfg.limits)

    def route(self, row: int, col: int, side: int, mode: str) -> None:
        raise NotImplementedError("an ArC TWO has no switch matrix: each operation addresses its cell itself")

    def _cell(self, row: int, col: int, side: int) -> None:
        chip = self.config.chip
        if not (0 <= row < chip.rows and 0 <= col < chip.cols and side in (0, 1)):
            raise IndexError(f"cell ({row}, {col}, side {side}) outside the {chip.rows}×{chip.cols} chip")

    def read_current(self, row: int, col: int, side: int, voltage: float | None = None,
                     gate: float | None = None) -> float:
        op = self.config.operating
        v = op.read_voltage if voltage is None else voltage
        gate = op.read_gate if gate is None else gate
        self.source_meter.check(v)  # every limit before anything is queued
        self.pulse_generator.check(self._gate_ch, gate)
        self._cell(row, col, side)
        i = self.arc2.read(row, col, side, float(v), float(gate))
        self.source_meter.last_sent.update(level=v, output=False)
        return _finite_current(self.arc2.name, i)

    def read_row(self, row: int, cols=None, voltage: float | None = None, gate: float | None = None) -> np.ndarray:
        """Conductances (S) of every device of ``row`` (columns ``cols``), (n, 2), in one read."""
        op = self.config.operating
        v = op.read_voltage if voltage is None else voltage
        gate = op.read_gate if gate is None else gate
        cols = range(self.config.chip.cols) if cols is None else cols
        self.source_meter.check(v)
        self.pulse_generator.check(self._gate_ch, gate)
        for c in cols:
            self._cell(row, c, 0)
        i = self.arc2.read_row(row, list(cols), float(v), float(gate))
        for x in i.ravel():
            _finite_current(self.arc2.name, float(x))
        return i / v

    def pulse_cell(self, row: int, col: int, side: int, direction="set", n: int = 1,
                   amplitude: float | None = None, width: float | None = None,
                   gate: float | None = None) -> None:
        d, amplitude, width, gate = self._checked_pulse(direction, n, amplitude, width, gate)
        self._cell(row, col, side)
        self.arc2.pulse(row, col, side, d == SET, float(amplitude), float(width), float(gate), int(n))
        self.pulse_generator._sent(self._pulse_ch).update(level=amplitude, width=width, mode="pulse")

    def reset_cell(self, row: int, col: int, side: int, voltage: float | None = None,
                   gate: float | None = None) -> float:
        """Full RESET: one RESET pulse at ``strong_reset_voltage`` as long as one SMU reading
        of the SCPI bench (the device model's ``switching.dc_time``: the same bias through
        the same switching model).  Returns 0.0 (no current is read during it)."""
        op = self.config.operating
        v = op.strong_reset_voltage if voltage is None else voltage
        gate = op.strong_reset_gate if gate is None else gate
        self.pulse_cell(row, col, side, "reset", 1, amplitude=v, width=self.full_reset_width(), gate=gate)
        return 0.0

    def full_reset_width(self) -> float:
        from labbench.physics.device_model import load_device_model

        if "_reset_width" not in self.__dict__:
            self._reset_width = float(load_device_model(self.config.device_model_path()).switching.dc_time)
        return self._reset_width

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.outputs_off()
        for name, a in self.adapters.items():
            try:
                a.close()
            except Exception as e:  # noqa: BLE001
                log.warning("closing %s: %s", name, e)
        if self.world is not None and getattr(self.world, "arc2", None) is not None:
            from labbench.sim import arc2 as lib
            from labbench.sim.highlevel import LabbenchVisaLibrary

            lib.unplug(self.world.arc2)
            LabbenchVisaLibrary.release(self.world)


def _finite_current(name: str, i: float) -> float:
    import math

    from labbench.errors import InstrumentFault

    if not math.isfinite(i):
        raise InstrumentFault(f"{name}: read {i!r} A, not a finite number; the run stops here; check the "
                              f"daughterboard's mapping and the USB connection")
    return float(i)
