"""A sweep on the live page: per-point progress and per-epoch metrics, read from the
sweep's own records (each point's ``metrics.csv``, rewritten by its trainer after every
epoch, on whichever worker runs it), and Abort for all its points.

Abort creates the sweep's stop file: points not started yet return at once without
running (cancelled, not in the table), running points see it at their next batch and end
``aborted``, keeping their finished epochs (checkpoint, dataset); finished points stay in
the table.  A file, not a message, so it reaches workers on any machine that shares the
sweep folder.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)

STOP = "STOP"          # the stop file, in the sweep folder
POLL_S = 1.0


def _label(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


class SweepWatch:
    def __init__(self, live, sweep, folder: Path):
        self.live, self.sweep, self.folder = live, sweep, Path(folder)
        self.stop_file = self.folder / STOP
        self.stop_file.unlink(missing_ok=True)          # a previous abort's
        self.status = {p.id: "pending" for p in sweep.points}
        self.epochs: dict[str, int] = {}
        self.acc: dict[str, float] = {}
        self._mtimes: dict[str, float] = {}
        self._stop = threading.Event()
        live.feed.started({"name": "sweep", "run_id": None,
                           "metadata": {"sweep": sweep.name, "fields": list(sweep.fields),
                                        "points": len(sweep.points)}})
        live.control.begin()
        self._publish()
        self._thread = threading.Thread(target=self._run, name="labbench-sweep-watch", daemon=True)
        self._thread.start()

    # -- the runner's side ---------------------------------------------------------------
    def finished_point(self, row: dict) -> None:
        self.status[row["point_id"]] = row.get("status", "failed")
        self._read(row["point_id"])
        self._publish()

    def skipped(self, ids) -> None:
        for pid in ids:
            self.status[pid] = "finished"
        self._publish()

    @property
    def aborted(self) -> bool:
        return self.live.control.abort_requested

    def close(self, status: str, reason: str = "") -> None:
        self._stop.set()
        self._thread.join(5)
        for p in self.sweep.points:
            self._read(p.id)
        self.live.control.end()
        self.live.feed.ended(status, reason)
        self._publish()
        self.stop_file.unlink(missing_ok=True)

    # -- the watcher thread ----------------------------------------------------------------
    def _run(self) -> None:
        acted = False
        while not self._stop.wait(POLL_S if not self.aborted else 0.1):
            try:
                if self.aborted and not acted:
                    acted = True
                    self.stop_file.touch()     # running points stop at their next batch, pending ones never start
                for p in self.sweep.points:
                    self._read(p.id)
                self._publish()
            except Exception as e:  # noqa: BLE001 - the view must not stop a sweep
                log.debug("sweep watch: %s", e)

    def _read(self, pid: str) -> None:
        """New epochs of point ``pid`` from its metrics.csv, into the feed."""
        path = self.folder / "points" / pid / "metrics.csv"
        if self.status.get(pid) == "pending" and path.parent.exists():
            self.status[pid] = "running"              # its trainer has made its run folder
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return
        if self._mtimes.get(pid) == mtime:
            return
        self._mtimes[pid] = mtime
        import pandas as pd

        try:
            df = pd.read_csv(path)
        except Exception:  # noqa: BLE001 - being replaced this instant: next poll
            return
        done = self.epochs.get(pid, 0)
        new = df[df["epoch"] > done]
        if new.empty:
            return
        point = next(p for p in self.sweep.points if p.id == pid)
        rows = [{"point": point.index, "point_id": pid, "label": _label(point.values), "epoch": int(r["epoch"]),
                 "test_acc": float(r.get("test_acc", float("nan"))), "train_acc": float(r.get("train_acc", float("nan")))}
                for r in new.to_dict("records")]
        self.epochs[pid] = int(new["epoch"].max())
        self.acc[pid] = rows[-1]["test_acc"]
        if self.status.get(pid) == "pending":
            self.status[pid] = "running"
        self.live.feed.rows(rows)

    def _publish(self) -> None:
        table = [{"point": p.index, "values": _label(p.values), "status": self.status.get(p.id, ""),
                  "epochs": self.epochs.get(p.id, 0), "test_acc": self.acc.get(p.id, float("nan"))}
                 for p in self.sweep.points]
        done = sum(s in ("finished", "failed", "aborted") for s in self.status.values())
        self.live.feed.progress(100.0 * done / max(1, len(self.sweep.points)))
        self.live.feed.extra("points", table)
