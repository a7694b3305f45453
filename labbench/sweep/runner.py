"""Running a sweep on Dask: points as tasks, results into one tidy table as they finish.

The sweep folder holds::

    sweep.yaml          the sweep file as run
    results.parquet     one row per point (configuration, metrics, status, code version)
    results.csv         the same table as CSV
    run.json            the last run's timing (cluster start, wall, Dask overhead)
    points/<id>/        each point's run folder (checkpoint, metrics.csv)
    labbench.db         per-epoch metrics of every point (labbench.store)
    plots/*.png         accuracy against the swept fields

The table is rewritten (atomically) after every finished point, so Ctrl-C, a killed
process or a lost worker never loses a finished point; running the sweep again skips the
points the table holds as finished and retries the rest (a point cut short resumes from
its checkpoint).
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from labbench.atomic import atomic_path, write_text

from .spec import Sweep, SweepError

TABLE = "results.parquet"
CSV = "results.csv"


def code_version() -> str:
    """labbench's version, with the git commit (and '.dirty') when run from a checkout."""
    import labbench

    v = labbench.__version__
    here = Path(labbench.__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        if sha.returncode != 0:
            return v
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", str(here)],
                               capture_output=True, text=True, timeout=10)
        return f"{v}+g{sha.stdout.strip()}{'.dirty' if dirty.stdout.strip() else ''}"
    except (OSError, subprocess.SubprocessError):
        return v


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _cell(v):
    """A table cell: lists (layer sizes) as JSON text, so every column has one type."""
    return json.dumps(v) if isinstance(v, (list, tuple, dict)) else v


def read_table(folder: Path) -> pd.DataFrame:
    p = Path(folder) / TABLE
    if not p.exists():
        return pd.DataFrame()
    try:
        return pd.read_parquet(p)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise SweepError(f"{p} is not a readable results table ({type(e).__name__}: {e}); "
                         "move it away to start the sweep over, or choose another --out") from None


def write_table(folder: Path, rows: list[dict], fields: list[str]) -> pd.DataFrame:
    """The table (one row per point, latest result wins) as Parquet and CSV, atomically."""
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.drop_duplicates("point_id", keep="last")
        front = ["sweep", "point", "point_id", *fields, "status", "error"]
        df = df[[c for c in front if c in df] + [c for c in df if c not in front]]
        for c in df.columns:          # one type per column (Parquet): mixed objects as text
            if df[c].dtype == object:
                kinds = {type(v) for v in df[c] if v is not None and not (isinstance(v, float) and math.isnan(v))}
                if len(kinds) > 1 or (kinds and not kinds <= {str}):
                    if not kinds <= {int, float} and not kinds <= {bool}:
                        df[c] = df[c].map(lambda v: v if v is None else str(v))
    with atomic_path(folder / TABLE) as tmp:
        df.to_parquet(tmp, index=False)
    with atomic_path(folder / CSV) as tmp:
        df.to_csv(tmp, index=False)
    return df


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def check_folder(sweep: Sweep, out: Path) -> None:
    """A sweep folder holds one sweep: refuse to mix another one's points into its table."""
    old = Path(out) / "sweep.yaml"
    if not old.exists():
        return
    from labbench.yamlfile import load_yaml

    try:
        stored = load_yaml(old.read_text()) or {}
    except Exception:  # noqa: BLE001 - an unreadable record is replaced
        return
    name = stored.get("name")
    if name is not None and str(name) != sweep.name:
        raise SweepError(f"{out} holds the results of sweep {name!r}, not {sweep.name!r}; choose another --out "
                         "(a sweep folder keeps one sweep's table)")
    ignore = {"description", "plots"}
    changed = sorted(k for k in set(stored) | set(sweep.raw) if k not in ignore
                     and _canonical(stored.get(k)) != _canonical(sweep.raw.get(k)))
    if changed and (Path(out) / TABLE).exists():
        raise SweepError(f"{out} holds the results of sweep {sweep.name!r} run from a different version of its file "
                         f"(changed: {', '.join(changed)}); resuming would mix both in one table: choose another "
                         f"--out for the changed sweep, or delete {Path(out) / TABLE} to start it over")


