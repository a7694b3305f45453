"""Fit a 32×32 2T2R array: batched per-device fits vs a plain scipy ``curve_fit`` loop.

2,048 devices × 5 cycles × 64 pulses per direction, generated from the default device
model through the simulated Chip.  Both paths fit the same thing — per device and
direction, NeuroSim's curve ``G(P) = G0 + (G1 − G0)·expm1(−cP/Pmax)/expm1(−c)`` to the
device's 5 trains by least squares — so their parameters must agree; the batched
path (variable projection, all devices at once) must be faster.  The loop is timed
on a subset and extrapolated when it would take long (the output says so).  Then the
full ``fit_device`` (one-step fits, C2C, D2D with split-half correction) is timed too.

    python bench/fit_bench.py [--rows 32 --cols 32 --cycles 5 --loop-subset 512]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from labbench.fitting import fit_device
from labbench.fitting.io import pack, validate
from labbench.fitting.sample import generate
from labbench.fitting.trajectories import Norm, fit_neurosim
from labbench.physics import RESET, SET


def curve(p_norm, g0, g1, c):
    c = c if abs(c) > 1e-9 else 1e-9
    return g0 + (g1 - g0) * np.expm1(-c * p_norm) / np.expm1(-c)


def loop_fit(g, p, pmax):
    """The plain way: one scipy curve_fit per device (same model, same data, same objective)."""
    out = np.full((g.shape[0], 3), np.nan)
    for i in range(g.shape[0]):
        m = np.isfinite(g[i])
        x, y = p[i][m] / pmax, g[i][m]
        p0 = (y[x == x.min()].mean(), y[x == x.max()].mean(), 1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            out[i], _ = curve_fit(curve, x, y, p0=p0, maxfev=2000)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--cols", type=int, default=32)
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--loop-subset", type=int, default=512, help="devices per direction timed in the loop")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    t = time.perf_counter()
    df = generate(rows=a.rows, cols=a.cols, cycles=a.cycles, seed=a.seed)
    t_gen = time.perf_counter() - t
    data = validate(df)
    n_dev = data["device"].nunique()
    print(f"array: {a.rows}x{a.cols} 2T2R = {n_dev} devices x {a.cycles} cycles x 64 pulses per direction "
          f"({len(df):,} reads; generated in {t_gen:.1f} s)")
    g_all = data["conductance"].to_numpy()
    norm = Norm(float(g_all.min()), float(np.ptp(g_all)))
    trains = {d: pack(data, d) for d in (SET, RESET)}

    # batched: all devices at once
    t = time.perf_counter()
    fast = {d: fit_neurosim(*tr.units("device"), d, norm, tr.pmax, "device") for d, tr in trains.items()}
    t_fast = time.perf_counter() - t

    # plain loop on a subset of devices, extrapolated to the array
    sub = min(a.loop_subset, n_dev)
    t = time.perf_counter()
    slow = {}
    for d, tr in trains.items():
        g, p = tr.units("device")
        slow[d] = loop_fit(g[:sub].reshape(sub, -1), p[:sub].reshape(sub, -1), tr.pmax)
    t_loop_sub = time.perf_counter() - t
    t_loop = t_loop_sub * n_dev / sub

    worst = {}
    for d in (SET, RESET):
        f = fast[d]
        g0, g1, c = (np.asarray(v)[:sub] for v in (norm.g(f.params["x_start"]), norm.g(f.params["x_end"]), f.params["c"]))
        s0, s1, sc = slow[d].T
        span = np.abs(g1 - g0)
        worst[f"{'set' if d == SET else 'reset'} A (=Pmax/c)"] = float(np.max(np.abs(sc / c - 1)))
        worst[f"{'set' if d == SET else 'reset'} G0, G1 (of range)"] = float(
            np.max(np.maximum(np.abs(s0 - g0), np.abs(s1 - g1)) / span))

    print(f"batched fit (variable projection, both directions): {t_fast:.2f} s  "
          f"-> {n_dev / t_fast:,.0f} devices/s")
    note = (f"timed on {sub} of {n_dev} devices per direction ({t_loop_sub:.1f} s) and extrapolated"
            if sub < n_dev else "timed on the whole array")
    print(f"plain scipy curve_fit loop: {t_loop:.1f} s  -> {n_dev / t_loop:,.0f} devices/s  ({note})")
    print(f"speed-up: {t_loop / t_fast:.1f}x   (target >= 10x; whole array target <= 10 s)")
    print("max relative parameter difference, batched vs loop (target <= 1 %):")
    for k, v in worst.items():
        print(f"  {k}: {100 * v:.4f} %")

    t = time.perf_counter()
    r = fit_device(data, model="neurosim")
    t_full = time.perf_counter() - t
    u = r.device_model.update
    print(f"full fit_device (method {r.method}: one-step fits, C2C, D2D split-half): {t_full:.1f} s  "
          f"-> {n_dev / t_full:,.0f} devices/s")
    print(f"  fitted: a_set={u.a_set:.2f} (true 31.95) a_reset={u.a_reset:.2f} (true -12.82) "
          f"c2c_abs={u.c2c_abs:.4f} (true 0.03) d2d={ {k: round(v, 3) for k, v in r.device_model.d2d.sigma.items()} }")


if __name__ == "__main__":
    main()
