"""``labbench demo``: the whole lab flow on the simulated bench, no hardware.

1. **Characterize**: open ``benches/sim.yaml`` (a Keithley 2450, a Keysight 81160A and a
   B2200 switch matrix, simulated behind PyVISA, wired to a 32×32 2T2R chip of the
   default HfOx model) and run the pulse-train procedure through the unchanged
   PyMeasure/QCoDeS drivers into the dataset (``OUT/labbench.db``).
2. **Fit**: extract an update model with C2C/D2D from those measurements and write it
   as a device-model file; compare it with the model the simulated chip really uses.
3. **Train**: train a binarized MLP online on MNIST with the *fitted* model in SimArray
   (device in the loop, threshold refresh), and the same network ideal in software.
4. **Closed loop**: a few training steps of a small tile through BenchArray — every
   read and pulse as SCPI through the instruments.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from labbench.paths import ensure_writable_dir, output_dir

TIDY = ["cell", "cycle", "direction", "pulse", "conductance"]


def _say(msg: str) -> None:
    print(msg, flush=True)


def characterize(out: Path, cells: str, cycles: int, pulses: int, progress: bool, live=None):
    from labbench.instruments import Bench
    from labbench.runner import run_procedure
    from labbench.store import Store
    from labbench.procedures import PulseTrain

    store = Store(out / "labbench.db")
    with Bench.from_yaml("sim") as bench:
        _say(f"[1/4] characterize: {bench.config.name}: " + ", ".join(
            f"{k}={v.split(',')[1] if ',' in v else v}" for k, v in bench.idns().items()))
        t0 = time.perf_counter()
        if live is not None:
            live.follow_bench(bench)
            live.feed.expect({"name": "PulseTrain"})
        res = run_procedure(PulseTrain(cells=cells, cycles=cycles, pulses=pulses), bench, store,
                            progress=progress, tap=live and live.feed, control=live and live.control)
        true_model = bench.world.chip.model if bench.world is not None else None
        virtual = bench.now()
    csv = out / "pulse_trains.csv"
    res.data.to_csv(csv, index=False)
    _say(f"      {len(res.data)} reads in {time.perf_counter() - t0:.1f} s wall ({virtual:.3f} s instrument time); "
         f"dataset run {res.run_id} in {store.path}, CSV {csv}")
    return res.data, true_model, store


def fit(data, out: Path, true_model):
    from labbench.fitting import fit_device

    t0 = time.perf_counter()
    result = fit_device(data[TIDY], model="auto", name="demo_fitted", source="labbench demo (simulated bench)")
    path = out / "demo_fitted.yaml"
    result.to_yaml(path)
    result.plot(out / "fit.png")
    s = result.summary()
    _say(f"[2/4] fit: chose {s['model']!r} in {time.perf_counter() - t0:.1f} s -> {path} (plot {out / 'fit.png'})")
    rank = ", ".join(f"{r['model']} (BIC {r['bic']:.0f})" for r in s["ranking"])
    _say(f"      ranking: {rank}")
    if true_model is not None and true_model.update.kind == "neurosim" and ("neurosim", 1, "pooled") in result.fits:
        from labbench.fitting.api import direction_params, nominal_direction_params

        _say("      NeuroSim view      fitted (pooled)      true (the chip's nominal model)")
        for d, name in ((1, "set"), (-1, "reset")):
            f = direction_params("neurosim", result.fits[("neurosim", d, "pooled")])
            t = nominal_direction_params(true_model.update, d)
            _say(f"      {name:<6} A/Pmax   {f['a_normalized']:>9.3f}  (NL {f['nl']:+.2f})   "
                 f"{t['a_normalized']:>9.3f}  (NL {t['nl']:+.2f})")
        _say(f"      range (S)     {result.device_model.gmin:.3g}..{result.device_model.gmax:.3g}      "
             f"{true_model.gmin:.3g}..{true_model.gmax:.3g}")
        _say("      (the fit sees conductance through the access transistor and read noise, as on hardware)")
    return result


def train(fitted, out: Path, store, hidden: int, epochs: int, subset: int | None, progress: bool,
          download: bool = True, live=None):
    from labbench.bnn.mnist import ENV, MnistError, load_mnist, target_folder, to_inputs
    from labbench.bnn.run import TrainRun
    from labbench.bnn.spec import TrainSpec

    try:
        mn = load_mnist(allow_download=download)
    except MnistError as e:
        _say(f"[3/4] train: skipped: MNIST is not available ({e}).\n"
             f"      To train, put the four MNIST .gz files into {target_folder()} "
             f"(or point ${ENV} or --data at a folder holding them) and run the demo again.")
        return None
    data = (to_inputs(mn.x_train), mn.y_train, to_inputs(mn.x_test), mn.y_test)   # converted once, for both runs
    results = {}
    for mode in ("device", "ideal"):
        spec = TrainSpec(sizes=(784, hidden, 10), epochs=epochs, mode=mode, train_subset=subset, seed=0,
                         device_model=fitted.device_model,
                         output={"dir": str(out / f"train_{mode}"),
                                 "db": str(store.path) if mode == "device" else None})
        run = TrainRun(spec, progress=progress)
        run.prepare(data)
        if live is not None:   # one page: the device run, then the ideal one beside it
            live.feed.levels = None
            live.feed.next_run({"name": "bnn_training"})
            run.follow(live)
        hist = run.run()
        # the counters of a history row are the epoch's: the demo reports the run's totals
        results[mode] = {**hist[-1], **{k: sum(h.get(k, 0) for h in hist) for k in ("set_pulses", "pairs_refreshed")}}
    d, i = results["device"], results["ideal"]
    _say(f"[3/4] train 784-{hidden}-10, {epochs} epoch(s) on {subset or 60000} images, fitted model in SimArray:")
    _say(f"      device in the loop: test {d['test_acc']:.2%}, {d['samples_per_s']:.0f} samples/s, "
         f"{d.get('set_pulses', 0):,} SET pulses and {d.get('pairs_refreshed', 0):,} pairs refreshed in all "
         f"{epochs} epoch(s)")
    _say(f"      ideal software BNN: test {i['test_acc']:.2%}, {i['samples_per_s']:.0f} samples/s")
    _say(f"      plots and metrics in {out / 'train_device'}")
    return results


def closed_loop(steps: int):
    """A 16×4 tile trained through BenchArray on the simulated bench (SCPI all the way)."""
    from labbench.array.bench_array import BenchArray
    from labbench.instruments import Bench

    rng = np.random.default_rng(0)
    w_true = rng.choice([-1, 1], size=(16, 4))
    with Bench.from_yaml("sim") as bench:
        arr = BenchArray(bench, 16, 4)
        t0 = time.perf_counter()
        agree0 = float((arr.read_signs() == w_true).mean())
        for _ in range(steps):
            # perceptron-style sign learning: push each synapse toward the target sign
            s = arr.read_signs()
            wrong = s != w_true
            arr.apply_set_pulses(np.where(wrong & (w_true > 0), 2, 0), np.where(wrong & (w_true < 0), 2, 0))
        agree = float((arr.read_signs() == w_true).mean())
        wall = time.perf_counter() - t0
    _say(f"[4/4] closed loop through the instruments: 16×4 tile, {steps} read-update steps in {wall:.1f} s; "
         f"signs matching the target {agree0:.0%} -> {agree:.0%}; counters {arr.counters.as_dict()}")
    return agree


def run_demo(out: str | Path | None = None, cells: str = "0:4, 0:2", cycles: int = 3, pulses: int = 64,
             hidden: int = 200, epochs: int = 2, train_subset: int | None = 20000, loop_steps: int = 4,
             progress: bool = True, download: bool = True, live=None) -> dict:
    """``live``: a live view (:mod:`labbench.live.session`) that shows the pulse trains, then
    the device training and the ideal one beside it."""
    out = ensure_writable_dir(Path(out) if out else output_dir() / "labbench-demo", "demo folder")
    data, true_model, store = characterize(out, cells, cycles, pulses, progress, live)
    fitted = fit(data, out, true_model)
    trained = train(fitted, out, store, hidden, epochs, train_subset, progress, download, live)
    agree = closed_loop(loop_steps) if loop_steps else None
    summary = {"reads": len(data), "fitted_model": fitted.summary()["model"],
               "fitted_file": str(out / "demo_fitted.yaml"),
               "test_accuracy_device": trained["device"]["test_acc"] if trained else None,
               "test_accuracy_ideal": trained["ideal"]["test_acc"] if trained else None,
               "closed_loop_sign_agreement": agree}
    summary["report"] = str(out / "report.html")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    from labbench.report import write_report

    report = write_report(str(out), out / "report.html")
    _say(f"done: summary in {out / 'summary.json'}; report {report}")
    return summary


def _command():
    import click

    from labbench.cli_options import live_options

    @click.command("demo")
    @click.option("--out", default=None, type=click.Path(file_okay=False),
                  help="folder for the dataset, the fitted model, plots and the summary "
                       "(default: ./labbench-demo, or $LABBENCH_OUT/labbench-demo)")
    @click.option("--quick", is_flag=True,
                  help="about a minute: a small network (784-100-10) for one epoch on 5,000 images")
    @click.option("--data", default=None, type=click.Path(file_okay=False),
                  help="MNIST folder (default: $LABBENCH_MNIST, else the user cache; downloaded on first use)")
    @click.option("--cells", default="0:4, 0:2", show_default=True, help="cells to characterize (rows, cols)")
    @click.option("--cycles", default=3, show_default=True, type=click.IntRange(1))
    @click.option("--pulses", default=64, show_default=True, type=click.IntRange(2))
    @click.option("--hidden", default=200, show_default=True, type=click.IntRange(1))
    @click.option("--epochs", default=2, show_default=True, type=click.IntRange(1))
    @click.option("--train-subset", default=20000, show_default=True, type=click.IntRange(100),
                  help="training images used (60000 = all)")
    @click.option("--loop-steps", default=4, show_default=True, type=click.IntRange(0),
                  help="closed-loop steps through the instruments (0 skips)")
    @click.option("--quiet", is_flag=True, help="no progress bars")
    @live_options()
    def demo(out, quick, data, cells, cycles, pulses, hidden, epochs, train_subset, loop_steps, quiet):
        """Characterize → fit → train on the simulated bench (no hardware needed)."""
        import os

        if data:
            os.environ["LABBENCH_MNIST"] = str(data)
        if quick:
            # the characterization is already fast; a smaller network on fewer images
            hidden, epochs, train_subset, loop_steps = 100, 1, 5000, 2
        from labbench.live.session import from_cli

        with from_cli() as live:
            run_demo(out, cells, cycles, pulses, hidden, epochs, train_subset, loop_steps, progress=not quiet,
                     live=live)

    return demo


demo = _command()
