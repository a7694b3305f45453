"""DC I-V: 0 → +V_set_max → 0 → −V_reset_max → 0 under the SMU's compliance."""
from __future__ import annotations

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter

from .base import CELL_INDEX, BenchProcedure, require


class IVSweep(BenchProcedure):
    NAME = "iv-sweep"   # the CLI name: `labbench measure iv-sweep`
    v_max = FloatParameter("Positive (SET) limit", units="V", default=1.5)
    v_min = FloatParameter("Negative (RESET) limit", units="V", default=-1.5)
    points = IntegerParameter("Points per branch", default=30, minimum=2)
    cycles = IntegerParameter("Cycles", default=1, minimum=1)

    INDEX = {**CELL_INDEX, "cycle": "", "step": ""}
    VALUES = {"voltage": "V", "current": "A"}

    def sweep(self) -> np.ndarray:
        up = np.linspace(0, self.v_max, self.points)
        dn = np.linspace(0, self.v_min, self.points)
        return np.concatenate([up, up[::-1][1:], dn[1:], dn[::-1][1:]])

    def check_parameters(self):
        require(self.v_max > 0, f"v_max={self.v_max:g} V: the SET branch needs v_max > 0")
        require(self.v_min < 0, f"v_min={self.v_min:g} V: the RESET branch needs v_min < 0")

    def planned_rows(self, n_cells):
        return n_cells * self.cycles * len(self.sweep())

    def sourced_levels(self):
        return [self.v_min, self.v_max]

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        volts = self.sweep()
        for k, (r, c, s) in enumerate(cells):
            for cyc in range(self.cycles):
                for step, v in enumerate(volts):
                    self.emit("results", {**self.cell_fields(r, c, s), "cycle": cyc,
                                          "step": step, "voltage": float(v),
                                          "current": b.read_current(r, c, s, float(v))})
                if self.should_stop():
                    return
            b.source_meter.set_voltage(0.0)
            self.progress(k + 1, len(cells))
