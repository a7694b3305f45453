"""Adapters: the few calls the roles need, over maintained third-party drivers.

No SCPI is written here except where the driver lacks the feature (said at the spot).
Adapters remember what they last set and skip redundant writes (the source meters
through :class:`~labbench.instruments.level_cache.LevelCache`): a pulse-then-read loop
then costs one matrix write, one trigger and one reading.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Callable

from .error_queue import MAX_ERRORS, drain_error_queue  # noqa: F401 - MAX_ERRORS re-exported
from .level_cache import LevelCache

_ids = itertools.count(1)


# -- source meters ----------------------------------------------------------------------


class PyMeasureKeithley2450(LevelCache):
    def __init__(self, name: str, address: str, visa_library):
        from pymeasure.instruments.keithley import Keithley2450

        self.drv = Keithley2450(address, visa_library=visa_library)

    def idn(self) -> str:
        return self.drv.id

    def resource(self):
        """The PyVISA resource underneath (the bench records the commands written to it)."""
        return getattr(self.drv.adapter, "connection", None)

    def configure(self, compliance: float, nplc: float) -> None:
        self.drv.apply_voltage(compliance_current=compliance)
        self.drv.measure_current(nplc=nplc)

    def _write_voltage(self, v: float) -> None:
        self.drv.source_voltage = v

    def _write_output(self, on: bool) -> None:
        self.drv.enable_source() if on else self.drv.disable_source()

    def measure_current(self) -> float:
        return float(self.drv.current)

    def source_current(self, level: float, voltage_limit: float, nplc: float = 1.0) -> None:
        """Current source, voltage limit, voltage measurement (outside the Protocol).
        The 2450 switches its output off when the source function changes."""
        self.forget()           # the cached level is a voltage: unknown in current mode
        self.drv.apply_current(compliance_voltage=voltage_limit)
        self.drv.source_current = level
        self.drv.measure_voltage(nplc=nplc)

    def measure_voltage(self) -> tuple[float, bool]:
        v = float(self.drv.voltage)
        return v, self.drv.ask(":SOUR:CURR:VLIM:TRIP?").strip() == "1"

    def _write_off(self) -> None:
        self.drv.source_voltage = 0.0
        self.drv.disable_source()

    def settings(self) -> dict:
        d = self.drv
        return {"source_mode": d.source_mode, "source_voltage": d.source_voltage,
                "compliance_current": d.compliance_current, "current_nplc": d.current_nplc,
                "output": bool(d.source_enabled)}

    def errors(self) -> list:
        # PyMeasure's check_errors loops until the instrument says 0: a garbled bus never does
        return drain_error_queue(lambda: self.drv.ask(":SYST:ERR?"))

    def close(self) -> None:
        self.drv.adapter.close()
        # PyMeasure's Adapter.__del__ closes again at interpreter exit, when PyVISA's
        # modules are half torn down (a TypeError traceback); it skips a None connection.
        self.drv.adapter.connection = None


class QCoDeSKeithley2450(LevelCache):
    def __init__(self, name: str, address: str, visa_library):
        from qcodes.instrument_drivers.Keithley import Keithley2450

        self.drv = Keithley2450(f"{name}_{next(_ids)}", address, visalib=visa_library or None)

    def idn(self) -> str:
        return ",".join(str(v) for v in self.drv.get_idn().values())

    def resource(self):
        """The PyVISA resource underneath (the bench records the commands written to it)."""
        return self.drv.visa_handle

    def configure(self, compliance: float, nplc: float) -> None:
        self.drv.source_function("voltage")
        self.drv.sense_function("current")
        self.drv.source.limit(compliance)
        self.drv.sense.nplc(nplc)

    def _write_voltage(self, v: float) -> None:
        self.drv.source.voltage(v)

    def _write_output(self, on: bool) -> None:
        self.drv.output_enabled(on)

    def measure_current(self) -> float:
        return float(self.drv.sense.current())

    def _write_off(self) -> None:
        self.drv.source.voltage(0.0)
        self.drv.output_enabled(False)

    def settings(self) -> dict:
        d = self.drv
        return {"source_function": d.source_function(), "source_voltage": d.source.voltage(),
                "limit": d.source.limit(), "nplc": d.sense.nplc(), "output": d.output_enabled()}

    def errors(self) -> list:
        return drain_error_queue(lambda: self.drv.ask(":SYST:ERR?"))

    def close(self) -> None:
        self.drv.close()


# -- pulse generator --------------------------------------------------------------------
def _burst_state_arg(on: bool):
    """The value to give PyMeasure's ``burst_state`` so the instrument gets ``on``.

    PyMeasure 0.16's Keysight81160AChannel declares ``burst_state_values = [True,
    False]`` with ``map_values=True``, so the *list index* is sent: True -> 0 (burst
    off), False -> 1 (on).  Inverted (docs/upstream.md).  Pick the key whose index is
    the wanted state; once upstream uses a dict again this returns ``on`` unchanged.
    """
    from pymeasure.instruments.keysight.keysight81160A import Keysight81160AChannel

    values = Keysight81160AChannel.burst_state_values
    if isinstance(values, dict):
        return on
    return list(values)[int(on)]


class PyMeasureKeysight81160A:
    def __init__(self, name: str, address: str, visa_library):
        from pymeasure.instruments.keysight import Keysight81160A

        self.drv = Keysight81160A(address, visa_library=visa_library)
        self._state: dict[tuple[int, str], object] = {}
        self._channels: dict[int, object] = {}

    def idn(self) -> str:
        return self.drv.id

    def resource(self):
        """The PyVISA resource underneath (the bench records the commands written to it)."""
        return getattr(self.drv.adapter, "connection", None)

    def _channel(self, ch: int):
        c = self._channels.get(ch)
        if c is None:
            c = self._channels[ch] = self.drv.channels[ch]
        return c

    def _set(self, ch: int, attr: str, value) -> None:
        if self._state.get((ch, attr)) != value:
            if attr == "shape":
                self._state.pop((ch, "dc"), None)
            setattr(self._channel(ch), attr, value)
            self._state[(ch, attr)] = value

    def configure_pulse(self, ch: int, high: float, width: float, period: float, low: float = 0.0) -> None:
        self._set(ch, "shape", "PULS")
        self._set(ch, "trigger_mode", "MAN")
        # keep width < period at every step (the instrument refuses otherwise)
        old_width = self._state.get((ch, "pulse_width"))  # None: unknown, widen the period first
        if old_width is not None and width < old_width:
            self._set(ch, "pulse_width", width)
            self._set(ch, "pulse_period", period)
        else:
            self._set(ch, "pulse_period", period)
            self._set(ch, "pulse_width", width)
        if low < self._state.get((ch, "voltage_low"), low):
            self._set(ch, "voltage_low", low)
            self._set(ch, "voltage_high", high)
        else:
            self._set(ch, "voltage_high", high)
            self._set(ch, "voltage_low", low)

    def set_load(self, ch: int, ohms: float) -> None:
        # written as SCPI: the driver's output_load accepts numbers only, and high
        # impedance is :OUTP:LOAD INFinity
        value = "INF" if math.isinf(ohms) else f"{ohms:g}"
        self.drv.write(f":OUTP{ch}:LOAD {value}")
        self._state.clear()     # the levels the instrument holds were rescaled with the load

    def load(self, ch: int) -> float:
        """The channel's load setting as the instrument reports it (inf: high impedance)."""
        v = float(self.drv.ask(f":OUTP{ch}:LOAD?"))
        return float("inf") if v >= 9.9e37 else v

    def set_count(self, ch: int, n: int) -> None:
        # the 81160A's burst needs NCYC >= 2; a single pulse is burst off, one trigger
        if n >= 2:
            self._set(ch, "burst_ncycles", int(n))
        self._set(ch, "burst_state", _burst_state_arg(n >= 2))

    def set_dc(self, ch: int, level: float) -> None:
        # the driver's APPLy method: one write, without the ~200 µs of validation and
        # attribute machinery a property set costs (the gate level changes every cycle)
        if self._state.get((ch, "dc")) != level:
            self._channel(ch).apply_dc(level)
            self._state[(ch, "dc")] = level
            self._state[(ch, "shape")] = "DC"

    def output(self, ch: int, on: bool) -> None:
        self._set(ch, "output", bool(on))

    def trigger(self) -> None:
        self.drv.trigger()

    def off(self) -> None:
        self._state.clear()
        for ch in (1, 2):
            self.drv.channels[ch].output = False

    def settings(self) -> dict:
        out = {}
        for ch in (1, 2):
            c = self.drv.channels[ch]
            out[f"ch{ch}"] = {"shape": c.shape, "high": c.voltage_high, "low": c.voltage_low,
                              "width": c.pulse_width, "period": c.pulse_period,
                              "output": bool(c.output), "load": ("high_z" if math.isinf(ld := self.load(ch))
                                                                 else ld)}
        return out

    def errors(self) -> list:
        # PyMeasure's check_errors loops until the instrument says 0: a garbled bus never does
        return drain_error_queue(lambda: self.drv.ask(":SYST:ERR?"))

    def close(self) -> None:
        self.drv.adapter.close()
        # PyMeasure's Adapter.__del__ closes again at interpreter exit, when PyVISA's
        # modules are half torn down (a TypeError traceback); it skips a None connection.
        self.drv.adapter.connection = None


