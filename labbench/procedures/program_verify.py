"""Program-verify: put cells at target conductances with ISPP and verify, cell by cell.

The algorithm is :mod:`labbench.array.program_verify`, the same that
:meth:`labbench.array.SimArray.program_verify` runs on a whole simulated array; here the
bench gives it one cell at a time: a read, then a pulse and a read until the read is
within ``tolerance`` of the cell's target or the pulse budget is spent.  The ramps start
from the bench's operating SET and RESET pulses (``step``: amplitude or width; optionally
the SET gate stepped too), and every level they can reach within the budget is checked
against the bench's limits before the run.

``targets`` (S, as read) are given to the selected cells in turn (one target for all, or
a list that repeats over the cells).  A target outside the cells' reachable range (the
bench's device model, as read at the operating read voltage and gate) is refused with the
range.  Rows: one per operation and the read after it (``pulse`` 0: the first read);
``kind`` says what was done (read, set, reset, full_reset), ``converged`` whether that read
is inside the tolerance, ``energy`` the cell's programming energy so far (J, estimated
from the reads and the device model).  A cell's last row is its result.
"""
from __future__ import annotations

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter, Parameter

from .base import CELL_INDEX, BenchProcedure, PlanError, parse_levels, require


class ProgramVerify(BenchProcedure):
    NAME = "program-verify"   # the CLI name: `labbench measure program-verify`
    targets = Parameter("Target conductances (S, as read), comma-separated, given to the cells in turn",
                        default="5e-6, 1e-5, 1.5e-5, 2e-5")
    tolerance = FloatParameter("Tolerance (fraction of the target)", default=0.02)
    max_pulses = IntegerParameter("Pulse budget per cell", default=50)
    step = ListParameter("Ramp step", choices=["amplitude", "width"], default="amplitude")
    amplitude_step = FloatParameter("Amplitude step (step=amplitude)", units="V", default=0.05)
    width_factor = FloatParameter("Width factor per pulse (step=width)", default=1.25)
    gate_step = FloatParameter("SET gate step (0 = the operating gate throughout)", units="V", default=0.0)
    overshoot = ListParameter("Overshoot", choices=["reset", "restart", "stop"], default="reset")
    backoff = IntegerParameter("Ramp steps given back at each turn", default=3)
    initial_reset = IntegerParameter("Full RESET before programming (0/1)", default=0)

    INDEX = {**CELL_INDEX, "pulse": ""}
    VALUES = {"kind": "text", "amplitude": "V", "width": "s", "gate": "V", "conductance": "S", "target": "S",
              "error": "", "converged": "", "energy": "J", "time": "s"}

    def settings(self):
        from labbench.array import program_verify as pv

        return pv.bench_settings(self.bench, step=self.step, gate_step=self.gate_step,
                                 amplitude_step=self.amplitude_step, width_factor=self.width_factor,
                                 tolerance=self.tolerance, max_pulses=self.max_pulses,
                                 overshoot=self.overshoot, backoff=self.backoff,
                                 initial_reset=bool(self.initial_reset))

    def target_list(self) -> list[float]:
        out = parse_levels(self.targets, "targets")
        require(len(out) > 0, "targets: give at least one target conductance in S (e.g. 1e-5)")
        return out

    def check_parameters(self):
        from labbench.array import program_verify as pv
        from labbench.physics import load_device_model

        require(self.initial_reset in (0, 1), "initial_reset must be 0 or 1")
        require(self.amplitude_step > 0, f"amplitude_step={self.amplitude_step:g} V must be > 0")
        require(self.width_factor > 1, f"width_factor={self.width_factor:g} must be > 1 (the width grows)")
        require(self.gate_step >= 0, f"gate_step={self.gate_step:g} V must be >= 0")
        self.settings().check()            # tolerance, pulse budget, overshoot, backoff
        op = self.bench.config.operating
        model = load_device_model(self.bench.config.chip.device_model)
        pv.check_targets(self.target_list(), model, self.settings(), op.read_voltage, op.read_gate)

    def check_plan(self, bench) -> None:
        super().check_plan(bench)
        from labbench.array import program_verify as pv
        from labbench.instruments.roles import SafetyError

        try:
            pv.check_on_bench(bench, self.settings())
        except SafetyError as e:
            raise PlanError(f"ProgramVerify: a ramp level is refused before the run: {e}") from None

    def planned_rows(self, n_cells):
        return n_cells * (max(int(self.max_pulses), 0) + 1)

    def execute(self):
        from labbench.array import program_verify as pv
        from labbench.physics import load_device_model

        b = self.bench
        model = load_device_model(b.config.chip.device_model)
        settings = self.settings()
        targets = self.target_list()
        cells = self.selected_cells()
        for k, (r, c, s) in enumerate(cells):
            target = targets[k % len(targets)]
            state = {"pulse": 0, "energy": 0.0}

            def emit(rnd, r=r, c=c, s=s, target=target, state=state):
                state["energy"] += float(rnd.energy[0])
                g = float(rnd.read[0])
                self.emit("results", {**self.cell_fields(r, c, s), "pulse": state["pulse"],
                                      "kind": pv.KIND_NAMES[int(rnd.kind[0])],
                                      "amplitude": float(rnd.amplitude[0]), "width": float(rnd.width[0]),
                                      "gate": float(rnd.gate[0]), "conductance": g, "target": target,
                                      "error": (g - target) / target,
                                      "converged": int(abs(g - target) <= settings.tolerance * target),
                                      "energy": state["energy"], "time": b.now()})
                state["pulse"] += 1

            program_cell(b, (r, c, s), target, settings, model, on_round=emit, should_stop=self.should_stop)
            self.progress(k + 1, len(cells))
            if self.should_stop():
                return


