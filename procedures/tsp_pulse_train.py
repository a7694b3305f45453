"""SET pulse trains run on the instrument: a Keithley 2600B executes each train as one
TSP script call (:class:`labbench.instruments.keithley2600.TspPulseTrain`).

Per cell and cycle: a full RESET, the read before the first pulse (``pulse`` 0), then one
call that gives ``pulses`` SET pulses with a reading after each (the tidy long format of
:mod:`procedures.pulse_train`, SET direction).  Channel A of the 2600B drives the bit line
(pulses and reads), channel B the word line; one upload per run, one call per train,
instead of a round trip per pulse.  Needs a bench whose source meter is a 2600B with both
channels wired (``benches/sim_2600.yaml``).
"""
from __future__ import annotations

from pymeasure.experiment import IntegerParameter

from .base import CELL_INDEX, BenchProcedure, PlanError, require


class TspPulseTrain(BenchProcedure):
    NAME = "tsp-pulse-train"
    cycles = IntegerParameter("Cycles", default=2, minimum=1)
    pulses = IntegerParameter("Pulses per train", default=64, minimum=1)

    INDEX = {**CELL_INDEX, "cycle": "", "direction": "text", "pulse": ""}
    VALUES = {"conductance": "S", "time": "s"}

    def check_parameters(self):
        require(1 <= self.pulses <= 60000, "pulses must be 1..60000 (one reading buffer)")

    def check_plan(self, bench) -> None:
        super().check_plan(bench)
        from labbench.instruments.keithley2600 import TspPulseTrain as Train
        from labbench.instruments.roles import SafetyError

        try:
            train = Train(bench)
            train._check(self.pulses, *train._settings(None, None, None))
        except (ValueError, SafetyError) as e:
            text = str(e) if "nothing was sent" in str(e) else f"{e}; nothing was sent"
            raise PlanError(f"TspPulseTrain: {text}") from None
        self._train = train

    def planned_rows(self, n_cells):
        return n_cells * self.cycles * (self.pulses + 1)

    def execute(self):
        b = self.bench
        train = getattr(self, "_train", None)
        if train is None:
            from labbench.instruments.keithley2600 import TspPulseTrain as Train

            train = Train(b)
        cells = self.selected_cells()
        total, done = len(cells) * self.cycles, 0
        for r, c, s in cells:
            for cycle in range(self.cycles):
                b.reset_cell(r, c, s)
                row = {**self.cell_fields(r, c, s), "cycle": cycle, "direction": "set"}
                self.emit("results", {**row, "pulse": 0, "conductance": b.read_cell(r, c, s), "time": b.now()})
                for p, g in enumerate(train.run(r, c, s, self.pulses), start=1):
                    self.emit("results", {**row, "pulse": p, "conductance": float(g), "time": b.now()})
                done += 1
                self.progress(done, total)
                if self.should_stop():
                    return
