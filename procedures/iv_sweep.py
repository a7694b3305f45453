"""DC I-V: 0 → +V_set_max → 0 → −V_reset_max → 0 under the SMU's compliance.

``gates`` repeats the sweep at several word-line voltages: near threshold the access
transistor's saturation current, not the SMU, limits the SET current, so each gate shows
its own compliance plateau (and a lower LRS after it).
"""
from __future__ import annotations

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from .base import CELL_INDEX, BenchProcedure, check_gate_levels, parse_levels, require


class IVSweep(BenchProcedure):
    NAME = "iv-sweep"   # the CLI name: `labbench measure iv-sweep`
    v_max = FloatParameter("Positive (SET) limit", units="V", default=1.5)
    v_min = FloatParameter("Negative (RESET) limit", units="V", default=-1.5)
    points = IntegerParameter("Points per branch", default=30, minimum=2)
    cycles = IntegerParameter("Cycles", default=1, minimum=1)
    gates = Parameter("Word-line gate voltages, comma-separated (empty = the read gate)", default="")

    INDEX = {**CELL_INDEX, "gate": "V", "cycle": "", "step": ""}
    VALUES = {"voltage": "V", "current": "A"}

    def sweep(self) -> np.ndarray:
        up = np.linspace(0, self.v_max, self.points)
        dn = np.linspace(0, self.v_min, self.points)
        return np.concatenate([up, up[::-1][1:], dn[1:], dn[::-1][1:]])

    def gate_levels(self) -> list[float | None]:
        return parse_levels(self.gates, "gates") or [None]

    def check_parameters(self):
        require(self.v_max > 0, f"v_max={self.v_max:g} V: the SET branch needs v_max > 0")
        require(self.v_min < 0, f"v_min={self.v_min:g} V: the RESET branch needs v_min < 0")
        self.gate_levels()

    def check_plan(self, bench) -> None:
        super().check_plan(bench)
        check_gate_levels(bench, [g for g in self.gate_levels() if g is not None], type(self).__name__)

    def planned_rows(self, n_cells):
        return n_cells * len(self.gate_levels()) * self.cycles * len(self.sweep())

    def sourced_levels(self):
        return [self.v_min, self.v_max]

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        volts = self.sweep()
        gates = self.gate_levels()
        read_gate = b.config.operating.read_gate
        for k, (r, c, s) in enumerate(cells):
            for gate in gates:
                for cyc in range(self.cycles):
                    for step, v in enumerate(volts):
                        self.emit("results", {**self.cell_fields(r, c, s), "gate": read_gate if gate is None else gate,
                                              "cycle": cyc, "step": step, "voltage": float(v),
                                              "current": b.read_current(r, c, s, float(v), gate=gate)})
                    if self.should_stop():
                        return
                b.source_meter.set_voltage(0.0)
            self.progress(k + 1, len(cells))
