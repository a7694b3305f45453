"""Program-verify convergence: fraction converged, pulses per cell and energy, at 1, 2 and
5 % tolerance, on the default model and on a fitted one.

Per model: a SimArray of ``--size`` × ``--size`` pairs (every device a cell), targets drawn
uniformly over 10-90 % of the model's reachable window (as read), each device starting
where a fresh chip starts (its HRS), the default settings
(``VerifySettings.for_model``: amplitude ISPP, overshoot corrected by RESET, 50 pulses);
``--seeds`` chips each.  Also the width-step and gate-step variants at 2 %, and the bench
face (the ``program-verify`` procedure on ``benches/sim.yaml``, cell by cell through the
instruments) on a few cells at 2 %, to show the two faces agree.

The issue's target: on the default model >= 95 % of cells within 2 % in <= 50 pulses.

Run: ``.venv/bin/python bench/program_verify_bench.py [--size 64] [--seeds 3]``
Writes ``bench/results/program_verify.txt`` and ``program_verify_pulses.png`` (the
convergence histograms).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from labbench.array import SimArray
from labbench.array import program_verify as pv
from labbench.physics import load_device_model

RESULTS = Path(__file__).parent / "results"
MODELS = [("hfox_2t2r_default", "the default model (HfOx 1T1R, literature values)"),
          ("ag_asi_neurosim", "fitted by labbench to NeuroSim's Ag:a-Si example (no access-transistor SET limit)"),
          ("crosssim_rram", "fitted by labbench to CrossSim's RRAM ramps (400-600 Ohm, lines lowered to 329 Ohm)")]
TOLERANCES = (0.01, 0.02, 0.05)


def targets_for(model, size: int, seed: int, settings) -> np.ndarray:
    lo, hi = pv.reachable_range(model, settings)
    u = np.random.default_rng([seed, 0x7A6]).uniform(0.1, 0.9, (size, size, 2))
    return lo + u * (hi - lo)


def measure(model, size: int, seeds: int, settings) -> tuple[dict, np.ndarray, float]:
    """Summary pooled over ``seeds`` chips, the pulses of the converged cells, seconds."""
    conv, pulses, energy, err, pulses_conv = [], [], [], [], []
    t0 = time.perf_counter()
    for seed in range(seeds):
        arr = SimArray(model, size, size, seed=100 + seed, dtype=np.float64)
        r = arr.program_verify(targets_for(model, size, seed, settings), settings, keep_trace=False)
        conv.append(r.converged)
        pulses.append(r.pulses)
        energy.append(r.energy)
        err.append(np.abs(r.error))
        pulses_conv.append(r.pulses[r.converged])
    seconds = time.perf_counter() - t0
    conv, pulses, energy, err = (np.concatenate(x) for x in (conv, pulses, energy, err))
    pc = np.concatenate(pulses_conv)
    n = conv.size
    # a binomial 95 % interval on the fraction (normal approximation; n is thousands)
    f = conv.mean()
    half = 1.96 * np.sqrt(f * (1 - f) / n)
    return ({"cells": n, "converged": f, "ci": half, "pulses_conv_mean": pc.mean(), "pulses_conv_median": np.median(pc),
             "pulses_conv_p95": np.percentile(pc, 95), "pulses_all_mean": pulses.mean(),
             "energy_pJ": 1e12 * energy.mean(), "energy_conv_pJ": 1e12 * energy[conv].mean(),
             "abs_err_median": np.median(err)}, pc, seconds)


def bench_face(cells: str = "0:4, 0:4", bench: str = "sim.yaml", procedure: str = "program-verify") -> dict:
    """The procedure on a simulated bench at 2 % (cell by cell through the drivers, or one TSP
    script per cell with ``tsp-program-verify`` on the 2600B bench)."""
    import warnings

    from labbench.instruments import Bench
    from labbench.paths import BENCHES
    from labbench.procedures import REGISTRY
    from labbench.runner import run_procedure

    model = load_device_model()
    lo, hi = pv.reachable_range(model)
    targets = ", ".join(f"{lo + u * (hi - lo):.4g}" for u in np.linspace(0.1, 0.9, 7))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bench_ = Bench.from_yaml(BENCHES / bench)
    with bench_ as b:
        proc = REGISTRY[procedure](cells=cells, sides="+-", targets=targets, tolerance=0.02)
        res = run_procedure(proc, b, None, progress=False)
        virtual = b.now()
    last = res.data.groupby("cell").tail(1)
    return {"cells": len(last), "converged": float(last.converged.mean()), "pulses_mean": float(last.pulse.mean()),
            "energy_pJ": 1e12 * float(last.energy.mean()), "seconds": time.perf_counter() - t0,
            "instrument_s": virtual}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64, help="pairs per side of each SimArray (cells = 2·size²)")
    ap.add_argument("--seeds", type=int, default=3, help="chips per model")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()
    lines = [f"labbench program_verify_bench: SimArray {args.size}x{args.size} pairs "
             f"({2 * args.size ** 2} devices) x {args.seeds} chips per model; targets uniform over 10-90 % of the "
             f"reachable window (as read); default settings: amplitude ISPP (SET nominal -0.4..+0.3 V, RESET "
             f"nominal -0.6..0 V, 0.05 V steps), overshoot corrected by RESET, backoff 3, budget 50 pulses", ""]
    hist = {}
    for name, what in MODELS:
        model = load_device_model(name)
        lo, hi = pv.reachable_range(model)
        lines.append(f"{name}: {what}; reachable {lo:.3g}-{hi:.3g} S as read")
        lines.append(f"  {'setting':<22}{'tol':>5}{'converged':>17}{'pulses (conv.)':>20}{'p95':>6}"
                     f"{'pulses (all)':>14}{'energy/cell':>13}{'|err| med':>11}{'time':>7}")
        variants = [("amplitude", {}, TOLERANCES), ("width", {"step": "width"}, (0.02,))]
        if model.switching.set_kinetics.gate is not None:   # a gate step needs an access transistor
            variants.append(("amplitude + gate step", {"gate_step": 0.02}, (0.02,)))
        for label, kw, tols in variants:
            for tol in tols:
                s = pv.VerifySettings.for_model(model, tolerance=tol, **kw)
                m, pc, sec = measure(model, args.size, args.seeds, s)
                if label == "amplitude":
                    hist[(name, tol)] = pc
                lines.append(f"  {label:<22}{100 * tol:>4.0f}%{100 * m['converged']:>10.1f} ± {100 * m['ci']:.1f} %"
                             f"{m['pulses_conv_mean']:>11.1f} (med {m['pulses_conv_median']:>3.0f})"
                             f"{m['pulses_conv_p95']:>6.0f}{m['pulses_all_mean']:>14.1f}"
                             f"{m['energy_pJ']:>10.3g} pJ{100 * m['abs_err_median']:>9.2f} %{sec:>6.1f}s")
                print(lines[-1], flush=True)
        lines.append("")
    bf = bench_face()
    lines.append(f"bench face: the program-verify procedure on benches/sim.yaml (2450 + 81160A + B2200 through their "
                 f"drivers), default model, 2 %, {bf['cells']} cells, 7 targets over 10-90 %: "
                 f"{100 * bf['converged']:.0f} % converged, {bf['pulses_mean']:.1f} pulses/cell, "
                 f"{bf['energy_pJ']:.3g} pJ/cell (estimated from the reads), {bf['seconds']:.1f} s wall, "
                 f"{bf['instrument_s']:.2f} s instrument time")
    for procedure in ("program-verify", "tsp-program-verify"):
        f = bench_face(bench="sim_2600.yaml", procedure=procedure)
        lines.append(f"2600B bench (benches/sim_2600.yaml), {procedure:<19}: {f['cells']} cells, "
                     f"{100 * f['converged']:.0f} % converged, {f['pulses_mean']:.1f} pulses/cell, "
                     f"{f['seconds']:.1f} s wall, {f['instrument_s']:.2f} s instrument time")
    lines.append("")
    lines.append("energy: programming pulses only (SimArray: each device's own conductance before and after each "
                 "pulse; the bench: de-embedded reads); verify reads are not counted. "
                 "± : 95 % binomial interval over the cells.")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "program_verify.txt").write_text(text)
    if not args.no_plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(MODELS), figsize=(5 * len(MODELS), 3.4), sharey=True)
        for ax, (name, _) in zip(np.atleast_1d(axes), MODELS):
            for tol in TOLERANCES:
                pc = hist[(name, tol)]
                ax.hist(pc, bins=np.arange(0, 52, 2), histtype="step", lw=1.5, label=f"{100 * tol:.0f} %")
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("pulses to converge")
        np.atleast_1d(axes)[0].set_ylabel("cells")
        np.atleast_1d(axes)[0].legend(title="tolerance", fontsize=8)
        fig.tight_layout()
        fig.savefig(RESULTS / "program_verify_pulses.png", dpi=110)


if __name__ == "__main__":
    main()
