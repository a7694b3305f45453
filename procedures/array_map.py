"""Array map: read every selected device once (conductance map of the chip)."""
from __future__ import annotations

from .base import BenchProcedure


class ArrayMap(BenchProcedure):
    INDEX = {"cell": "", "row": "", "col": "", "side": ""}
    VALUES = {"conductance": "S"}

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        for k, (r, c, s) in enumerate(cells):
            self.emit("results", {"cell": (r * b.config.chip.cols + c) * 2 + s, "row": r, "col": c,
                                  "side": s, "conductance": b.read_cell(r, c, s)})
            if k % 32 == 0:
                self.progress(k + 1, len(cells))
            if self.should_stop():
                return
