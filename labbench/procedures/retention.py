"""Retention: program, then read at log-spaced times (virtual time in simulation).

With ``temperature`` > 0 it is a bake: the cells are programmed at room temperature, the
bench's temperature controller ramps the chuck to ``temperature`` K and waits until it
holds there (``settle_tolerance`` K for a minute), and the reads start then (time 0 is the
moment the chuck settled).  The rows carry the bake's set point as ``temperature`` (what
the retention fit groups by) and each read's chuck reading as ``chuck_temperature``; the
heater goes off with the other outputs at the end.  Bakes at two or more temperatures fit
the activation energy (``labbench fit`` on the runs together).
"""
from __future__ import annotations

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter

from .base import CELL_INDEX, BenchProcedure, check_bake, require


class Retention(BenchProcedure):
    NAME = "retention"   # the CLI name: `labbench measure retention`
    set_pulses = IntegerParameter("SET pulses before the test", default=32, minimum=0)
    duration = FloatParameter("Duration", units="s", default=1e4)
    points = IntegerParameter("Reads (log-spaced)", default=20, minimum=2)
    # several programmed states in one run (cell k gets set_pulses·(k mod levels + 1)/levels
    # SET pulses): what separates a state-dependent drift or relaxation from a uniform one
    levels = IntegerParameter("Programmed levels", default=1, minimum=1)
    temperature = FloatParameter("Bake temperature (0 = no bake, the chuck as it is)", units="K", default=0.0)
    ramp = FloatParameter("Chuck ramp", units="K/min", default=10.0)
    settle_tolerance = FloatParameter("Chuck settled within", units="K", default=0.5)

    INDEX = {**CELL_INDEX, "read": ""}
    VALUES = {"time": "s", "conductance": "S", "read_voltage": "V", "read_gate": "V",   # how it was read
              "temperature": "K", "chuck_temperature": "K"}   # the bake's set point (NaN: none) and the reading

    def check_parameters(self):
        require(self.duration > 1, f"duration={self.duration:g} s: reads are log-spaced from 1 s, "
                                   f"so the duration must be > 1 s")
        check_bake(self, "473.15 for 200 °C")

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
        tc = b.temperature_controller
        bake = self.temperature > 0
        if bake:
            tc.set_temperature(self.temperature, self.ramp if self.ramp > 0 else None)
            tc.settle(b, self.temperature, tolerance=self.settle_tolerance, should_stop=self.should_stop)
            if self.should_stop():
                return
        t0 = b.now()
        times = np.concatenate([[0.0], np.logspace(0, np.log10(self.duration), self.points - 1)])
        for k, t in enumerate(times):
            wait = t0 + t - b.now()
            if wait > 0:
                b.sleep(wait)
            chuck = tc.temperature() if tc is not None else float("nan")
            for (r, c, s) in cells:
                self.emit("results", {**self.cell_fields(r, c, s), "read": k,
                                      "time": b.now() - t0, "conductance": b.read_cell(r, c, s),
                                      "read_voltage": b.config.operating.read_voltage,
                                      "read_gate": b.config.operating.read_gate,
                                      "temperature": self.temperature if bake else float("nan"),
                                      "chuck_temperature": chuck})
            self.progress(k + 1, len(times))
            if self.should_stop():
                return
