"""``labbench train``: online BNN training with the synapse arrays in the loop."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from labbench.paths import DATA


def _bench_array_factory(bench_path: str, device_model, seed: int, sense_offset: float, sense_noise: float):
    """Put the first layer that fits on the bench's chip on a BenchArray (the closed
    loop through the instruments, cell by cell); the other layers go to SimArray."""
    try:
        from labbench.array.bench_array import BenchArray
    except ImportError as e:
        raise click.ClickException(
            f"--array bench needs labbench.array.bench_array.BenchArray, which is not available yet ({e}); "
            "use --array sim") from None
    from labbench.array.sim_array import SimArray
    from labbench.instruments.bench import Bench

    bench = Bench.from_yaml(bench_path)
    chip = bench.config.chip
    used = []

    def factory(rows, cols, i):
        if not used and rows <= chip.rows and cols <= chip.cols:
            used.append(i)
            return BenchArray(bench, rows, cols)
        return SimArray(device_model, rows, cols, seed=seed * 1000 + i,
                        sense_offset=sense_offset, sense_noise=sense_noise)
    return bench, factory, used


@click.command("train")
@click.option("--array", "array_kind", type=click.Choice(["sim", "bench", "ideal"]), default="sim", show_default=True,
              help="where the synapses live: SimArray, a Bench (instruments, cell by cell), or ideal software weights")
@click.option("--device-model", default=None, help="device-model YAML (default: device_models/hfox_2t2r_default.yaml)")
@click.option("--bench", "bench_path", default=None, type=click.Path(dir_okay=False),
              help="bench YAML, for --array bench (e.g. benches/sim.yaml)")
@click.option("--hidden", default="500", show_default=True,
              help="hidden layer sizes, comma-separated (e.g. 500 or 500,500)")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(1))
@click.option("--batch", default=100, show_default=True, type=click.IntRange(1))
@click.option("--lr", default=0.005, show_default=True, type=float, help="Adam learning rate, first epoch")
@click.option("--lr-end", default=0.0002, show_default=True, type=float, help="learning rate of the last epoch")
@click.option("--rule", type=click.Choice(["accumulate", "stochastic", "deterministic", "threshold"]),
              default="accumulate", show_default=True,
              help="ΔW → pulses: digital residual then whole pulses, stochastic/deterministic rounding, "
                   "or one pulse above a threshold")
@click.option("--refresh", type=click.Choice(["threshold", "periodic", "none"]), default="threshold", show_default=True)
@click.option("--refresh-level", default=0.9, show_default=True, type=float,
              help="threshold policy: refresh when max(G+, G−) passes this fraction of the range")
@click.option("--refresh-every", default=100, show_default=True, type=click.IntRange(1),
              help="periodic policy: refresh all pairs every K updates")
@click.option("--refresh-check-every", default=50, show_default=True, type=click.IntRange(1),
              help="threshold policy: read the conductances every K updates")
@click.option("--refresh-cap", default=0.5, show_default=True, type=float,
              help="re-write at most this fraction of the range (0 = the full difference)")
@click.option("--refresh-verify", default=1, show_default=True, type=click.IntRange(0),
              help="read-back rounds after a refresh (re-pulse pairs whose sign came back wrong)")
@click.option("--refresh-patience", default=3, show_default=True, type=click.IntRange(0),
              help="threshold policy: stop refreshing a pair still saturated after N checks in a row "
                   "(a stuck device); 0 = never give up")
@click.option("--sense-offset", default=0.0, show_default=True, type=float, help="sense-amp offset σ, fraction of range")
@click.option("--sense-noise", default=0.0, show_default=True, type=float, help="sense-amp noise σ, fraction of range")
@click.option("--binarize-input", is_flag=True, help="±1 inputs instead of real-valued [−1, 1]")
@click.option("--data", default=None, type=click.Path(file_okay=False),
              help="MNIST folder (default: $LABBENCH_MNIST, data/mnist/, the shared data folder)")
@click.option("--train-subset", default=None, type=click.IntRange(1), help="use the first N training images")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="run folder: checkpoint, metrics.csv, plots (default data/runs/train-<array>-s<seed>); "
                   "an existing checkpoint there is resumed")
@click.option("--db", default=None, type=click.Path(dir_okay=False),
              help="QCoDeS dataset file for per-epoch metrics (default data/labbench.db)")
@click.option("--no-db", is_flag=True, help="do not write the dataset")
@click.option("--json", "as_json", is_flag=True, help="print the final metrics as JSON")
@click.option("--quiet", is_flag=True, help="no progress bars")
def train(array_kind, device_model, bench_path, hidden, epochs, batch, lr, lr_end, rule, refresh, refresh_level,
          refresh_every, refresh_check_every, refresh_cap, refresh_verify, refresh_patience, sense_offset, sense_noise, binarize_input,
          data, train_subset, seed, out_dir, db, no_db, as_json, quiet):
    """Train a binary MLP on MNIST online, with the weights on 2T2R arrays."""
    from labbench.bnn.mnist import MnistError, load_mnist
    from labbench.bnn.trainer import TrainConfig, Trainer

    bench = None
    try:
        sizes = (784, *[int(h) for h in str(hidden).split(",") if h.strip()], 10)
    except ValueError:
        raise click.BadParameter(f"--hidden must be comma-separated integers, got {hidden!r}") from None
    try:
        config = TrainConfig(
            sizes=sizes, epochs=epochs, batch=batch, lr=lr, lr_end=lr_end,
            mode="ideal" if array_kind == "ideal" else "device", rule=rule, refresh=refresh,
            refresh_level=refresh_level, refresh_every=refresh_every, refresh_check_every=refresh_check_every,
            refresh_cap=refresh_cap or None, refresh_verify=refresh_verify,
            refresh_patience=refresh_patience or None, sense_offset=sense_offset,
            sense_noise=sense_noise, binarize_input=binarize_input, train_subset=train_subset, seed=seed)
        from labbench.physics import load_device_model

        dm = load_device_model(device_model)
        factory, on_bench = None, []
        if array_kind == "bench":
            if not bench_path:
                raise click.UsageError("--array bench needs --bench benches/<name>.yaml")
            bench, factory, on_bench = _bench_array_factory(bench_path, dm, seed, sense_offset, sense_noise)
        store = None
        if not no_db:
            from labbench.store import DEFAULT_DB, Store

            store = Store(db or DEFAULT_DB)
        out = Path(out_dir) if out_dir else DATA / "runs" / f"train-{array_kind}-s{seed}"
        trainer = Trainer(config, dm, out_dir=out, array_factory=factory,
                          progress=not quiet, store=store)
        if array_kind == "bench" and not on_bench:
            raise click.ClickException(f"no layer of {sizes} fits the bench chip "
                                       f"({bench.config.chip.rows}×{bench.config.chip.cols}); use a smaller --hidden")
        mnist = load_mnist(data)
    except (ValueError, FileNotFoundError, MnistError) as e:
        if bench is not None:
            bench.close()
        raise click.ClickException(str(e)) from None
    try:
        # with --json, stdout carries only the JSON (QCoDeS and progress lines go to stderr)
        with contextlib.redirect_stdout(sys.stderr if as_json else sys.stdout):
            history = trainer.fit(mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test)
    finally:
        if bench is not None:
            bench.close()      # outputs off on every exit path
    final = {**history[-1], "config": config.to_dict(), "out_dir": str(out),
             "device_model": trainer.device_model.name, "layers_on_bench": on_bench}
    if as_json:
        click.echo(json.dumps(final, indent=2, default=float))
    else:
        click.echo(f"test accuracy {100 * final['test_acc']:.2f} % after {final['epoch']} epochs; "
                   f"metrics, checkpoint and plots in {out}")


if __name__ == "__main__":
    train(sys.argv[1:])
