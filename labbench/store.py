"""Measurements in a QCoDeS SQLite dataset (``labbench.db`` in the output folder by default).

One run per procedure execution.  A run has index columns (setpoints: cell, cycle,
pulse, epoch, …) and value columns (conductance, current, accuracy, …); the bench
snapshot and the procedure parameters go in as JSON metadata.  QCoDeS flushes rows to
SQLite at every flush and at least every ``write_period`` seconds (under a per-file
writers' lock), so a crash loses at most that much.

We wrap QCoDeS rather than use it bare because procedures think in tidy tables
(pandas) and we want no global QCoDeS config: every call names its database file.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from labbench.errors import interrupt_reason, signals_deferred
from labbench.paths import default_db
# QCoDeS keeps metadata as columns of its ``runs`` table, and silently drops keys that
# collide with its own columns (``parameters``, ``name``, …): namespace ours.
_META_PREFIX = "lb_"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


@contextmanager
def _writers_lock(db: Path):
    """One writer at a time per dataset file, across processes.

    SQLite answers "database is locked" at once (no waiting) when two connections both
    try to upgrade a read to a write; QCoDeS then rolls back half-made runs.  An advisory
    lock on ``<db>.lock`` around every write makes writers queue instead (POSIX flock;
    elsewhere writers rely on SQLite's own busy timeout)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(f"{db}.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


log = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet_prints():
    """QCoDeS prints ("Starting experimental run with id: 3.", "Connected to: ...") into
    progress bars and past --quiet; they go to the log (INFO) instead."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        for line in buf.getvalue().splitlines():
            if line.strip():
                log.info("%s", line.strip())


class RunWriter:
    """Appends rows to one open QCoDeS run (obtained from :meth:`Store.run`).

    Rows are written to SQLite at each :meth:`flush`, and by :meth:`add` once
    ``write_period`` seconds have passed since the last one; :attr:`saved_rows` counts the rows
    known to be on disk, which is what a failed run reports.  :meth:`finish` records how the run ended.
    """

    def __init__(self, datasaver, index: list[str], values: list[str], db: Path | None = None,
                 write_period: float = 1.0):
        self._saver = datasaver
        self._db = db
        self.write_period = write_period
        self._flushed_at = time.monotonic()
        self.index, self.values = index, values
        self.rows = 0          # rows handed to QCoDeS
        self.saved_rows = 0    # rows flushed to the database file
        self.status = "running"
        self.reason = ""

    @property
    def run_id(self) -> int:
        return self._saver.run_id

    def add(self, **row: Any) -> None:
        """Add one row (scalars) or a block of rows (equal-length arrays)."""
        missing = set(self.index + self.values) - set(row)
        extra = set(row) - set(self.index + self.values)
        if missing or extra:
            raise KeyError(f"run columns are {self.index + self.values}; missing {sorted(missing)}, "
                           f"unknown {sorted(extra)}")
        arrays = {k: np.atleast_1d(np.asarray(v)) for k, v in row.items()}
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"columns have different lengths: { {k: len(a) for k, a in arrays.items()} }")
        with signals_deferred():   # handed over and counted together, or neither
            self._saver.add_result(*arrays.items())
            self.rows += lengths.pop()
        if time.monotonic() - self._flushed_at > self.write_period:  # a crash loses at most this
            self.flush()

    def add_frame(self, df: pd.DataFrame) -> None:
        self.add(**{c: df[c].to_numpy() for c in self.index + self.values})

    def flush(self) -> None:
        """Write every row added so far to the database file (raises on a full disk)."""
        with signals_deferred(), self._lock():
            ds = self._saver.dataset
            # QCoDeS catches a failed write, logs "Could not commit to database" and keeps
            # the rows for a later flush: the run would end "finished" and its rows reach
            # the table after the record was written.  So the rows are written here, in
            # one transaction, and a failure raises; the rows not written are dropped from
            # QCoDeS's queue, so the table and the record agree (the caller still has them).
            pending, ds._results = list(getattr(ds, "_results", [])), []
            if pending:
                try:
                    ds.add_results(pending)
                except Exception as e:  # noqa: BLE001 - any write failure: the run fails, saying what is kept
                    self.rows = self.saved_rows       # the rows not written are no longer queued
                    raise OSError(f"could not write to the dataset {self._db or ''}: {e}; "
                                  f"{self.saved_rows} rows of this run are saved") from None
            self.saved_rows = self.rows
        self._flushed_at = time.monotonic()

    def add_metadata(self, key: str, value: Any) -> None:
        # QCoDeS keeps each metadata key as a column of its runs table, added on first use;
        # two processes adding the same new key race ("duplicate column name").  The
        # writers' lock prevents that on POSIX; the retry covers platforms without flock.
        with self._lock():
            _retry_locked(lambda: self._saver.dataset.add_metadata(_META_PREFIX + key,
                                                                   json.dumps(_jsonable(value))),
                          f"writing metadata {key!r}")

    def _lock(self):
        return _writers_lock(self._db) if self._db is not None else contextlib.nullcontext()

    def finish(self, status: str, reason: str = "") -> None:
        """Record the outcome: 'finished', 'aborted' or 'failed' (with the reason)."""
        if status not in STATUSES:
            raise ValueError(f"run status must be one of {STATUSES}, got {status!r}")
        self.status, self.reason = status, reason
        with contextlib.suppress(Exception):   # rows handed over are written first (a full disk: dropped)
            self.flush()
        self.add_metadata("status", status)
        self.add_metadata("reason", reason)
        self.add_metadata("rows", self.saved_rows)   # what the table holds


STATUSES = ("finished", "aborted", "failed")
# QCoDeS logs every rolled-back transaction with its traceback before raising; a lock we
# wait out (below) would print tracebacks at a lab user.  The error itself still raises.
logging.getLogger("qcodes.dataset.sqlite.connection").setLevel(logging.CRITICAL)
LOCK_RETRY_S = 30.0  # how long a writer waits for another process's lock before giving up


def _retry_locked(fn, what: str):
    """Call ``fn`` until SQLite's lock is free (another process writing the same
    dataset), with backoff, for at most ``LOCK_RETRY_S``."""
    delay, waited = 0.05, 0.0
    while True:
        try:
            return fn()
        except (sqlite3.OperationalError, RuntimeError) as e:
            # QCoDeS wraps SQLite's error in RuntimeError("Rolling back ...") from it, twice
            cause = e
            while cause is not None and not isinstance(cause, sqlite3.OperationalError):
                cause = cause.__cause__
            text = str(cause) if cause is not None else ""
            transient = "locked" in text or "duplicate column name" in text
            if not transient or waited >= LOCK_RETRY_S:
                if "locked" in text:
                    raise sqlite3.OperationalError(
                        f"{what}: the dataset stayed locked by another process for {waited:.0f} s") from None
                raise
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 1.0)


class NotADataset(ValueError):
    pass


SQLITE_MAGIC = b"SQLite format 3\x00"


@contextlib.contextmanager
def _quiet_measurement_log(quiet: bool):
    """QCoDeS logs the traceback of an exception that ends a measurement at WARNING, which
    Python's last-resort handler prints to stderr: a user who pressed Ctrl-C (or sent
    SIGTERM, or typed a bad value) would see a traceback.  The run's status and reason are
    already recorded, and QCoDeS still stores the traceback in the dataset's
    ``measurement_exception`` metadata; only the console copy is held back."""
    if not quiet:
        yield
        return
    log = logging.getLogger("qcodes.dataset.measurements")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


class Store:
    """A QCoDeS database file of labbench runs."""

    def __init__(self, path: str | Path | None = None, write_period: float = 1.0):
        self.path = Path(path) if path is not None else default_db()
        self.write_period = write_period
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._check_file()

    @classmethod
    def existing(cls, path: str | Path | None = None) -> "Store":
        """Open a dataset that must already exist (for reading: never creates one)."""
        p = Path(path) if path is not None else default_db()
        if not p.exists():
            raise FileNotFoundError(f"no dataset at {p}; run `labbench measure ...` first or give --db")
        return cls(p)

    def _check_file(self) -> None:
        """A file that is there must be an SQLite database, whole (QCoDeS would otherwise
        fail deep inside with 'file is not a database')."""
        if self.path.is_dir():
            raise NotADataset(f"{self.path} is a folder, not a dataset file; give a file name (--db)")
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb") as f:
            head = f.read(16)
        if head != SQLITE_MAGIC:
            raise NotADataset(f"{self.path} is not a labbench dataset (not an SQLite database); "
                              f"choose another --db")
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            f.seek(16)
            page = int.from_bytes(f.read(2), "big") or 65536
        if size % page:
            raise NotADataset(f"{self.path} is truncated ({size} bytes is not a whole number of "
                              f"{page}-byte pages); restore it from a backup or choose another --db")

    def _conn(self):
        from qcodes.dataset import connect

        return connect(str(self.path))

    @contextmanager
    def run(self, name: str, index: Mapping[str, str], values: Mapping[str, str], *,
            sample: str = "chip", metadata: Mapping[str, Any] | None = None) -> Iterator[RunWriter]:
        """Open a run.  ``index`` and ``values`` map column names to units ('' if none).

        Text columns are given the unit ``"text"``.  Metadata (the bench snapshot,
        procedure parameters) is stored as JSON under each key.  The run ends with a
        status: ``finished`` unless the caller said otherwise (:meth:`RunWriter.finish`),
        ``aborted`` on Ctrl-C or SIGTERM, ``failed`` (with the reason) on any error.
        """
        from qcodes.dataset import Measurement, load_or_create_experiment

        conn = _retry_locked(self._conn, "opening the dataset")
        try:
            with _writers_lock(self.path):
                exp = _retry_locked(lambda: load_or_create_experiment(name, sample_name=sample, conn=conn),
                                    "creating the experiment")
            meas = Measurement(exp=exp, name=name)
            # rows reach the file at our explicit flushes (under the writers' lock), never
            # from inside add_result
            meas.write_period = 1e9
            for col, unit in index.items():
                meas.register_custom_parameter(col, unit="" if unit == "text" else unit,
                                               paramtype="text" if unit == "text" else "numeric")
            for col, unit in values.items():
                meas.register_custom_parameter(col, unit="" if unit == "text" else unit,
                                               setpoints=list(index),
                                               paramtype="text" if unit == "text" else "numeric")
            # The run and its "running" status are created with signals held: a Ctrl-C or
            # SIGTERM in between would leave a run with no status at all ("unknown").  A
            # signal that arrived meanwhile acts at the first line of the try below, so
            # the run is then recorded aborted.
            held = signals_deferred()
            held.__enter__()
            try:
                runner = meas.run()
                with _writers_lock(self.path), quiet_prints():
                    saver = runner.__enter__()
                writer = RunWriter(saver, list(index), list(values), self.path, self.write_period)
                writer.add_metadata("status", "running")   # stays so if the process is killed
            except BaseException:
                held.__exit__(None, None, None)
                raise
            exc_info = (None, None, None)
            try:
                held.__exit__(None, None, None)
                for k, v in (metadata or {}).items():
                    writer.add_metadata(k, v)
                yield writer
                writer.flush()
                if writer.status == "running":
                    writer.finish("finished")
            except BaseException as e:
                exc_info = (type(e), e, e.__traceback__)
                status = "aborted" if isinstance(e, KeyboardInterrupt) else "failed"
                reason = str(e) or type(e).__name__
                if isinstance(e, KeyboardInterrupt):
                    reason = interrupt_reason(e)
                with contextlib.suppress(Exception):
                    writer.flush()
                with contextlib.suppress(Exception):  # the disk may be full: best effort
                    writer.finish(writer.status if writer.status != "running" else status,
                                  writer.reason or reason)
                raise
            finally:
                try:
                    with _writers_lock(self.path), _quiet_measurement_log(exc_info[0] is not None):
                        runner.__exit__(*exc_info)
                except Exception:
                    if exc_info[0] is None:
                        raise
        finally:
            conn.close()

    def runs(self) -> pd.DataFrame:
        """One row per run: id, name, experiment, sample, rows, status, reason."""
        from qcodes.dataset import load_by_id
        from qcodes.dataset.sqlite.queries import get_runs

        cols = ["run_id", "name", "experiment", "sample", "rows", "status", "reason"]
        if not self.path.exists():
            return pd.DataFrame(columns=cols)
        conn = self._conn()
        try:
            out = []
            for run_id in get_runs(conn):
                ds = load_by_id(run_id, conn=conn)
                md = ds.metadata
                status = json.loads(md.get(_META_PREFIX + "status", '"unknown"'))
                if status == "running":   # never finished: the process died (kill -9, power)
                    status = "incomplete"
                rows = md.get(_META_PREFIX + "rows")
                if rows is None:  # QCoDeS counts one result per dependent parameter and row
                    n_dep = max(1, len(ds.dependent_parameters))
                    rows = ds.number_of_results // n_dep
                out.append({"run_id": run_id, "name": ds.name, "experiment": ds.exp_name,
                            "sample": ds.sample_name, "rows": int(json.loads(str(rows))),
                            "status": status,
                            "reason": json.loads(md.get(_META_PREFIX + "reason", '""'))})
            return pd.DataFrame(out, columns=cols)
        finally:
            conn.close()

    def load(self, run_id: int) -> pd.DataFrame:
        """The run as one tidy DataFrame (index columns first, then values)."""
        from qcodes.dataset import load_by_id

        conn = self._conn()
        try:
            ds = load_by_id(run_id, conn=conn)
            frames = ds.to_pandas_dataframe_dict()
            df = pd.concat(frames.values(), axis=1) if frames else pd.DataFrame()
            index_cols = [n for n in df.index.names if n is not None]
            df = df.reset_index()
            # SQLite hands numeric setpoints back as float: give integral index columns
            # (cell, cycle, pulse, …) their integer type again
            for col in index_cols:
                v = df[col]
                if v.dtype.kind == "f" and v.notna().all() and (v == v.round()).all():
                    df[col] = v.astype("int64")
            return df
        finally:
            conn.close()

    def metadata(self, run_id: int) -> dict[str, Any]:
        from qcodes.dataset import load_by_id

        conn = self._conn()
        try:
            md = load_by_id(run_id, conn=conn).metadata
            out = {}
            for k, v in md.items():
                if not k.startswith(_META_PREFIX):
                    continue
                k = k[len(_META_PREFIX):]
                try:
                    out[k] = json.loads(v)
                except (TypeError, ValueError):
                    out[k] = v
            return out
        finally:
            conn.close()

    def export_csv(self, run_id: int, path: str | Path) -> Path:
        from labbench.atomic import atomic_path

        path = Path(path)
        df = self.load(run_id)
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)
        return path
