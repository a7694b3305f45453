"""Retention: program, then read at log-spaced times (virtual time in simulation)."""
from __future__ import annotations

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter

from .base import CELL_INDEX, BenchProcedure, require


class Retention(BenchProcedure):
    NAME = "retention"   # the CLI name: `labbench measure retention`
    set_pulses = IntegerParameter("SET pulses before the test", default=32, minimum=0)
    duration = FloatParameter("Duration", units="s", default=1e4)
    points = IntegerParameter("Reads (log-spaced)", default=20, minimum=2)
    # several programmed states in one run (cell k gets set_pulses·(k mod levels + 1)/levels
    # SET pulses): what separates a state-dependent drift or relaxation from a uniform one
    levels = IntegerParameter("Programmed levels", default=1, minimum=1)

    INDEX = {**CELL_INDEX, "read": ""}
    VALUES = {"time": "s", "conductance": "S", "read_voltage": "V", "read_gate": "V"}   # how it was read

    def check_parameters(self):
        require(self.duration > 1, f"duration={self.duration:g} s: reads are log-spaced from 1 s, "
                                   f"so the duration must be > 1 s")

    def planned_rows(self, n_cells):
        return n_cells * self.points

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        for k, (r, c, s) in enumerate(cells):
            b.reset_cell(r, c, s)
            n = int(round(self.set_pulses * (k % self.levels + 1) / self.levels))
            if n:
                b.pulse_cell(r, c, s, "set", n)
        t0 = b.now()
        times = np.concatenate([[0.0], np.logspace(0, np.log10(self.duration), self.points - 1)])
        for k, t in enumerate(times):
            wait = t0 + t - b.now()
            if wait > 0:
                b.sleep(wait)
            for (r, c, s) in cells:
                self.emit("results", {**self.cell_fields(r, c, s), "read": k,
                                      "time": b.now() - t0, "conductance": b.read_cell(r, c, s),
                                      "read_voltage": b.config.operating.read_voltage,
                                      "read_gate": b.config.operating.read_gate})
            self.progress(k + 1, len(times))
            if self.should_stop():
                return
