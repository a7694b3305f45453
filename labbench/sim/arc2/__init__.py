"""A twin of pyarc2 (ArC TWO's Python library) on the simulated chip.

``from labbench.sim import arc2 as pyarc2`` reads like the real library: ``Instrument``,
``find_ids``, ``ArC2Error`` and the enums, with pyarc2 0.6.0's signatures and errors.  A
board is attached with :func:`plug` (the bench does this for a ``simulated: true`` ArC
TWO); it runs on a :class:`~labbench.sim.world.SimWorld`'s chip and virtual clock.

- ``types``: the enums, IdleMode, ArC2Config, ArC2Error (and PyO3's PanicException);
- ``convert``: arguments as PyO3 extracts them (TypeError/OverflowError as pyarc2 raises);
- ``board``: channels, selectors, the FIFO and output buffer, the cells' response;
- ``instrument``: the public ``Instrument`` API.
"""
from .board import ALL_BITS, ALL_WORDS, Arc2Board
from .instrument import Instrument, find_ids, plug, unplug
from .types import (ArC2Config, ArC2Error, AuxDACFn, BiasOrder, ControlMode, DataMode, IdleMode, IODir, LogicLevel,
                    OutputRange, PanicException, ReadAfter, ReadAt, ReadType, WaitFor)

LIBARC2_VERSION = "0.6.0"   # the library version this twin follows (pyarc2 0.6.0)

__all__ = ["ALL_BITS", "ALL_WORDS", "ArC2Config", "ArC2Error", "Arc2Board", "AuxDACFn", "BiasOrder", "ControlMode",
           "DataMode", "IODir", "IdleMode", "Instrument", "LIBARC2_VERSION", "LogicLevel", "OutputRange",
           "PanicException", "ReadAfter", "ReadAt", "ReadType", "WaitFor", "find_ids", "plug", "unplug"]
