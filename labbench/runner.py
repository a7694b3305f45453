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

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pymeasure.experiment import Procedure
from tqdm.auto import tqdm

from labbench.errors import RunFailed, interrupt_reason, outputs_state, signals_deferred
from labbench.store import Store


@dataclass
class ProcedureResult:
    run_id: int | None
    data: pd.DataFrame
    status: str            # finished, aborted or failed
    reason: str = ""
    saved_rows: int = 0    # rows known to be in the dataset file
    outputs_unconfirmed: list = None   # instruments whose outputs could not be confirmed off


class _Buffer:
    """Collects emitted rows; flushes them to the store in blocks (fewer SQLite writes).

    Each block is written through to the database file, so :attr:`RunWriter.saved_rows`
    is exact when a write fails (a full disk) and the run reports what it kept."""

    def __init__(self, writer, columns: list[str], block: int = 256):
        self.writer, self.columns, self.block = writer, columns, block
        self.pending: list[dict] = []
        self.all: list[dict] = []

    def add(self, record: dict | pd.DataFrame) -> list[dict]:
        rows = record.to_dict("records") if isinstance(record, pd.DataFrame) else [record]
        for r in rows:
            missing = set(self.columns) - set(r)
            if missing:
                raise KeyError(f"procedure emitted a row without {sorted(missing)}")
        self.pending.extend(rows)
        self.all.extend(rows)
        if len(self.pending) >= self.block:
            self.flush()
        return rows

    def flush(self) -> None:
        if self.writer is not None and self.pending:
            rows, self.pending = self.pending, []
            self.writer.add(**{c: np.array([r[c] for r in rows]) for c in self.columns})
            self.writer.flush()
        self.pending.clear()


def _instrument_errors(bench) -> list[str]:
    read = getattr(bench, "instrument_errors", None)   # a Bench; test doubles may lack it
    return read() if read is not None else []


class InstrumentError(RunFailed):
    """An instrument reported an error during the run (its error queue was not empty)."""


