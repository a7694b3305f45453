"""A network trained online with a layer on the (simulated) bench, evaluated in place over time.

``labbench train --array bench --bench sim``: a 784-16-10 BNN whose 16 × 10 output layer
trains cell by cell through the simulated instruments of ``benches/sim.yaml`` (the 784 × 16
layer on a SimArray), on a subset of MNIST.  Then ``labbench evaluate RUN --after 1h,1d,1y
--temperature 25,85``: the layer is re-read where it trained, on the bench, after each time
at rest on the chuck, one copy of the chip per temperature and drift seed restored from the
checkpoint; the SimArray layer keeps its signs.  Prints both commands' output and their wall
times; writes ``bench/results/bench_trained_retention.txt``.

Run: ``.venv/bin/python bench/bench_trained_retention.py [--data MNIST] [--subset 3000] [--epochs 2]``
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
LABBENCH = [sys.executable, "-m", "labbench.cli"]


def timed(cmd: list[str]) -> tuple[str, float]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return p.stdout + p.stderr, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.environ.get("LABBENCH_MNIST"))
    ap.add_argument("--subset", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()
    data = ["--data", a.data] if a.data else []
    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / "run"
        # the uncapped, unverified rewrite (what the committed figures ran; BenchArray has cap and verify too)
        train = ["train", "--array", "bench", "--bench", "sim", "--hidden", "16", "--train-subset", str(a.subset),
                 "--epochs", str(a.epochs), "--batch", "20", "--lr", "0.02", "--refresh-cap", "0",
                 "--refresh-verify", "0", "--out", str(run), "--no-db", "--quiet", *data]
        out_t, s_t = timed(LABBENCH + train)
        evaluate = ["evaluate", str(run), "--after", "1h,1d,1y", "--temperature", "25,85", "--seeds", str(a.seeds),
                    *data]
        out_e, s_e = timed(LABBENCH + evaluate)
    lines = [f"$ labbench {' '.join(train[:-2] if data else train)}",
             out_t.strip(), f"[train: {s_t:.1f} s wall]", "",
             f"$ labbench {' '.join(evaluate[:-2] if data else evaluate)}",
             "\n".join(ln for ln in out_e.strip().splitlines()
                       if not ln.startswith(("reading layer", "after ", "evaluation_bench"))),
             f"[evaluate: {s_e:.1f} s wall, {2 * a.seeds} copies of the chip]"]
    text = "\n".join(lines).replace(str(run), "RUN")
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_trained_retention.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
