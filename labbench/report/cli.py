"""``labbench report PATH``: one self-contained HTML file from a run, a sweep or the demo."""
from __future__ import annotations

import click

from labbench.cli_options import db_option, device_model_option


@click.command("report")
@click.argument("path")
@click.option("-o", "--output", default=None, type=click.Path(),
              help="the HTML file to write (default: PATH/report.html for a folder, "
                   "report-run<ID>.html for a run id)")
@db_option(help="QCoDeS dataset file, for a measurement run id (default: labbench.db in $LABBENCH_OUT, "
                "else in the current folder)")
@device_model_option(help="device model drawn over a measurement's pulse responses (with residuals): "
                          "a shipped name or a path")
def report(path, output, db, device_model):
    """Write an HTML report of PATH: a training run folder, a sweep folder, the demo folder,
    or a measurement run id (with --db)."""
    from .build import write_report

    model = None
    if device_model:
        from labbench.physics import load_device_model

        model = load_device_model(device_model)
    out = write_report(path, output, db, model)
    click.echo(f"report: {out}")
