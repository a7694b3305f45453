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
"""
from __future__ import annotations

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


def evaluate_layer_on_bench(trained, bench, layer: int, after: list[float], x, y, kelvin: float | None = None,
                            program_level: float = 0.5, tolerance: float = 0.05, max_pulses: int = 50,
                            echo=lambda *_: None) -> dict:
    """Program layer ``layer`` of ``trained`` (a :class:`labbench.bnn.evaluate.TrainedRun`) onto
    ``bench``, then re-read it after each cumulative time of ``after`` (s) at ``kelvin`` (None:
    the room).  Returns {'programmed': the program-verify summary, 'rows': one per time}."""
    from labbench.array import program_verify as pv
    from labbench.array.bench_array import BenchArray

    tr = trained.trainer
    n_layers = len(tr.synapses)
    if not 0 <= layer < n_layers:
        raise BenchLayerError(f"--bench-layer {layer}: the network has layers 0..{n_layers - 1}")
    signs = np.asarray(tr.synapses[layer].signs())
    rows_, cols_ = signs.shape
    chip = bench.config.chip
    try:
        arr = BenchArray(bench, rows_, cols_)
    except ValueError:
        fits = [k for k, (r_, c_) in enumerate(tr.model.weight_shapes) if r_ <= chip.rows and c_ <= chip.cols]
        raise BenchLayerError(f"layer {layer} ({rows_} × {cols_} pairs) does not fit the {chip.rows} × {chip.cols} "
                              f"chip of bench {bench.config.name!r}; layers that fit: {fits or 'none'}") from None
    tc = bench.temperature_controller
    if kelvin is not None and tc is None:
        raise BenchLayerError(f"a bake at {kelvin - 273.15:g} °C needs a temperature_controller on the bench "
                              f"(a heated chuck, as benches/sim.yaml has); this bench has none")
    if kelvin is not None:
        tc.check(kelvin, None)       # a SafetyError (a ValueError) names the limit: before anything is sent
    settings = pv.bench_settings(bench, tolerance=tolerance, max_pulses=max_pulses)
    lo, hi = pv.reachable_range(arr.model, settings)
    target = lo + program_level * (hi - lo)
    t = np.full((rows_, cols_, 2), np.nan)
    on = np.where(signs >= 0, 0, 1)
    r, c = np.indices(signs.shape)
    t[r, c, on] = target
    echo(f"programming layer {layer} ({rows_} × {cols_} pairs) onto {bench.config.name} to {target:.3g} S ...")
    arr.reset(np.ones(signs.shape, bool))
    result = arr.program_verify(t, settings, keep_trace=False)
    programmed = arr.read_signs()
    saved = tr.synapses[layer]

    def accuracy(read) -> float:
        tr.synapses[layer] = _ReadSigns(read)
        try:
            return float(tr.evaluate(x, y))
        finally:
            tr.synapses[layer] = saved

    rows = [{"time": 0.0, "accuracy": accuracy(programmed), "flipped": 0.0,
             "miswritten": float((programmed != np.where(signs >= 0, 1, -1)).mean())}]
    if kelvin is not None:
        tc.set_temperature(kelvin, None)
        tc.settle(bench, kelvin)
    now = 0.0
    for when in after:
        bench.sleep(when - now)
        now = when
        read = arr.read_signs()
        rows.append({"time": when, "accuracy": accuracy(read), "flipped": float((read != programmed).mean())})
        echo(f"after {when:g} s: accuracy {100 * rows[-1]['accuracy']:.2f} %, {100 * rows[-1]['flipped']:.2f} % of the "
             f"layer's signs flipped")
    return {"programmed": result.summary(), "rows": rows, "layer": layer, "pairs": int(signs.size),
            "target_S": float(target), "accuracy_software": float(tr.evaluate(x, y))}
