"""Roles: what a procedure asks of an instrument, with the bench's safety limits.

Every value is checked against the limits of the terminal it reaches *before* the
adapter is called, so an instrument never sees a value outside them.  Each role keeps the
values it last sent (``last_sent``), so a bench display (the live view) shows the levels
without a second VISA transaction in the middle of a run's own.
"""
from __future__ import annotations

import math
from numbers import Real

from typing import TYPE_CHECKING

from labbench.errors import SafetyError

if TYPE_CHECKING:
    from .config import TerminalLimits


def _check(terminal: str, limits: TerminalLimits | None, *, voltage=None, compliance=None, width=None):
    if limits is None:
        raise SafetyError(f"{terminal}: the bench file has no limits for this terminal; "
                          f"add limits.{terminal} (max_voltage, ...) before driving it")
    if voltage is not None:
        _finite(terminal, "level", voltage, "V")
    if voltage is not None and abs(voltage) > limits.max_voltage:
        raise SafetyError(f"{terminal}: {voltage:g} V exceeds limits.{terminal}.max_voltage = "
                          f"{limits.max_voltage:g} V; nothing was sent")
    _positive_within(terminal, "compliance", compliance, "A", limits.max_compliance, "max_compliance")
    _positive_within(terminal, "pulse width", width, "s", limits.max_pulse_width, "max_pulse_width")


def _finite(terminal: str, what: str, value, unit: str) -> None:
    """A value sent to an instrument is a finite real number (NaN compares False with
    every limit, so it would pass a plain range check)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise SafetyError(f"{terminal}: {what} {value!r} {unit} is not a finite number; nothing was sent")


def _positive_within(terminal: str, what: str, value, unit: str, limit, key: str) -> None:
    """``value`` (if given) must lie in (0, limit]; a missing limit refuses too."""
    if value is None:
        return
    _finite(terminal, what, value, unit)
    if limit is None:
        raise SafetyError(f"{terminal}: no limits.{terminal}.{key} in the bench file")
    if not 0 < value <= limit:
        raise SafetyError(f"{terminal}: {what} {value:g} {unit} outside (0, {limit:g}] "
                          f"(limits.{terminal}.{key}); nothing was sent")


class SourceMeter:
    def __init__(self, name: str, adapter, limits: dict[str, TerminalLimits]):
        self.name, self.adapter = name, adapter
        self.terminal = f"{name}.hi"
        self.limits = limits.get(self.terminal)
        self.last_sent = {"output": False, "level": 0.0, "compliance": None}

    def configure(self, compliance: float, nplc: float) -> None:
        _check(self.terminal, self.limits, compliance=compliance)
        self.adapter.configure(compliance, nplc)
        self.compliance = compliance
        self.last_sent["compliance"] = compliance

    def check(self, v: float) -> None:
        """Raise SafetyError if ``v`` breaks this terminal's limits."""
        _check(self.terminal, self.limits, voltage=v)

    def set_voltage(self, v: float) -> None:
        _check(self.terminal, self.limits, voltage=v)
        self.adapter.set_voltage(v)
        self.last_sent["level"] = v

    def output(self, on: bool) -> None:
        self.adapter.output(on)
        self.last_sent["output"] = bool(on)

    compliance: float | None = None

    def measure_current(self) -> float:
        """A reading that can be right: a finite number of amperes no larger than the
        compliance the instrument was given (plus its 5 % over-range).  Anything else is
        a garbled or truncated reply, and the run stops before recording it."""
        from labbench.errors import InstrumentFault

        i = self.adapter.measure_current()
        if isinstance(i, bool) or not isinstance(i, Real) or not math.isfinite(i):
            raise InstrumentFault(f"{self.name}: read {i!r} A, not a finite number (a garbled reply?); the run "
                                  f"stops here, nothing of it is recorded; check the connection")
        limit = self.compliance if self.compliance is not None else (self.limits.max_compliance if self.limits
                                                                      else None)
        if limit is not None and abs(i) > 1.05 * limit + 1e-12:
            raise InstrumentFault(f"{self.name}: read {i:g} A, beyond the {limit:g} A compliance it was given: "
                                  f"a truncated or garbled reply; the run stops here, nothing of it is recorded; "
                                  f"check the connection")
        return float(i)

    def off(self) -> None:
        self.adapter.off()
        self.last_sent.update(output=False, level=0.0)

    # -- current source (optional: adapters that have source_current/measure_voltage) --------
    def source_current(self, level: float, voltage_limit: float, nplc: float = 1.0) -> None:
        """Current source of ``level`` A with the voltage clamped at ``voltage_limit`` V
        (the output is left as it is: switch it with :meth:`output`).  The limit is what
        the line can reach, so it is checked as a level against ``max_voltage``; |level|
        against ``max_compliance``.  Call :meth:`configure` to return to voltage mode."""
        _check(self.terminal, self.limits, voltage=voltage_limit)
        _finite(self.terminal, "current level", level, "A")
        if level != 0:
            _positive_within(self.terminal, "current level", abs(level), "A", self.limits.max_compliance,
                             "max_compliance")
        _positive_within(self.terminal, "voltage limit", abs(voltage_limit), "V", self.limits.max_voltage,
                         "max_voltage")
        self._optional("source_current")(level, voltage_limit, nplc)
        self.compliance = None
        self.voltage_limit = abs(voltage_limit)

    voltage_limit: float | None = None

    def _optional(self, method: str):
        """An adapter hook outside the Protocol (labbench.instruments.protocols)."""
        fn = getattr(self.adapter, method, None)
        if fn is None:
            raise NotImplementedError(f"{self.name}: its adapter ({type(self.adapter).__name__}) has no "
                                      f"{method}(): it cannot source current")
        return fn

    def measure_voltage(self) -> tuple[float, bool]:
        """(V, in compliance) while sourcing current: one voltage reading and whether the
        source sits at its voltage limit."""
        from labbench.errors import InstrumentFault

        v, tripped = self._optional("measure_voltage")()
        if isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v):
            raise InstrumentFault(f"{self.name}: read {v!r} V, not a finite number (a garbled reply?)")
        if self.voltage_limit is not None and abs(v) > 1.02 * self.voltage_limit + 0.05:
            raise InstrumentFault(f"{self.name}: read {v:g} V, beyond the {self.voltage_limit:g} V limit it was "
                                  f"given: a garbled reply; check the connection")
        return float(v), bool(tripped)


