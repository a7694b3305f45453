"""pyarc2's small types, as the installed pyarc2 0.6.0 defines them.

The compiled module's enums are PyO3 classes: fixed instances as class attributes,
no constructor (``BiasOrder()`` is a TypeError), compared by identity of their variant.
``IdleMode`` and ``ArC2Config`` are pyarc2's own Python (an ``Enum`` and a dataclass),
reproduced as they are, so a name only the docs mention (``IdleMode.Gnd`` in
``get_iter``'s example) is an AttributeError here as there.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["ArC2Config", "ArC2Error", "AuxDACFn", "BiasOrder", "ControlMode", "DataMode", "IODir", "IdleMode",
           "LogicLevel", "OutputRange", "PanicException", "ReadAfter", "ReadAt", "ReadType", "WaitFor"]


class ArC2Error(Exception):
    """Catch-all exception for low-level ArC2 errors (pyarc2's, message as libarc2 words it)."""


ArC2Error.__module__ = "pyarc2"


class PanicException(BaseException):
    """What a PyO3 extension raises when the Rust code underneath panics (pyarc2 unwraps
    libarc2's results in its immediate reads, and libarc2 indexes its 64-channel tables
    without a bounds check): a BaseException, so ``except Exception`` does not catch it."""


PanicException.__module__ = "pyo3_runtime"


class _Variant:
    """One variant of a PyO3 enum class: a fixed instance, hashable, equal to itself only."""

    __slots__ = ("_name",)

    def __new__(cls, *args, **kw):
        raise TypeError(f"No constructor defined for {cls.__name__}")

    @classmethod
    def _make(cls, name: str):
        obj = object.__new__(cls)
        object.__setattr__(obj, "_name", name)
        return obj

    def __setattr__(self, key, value):
        raise AttributeError(f"'{type(self).__name__}' object attribute '{key}' is read-only")

    def __repr__(self) -> str:
        return f"<pyarc2.{type(self).__name__} object at {id(self):#x}>"


def _variants(cls, names, str_form: bool = False):
    for n in names:
        setattr(cls, n, cls._make(n))
    if str_form:
        cls.__str__ = lambda self: f"{type(self).__name__}.{self._name}"
    cls.__module__ = "pyarc2"
    return cls


class BiasOrder(_Variant):
    """Order of biasing in the multi-crosspoint pulse and read operations (Rows, Cols)."""


class ControlMode(_Variant):
    """Daughterboard routing: Internal (on-board package) or Header (probe card)."""


class DataMode(_Variant):
    """Which values :meth:`Instrument.pick_one` returns: Words, Bits (32 each) or All (64)."""


class ReadType(_Variant):
    """Decode a slab as currents or voltages."""


class AuxDACFn(_Variant):
    """Auxiliary DAC functions: SELL/SELH (selector low/high levels), ARB1-4, CREF, CSET, LGC."""


class LogicLevel(_Variant):
    """Digital IO logic levels (LL1V8, LL3V3, LL5V)."""


class OutputRange(_Variant):
    """Analogue channel range: STD (±10 V) or EXT (±20 V)."""


class IODir(_Variant):
    """Direction of a GPIO cluster (IN, OUT)."""


_variants(BiasOrder, ("Rows", "Cols"))
_variants(ControlMode, ("Header", "Internal"))
_variants(DataMode, ("Words", "Bits", "All"))
_variants(ReadType, ("Current", "Voltage"))
_variants(AuxDACFn, ("SELL", "SELH", "ARB1", "ARB2", "ARB3", "ARB4", "CREF", "CSET", "LGC"))
_variants(LogicLevel, ("LL1V8", "LL3V3", "LL5V"))
_variants(OutputRange, ("STD", "EXT"), str_form=True)
_variants(IODir, ("IN", "OUT"), str_form=True)

#: the largest magnitude each output range reaches (V): libarc2's DAC code spans ±10 V or ±20 V
RANGE_VOLTS = {"STD": 10.0, "EXT": 20.0}


class ReadAfter(_Variant):
    """When a ramp reads: after each Pulse, each Block, the whole Ramp, or Never."""

    def __repr__(self) -> str:
        return f"ReadAfter<{self._name}>"

    def __str__(self) -> str:
        return self._name.lower()

    @staticmethod
    def from_str(r):
        if not isinstance(r, str):
            raise TypeError(f"argument 'r': '{type(r).__name__}' object cannot be converted to 'PyString'")
        for name in ("Pulse", "Ramp", "Block", "Never"):
            if name.lower() == r:
                return ReadAfter._make(name)   # a new object, as pyarc2's: equal only to itself
        raise ValueError("Unknown ReadAfter")


_variants(ReadAfter, ("Block", "Never", "Pulse", "Ramp"))


class ReadAt(_Variant):
    """At what voltage a ramp reads: Bias (the ramp's), Arb(voltage), or Never."""

    __slots__ = ("_v",)

    @staticmethod
    def Arb(voltage):
        from .convert import f32

        obj = ReadAt._make("Arb")
        object.__setattr__(obj, "_v", f32(voltage, "voltage"))
        return obj

    def voltage(self) -> float:
        if self._name != "Arb":
            raise Exception("No voltage associated")   # pyarc2 raises a bare Exception
        return float(self._v)


_variants(ReadAt, ("Bias", "Never"))


class WaitFor(_Variant):
    """Termination condition of :meth:`Instrument.read_train`."""

    __slots__ = ("_n",)

    @classmethod
    def _of(cls, name, n):
        obj = cls._make(name)
        object.__setattr__(obj, "_n", n)
        return obj

    @staticmethod
    def Nanos(nanos):
        from .convert import uint

        return WaitFor._of("Nanos", uint(nanos, "nanos", 64))

    @staticmethod
    def Millis(millis):
        from .convert import uint

        return WaitFor._of("Millis", uint(millis, "millis", 64))

    @staticmethod
    def Iterations(iterations):
        from .convert import uint

        return WaitFor._of("Iterations", uint(iterations, "iters", 64))


WaitFor.__module__ = "pyarc2"


class IdleMode(Enum):
    """
    IdleMode is used with :meth:`Instrument.finalise_operation` to
    mark at what state the channels should be left. Selecting
    :attr:`Float` will disconnect all channels and leave their state
    unchanged. `SoftGnd` will reset all channels to arbitrary voltage
    operation and set them to 0.0 V. `HardGnd` will disconnect all
    channels from the DACs and connect them to hard ground.
    """

    Float: int = 0b01
    SoftGnd: int = 0b10
    HardGnd: int = 0b11


@dataclass
class ArC2Config:
    """Convenience dataclass to group ArC2 configuration options."""

    idleMode: IdleMode   # pyarc2's field names
    controlMode: ControlMode