# -- switch matrix ----------------------------------------------------------------------
_CHAN = re.compile(r"(\d)(\d\d)(\d\d)(?=[,)]|$)")


class QCoDeSKeysightB220X:
    def __init__(self, name: str, address: str, visa_library):
        from qcodes.instrument_drivers.Keysight import KeysightB220X

        self.drv = KeysightB220X(f"{name}_{next(_ids)}", address, visalib=visa_library or None)
        self._closed: set[tuple[int, int, int]] = set()

    def idn(self) -> str:
        return ",".join(str(v) for v in self.drv.get_idn().values())

    def resource(self):
        """The PyVISA resource underneath (the bench records the commands written to it)."""
        return self.drv.visa_handle

    def configure(self) -> None:
        import warnings

        self.drv.disconnect_all()
        with warnings.catch_warnings():  # "free -> single keeps connections": none are left
            warnings.simplefilter("ignore", UserWarning)
            self.drv.connection_rule("single")
        self._closed.clear()

    def set_paths(self, paths: list[tuple[int, int, int]]) -> None:
        """Make exactly ``paths`` (card, input, output) conduct, touching only changed relays.

        QCoDeS's driver writes channel lists for card 0 only (Auto mode); a 32×32
        array needs several modules, addressed by card number in Normal mode, so the
        lists are written here in the driver's own ``:OPEN/:CLOS (@CIIOO,...)`` form.
        """
        want = set(paths)
        stale = self._closed - want
        new = [p for p in paths if p not in self._closed]
        # open first (break before make), in one message; through the driver's own VISA
        # handle: QCoDeS's write() adds ~100 µs of instrumentation, and routing changes
        # twice per pulse-then-read
        parts = ([":OPEN " + self._list(stale)] if stale else []) + ([":CLOS " + self._list(new)] if new else [])
        if parts:
            self.drv.visa_handle.write(";".join(parts))
        self._closed = want

    @staticmethod
    def _list(paths) -> str:
        return "(@" + ",".join(f"{c}{i:02d}{o:02d}" for c, i, o in sorted(paths)) + ")"

    def closed_paths(self) -> set[tuple[int, int, int]]:
        """What this adapter last closed (no query: it is the only writer)."""
        return set(self._closed)

    def open_all(self) -> None:
        self._closed.clear()
        self.drv.disconnect_all()

    def connections(self) -> set[tuple[int, int, int]]:
        reply = self.drv.ask(":CLOS:CARD? 0")
        return {(int(c), int(i), int(o)) for c, i, o in _CHAN.findall(reply)}

    def settings(self) -> dict:
        return {"connection_rule": self.drv.connection_rule(),
                "connections": sorted(self.connections())}

    def errors(self) -> list:
        return drain_error_queue(self.drv.get_error)

    def close(self) -> None:
        self.drv.close()


