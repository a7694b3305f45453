"""Benchmark the simulated bench, side by side in one run.

1. ``*IDN?`` queries/s through PyVISA: our backend (``labbench.sim``) vs pyvisa-sim's
   default instrument (``GPIB0::9::INSTR`` of its ``default.yaml``); same resource
   settings, interleaved rounds, best round of each.
2. A full driver-level pulse-then-read on a routed cell of ``benches/sim.yaml``
   through the unchanged drivers (PyMeasure 2450 and 81160A, QCoDeS B220x):
   ``bench.pulse_cell`` (SET, n=1) then ``bench.read_cell``, per second.
3. Where that time goes: each layer timed alone (physics, SCPI execution, PyVISA,
   driver calls), so the gap to the 2,000/s target is attributed.

Run: ``.venv/bin/python bench/visa_bench.py [--seconds 1.0]``
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pyvisa  # noqa: E402


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = time.process_time  # CPU seconds of this process: robust to other jobs on the machine


def rate(fn, seconds: float, rounds: int = 3) -> float:
    """Best of ``rounds`` of calls/s, each round running ``seconds``."""
    best = 0.0
    for _ in range(rounds):
        n, t0 = 0, clock()
        while (dt := clock() - t0) < seconds:
            for _ in range(20):
                fn()
            n += 20
        best = max(best, n / dt)
    return best


def per_call_us(fn, n: int = 2000) -> float:
    fn()
    t0 = clock()
    for _ in range(n):
        fn()
    return (clock() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one timing round")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                    help="cpu: per CPU-second of this process (default; fair on a shared machine), "
                         "wall: per wall-clock second")
    args = ap.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    warnings.simplefilter("ignore")
    from labbench.instruments import Bench
    from labbench.paths import BENCHES
    from labbench.physics.models import SET

    print(f"labbench visa_bench — Python {sys.version.split()[0]}, pyvisa {pyvisa.__version__}, "
          f"{os.cpu_count()} CPUs visible (single-threaded work); "
          f"rates per {'CPU' if args.clock == 'cpu' else 'wall-clock'} second")

    # 1. *IDN? side by side --------------------------------------------------------------
    bench = Bench.from_yaml(BENCHES / "sim.yaml")
    ours_rm = pyvisa.ResourceManager(f"{bench.world.key}@labbench")
    ours = ours_rm.open_resource("GPIB0::24::INSTR", read_termination="\n", write_termination="\n")
    sim_rm = pyvisa.ResourceManager("@sim")
    theirs = sim_rm.open_resource("GPIB0::9::INSTR", read_termination="\n", write_termination="\n")
    assert theirs.query("*IDN?") == "SCPI,MOCK,VERSION_1.0"
    r_ours = r_theirs = 0.0
    for _ in range(2):  # interleave, keep the best of each
        r_ours = max(r_ours, rate(lambda: ours.query("*IDN?"), args.seconds))
        r_theirs = max(r_theirs, rate(lambda: theirs.query("*IDN?"), args.seconds))
    print("\n*IDN? through PyVISA (queries/s)")
    print(f"  labbench.sim backend : {r_ours:10.0f}")
    print(f"  pyvisa-sim default   : {r_theirs:10.0f}")
    print(f"  ratio ours/pyvisa-sim: {r_ours / r_theirs:10.2f}   (target >= 1.0)")

    # 2. driver-level pulse-then-read ----------------------------------------------------
    cell = (5, 7, 0)
    bench.read_cell(*cell)

    def cycle():
        bench.pulse_cell(*cell, "set", 1)
        bench.read_cell(*cell)

    r_cycle = rate(cycle, args.seconds)
    r_read = rate(lambda: bench.read_cell(*cell), args.seconds)
    r_pulse = rate(lambda: bench.pulse_cell(*cell, "set", 1), args.seconds)
    print("\nDriver-level operations on routed cell", cell, "(per second)")
    print(f"  pulse-then-read (re-route + gate change each way): {r_cycle:8.0f}   (target >= 2000)")
    print(f"  read only (route and gate unchanged)             : {r_read:8.0f}")
    print(f"  pulse only (route and gate unchanged)            : {r_pulse:8.0f}")

    # 3. where the time goes ----------------------------------------------------------
    chip = bench.world.chip
    idx = np.array([chip.flat(*cell)])
    op = bench.config.operating
    smu_sim = bench.world.instruments["smu"]
    a_smu, a_pg = bench.adapters["smu"], bench.adapters["pg"]
    raw = a_smu.drv.adapter.connection
    def routed(mode, fn):
        def run():
            bench.route(*cell, mode)  # cached: no write after the first call
            fn()
        return run

    costs = {
        "physics Chip.pulse (1 device)": per_call_us(
            lambda: chip.pulse(idx, 1, SET, amplitude=1.5, width=1e-6, gate=1.2)),
        "physics Chip.current read (1 device)": per_call_us(
            lambda: chip.current(idx, op.read_voltage, op.compliance)),
        "sim SCPI execute of *WAI (no physics)": per_call_us(lambda: smu_sim.execute("*WAI")),
        "PyVISA write, our backend": per_call_us(lambda: raw.write("*WAI")),
        "PyVISA query *IDN?, our backend": per_call_us(lambda: raw.query("*IDN?")),
        "PyMeasure 2450 .current (:READ?, incl. physics)": per_call_us(routed("read", a_smu.measure_current)),
        "PyMeasure 81160A trigger (*TRG;*WAI, incl. physics)": per_call_us(routed("set", a_pg.trigger)),
        "PyMeasure 81160A ch2.apply_dc(v) (gate level)": per_call_us(
            lambda: a_pg.drv.channels[2].apply_dc(1.8)),
        "PyMeasure 81160A ch2.offset = v (a property set)": per_call_us(
            lambda: setattr(a_pg.drv.channels[2], "offset", 1.8)),
        "QCoDeS B220X .write (instrumented)": per_call_us(
            lambda: bench.adapters["matrix"].drv.write(":CLOS (@20101)")),
        "QCoDeS B220X .visa_handle.write (used by routing)": per_call_us(
            lambda: bench.adapters["matrix"].drv.visa_handle.write(":CLOS (@20101)")),
    }
    print("\nWhere the time goes (µs per call, each layer alone)")
    for k, v in costs.items():
        print(f"  {k:52s} {v:8.1f}")
    physics = costs["physics Chip.pulse (1 device)"] + costs["physics Chip.current read (1 device)"]
    cycle_us = 1e6 / r_cycle
    rest = cycle_us - physics
    print(f"\n  one pulse-then-read cycle: {cycle_us:.0f} µs = Chip physics {physics:.0f} µs "
          f"({100 * physics / cycle_us:.0f} %) + instruments/drivers/VISA {rest:.0f} µs.")
    print(f"  2,000/s means 500 µs per cycle: {'met' if r_cycle >= 2000 else 'NOT met'}. "
          f"Chip.pulse + Chip.current on a single device alone cost {physics:.0f} µs (counter-based "
          f"noise and the update model are NumPy code paid per call, sized for vectorized "
          f"use); the other {rest:.0f} µs are per cycle: 2 matrix writes, 2 gate-level "
          f"writes, *TRG and :READ? through the drivers (a PyMeasure property set costs "
          f"{costs['PyMeasure 81160A ch2.offset = v (a property set)']:.0f} µs, a bare PyVISA write "
          f"{costs['PyVISA write, our backend']:.0f} µs).")
    print(f"  (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: figures on a busy "
          f"machine are pessimistic)")
    ours.close()
    theirs.close()
    bench.close()


if __name__ == "__main__":
    main()
