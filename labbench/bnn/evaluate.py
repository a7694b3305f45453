"""``labbench evaluate``: what a trained network keeps over time.

A trained 2T2R network (a ``labbench train`` run folder: its checkpoint and the device
model it trained on) is left at rest for each interval of ``--after`` at each
``--temperature``: its arrays drift through the chip's retention physics (post-program
relaxation and the long-term, Arrhenius-activated drift towards the HRS), the sense
amplifiers re-read the signs and the test accuracy is measured.  After each interval
also: the fraction of synapses whose sign (G+ − G−) flipped since training, and the
accuracy after one refresh-with-verify pass (every pair whose read difference has fallen
below ``margin`` of the window is RESET and its larger side re-programmed with
program-verify to that margin, keeping the sign it reads: what a refresh can restore and
what it cannot, a sign already flipped).  ``--refresh-first`` does one such pass right
after training, before the time at rest: what a refresh before storage buys.  The drift
is repeated with ``seeds`` draws of its randomness (per-device time constants,
relaxation): mean ± standard deviation.

A run trained in software (``--array ideal``) is evaluated the offline way: its signs are
written onto SimArrays of ``--device-model`` with program-verify (the "on" side of each
pair to ``program_level`` of the window, the other side RESET), then baked and re-read
the same way ("train in software, program, bake, re-read"), so online and offline
training compare side by side.

A run trained with a layer on a bench (``--array bench``) is evaluated in place, on that
bench, its other layers keeping their signs (:mod:`labbench.bnn.evaluate_bench`).

The intervals are cumulative from the end of training (or programming): ``1h,1d,1y``
reads after 1 hour, 1 day and 1 year.  A temperature beyond the device model's validated
range (``retention.validated_temperature``) is evaluated with a warning stating the range.
"""
from __future__ import annotations

import contextlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labbench.errors import LabbenchError

YEAR = 365.25 * 86400.0
UNITS = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "day": 86400.0, "days": 86400.0,
         "w": 7 * 86400.0, "mo": YEAR / 12, "month": YEAR / 12, "y": YEAR, "yr": YEAR, "year": YEAR,
         "years": YEAR}
KELVIN = 273.15


class NotATrainedNetwork(LabbenchError, ValueError):
    """The folder given is not a trained network; the message says what it is."""


def parse_durations(text: str) -> list[float]:
    """``"1h,1d,1y"`` -> seconds, sorted; a plain number is seconds."""
    out = []
    for part in str(text).split(","):
        p = part.strip().lower()
        if not p:
            continue
        m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)", p)
        if not m or (m.group(2) and m.group(2) not in UNITS):
            raise ValueError(f"--after: {part.strip()!r} is not a duration; give e.g. 1h,1d,1y "
                             f"(units: s, min, h, d, w, mo, y)")
        seconds = float(m.group(1)) * UNITS.get(m.group(2) or "s", 1.0)
        if not math.isfinite(seconds) or seconds <= 0 or seconds > 1e3 * YEAR:
            raise ValueError(f"--after: {part.strip()!r} must be a time > 0 and at most 1000 years")
        out.append(seconds)
    if not out:
        raise ValueError("--after: give at least one duration, e.g. 1h,1d,1y")
    return sorted(set(out))


def describe_folder(path: Path) -> str:
    """What a folder that is not a trained network is, for the refusal."""
    from labbench.characterize.campaign import STATE_FILE

    p = Path(path)
    if not p.exists():
        return f"{p}: no such folder"
    if p.is_file():
        return f"{p} is a file ({p.suffix or 'no extension'}), not a run folder"
    names = {q.name for q in p.iterdir()}
    kinds = [("results.parquet", "a sweep folder (labbench sweep)"), (STATE_FILE, "a characterization campaign "
              "folder (labbench characterize)"), ("summary.json", "a demo folder (labbench demo)"),
             ("report.html", "a report folder"), ("labbench.db", "a folder with a measurement dataset")]
    for name, what in kinds:
        if name in names:
            return f"{p} is {what}"
    if "metrics.csv" in names:
        return (f"{p} is a training run folder without a checkpoint (a run stopped before its first epoch "
                f"ended?)")
    shown = ", ".join(sorted(names)[:6]) + (", ..." if len(names) > 6 else "")
    return f"{p} holds {len(names)} entries ({shown or 'empty'}) and no checkpoint"


