"""Read disturb: many reads at a raised read voltage, with a normal read at log-spaced checkpoints.

A read is a weak, long SET pulse: below every switching threshold it still moves the device,
a little per read, by the tail of the same switching kinetics (``read_disturb`` in the device
model).  Read-disturb qualification stresses cells with reads at a raised voltage and watches
their conductance climb; that is what this does.  Each cell is fully RESET (the HRS, where a
positive read disturbs the most), optionally SET by ``set_pulses``, read at the bench's read
voltage, then stressed with ``stress_reads`` SMU readings at ``stress_voltage``, and read
again at log-spaced numbers of stress reads.  Each row records the stress so far, the normal
read, and the current of the last stress read (its I at ``stress_voltage``).

The fitter (:func:`labbench.fitting.read_disturb.fit_read_disturb`) turns the climb into the
model's ``read_disturb.factor`` on the fitted switching kinetics; a stress voltage at or
above the quiet voltage of the device model SETs cells instead of disturbing them, so keep
``stress_voltage`` below the SET threshold (0.25 V on the shipped model, whose threshold with
spreads is 0.30 V).
"""
from __future__ import annotations

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter

from .base import CELL_INDEX, BenchProcedure, require


def checkpoints(stress_reads: int, points: int) -> np.ndarray:
    """0, then ``points`` − 1 distinct stress counts log-spaced from 1 to ``stress_reads``."""
    n = np.unique(np.round(np.logspace(0, np.log10(max(stress_reads, 1)), max(points - 1, 1))).astype(int))
    return np.concatenate([[0], n])


class ReadDisturb(BenchProcedure):
    NAME = "read-disturb"   # the CLI name: `labbench measure read-disturb`
    stress_voltage = FloatParameter("Stress read voltage", units="V", default=0.25)
    stress_reads = IntegerParameter("Stress reads per device", default=300, minimum=1)
    points = IntegerParameter("Normal reads (log-spaced in stress reads)", default=8, minimum=2)
    set_pulses = IntegerParameter("SET pulses before the stress (0 = from the HRS)", default=0, minimum=0)

    INDEX = {**CELL_INDEX, "checkpoint": ""}
    VALUES = {"stress_reads": "", "conductance": "S", "read_voltage": "V", "read_gate": "V",
              "stress_voltage": "V", "stress_current": "A"}

    def check_parameters(self):
        require(self.stress_voltage > 0, f"stress_voltage={self.stress_voltage:g} V: a read-disturb stress is a "
                                         f"positive (read-polarity) voltage > 0 V")
        read_v = self.bench.config.operating.read_voltage if self.bench is not None else 0.0
        require(self.stress_voltage >= read_v,
                f"stress_voltage={self.stress_voltage:g} V is below the bench's read voltage ({read_v:g} V): "
                f"a disturb test stresses at or above the read voltage")

    def planned_rows(self, n_cells):
        return n_cells * len(checkpoints(self.stress_reads, self.points))

    def sourced_levels(self):
        return [self.stress_voltage]

    def execute(self):
        b = self.bench
        op = b.config.operating
        cells = self.selected_cells()
        marks = checkpoints(self.stress_reads, self.points)
        for k, (r, c, s) in enumerate(cells):
            b.reset_cell(r, c, s)
            if self.set_pulses:
                b.pulse_cell(r, c, s, "set", self.set_pulses)
            done, current = 0, float("nan")
            for j, n in enumerate(marks):
                while done < n:
                    current = b.read_current(r, c, s, self.stress_voltage)
                    done += 1
                self.emit("results", {**self.cell_fields(r, c, s), "checkpoint": j, "stress_reads": int(n),
                                      "conductance": b.read_cell(r, c, s), "read_voltage": op.read_voltage,
                                      "read_gate": op.read_gate, "stress_voltage": self.stress_voltage,
                                      "stress_current": current})
                if self.should_stop():
                    return
            self.progress(k + 1, len(cells))
