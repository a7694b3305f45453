"""Endurance: repeated full SET / full RESET, reading LRS and HRS each cycle."""
from __future__ import annotations

from pymeasure.experiment import IntegerParameter

from .base import CELL_INDEX, BenchProcedure


class Endurance(BenchProcedure):
    NAME = "endurance"   # the CLI name: `labbench measure endurance`
    cycles = IntegerParameter("Cycles", default=100, minimum=1)
    set_pulses = IntegerParameter("SET pulses per cycle", default=64, minimum=1)

    INDEX = {**CELL_INDEX, "cycle": ""}
    VALUES = {"g_lrs": "S", "g_hrs": "S"}

    def planned_rows(self, n_cells):
        return n_cells * self.cycles

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        for k, (r, c, s) in enumerate(cells):
            for cyc in range(self.cycles):
                b.pulse_cell(r, c, s, "set", self.set_pulses)
                g_lrs = b.read_cell(r, c, s)
                b.reset_cell(r, c, s)
                g_hrs = b.read_cell(r, c, s)
                self.emit("results", {**self.cell_fields(r, c, s), "cycle": cyc,
                                      "g_lrs": g_lrs, "g_hrs": g_hrs})
                if self.should_stop():
                    return
            self.progress(k + 1, len(cells))