@dataclass
class TrainedRun:
    """A run folder's checkpoint: the trainer rebuilt with its arrays and everything restored.

    ``kind`` "bench" (trained with a layer on a bench, ``labbench train --array bench``):
    ``bench`` is that bench, open (a context manager: :meth:`close` or leaving the ``with``
    turns its outputs off), ``bench_layer`` the layer on its chip."""

    folder: Path
    trainer: object
    data: dict
    meta: dict
    kind: str            # "sim" (trained online on SimArrays), "ideal" (software weights) or "bench"
    bench: object = None
    bench_file: str | None = None
    bench_layer: int | None = None
    _stack: contextlib.ExitStack | None = field(default=None, repr=False)

    def restore(self) -> None:
        self.trainer._load_state({k: v for k, v in self.data.items()}, json.loads(json.dumps(self.meta)))

    @property
    def chip_in_checkpoint(self) -> bool:
        """Bench runs: did the chip's state come back from the checkpoint (a simulated chip,
        saved whole: copied at will)?  Otherwise the chip holds its own state, one copy: a
        real chip (or a simulated bench whose checkpoint lacks it)."""
        saved = any(k.startswith(f"syn{self.bench_layer}.chip.") for k in self.data)
        return saved and self.trainer.arrays[self.bench_layer].simulated

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()

    def __enter__(self) -> "TrainedRun":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load_run(folder, device_model=None, bench=None) -> TrainedRun:
    """The trained network in ``folder``; :class:`NotATrainedNetwork` saying what the folder
    is otherwise.  ``device_model`` (ideal runs only): the devices to program it onto.
    ``bench`` (runs trained with a layer on a bench only): the bench file, when it is no longer
    where the run recorded it; that bench is opened (see :class:`TrainedRun`)."""
    from labbench.physics import load_device_model

    from .spec import FLAT_KEYS, TrainSpec
    from .trainer import CHECKPOINT, DEVICE_MODEL, CheckpointError, Trainer, read_checkpoint

    folder = Path(folder)
    ckpt = folder / CHECKPOINT
    hint = "; labbench evaluate takes a `labbench train` run folder (checkpoint.npz, device_model.yaml)"
    if not folder.is_dir() or not ckpt.is_file():
        raise NotATrainedNetwork(f"not a trained network: {describe_folder(folder)}{hint}")
    try:
        data = read_checkpoint(ckpt)
    except CheckpointError as e:
        raise NotATrainedNetwork(f"not a trained network: {e}") from None
    meta = data.pop("meta")
    array = str(meta.get("array", "sim"))
    cfg = dict(meta["config"])
    # a run with a layer on a bench records "bench" (an ArC TWO's: its array classes' names)
    on_bench = "BenchArray" in array or array == "bench"
    if array not in ("sim", "ideal") and not on_bench and cfg.get("mode") != "ideal":
        raise NotATrainedNetwork(f"{folder} holds a network trained on arrays labbench evaluate does not know "
                                 f"({array}); it takes runs trained with --array sim, bench or ideal")
    kind = "ideal" if cfg.get("mode") == "ideal" else "bench" if on_bench else "sim"
    if kind != "ideal":
        if not (folder / DEVICE_MODEL).is_file():
            raise NotATrainedNetwork(f"{folder} has a checkpoint of a network trained on devices but no "
                                     f"{DEVICE_MODEL} (the physics it trained on); copy it back next to the "
                                     f"checkpoint")
        if device_model is not None:
            raise ValueError(f"--device-model: {folder} was trained on its own devices ({DEVICE_MODEL} there); "
                             f"--device-model chooses the devices of a software-trained (--array ideal) run")
        dm = load_device_model(folder / DEVICE_MODEL)
    else:
        dm = load_device_model(device_model)
    try:
        spec = TrainSpec(**{k: v for k, v in cfg.items() if k in FLAT_KEYS})
    except ValueError as e:
        raise NotATrainedNetwork(f"{ckpt}: its configuration is not one this labbench trains ({e})") from None
    stack = contextlib.ExitStack()
    try:
        if kind == "bench":
            from .evaluate_bench import bench_file_of, bench_layer_of, open_trained_bench

            path, named = bench_file_of(folder, meta, bench)
            opened, trainer, layer = open_trained_bench(path, spec, dm, stack, bench_layer_of(data))
            run = TrainedRun(folder, trainer, data, meta, kind, opened, named, layer, stack)
        else:
            trainer = Trainer(spec, dm, out_dir=None, progress=False, plots=False)
            run = TrainedRun(folder, trainer, data, meta, kind)
        try:
            run.restore()
        except (KeyError, ValueError, TypeError, IndexError) as e:
            what = f" and bench {run.bench_file!r}" if kind == "bench" else ""
            raise NotATrainedNetwork(f"{ckpt} does not fit the network its configuration{what} describe"
                                     f"{'' if what else 's'} ({type(e).__name__}: {e})") from None
    except BaseException:
        stack.close()          # the bench's outputs off
        raise
    return run


