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
@click.option("--allow-poor-fit", is_flag=True,
              help="write the model even when the fit is worse than a flat line (R² < 0 or undefined)")
@click.option("--allow-unconverged", is_flag=True,
              help="write the model even when the solver did not converge for every fit unit")
@click.option("--device-model", "base_model", default=None,
              help="the base device model: its read transistor de-embeds the reads, and it supplies the blocks "
                   "the data do not measure (marked in the model's provenance); retention runs fit its retention "
                   "block (default: the default chip)")
@click.option("--temperature", type=float, default=None,
              help="retention runs: K at which the data were taken (default: the model's operating temperature)")
def fit(data, model, method, output, name, plot_path, as_json, allow_poor_fit, allow_unconverged, base_model,
        temperature):
    """Fit conductance-update models to tidy pulse-train data (CSV).

    Columns: cell (or row, col, side), cycle, direction (set/reset), pulse (0 = before the
    first pulse), conductance (S).  Nothing is written when the data are invalid or the fit
    is poor (R² < 0; --allow-poor-fit writes it anyway).  Instrument overflow readings
    (9.9e37) are dropped with a warning.
    """
    from labbench.paths import ensure_writable_file

    from .api import fit_device
    from .io import DataError

    # every output location is checked before any work: a typo costs no fit, and leaves nothing
    if output is not None:
        ensure_writable_file(output, "device model (-o)")
    if plot_path is not None:
        ensure_writable_file(plot_path, "plot (--plot)")
    _check_distinct(data, output, plot_path)
    from .retention import is_retention

    if is_retention(data):
        _fit_retention(data, output, name, plot_path, as_json, allow_unconverged, base_model, temperature)
        return
    from .read_disturb import is_read_disturb

    if is_read_disturb(data):
        _fit_read_disturb(data, output, name, plot_path, as_json, base_model)
        return
    from labbench.physics.device_model import load_device_model

    # the base model: how the reads were taken (its read transistor, to de-embed them) and the
    # blocks pulse trains do not measure (inherited, and said so in the model's provenance)
    base = load_device_model(base_model)
    try:
        result = fit_device(data, model=model, method=method, base=base,
                            name=name or (output.stem if output else data.stem), source=str(data))
    except DataError as e:
        msg = str(e)
        click.echo(f"error: {msg if msg.startswith(str(data)) else f'{data}: {msg}'}", err=True)
        sys.exit(2)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    problems = result.quality_problems()
    if problems and not allow_poor_fit:
        click.echo(f"error: {data}: the {result.kind} fit is poor: {'; '.join(problems)}. "
                   f"No model written: check the data for outliers or wrong units, or pass --allow-poor-fit "
                   f"to write it anyway (with --plot to see it)", err=True)
        sys.exit(2)
    for p in problems:
        click.echo(f"warning: poor fit written (--allow-poor-fit): {p}", err=True)
    if _write_outputs(data, result, allow_unconverged, output, plot_path, as_json):
        return
    _print_human(result, output, plot_path)


def _check_distinct(data: Path, output: Path | None, plot_path: Path | None) -> None:
    """-o and --plot must not overwrite the data or each other."""
    from labbench.paths import OutputError

    def same(a: Path, b: Path) -> bool:
        try:
            return a.resolve() == b.resolve()
        except OSError:
            return False

    for opt, p in (("-o", output), ("--plot", plot_path)):
        if p is not None and same(p, data):
            raise OutputError(f"{opt} {p} is the data file itself; choose another output name")
    if output is not None and plot_path is not None and same(output, plot_path):
        raise OutputError(f"-o and --plot name the same file {output}; give the plot its own name (.png)")


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
    for k, v in s.get("uncertainty", {}).items():
        nr = "; not resolved: wider than a factor of 3" if v.get("resolved") is False else ""
        click.echo(f"{k} = {v['value']:.4g}  (95 % {v['ci95'][0]:.4g} .. {v['ci95'][1]:.4g}; {v['method']}{nr})")
    rs = s.get("residual_structure") or {}
    if rs:
        runs = "; ".join(f"{d} {v['runs']} runs in {v['n']} (expected {v['expected']:.1f}, p = {v['p']:.2g})"
                         for d, v in rs["directions"].items() if v.get("traces"))
        if rs["structured"]:
            fix = (rs["candidates_not_fitted"] if rs.get("candidates_not_fitted")
                   else f"no structure left by: {', '.join(rs['remove_structure'])}" if rs["remove_structure"]
                   else "no candidate model removes it")
            click.echo(f"residuals: STRUCTURED ({runs}); {fix} (see notes)")
        else:
            click.echo(f"residuals: no structure (runs test: {runs})")
    for d, v in (s.get("neurosim_nl") or {}).items():
        if v.get("ci95"):
            rng = f"95 % {v['ci95'][0]:+.2f} .. {v['ci95'][1]:+.2f}"
        elif v.get("spread95"):
            rng = f"median of {v['n_traces']} traces, 95 % of traces {v['spread95'][0]:+.2f} .. {v['spread95'][1]:+.2f}"
        else:
            rng = "no interval"
        click.echo(f"NeuroSim NL ({d}, NeuroSim's normalization) = {v['nl']:+.2f}  ({rng})")
    for k, v in s.get("d2d", {}).items():
        if v.get("resolved"):
            click.echo(f"d2d sigma {k} = {v['sigma']:.3g}  (95 % {v['ci95'][0]:.3g} .. {v['ci95'][1]:.3g})")
        else:
            click.echo(f"d2d sigma {k}: not resolved (see notes)")
    for k, v in (s.get("switching") or {}).get("params", {}).items():
        if k in ("transistor_k", "v0", "tau"):
            lo, hi = v["ci95"]
            ci = f"  (95 % {lo:.4g} .. {hi:.4g})" if v["resolved"] else "  (not resolved: model value kept)"
            click.echo(f"switching {k}={v['value']:.4g}{ci}")
    for n in result.notes:
        if n not in result.warnings:  # those were printed as warnings already
            click.echo(f"note: {n}")
    click.echo("")
    click.echo(result.device_model.to_yaml().rstrip() if output is None else f"wrote {output}")
    if plot_path is not None:
        click.echo(f"wrote {plot_path}")