def program_cell(bench, cell: tuple[int, int, int], target: float, settings, model, on_round=None,
                 should_stop=None):
    """Program-verify one cell (row, col, side) of ``bench`` to ``target`` (S, as read):
    :func:`labbench.array.program_verify.run` with the bench's read, pulse and full RESET
    of that cell; the energy estimated from the reads and ``model``.  Returns the result."""
    from labbench.array import program_verify as pv

    r, c, s = cell
    op = bench.config.operating

    def read(_):
        return np.array([bench.read_cell(r, c, s)])

    def pulse(_, direction, amplitude, width, gate):
        bench.pulse_cell(r, c, s, "set" if direction > 0 else "reset", 1, amplitude=amplitude, width=width,
                         gate=gate)

    def full_reset(_):
        bench.reset_cell(r, c, s)

    return pv.run(settings, [target], read, pulse, full_reset, on_round=on_round, should_stop=should_stop,
                  keep_trace=False, model=model, read_bias=(op.read_voltage, op.read_gate))


class TspProgramVerify(ProgramVerify):
    """The same program-verify with the loop on a Keithley 2600B: one generated TSP script per
    cell (:mod:`labbench.instruments.tsp_program_verify`), one message and one reply per cell.
    Channel A drives the bit line (RESET pulses negative on it, the source line grounded),
    channel B the word line; needs a bench like ``benches/sim_2600.yaml``.  Overshoot ``reset``
    or ``stop``; ``restart`` and ``initial_reset`` need the SMU's full RESET (cell by cell)."""

    NAME = "tsp-program-verify"

    def check_plan(self, bench) -> None:
        BenchProcedure.check_plan(self, bench)
        from labbench.instruments.roles import SafetyError
        from labbench.instruments.tsp_program_verify import TspProgramVerify as Runner

        try:
            runner = Runner(bench)
            for target in self.target_list():
                runner.plan_verify(self.settings(), target)   # the limits, then the rehearsal
        except (ValueError, SafetyError) as e:
            text = str(e) if "nothing was sent" in str(e) else f"{e}; nothing was sent"
            raise PlanError(f"TspProgramVerify: {text}") from None
        self._runner = runner

    def execute(self):
        from labbench.array import program_verify as pv
        from labbench.instruments.tsp_program_verify import TspProgramVerify as Runner
        from labbench.physics import load_device_model

        b = self.bench
        op = b.config.operating
        model = load_device_model(b.config.chip.device_model)
        settings = self.settings()
        runner = getattr(self, "_runner", None) or Runner(b)
        targets = self.target_list()
        cells = self.selected_cells()
        kinds = {0: pv.READ, 1: pv.SET_PULSE, 2: pv.RESET_PULSE}
        for k, (r, c, s) in enumerate(cells):
            target = targets[k % len(targets)]
            res = runner.verify(r, c, s, target, settings)
            t = b.now()
            energy, before = 0.0, None
            for p, (kind, amp, width, gate, g) in enumerate(res["ops"]):
                kind = kinds[int(kind)]
                if kind != pv.READ:
                    energy += float(pv.estimated_energy(model, np.array([before]), np.array([g]), np.array([kind]),
                                                        np.array([amp]), np.array([width]), np.array([gate]),
                                                        op.read_voltage, op.read_gate)[0])
                self.emit("results", {**self.cell_fields(r, c, s), "pulse": p, "kind": pv.KIND_NAMES[kind],
                                      "amplitude": amp if kind != pv.READ else float("nan"),
                                      "width": width if kind != pv.READ else float("nan"),
                                      "gate": gate if kind != pv.READ else float("nan"),
                                      "conductance": g, "target": target, "error": (g - target) / target,
                                      "converged": int(abs(g - target) <= settings.tolerance * target),
                                      "energy": energy, "time": t})
                before = g
            self.progress(k + 1, len(cells))
            if self.should_stop():
                return
