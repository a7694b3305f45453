"""Multilevel: how many distinct levels the cells hold, and for how long.

The selected cells are shared among the level counts in ``levels`` (cell k takes count
``levels[k mod len]``, and that count's cells go through its N levels in turn); each cell
is programmed to its level's target with program-verify (the ``program-verify``
procedure's algorithm and ramps, cell by cell).  The N targets are spread over the cells'
reachable window (``spacing``: equal steps in G or in log G; 5 % of the window kept free
at each end).  Then every cell is re-read after each of ``delays`` (s; virtual time on
the simulated bench), optionally baked: with ``temperature`` > 0 the chuck ramps there
after programming and the delays count from when it settled (as in ``retention``).

Rows: one per cell and read, with the cell's level count (``levels``), ``level``,
``target``, whether program-verify converged and its pulses.  The analysis (level error
rate against N and time, bits per cell at an error rate, the distributions on a log-G
axis) is :mod:`labbench.array.multilevel`, which reads these rows.
"""
from __future__ import annotations

import math

from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter, Parameter

from .base import CELL_INDEX, BenchProcedure, PlanError, check_bake, require
from .program_verify import program_cell

#: a level count beyond this is not a multi-level cell but a typo (2^8 levels per cell)
MAX_LEVELS = 256


class Multilevel(BenchProcedure):
    NAME = "multilevel"   # the CLI name: `labbench measure multilevel`
    cells = Parameter("Cells (rows, cols)", default="0:8, 0:8")
    levels = Parameter("Level counts N, comma-separated", default="2, 4, 8")
    spacing = ListParameter("Level spacing", choices=["linear", "log"], default="linear")
    delays = Parameter("Re-read after (s since programming or the bake settled), comma-separated",
                       default="0, 60, 3600, 86400")
    tolerance = FloatParameter("Program-verify tolerance (fraction of the target)", default=0.02)
    max_pulses = IntegerParameter("Pulse budget per cell", default=50)
    temperature = FloatParameter("Bake temperature (0 = no bake, the chuck as it is)", units="K", default=0.0)
    ramp = FloatParameter("Chuck ramp", units="K/min", default=10.0)
    settle_tolerance = FloatParameter("Chuck settled within", units="K", default=0.5)

    INDEX = {**CELL_INDEX, "read": ""}
    VALUES = {"levels": "", "level": "", "target": "S", "time": "s", "conductance": "S", "converged": "",
              "pulses": "", "temperature": "K", "chuck_temperature": "K"}

    # -- the plan ---------------------------------------------------------------------------
    def level_counts(self) -> list[int]:
        out = []
        for part in str(self.levels).replace(";", ",").split(","):
            if not part.strip():
                continue
            try:
                n = int(part)
            except ValueError:
                raise ValueError(f"levels: {part.strip()!r} is not a whole number (give e.g. 2, 4, 8)") from None
            require(2 <= n <= MAX_LEVELS, f"levels: {n} levels per cell; give 2 to {MAX_LEVELS}")
            out.append(n)
        require(len(out) > 0, "levels: give at least one level count, e.g. 2, 4, 8")
        return list(dict.fromkeys(out))

    def delay_list(self) -> list[float]:
        out = []
        for part in str(self.delays).replace(";", ",").split(","):
            if not part.strip():
                continue
            try:
                t = float(part)
            except ValueError:
                raise ValueError(f"delays: {part.strip()!r} is not a number of seconds") from None
            require(math.isfinite(t) and t >= 0, f"delays: {part.strip()} s must be a finite time >= 0")
            out.append(t)
        require(len(out) > 0, "delays: give at least one delay in s, e.g. 0, 3600")
        return sorted(set(out))

    def settings(self):
        from labbench.array import program_verify as pv

        return pv.bench_settings(self.bench, tolerance=self.tolerance, max_pulses=self.max_pulses)

    def targets(self):
        """Level count -> its N targets (S, as read)."""
        from labbench.array import multilevel as ml
        from labbench.array import program_verify as pv
        from labbench.physics import load_device_model

        op = self.bench.config.operating
        model = load_device_model(self.bench.config.chip.device_model)
        lo, hi = pv.reachable_range(model, self.settings(), op.read_voltage, op.read_gate)
        return {n: ml.level_targets(lo, hi, n, self.spacing) for n in self.level_counts()}

    def check_parameters(self):
        counts = self.level_counts()
        self.delay_list()
        self.settings().check()
        n_cells = len(self.selected_cells())
        for n in counts:
            have = len(range(counts.index(n), n_cells, len(counts)))
            require(have >= n, f"{n} levels need at least {n} cells, one per level; the {n_cells} cells selected "
                               f"give {have} to each of the {len(counts)} level counts: select more cells or "
                               f"fewer level counts")
        check_bake(self, "358.15 for 85 °C")

    def check_plan(self, bench) -> None:
        super().check_plan(bench)
        from labbench.array import program_verify as pv
        from labbench.instruments.roles import SafetyError

        try:
            pv.check_on_bench(bench, self.settings())
        except SafetyError as e:
            raise PlanError(f"Multilevel: a program-verify level is refused before the run: {e}") from None

    def planned_rows(self, n_cells):
        return n_cells * len(self.delay_list())

    # -- the run ------------------------------------------------------------------------------
    def execute(self):
        from labbench.array import multilevel as ml
        from labbench.physics import load_device_model

        b = self.bench
        model = load_device_model(b.config.chip.device_model)
        settings = self.settings()
        targets = self.targets()
        cells = self.selected_cells()
        counts, level = ml.assign(len(cells), self.level_counts())
        delays = self.delay_list()
        programmed = []
        for k, cell in enumerate(cells):
            t = float(targets[int(counts[k])][int(level[k])])
            res = program_cell(b, cell, t, settings, model, should_stop=self.should_stop)
            programmed.append((t, int(res.converged[0]), int(res.pulses[0])))
            self.progress(k + 1, len(cells) + len(delays))
            if self.should_stop():
                return
        tc = b.temperature_controller
        bake = self.temperature > 0
        if bake:
            tc.set_temperature(self.temperature, self.ramp if self.ramp > 0 else None)
            tc.settle(b, self.temperature, tolerance=self.settle_tolerance, should_stop=self.should_stop)
            if self.should_stop():
                return
        t0 = b.now()
        for j, delay in enumerate(delays):
            wait = t0 + delay - b.now()
            if wait > 0:
                b.sleep(wait)
            chuck = tc.temperature() if tc is not None else float("nan")
            for k, (r, c, s) in enumerate(cells):
                t, conv, pulses = programmed[k]
                self.emit("results", {**self.cell_fields(r, c, s), "read": j, "levels": int(counts[k]),
                                      "level": int(level[k]), "target": t, "time": b.now() - t0,
                                      "conductance": b.read_cell(r, c, s), "converged": conv, "pulses": pulses,
                                      "temperature": self.temperature if bake else float("nan"),
                                      "chuck_temperature": chuck})
            self.progress(len(cells) + j + 1, len(cells) + len(delays))
            if self.should_stop():
                return
