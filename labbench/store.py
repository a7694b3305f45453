"""Measurements in a QCoDeS SQLite dataset (``data/labbench.db`` by default).

One run per procedure execution.  A run has index columns (setpoints: cell, cycle,
pulse, epoch, …) and value columns (conductance, current, accuracy, …); the bench
snapshot and the procedure parameters go in as JSON metadata.  QCoDeS flushes rows to
SQLite every ``write_period`` seconds, so a crash loses at most that much.

We wrap QCoDeS rather than use it bare because procedures think in tidy tables
(pandas) and we want no global QCoDeS config: every call names its database file.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd

from labbench.paths import DATA

DEFAULT_DB = DATA / "labbench.db"
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


class RunWriter:
    """Appends rows to one open QCoDeS run (obtained from :meth:`Store.run`)."""

    def __init__(self, datasaver, index: list[str], values: list[str]):
        self._saver = datasaver
        self.index, self.values = index, values
        self.rows = 0

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
        self._saver.add_result(*arrays.items())
        self.rows += lengths.pop()

    def add_frame(self, df: pd.DataFrame) -> None:
        self.add(**{c: df[c].to_numpy() for c in self.index + self.values})

    def add_metadata(self, key: str, value: Any) -> None:
        self._saver.dataset.add_metadata(_META_PREFIX + key, json.dumps(_jsonable(value)))


class Store:
    """A QCoDeS database file of labbench runs."""

    def __init__(self, path: str | Path = DEFAULT_DB, write_period: float = 1.0):
        self.path = Path(path)
        self.write_period = write_period
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _conn(self):
        from qcodes.dataset import connect

        return connect(str(self.path))

    @contextmanager
    def run(self, name: str, index: Mapping[str, str], values: Mapping[str, str], *,
            sample: str = "chip", metadata: Mapping[str, Any] | None = None) -> Iterator[RunWriter]:
        """Open a run.  ``index`` and ``values`` map column names to units ('' if none).

        Text columns are given the unit ``"text"``.  Metadata (the bench snapshot,
        procedure parameters) is stored as JSON under each key.
        """
        from qcodes.dataset import Measurement, load_or_create_experiment

        conn = self._conn()
        try:
            exp = load_or_create_experiment(name, sample_name=sample, conn=conn)
            meas = Measurement(exp=exp, name=name)
            meas.write_period = self.write_period
            for col, unit in index.items():
                meas.register_custom_parameter(col, unit="" if unit == "text" else unit,
                                               paramtype="text" if unit == "text" else "numeric")
            for col, unit in values.items():
                meas.register_custom_parameter(col, unit="" if unit == "text" else unit,
                                               setpoints=list(index),
                                               paramtype="text" if unit == "text" else "numeric")
            with meas.run() as saver:
                writer = RunWriter(saver, list(index), list(values))
                for k, v in (metadata or {}).items():
                    writer.add_metadata(k, v)
                yield writer
        finally:
            conn.close()

    def runs(self) -> pd.DataFrame:
        """One row per run: id, name, experiment, sample, rows, completed."""
        from qcodes.dataset import load_by_id
        from qcodes.dataset.sqlite.queries import get_runs

        if not self.path.exists():
            return pd.DataFrame(columns=["run_id", "name", "experiment", "sample", "rows", "completed"])
        conn = self._conn()
        try:
            out = []
            for run_id in get_runs(conn):
                ds = load_by_id(run_id, conn=conn)
                out.append({"run_id": run_id, "name": ds.name, "experiment": ds.exp_name,
                            "sample": ds.sample_name, "rows": ds.number_of_results,
                            "completed": ds.completed})
            return pd.DataFrame(out)
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
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        self.load(run_id).to_csv(tmp, index=False)
        tmp.replace(path)
        return path
