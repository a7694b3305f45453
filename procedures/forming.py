"""Forming: ramp each pristine device under compliance until it conducts."""
from __future__ import annotations

import numpy as np
from pymeasure.experiment import FloatParameter

from .base import CELL_INDEX, BenchProcedure


class Forming(BenchProcedure):
    v_start = FloatParameter("Start voltage", units="V", default=1.0)
    v_stop = FloatParameter("Stop voltage", units="V", default=3.4)
    v_step = FloatParameter("Step", units="V", default=0.1)
    formed_current = FloatParameter("Formed when current exceeds", units="A", default=5e-6)

    INDEX = {**CELL_INDEX, "step": ""}
    VALUES = {"voltage": "V", "current": "A", "formed": ""}

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        ramp = np.arange(self.v_start, self.v_stop + self.v_step / 2, self.v_step)
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