def check_resume(sweep: Sweep, table: pd.DataFrame, out: Path) -> None:
    """A finished row is skipped on a re-run only if it ran the settings and the device
    model this labbench makes of its point today: a table never mixes two configurations
    (a changed default, a device-model file edited since, a labbench whose physics
    changed).  Settings a row predates count as their defaults (labbench.bnn.spec.differences)."""
    if table.empty or "config" not in table:
        return
    from labbench.bnn.spec import differences

    by_id = {p.id: p for p in sweep.points}
    for _, row in table[table["status"] == "finished"].iterrows():
        p = by_id.get(row["point_id"])
        if p is None or not isinstance(row.get("config"), str):
            continue
        now, then = p.spec().flat(), json.loads(row["config"])
        changed = [f"{k} ({then.get(k, 'its default')!r} there, {now.get(k)!r} now)" for k in differences(now, then)]
        dev = json.loads(json.dumps(p.device))          # as the table holds it (tuples as lists)
        if isinstance(row.get("device"), str) and (old := json.loads(row["device"])) != dev:
            keys = sorted(k for k in set(old) | set(dev) if old.get(k) != dev.get(k))
            changed.append(f"the device model ({', '.join(keys)} differ)")
        if changed:
            raise SweepError(
                f"{Path(out) / TABLE}: point {p.index} ({_describe(p.values)}) finished with other settings than "
                f"this labbench makes of it today: {'; '.join(changed)}; resuming would mix two configurations "
                f"in one table: run the sweep into another --out, or delete {Path(out) / TABLE} to start it over")


@dataclass
class RunInfo:
    points: int
    skipped: int
    ran: int
    finished: int
    failed: int
    workers: int
    blas_threads: int
    scheduler: str
    cluster_start_s: float
    wall_s: float
    point_seconds: float            # the points' own time, summed
    overhead_s: float               # wall − point time / workers (scheduling, transfer, startup)
    interrupted: bool = False


