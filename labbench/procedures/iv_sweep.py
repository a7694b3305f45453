"""DC I-V: 0 → +V_set_max → 0 → −V_reset_max → 0 under the SMU's compliance.

``gates`` repeats the sweep at several word-line voltages: near threshold the access
transistor's saturation current, not the SMU, limits the SET current, so each gate shows
its own compliance plateau (and a lower LRS after it).

The RESET branch uses ``reset_gate`` (default: the bench's ``operating.strong_reset_gate``,
2.5 V in the shipped benches), not the SET gate: in RESET the transistor's source rides on
the device (source degeneration), and a SET gate of 0.7-0.9 V leaves a 40 µS device under
0.2 V at -1.5 V, never enough to reset it (physics.circuit).  ``reset_gate: same`` keeps the
SET gate on both branches, to show exactly that.
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
    reset_gate = Parameter("Word-line gate on the RESET branch, V (empty = the bench's strong_reset_gate; "
                           "'same' = the SET gate)", default="")

    INDEX = {**CELL_INDEX, "gate": "V", "cycle": "", "step": ""}
    VALUES = {"voltage": "V", "current": "A"}

    def sweep(self) -> np.ndarray:
        up = np.linspace(0, self.v_max, self.points)
        dn = np.linspace(0, self.v_min, self.points)
        return np.concatenate([up, up[::-1][1:], dn[1:], dn[::-1][1:]])

    def gate_levels(self) -> list[float | None]:
        return parse_levels(self.gates, "gates") or [None]

    def reset_gate_for(self, bench, gate):
        """The word line for the negative branch of the sweep at SET gate ``gate``."""
        text = str(self.reset_gate).strip().lower()
        if text == "same":
            return gate
        if not text:
            return bench.config.operating.strong_reset_gate
        return parse_levels(text, "reset_gate")[0]

    def check_parameters(self):
        require(self.v_max > 0, f"v_max={self.v_max:g} V: the SET branch needs v_max > 0")
        require(self.v_min < 0, f"v_min={self.v_min:g} V: the RESET branch needs v_min < 0")
        self.gate_levels()

    def check_plan(self, bench) -> None:
        super().check_plan(bench)
        levels = [g for g in self.gate_levels() if g is not None]
        levels += [g for g in (self.reset_gate_for(bench, None),) if g is not None]
        check_gate_levels(bench, levels, type(self).__name__)

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
                                              "current": b.read_current(
                                                  r, c, s, float(v),
                                                  gate=gate if v >= 0 else self.reset_gate_for(b, gate))})
                    if self.should_stop():
                        return
                b.source_meter.set_voltage(0.0)
            self.progress(k + 1, len(cells))
