"""``labbench bench ...``: open a bench file, show what is there, close it safely; or
rehearse a run against simulated twins and show every command it would send."""
from __future__ import annotations

import json
import warnings

import click

from labbench import paths


def _bench_arg(ctx, param, value):
    try:
        return paths.resolve_bench(value)
    except paths.NotFound as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


@click.group()
def bench():
    """Benches: instruments, wiring and safety limits from a bench file."""


@bench.command()
@click.argument("path", metavar="BENCH", callback=_bench_arg)
@click.option("--read", "cell", nargs=3, type=int, default=None, metavar="ROW COL SIDE",
              help="also read one device's conductance")
def check(path, cell):
    """Validate BENCH (limits within the instruments' ratings, the operating point within
    the limits, the wiring), open it, print the IDNs and the snapshot, switch everything off.

    BENCH is a shipped name (sim, hardware_example) or a path."""
    from .bench import Bench

    warnings.simplefilter("ignore", UserWarning)
    with Bench.from_yaml(path) as b:
        click.echo(f"bench {b.config.name} ({'simulated' if b.simulated else 'hardware'}): "
                   f"limits and operating point checked")
        for name, idn in b.idns().items():
            click.echo(f"  {name:10s} {idn}")
        if cell:
            click.echo(f"  G{tuple(cell)} = {b.read_cell(*cell):.4e} S")
        click.echo(json.dumps(b.snapshot(), indent=2, default=str))
        errors = b.instrument_errors()
    for line in errors:
        click.echo(f"  instrument error: {line}", err=True)
    from labbench.runner import outputs_state

    unconfirmed = getattr(b, "unconfirmed_off", [])
    click.echo("outputs off, relays open" if not unconfirmed else outputs_state(unconfirmed), err=bool(unconfirmed))
    if unconfirmed:
        raise click.ClickException(f"{', '.join(unconfirmed)} did not confirm the safe state")
    if errors:
        raise click.ClickException(f"{len(errors)} instrument error(s) while checking the bench")


@bench.command()
@click.argument("path", metavar="BENCH", callback=_bench_arg)
@click.argument("procedure", required=False)
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="procedure parameter (repeatable)")
@click.option("--save", type=click.Path(dir_okay=False), default=None,
              help="also write the command streams as JSON")
@click.option("--limit", "max_lines", type=click.IntRange(0), default=40, show_default=True,
              help="commands printed per instrument (0 = all); --save keeps them all")
def rehearse(path, procedure, params, save, max_lines):
    """Dry-run PROCEDURE on BENCH with every instrument replaced by its simulated twin,
    and print the exact command stream each instrument would receive.

    Every value passes the same limit checks as on hardware before it is "sent", so a
    refused value is refused here too.  Nothing touches a real instrument.  Without a
    PROCEDURE, shows what opening and closing the bench sends."""
    from labbench.cli_options import procedure_params
    from labbench.procedures import REGISTRY as PROCEDURES
    from labbench.runner import run_procedure

    from .bench import Bench

    if procedure is not None and procedure not in PROCEDURES:
        raise click.BadParameter(f"{procedure!r} is not a procedure; choose from {', '.join(sorted(PROCEDURES))}",
                                 param_hint="PROCEDURE")
    kwargs = procedure_params(PROCEDURES[procedure], params) if procedure else {}
    if save:
        paths.ensure_writable_file(save, "command-stream file")
    warnings.simplefilter("ignore", UserWarning)
    b = Bench.rehearsal(path)
    status = "opened and closed"
    try:
        if procedure:
            res = run_procedure(PROCEDURES[procedure](**kwargs), b, None, progress=False)
            status = f"{procedure}: {res.status}, {len(res.data)} rows"
    finally:
        b.close()
    streams = {name: {"address": b.config.instruments[name].address,
                      "driver": b.config.instruments[name].driver,
                      "commands": list(inst.log or [])}
               for name, inst in b.world.instruments.items()}
    board = getattr(b.world, "arc2", None)
    if board is not None:   # an ArC TWO: the pyarc2 calls each execute() ran, step by step
        name = b.config.array_tester()
        streams[name] = {"address": f"board {board.id}", "driver": "pyarc2", "commands": board.program_lines()}
    click.echo(f"rehearsal of {b.config.name} ({path}): {status}; every value checked against the limits")
    for name, s in streams.items():
        cmds = s["commands"]
        click.echo(f"\n{name} ({s['driver']} at {s['address']}): {len(cmds)} commands")
        shown = cmds if not max_lines else cmds[:max_lines]
        for c in shown:
            click.echo(f"  {c}")
        if len(shown) < len(cmds):
            click.echo(f"  ... {len(cmds) - len(shown)} more (--limit 0 shows all, --save keeps all)")
    if save:
        from labbench.atomic import write_text

        write_text(save, json.dumps({"bench": str(path), "procedure": procedure, "parameters": kwargs,
                                     "status": status, "instruments": streams}, indent=1, default=str))
        click.echo(f"\ncommand streams written to {save}")