def temperature_warning(model, kelvin: float) -> str | None:
    """The warning for a temperature beyond the model's validated retention range, a note
    when the model states none, or None."""
    ret = model.retention
    if ret is None:
        return (f"device model {model.name!r} has no retention block: its conductances do not move at rest, so "
                f"nothing drifts at any temperature")
    rng = ret.validated_temperature
    if rng is None:
        return (f"device model {model.name!r} states no validated temperature range for its retention "
                f"(retention.validated_temperature): {kelvin - KELVIN:g} °C may be an Arrhenius extrapolation")
    lo, hi = rng
    if lo <= kelvin <= hi:
        return None
    source = model.provenance.get("retention.validated_temperature", "no source given")
    return (f"{kelvin - KELVIN:g} °C ({kelvin:g} K) is beyond the validated range of device model {model.name!r}'s "
            f"retention, {lo - KELVIN:g} to {hi - KELVIN:g} °C ({lo:g}-{hi:g} K; source: {source}): the drift "
            f"there is an Arrhenius extrapolation")


class Evaluation:
    """Drives one trained run through time (see the module doc)."""

    def __init__(self, run: TrainedRun, x_test, y_test, program_level: float = 0.5, margin: float = 0.1,
                 tolerance: float = 0.05, max_pulses: int = 50, progress=None, refresh_first: bool = False):
        from labbench.array import program_verify as pv

        if not 0 < program_level < 1:
            raise ValueError(f"--program-level must be a fraction of the window in (0, 1), got {program_level}")
        if not 0 < margin < 1:
            raise ValueError(f"--margin must be a fraction of the window in (0, 1), got {margin}")
        self.run, self.x, self.y = run, x_test, y_test
        self.model = run.trainer.device_model
        self.settings = pv.VerifySettings.for_model(self.model, tolerance=tolerance, max_pulses=max_pulses)
        self.settings.check()
        self.margin = margin
        self.progress = progress or (lambda *_: None)
        self.program_result = None
        if run.kind == "ideal":
            self._program(program_level)
        self.arrays = [s.array for s in run.trainer.synapses]
        # flips count against the signs as trained (or programmed)
        self.signs0 = [a.true_signs() for a in self.arrays]
        self.stored = None
        if refresh_first:
            # one verified refresh before the time at rest: weak pairs pulled out to the margin
            self.stored = {"accuracy_before": self.accuracy(), **self.refresh()}
        # the state at the start of the time at rest: every seed and temperature starts here
        self.start = [a.state_dict() for a in self.arrays]

    def _program(self, level: float) -> None:
        """Write a software-trained network's signs onto SimArrays with program-verify."""
        from labbench.array import SimArray
        from labbench.array import program_verify as pv

        from .trainer import DeviceSynapses

        tr = self.run.trainer
        c = tr.spec
        lo, hi = pv.reachable_range(self.model, self.settings)
        target = lo + level * (hi - lo)
        results = []
        synapses = []
        for i, syn in enumerate(tr.synapses):
            w = syn.w
            arr = SimArray(self.model, *w.shape, seed=c.seed * 1000 + i, sense_offset=c.sense.offset,
                           sense_noise=c.sense.noise)
            arr.reset(np.ones(w.shape, bool))
            t = np.full(w.shape + (2,), np.nan)
            on = np.where(w >= 0, 0, 1)
            r, col = np.indices(w.shape)
            t[r, col, on] = target
            results.append(arr.program_verify(t, self.settings, keep_trace=False).summary())
            synapses.append(DeviceSynapses(arr, tr._make_rule(), tr.pulse_step))
        tr.synapses = synapses
        tr.arrays = [s.array for s in synapses]
        self.program_result = results

    def _fresh_arrays(self) -> None:
        """New chips of the same seeds holding the state after training: a chip's clock
        only runs forward, so each drift seed and temperature starts on chips of its own."""
        fresh = []
        offset = self.run.trainer.spec.sense.offset
        for a, st, syn in zip(self.arrays, self.start, self.run.trainer.synapses):
            b = _like(a, offset)
            b.load_state_dict(st)
            syn.array = b
            fresh.append(b)
        self.arrays = fresh
        self.run.trainer.arrays = fresh

    def accuracy(self) -> float:
        return float(self.run.trainer.evaluate(self.x, self.y))

    def flips(self) -> float:
        n = sum(s.size for s in self.signs0)
        return float(sum(int((a.true_signs() != s0).sum()) for a, s0 in zip(self.arrays, self.signs0)) / n)

    def refresh(self) -> dict:
        """One refresh-with-verify pass over the pairs whose read difference is below the
        margin; returns what it did."""
        from labbench.array import program_verify as pv

        lo, hi = pv.reachable_range(self.model, self.settings)
        pairs, pulses, converged = 0, 0, 0
        for a in self.arrays:
            g = a.read_conductances()
            mask = np.abs(g[..., 0] - g[..., 1]) < self.margin * (hi - lo)
            if mask.any():
                r = a.refresh_verified(mask, self.settings, margin=self.margin)
                pairs += int(mask.sum())
                pulses += int(r.pulses[r.selected].sum())
                converged += int(r.converged.sum())
        return {"pairs": pairs, "pulses": pulses, "converged": converged}

    def run_through(self, after: list[float], kelvin: float | None, seed: int, refresh: bool = True) -> list[dict]:
        """One drift seed at one temperature (K; None: the model's operating one): a row per
        time, time 0 (as trained) first."""
        self._fresh_arrays()
        for a in self.arrays:
            for _, _, chip in a.tiles:
                chip.redraw_drift(seed)     # drift seed 0 is the chip as trained; others draw the drift anew
        rows = [{"time": 0.0, "seed": seed, "accuracy": self.accuracy(), "flipped": self.flips()}]
        now = 0.0
        for t in after:
            for a in self.arrays:
                a.advance_time(t - now, kelvin)
            now = t
            row = {"time": t, "seed": seed, "accuracy": self.accuracy(), "flipped": self.flips()}
            if refresh:
                drifted = [a.state_dict() for a in self.arrays]
                done = self.refresh()
                row.update(refreshed_accuracy=self.accuracy(), refreshed_flipped=self.flips(),
                           refreshed_pairs=done["pairs"], refresh_pulses=done["pulses"])
                for a, st in zip(self.arrays, drifted):     # the drift goes on from the unrefreshed state
                    a.load_state_dict(st)
            rows.append(row)
            self.progress(t)
        return rows


