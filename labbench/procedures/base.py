"""What every labbench procedure shares: a bench, a cell selection, progress, a plan.

Before anything is sent, the runner calls :meth:`BenchProcedure.check_plan`: every
parameter finite and sensible, the cell selection inside the chip, the number of rows
affordable, and every level the procedure will source inside the bench's limits.  A run
that would be refused half-way is refused before it starts.
"""
from __future__ import annotations

import math

from pymeasure.experiment import Parameter, Procedure

from labbench.errors import LabbenchError

from .cells import parse_cells

#: the index columns of every per-cell procedure (see :meth:`BenchProcedure.cell_fields`)
CELL_INDEX = {"cell": "", "row": "", "col": "", "side": ""}

#: the largest run one procedure may plan: about 200 bytes a row in memory and SQLite,
#: so ~0.4 GB; split a larger characterization into several runs
MAX_PLANNED_ROWS = 2_000_000


class PlanError(LabbenchError):
    """A procedure whose parameters cannot make a sensible, safe run (nothing was sent)."""


class BenchProcedure(Procedure):
    """A PyMeasure Procedure run on ``self.bench`` (set by the runner)."""

    cells = Parameter("Cells (rows, cols)", default="0:2, 0:2")
    sides = Parameter("Sides (+ and/or -)", default="+-")

    bench = None
    #: dataset columns, name -> unit ('text' for strings); the runner registers them
    INDEX: dict[str, str] = {}
    VALUES: dict[str, str] = {}

    def selected_cells(self) -> list[tuple[int, int, int]]:
        chip = self.bench.config.chip
        return parse_cells(self.cells, self.sides, chip.rows, chip.cols)

    def cell_fields(self, r: int, c: int, s: int) -> dict:
        """The index columns every per-cell row carries (``cell`` = the chip's flat device index)."""
        return {"cell": (r * self.bench.config.chip.cols + c) * 2 + s, "row": r, "col": c, "side": s}

    def progress(self, done: int, total: int) -> None:
        self.emit("progress", 100.0 * done / max(total, 1))

    def shutdown(self):
        if self.bench is not None:
            self.bench.outputs_off()

    # -- the plan, checked before the run ------------------------------------------------
    def check_parameters(self) -> None:
        """Raise ValueError naming a parameter whose value makes no sensible run."""

    def planned_rows(self, n_cells: int) -> int:
        """How many rows the run will write (for the size check)."""
        return n_cells

    def sourced_levels(self) -> list[float]:
        """SMU levels the run sources beyond the bench's operating point (checked against
        the limits before the run; the operating point is checked with the bench file)."""
        return []

    def check_plan(self, bench) -> None:
        self.bench = bench
        name = type(self).__name__
        for key in self._parameters:
            v = getattr(self, key)
            if isinstance(v, float) and not math.isfinite(v):
                raise PlanError(f"{name}: {key}={v} is not a finite number; nothing was sent")
        try:
            cells = self.selected_cells()
            self.check_parameters()
        except ValueError as e:
            raise PlanError(f"{name}: {e}; nothing was sent") from None
        rows = self.planned_rows(len(cells))
        if rows > MAX_PLANNED_ROWS:
            raise PlanError(f"{name}: the plan has {rows:,} rows (about {rows * 200 / 1e9:.1f} GB), more than "
                            f"{MAX_PLANNED_ROWS:,}; select fewer cells or coarser steps, or split the run")
        levels = self.sourced_levels()
        if len(levels):
            from labbench.instruments.roles import SafetyError

            for v in (min(levels), max(levels)):
                try:
                    bench.source_meter.check(float(v))
                except SafetyError as e:
                    raise PlanError(f"{name}: the plan sources up to {v:g} V, refused before the run: {e}") from None


def parse_levels(text: str, name: str) -> list[float]:
    """A comma-separated list of numbers as typed (``"0.8, 1.0, 1.2"``); empty -> []."""
    out = []
    for part in str(text or "").replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            x = float(part)
        except ValueError:
            raise ValueError(f"{name}: {part.strip()!r} is not a number (give a list like 0.8, 1.0, 1.2)") from None
        if not math.isfinite(x) or x <= 0:
            raise ValueError(f"{name}: {part.strip()} must be a finite number > 0")
        out.append(x)
    return out


def check_gate_levels(bench, gates, what: str) -> None:
    """Gate levels are the pulse generator's word-line channel: inside its limits, before the run."""
    from labbench.instruments.roles import SafetyError

    ch = int(bench.config.operating.gate_terminal.rpartition("ch")[2])
    for g in gates:
        try:
            bench.pulse_generator.check(ch, float(g))
        except SafetyError as e:
            raise PlanError(f"{what}: gate {g:g} V refused before the run: {e}") from None


def check_bake(proc, example: str) -> None:
    """A procedure's bake parameters (``temperature``, ``settle_tolerance``, ``ramp``) against
    its bench's temperature controller and its limits; ``example`` a temperature for the
    message, e.g. "358.15 for 85 °C".  A SafetyError from the controller is a ValueError."""
    require(proc.temperature >= 0, f"temperature={proc.temperature:g} K: give the bake temperature in K "
                                   f"(e.g. {example}), or 0 for no bake")
    require(proc.settle_tolerance > 0, "settle_tolerance must be > 0 K")
    if proc.temperature > 0:
        tc = proc.bench.temperature_controller
        require(tc is not None, f"a bake at {proc.temperature:g} K needs a temperature_controller on the bench "
                                f"(a heated chuck; see benches/sim.yaml); this bench has none")
        tc.check(proc.temperature, proc.ramp if proc.ramp > 0 else None)


def require(condition: bool, message: str) -> None:
    """A parameter check: ``require(self.v_step > 0, "v_step must be > 0 V")``."""
    if not condition:
        raise ValueError(message)
