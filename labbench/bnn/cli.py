"""``labbench train``: online BNN training with the synapse arrays in the loop.

The command only parses its options into a :class:`~labbench.bnn.spec.TrainSpec` (the
``--mode`` preset, then the options typed on top) and hands it to a
:class:`~labbench.bnn.run.TrainRun`, which checks everything before any work starts, in
this order: the settings (finite numbers in range, names, layer sizes that fit in
memory), the device model, the bench file's chip, the dataset file (``--db``), the run
folder (``--out``: created and proved writable), a checkpoint already there (readable,
and written by the same configuration), MNIST, then the bench.  A failure on the way
leaves nothing behind (a run folder made for nothing is removed again).
"""
from __future__ import annotations

import contextlib
import json
import math
import sys

import click

from labbench.bnn.optimizers import OPTIMIZERS, ZERO_STATE
from labbench.bnn.precision import PRESETS
from labbench.bnn.refresh import POLICIES
from labbench.bnn.spec import FLOAT_RANGES, MAX_SEED, range_text
from labbench.bnn.update_rules import RULES

from labbench import paths
from labbench.cli_options import bench_option, db_option, device_model_option, live_options, out_option, resolve_db



class BoundedFloat(click.ParamType):
    """A finite float in the range of ``FLOAT_RANGES[key]`` (click's FloatRange lets NaN through)."""

    name = "float"

    def __init__(self, key: str):
        self.key = key

    def get_metavar(self, param, ctx=None):
        return f"FLOAT {range_text(self.key)}"

    def convert(self, value, param, ctx):
        lo, hi, lo_open = FLOAT_RANGES[self.key]
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number; give a finite number in {range_text(self.key)}", param, ctx)
        if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
            self.fail(f"{value!r} is out of range: give a finite number in {range_text(self.key)}", param, ctx)
        return v


def _parse_hidden(ctx, param, value):
    """'500' or '500,500' → (500,) / (500, 500); every entry a positive integer."""
    text = str(value).strip()
    parts = [p.strip() for p in text.split(",")]
    if not text or any(not p for p in parts):
        raise click.BadParameter(f"{value!r}: give hidden layer sizes as comma-separated positive integers, "
                                 "e.g. 500 or 500,500", ctx=ctx, param=param)
    sizes = []
    for p in parts:
        try:
            n = int(p)
        except ValueError:
            where = f" in {text!r}" if len(parts) > 1 else ""
            raise click.BadParameter(f"{p!r}{where} is not an integer; give comma-separated positive "
                                     "integers, e.g. 500 or 500,500", ctx=ctx, param=param) from None
        if n < 1:
            where = f" in {text!r}" if len(parts) > 1 else ""
            raise click.BadParameter(f"layer size {n}{where} must be >= 1", ctx=ctx, param=param)
        sizes.append(n)
    return tuple(sizes)


def _given(ctx, name: str) -> bool:
    """Did the user type this option (rather than getting its default)?"""
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)


def _spec_from_options(ctx, precision: str, options: dict, **rest):
    """The preset of ``--mode``, then the options the user typed on top of it (``rest``:
    the settings no preset touches: sizes, array, data, output, device model); a typed
    option that contradicts the preset is refused by TrainSpec, naming it."""
    from labbench.bnn.spec import TrainSpec

    if refresh_fixed := [n for n in ("refresh_cap", "refresh_verify", "refresh_patience") if _given(ctx, n)]:
        if options["refresh"] == "paper" or (precision == "strict" and not _given(ctx, "refresh")):
            names = ", ".join("--" + n.replace("_", "-") for n in refresh_fixed)
            raise click.UsageError(f"{names}: the paper-like refresh ('paper', the strict mode's) fixes these "
                                   "(full re-write, no verify, no per-pair memory); drop them, or choose "
                                   "--refresh threshold with --mode mixed-precision")
    preset = PRESETS[precision]
    values = {k: (v if k not in preset or _given(ctx, k) else preset[k]) for k, v in options.items()}
    # a preset key no option carries still applies (the CLI once dropped the strict preset's
    # rule_threshold, so `--mode strict` ran at twice the preset's weight learning rate)
    values.update({k: v for k, v in preset.items() if k not in values and k != "precision"})
    return TrainSpec(precision=precision, **values, **rest)


def _spec_from_file(ctx, path: str, options: dict, rest: dict):
    """The spec in ``path``, with the options typed beside it on top."""
    from labbench.bnn.spec import TrainSpec

    if _given(ctx, "precision"):
        raise click.UsageError("--mode and --spec: the spec file holds its precision mode and its settings "
                               "(precision: strict); change it there, or drop --spec")
    base = TrainSpec.from_yaml(path)
    changes = {k: v for k, v in options.items() if _given(ctx, k)}
    given = {"sizes": "hidden", "device_model": "device_model", "data": "data"}
    changes.update({k: rest[k] for k, option in given.items() if _given(ctx, option)})
    array = base.array.model_dump()
    if _given(ctx, "array_kind"):                 # another array: its own --bench (or none)
        changes["array"] = {**array, **rest["array"]}
    elif _given(ctx, "bench_path"):
        changes["array"] = {**array, "bench": rest["array"]["bench"]}
    if "data" in changes:
        changes["data"] = {**base.data.model_dump(), **rest["data"]}
    return base.replace(**changes)


