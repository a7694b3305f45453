"""Pulse trains: the data the fitter needs (DESIGN's tidy long format).

Per cell and cycle: a SET train of ``pulses`` gradual-SET pulses, reading after each,
then a RESET train of the same length.  ``pulse`` 0 is the read before the first pulse.
"""
from __future__ import annotations

from pymeasure.experiment import IntegerParameter

from .base import CELL_INDEX, BenchProcedure


class PulseTrain(BenchProcedure):
    NAME = "pulse-train"   # the CLI name: `labbench measure pulse-train`
    cycles = IntegerParameter("Cycles", default=3, minimum=1)
    pulses = IntegerParameter("Pulses per train", default=64, minimum=1)
    full_reset_first = IntegerParameter("Full RESET before the first cycle (0/1)", default=1)

    INDEX = {**CELL_INDEX, "cycle": "", "direction": "text", "pulse": ""}
    VALUES = {"conductance": "S", "time": "s"}

    def planned_rows(self, n_cells):
        return n_cells * self.cycles * 2 * (self.pulses + 1)

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        total, done = len(cells) * self.cycles, 0
        for k, (r, c, s) in enumerate(cells):
            if self.full_reset_first:
                b.reset_cell(r, c, s)
            for cycle in range(self.cycles):
                for direction in ("set", "reset"):
                    for p in range(self.pulses + 1):
                        if p:
                            b.pulse_cell(r, c, s, direction, 1)
                        self.emit("results", {**self.cell_fields(r, c, s), "cycle": cycle,
                                              "direction": direction, "pulse": p,
                                              "conductance": b.read_cell(r, c, s), "time": b.now()})
                    if self.should_stop():
                        return
                done += 1
                self.progress(done, total)
