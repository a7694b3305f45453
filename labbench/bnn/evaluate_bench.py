"""``labbench evaluate RUN --bench BENCH``: one layer of a trained network on a bench over time.

The bench face of :mod:`labbench.bnn.evaluate` ("train in software, program, bake, re-read"
on the instruments): the signs of one layer that fits the bench's chip are written onto its
cells with program-verify through the instruments (the "on" side of each pair to
``program_level`` of the window as read, the other side RESET), the chuck holds the bake
temperature (the bench's temperature controller; none: the room) while the bench's clock
runs through each interval (virtual time on a simulated bench), and the layer is re-read
through the instruments, cell by cell.  The test accuracy uses the re-read signs for that
layer and the network's own for the others; the flips count against the signs as programmed
and read back.  A layer of 784 × 500 would take hours cell by cell; one that fits the chip
(e.g. the 16 × 10 output layer of a 784-16-10 network on a 32 × 32 array) takes seconds of
wall time on the simulated bench.

A network trained online with a layer on a bench (``labbench train --array bench``) is
evaluated *in place*: nothing is programmed, the layer is read where training left it (the
first read is the reference the flips count against), baked and re-read the same way.  Its
bench is opened again (:func:`open_trained_bench`): a simulated chip comes back from the
checkpoint; a real chip holds the weights itself, and :func:`check_chip_holds_layer` refuses
a chip whose signs disagree with the checkpoint's last read by much more than the sense
error (a different or erased chip connected).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from labbench.errors import LabbenchError


class BenchLayerError(LabbenchError, ValueError):
    """The layer cannot be evaluated on this bench (the message says why and what fits)."""


class _ReadSigns:
    """A synapse whose binary weights are what the bench read back."""

    def __init__(self, signs: np.ndarray):
        self._signs = np.asarray(signs, np.float32)

    def signs(self) -> np.ndarray:
        return self._signs


#: the most a real chip's signs may differ from the checkpoint's last read (a fraction of the
#: layer): a chip holding the trained layer differs by its sense error and what drifted since
#: (a few %); a different or an erased chip by about half
MISMATCH_LIMIT = 0.25


def bench_file_of(folder, meta: dict, given=None) -> tuple[Path, str]:
    """The bench file of a run trained with a layer on a bench, and how it was named: ``given``
    (``--bench``: the file moved), else what the checkpoint records, else the run's spec.yaml.
    :class:`BenchLayerError` saying how to point at it when it is missing."""
    from labbench.paths import NotFound, resolve_bench

    folder = Path(folder)
    name = given if given is not None else meta.get("bench") or _bench_in_spec(folder)
    if not name:
        raise BenchLayerError(f"{folder} was trained with a layer on a bench but records no bench file (no "
                              f"spec.yaml beside its checkpoint); give the bench it trained on with --bench PATH")
    try:
        return resolve_bench(name), str(name)
    except NotFound:
        pass
    if given is None and not Path(name).is_absolute() and (folder / name).is_file():
        return folder / name, str(name)
    if given is not None:
        raise BenchLayerError(f"--bench {str(name)!r} is not found (not a file, not a shipped bench); give the bench "
                              f"file {folder} trained on")
    raise BenchLayerError(f"the bench {folder} trained on, {str(name)!r}, is not found (not a file, not a shipped "
                          f"bench): its layer on the bench lives on that bench's chip; if the bench file moved, point "
                          f"at it with --bench PATH")


def _bench_in_spec(folder: Path) -> str | None:
    import yaml

    from .run import SPEC_FILE

    try:
        spec = yaml.safe_load((folder / SPEC_FILE).read_text())
        return spec["array"]["bench"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None


def bench_layer_of(data: dict) -> int | None:
    """The layer a checkpoint kept on a bench: the one whose array state is not a SimArray's
    (tiles of a simulated chip)."""
    layers = sorted({int(k[3:].split(".", 1)[0]) for k in data if k.startswith("syn") and k.endswith(".counters")})
    on_bench = [i for i in layers if f"syn{i}.tile0.g" not in data]
    return on_bench[0] if on_bench else None


def open_trained_bench(path, spec, device_model, stack, trained_layer: int | None = None):
    """Open the bench at ``path`` (its context entered on ``stack``: closing the stack turns
    its outputs off) and build the trainer of ``spec`` with the layers placed as training
    placed them (:class:`~labbench.array.placement.BenchPlacement`), nothing pulsed.  Returns
    (bench, trainer, the layer on the bench); the caller restores the checkpoint.
    ``trained_layer``: the layer the run trained on its bench; a bench that places another
    one is not that bench."""
    from labbench.array.placement import BenchPlacement
    from labbench.instruments import Bench

    from .trainer import Trainer

    bench = stack.enter_context(Bench.from_yaml(path))
    placement = BenchPlacement(bench, device_model, spec.seed, spec.sense.offset, spec.sense.noise)
    shapes = [(a, b) for a, b in zip(spec.network.sizes[:-1], spec.network.sizes[1:])]
    placed = next((i for i, (r, c) in enumerate(shapes) if placement.fits(r, c)), None)
    if placed is None or (trained_layer is not None and placed != trained_layer):
        chip = bench.config.chip
        takes = f"takes layer {placed}" if placed is not None else "fits no layer"
        raise BenchLayerError(f"bench {bench.config.name!r} ({path}) is not the bench this run trained on: its "
                              f"{chip.rows} × {chip.cols} chip {takes} of {'-'.join(map(str, spec.network.sizes))}, "
                              f"the run trained layer {trained_layer} on its bench; give that bench with --bench PATH")
    trainer = Trainer(spec, device_model, out_dir=None, array_factory=placement, progress=False, plots=False,
                      initialize=False)
    return bench, trainer, placement.on_bench[0]


def check_chip_holds_layer(trained) -> dict:
    """A real chip holds the bench layer itself: read its signs twice (their disagreement is
    the sense error) and compare them with the signs the checkpoint last read.  Refuses
    (:class:`BenchLayerError`, naming the fraction) when they differ by more than
    ``min(MISMATCH_LIMIT, 5 % + 3 × the sense error)``.  Returns what it found; a checkpoint
    from before labbench kept the signs cannot be checked (``checked`` False)."""
    layer = trained.bench_layer
    stored = trained.data.get(f"syn{layer}.signs")
    if stored is None:
        return {"checked": False, "why": "the checkpoint predates labbench keeping the bench layer's signs"}
    arr = trained.trainer.arrays[layer]
    first, second = arr.read_signs(), arr.read_signs()
    noise = float((first != second).mean())
    mismatch = float((first != np.asarray(stored)).mean())
    allowed = min(MISMATCH_LIMIT, 0.05 + 3 * noise)
    if mismatch > allowed:
        raise BenchLayerError(
            f"the chip on bench {trained.bench.config.name!r} does not hold layer {layer} of {trained.folder}: "
            f"{100 * mismatch:.1f} % of its {first.size} signs differ from the checkpoint's last read (sense error, "
            f"two reads apart: {100 * noise:.1f} %; at most {100 * allowed:.1f} % allowed), so a different or erased "
            f"chip is connected; connect the chip this run trained on (its weights live there only)")
    return {"checked": True, "mismatch": mismatch, "sense_error": noise, "allowed": allowed}


def evaluate_layer_on_bench(trained, bench, layer: int, after: list[float], x, y, kelvin: float | None = None,
                            program_level: float = 0.5, tolerance: float = 0.05, max_pulses: int = 50,
                            echo=lambda *_: None, in_place: bool = False) -> dict:
    """Program layer ``layer`` of ``trained`` (a :class:`labbench.bnn.evaluate.TrainedRun`) onto
    ``bench``, then re-read it after each cumulative time of ``after`` (s) at ``kelvin`` (None:
    the room).  Returns {'programmed': the program-verify summary, 'rows': one per time}.

    ``in_place``: the layer was trained on ``bench`` (its array is the trainer's): nothing is
    programmed, the first read is the reference ('programmed' None)."""
    tr = trained.trainer
    n_layers = len(tr.synapses)
    if not 0 <= layer < n_layers:
        raise BenchLayerError(f"--bench-layer {layer}: the network has layers 0..{n_layers - 1}")
    tc = _chuck(bench, kelvin)
    saved = tr.synapses[layer]
    if in_place:
        arr = getattr(saved, "array", None)
        if getattr(arr, "bench", None) is not bench:
            raise BenchLayerError(f"layer {layer} was not trained on bench {bench.config.name!r}: it cannot be "
                                  f"evaluated in place there")
        result, target, intended = None, None, None
        echo(f"reading layer {layer} ({arr.rows} × {arr.cols} pairs) in place on {bench.config.name} ...")
    else:
        arr, result, target, intended = _program(tr, bench, layer, program_level, tolerance, max_pulses, echo)
    reference = arr.read_signs()

    def accuracy(read) -> float:
        tr.synapses[layer] = _ReadSigns(read)
        try:
            return float(tr.evaluate(x, y))
        finally:
            tr.synapses[layer] = saved

    rows = [{"time": 0.0, "accuracy": accuracy(reference), "flipped": 0.0}]
    out = {"programmed": result.summary() if result is not None else None, "rows": rows, "layer": layer,
           "pairs": int(reference.size), "target_S": target, "in_place": in_place}
    if in_place:
        stored = trained.data.get(f"syn{layer}.signs")
        out["accuracy_checkpoint"] = accuracy(np.asarray(stored)) if stored is not None else None
        out["changed_since_checkpoint"] = float((reference != stored).mean()) if stored is not None else None
    else:
        rows[0]["miswritten"] = float((reference != intended).mean())
    if kelvin is not None:
        tc.set_temperature(kelvin, None)
        tc.settle(bench, kelvin)
    now = 0.0
    for when in after:
        bench.sleep(when - now)
        now = when
        read = arr.read_signs()
        rows.append({"time": when, "accuracy": accuracy(read), "flipped": float((read != reference).mean())})
        echo(f"after {when:g} s: accuracy {100 * rows[-1]['accuracy']:.2f} %, {100 * rows[-1]['flipped']:.2f} % of the "
             f"layer's signs flipped")
    if not in_place:       # the network's own signs (for a bench-trained run: a read of the chip)
        out["accuracy_software"] = float(tr.evaluate(x, y))
    return out


def _chuck(bench, kelvin: float | None):
    """The bench's temperature controller for a bake at ``kelvin``, checked against its
    limits before anything is sent (None: no bake)."""
    tc = bench.temperature_controller
    if kelvin is not None and tc is None:
        raise BenchLayerError(f"a bake at {kelvin - 273.15:g} °C needs a temperature_controller on the bench "
                              f"(a heated chuck, as benches/sim.yaml has); this bench has none")
    if kelvin is not None:
        tc.check(kelvin, None)       # a SafetyError (a ValueError) names the limit: before anything is sent
    return tc


def _program(tr, bench, layer: int, program_level: float, tolerance: float, max_pulses: int, echo):
    """Write layer ``layer``'s signs onto a BenchArray of ``bench`` with program-verify (the
    "on" side to ``program_level`` of the window, the other RESET): (array, result, target S,
    the signs written as ±1)."""
    from labbench.array import program_verify as pv
    from labbench.array.bench_array import BenchArray

    signs = np.asarray(tr.synapses[layer].signs())
    rows_, cols_ = signs.shape
    chip = bench.config.chip
    try:
        arr = BenchArray(bench, rows_, cols_)
    except ValueError:
        fits = [k for k, (r_, c_) in enumerate(tr.model.weight_shapes) if r_ <= chip.rows and c_ <= chip.cols]
        raise BenchLayerError(f"layer {layer} ({rows_} × {cols_} pairs) does not fit the {chip.rows} × {chip.cols} "
                              f"chip of bench {bench.config.name!r}; layers that fit: {fits or 'none'}") from None
    settings = pv.bench_settings(bench, tolerance=tolerance, max_pulses=max_pulses)
    lo, hi = pv.reachable_range(arr.model, settings)
    target = lo + program_level * (hi - lo)
    t = np.full((rows_, cols_, 2), np.nan)
    on = np.where(signs >= 0, 0, 1)
    r, c = np.indices(signs.shape)
    t[r, c, on] = target
    echo(f"programming layer {layer} ({rows_} × {cols_} pairs) onto {bench.config.name} to {target:.3g} S ...")
    arr.reset(np.ones(signs.shape, bool))
    return arr, arr.program_verify(t, settings, keep_trace=False), float(target), np.where(signs >= 0, 1, -1)


def refuse_copies(trained, temperatures: int, seeds: int) -> None:
    """Each temperature and drift seed needs its own copy of the chip: a simulated one is
    restored again from the checkpoint; a chip that holds its own state (a real one) is one
    copy whose clock only runs forward (a second bake would start from the first's drift), so
    it takes one of each."""
    if trained.chip_in_checkpoint:
        return
    where = (f"layer {trained.bench_layer} of {trained.folder} lives on the chip of bench {trained.bench.config.name!r} "
             f"(its state is the chip's own, not in the checkpoint)")
    if temperatures > 1:
        raise BenchLayerError(f"--temperature: {where}, one copy whose clock only runs forward: a second temperature "
                              f"would start from the first's bake; give one temperature per run")
    if seeds > 1:
        raise BenchLayerError(f"--seeds: {where}: it drifts one way only (drift seeds re-draw a simulated chip's "
                              f"randomness); give --seeds 1")


def evaluate_in_place(trained, reopen, after: list[float], x, y, celsius: list, seeds: int,
                      echo=lambda *_: None) -> tuple[list[dict], list[dict]]:
    """A bench-trained run's layer evaluated in place (:func:`evaluate_layer_on_bench`) at each
    temperature of ``celsius`` (°C; None: the room) and drift seed, each on its own copy of the
    chip: ``trained`` for the first, ``reopen()`` (a :class:`TrainedRun` with the bench opened
    and the checkpoint restored again) for every other; each bench is closed (outputs off)
    as soon as its copy is done.  Returns (one result per copy, rows with temperature and seed)."""
    refuse_copies(trained, len(celsius), seeds)
    results, rows = [], []
    pending = trained
    for c in celsius:
        for seed in range(seeds):
            run, pending = pending or reopen(), None
            with run:
                if seed:
                    run.bench.world.chip.redraw_drift(seed)
                r = evaluate_layer_on_bench(run, run.bench, run.bench_layer, after, x, y,
                                            kelvin=None if c is None else c + 273.15, echo=echo, in_place=True)
            results.append({"temperature_C": c, "seed": seed, **r})
            rows += [{"temperature_C": c, "seed": seed, **row} for row in r["rows"]]
    return results, rows
