"""The ArC TWO twin against the SCPI bench, side by side in one run.

1. Pulse-and-read throughput: ``bench.pulse_cell`` (SET, n=1) then ``bench.read_cell`` on
   one cell, per CPU-second of this process, through the ArC TWO twin (benches/sim_arc2.yaml:
   one pyarc2 program per operation) and through the SCPI bench (benches/sim.yaml: PyMeasure
   2450 + 81160A, QCoDeS B2200, over the simulated VISA library); and the instrument time
   each cycle takes (the virtual clock: USB transfers and libarc2's settling waits on the
   ArC TWO; VISA transactions, integration and pulse widths on the SCPI bench).
2. A full 32×32 read map (32 rows × 16 2T2R columns = 1,024 devices): commands issued and
   instrument time, on the ArC TWO a row per call (``read_row``: 32 programs) and cell by
   cell (1,024 programs), against cell by cell over SCPI with a switch matrix (each read
   a route, a gate and an SMU reading).

Instrument times are the simulators' models (docs/arc2.md says where each number comes
from), not measurements of hardware.

Run: ``.venv/bin/python bench/arc2_bench.py [--seconds 1.0]``; writes bench/results/arc2_bench.txt
"""
from __future__ import annotations

import argparse
import io
import sys
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rate(fn, seconds: float, rounds: int = 3) -> float:
    """Best of ``rounds`` of calls per CPU-second, each round running ``seconds``."""
    best = 0.0
    for _ in range(rounds):
        n, t0 = 0, time.process_time()
        while (dt := time.process_time() - t0) < seconds:
            for _ in range(10):
                fn()
            n += 10
        best = max(best, n / dt)
    return best


def counters(bench) -> tuple[int, float, int]:
    """(commands issued, instrument time so far, host-instrument transfers): pyarc2 calls
    and USB transfers (execute() or a fetched result) on the ArC TWO, VISA transactions
    (both) on the SCPI bench; the virtual clock for both."""
    if getattr(bench, "arc2", None) is not None:
        return bench.arc2.calls, bench.now(), bench.world.arc2.transfers
    return bench.world.transactions, bench.now(), bench.world.transactions


def cycle_cost(bench, cell, n: int = 50) -> tuple[float, float, float]:
    """(commands, instrument seconds, transfers) per pulse-then-read, over ``n`` cycles."""
    c0, t0, x0 = counters(bench)
    for _ in range(n):
        bench.pulse_cell(*cell, "set", 1)
        bench.read_cell(*cell)
    c1, t1, x1 = counters(bench)
    return (c1 - c0) / n, (t1 - t0) / n, (x1 - x0) / n


def read_map(bench, rows: int, cols: int, by_row: bool) -> tuple[int, float, float, int]:
    """(commands, instrument s, wall s, transfers) of reading every device of rows × cols."""
    c0, t0, x0 = counters(bench)
    w0 = time.perf_counter()
    if by_row:
        for r in range(rows):
            bench.read_row(r, range(cols))
    else:
        for r in range(rows):
            for c in range(cols):
                bench.read_cell(r, c, 0)
                bench.read_cell(r, c, 1)
    c1, t1, x1 = counters(bench)
    return c1 - c0, t1 - t0, time.perf_counter() - w0, x1 - x0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one timing round")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "arc2_bench.txt"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    buf = io.StringIO()
    with redirect_stdout(buf):
        run(args.seconds)
    text = buf.getvalue()
    print(text, end="")
    Path(args.out).write_text(text)
    print(f"\n(written to {args.out})")


def run(seconds: float) -> None:
    import pyvisa

    from labbench.instruments import Bench
    from labbench.paths import BENCHES

    print(f"labbench arc2_bench — Python {sys.version.split()[0]}, pyvisa {pyvisa.__version__}; "
          f"rates per CPU-second of this process")
    arc = Bench.from_yaml(BENCHES / "sim_arc2.yaml")
    scpi = Bench.from_yaml(BENCHES / "sim.yaml")
    cell = (5, 7, 0)
    try:
        for b in (arc, scpi):
            b.read_cell(*cell)          # compile and route once

        def cycle(b):
            return lambda: (b.pulse_cell(*cell, "set", 1), b.read_cell(*cell))

        r_arc = r_scpi = 0.0
        for _ in range(2):              # interleaved, best of each
            r_arc = max(r_arc, rate(cycle(arc), seconds))
            r_scpi = max(r_scpi, rate(cycle(scpi), seconds))
        c_arc, t_arc, x_arc = cycle_cost(arc, cell)
        c_scpi, t_scpi, x_scpi = cycle_cost(scpi, cell)
        print("\n1. Pulse-then-read on cell", cell)
        print(f"   {'':34s}{'ArC TWO twin':>14s}{'SCPI bench':>14s}{'ratio':>9s}")
        print(f"   {'cycles per CPU-second':34s}{r_arc:14.0f}{r_scpi:14.0f}{r_arc / r_scpi:9.2f}")
        print(f"   {'commands per cycle':34s}{c_arc:14.1f}{c_scpi:14.1f}{c_arc / c_scpi:9.2f}"
              f"   (pyarc2 calls / VISA transactions)")
        print(f"   {'transfers per cycle':34s}{x_arc:14.1f}{x_scpi:14.1f}{x_arc / x_scpi:9.2f}"
              f"   (USB transfers / VISA transactions)")
        print(f"   {'instrument time per cycle (ms)':34s}{t_arc * 1e3:14.3f}{t_scpi * 1e3:14.3f}{t_arc / t_scpi:9.2f}")

        rows, cols = 32, 16
        print(f"\n2. Full read map: {rows} rows x {cols} 2T2R columns = {rows * cols * 2} devices")
        print(f"   {'':44s}{'commands':>10s}{'transfers':>11s}{'instrument s':>14s}{'wall s':>9s}")
        results = {}
        for name, bench, by_row in (("ArC TWO, a row per call (read_row)", arc, True),
                                    ("ArC TWO, cell by cell (read_cell)", arc, False),
                                    ("SCPI + switch matrix, cell by cell", scpi, False)):
            n, t, w, x = read_map(bench, rows, cols, by_row)
            results[name] = (n, t)
            print(f"   {name:44s}{n:10d}{x:11d}{t:14.3f}{w:9.2f}")
        (n_row, t_row), _, (n_s, t_s) = results.values()
        print(f"   ArC TWO by row vs SCPI: {n_s / n_row:.0f}x fewer commands, {t_s / t_row:.0f}x less instrument time")
    finally:
        arc.close()
        scpi.close()


if __name__ == "__main__":
    main()