@contextlib.contextmanager
def dask_client(workers: int | None, scheduler: str | None, connect_timeout: float, processes: bool = True,
                blas_threads: int | None = None):
    """A Dask client: a LocalCluster of ``workers`` single-task workers (default one per
    core), each with ``blas_threads`` BLAS threads (default 1; never more than
    cores // workers, so BLAS does not oversubscribe), or the cluster at ``scheduler``.
    Yields (client, workers, blas).

    One BLAS thread is the default because a training step's matrix products are small:
    measured on a shared 2-core machine, a 784-300-10 point took 6–12 s with 2 OpenBLAS
    threads in one worker and 1–3 s with 1 thread in each of 2 workers (OpenBLAS threads
    spin-wait on each other when other processes hold the cores)."""
    import dask
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)
    if scheduler:
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError) as e:
            raise SweepError(f"--scheduler {scheduler}: no Dask scheduler answered within {connect_timeout:g} s "
                             f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'timed out'}); "
                             "is `dask scheduler` running there, and is the address host:port "
                             "(e.g. tcp://10.0.0.5:8786)?") from None
        try:
            info = client.scheduler_info()
            n = max(1, len(info.get("workers", {})))
            yield client, n, 0
        finally:
            client.close()
        return
    n_cores = cores()
    n = workers or n_cores
    blas = max(1, min(blas_threads or 1, n_cores // n))
    # a worker's pulse helper thread (labbench.array.pulse_stream) only where each worker
    # has a core to spare: with a worker per core it would take a neighbour's core
    env = {"OMP_NUM_THREADS": blas, "MKL_NUM_THREADS": blas, "OPENBLAS_NUM_THREADS": blas,
           "MALLOC_TRIM_THRESHOLD_": 1 << 30, "LABBENCH_PULSE_HELPER": int(n_cores // n >= 2)}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env,
                          "distributed.worker.daemon": False}):
        # no Dask dashboard: nothing shows it (sweep --live is the sweep's page), and it cost
        # 0.3 s of the cluster's start and ~1 % of a core while the points ran
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                               dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield client, n, blas if processes else 0
    finally:
        with contextlib.suppress(Exception):
            client.close()
        with contextlib.suppress(Exception):
            cluster.close(timeout=10)


def point_row(sweep: Sweep, p, result: dict, version: str, run_dir: Path) -> dict:
    row = {"sweep": sweep.name, "point": p.index, "point_id": p.id,
           **{f: _cell(p.values.get(f)) for f in sweep.fields}}
    row.update(result)          # a failed point's traceback too, for whoever debugs it
    row.update({"device_model": p.device_model, "device": json.dumps(p.device, sort_keys=True),
                "train": json.dumps(p.train, sort_keys=True), "code_version": version,
                "run_dir": str(run_dir)})
    row.setdefault("config", json.dumps(p.train, sort_keys=True))
    return row


def run_sweep(sweep: Sweep, out: Path, *, workers: int | None = None, scheduler: str | None = None,
              connect_timeout: float = 10.0, db: Path | None = None, progress: bool = True,
              processes: bool = True, blas_threads: int | None = None, say=print,
              watch=None) -> tuple[pd.DataFrame, RunInfo]:
    """Run the points of ``sweep`` not yet finished in ``out``; the table and timings.

    KeyboardInterrupt (Ctrl-C, SIGTERM) propagates after the finished points are saved
    and the cluster is closed; ``run.json`` then records ``interrupted``.  ``watch``
    (:class:`labbench.live.sweep_watch.SweepWatch`) shows the sweep live; its Abort
    cancels pending points, stops running ones at their next batch, and ends the sweep
    with :class:`~labbench.errors.Aborted` once they have returned.
    """
    from .point import run_point

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_folder(sweep, out)
    old = read_table(out)
    check_resume(sweep, old, out)
    rows = old.to_dict("records") if not old.empty else []
    done = set(old.loc[old["status"] == "finished", "point_id"]) if not old.empty else set()
    todo = [p for p in sweep.points if p.id not in done]
    version = code_version()
    info = RunInfo(points=len(sweep.points), skipped=len(sweep.points) - len(todo), ran=0, finished=0, failed=0,
                   workers=0, blas_threads=0, scheduler=scheduler or "local", cluster_start_s=0.0, wall_s=0.0,
                   point_seconds=0.0, overhead_s=0.0)
    if info.skipped:
        say(f"{info.skipped} of {len(sweep.points)} points already finished in {out / TABLE}: skipped")
    if watch is not None:
        watch.skipped(done)
    if not todo:
        write_text(out / "sweep.yaml", _yaml(sweep.raw))
        return (old if not old.empty else write_table(out, rows, sweep.fields)), info
    by_id = {p.id: p for p in sweep.points}
    t0 = time.perf_counter()
    bar = None
    started = False
    try:
        with dask_client(workers, scheduler, connect_timeout, processes, blas_threads) as (client, n, blas):
            info.workers, info.blas_threads = n, blas
            started = True
            write_text(out / "sweep.yaml", _yaml(sweep.raw))
            info.cluster_start_s = time.perf_counter() - t0
            say(f"sweep {sweep.name}: {len(todo)} point(s) on {n} Dask worker(s)"
                + (f" ({blas} BLAS thread(s) each)" if blas else f" at {scheduler}" if scheduler
                   else " (threads of this process)")
                + f"; table {out / TABLE}")
            from distributed import as_completed

            futures = []
            for p in todo:
                run_dir = out / "points" / p.id
                futures.append(client.submit(run_point, {**asdict(p)}, str(run_dir), str(db) if db else None,
                                             str(watch.stop_file) if watch is not None else None,
                                             key=f"labbench-point-{sweep.name}-{p.id}", pure=False))
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=len(futures), unit="point", desc=f"sweep {sweep.name}", smoothing=0)
            t_run = time.perf_counter()
            for fut in as_completed(futures):
                pid = fut.key.rsplit("-", 1)[1]
                p = by_id[pid]
                try:
                    result = fut.result()
                except Exception as e:  # noqa: BLE001 - a worker that died, a task Dask lost
                    result = {"point_id": pid, "status": "failed", "error": f"{type(e).__name__}: {e}"}
                if result.get("status") == "cancelled":      # the live view's Abort came first
                    continue
                rows.append(point_row(sweep, p, result, version, out / "points" / pid))
                write_table(out, rows, sweep.fields)
                if watch is not None:
                    watch.finished_point(rows[-1])
                info.ran += 1
                info.point_seconds += float(result.get("seconds", 0.0) or 0.0)
                if result.get("status") == "finished":
                    info.finished += 1
                elif result.get("status") == "aborted":
                    pass                                # stopped from the live view: resumes next time
                else:
                    info.failed += 1
                    msg = f"point {p.index} ({_describe(p.values)}) failed: {result.get('error')}"
                    (bar.write if bar is not None else say)(msg)
                if bar is not None:
                    bar.set_postfix(failed=info.failed, refresh=False)
                    bar.update(1)
            info.wall_s = time.perf_counter() - t0
            run_wall = time.perf_counter() - t_run
            info.overhead_s = max(0.0, run_wall - info.point_seconds / max(n, 1))
            if watch is not None and watch.aborted:
                from labbench.errors import Aborted

                raise Aborted()
    except KeyboardInterrupt:
        info.interrupted = True
        info.wall_s = time.perf_counter() - t0
        raise
    finally:
        if bar is not None:
            bar.close()
        if started:
            with contextlib.suppress(OSError):       # a full disk must not hide the real error
                write_text(out / "run.json", json.dumps({**asdict(info), "code_version": version},
                                                        indent=2))
    table = read_table(out)
    return table, info


def _describe(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _yaml(raw: dict) -> str:
    import yaml

    return yaml.safe_dump(raw, sort_keys=False, width=100)


def make_plots(sweep: Sweep, table: pd.DataFrame, out: Path) -> list[Path]:
    """The sweep file's plots (accuracy against a field, grouped by another) as PNGs."""
    from .plots import plot_sweep

    made = []
    if table.empty or not (table["status"] == "finished").any():
        return made
    (out / "plots").mkdir(exist_ok=True)
    for pl in sweep.plots:
        y = pl.get("y", "test_acc")
        name = f"{y}_vs_{pl['x']}" + (f"_by_{pl['by']}" if pl.get("by") else "")
        path = out / "plots" / f"{name.replace('.', '_')}.png"
        plot_sweep(table, sweep.fields, pl["x"], pl.get("by"), y, path)
        made.append(path)
    return made
