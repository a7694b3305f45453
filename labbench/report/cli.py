"""``labbench report PATH``: one self-contained HTML file from a run, a sweep or the demo."""
from __future__ import annotations

import click

from labbench.cli_options import db_option


@click.command("report")
@click.argument("path")
@click.option("-o", "--output", default=None, type=click.Path(),
              help="the HTML file to write (default: PATH/report.html for a folder, "
                   "report-run<ID>.html for a run id)")
@db_option(help="QCoDeS dataset file, for a measurement run id (default: labbench.db in $LABBENCH_OUT, "
                "else in the current folder)")
def report(path, output, db):
    """Write an HTML report of PATH: a training run folder, a sweep folder, the demo folder,
    or a measurement run id (with --db)."""
    from .build import write_report

    out = write_report(path, output, db)
    click.echo(f"report: {out}")
