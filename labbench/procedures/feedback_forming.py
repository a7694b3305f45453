"""Feedback forming: stepped pulses on each pristine cell, read after each, stopped by current.

Per cell: a read; then SET-polarity pulses of ``pulse_width`` on the bit line, the
amplitude stepping from ``v_start`` by ``v_step`` to ``v_stop`` (and, with ``gate_step``,
the word line stepping from ``gate`` too: the access transistor's saturation current is
the forming compliance, so a stepped gate lets the filament grow in small steps), each
followed by a read at the bench's read voltage.  A cell stops at the first read whose
current reaches ``formed_current`` (the feedback: no pulse after the one that formed
it), or at the end of the ramp, unformed.  A formed cell is then RESET (``reset_after``).

Every level of the ramp (pulse amplitude and width, gates) is checked against the
bench's limits before anything is sent, so on a first-contact bench file
(``benches/hardware_example.yaml``: 2 V, 10 µs) a ramp beyond them is refused before the
run, not at the cell that would reach it.  Rows: one per step (``step`` 0: the read
before any pulse), with the pulse, the read current, ``formed``, and ``yield``: the
fraction of the cells done so far that formed (a cell's last row carries the yield up to
and including it; the run's last row, the run's yield).
"""
from __future__ import annotations

import math

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from .base import CELL_INDEX, BenchProcedure, PlanError, check_gate_levels, require

#: most steps one cell's ramp may have (a typo guard on v_step)
MAX_STEPS = 10_000


class FeedbackForming(BenchProcedure):
    NAME = "feedback-forming"   # the CLI name: `labbench measure feedback-forming`
    cells = Parameter("Cells (rows, cols)", default="0:2, 0:2")
    v_start = FloatParameter("First pulse amplitude", units="V", default=1.8)
    v_stop = FloatParameter("Last pulse amplitude", units="V", default=3.0)
    v_step = FloatParameter("Amplitude step", units="V", default=0.02)
    pulse_width = FloatParameter("Pulse width", units="s", default=1e-4)
    gate = FloatParameter("Word-line gate of the first pulse", units="V", default=1.0)
    gate_step = FloatParameter("Gate step per pulse (0 = fixed gate)", units="V", default=0.0)
    gate_stop = FloatParameter("Highest gate (gate_step > 0)", units="V", default=1.2)
    formed_current = FloatParameter("Formed when the read current reaches", units="A", default=1e-6)
    reset_after = IntegerParameter("Full RESET of a formed cell (0/1)", default=1)

    INDEX = {**CELL_INDEX, "step": ""}
    VALUES = {"voltage": "V", "width": "s", "gate": "V", "current": "A", "formed": "", "yield": ""}

    def steps(self) -> int:
        return int(math.floor((self.v_stop - self.v_start) / self.v_step + 1e-9)) + 1

    def ramp(self) -> tuple[np.ndarray, np.ndarray]:
        """(amplitudes, gates) of the pulses, in order."""
        k = np.arange(self.steps())
        amp = np.round(self.v_start + self.v_step * k, 9)
        gate = np.round(np.minimum(self.gate + self.gate_step * k, max(self.gate_stop, self.gate)), 9)
        return amp, gate

    def check_parameters(self):
        require(self.v_start > 0, f"v_start={self.v_start:g} V: forming pulses start from a positive level")
        require(self.v_step > 0, f"v_step={self.v_step:g} V: the ramp step must be > 0")
        require(self.v_stop >= self.v_start, f"v_stop={self.v_stop:g} V is below v_start={self.v_start:g} V")
        require(self.steps() <= MAX_STEPS, f"the ramp has {self.steps():,} steps (more than {MAX_STEPS:,}): "
                                           f"raise v_step")
        require(self.pulse_width > 0, f"pulse_width={self.pulse_width:g} s must be > 0")
        require(self.gate > 0 and self.gate_step >= 0, "gate must be > 0 V and gate_step >= 0 V")
        require(self.formed_current > 0, f"formed_current={self.formed_current:g} A must be > 0")
        require(self.reset_after in (0, 1), "reset_after must be 0 or 1")

    def check_plan(self, bench) -> None:
        super().check_plan(bench)
        from labbench.instruments.roles import SafetyError

        ch = int(bench.config.operating.pulse_terminal.rpartition("ch")[2])
        amp, gate = self.ramp()
        try:
            bench.pulse_generator.check(ch, float(amp.max()), self.pulse_width)
        except SafetyError as e:
            raise PlanError(f"FeedbackForming: the pulse ramp is refused before the run: {e}") from None
        check_gate_levels(bench, sorted(set(gate.tolist())), "FeedbackForming")
        op = bench.config.operating
        # the formed criterion must be readable: below what the read's compliance lets through
        if self.formed_current >= op.compliance:
            raise PlanError(f"FeedbackForming: formed_current={self.formed_current:g} A is not below the read "
                            f"compliance ({op.compliance:g} A): no read could show a cell formed; nothing was sent")

    def planned_rows(self, n_cells):
        return n_cells * (min(self.steps(), MAX_STEPS + 1) + 1)

    def execute(self):
        b = self.bench
        cells = self.selected_cells()
        amp, gate = self.ramp()
        formed_cells = 0
        for k, (r, c, s) in enumerate(cells):
            i = b.read_current(r, c, s)
            formed = abs(i) >= self.formed_current
            row = {**self.cell_fields(r, c, s), "step": 0, "voltage": float("nan"), "width": float("nan"),
                   "gate": float("nan"), "current": i, "formed": int(formed)}
            step = 0
            while not formed and step < amp.size:
                self.emit("results", {**row, "yield": float("nan")})
                b.pulse_cell(r, c, s, "set", 1, amplitude=float(amp[step]), width=self.pulse_width,
                             gate=float(gate[step]))
                i = b.read_current(r, c, s)
                formed = abs(i) >= self.formed_current
                step += 1
                row = {**self.cell_fields(r, c, s), "step": step, "voltage": float(amp[step - 1]),
                       "width": self.pulse_width, "gate": float(gate[step - 1]), "current": i, "formed": int(formed)}
                if self.should_stop():
                    break
            formed_cells += int(formed)
            self.emit("results", {**row, "yield": formed_cells / (k + 1)})
            if formed and self.reset_after:
                b.reset_cell(r, c, s)
            self.progress(k + 1, len(cells))
            if self.should_stop():
                return
