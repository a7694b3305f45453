"""Array map: read every selected device once (conductance map of the chip)."""
from __future__ import annotations

from .base import CELL_INDEX, BenchProcedure


class ArrayMap(BenchProcedure):
    NAME = "array-map"   # the CLI name: `labbench measure array-map`
    INDEX = dict(CELL_INDEX)
    VALUES = {"conductance": "S"}

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        for k, (r, c, s) in enumerate(cells):
            self.emit("results", {**self.cell_fields(r, c, s), "conductance": b.read_cell(r, c, s)})
            if k % 32 == 0:
                self.progress(k + 1, len(cells))
            if self.should_stop():
                return