SOURCE_IMPEDANCE = 50.0   # ohm: the pulse generators' output impedance


class PulseGenerator:
    """Levels here are the voltages at the cell.  A generator programs its level for its
    load setting L behind a 50 ohm source; a cell is high impedance, so it sees the
    open-circuit voltage, (L + 50)/L times the programmed level (twice with the 50 ohm
    default, once with high_z).  Every level is checked against the limits as the cell
    gets it, then sent as the level to program."""

    def __init__(self, name: str, adapter, limits: dict[str, TerminalLimits], loads: dict[int, float] | None = None):
        self.name, self.adapter = name, adapter
        self.limits = limits
        self.loads = dict(loads or {})        # channel -> ohms (inf: high impedance)
        self.last_sent: dict[int, dict] = {}  # channel -> level (V at the cell), width, output

    def delivered_factor(self, ch: int) -> float:
        load = self.loads.get(ch, float("inf"))
        return 1.0 if math.isinf(load) else (load + SOURCE_IMPEDANCE) / load

    def _lim(self, ch: int):
        return f"{self.name}.ch{ch}", self.limits.get(f"{self.name}.ch{ch}")

    def apply_loads(self) -> None:
        """Set each channel's declared load and read it back: the levels programmed here
        assume it, so a mismatch is an error before any level is sent."""
        from labbench.errors import InstrumentFault

        def show(v):
            return "high_z" if math.isinf(v) else f"{v:g} ohm"

        for ch, ohms in sorted(self.loads.items()):
            self.adapter.set_load(ch, ohms)
            got = self.adapter.load(ch)
            if (math.isinf(ohms) != math.isinf(got)) or (not math.isinf(ohms) and abs(got - ohms) > 1e-6 * ohms):
                actual = 1.0 if math.isinf(got) else (got + SOURCE_IMPEDANCE) / got
                raise InstrumentFault(f"{self.name}.ch{ch}: output load reads back {show(got)}, the bench file "
                                      f"declares {show(ohms)}; the levels at the cell would be off by a factor "
                                      f"{actual / self.delivered_factor(ch):.3g}, so nothing else was sent: check "
                                      f"the instrument's load setting")

    def check(self, ch: int, level: float, width: float | None = None) -> None:
        """Raise SafetyError if ``level`` (and ``width``) break channel ``ch``'s limits."""
        term, lim = self._lim(ch)
        _check(term, lim, voltage=level, width=width)

    def configure_pulse(self, ch: int, high: float, width: float, period: float | None = None,
                        low: float = 0.0) -> None:
        term, lim = self._lim(ch)
        _check(term, lim, voltage=high, width=width)
        _check(term, lim, voltage=low)
        k = self.delivered_factor(ch)
        self.adapter.configure_pulse(ch, high / k, width, period or 2.0 * width, low / k)
        self._sent(ch).update(level=high, width=width, mode="pulse")

    def _sent(self, ch: int) -> dict:
        return self.last_sent.setdefault(ch, {"output": False, "level": 0.0, "width": None, "mode": "dc"})

    def set_count(self, ch: int, n: int) -> None:
        if int(n) < 1:
            raise ValueError(f"pulse count must be >= 1, got {n}")
        self.adapter.set_count(ch, int(n))

    def set_dc(self, ch: int, level: float) -> None:
        term, lim = self._lim(ch)
        _check(term, lim, voltage=level)
        self.adapter.set_dc(ch, level / self.delivered_factor(ch))
        self._sent(ch).update(level=level, width=None, mode="dc")

    def output(self, ch: int, on: bool) -> None:
        self.adapter.output(ch, on)
        self._sent(ch)["output"] = bool(on)

    def trigger(self) -> None:
        self.adapter.trigger()

    def off(self) -> None:
        self.adapter.off()
        for sent in self.last_sent.values():
            sent["output"] = False


