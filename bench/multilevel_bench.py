"""Multi-level states over time: level error rate against N and time, and bits per cell.

Per model and temperature: a SimArray of ``--pairs`` × ``--pairs`` synapses (every device
a cell), shared among N = 2, 4, 8, 16 levels, programmed with program-verify (default
settings, 2 %), then left at the temperature and read at 0 s, 1 h, 1 day, 1 month, 1 year
and 10 years (:func:`labbench.array.multilevel.simulate`).  Bits per cell = log2 of the
largest N whose level error rate stays <= 1e-2 (and 1e-3) at every read up to that time.
Linear and log spacing of the levels.  Also the ``multilevel`` procedure on
``benches/sim.yaml`` (cell by cell through the instruments, baked at 85 °C on the chuck)
for the bench face.

Run: ``.venv/bin/python bench/multilevel_bench.py [--pairs 64]``; writes
``bench/results/multilevel.txt`` and the figures ``multilevel_levels_85C.png`` (8 levels on a
log-G axis in time), ``multilevel_error_map_85C.png``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labbench.array import multilevel as ml
from labbench.physics import load_device_model

RESULTS = Path(__file__).parent / "results"
YEAR = 365.25 * 86400
DELAYS = [0.0, 3600.0, 86400.0, YEAR / 12, YEAR, 10 * YEAR]
LABELS = ["0 s", "1 h", "1 d", "1 mo", "1 y", "10 y"]
COUNTS = [2, 4, 8, 16]


def table_text(tab, rates=(1e-2, 1e-3)) -> list[str]:
    piv = tab.pivot_table(index="levels", columns="time", values="level_error_rate")
    out = ["    level error rate   " + "".join(f"{lab:>9}" for lab in LABELS)]
    for n, row in piv.iterrows():
        out.append(f"    N = {n:<14}" + "".join(f"{v:>9.2g}" for v in row.to_numpy()))
    for rate in rates:
        out.append(f"    bits/cell at {rate:g} " + "".join(f"{ml.bits_per_cell(tab, rate, t):>9.0f}" for t in DELAYS))
    return out


def bench_face(pairs: str = "0:16, 0:16") -> tuple[list[str], object]:
    from labbench.instruments import Bench
    from labbench.paths import BENCHES
    from labbench.procedures import REGISTRY
    from labbench.runner import run_procedure

    t0 = time.perf_counter()
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        proc = REGISTRY["multilevel"](cells=pairs, levels="2, 4, 8", delays="0, 3600, 86400, 2629800",
                                      temperature=358.15)
        res = run_procedure(proc, b, None, progress=False)
        virtual = b.now()
    tab = ml.error_table(res.data)
    piv = tab.pivot_table(index="levels", columns="read", values="level_error_rate")
    times = tab.groupby("read")["time"].median()
    lines = [f"bench face: the multilevel procedure on benches/sim.yaml, cells {pairs} (both sides: "
             f"{res.data.cell.nunique()} cells), N = 2, 4, 8, baked at 358.15 K on the chuck (reads from when it "
             f"settled), {time.perf_counter() - t0:.0f} s wall, {virtual / 86400:.1f} days virtual",
             "    level error rate   " + "".join(f"{ml._duration(times[r]):>9}" for r in piv.columns)]
    for n, row in piv.iterrows():
        lines.append(f"    N = {n:<14}" + "".join(f"{v:>9.2g}" for v in row.to_numpy()))
    return lines, res.data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=64, help="synapses per side of each SimArray (cells = 2·pairs²)")
    ap.add_argument("--no-bench-face", action="store_true")
    args = ap.parse_args()
    lines = [f"labbench multilevel_bench: SimArray {args.pairs}x{args.pairs} pairs ({2 * args.pairs ** 2} cells, "
             f"shared by N = {COUNTS}), program-verify at 2 % (default settings, 50 pulses), reads at "
             f"{', '.join(LABELS)} after programming; level error rate = fraction of reads decoded to another "
             f"level (thresholds halfway between targets); bit error rate (Gray) ~ that / log2 N", ""]
    RESULTS.mkdir(exist_ok=True)
    for name in ("hfox_2t2r_default",):
        model = load_device_model(name)
        for spacing in ("linear", "log"):
            for celsius in (25, 85):
                t0 = time.perf_counter()
                df = ml.simulate(model, COUNTS, DELAYS, temperature=273.15 + celsius, pairs=args.pairs, seed=1,
                                 spacing=spacing)
                tab = ml.error_table(df, spacing)
                lines.append(f"{name}, {spacing} spacing, {celsius} °C ({time.perf_counter() - t0:.0f} s):")
                lines += table_text(tab)
                lines.append("")
                print("\n".join(lines[-8:]), flush=True)
                if spacing == "linear" and celsius == 85:
                    ml.plot_distributions(df, 8, RESULTS / "multilevel_levels_85C.png", spacing,
                                          title=f"{name}: 8 levels (linear), 85 °C")
                    ml.plot_error_map(tab, RESULTS / "multilevel_error_map_85C.png",
                                      title=f"{name}, linear levels, 85 °C")
    lines.append("ag_asi_neurosim (the fitted model of program_verify_bench) has no retention block: its levels do "
                 "not move at rest in the simulator, so it says nothing about time and is left out here.")
    lines.append("")
    if not args.no_bench_face:
        face, _ = bench_face()
        lines += face
    text = "\n".join(lines) + "\n"
    print(text)
    (RESULTS / "multilevel.txt").write_text(text)


if __name__ == "__main__":
    main()
