"""The adapter interface: what the roles and the Bench call on an instrument adapter.

An adapter (``labbench/instruments/drivers.py``) wraps one maintained third-party driver
(PyMeasure, QCoDeS) and offers the few calls below.  The roles check every value
against the bench file's limits *before* calling the adapter, so an adapter never
validates limits itself; it must only do exactly what each call says, and nothing more.

A new instrument needs a class that satisfies the Protocol of its role, built as
``factory(name, address, visa_library)`` (:class:`AdapterFactory`), and an entry in
``DRIVERS`` with a ``Rating``.  ``tests/test_adapter_protocols.py`` checks every
registered adapter against these Protocols, method names and parameter names both;
:func:`adapter_mismatches` runs the same check on any class.

Adapters may cache what they last set, to skip redundant writes, but ``off()`` /
``open_all()`` must never trust that cache (the source meters share one:
:class:`labbench.instruments.level_cache.LevelCache`).  Optional, outside the Protocols:
``resource()``, returning the PyVISA resource underneath (or ``None``), lets the Bench
record the commands written to the instrument for error messages.  A source meter's
adapter may also offer ``source_current(level, voltage_limit, nplc)`` (current source,
voltage limit, voltage measurement; the output left as it is) and ``measure_voltage() ->
(volts, in_compliance)``: ``SourceMeter.source_current`` uses them where they exist
(the PyMeasure 2450 and 2600 adapters).
"""
from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable

__all__ = ["AdapterFactory", "ArrayTesterAdapter", "PROTOCOLS", "PulseGeneratorAdapter", "SourceMeterAdapter",
           "SwitchMatrixAdapter", "adapter_mismatches"]


@runtime_checkable
class AdapterFactory(Protocol):
    """How the Bench builds an adapter: the adapter class itself, called with the bench
    file's instrument name, its VISA address and the VISA library (``""``/``None`` for
    PyVISA's default, ``"@py"``, a path, or the simulated backend's library object)."""

    def __call__(self, name: str, address: str, visa_library): ...


@runtime_checkable
class SourceMeterAdapter(Protocol):
    """A source-measure unit in voltage-source, current-measure mode (terminal ``hi``)."""

    def idn(self) -> str:
        """The instrument's identification (``*IDN?``), as one string."""
        ...

    def configure(self, compliance: float, nplc: float) -> None:
        """Voltage source, current measurement, current limit ``compliance`` (A),
        integration time ``nplc`` (power-line cycles).  Called once when the bench opens."""
        ...

    def set_voltage(self, v: float) -> None:
        """Source level ``v`` (V).  Does not switch the output on."""
        ...

    def output(self, on: bool) -> None:
        """Switch the output on or off, leaving the level as it is."""
        ...

    def measure_current(self) -> float:
        """One current reading (A) at the present level."""
        ...

    def biased(self) -> bool:
        """True unless the output is known to be off or known to be at 0 V.  When unsure
        (nothing set yet, after ``off()``), answer True: the Bench then sets 0 V before
        moving relays, so no source is switched live onto a line."""
        ...

    def off(self) -> None:
        """Leave the output at 0 V and off, whatever the adapter's cached state says
        (it may be wrong after an error or a restart): always write both, and forget
        the cache."""
        ...

    def settings(self) -> dict:
        """What the instrument reports now (queried, not cached), for the snapshot."""
        ...

    def errors(self) -> list:
        """Read and empty the instrument's error queue; ``[]`` if there were none."""
        ...

    def close(self) -> None:
        """Release the VISA session.  The Bench calls ``off()`` before this."""
        ...


