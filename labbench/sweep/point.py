"""One sweep point, as a Dask task: the point's :class:`~labbench.bnn.spec.TrainSpec` run by a
:class:`~labbench.bnn.run.TrainRun` on :class:`~labbench.array.sim_array.SimArray`,
returning one row of the results table.

The function never raises for a point's own failure: the error is the row's ``error``
and its status ``failed``, so one bad point does not stop the others.  Its run folder
keeps the trainer's checkpoint, so a point cut short (Ctrl-C, a lost worker) resumes
from its last finished epoch the next time the sweep runs.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import socket
import threading
import time
import traceback
from pathlib import Path

#: per-epoch metrics summed over the run (counters); the last epoch's for the rest
COUNTERS = ("set_pulses", "refresh_set_pulses", "reset_ops", "refreshes", "pairs_refreshed",
            "sign_reads", "conductance_reads")


def summarize(history: list[dict]) -> dict:
    """The table's metrics from a trainer's per-epoch history."""
    if not history:
        return {}
    last = history[-1]
    out = {"test_acc": float(last["test_acc"]), "best_test_acc": max(float(h["test_acc"]) for h in history),
           "train_acc": float(last.get("train_acc", math.nan)), "train_loss": float(last.get("train_loss", math.nan)),
           "epochs_done": int(last["epoch"]), "train_seconds": float(sum(h.get("seconds", 0.0) for h in history)),
           "samples_per_s": float(last.get("samples_per_s", math.nan))}
    for k in COUNTERS:
        out[k] = int(sum(int(h.get(k, 0) or 0) for h in history))
    # what the run kept per synapse and in which precision mode (DESIGN principle 9), when
    # the trainer reports it; any other text-valued metric is carried over as it is
    for k, v in last.items():
        if k in out or k in COUNTERS or k in ("epoch", "lr", "seconds"):
            continue
        if k in ("bytes_per_synapse", "digital_bytes_other") or isinstance(v, str):
            out[k] = v
    out["refresh_per_update_pulse"] = (out["refresh_set_pulses"] / out["set_pulses"]
                                       if out["set_pulses"] else math.nan)
    return out


# QCoDeS is not safe for two threads of one process writing one dataset (processes are: the
# store locks the file); points that share a process (threaded workers) take turns.
_IN_PROCESS = threading.Lock()


def run_point(point: dict, out_dir: str, db: str | None, stop_file: str | None = None) -> dict:
    """Train one point (a :class:`~labbench.sweep.spec.Point` as a dict); one table row back.

    ``stop_file``: the sweep's live view creates it at Abort; the point then stops at its
    next batch, its epochs so far kept (checkpoint, dataset), status ``aborted``."""
    t0, c0 = time.perf_counter(), time.process_time()
    row = {"point_id": point["id"], "status": "failed", "error": "", "started": time.time(),
           "host": socket.gethostname(), "pid": os.getpid()}
    if stop_file and Path(stop_file).exists():
        return {**row, "status": "cancelled"}     # the sweep was aborted before this point started
    try:
        from labbench.bnn.run import TrainRun
        from labbench.bnn.spec import TrainSpec

        spec = TrainSpec(**point["train"], device_model=point["device"], data=point["data"],
                         output={"dir": out_dir, "db": db, "plots": False})
        control = None
        if stop_file:
            from labbench.live.control import StopFile

            control = StopFile(stop_file)
        # the sweep folder's lock covers its points; MNIST is where the sweep found it
        run = TrainRun(spec, progress=False, download=False, lock=False, control=control).prepare()
        with contextlib.ExitStack() as stack:
            if db:
                stack.enter_context(_IN_PROCESS)
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))  # QCoDeS's "Starting experimental run"
            history = run.run()
        row.update(summarize(history))
        row["resumed_from_epoch"] = run.resumed_from_epoch   # a point cut short before resumes its checkpoint
        row["status"] = "finished"
        row["config"] = json.dumps(spec.flat(), sort_keys=True)
    except KeyboardInterrupt as e:
        from labbench.errors import Aborted

        if not isinstance(e, Aborted):
            raise                     # a signal in this process: the caller's to handle
        row["status"], row["error"] = "aborted", str(e)
    except Exception as e:  # noqa: BLE001 - recorded in the table; the other points go on
        row["error"] = f"{type(e).__name__}: {e}"
        row["traceback"] = traceback.format_exc(limit=20)
    # results depend (in the last digits, then through training) on how many BLAS threads
    # summed the matrix products: recorded, so two rows can be compared like for like
    row["blas_threads"] = str(os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default")
    row["seconds"] = time.perf_counter() - t0
    # CPU time of this process while the point ran (every thread): beside the wall time it
    # shows whether the point had its core (a busy machine: CPU << wall)
    row["cpu_seconds"] = time.process_time() - c0
    row["finished"] = time.time()
    return row
