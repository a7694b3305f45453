"""Run a PyMeasure procedure against a Bench, into the dataset, safely.

PyMeasure's own ``Worker`` runs a procedure in a thread and records to its CSV
``Results`` file.  On a probe station we want the QCoDeS dataset instead (one run per
execution, with the bench snapshot as metadata), a terminal progress bar, and the
guarantee that every output is switched off on every exit path, Ctrl-C included.  So we
keep PyMeasure's ``Procedure`` contract (parameters, ``startup``/``execute``/
``shutdown``, ``emit('results' | 'progress')``, ``should_stop``) and supply the worker
side here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pymeasure.experiment import Procedure
from tqdm.auto import tqdm

from labbench.store import Store


@dataclass
class ProcedureResult:
    run_id: int | None
    data: pd.DataFrame
    status: str


class _Buffer:
    """Collects emitted rows; flushes them to the store in blocks (fewer SQLite writes)."""

    def __init__(self, writer, columns: list[str], block: int = 256):
        self.writer, self.columns, self.block = writer, columns, block
        self.pending: list[dict] = []
        self.all: list[dict] = []

    def add(self, record: dict | pd.DataFrame) -> None:
        rows = record.to_dict("records") if isinstance(record, pd.DataFrame) else [record]
        for r in rows:
            missing = set(self.columns) - set(r)
            if missing:
                raise KeyError(f"procedure emitted a row without {sorted(missing)}")
        self.pending.extend(rows)
        self.all.extend(rows)
        if len(self.pending) >= self.block:
            self.flush()

    def flush(self) -> None:
        if self.writer is not None and self.pending:
            self.writer.add(**{c: np.array([r[c] for r in self.pending]) for c in self.columns})
        self.pending.clear()


def run_procedure(procedure: Procedure, bench, store: Store | None = None, *,
                  progress: bool = True) -> ProcedureResult:
    """Execute ``procedure`` on ``bench``; rows go to ``store`` (if given) and are returned.

    The procedure declares its dataset columns as ``INDEX`` and ``VALUES`` (name -> unit).
    """
    procedure.bench = bench
    index: dict[str, str] = dict(getattr(procedure, "INDEX", {}))
    values: dict[str, str] = dict(getattr(procedure, "VALUES", {}))
    columns = list(index) + list(values)
    stop = {"flag": False}
    bar = tqdm(total=100, desc=type(procedure).__name__, disable=not progress, unit="%")

    def emit(topic: str, record: Any) -> None:
        if topic == "results":
            buf.add(record)
        elif topic == "progress":
            bar.n = float(record)
            bar.refresh()

    procedure.emit = emit
    procedure.should_stop = lambda: stop["flag"]
    procedure.is_last = lambda: True
    metadata = {"procedure": type(procedure).__name__,
                "parameters": {k: v for k, v in procedure.parameter_values().items()}}
    try:
        metadata["bench"] = bench.snapshot()
    except Exception as e:  # a snapshot must never stop a measurement
        metadata["bench"] = {"error": repr(e)}

    status = "failed"
    run_id = None
    ctx = store.run(type(procedure).__name__, index, values, metadata=metadata) if store else None
    writer = ctx.__enter__() if ctx else None
    buf = _Buffer(writer, columns)
    try:
        run_id = writer.run_id if writer else None
        procedure.status = Procedure.RUNNING
        procedure.startup()
        procedure.execute()
        status = "aborted" if stop["flag"] else "finished"
        if status == "finished":
            bar.n = 100
            bar.refresh()
    except KeyboardInterrupt:
        stop["flag"] = True
        status = "aborted"
        raise
    finally:
        try:
            procedure.shutdown()
        finally:
            bench.outputs_off()
            buf.flush()
            if ctx:
                ctx.__exit__(None, None, None)
            bar.close()
    procedure.status = Procedure.FINISHED if status == "finished" else Procedure.ABORTED
    return ProcedureResult(run_id, pd.DataFrame(buf.all, columns=columns), status)