@runtime_checkable
class PulseGeneratorAdapter(Protocol):
    """A pulse generator with numbered channels (terminals ``ch1``, ``ch2``, ...): one
    channel gives triggered bursts of programming pulses, another can hold a DC level."""

    def idn(self) -> str:
        """The instrument's identification (``*IDN?``), as one string."""
        ...

    def configure_pulse(self, ch: int, high: float, width: float, period: float, low: float = 0.0) -> None:
        """Channel ``ch``: pulses from ``low`` to ``high`` (V), ``width`` and ``period``
        (s), emitted on a manual/bus trigger only.  Change the settings in an order the
        instrument accepts at every step (width < period, low < high)."""
        ...

    def set_count(self, ch: int, n: int) -> None:
        """Channel ``ch`` emits ``n`` pulses (n >= 1) per trigger."""
        ...

    def set_load(self, ch: int, ohms: float) -> None:
        """Channel ``ch``'s load setting, ohms (``inf``: high impedance)."""
        ...

    def load(self, ch: int) -> float:
        """Channel ``ch``'s load setting as the instrument reports it (``inf``: high
        impedance)."""
        ...

    def set_dc(self, ch: int, level: float) -> None:
        """Channel ``ch`` holds the DC ``level`` (V).  Does not switch the output on."""
        ...

    def output(self, ch: int, on: bool) -> None:
        """Switch channel ``ch``'s output on or off."""
        ...

    def trigger(self) -> None:
        """Fire one trigger: every pulsed channel emits its burst."""
        ...

    def off(self) -> None:
        """Every channel's output off, whatever the adapter's cached state says (it may
        be wrong): always write it, and forget the cache."""
        ...

    def settings(self) -> dict:
        """Per-channel settings reported by the instrument now, for the snapshot."""
        ...

    def errors(self) -> list:
        """Read and empty the instrument's error queue; ``[]`` if there were none."""
        ...

    def close(self) -> None:
        """Release the VISA session.  The Bench calls ``off()`` before this."""
        ...


@runtime_checkable
class SwitchMatrixAdapter(Protocol):
    """A relay matrix: paths are ``(card, input, output)`` tuples (Normal configuration
    mode: card = module number, input 1-14, output 1-48)."""

    def idn(self) -> str:
        """The instrument's identification (``*IDN?``), as one string."""
        ...

    def configure(self) -> None:
        """Open every relay, then set the single-route connection rule (closing a new
        path on an input or output releases the old one).  Called when the bench opens."""
        ...

    def set_paths(self, paths: list[tuple[int, int, int]]) -> None:
        """Make exactly ``paths`` conduct: open every other closed relay first (break
        before make), then close the new ones."""
        ...

    def closed_paths(self) -> set[tuple[int, int, int]]:
        """What this adapter last closed (its own record, no query)."""
        ...

    def open_all(self) -> None:
        """Open every relay on every card, whatever the adapter's record says, and
        clear the record."""
        ...

    def connections(self) -> set[tuple[int, int, int]]:
        """The closed paths as the instrument reports them now (queried)."""
        ...

    def settings(self) -> dict:
        """Connection rule and closed paths reported by the instrument now."""
        ...

    def errors(self) -> list:
        """Read and empty the instrument's error queue; ``[]`` if there were none."""
        ...

    def close(self) -> None:
        """Release the VISA session.  The Bench calls ``open_all()`` before this."""
        ...


@runtime_checkable
class TemperatureControllerAdapter(Protocol):
    """A temperature controller's control loop on a heated chuck (K throughout)."""

    def idn(self) -> str:
        """The instrument's identification string."""
        ...

    def set_setpoint(self, kelvin: float, ramp: float) -> None:
        """Set the loop's set point; ``ramp`` K/min (0: no ramp, the set point applies at once)."""
        ...

    def setpoint(self) -> float:
        """The loop's set point (K)."""
        ...

    def heater(self, on: bool) -> None:
        """Heater on (its highest range) or off."""
        ...

    def temperature(self) -> float:
        """One reading of the control sensor (K)."""
        ...

    def off(self) -> None:
        """Heater off (the chuck cools passively).  Must not raise if already off."""
        ...

    def settings(self) -> dict:
        """The loop's settings, for the run's metadata."""
        ...

    def errors(self) -> list:
        """What the instrument reports as errors since the last call; ``[]`` if none."""
        ...

    def close(self) -> None:
        """Release the VISA session.  The Bench calls ``off()`` before this."""
        ...


