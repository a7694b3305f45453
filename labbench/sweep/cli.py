"""``labbench sweep FILE``: a design-space sweep of training runs on Dask.

Checked before anything runs, in this order: the sweep file (every point built: an
unknown field, an empty list, NaN or an out-of-range value names the field), the output
folder (created and proved writable), the dataset file, MNIST (when the sweep trains on
it), then the scheduler (``--scheduler``: an address that does not answer is an error
within ``--connect-timeout``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from labbench.cli_options import db_option, live_options, out_option


@click.command("sweep")
@click.argument("file", type=click.Path(dir_okay=True))
@out_option(help="sweep folder: results table, point runs, plots (default: $LABBENCH_OUT, else the current "
                 "folder, /sweeps/<name>); a table already there is continued: finished points are skipped")
@click.option("--workers", default=None, type=click.IntRange(1, 1024),
              help="local Dask workers, one point each at a time (default: one per core)")
@click.option("--blas-threads", default=1, show_default=True, type=click.IntRange(1, 1024),
              help="BLAS threads per local worker, at most cores // workers (more would oversubscribe)")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="run on an existing Dask cluster (e.g. tcp://10.0.0.5:8786) instead of a local one; "
                   "its workers need labbench installed, MNIST at the same path, and the sweep folder "
                   "(point runs, the dataset) on a filesystem they share with this machine, or --no-db")
@click.option("--connect-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1, 600),
              help="seconds to wait for --scheduler")
@db_option(help="QCoDeS dataset for per-epoch metrics (default: labbench.db in the sweep folder)")
@click.option("--no-db", is_flag=True, help="do not write per-epoch metrics to a dataset")
@click.option("--plot", "extra_plots", multiple=True, metavar="X[:BY]",
              help="also plot test accuracy against swept field X, one line per value of BY (repeatable); "
                   "with every point finished, a re-run only makes the plots")
@click.option("--dry-run", is_flag=True, help="check the file, list the points and estimate the time (a short "
                                             "probe of each network on this machine); run nothing")
@click.option("--budget", default=None, metavar="DURATION",
              help="refuse, before the first point, a sweep estimated to take longer (e.g. 3h, 90min)")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.option("--threads", "in_process", is_flag=True, hidden=True,
              help="local workers as threads of this process (tests: no process start-up)")
@live_options()
def sweep(file, out, workers, blas_threads, scheduler, connect_timeout, db, no_db, extra_plots, dry_run, budget,
          quiet, in_process):
    """Run a sweep file: every point a full training run on SimArray, on Dask."""
    from labbench import paths
    from labbench.folderlock import FolderLock

    from .spec import load_sweep

    if workers and scheduler:
        raise click.UsageError("--workers sizes a local cluster; with --scheduler the cluster's own workers run "
                               "the points: give one of them")
    if no_db and db:
        raise click.UsageError("--db and --no-db contradict each other; give one")
    sw = load_sweep(file)
    _add_plots(sw, extra_plots, file)
    limit = _budget_seconds(budget)
    if dry_run:
        click.echo(f"sweep {sw.name}: {len(sw.points)} point(s) over {', '.join(sw.fields)}")
        for p in sw.points:
            click.echo(f"  {p.index:>4}  {p.id}  " + ", ".join(f"{k}={v}" for k, v in p.values.items()))
    if dry_run or limit is not None:
        _check_budget(sw, workers, scheduler, limit, budget, say=click.echo if dry_run else (lambda *_: None))
    if dry_run:
        return
    folder = Path(out) if out else paths.output_dir() / "sweeps" / sw.name
    made = paths.missing_folders(folder)
    paths.ensure_writable_dir(folder, "sweep folder (--out)")
    try:
        with FolderLock(folder, "sweep"):       # a second sweep into this folder is refused, naming this one
            db_path = _prepare(sw, folder, None if no_db else db or str(folder / "labbench.db"))
            table, info = _run(sw, folder, dict(workers=workers, scheduler=scheduler,
                                                connect_timeout=connect_timeout, db=db_path, progress=not quiet,
                                                processes=not in_process, blas_threads=blas_threads))
            _report(sw, folder, table, info)
    except BaseException:
        paths.remove_if_empty(made)     # a folder made for a sweep refused before any point ran
        raise


def _budget_seconds(budget: str | None) -> float | None:
    if budget is None:
        return None
    from labbench.bnn.evaluate import parse_durations

    try:
        (seconds,) = parse_durations(budget)
    except ValueError:
        raise click.BadParameter(f"{budget!r}: give one duration, e.g. 3h or 90min", param_hint="'--budget'") from None
    return seconds


def _check_budget(sw, workers, scheduler, limit, budget, say) -> None:
    """The sweep's estimated time (``say`` prints it); beyond ``limit`` s it is refused."""
    import os

    from .estimate import estimate

    if scheduler is not None:
        say("estimate: not made for a --scheduler cluster (its workers' speed is not known here)")
        if limit is not None:
            raise click.UsageError("--budget needs a local cluster (--workers): a --scheduler cluster's speed is "
                                   "not known here")
        return
    est = estimate(sw, workers or os.cpu_count() or 1)
    say(est.text())
    if limit is not None and est.seconds > limit:
        raise click.UsageError(f"sweep {sw.name!r}: {est.text()}: more than --budget {budget}; run fewer points or "
                               f"epochs, more workers, or raise --budget (nothing was started)")