def _outputs(spec, out, db, no_db) -> dict:
    """The run folder and dataset: the options, else the spec's, else the defaults."""
    folder = out or spec.output.dir or paths.output_dir() / "runs" / f"train-{spec.array.kind}-s{spec.seed}"
    dataset = None if no_db else db or spec.output.db or paths.default_db()
    return {**spec.output.model_dump(), "dir": str(folder), "db": str(dataset) if dataset else None}


def _click_error(e) -> click.ClickException:
    """A TrainSpecError as the option it is about (exit status 2)."""
    from labbench.bnn.trainer import _option_name

    if e.field:
        return click.BadParameter(str(e), param_hint=f"'{_option_name(e.field).split(' ')[0]}'")
    return click.UsageError(str(e))


@click.command("train")
@click.option("--spec", "spec_file", default=None, type=click.Path(dir_okay=False),
              help="a training spec (YAML, see docs/training.md; a run folder's spec.yaml): the run it describes; "
                   "options typed beside it change those settings")
@click.option("--array", "array_kind", type=click.Choice(["sim", "bench", "ideal"]), default="sim", show_default=True,
              help="where the synapses live: SimArray, a Bench (instruments, cell by cell), or ideal software weights")
@device_model_option()
@bench_option(default=None, help="bench file, for --array bench: a shipped name or a path")
@click.option("--hidden", default="500", show_default=True, callback=_parse_hidden,
              help="hidden layer sizes, comma-separated positive integers (e.g. 500 or 500,500); "
                   "networks that would need more than half of this machine's memory are refused")
@click.option("--mode", "precision", type=click.Choice(list(PRESETS)), default="mixed-precision", show_default=True,
              help="strict: the hidden weight lives only in the devices (no per-synapse digital state, "
                   "±1 inputs, sense offset and noise σ = 1 %, paper-like refresh); mixed-precision: "
                   "Adam moments and a digital residual per synapse.  Options given explicitly override "
                   "the preset; one that adds per-synapse state to a strict run is refused")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(1))
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=0.005, show_default=True, type=BoundedFloat("lr"),
              help="learning rate, first epoch (a weight change in units of the conductance range)")
@click.option("--optimizer", type=click.Choice(sorted(OPTIMIZERS)), default="adam", show_default=True,
              help=f"gradient → ΔW; with no per-synapse state: {', '.join(ZERO_STATE)}")
@click.option("--optimizer-threshold", default=0.0, show_default=True, type=BoundedFloat("optimizer_threshold"),
              help="--optimizer sign: no update where |g| is below this × the layer's gradient RMS")
@click.option("--lr-end", default=0.0002, show_default=True, type=BoundedFloat("lr_end"),
              help="learning rate of the last epoch")
@click.option("--rule", type=click.Choice(sorted(RULES)),
              default="accumulate", show_default=True,
              help="ΔW → pulses: digital residual then whole pulses, stochastic/deterministic rounding, "
                   "or one pulse above a threshold")
@click.option("--rule-threshold", default=0.5, show_default=True, type=BoundedFloat("rule_threshold"),
              help="--rule threshold: write one pulse where |ΔW| exceeds this many nominal pulses "
                   "(--mode strict: 1.0)")
@click.option("--rule-horizon", default=8.0, show_default=True, type=BoundedFloat("rule_horizon"),
              help="--rule noise_aware: updates over which a ΔW is assumed to persist; the dead zone is "
                   "(1 + σ²)/(2·N) pulses, σ the device model's C2C noise in pulses")
@click.option("--refresh", type=click.Choice(POLICIES), default="threshold", show_default=True,
              help="when to refresh saturated pairs; 'paper' = the threshold check with the paper's refresh "
                   "(RESET both, re-write the whole difference, no verify, no per-pair memory)")
@click.option("--refresh-level", default=0.9, show_default=True, type=BoundedFloat("refresh_level"),
              help="threshold policy: refresh when max(G+, G−) passes this fraction of the range")
@click.option("--refresh-every", default=100, show_default=True, type=click.IntRange(1),
              help="periodic policy: refresh all pairs every K updates")
@click.option("--refresh-check-every", default=50, show_default=True, type=click.IntRange(1),
              help="threshold policy: read the conductances every K updates")
@click.option("--refresh-cap", default=0.5, show_default=True, type=BoundedFloat("refresh_cap"),
              help="re-write at most this fraction of the range (0 = the full difference)")
@click.option("--refresh-verify", default=1, show_default=True, type=click.IntRange(0),
              help="read-back rounds after a refresh (re-pulse pairs whose sign came back wrong)")
@click.option("--refresh-program", default=None, type=BoundedFloat("refresh_program"), metavar="TOL",
              help="re-write refreshed pairs through program-verify to within TOL of the target (e.g. 0.02); "
                   "strict mode allows it with 'paper': a verify loop keeps no per-synapse state")
