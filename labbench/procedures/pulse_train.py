"""Pulse trains: the data the fitter needs (DESIGN's tidy long format).

Per cell, condition and cycle: a full RESET, a SET train of ``pulses`` gradual-SET pulses,
reading after each, then a RESET train of the same length.  ``pulse`` 0 is the read
before the first pulse.

A *condition* is the SET pulse's gate, amplitude and width.  By default there is one, the
bench's operating SET pulse; ``gates``, ``amplitudes`` and ``widths`` (comma lists) sweep
one at a time around it (each list varies its own quantity, the others stay at the
operating point), which is what :func:`labbench.fitting.switching.fit_switching` needs to
learn how the step depends on gate, amplitude and width.  The RESET train always uses the
operating RESET pulse, so every SET train starts from the same state.
"""
from __future__ import annotations

from pymeasure.experiment import IntegerParameter, Parameter

from .base import CELL_INDEX, BenchProcedure, check_gate_levels, parse_levels, require


class PulseTrain(BenchProcedure):
    NAME = "pulse-train"   # the CLI name: `labbench measure pulse-train`
    cycles = IntegerParameter("Cycles", default=3, minimum=1)
    pulses = IntegerParameter("Pulses per train", default=64, minimum=1)
    full_reset_first = IntegerParameter("Full RESET before the first cycle (0/1)", default=1)
    gates = Parameter("SET gate voltages to sweep, comma-separated (V)", default="")
    amplitudes = Parameter("SET amplitudes to sweep, comma-separated (V)", default="")
    widths = Parameter("SET pulse widths to sweep, comma-separated (s)", default="")

    INDEX = {**CELL_INDEX, "condition": "", "cycle": "", "direction": "text", "pulse": ""}
    # read_voltage/read_gate: how each conductance was read, so a fit can de-embed the read
    # transistor (labbench.fitting.io.deembed_reads)
    VALUES = {"conductance": "S", "time": "s", "gate": "V", "amplitude": "V", "width": "s",
              "read_voltage": "V", "read_gate": "V"}

    def conditions(self) -> list[tuple[float | None, float | None, float | None]]:
        """(gate, amplitude, width) of each SET condition; None = the operating value."""
        out = [(None, None, None)]
        out += [(g, None, None) for g in parse_levels(self.gates, "gates")]
        out += [(None, a, None) for a in parse_levels(self.amplitudes, "amplitudes")]
        out += [(None, None, w) for w in parse_levels(self.widths, "widths")]
        return list(dict.fromkeys(out))

    def check_parameters(self):
        require(self.full_reset_first in (0, 1), "full_reset_first must be 0 or 1")
        self.conditions()

    def check_plan(self, bench) -> None:
        super().check_plan(bench)
        from labbench.instruments.roles import SafetyError

        spec = bench.config.operating.set
        ch = int(bench.config.operating.pulse_terminal.rpartition("ch")[2])
        gates = []
        for g, a, w in self.conditions():
            gates.append(spec.gate if g is None else g)
            try:
                bench.pulse_generator.check(ch, spec.amplitude if a is None else a, spec.width if w is None else w)
            except SafetyError as e:
                from .base import PlanError

                raise PlanError(f"PulseTrain: SET pulse refused before the run: {e}") from None
        check_gate_levels(bench, gates, "PulseTrain")

    def planned_rows(self, n_cells):
        return n_cells * len(self.conditions()) * self.cycles * 2 * (self.pulses + 1)

    def execute(self):
        b = self.bench
        op = b.config.operating
        cells = self.selected_cells()
        conditions = self.conditions()
        total, done = len(cells) * self.cycles * len(conditions), 0
        for k, (r, c, s) in enumerate(cells):
            if self.full_reset_first:
                b.reset_cell(r, c, s)
            for ci, (gate, amp, width) in enumerate(conditions):
                gate = op.set.gate if gate is None else gate
                amp = op.set.amplitude if amp is None else amp
                width = op.set.width if width is None else width
                for cycle in range(self.cycles):
                    if ci or cycle:
                        b.reset_cell(r, c, s)   # every SET train starts from a full RESET
                    for direction in ("set", "reset"):
                        pulse = dict(gate=gate, amplitude=amp, width=width) if direction == "set" else \
                            dict(gate=op.reset.gate, amplitude=op.reset.amplitude, width=op.reset.width)
                        for p in range(self.pulses + 1):
                            if p:
                                b.pulse_cell(r, c, s, direction, 1, **pulse)
                            self.emit("results", {**self.cell_fields(r, c, s), "condition": ci, "cycle": cycle,
                                                  "direction": direction, "pulse": p,
                                                  "conductance": b.read_cell(r, c, s), "time": b.now(),
                                                  "read_voltage": op.read_voltage, "read_gate": op.read_gate,
                                                  **pulse})
                        if self.should_stop():
                            return
                    done += 1
                    self.progress(done, total)
