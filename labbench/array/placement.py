"""Placing a network's layers on arrays: which layer goes on the bench's chip (closed
loop through the instruments, cell by cell) and which on SimArray.  A library decision,
used by ``labbench train --array bench`` and by scripts alike."""
from __future__ import annotations

from dataclasses import dataclass, field

from labbench.physics import DeviceModel

from .arc2_array import Arc2BenchArray
from .bench_array import BenchArray
from .protocol import Array2T2R
from .sim_array import SimArray


@dataclass
class BenchPlacement:
    """An ``array_factory`` for the Trainer: the first layer that fits on the bench's chip
    goes on a :class:`BenchArray` (an :class:`Arc2BenchArray` on an ArC TWO), every other layer on a :class:`SimArray` of
    ``device_model``.  ``on_bench`` lists the layer indices placed on the bench."""

    bench: object
    device_model: DeviceModel
    seed: int = 0
    sense_offset: float = 0.0
    sense_noise: float = 0.0
    on_bench: list[int] = field(default_factory=list)

    def fits(self, rows: int, cols: int) -> bool:
        chip = self.bench.config.chip
        return rows <= chip.rows and cols <= chip.cols

    def __call__(self, rows: int, cols: int, layer: int) -> Array2T2R:
        if not self.on_bench and self.fits(rows, cols):
            self.on_bench.append(layer)
            # an ArC TWO reads a row per call: its array reads the layer's signs row by row
            array = Arc2BenchArray if hasattr(self.bench, "read_row") else BenchArray
            return array(self.bench, rows, cols)
        return SimArray(self.device_model, rows, cols, seed=self.seed * 1000 + layer,
                        sense_offset=self.sense_offset, sense_noise=self.sense_noise)
