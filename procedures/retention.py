"""Retention: program, then read at log-spaced times (virtual time in simulation)."""
from __future__ import annotations

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter

from .base import CELL_INDEX, BenchProcedure


class Retention(BenchProcedure):
    set_pulses = IntegerParameter("SET pulses before the test", default=32, minimum=0)
    duration = FloatParameter("Duration", units="s", default=1e4)
    points = IntegerParameter("Reads (log-spaced)", default=20, minimum=2)

    INDEX = {**CELL_INDEX, "read": ""}
    VALUES = {"time": "s", "conductance": "S"}

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        for (r, c, s) in cells:
            b.reset_cell(r, c, s)
            if self.set_pulses:
                b.pulse_cell(r, c, s, "set", self.set_pulses)
        t0 = b.now()
        times = np.concatenate([[0.0], np.logspace(0, np.log10(self.duration), self.points - 1)])
        for k, t in enumerate(times):
            wait = t0 + t - b.now()
            if wait > 0:
                b.sleep(wait)
            for (r, c, s) in cells:
                self.emit("results", {**self.cell_fields(r, c, s), "read": k,
                                      "time": b.now() - t0, "conductance": b.read_cell(r, c, s)})
            self.progress(k + 1, len(times))
            if self.should_stop():
                return