def _add_plots(sw, extra_plots, file) -> None:
    """``--plot X[:BY]``: more plots of swept fields."""
    for spec in extra_plots:
        x, _, by = spec.partition(":")
        for f in (x, by):
            if f and f not in sw.fields:
                raise click.BadParameter(f"{f!r} is not a swept field of {file}; swept: {', '.join(sw.fields)}",
                                         param_hint="'--plot'")
        sw.plots.append({"x": x, **({"by": by} if by else {})})


def _prepare(sw, folder: Path, db: str | None):
    """The checks before any point runs: the folder holds this sweep (and its finished
    points the settings they would run with today), the dataset, MNIST.  The dataset's path."""
    from labbench.cli_options import resolve_db
    from labbench.live.session import check_cli

    from .runner import check_folder, check_resume, read_table

    check_cli()                    # a wrong --live* option is a typo: said before anything else
    check_folder(sw, folder)
    check_resume(sw, read_table(folder), folder)
    db_path = None if db is None else resolve_db(db)
    if db_path is not None:
        from labbench.store import Store

        Store(db_path)             # refuses a file that is not a dataset
    if sw.data["kind"] == "mnist":
        from labbench.bnn.mnist import ENV, MnistError, find_folder, target_folder

        found = find_folder(sw.data.get("path"))
        if found is None:
            raise MnistError(f"MNIST not found: put the four MNIST .gz files into "
                             f"{target_folder(sw.data.get('path'))} (or set ${ENV}, or data: {{kind: mnist, "
                             f"path: FOLDER}} in the sweep file); the sweep does not download")
        for p in sw.points:          # workers (of a --scheduler cluster too) read this folder
            p.data = {**p.data, "path": str(Path(found).resolve())}
    return db_path


def _run(sw, folder: Path, options: dict):
    """Run the points, with the live view when asked; Ctrl-C exits 130 (143 for SIGTERM)
    after saying how many points finished."""
    from labbench.errors import Aborted, interrupt_reason
    from labbench.live.session import from_cli

    from .runner import TABLE, read_table, run_sweep

    try:
        with from_cli() as live:
            watch = None
            if live is not None:
                from labbench.live.sweep_watch import SweepWatch

                live.control.pausable = False
                watch = SweepWatch(live, sw, folder)
            status, reason = "failed", ""
            try:
                result = run_sweep(sw, folder, say=lambda m: click.echo(m, err=True), watch=watch, **options)
                status = "finished"
                return result
            except KeyboardInterrupt as e:
                status, reason = "aborted", interrupt_reason(e)
                raise
            finally:
                if watch is not None:
                    watch.close(status, reason)
    except KeyboardInterrupt as e:
        t = read_table(folder)
        n = int((t["status"] == "finished").sum()) if not t.empty else 0
        rest = ("run the same command again to do the rest" if n < len(sw.points)
                else "run the same command again to make the plots")
        click.echo(f"{interrupt_reason(e)}: {n} of {len(sw.points)} points finished and saved in "
                   f"{folder / TABLE}; {rest}", err=True)
        sys.exit(130 if isinstance(e, Aborted) or not str(e) or str(e) == "SIGINT" else 143)


def _report(sw, folder: Path, table, info) -> None:
    """The plots and a summary line; exit status 1 when a point failed."""
    from .runner import TABLE, make_plots

    plots = make_plots(sw, table, folder)
    fin = int((table["status"] == "finished").sum()) if not table.empty else 0
    failed = int((table["status"] == "failed").sum()) if not table.empty else 0
    if info.ran:
        click.echo(f"{info.ran} point(s) in {info.wall_s:.1f} s on {info.workers} worker(s) "
                   f"(cluster start {info.cluster_start_s:.1f} s; points' own time {info.point_seconds:.1f} s; "
                   f"Dask overhead ~{info.overhead_s:.1f} s)")
    click.echo(f"{fin} of {len(sw.points)} points finished, {failed} failed; table {folder / TABLE} "
               f"(CSV {folder / 'results.csv'})" + (f"; plots {', '.join(str(p) for p in plots)}" if plots else ""))
    if failed:
        click.echo("failed points are listed in the table's 'error' column; running the sweep again retries them",
                   err=True)
        sys.exit(1)


if __name__ == "__main__":
    sweep(sys.argv[1:])
