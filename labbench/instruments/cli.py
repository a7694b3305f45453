"""``labbench bench ...``: open a bench file, show what is there, close it safely."""
from __future__ import annotations

import json
import warnings

import click


@click.group()
def bench():
    """Benches: instruments, wiring and safety limits from a bench file."""


@bench.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--read", "cell", nargs=3, type=int, default=None, metavar="ROW COL SIDE",
              help="also read one device's conductance")
def check(path, cell):
    """Open PATH, print the instruments' IDNs and the snapshot, switch everything off."""
    from .bench import Bench

    warnings.simplefilter("ignore", UserWarning)
    try:
        b = Bench.from_yaml(path)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    with b:
        click.echo(f"bench {b.config.name} ({'simulated' if b.simulated else 'hardware'})")
        for name, idn in b.idns().items():
            click.echo(f"  {name:10s} {idn}")
        if cell:
            click.echo(f"  G{tuple(cell)} = {b.read_cell(*cell):.4e} S")
        click.echo(json.dumps(b.snapshot(), indent=2, default=str))
    click.echo("outputs off, relays open")