def _write_outputs(data, result, allow_unconverged: bool, output, plot_path, as_json: bool) -> bool:
    """Refuse an unconverged fit, then write the model, the plot and the JSON summary;
    True when the JSON went to stdout (nothing more to print)."""
    _check_converged(data, result, allow_unconverged)
    if output is not None:
        result.to_yaml(output)
    if plot_path is not None:
        result.plot(plot_path)
    if as_json:
        click.echo(json.dumps(result.summary(), indent=None))
    return as_json


def _check_converged(data, result, allow_unconverged: bool) -> None:
    """A fit whose solver did not converge writes nothing and exits 2, unless allowed."""
    bad = result.unconverged() if hasattr(result, "unconverged") else []
    if not bad:
        return
    if not allow_unconverged:
        click.echo(f"error: {data}: the solver did not converge: {'; '.join(bad)}. No model written: "
                   f"pass --allow-unconverged to write it anyway", err=True)
        sys.exit(2)
    for b in bad:
        click.echo(f"warning: unconverged fit written (--allow-unconverged): {b}", err=True)


def _fit_or_exit(data, fit):
    """``fit()``, or the DataError as one line naming the file, exit status 2."""
    from .io import DataError

    try:
        return fit()
    except DataError as e:
        msg = str(e)
        click.echo(f"error: {msg if msg.startswith(str(data)) else f'{data}: {msg}'}", err=True)
        sys.exit(2)


def _say_written(result, output, plot_path) -> None:
    """The fit's notes, then where the model (or, without -o, the model itself) and plot went."""
    for n in result.notes:
        click.echo(f"note: {n}")
    click.echo("")
    click.echo(f"wrote {output}" if output is not None else result.device_model.to_yaml().rstrip())
    if plot_path is not None:
        click.echo(f"wrote {plot_path}")


def _fit_read_disturb(data, output, name, plot_path, as_json, base_model):
    """A read-disturb run (reads against stress reads): the base model's read_disturb.factor."""
    from labbench.physics.device_model import load_device_model

    from .read_disturb import fit_read_disturb

    result = _fit_or_exit(data, lambda: fit_read_disturb(data, load_device_model(base_model),
                                                          name=name or (output.stem if output else None),
                                                          source=str(data)))
    if _write_outputs(data, result, False, output, plot_path, as_json):
        return
    f = result.factor
    state = "" if f["resolved"] else "  (not resolved: the base model's block kept)"
    click.echo(f"model: read disturb  ({f['n_devices']} devices, stress {f['stress_voltage']} V, "
               f"reads of {f['read_time']:g} s)")
    click.echo(f"factor = {f['value']:.4g}  (95 % {f['ci95'][0]:.4g} .. {f['ci95'][1]:.4g}){state}")
    _say_written(result, output, plot_path)


def _fit_retention(data, output, name, plot_path, as_json, allow_unconverged, base_model, temperature):
    """A retention run (reads against time): fit drift at rest into a base model's retention block."""
    from labbench.physics.device_model import load_device_model

    from .retention import fit_retention

    result = _fit_or_exit(data, lambda: fit_retention(data, load_device_model(base_model),
                                                       name=name or (output.stem if output else None),
                                                       source=str(data), temperature=temperature))
    if _write_outputs(data, result, allow_unconverged, output, plot_path, as_json):
        return
    p = result.params
    tau, lvl, dd = p["tau"], p["level"], p["tau_d2d"]
    click.echo(f"model: retention  ({result.summary()['convergence']['devices']} devices, {result.temperature:g} K)")
    for k, v in p.get("relaxation", {}).items():
        if isinstance(v, dict):
            click.echo(f"relaxation {k} = {v['value']:.4g}  (95 % {v['ci95'][0]:.4g} .. {v['ci95'][1]:.4g})")
    click.echo(f"tau = {tau['value']:.4g} s  (95 % {tau['ci95'][0]:.4g} .. {tau['ci95'][1]:.4g})")
    click.echo(f"level = {lvl['value']:.4g}  (95 % {lvl['ci95'][0]:.4g} .. {lvl['ci95'][1]:.4g})")
    if "activation_energy" in p:
        ea = p["activation_energy"]
        click.echo(f"activation energy = {ea['value']:.3g} eV  (95 % {ea['ci95'][0]:.3g} .. {ea['ci95'][1]:.3g})")
    if dd["resolved"]:
        click.echo(f"d2d sigma(ln tau) = {dd['value']:.3g}  (95 % {dd['ci95'][0]:.3g} .. {dd['ci95'][1]:.3g})")
    else:
        click.echo("d2d sigma(ln tau): not resolved")
    _say_written(result, output, plot_path)
