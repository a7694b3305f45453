"""The training hot path's pulse pass, per noise-at-bound convention (issue 23 follow-up).

``Chip(784, 500).pulse_pairs`` on ~8k random ±1 signed counts (SimArray's update of one
784×500 layer at a training step's density), float32, the default chip; the median of
repeats, each on a fresh random set of synapses.  Prints the time of a pass for
``noise_at_bound: shrink`` (the default) and ``clip`` measured side by side, so a change to
the compiled kernel (physics.kernels.neurosim_pulse) shows its cost on the default path.

    .venv/bin/python bench/pulse_pass_bench.py [--repeats 300] [--out bench/results/pulse_pass.txt]

Run on a checkout without the ``clip`` convention it measures ``shrink`` alone (the
"before" figure).
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labbench.physics import Chip, load_device_model  # noqa: E402

ROWS, COLS, ACTIVE = 784, 500, 8000


def _model(convention: str):
    dm = load_device_model()
    if convention == "shrink":
        return dm
    return dm.model_copy(update={"update": dataclasses.replace(dm.update, noise_at_bound=convention)})


def _pass_times(convention: str, repeats: int, seed: int) -> list[float]:
    chip = Chip(_model(convention), ROWS, COLS, seed=0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    n = ROWS * COLS
    counts = []
    for _ in range(repeats + 5):
        k = np.zeros(n, np.int8)
        k[rng.choice(n, ACTIVE, replace=False)] = rng.choice(np.array([-1, 1], np.int8), ACTIVE)
        counts.append(k)
    times = []
    for i, k in enumerate(counts):
        t0 = time.perf_counter()
        chip.pulse_pairs(k)
        if i >= 5:   # the first passes compile or load the loops, and warm the caches
            times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3, help="alternate the conventions this many times")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    import labbench.physics.models as models

    conventions = list(getattr(models, "NOISE_AT_BOUND", ("shrink",)))
    samples: dict[str, list[float]] = {c: [] for c in conventions}
    for r in range(a.rounds):   # interleaved: a neighbour's load on the machine hits both alike
        for c in conventions:
            samples[c] += _pass_times(c, a.repeats, seed=r)
    lines = [f"Chip({ROWS}, {COLS}).pulse_pairs, {ACTIVE} random ±1 counts, float32, default chip; "
             f"{a.rounds} × {a.repeats} passes each"]
    med = {c: statistics.median(t) for c, t in samples.items()}
    for c, t in samples.items():
        q = np.quantile(t, [0.25, 0.75])
        lines.append(f"  noise_at_bound {c:6s}: median {1e6 * med[c]:7.1f} µs a pass "
                     f"(IQR {1e6 * q[0]:.1f}-{1e6 * q[1]:.1f} µs)")
    if "clip" in med:
        lines.append(f"  clip / shrink: {med['clip'] / med['shrink']:.3f}")
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