@runtime_checkable
class ArrayTesterAdapter(Protocol):
    """An array tester (an ArC TWO) that addresses each cell itself: no routing, the levels
    relative to the lines as the bench file's operating point gives them.  Built by
    ``Arc2Bench`` as ``factory(name, instrument_config, lines, library, range_volts)``."""

    def idn(self) -> str:
        """The board's identification, as one string."""
        ...

    def read(self, row: int, col: int, side: int, v: float, gate: float) -> float:
        """Current (A) of one device read at ``v`` with its word line at ``gate``."""
        ...

    def read_row(self, row: int, cols, v: float, gate: float):
        """Currents (A) of a row's devices in columns ``cols``, (len(cols), 2), in one read."""
        ...

    def pulse(self, row: int, col: int, side: int, set_: bool, amplitude: float, width: float, gate: float,
              n: int) -> None:
        """``n`` pulses of ``amplitude`` V and ``width`` s: SET (bit line high) or RESET."""
        ...

    def off(self) -> None:
        """Every channel idle (floating or grounded, as the bench file says), whatever was queued."""
        ...

    def settings(self) -> dict:
        """The board's settings and channel map, for the snapshot."""
        ...

    def errors(self) -> list:
        """Errors the instrument holds; ``[]`` if none."""
        ...

    def close(self) -> None:
        """Release the board.  The Bench calls ``off()`` before this."""
        ...


#: role (as in the bench file and ``DRIVERS``) -> the Protocol its adapters satisfy
PROTOCOLS: dict[str, type] = {
    "source_meter": SourceMeterAdapter,
    "pulse_generator": PulseGeneratorAdapter,
    "switch_matrix": SwitchMatrixAdapter,
    "temperature_controller": TemperatureControllerAdapter,
    "array_tester": ArrayTesterAdapter,
}


def protocol_methods(protocol: type) -> dict[str, inspect.Signature]:
    """The public methods a Protocol declares, with their signatures (``self`` dropped)."""
    out = {}
    for name, member in vars(protocol).items():
        if name.startswith("_") or not callable(member):
            continue
        sig = inspect.signature(member)
        out[name] = sig.replace(parameters=list(sig.parameters.values())[1:])
    return out


def _shape(sig: inspect.Signature) -> list[tuple[str, object, bool]]:
    return [(p.name, p.kind, p.default is not inspect.Parameter.empty) for p in sig.parameters.values()]


def _params(sig: inspect.Signature) -> str:
    """``(ch, high, width, period, low=...)``: names and defaults, no annotations."""
    return "(" + ", ".join(str(p.replace(annotation=inspect.Parameter.empty))
                           for p in sig.parameters.values()) + ")"


def adapter_mismatches(cls: type, protocol: type) -> list[str]:
    """Why ``cls`` does not satisfy ``protocol``: a missing method, or one whose
    parameters differ in name, order, kind or having a default.  ``[]`` if it does.

    ``isinstance``/``issubclass`` with a runtime-checkable Protocol only test that the
    names exist; this compares the signatures too."""
    problems = []
    for name, want in protocol_methods(protocol).items():
        member = inspect.getattr_static(cls, name, None)
        if member is None or not callable(member):
            problems.append(f"{cls.__name__}.{name}: missing (required by {protocol.__name__})")
            continue
        if isinstance(member, (staticmethod, classmethod)):
            got = inspect.signature(getattr(cls, name))
        else:
            sig = inspect.signature(member)
            got = sig.replace(parameters=list(sig.parameters.values())[1:])
        if _shape(got) != _shape(want):
            problems.append(f"{cls.__name__}.{name}{_params(got)}: {protocol.__name__} "
                            f"requires {name}{_params(want)}")
    return problems
