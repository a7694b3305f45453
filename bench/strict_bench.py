"""Strict on-chip training (issue 26): the refresh through program-verify against the paper's
open-loop refresh, and what sharing one sense read across the test set does to the test figure.

1. Strict 784-H-10 on MNIST (the strict preset: zero-state optimizer, threshold rule, paper
   refresh, ±1 inputs, a 1 % sense amplifier), the same seeds with the paper refresh open
   loop and through program-verify (``--refresh-program TOL``): test accuracy, update and
   refresh SET pulses, refreshes, verify reads, bytes per synapse (0 for both).
2. On each open-loop network: the test accuracy with the binary weights sensed once for the
   whole test set (what the epochs' column reports), and sensed again for each batch of B
   images (a chip senses them at every inference, each time with fresh sense noise), over
   ``--draws`` independent sense draws: mean and spread of each.

Run: ``LABBENCH_MNIST=... .venv/bin/python bench/strict_bench.py [--hidden 500] [--epochs 5]
[--seeds 0,1] [--program 0.02]``; writes bench/results/strict_bench.txt.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

OUT = Path(__file__).parent / "results" / "strict_bench.txt"
KEYS = ("test_acc", "set_pulses", "refresh_set_pulses", "refreshes", "refresh_reads", "bytes_per_synapse")


def train(hidden: int, epochs: int, seed: int, program: float | None, data):
    from labbench.bnn.run import TrainRun
    from labbench.bnn.spec import preset_spec

    spec = preset_spec("strict", sizes=(784, hidden, 10), epochs=epochs, seed=seed, refresh_program=program)
    run = TrainRun(spec, progress=False)
    t0 = time.perf_counter()
    hist = run.run(data)
    totals = {k: sum(h.get(k, 0) for h in hist) for k in ("set_pulses", "refresh_set_pulses", "refreshes",
                                                           "refresh_reads")}
    return {**hist[-1], **totals, "wall_s": time.perf_counter() - t0}, run.trainer


def sense_spread(trainer, x, y, draws: int, batch: int) -> dict:
    shared = [trainer.evaluate(x, y) for _ in range(draws)]
    fresh = [trainer.evaluate(x, y, batch=batch, fresh_sense=True) for _ in range(draws)]
    return {"shared": (float(np.mean(shared)), float(np.std(shared, ddof=1))),
            "fresh": (float(np.mean(fresh)), float(np.std(fresh, ddof=1)))}


def main() -> None:
    from labbench.bnn.mnist import load_mnist, to_inputs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--program", type=float, default=0.02, help="program-verify tolerance of the verified refresh")
    ap.add_argument("--draws", type=int, default=10, help="independent sense draws per test figure")
    ap.add_argument("--batch", type=int, default=100, help="images per fresh sense")
    a = ap.parse_args()
    mn = load_mnist(allow_download=False)
    data = (to_inputs(mn.x_train), mn.y_train, to_inputs(mn.x_test), mn.y_test)
    seeds = [int(s) for s in a.seeds.split(",")]
    lines = [f"strict 784-{a.hidden}-10, {a.epochs} epochs, full MNIST, seeds {seeds}; the strict preset "
             f"(0 B/synapse); refresh 'paper' open loop against through program-verify at {a.program:.0%}", ""]
    rows = {"open loop": [], f"program-verify {a.program:.0%}": []}
    senses = []
    for seed in seeds:
        for label, prog in (("open loop", None), (f"program-verify {a.program:.0%}", a.program)):
            r, trainer = train(a.hidden, a.epochs, seed, prog, data)
            rows[label].append(r)
            line = (f"seed {seed} {label:<20} test {100 * r['test_acc']:.2f} %  update SET {r['set_pulses']:,}  "
                    f"refresh SET {r['refresh_set_pulses']:,}  refreshes {r['refreshes']:,}  refresh reads "
                    f"{r['refresh_reads']:,}  {r['bytes_per_synapse']:g} B/synapse  {r['wall_s']:.0f} s")
            print(line, flush=True)
            lines.append(line)
            if prog is None:
                s = sense_spread(trainer, data[2], data[3], a.draws, a.batch)
                senses.append(s)
                line = (f"    test with one sense for all 10,000 images: {100 * s['shared'][0]:.2f} ± "
                        f"{100 * s['shared'][1]:.2f} %;  a fresh sense every {a.batch} images: "
                        f"{100 * s['fresh'][0]:.2f} ± {100 * s['fresh'][1]:.2f} % ({a.draws} draws each)")
                print(line, flush=True)
                lines.append(line)
    lines.append("")
    for label, rs in rows.items():
        acc = np.array([r["test_acc"] for r in rs])
        lines.append(f"{label:<22} test {100 * acc.mean():.2f} ± {100 * acc.std(ddof=1) if len(acc) > 1 else 0:.2f} %, "
                     f"update SET {np.mean([r['set_pulses'] for r in rs]):,.0f}, refresh SET "
                     f"{np.mean([r['refresh_set_pulses'] for r in rs]):,.0f}, refresh reads "
                     f"{np.mean([r['refresh_reads'] for r in rs]):,.0f}")
    d = [s["fresh"][0] - s["shared"][0] for s in senses]
    lines.append(f"fresh sense per {a.batch} images minus one shared sense: {100 * np.mean(d):+.3f} pp (mean over "
                 f"seeds); spread over draws {100 * np.mean([s['shared'][1] for s in senses]):.3f} pp shared, "
                 f"{100 * np.mean([s['fresh'][1] for s in senses]):.3f} pp fresh")
    print("\n".join(lines[-3:]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