# -- temperature controllers ------------------------------------------------------------

#: the 335's standard event status bits that mean an error (manual, "Status system")
_ESR_ERRORS = {2: "query error", 4: "execution error", 5: "command error"}


class PyMeasureLakeShore335:
    """Loop 1 (output 1, input A) of a Lake Shore 335 on a heated chuck, over PyMeasure's
    LakeShore3xx driver."""

    def __init__(self, name: str, address: str, visa_library):
        from pymeasure.instruments.lakeshore import LakeShore3xx

        self.drv = LakeShore3xx(address, visa_library=visa_library)

    def idn(self) -> str:
        return self.drv.id

    def resource(self):
        return getattr(self.drv.adapter, "connection", None)

    def set_setpoint(self, kelvin: float, ramp: float) -> None:
        # PyMeasure's driver has no ramp: the 335's RAMP command (manual 6.6) directly
        self.drv.write(f"RAMP 1,{1 if ramp > 0 else 0},{ramp if ramp > 0 else 0:.1f}")
        self.drv.output_1.setpoint = float(kelvin)

    def setpoint(self) -> float:
        return float(self.drv.output_1.setpoint)

    def heater(self, on: bool) -> None:
        self.drv.output_1.range = "high" if on else "off"

    def temperature(self) -> float:
        return float(self.drv.input_A.kelvin)

    def off(self) -> None:
        self.drv.output_1.range = "off"

    def settings(self) -> dict:
        return {"setpoint_K": self.setpoint(), "heater_range": self.drv.output_1.range,
                "heater_percent": float(self.drv.output_1.output)}

    def errors(self) -> list:
        # the 335 has no error queue: a bad command sets bits of its event status register
        esr = int(float(self.drv.ask("*ESR?")))
        return [f"*ESR? {esr}: {what}" for bit, what in _ESR_ERRORS.items() if esr & (1 << bit)]

    def close(self) -> None:
        self.drv.adapter.close()


