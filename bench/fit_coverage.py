"""Are the fitter's 95 % intervals calibrated?  Coverage over many seeds of a known chip.

For each seed, a simulated chip of the default device model (the truth) is measured with
PulseTrain's protocol, gate, amplitude and width swept (:data:`labbench.fitting.coverage.SWEEP`),
at two sizes (issue 18): 8 devices × 2 cycles (4 cells, both sides) and 32 devices × 3 cycles
(16 cells, both sides), every device at every condition.  Each data set is fitted with
``fit_device(model="neurosim", base=truth)`` (the truth model is NeuroSim's; ``base``
de-embeds the reads as ``labbench fit`` does with the bench's model) and every reported
parameter is scored (:mod:`labbench.fitting.coverage`): coverage of its 95 % interval
with a Clopper-Pearson interval, the median of estimate/truth, how often a "not
resolved" upper bound holds the truth, and spreads called resolved with an interval
wider than a factor of 3.

The data are generated straight on the Chip, all devices at once (seconds, not minutes per
seed); ``--verify N`` first measures N seeds through the simulated instruments
(``Bench.from_yaml("sim")`` + ``PulseTrain``) and compares reads and fits.

    .venv/bin/python bench/fit_coverage.py [--seeds 100] [--sizes small,large] [--jobs 1] [--verify 2]

Writes ``bench/results/fit_coverage.txt`` (and the per-seed rows beside it, ``.csv``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SIZES = {"small": (8, 2), "large": (32, 3), "campaign": (40, 3)}   # devices, cycles (campaign: see below)


def campaign_data(model, seed: int, pulses: int):
    """The default characterize plan's pulse trains: 32 devices × 3 cycles at the operating
    point and 8 more devices swept with one cycle of 32 pulses (so condition 0 mixes devices
    of 3 and of 1 cycle)."""
    from labbench.fitting.coverage import SWEEP, simulate_pulse_trains

    a = simulate_pulse_trains(model, devices=32, cycles=3, pulses=pulses, seed=seed, sweep=None)
    b = simulate_pulse_trains(model, devices=8, cycles=1, pulses=32, seed=seed, sweep=SWEEP, first_row=16)
    return pd.concat([a, b], ignore_index=True)


def one_seed(args) -> list[dict]:
    size, seed, pulses = args
    from labbench.fitting.api import fit_device
    from labbench.fitting.coverage import score_fit, simulate_pulse_trains, truth_of
    from labbench.physics.device_model import load_device_model

    model = load_device_model()
    devices, cycles = SIZES[size]
    t0 = time.perf_counter()
    df = campaign_data(model, seed, pulses) if size == "campaign" else \
        simulate_pulse_trains(model, devices=devices, cycles=cycles, pulses=pulses, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = fit_device(df, model="neurosim", base=model)
        except Exception as e:  # noqa: BLE001 - a failed fit is a finding, not a crash
            return [{"size": size, "seed": seed, "param": "FIT FAILED", "error": f"{type(e).__name__}: {e}"}]
    rows = score_fit(fit, truth_of(model))
    dt = time.perf_counter() - t0
    for r in rows:
        r.update(size=size, seed=seed, seconds=dt, method=fit.method)
    return rows


def verify(n: int, pulses: int) -> str:
    """The fast generator against the simulated instruments on ``n`` seeds (small size)."""
    import copy
    import tempfile

    import yaml

    from labbench.fitting.api import fit_device
    from labbench.fitting.coverage import SWEEP, score_fit, simulate_pulse_trains, truth_of
    from labbench.instruments import Bench
    from labbench.paths import resolve_bench
    from labbench.physics.device_model import load_device_model
    from labbench.procedures import PulseTrain
    from labbench.runner import run_procedure

    model = load_device_model()
    src = Path(resolve_bench("sim"))
    raw = yaml.safe_load(src.read_text())
    devices, cycles = SIZES["small"]
    lines = [f"fast generator against Bench.from_yaml('sim') + PulseTrain, {devices} devices × {cycles} cycles, "
             f"{pulses} pulses, sweep {SWEEP}"]
    for seed in range(1000, 1000 + n):
        cfg = copy.deepcopy(raw)
        cfg["chip"]["seed"] = seed
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = Path(d) / "bench.yaml"
            f.write_text(yaml.safe_dump(cfg))
            with Bench.from_yaml(f) as b:
                join = lambda v: ", ".join(f"{x:g}" for x in v)   # noqa: E731
                proc = PulseTrain(cells=f"0:{devices // 2}, 0", sides="+-", cycles=cycles, pulses=pulses,
                                  gates=join(SWEEP["gates"]), amplitudes=join(SWEEP["amplitudes"]),
                                  widths=join(SWEEP["widths"]))
                bench_df = run_procedure(proc, b, None, progress=False).data
        t_bench = time.perf_counter() - t0
        t0 = time.perf_counter()
        fast_df = simulate_pulse_trains(model, devices=devices, cycles=cycles, pulses=pulses, seed=seed)
        t_fast = time.perf_counter() - t0
        key = ["cell", "side", "condition", "cycle", "direction", "pulse"]
        m = bench_df.merge(fast_df, on=key, suffixes=("_bench", "_fast"))
        rel = np.abs(m.conductance_fast / m.conductance_bench - 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fb = {r["param"]: r for r in score_fit(fit_device(bench_df, model="neurosim", base=model), truth_of(model))}
            ff = {r["param"]: r for r in score_fit(fit_device(fast_df, model="neurosim", base=model), truth_of(model))}
        worst = max(abs(ff[p]["estimate"] / fb[p]["estimate"] - 1) for p in fb if fb[p]["estimate"])
        same_calls = all(fb[p]["inside"] == ff[p]["inside"] and fb[p]["resolved"] == ff[p]["resolved"] for p in fb)
        lines.append(f"seed {seed}: {len(m)}/{len(bench_df)} reads matched; |fast/bench - 1| median {np.median(rel):.1e}, "
                     f"max {rel.max():.1e} (the SMU's reading noise, left out of the fast path); fitted parameters "
                     f"differ by at most {worst:.1e} (relative); every interval's verdict the same: {same_calls}; "
                     f"bench {t_bench:.0f} s, fast {t_fast:.1f} s")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--sizes", default="small,large", help="small, large, campaign (comma-separated)")
    ap.add_argument("--pulses", type=int, default=64)
    ap.add_argument("--jobs", type=int, default=1, help="processes (the bench machine has 2 cores: at most 2)")
    ap.add_argument("--verify", type=int, default=0, help="seeds measured through the simulated instruments too")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "fit_coverage.txt"))
    a = ap.parse_args()
    from labbench.fitting.coverage import SWEEP, coverage_table, format_table

    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = [f"fit_coverage: {a.seeds} seeds per size, default device model as the truth, "
            f"fit_device(model='neurosim', base=truth); {a.pulses} pulses per train; sweep {SWEEP} "
            f"(each around the operating SET pulse 1.5 V, 1 µs, gate 1.2 V)"]
    if a.verify:
        t0 = time.perf_counter()
        v = verify(a.verify, a.pulses)
        print(v, flush=True)
        text += ["", v, f"(verification {time.perf_counter() - t0:.0f} s)"]
    sizes = [s.strip() for s in a.sizes.split(",") if s.strip()]
    tasks = [(s, seed, a.pulses) for s in sizes for seed in range(a.first_seed, a.first_seed + a.seeds)]
    rows: list[dict] = []
    t0 = time.perf_counter()
    jobs = max(1, min(a.jobs, 2))
    if jobs > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(jobs) as pool:
            results = pool.imap_unordered(one_seed, tasks)
            for k, r in enumerate(results, 1):
                rows += r
                if k % 10 == 0:
                    print(f"  {k}/{len(tasks)} fits, {time.perf_counter() - t0:.0f} s", flush=True)
    else:
        for k, t in enumerate(tasks, 1):
            rows += one_seed(t)
            if k % 10 == 0:
                print(f"  {k}/{len(tasks)} fits, {time.perf_counter() - t0:.0f} s", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(out.with_suffix(".csv"), index=False)
    for s in sizes:
        devices, cycles = SIZES[s]
        sub = df[(df["size"] == s) & (df["param"] != "FIT FAILED")]
        failed = df[(df["size"] == s) & (df["param"] == "FIT FAILED")]
        secs = sub.groupby("seed")["seconds"].first()
        what = (f"{devices} devices ({devices // 2} cells × 2 sides) × {cycles} cycles" if s != "campaign" else
                "the default plan's mix: 32 devices × 3 cycles at the operating point + 8 swept devices × 1 cycle")
        text += ["", f"== {s}: {what}, "
                 f"{sub.seed.nunique()} seeds ({len(failed)} fits failed), {secs.mean():.1f} s per seed "
                 f"(generate + fit); methods {sub.groupby('seed')['method'].first().value_counts().to_dict()}",
                 format_table(coverage_table(sub))]
        for _, f in failed.iterrows():
            text.append(f"  seed {f.seed}: {f.error}")
    text += ["", "coverage: share of seeds whose 95 % interval holds the truth (spreads: every seed's interval; "
             "the others: seeds where the parameter was resolved), "
             "with its Clopper-Pearson 95 % interval; ok: that interval holds 95 %. est/truth: median over seeds. "
             "not res.: spreads reported 'not resolved'; bound ok: share whose upper bound holds the truth. "
             "wide: resolved with an interval wider than a factor of 3.",
             f"total {time.perf_counter() - t0:.0f} s"]
    out.write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
