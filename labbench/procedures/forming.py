"""Forming: ramp each pristine device under compliance until it conducts.

``mode=dc`` (default) ramps the SMU: each step is one DC reading, which biases the cell
for the SMU's reading time.  ``mode=pulse`` ramps SET pulses of ``pulse_width`` on the bit
line (the word line at ``gate`` limits the current) and reads after each.  The chip forms
through one switching model either way, so a longer bias forms at a lower voltage.
"""
from __future__ import annotations

import math

import numpy as np
from pymeasure.experiment import FloatParameter, ListParameter

from .base import CELL_INDEX, MAX_PLANNED_ROWS, BenchProcedure, PlanError, check_gate_levels, require


class Forming(BenchProcedure):
    NAME = "forming"   # the CLI name: `labbench measure forming`
    v_start = FloatParameter("Start voltage", units="V", default=1.0)
    v_stop = FloatParameter("Stop voltage", units="V", default=3.4)
    v_step = FloatParameter("Step", units="V", default=0.1)
    formed_current = FloatParameter("Formed when current exceeds", units="A", default=5e-6)
    mode = ListParameter("Ramp", choices=["dc", "pulse"], default="dc")
    pulse_width = FloatParameter("Pulse width (pulse mode)", units="s", default=1e-4)
    gate = FloatParameter("Word-line gate (pulse mode)", units="V", default=1.2)
    formed_conductance = FloatParameter("Formed when the read exceeds (pulse mode)", units="S", default=5e-6)

    INDEX = {**CELL_INDEX, "step": ""}
    VALUES = {"voltage": "V", "current": "A", "formed": ""}

    def check_parameters(self):
        require(self.v_step > 0, f"v_step={self.v_step:g} V: the ramp step must be > 0")
        require(self.v_start > 0, f"v_start={self.v_start:g} V: forming ramps up from a positive level")
        require(self.v_stop >= self.v_start, f"v_stop={self.v_stop:g} V is below v_start={self.v_start:g} V")
        require(self.formed_current > 0, f"formed_current={self.formed_current:g} A must be > 0")
        require(self.pulse_width > 0, f"pulse_width={self.pulse_width:g} s must be > 0")
        require(self.formed_conductance > 0, f"formed_conductance={self.formed_conductance:g} S must be > 0")

    def check_plan(self, bench) -> None:
        super().check_plan(bench)
        if self.mode == "pulse":
            from labbench.instruments.roles import SafetyError

            ch = int(bench.config.operating.pulse_terminal.rpartition("ch")[2])
            try:
                bench.pulse_generator.check(ch, float(self.ramp()[-1]), self.pulse_width)
            except SafetyError as e:
                raise PlanError(f"Forming: pulse ramp refused before the run: {e}") from None
            check_gate_levels(bench, [self.gate], "Forming")

    def steps(self) -> int:
        return int(math.floor((self.v_stop - self.v_start) / self.v_step + 0.5)) + 1

    def ramp(self) -> np.ndarray:
        return self.v_start + self.v_step * np.arange(self.steps())

    def planned_rows(self, n_cells):
        steps = self.steps()   # counted before any array is made (v_step=1e-9 would be GBs)
        return n_cells * steps if steps <= MAX_PLANNED_ROWS else MAX_PLANNED_ROWS + 1

    def sourced_levels(self):
        if self.mode == "pulse":
            return []   # the SMU only reads at the read voltage
        return [self.v_start, self.v_start + self.v_step * (self.steps() - 1)]

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        ramp = self.ramp()
        v_read = b.config.operating.read_voltage
        for k, (r, c, s) in enumerate(cells):
            for step, v in enumerate(ramp):
                if self.mode == "pulse":
                    b.pulse_cell(r, c, s, "set", 1, amplitude=float(v), width=self.pulse_width, gate=self.gate)
                    i = b.read_current(r, c, s)
                    formed = abs(i) / v_read >= self.formed_conductance
                else:
                    i = b.read_current(r, c, s, float(v))
                    formed = abs(i) >= self.formed_current
                self.emit("results", {**self.cell_fields(r, c, s), "step": step,
                                      "voltage": float(v), "current": i, "formed": int(formed)})
                if formed or self.should_stop():
                    break
            b.source_meter.set_voltage(0.0)
            b.reset_cell(r, c, s)  # leave formed devices in HRS
            self.progress(k + 1, len(cells))