@dataclass(frozen=True)
class Rating:
    """What the instrument itself can deliver on a terminal.  A bench file's limits must
    lie inside it: a limit above the rating is a typo (35 V for 3.5 V), not a choice."""

    max_voltage: float | None = None
    max_compliance: float | None = None
    max_pulse_width: float | None = None
    max_temperature: float | None = None


@dataclass(frozen=True)
class DriverInfo:
    role: str
    factory: Callable
    terminals: tuple[str, ...]
    sim_model: str
    rating: Rating | None = None


# Ratings from the instruments' data sheets:
# - Keithley 2450: ±210 V source range, ±1.05 A (reference manual, "Source specifications").
# - Keysight 81160A: ±10 V level into high impedance (±5 V into 50 ohm); pulse period up to
#   1e6 s.  labbench caps a pulse at 1 s: anything longer is a DC level (use set_dc or the SMU).
_K2450 = Rating(max_voltage=210.0, max_compliance=1.05)
_K81160A = Rating(max_voltage=10.0, max_pulse_width=1.0)
# - Lake Shore 335 with a platinum RTD (the sensor of a hot chuck): the PT-100 curve ends at
#   800 K (335 manual, "Sensor input" specifications); the chuck's own rating is in the bench file.
_LS335 = Rating(max_temperature=800.0)

DRIVERS: dict[str, DriverInfo] = {
    "pymeasure.keithley2450": DriverInfo("source_meter", PyMeasureKeithley2450, ("hi",), "keithley2450", _K2450),
    "qcodes.keithley2450": DriverInfo("source_meter", QCoDeSKeithley2450, ("hi",), "keithley2450", _K2450),
    "pymeasure.keysight81160a": DriverInfo("pulse_generator", PyMeasureKeysight81160A, ("ch1", "ch2"),
                                           "keysight81160a", _K81160A),
    "qcodes.keysight_b220x": DriverInfo("switch_matrix", QCoDeSKeysightB220X, (), "keysight_b220x"),
    "pymeasure.lakeshore335": DriverInfo("temperature_controller", PyMeasureLakeShore335, ("loop1",),
                                         "lakeshore335", _LS335),
}


def _register_keithley2600() -> None:
    # Keithley 2636B: +-200 V, 1.5 A DC per channel (data sheet; 10 A only pulsed).
    # Terminal 'hi' is channel A (the source_meter role's), 'b' channel B.
    from .keithley2600 import PyMeasureKeithley2600, QCoDeSKeithley2600

    rating = Rating(max_voltage=200.0, max_compliance=1.5)
    DRIVERS["pymeasure.keithley2600b"] = DriverInfo("source_meter", PyMeasureKeithley2600, ("hi", "b"),
                                                    "keithley2600b", rating)
    DRIVERS["qcodes.keithley2600b"] = DriverInfo("source_meter", QCoDeSKeithley2600, ("hi", "b"),
                                                 "keithley2600b", rating)


_register_keithley2600()


def _register_arc2() -> None:
    # ArC TWO (pyarc2): terminals hi (reads), ch1 (programming pulses) and ch2 (the word-line
    # gate, through the selectors); a channel reaches ±10 V in the standard range, ±20 V in the
    # extended one (pyarc2's OutputRange; the bench file declares which, and every limit must fit
    # it); pyarc2's high-speed drivers pulse up to 500 ms (libarc2's cap).
    from .arc2 import Arc2Adapter

    DRIVERS["pyarc2"] = DriverInfo("array_tester", Arc2Adapter, ("hi", "ch1", "ch2"), "arc2",
                                   Rating(max_voltage=20.0, max_pulse_width=0.5))


_register_arc2()