@click.option("--refresh-patience", default=3, show_default=True, type=click.IntRange(0),
              help="threshold policy: stop refreshing a pair still saturated after N checks in a row "
                   "(a stuck device); 0 = never give up")
@click.option("--sense-offset", default=0.0, show_default=True, type=BoundedFloat("sense_offset"),
              help="sense-amp offset σ, fraction of range")
@click.option("--sense-noise", default=0.0, show_default=True, type=BoundedFloat("sense_noise"),
              help="sense-amp noise σ, fraction of range")
@click.option("--binarize-input/--no-binarize-input", default=False, show_default=True,
              help="±1 inputs instead of real-valued [−1, 1]")
@click.option("--idle-between-epochs", default=0.0, show_default=True, type=BoundedFloat("idle_between_epochs"),
              help="seconds the arrays sit idle after each epoch, before its test (drift at rest; --array sim)")
@click.option("--data", default=None, type=click.Path(file_okay=False),
              help="MNIST folder (default: $LABBENCH_MNIST, else the user cache ~/.cache/labbench/mnist); "
                   "downloaded into it when the four files are not there")
@click.option("--train-subset", default=None, type=click.IntRange(1), help="use the first N training images")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, MAX_SEED))
@out_option(help="run folder: checkpoint, metrics.csv, plots (default: $LABBENCH_OUT, else the current "
                 "folder, /runs/train-<array>-s<seed>); a checkpoint of the same configuration there is resumed")
@db_option(help="QCoDeS dataset file for per-epoch metrics (default: labbench.db in $LABBENCH_OUT, "
                "else in the current folder); its folder must exist")
@click.option("--no-db", is_flag=True, help="do not write the dataset")
@click.option("--json", "as_json", is_flag=True, help="print the final metrics as JSON")
@click.option("--quiet", is_flag=True, help="no progress bars")
@live_options()
def train(spec_file, array_kind, device_model, bench_path, hidden, precision, epochs, batch, lr, lr_end, optimizer,
          optimizer_threshold, rule, rule_threshold, rule_horizon, refresh, refresh_level,
          refresh_every, refresh_check_every, refresh_cap, refresh_verify, refresh_program, refresh_patience,
          sense_offset, sense_noise,
          binarize_input, idle_between_epochs, data, train_subset, seed, out, db, no_db, as_json, quiet):
    """Train a binary MLP on MNIST online, with the weights on 2T2R arrays."""
    from labbench.bnn.run import TrainRun
    from labbench.bnn.spec import TrainSpecError

    if no_db and db:
        raise click.UsageError("--db and --no-db contradict each other; give one")
    ctx = click.get_current_context()
    options = dict(
        epochs=epochs, batch=batch, lr=lr, lr_end=lr_end, optimizer=optimizer,
        optimizer_threshold=optimizer_threshold, rule=rule, rule_threshold=rule_threshold, rule_horizon=rule_horizon,
        refresh=refresh, refresh_level=refresh_level, refresh_every=refresh_every, refresh_check_every=refresh_check_every,
        refresh_cap=refresh_cap or None, refresh_verify=refresh_verify, refresh_program=refresh_program,
        refresh_patience=refresh_patience or None, sense_offset=sense_offset,
        sense_noise=sense_noise, binarize_input=binarize_input, idle_between_epochs=idle_between_epochs,
        train_subset=train_subset, seed=seed)
    rest = {"sizes": (784, *hidden, 10), "device_model": str(device_model or "hfox_2t2r_default"),
            "array": {"kind": array_kind, "bench": str(bench_path) if bench_path else None}, "data": {"path": data}}
    from labbench.live.session import check_cli, from_cli

    check_cli()                                   # before the data loads: a wrong --live* option is a typo
    try:
        spec = (_spec_from_file(ctx, spec_file, options, rest) if spec_file
                else _spec_from_options(ctx, precision, options, **rest))
        spec = spec.replace(output=_outputs(spec, out, db, no_db))
        run = TrainRun(spec, progress=not quiet).check()
        if spec.output.db is not None:
            resolve_db(spec.output.db)            # writable, before anything is made
        run.prepare()
    except TrainSpecError as e:
        raise _click_error(e) from None

    # with --json, stdout carries only the JSON (QCoDeS and progress lines go to stderr)
    try:
        with from_cli() as live, contextlib.redirect_stdout(sys.stderr if as_json else sys.stdout):
            if live is not None:
                run.follow(live)
            run.run()
    finally:
        run.close()              # the bench's outputs off, the folder released, on every exit path
    final = run.result()
    if as_json:
        click.echo(json.dumps(final, indent=2, default=float))
    else:
        click.echo(f"test accuracy {100 * final['test_acc']:.2f} % after {final['epoch']} epochs "
                   f"({spec.precision}: {final['bytes_per_synapse']:g} B of digital state per synapse); "
                   f"metrics, checkpoint and plots in {spec.output.dir}")


if __name__ == "__main__":
    train(sys.argv[1:])
