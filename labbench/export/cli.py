"""``labbench export aihwkit|neurosim MODEL [-o OUT] [--strict]`` and
``labbench import aihwkit CONFIG.json|PRESET -o MODEL.yaml``."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click

from click import ClickException as UserError

__all__ = ["export", "import_", "TARGETS", "write_export"]

TARGETS = ("aihwkit", "neurosim")


def _stem(name: str) -> str:
    stem = re.sub(r"\W+", "_", name).strip("_") or "model"
    return stem if not stem[0].isdigit() else f"m_{stem}"


def write_export(target: str, model, out: Path, refresh_level: float = 0.9, check_every: int = 1) -> tuple[list[Path], object]:
    """Export ``model`` for ``target`` into folder ``out``: (files written, summary)."""
    from labbench.atomic import write_text

    stem = f"{_stem(model.name)}_{target}"
    if target == "aihwkit":
        from .aihwkit_export import export_aihwkit
        from .aihwkit_python import render_python

        config, summary = export_aihwkit(model, refresh_level, check_every)
        files = {f"{stem}.json": json.dumps(config, indent=1) + "\n", f"{stem}.py": render_python(config, stem)}
    else:
        from .neurosim_export import export_neurosim, render_cell_cpp

        config, summary = export_neurosim(model)
        files = {f"{stem}.json": json.dumps(config, indent=1) + "\n", f"{stem}_Cell.cpp.txt": render_cell_cpp(config)}
    files[f"{stem}_summary.md"] = summary.to_text()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        write_text(out / name, text)
        written.append(out / name)
    return written, summary


class _Target(click.ParamType):
    name = "target"

    def convert(self, value, param, ctx):
        if value not in TARGETS:
            self.fail(f"unknown target {value!r}; known targets: {', '.join(TARGETS)}", param, ctx)
        return value


@click.command()
@click.argument("target", type=_Target())
@click.argument("model")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="folder for the configuration, the Python/C++ file and the summary")
@click.option("--strict", is_flag=True, help="refuse a model with a block the target cannot express")
@click.option("--refresh-level", type=float, default=0.9, show_default=True,
              help="aihwkit 2T2R cell: refresh a pair when its larger device passes this fraction of the window")
@click.option("--check-every", type=int, default=1, show_default=True,
              help="aihwkit 2T2R cell: check for refresh every this many updates")
def export(target, model, out, strict, refresh_level, check_every):
    """Export device model MODEL (a shipped name or a YAML file) to TARGET: aihwkit or neurosim.

    Writes an importable configuration (aihwkit: JSON + a Python file building the
    RPUConfigs and the retention noise model; NeuroSim: JSON + the Cell.cpp lines and
    DNN+NeuroSim arguments) and a summary of what maps exactly, what is approximated (with
    its size) and what is dropped."""
    from labbench.physics.device_model import load_device_model

    m = load_device_model(model)
    if strict:   # dry run first: nothing is written for a refused model
        from .aihwkit_export import export_aihwkit
        from .neurosim_export import export_neurosim

        _, summary = (export_aihwkit(m, refresh_level, check_every) if target == "aihwkit" else export_neurosim(m))
        if summary.unexpressed_blocks:
            raise UserError(f"--strict: {target} cannot express block(s) {', '.join(summary.unexpressed_blocks)} of "
                            f"{m.name!r}; export without --strict to drop them (the summary says what is lost), "
                            f"or remove them from the model")
    files, summary = write_export(target, m, out, refresh_level, check_every)
    for block in summary.unexpressed_blocks:
        click.echo(f"warning: {target} cannot express the model's {block!r} block: dropped (see the summary)", err=True)
    click.echo(f"{m.name} -> {summary.target}: {len(summary.exact)} exact, {len(summary.approximated)} approximated, "
               f"{len(summary.dropped)} dropped")
    for f in files:
        click.echo(f"  wrote {f}")


@click.command("import")
@click.argument("source", type=click.Choice(["aihwkit"]))
@click.argument("config")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="the device-model YAML to write")
@click.option("--g-min", type=float, default=None, help="S, the conductance of w_min (default: the base model's Gmin)")
@click.option("--g-max", type=float, default=None, help="S, the conductance of w_max (default: the base model's Gmax)")
@click.option("--base", default="hfox_2t2r_default", show_default=True,
              help="device model whose other blocks (read, switching, retention, ...) the import inherits")
@click.option("--name", default=None, help="the new model's name (default: from the config)")
def import_(source, config, out, g_min, g_max, base, name):
    """Turn an aihwkit device config into a labbench device model.

    CONFIG is a JSON file of the device's dataclass fields (``class`` naming it, and
    ``aihwkit_version``), or an aihwkit preset name (only where aihwkit is installed)."""
    from .from_aihwkit import import_aihwkit

    model, notes = import_aihwkit(config, g_min=g_min, g_max=g_max, base=base, name=name)
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise UserError(f"-o {out}: write the device model to a .yaml file")
    model.to_yaml(out)
    for n in notes:
        click.echo(f"note: {n}", err=True)
    click.echo(f"wrote {out} ({model.update.kind} model, {model.gmin:.4g}-{model.gmax:.4g} S)")
