"""``labbench measure`` (run a procedure on a bench) and ``labbench runs`` (the dataset)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from labbench.paths import BENCHES
from labbench.store import DEFAULT_DB

PROCEDURES = {
    "pulse-train": "PulseTrain",
    "forming": "Forming",
    "iv-sweep": "IVSweep",
    "retention": "Retention",
    "endurance": "Endurance",
    "array-map": "ArrayMap",
}


def _procedure_class(name: str):
    from labbench import procedures

    return getattr(procedures, PROCEDURES[name])


def _parse_params(cls, pairs: tuple[str, ...]) -> dict:
    """``key=value`` pairs checked against the procedure's declared parameters."""
    known = {k: p for k, p in cls()._parameters.items()}
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise click.BadParameter(f"{pair!r}: write parameters as key=value", param_hint="-p")
        if key not in known:
            raise click.BadParameter(f"{cls.__name__} has no parameter {key!r}; it has "
                                     f"{', '.join(sorted(known))}", param_hint="-p")
        param = known[key]
        try:
            param.value = raw          # PyMeasure's parameter does the type and range check
        except ValueError as e:
            raise click.BadParameter(f"{key}={raw!r}: {e}", param_hint="-p") from None
        out[key] = param.value
    return out


@click.command("measure")
@click.argument("procedure", type=click.Choice(sorted(PROCEDURES)))
@click.option("--bench", "bench_path", default=str(BENCHES / "sim.yaml"), show_default=True,
              type=click.Path(dir_okay=False), help="bench file (instruments, wiring, chip, limits)")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="procedure parameter, e.g. -p cells='0:4, 0:2' -p cycles=3 (repeatable)")
@click.option("--db", default=str(DEFAULT_DB), show_default=True, type=click.Path(dir_okay=False),
              help="QCoDeS dataset file")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False), help="also write the rows as CSV")
@click.option("--list-params", is_flag=True, help="print the procedure's parameters and defaults, then exit")
def measure(procedure, bench_path, params, db, csv_path, list_params):
    """Run a characterization PROCEDURE on a bench (real or simulated) into the dataset."""
    cls = _procedure_class(procedure)
    if list_params:
        for k, p in sorted(cls()._parameters.items()):
            click.echo(f"{k:<20} {p.name} (default {p.default!r})")
        return
    kwargs = _parse_params(cls, params)
    from labbench.instruments import Bench
    from labbench.runner import run_procedure
    from labbench.store import Store

    try:
        bench = Bench.from_yaml(bench_path)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    with bench:
        res = run_procedure(cls(**kwargs), bench, Store(db))
    if csv_path:
        res.data.to_csv(csv_path, index=False)
    click.echo(f"{procedure}: {res.status}, {len(res.data)} rows, run {res.run_id} in {db}"
               + (f", CSV {csv_path}" if csv_path else ""))


@click.group("runs", invoke_without_command=True)
@click.option("--db", default=str(DEFAULT_DB), show_default=True, type=click.Path(dir_okay=False))
@click.pass_context
def runs(ctx, db):
    """List the runs in the dataset (or export one: ``labbench runs export ID FILE.csv``)."""
    ctx.obj = db
    if ctx.invoked_subcommand is None:
        from labbench.store import Store

        if not Path(db).exists():
            raise click.ClickException(f"no dataset at {db}; run `labbench measure ...` first")
        table = Store(db).runs()
        click.echo(table.to_string(index=False) if len(table) else "no runs yet")


@runs.command("export")
@click.argument("run_id", type=int)
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--metadata", is_flag=True, help="also write the run's metadata as OUT.json")
@click.pass_obj
def export(db, run_id, out, metadata):
    """Write run RUN_ID as a tidy CSV (the format `labbench fit` reads)."""
    from labbench.store import Store

    store = Store(db)
    try:
        path = store.export_csv(run_id, out)
    except Exception as e:  # QCoDeS raises several types for a missing run
        raise click.ClickException(f"cannot export run {run_id} from {db}: {e}") from None
    if metadata:
        Path(out).with_suffix(".json").write_text(json.dumps(store.metadata(run_id), indent=2, default=str))
    click.echo(f"run {run_id} -> {path}")