def _like(a, sense_offset: float):
    """A SimArray built as ``a`` was (model, size, seed, tiles, sense amplifier: the same
    seed draws the same comparator offsets), fresh."""
    from labbench.array import SimArray

    tile = (a.tiles[0][0].stop - a.tiles[0][0].start, a.tiles[0][1].stop - a.tiles[0][1].start)
    return SimArray(a.model, a.rows, a.cols, seed=a.seed, tile=tile, sense_offset=sense_offset,
                    sense_noise=a.sense_noise, dtype=a.tiles[0][2].dtype)


def summarize(rows: list[dict]):
    """Mean and standard deviation over seeds per (temperature, time)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    cols = [c for c in ("accuracy", "flipped", "refreshed_accuracy", "refreshed_flipped", "refreshed_pairs")
            if c in df]
    # dropna=False: a bench evaluated at room temperature (no chuck) has no temperature
    g = df.groupby(["temperature_C", "time"], dropna=False)[cols]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_sd")).reset_index()
    out["seeds"] = df.groupby(["temperature_C", "time"], dropna=False).size().to_numpy()
    return out


def accuracy_figure(summary, title: str = ""):
    """Accuracy against time (log axis, time 0 at the left edge), error bars over seeds,
    drifted (solid) and after one verified refresh (dashed), one colour per temperature
    (a matplotlib Figure)."""
    from matplotlib.figure import Figure

    from labbench.array.multilevel import _duration

    fig = Figure(figsize=(6.4, 3.8))
    ax = fig.subplots()
    times = sorted(summary["time"].unique())
    first = min(t for t in times if t > 0) / 10 if len(times) > 1 else 1.0
    for k, (temp, d) in enumerate(summary.groupby("temperature_C")):
        x = np.where(d["time"] > 0, d["time"], first)
        color = f"C{k}"
        ax.errorbar(x, 100 * d["accuracy_mean"], yerr=100 * d["accuracy_sd"].fillna(0), color=color, marker="o",
                    capsize=3, label=f"{temp:g} °C")
        if "refreshed_accuracy_mean" in d:
            m = (d["time"] > 0).to_numpy()
            ax.errorbar(x[m], 100 * d.loc[m, "refreshed_accuracy_mean"],
                        yerr=100 * d.loc[m, "refreshed_accuracy_sd"].fillna(0), color=color, marker="s", ls="--",
                        capsize=3, label=f"{temp:g} °C, after one verified refresh")
    ax.set_xscale("log")
    ticks = [first] + [t for t in times if t > 0]
    ax.set_xticks(ticks, ["trained"] + [_duration(t) for t in times if t > 0], fontsize=8)
    ax.minorticks_off()
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlabel("time at rest")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot(summary, path, title: str = "") -> None:
    """:func:`accuracy_figure` saved as a PNG at ``path``."""
    accuracy_figure(summary, title).savefig(path, dpi=110)


def _celsius_list(text) -> list[float]:
    out = []
    for part in str(text).split(","):
        if not part.strip():
            continue
        try:
            c = float(part)
        except ValueError:
            raise ValueError(f"--temperature: {part.strip()!r} is not a number of °C") from None
        if not math.isfinite(c) or not -273.15 < c <= 726.85:
            raise ValueError(f"--temperature: {part.strip()} °C is not a temperature the chip model takes "
                             f"(above absolute zero, at most 726.85 °C = 1000 K)")
        out.append(c)
    if not out:
        raise ValueError("--temperature: give at least one temperature in °C, e.g. 85")
    return out


# -- the command ----------------------------------------------------------------------------
import click  # noqa: E402

from labbench.cli_options import device_model_option, out_option  # noqa: E402


@click.command("evaluate")
@click.argument("run", type=click.Path())
@click.option("--after", default="1h,1d,1y", show_default=True,
              help="times at rest to re-read after, cumulative from the end of training, comma-separated "
                   "(units s, min, h, d, w, mo, y)")
@click.option("--temperature", "temperature", default=None,
              help="°C at rest, comma-separated for several (default: the device model's operating temperature)")
@click.option("--seeds", default=None, type=click.IntRange(1, 100),
              help="drift seeds (error bars: mean ± standard deviation over them)  [default: 3; 1 for a layer "
                   "trained on a real chip]")
@click.option("--refresh/--no-refresh", default=True, show_default=True,
              help="after each interval also the accuracy after one refresh-with-verify pass")
@click.option("--refresh-first", is_flag=True,
              help="one refresh-with-verify pass right after training, before the time at rest (the pairs "
                   "below --margin pulled out to it): what a refresh before storage buys")
@click.option("--margin", default=0.1, show_default=True, type=float,
              help="refresh the pairs whose read difference is below this fraction of the window, to it")
@click.option("--tolerance", default=0.05, show_default=True, type=float,
              help="program-verify tolerance of the refresh (and of programming an ideal run)")
@device_model_option(help="devices to program a software-trained (--array ideal) run onto (default: "
                          "hfox_2t2r_default)")
@click.option("--program-level", default=0.5, show_default=True, type=float,
              help="ideal runs: the 'on' side of each pair is programmed to this fraction of the window")
@click.option("--data", default=None, type=click.Path(file_okay=False), help="MNIST folder (as labbench train)")
@click.option("--test-subset", default=None, type=click.IntRange(1), help="evaluate on the first N test images")
@click.option("--bench", "bench_path", default=None, metavar="NAME|PATH",
              help="program one layer (--bench-layer) onto this bench with program-verify through its instruments, "
                   "bake it on its chuck and re-read it cell by cell (the layer must fit the bench's chip); for a run "
                   "trained with --array bench: where its bench file is now, if it moved")
@click.option("--bench-layer", default=None, type=click.IntRange(0),
              help="with --bench: the layer (0 = the first); a run trained with --array bench is evaluated in place, "
                   "on the layer it trained on the bench")
@out_option(help="where evaluation.csv, evaluation.json and evaluation.png go (default: the run folder)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def evaluate(run, after, temperature, seeds, refresh, refresh_first, margin, tolerance, device_model, program_level,
             data, test_subset, bench_path, bench_layer, out, as_json):
    """What a trained 2T2R network still knows after time at rest (and at temperature)."""
    times = parse_durations(after)
    from labbench.array import program_verify as pv

    pv.VerifySettings.for_pulses((1.0, 1e-6, None), (1.0, 1e-6, None), tolerance=tolerance).check()
    for name, v in (("--margin", margin), ("--program-level", program_level)):
        if not (math.isfinite(v) and 0 < v < 1):
            raise click.BadParameter(f"{v!r}: give a fraction of the window in (0, 1)", param_hint=f"'{name}'")
    celsius = _celsius_list(temperature) if temperature is not None else None
    with load_run(run, device_model, bench=bench_path) as tr:      # a bench run's bench: closed on every exit
        if tr.kind == "bench":
            _evaluate_in_place(tr, bench_path, bench_layer, times, celsius, seeds, data, test_subset, out, as_json)
            return
        model = tr.trainer.device_model
        if celsius is None:
            op = model.retention.temperature if model.retention is not None else 300.0
            celsius = [op - KELVIN]
        _warn_temperatures(model, celsius)
        out_dir = _out_dir(out, run)
        if (bench_layer is None) != (bench_path is None):
            raise click.UsageError("--bench and --bench-layer go together: the bench to program onto, and which layer")
        x, y = _test_set(data, test_subset)
        if bench_path is not None:
            _evaluate_on_bench(tr, bench_path, bench_layer, times, temperature is not None and celsius, x, y,
                               program_level, tolerance, out_dir, as_json)
            return
        _evaluate_arrays(tr, run, after, times, celsius, seeds or 3, refresh, refresh_first, margin, tolerance,
                         program_level, x, y, out_dir, as_json)


def _warn_temperatures(model, celsius) -> None:
    for c in celsius:
        note = temperature_warning(model, c + KELVIN)
        if note:
            click.echo(f"warning: {note}", err=True)


def _out_dir(out, run) -> Path:
    from labbench import paths

    return paths.ensure_writable_dir(Path(out) if out else Path(run), "evaluation folder (--out)")


def _test_set(data, test_subset):
    from .mnist import load_mnist

    mnist = load_mnist(data)
    x, y = mnist.x_test, mnist.y_test
    return (x[:test_subset], y[:test_subset]) if test_subset else (x, y)


def _evaluate_arrays(tr, run, after, times, celsius, seeds, refresh, refresh_first, margin, tolerance,
                     program_level, x, y, out_dir, as_json):
    """The SimArray face: every layer drifts, seeds × temperatures, with refresh."""
    import pandas as pd

    from labbench.atomic import write_text

    model = tr.trainer.device_model
    t0 = time.perf_counter()
    ev = Evaluation(tr, x, y, program_level=program_level, margin=margin, tolerance=tolerance,
                    refresh_first=refresh_first)
    rows = []
    for c in celsius:
        for seed in range(seeds):
            for row in ev.run_through(times, c + KELVIN, seed, refresh=refresh):
                rows.append({"temperature_C": c, **row})
            if not as_json:
                last = rows[-1]
                click.echo(f"{c:g} °C, drift seed {seed}: accuracy {100 * rows[-len(times) - 1]['accuracy']:.2f} % "
                           f"as trained -> {100 * last['accuracy']:.2f} % after {after.split(',')[-1].strip()}, "
                           f"{100 * last['flipped']:.3f} % of signs flipped", err=True)
    summary = summarize(rows)
    pd.DataFrame(rows).to_csv(out_dir / "evaluation.csv", index=False)
    info = {"run": str(run), "kind": tr.kind, "device_model": model.name, "after_s": times,
            "temperatures_C": celsius, "seeds": seeds, "margin": margin, "tolerance": tolerance,
            "test_images": int(len(y)), "seconds": time.perf_counter() - t0,
            "programmed": ev.program_result, "refreshed_first": ev.stored,
            "summary": json.loads(summary.to_json(orient="records"))}
    write_text(out_dir / "evaluation.json", json.dumps(info, indent=1))
    plot(summary, out_dir / "evaluation.png", title=f"{Path(run).name} ({tr.kind}), {model.name}")
    if as_json:
        click.echo(json.dumps(info, indent=1))
        return
    _print_table(summary)
    click.echo(f"evaluation.csv, evaluation.json and evaluation.png in {out_dir}")


def _print_table(summary) -> None:
    """Mean ± sd over seeds per temperature and time (and after one refresh, where done)."""
    from labbench.array.multilevel import _duration

    refreshed = "refreshed_accuracy_mean" in summary
    click.echo(f"{'°C':>6} {'after':>8} {'accuracy %':>16} {'flipped %':>10}"
               + (f" {'refreshed %':>16} {'pairs':>8}" if refreshed else ""))
    for _, r in summary.iterrows():
        ref = ""
        if refreshed:
            ref = (f" {100 * r['refreshed_accuracy_mean']:>8.2f} ± {100 * r['refreshed_accuracy_sd']:.2f} "
                   f"{r['refreshed_pairs_mean']:>8.0f}" if r["time"] > 0 else "")
        sd = r["accuracy_sd"] if r["seeds"] > 1 else 0.0
        temp = "room" if _missing(r["temperature_C"]) else f"{r['temperature_C']:g}"
        click.echo(f"{temp:>6} {_duration(r['time']) if r['time'] else 'trained':>8} "
                   f"{100 * r['accuracy_mean']:>8.2f} ± {100 * sd:.2f} {100 * r['flipped_mean']:>10.3f}{ref}")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _write_bench(info: dict, rows: list[dict], out_dir: Path, as_json: bool) -> None:
    """evaluation_bench.csv (a row per temperature, seed and time) and .json."""
    import pandas as pd

    from labbench.atomic import write_text

    pd.DataFrame(rows).to_csv(out_dir / "evaluation_bench.csv", index=False)
    write_text(out_dir / "evaluation_bench.json", json.dumps(info, indent=1, default=float))
    if as_json:
        click.echo(json.dumps(info, indent=1, default=float))


def _evaluate_on_bench(tr, bench_path, layer, times, celsius, x, y, program_level, tolerance, out_dir, as_json):
    """``--bench``: one layer on the instruments (labbench.bnn.evaluate_bench), one bench per
    temperature (a chip's clock runs only forward); outputs off on every exit path."""
    from labbench.instruments import Bench
    from labbench.paths import resolve_bench

    from .evaluate_bench import evaluate_layer_on_bench

    say = (lambda m: click.echo(m, err=True)) if not as_json else (lambda *_: None)
    results, rows = [], []
    for c in (celsius or [None]):
        with Bench.from_yaml(resolve_bench(bench_path)) as bench:
            r = evaluate_layer_on_bench(tr, bench, layer, times, x, y, kelvin=None if c is None else c + KELVIN,
                                        program_level=program_level, tolerance=tolerance, echo=say)
        results.append({"temperature_C": c, **r})
        rows += [{"temperature_C": c, **row} for row in r["rows"]]
    info = {"run": str(tr.folder), "kind": tr.kind, "bench": str(bench_path), "layer": layer, "after_s": times,
            "results": results}
    _write_bench(info, rows, out_dir, as_json)
    if as_json:
        return
    for res in results:
        first, last = res["rows"][0], res["rows"][-1]
        conv = 100 * res["programmed"]["converged_fraction"]
        where = f"{res['temperature_C']:g} °C" if res["temperature_C"] is not None else "room temperature"
        click.echo(f"layer {layer} on {bench_path} ({res['pairs']} pairs, {conv:.0f} % programmed within tolerance), "
                   f"{where}: accuracy {100 * first['accuracy']:.2f} % as programmed -> {100 * last['accuracy']:.2f} % "
                   f"after {last['time']:g} s, {100 * last['flipped']:.2f} % of its signs flipped "
                   f"(software: {100 * res['accuracy_software']:.2f} %); {out_dir / 'evaluation_bench.json'}")


def _evaluate_in_place(tr, bench_path, bench_layer, times, celsius, seeds, data, test_subset, out, as_json):
    """A run trained with a layer on a bench: that layer evaluated where it lives, on the bench
    (labbench.bnn.evaluate_bench.evaluate_in_place); the SimArray layers keep their signs.  A
    real chip is checked to be the one trained, before anything else touches it."""
    from .evaluate_bench import check_chip_holds_layer, evaluate_in_place, refuse_copies

    if bench_layer is not None and bench_layer != tr.bench_layer:
        raise click.UsageError(f"--bench-layer {bench_layer}: {tr.folder} trained its layer {tr.bench_layer} on the "
                               f"bench; it is evaluated in place there (leave --bench-layer out)")
    arr = tr.trainer.arrays[tr.bench_layer]
    restored = tr.chip_in_checkpoint
    seeds = seeds or (3 if restored else 1)
    refuse_copies(tr, len(celsius or [None]), seeds)
    if celsius is not None:
        _warn_temperatures(arr.model, celsius)
    out_dir = _out_dir(out, tr.folder)
    chip = None if restored else check_chip_holds_layer(tr)      # before anything else reads or bakes it
    if chip is not None and not chip["checked"]:
        click.echo(f"warning: cannot check that the chip of bench {tr.bench_file!r} is the one trained: "
                   f"{chip['why']}", err=True)
    x, y = _test_set(data, test_subset)
    say = (lambda m: click.echo(m, err=True)) if not as_json else (lambda *_: None)
    t0 = time.perf_counter()
    results, rows = evaluate_in_place(tr, lambda: load_run(tr.folder, bench=bench_path), times, x, y,
                                      celsius or [None], seeds, echo=say)
    info = {"run": str(tr.folder), "kind": tr.kind, "bench": tr.bench_file, "layer": tr.bench_layer,
            "in_place": True, "chip_restored": restored, "chip_check": chip, "after_s": times,
            "seeds": seeds, "test_images": int(len(y)), "seconds": time.perf_counter() - t0, "results": results}
    _write_bench(info, rows, out_dir, as_json)
    if as_json:
        return
    from labbench.array.multilevel import _duration

    for res in results:
        first, last = res["rows"][0], res["rows"][-1]
        where = f"{res['temperature_C']:g} °C" if res["temperature_C"] is not None else "room temperature"
        trained, changed = res["accuracy_checkpoint"], res["changed_since_checkpoint"]
        then = (f" (with the checkpoint's signs: {100 * trained:.2f} %; {100 * changed:.2f} % of the signs read "
                f"otherwise now)" if trained is not None else "")
        click.echo(f"layer {tr.bench_layer} in place on {tr.bench_file} ({res['pairs']} pairs, trained there), {where}, "
                   f"drift seed {res['seed']}: accuracy {100 * first['accuracy']:.2f} % as read -> "
                   f"{100 * last['accuracy']:.2f} % after {_duration(last['time'])}, {100 * last['flipped']:.2f} % of "
                   f"its signs flipped{then}")
    _print_table(summarize(rows))
    click.echo(f"evaluation_bench.csv and evaluation_bench.json in {out_dir}")
