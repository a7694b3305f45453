"""The closure test at a lab's campaign size (issue 18): pulse trains of 32 cells × 2 sides ×
3 cycles on the simulated bench (hidden truth: the default chip), fitted, replayed on a fresh
chip of the fitted model, measured again; each observable compared as distributions.

    .venv/bin/python bench/closure.py [--bench sim] [--pulses 64] [--seeds 3]

Prints the table per seed (two-sample KS at alpha 0.01 with Bonferroni over the observables,
medians within 5 %, sd ratio 0.8-1.25) and writes bench/results/closure.txt.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from labbench import closure

OUT = Path(__file__).resolve().parent / "results" / "closure.txt"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", default="sim")
    p.add_argument("--cells", default="0:16, 0:2", help="rows, cols (both sides are measured)")
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--pulses", type=int, default=64)
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args()
    lines = []
    for s in range(a.seeds):
        t0 = time.time()
        c = closure.run(a.bench, cells=a.cells, cycles=a.cycles, pulses=a.pulses, seed=s, replay_seed=100 + s)
        u = c.fitted_model.update
        lines += [f"== chip seed {s}, replay seed {100 + s} ({time.time() - t0:.0f} s)", c.text(),
                  f"fitted: g_min {u.g_min:.4g} S, g_max {u.g_max:.4g} S, a_set {u.a_set:.4g}, a_reset {u.a_reset:.4g}, "
                  f"c2c_abs {u.c2c_abs:.4g}, read noise {c.fitted_model.read.noise_rel:.4g}, "
                  f"d2d {c.fitted_model.d2d.sigma}", ""]
        print("\n".join(lines[-4:]), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
