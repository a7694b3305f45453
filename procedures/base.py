"""What every labbench procedure shares: a bench, a cell selection, progress."""
from __future__ import annotations

from pymeasure.experiment import Parameter, Procedure

from .cells import parse_cells


#: the index columns of every per-cell procedure (see :meth:`BenchProcedure.cell_fields`)
CELL_INDEX = {"cell": "", "row": "", "col": "", "side": ""}


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