class SwitchMatrix:
    def __init__(self, name: str, adapter):
        self.name, self.adapter = name, adapter
        self.last_sent = {"closed": 0}       # relays closed by the last command

    def configure(self) -> None:
        self.adapter.configure()

    def changes(self, paths) -> bool:
        """Would :meth:`set_paths` move any relay?"""
        return set(paths) != self.adapter.closed_paths()

    def set_paths(self, paths) -> None:
        """Exactly these (card, input, output) paths closed; the others open."""
        paths = list(paths)
        self.adapter.set_paths(paths)
        self.last_sent["closed"] = len(paths)

    def connections(self) -> set[tuple[int, int, int]]:
        return self.adapter.connections()

    def off(self) -> None:
        self.adapter.open_all()
        self.last_sent["closed"] = 0


class TemperatureController:
    """A heated chuck's control loop.  Set points are checked against ``max_temperature``
    (at or below the chuck's rating, which the bench file checks) and ramps against
    ``max_ramp`` before anything is sent; a reading that cannot be a chuck's temperature
    stops the run.  ``off()`` switches the heater off: the chuck then cools passively."""

    def __init__(self, name: str, adapter, limits: dict[str, TerminalLimits]):
        self.name, self.adapter = name, adapter
        self.terminal = f"{name}.loop1"
        self.limits = limits.get(self.terminal)
        self.last_sent = {"heater": False, "setpoint": None, "ramp": 0.0}   # for a bench display

    def check(self, kelvin: float, ramp: float | None = None) -> None:
        """Raise SafetyError if a set point (K) or ramp (K/min) breaks the loop's limits."""
        _positive_within(self.terminal, "set point", kelvin, "K",
                         self.limits.max_temperature if self.limits else None, "max_temperature")
        if ramp:
            _positive_within(self.terminal, "ramp", ramp, "K/min", self.limits.max_ramp, "max_ramp")

    def set_temperature(self, kelvin: float, ramp: float | None = None) -> None:
        """Heat (or let cool) towards ``kelvin``, ramping at ``ramp`` K/min if given."""
        self.check(kelvin, ramp)
        self.adapter.set_setpoint(float(kelvin), float(ramp or 0.0))
        self.adapter.heater(True)
        self.last_sent.update(heater=True, setpoint=float(kelvin), ramp=float(ramp or 0.0))

    def temperature(self) -> float:
        from labbench.errors import InstrumentFault

        t = self.adapter.temperature()
        if isinstance(t, bool) or not isinstance(t, Real) or not math.isfinite(t) or not 1.0 <= t <= 2000.0:
            raise InstrumentFault(f"{self.name}: read {t!r} K, not a chuck temperature (a garbled reply or an "
                                  f"open sensor?); the heater is switched off with the other outputs; check the "
                                  f"sensor and its cable")
        return float(t)

    def settle(self, bench, kelvin: float, tolerance: float = 0.5, hold: float = 60.0, timeout: float = 7200.0,
               poll: float = 5.0, should_stop=lambda: False) -> float:
        """Wait until the chuck reads within ``tolerance`` K of ``kelvin`` for ``hold`` s
        (read every ``poll`` s of the bench's clock); returns the seconds waited.  Not
        PyMeasure's ``wait_for_temperature``: that sleeps in wall time, and a simulated
        bench must wait in its virtual time (``bench.sleep``)."""
        from labbench.errors import InstrumentFault

        t0 = bench.now()
        inside = None
        while True:
            now = bench.now()
            if abs(self.temperature() - kelvin) <= tolerance:
                inside = now if inside is None else inside
                if now - inside >= hold:
                    return now - t0
            else:
                inside = None
            if now - t0 > timeout:
                raise InstrumentFault(f"{self.name}: the chuck did not settle at {kelvin:g} K (±{tolerance:g} K for "
                                      f"{hold:g} s) within {timeout:g} s; it reads {self.temperature():.2f} K: check "
                                      f"the heater range, its fuse and the sensor")
            if should_stop():
                return now - t0
            bench.sleep(poll)

    def off(self) -> None:
        self.adapter.off()
        self.last_sent["heater"] = False
