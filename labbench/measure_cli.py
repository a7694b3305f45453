"""``labbench measure`` (run a procedure on a bench) and ``labbench runs`` (the dataset)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from labbench.cli_options import bench_option, db_option, live_options, out_option, procedure_params, resolve_db
from labbench.errors import RunFailed
from labbench.paths import default_db, ensure_writable_file

from labbench.procedures import REGISTRY as PROCEDURES


def _procedure_class(name: str):
    return PROCEDURES[name]


@click.command("measure")
@click.argument("procedure", type=click.Choice(sorted(PROCEDURES)))
@bench_option()
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="procedure parameter, e.g. -p cells='0:4, 0:2' -p cycles=3 (repeatable)")
@db_option()
@out_option()
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False), help="also write the rows as CSV")
@click.option("--list-params", is_flag=True, help="print the procedure's parameters and defaults, then exit")
@live_options()
def measure(procedure, bench_path, params, db, out, csv_path, list_params):
    """Run a characterization PROCEDURE on a bench (real or simulated) into the dataset."""
    cls = _procedure_class(procedure)
    if list_params:
        for k, p in sorted(cls()._parameters.items()):
            click.echo(f"{k:<20} {p.name} (default {p.default!r})")
        return
    kwargs = procedure_params(cls, params)
    # every output location is checked before the bench is opened
    db_path = resolve_db(db, out)
    if csv_path:
        ensure_writable_file(csv_path, "CSV file")   # an OutputError: the CLI's boundary words it
    from labbench.instruments import Bench
    from labbench.live.session import from_cli
    from labbench.runner import run_procedure
    from labbench.store import Store

    store = Store(db_path)
    failure = None
    with from_cli() as live, Bench.from_yaml(bench_path) as bench:
        if live is not None:
            live.follow_bench(bench)
            live.feed.expect({"name": cls.__name__, "metadata": {"parameters": kwargs}})
        try:
            res = run_procedure(cls(**kwargs), bench, store, tap=live and live.feed, control=live and live.control)
        except (RunFailed, KeyboardInterrupt) as e:   # an abort writes its CSV too
            failure, res = e, getattr(e, "result", None)
    if csv_path and res is not None and len(res.data):
        from labbench.atomic import atomic_path

        with atomic_path(csv_path) as tmp:
            res.data.to_csv(tmp, index=False)
    if failure is not None:
        raise failure
    click.echo(f"{procedure}: {res.status}, {len(res.data)} rows, run {res.run_id} in {db_path}"
               + (f", CSV {csv_path}" if csv_path else ""))


@click.group("runs", invoke_without_command=True)
@db_option()
@out_option()
@click.pass_context
def runs(ctx, db, out):
    """List the runs in the dataset (or export one: ``labbench runs export ID FILE.csv``)."""
    from labbench.store import Store

    db = Path(db) if db else default_db(out)
    ctx.obj = db
    if ctx.invoked_subcommand is None:
        table = Store.existing(db).runs()
        if not len(table):
            click.echo("no runs yet")
            return
        with pd_display():
            click.echo(table.to_string(index=False))


def pd_display():
    import pandas as pd

    return pd.option_context("display.width", 160, "display.max_colwidth", 60)


@runs.command("export")
@click.argument("run_id", type=click.IntRange(1))
@click.argument("out_csv", metavar="OUT", type=click.Path(dir_okay=False))
@click.option("--metadata", is_flag=True, help="also write the run's metadata as OUT.json")
@db_option("QCoDeS dataset file (also accepted before 'export')")
@click.pass_obj
def export(parent_db, run_id, out_csv, metadata, db):
    """Write run RUN_ID as a tidy CSV (the format `labbench fit` reads)."""
    from labbench.store import Store

    db = Path(db) if db else parent_db

    ensure_writable_file(out_csv, "CSV file")
    store = Store.existing(db)
    if run_id not in set(store.runs().run_id):
        raise click.ClickException(f"no run {run_id} in {db}; `labbench runs --db {db}` lists them")
    path = store.export_csv(run_id, out_csv)
    if metadata:
        from labbench.atomic import write_text

        write_text(Path(out_csv).with_suffix(".json"), json.dumps(store.metadata(run_id), indent=2, default=str))
    click.echo(f"run {run_id} -> {path}")
