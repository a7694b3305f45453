"""SET pulse trains run on the instrument: a Keithley 2600B executes each train as one
TSP script call (:class:`labbench.instruments.keithley2600.TspPulseTrain`).

Per cell and cycle: a full RESET, the read before the first pulse (``pulse`` 0), then one
call that gives ``pulses`` SET pulses with a reading after each (the tidy long format of
:mod:`procedures.pulse_train`, SET direction).  Channel A of the 2600B drives the bit line
(pulses and reads), channel B the word line; one upload per run, one call per train,
instead of a round trip per pulse.  Needs a bench whose source meter is a 2600B with both
channels wired (``benches/sim_2600.yaml``).

:class:`TspTriggerPulseTrain` (``tsp-trigger-pulse-train``) is the same train with each
pulse timed by the 2600B's trigger model (a timer ends it, not the script), and each
reading's time taken from the instrument's timestamps.
"""
from __future__ import annotations

from pymeasure.experiment import IntegerParameter

from .base import CELL_INDEX, BenchProcedure, PlanError, require


class TspPulseTrain(BenchProcedure):
    NAME = "tsp-pulse-train"
    TRAIN = "TspPulseTrain"          # the class in labbench.instruments.keithley2600 that runs it
    cycles = IntegerParameter("Cycles", default=2, minimum=1)
    pulses = IntegerParameter("Pulses per train", default=64, minimum=1)

    INDEX = {**CELL_INDEX, "cycle": "", "direction": "text", "pulse": ""}
    VALUES = {"conductance": "S", "time": "s"}

    def check_parameters(self):
        require(1 <= self.pulses <= 60000, "pulses must be 1..60000 (one reading buffer)")

    def _new_train(self, bench):
        from labbench.instruments import keithley2600

        return getattr(keithley2600, self.TRAIN)(bench)

    def check_plan(self, bench) -> None:
        super().check_plan(bench)
        from labbench.instruments.roles import SafetyError

        try:
            train = self._new_train(bench)
            train.plan(self.pulses)        # the limits, then the rehearsal (levels, widths, duration)
        except (ValueError, SafetyError) as e:
            text = str(e) if "nothing was sent" in str(e) else f"{e}; nothing was sent"
            raise PlanError(f"{type(self).__name__}: {text}") from None
        self._train = train

    def planned_rows(self, n_cells):
        return n_cells * self.cycles * (self.pulses + 1)

    def _train_rows(self, train, r, c, s):
        """(conductance, time) of each pulse's reading."""
        g = train.run(r, c, s, self.pulses)
        t = self.bench.now()
        return [(float(x), t) for x in g]

    def execute(self):
        b = self.bench
        train = getattr(self, "_train", None) or self._new_train(b)
        cells = self.selected_cells()
        total, done = len(cells) * self.cycles, 0
        for r, c, s in cells:
            for cycle in range(self.cycles):
                b.reset_cell(r, c, s)
                row = {**self.cell_fields(r, c, s), "cycle": cycle, "direction": "set"}
                self.emit("results", {**row, "pulse": 0, "conductance": b.read_cell(r, c, s), "time": b.now()})
                for p, (g, t) in enumerate(self._train_rows(train, r, c, s), start=1):
                    self.emit("results", {**row, "pulse": p, "conductance": g, "time": t})
                done += 1
                self.progress(done, total)
                if self.should_stop():
                    return


class TspTriggerPulseTrain(TspPulseTrain):
    NAME = "tsp-trigger-pulse-train"
    TRAIN = "TspTriggerPulseTrain"

    def _train_rows(self, train, r, c, s):
        # the instrument's timestamps, the last reading placed when its reply arrived
        g, rel = train.run_timed(r, c, s, self.pulses)
        t_end = self.bench.now()
        return [(float(x), t_end - (rel[-1] - dt)) for x, dt in zip(g, rel)]
