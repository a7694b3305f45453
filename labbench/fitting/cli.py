"""``labbench fit DATA.csv``: fit update models to pulse-train data and write the device model."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

MODELS = ["auto", "neurosim", "softbounds", "expstep", "powstep", "piecewise"]


@click.command()
@click.argument("data", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", type=click.Choice(MODELS), default="auto", show_default=True,
              help="update model to fit; auto ranks all by BIC")
@click.option("--method", type=click.Choice(["auto", "trajectory", "onestep"]), default="auto", show_default=True,
              help="fit G(P) curves, or each read against the previous one")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the fitted device model (YAML), e.g. device_models/NAME.yaml")
@click.option("--name", default=None, help="device-model name (default: the output file's stem)")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write a PNG of data vs fit, residuals and D2D histograms")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object on stdout")
def fit(data, model, method, output, name, plot_path, as_json):
    """Fit conductance-update models to tidy pulse-train data (CSV).

    Columns: cell (or row, col, side), cycle, direction (set/reset), pulse (0 = before the
    first pulse), conductance (S).  Nothing is written when the data are invalid.
    """
    from .api import fit_device
    from .io import DataError

    try:
        result = fit_device(data, model=model, method=method,
                            name=name or (output.stem if output else data.stem), source=str(data))
    except DataError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    if output is not None:
        result.to_yaml(output)
    if plot_path is not None:
        result.plot(plot_path)
    if as_json:
        click.echo(json.dumps(result.summary(), indent=None))
        return
    _print_human(result, output, plot_path)


def _print_human(result, output, plot_path):
    import pandas as pd

    click.echo(f"model: {result.kind}  (method: {result.method})")
    with pd.option_context("display.width", 140, "display.max_columns", 20, "display.precision", 4):
        click.echo(result.ranking[["model", "n_params", "rmse", "r2", "aic", "bic", "delta_bic"]].to_string(index=False))
    click.echo("")
    s = result.summary()
    for d, entry in s["directions"].items():
        items = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in entry.items())
        click.echo(f"{d}: {items}")
    if s["d2d_sigma"]:
        click.echo("d2d sigma: " + ", ".join(f"{k}={v:.3g}" for k, v in s["d2d_sigma"].items()))
    for n in result.notes:
        click.echo(f"note: {n}")
    click.echo("")
    click.echo(result.device_model.to_yaml().rstrip() if output is None else f"wrote {output}")
    if plot_path is not None:
        click.echo(f"wrote {plot_path}")
