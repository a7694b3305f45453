"""Forming: ramp each pristine device under compliance until it conducts."""
from __future__ import annotations

import math

import numpy as np
from pymeasure.experiment import FloatParameter

from .base import CELL_INDEX, MAX_PLANNED_ROWS, BenchProcedure, require


class Forming(BenchProcedure):
    NAME = "forming"   # the CLI name: `labbench measure forming`
    v_start = FloatParameter("Start voltage", units="V", default=1.0)
    v_stop = FloatParameter("Stop voltage", units="V", default=3.4)
    v_step = FloatParameter("Step", units="V", default=0.1)
    formed_current = FloatParameter("Formed when current exceeds", units="A", default=5e-6)

    INDEX = {**CELL_INDEX, "step": ""}
    VALUES = {"voltage": "V", "current": "A", "formed": ""}

    def check_parameters(self):
        require(self.v_step > 0, f"v_step={self.v_step:g} V: the ramp step must be > 0")
        require(self.v_start > 0, f"v_start={self.v_start:g} V: forming ramps up from a positive level")
        require(self.v_stop >= self.v_start, f"v_stop={self.v_stop:g} V is below v_start={self.v_start:g} V")
        require(self.formed_current > 0, f"formed_current={self.formed_current:g} A must be > 0")

    def steps(self) -> int:
        return int(math.floor((self.v_stop - self.v_start) / self.v_step + 0.5)) + 1

    def ramp(self) -> np.ndarray:
        return self.v_start + self.v_step * np.arange(self.steps())

    def planned_rows(self, n_cells):
        steps = self.steps()   # counted before any array is made (v_step=1e-9 would be GBs)
        return n_cells * steps if steps <= MAX_PLANNED_ROWS else MAX_PLANNED_ROWS + 1

    def sourced_levels(self):
        return [self.v_start, self.v_start + self.v_step * (self.steps() - 1)]

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        ramp = self.ramp()
        for k, (r, c, s) in enumerate(cells):
            for step, v in enumerate(ramp):
                i = b.read_current(r, c, s, float(v))
                formed = abs(i) >= self.formed_current
                self.emit("results", {**self.cell_fields(r, c, s), "step": step,
                                      "voltage": float(v), "current": i, "formed": int(formed)})
                if formed or self.should_stop():
                    break
            b.source_meter.set_voltage(0.0)
            b.reset_cell(r, c, s)  # leave formed devices in HRS
            self.progress(k + 1, len(cells))
