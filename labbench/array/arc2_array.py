"""BenchArray on an ArC TWO: a row of devices read in one pyarc2 call.

On a 1T1R array with a common source line, an ArC TWO reads every bit line of a row at
once (the row's gate high, SL at -V, every bit line at 0 V: ``Arc2Bench.read_row``), so
the sign and conductance reads of a training step cost one read per row instead of one
per device; pulses and RESETs stay per cell (each a pyarc2 program).
"""
from __future__ import annotations

import numpy as np

from .bench_array import BenchArray

__all__ = ["Arc2BenchArray"]


class Arc2BenchArray(BenchArray):
    """:class:`BenchArray` whose reads go a row at a time (``bench.read_row``)."""

    def __init__(self, bench, *args, **kw):
        if not hasattr(bench, "read_row"):
            raise ValueError(f"bench {bench.config.name!r} has no ArC TWO: use BenchArray")
        super().__init__(bench, *args, **kw)

    def _rows(self) -> np.ndarray:
        cols = range(self.col0, self.col0 + self.cols)
        return np.stack([self.bench.read_row(self.row0 + r, cols) for r in range(self.rows)])

    def read_conductances(self) -> np.ndarray:
        out = self._rows()
        self.counters.conductance_reads += 2 * self.rows * self.cols
        return out

    def read_signs(self) -> np.ndarray:
        g = self._rows()
        self.counters.sign_reads += self.rows * self.cols
        return self._signs_of(g)