def run_procedure(procedure: Procedure, bench, store: Store | None = None, *,  # noqa: C901 - every exit path in one place, so none escapes outputs-off and the record
                  progress: bool = True, tap=None, control=None) -> ProcedureResult:
    """Execute ``procedure`` on ``bench``; rows go to ``store`` (if given) and are returned.

    The procedure declares its dataset columns as ``INDEX`` and ``VALUES`` (name -> unit).
    Its whole plan (parameters, size, every level against the limits) is checked before
    anything is sent or a run is created (:meth:`BenchProcedure.check_plan`).  The run
    then ends ``finished``, ``aborted`` (Ctrl-C, SIGTERM, ``should_stop``) or ``failed``
    (instrument error, a limit hit mid-run, a write failure), recorded in the dataset with
    the reason; the rows measured before the end are kept.  A failure is raised as
    :class:`RunFailed` after outputs are off; an interrupt is re-raised.

    ``tap`` (:class:`labbench.live.feed.Tap`) sees the run start, every row as it is
    handed to the dataset, the progress and the end; a failing tap is dropped, never the
    run.  ``control`` (:class:`labbench.live.control.RunControl`) acts on the live page's
    Pause, Resume and Abort after each recorded row.
    """
    from labbench.live.feed import guarded

    tap = guarded(tap)
    procedure.bench = bench
    check = getattr(procedure, "check_plan", None)
    if check is not None:
        check(bench)
    index: dict[str, str] = dict(getattr(procedure, "INDEX", {}))
    values: dict[str, str] = dict(getattr(procedure, "VALUES", {}))
    columns = list(index) + list(values)
    stop = {"flag": False}
    bar = tqdm(total=100, desc=type(procedure).__name__, disable=not progress,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")   # whole percents

    def emit(topic: str, record: Any) -> None:
        if topic == "results":
            rows = buf.add(record)
            if tap is not None:
                tap.rows(rows)
            if control is not None:
                control.checkpoint()           # a pause waits here; an abort raises here
        elif topic == "progress":
            bar.update(float(record) - bar.n)   # update() honours tqdm's refresh interval
            if tap is not None:
                tap.progress(float(record))

    procedure.emit = emit
    procedure.should_stop = lambda: stop["flag"]
    procedure.is_last = lambda: True
    metadata = {"procedure": type(procedure).__name__,
                "parameters": {k: v for k, v in procedure.parameter_values().items()}}
    try:
        metadata["bench"] = bench.snapshot()
    except Exception as e:  # noqa: BLE001 - a snapshot must never stop a measurement
        metadata["bench"] = {"error": repr(e)}
    _instrument_errors(bench)  # start from empty error queues (the snapshot may query a lot)

    ctx = store.run(type(procedure).__name__, index, values, metadata=metadata) if store else None
    writer = ctx.__enter__() if ctx else None
    buf = _Buffer(writer, columns)
    status, reason, failure = "failed", "", None
    unconfirmed = None
    if tap is not None:
        tap.started({"name": type(procedure).__name__, "index": index, "values": values,
                     "run_id": writer.run_id if writer else None, "db": str(store.path) if store else None,
                     "metadata": metadata})
    waiter = getattr(bench, "waiter", None)
    if control is not None:
        from labbench.live.control import pause_outputs, recheck_limits

        control.begin(on_pause=[lambda: pause_outputs(bench)],
                      on_resume=[lambda: recheck_limits(bench, procedure)])
        bench.waiter = control.wait      # a long wait on hardware ends at Abort
    try:
        try:
            procedure.status = Procedure.RUNNING
            procedure.startup()
            procedure.execute()
            status = "aborted" if stop["flag"] else "finished"
            reason = "stopped by the procedure" if stop["flag"] else ""
            if status == "finished":
                bar.update(100 - bar.n)
        except KeyboardInterrupt as e:
            stop["flag"] = True
            status, reason = "aborted", interrupt_reason(e)
            failure = e
        except Exception as e:  # noqa: BLE001 - recorded, then raised as RunFailed
            status, reason, failure = "failed", f"{type(e).__name__}: {e}" if not str(e) else str(e), e
        finally:
            try:
                procedure.shutdown()
            except Exception as e:  # noqa: BLE001
                if failure is None:
                    status, reason, failure = "failed", f"shutdown: {e}", e
            finally:
                unconfirmed = bench.outputs_off()
        errors = _instrument_errors(bench)
        if errors and isinstance(failure, KeyboardInterrupt):
            # a signal between a query's write and its read leaves -410 Query INTERRUPTED
            # behind: the run was still stopped by the user, so it stays aborted (exit 130/143)
            reason += "; instrument errors while stopping: " + "; ".join(errors)
        elif errors and status != "failed":
            status, reason = "failed", "instrument error: " + "; ".join(errors)
            failure = InstrumentError(reason)
        try:
            try:
                buf.flush()
            except Exception as e:  # noqa: BLE001 - the disk may be full: keep what is saved
                if status != "failed":
                    status, reason, failure = "failed", f"writing the dataset: {e}", e
            if writer is not None:
                try:
                    writer.finish(status, reason)
                except Exception as e:  # noqa: BLE001
                    if status != "failed":
                        status, reason, failure = "failed", f"writing the dataset: {e}", e
        except KeyboardInterrupt as e:
            # a signal while the end was being recorded: the run was stopped before its
            # record said otherwise, so it is aborted (a second signal waits until it is)
            if not isinstance(failure, KeyboardInterrupt):
                status, reason, failure = "aborted", interrupt_reason(e), e
            if writer is not None:
                with contextlib.suppress(Exception), signals_deferred():
                    writer.finish(status, reason)
    finally:
        if ctx:
            try:
                ctx.__exit__(None, None, None)   # the status is recorded above
            except Exception as e:  # noqa: BLE001 - e.g. the final flush on a full disk
                if failure is None:
                    status, reason, failure = "failed", f"writing the dataset: {e}", e
        bar.close()
        if control is not None:
            control.end()
            bench.waiter = waiter
        if tap is not None:
            tap.ended(status, reason)
    procedure.status = Procedure.FINISHED if status == "finished" else Procedure.ABORTED
    data = pd.DataFrame(buf.all, columns=columns)
    saved = writer.saved_rows if writer is not None else 0
    result = ProcedureResult(writer.run_id if writer else None, data, status, reason, saved)
    result.outputs_unconfirmed = list(unconfirmed) if isinstance(unconfirmed, (list, tuple)) else []
    if isinstance(failure, KeyboardInterrupt):
        failure.result = result        # the caller still writes what was measured (--csv)
        failure.outputs_unconfirmed = result.outputs_unconfirmed
        raise failure
    if status == "failed":
        where = (f"run {result.run_id} in {store.path} recorded as failed with {saved} of "
                 f"{len(data)} rows saved" if store else f"{len(data)} rows measured")
        err = RunFailed(f"{type(procedure).__name__} failed: {reason}; {outputs_state(result.outputs_unconfirmed)}; "
                        f"{where}")
        err.result = result
        raise err from None
    return result
