"""Issue 4's targets for online BNN training on 2T2R arrays, each measured and printed.

    .venv/bin/python bench/train_bench.py                 # everything, full length (long on 2 cores)
    .venv/bin/python bench/train_bench.py --quick         # short ablation (subset, few epochs)
    .venv/bin/python bench/train_bench.py --part speed    # one part: main, ablation, speed, memory

1. full MNIST, 784-H-10 (H ≤ 1000), default device model (NL 2.4 SET, C2C 3 %, D2D 10 %),
   with threshold refresh (target ≥ 97.4 % within 20 epochs) and the same run without;
2. refresh ablation over NL ∈ {0.5, 1, 2.4, 4.88, 6}, with and without refresh (table + PNG);
3. the ideal software BNN of the same shape (device within 0.5 pp of it);
4. samples/s of device-in-the-loop vs ideal, side by side (≥ 0.5×), and s per 60k epoch (< 60 s);
5. memory of the 784 × 1000 pair array and its per-cell parameters (≤ 50 MB).
6. ``--part precision`` (issue 12): strict on-chip training (no per-synapse digital state,
   ±1 inputs, sense σ 1 %, paper-like refresh) and mixed precision, mean ± sd over seeds,
   each beside the ideal software BNN with the same optimizer; bytes of digital state per
   synapse, and refresh cost (RESETs, re-write pulses, reads) against the update pulses;
7. ``--part strict_ablation``: the paper's figure under the paper's constraints, strict
   mode with and without refresh at SET NL 2.4 and 6.

Each part writes ``bench/results/parts/<part>.json``; the summary ``train_bench.json`` and
``train_bench.md`` merge whatever parts exist, so a part can be re-run alone.  Training
runs checkpoint under ``data/runs/bench/``: a killed benchmark resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
PARTS = RESULTS / "parts"
RUNS = ROOT / "data" / "runs" / "bench"
NLS = (0.5, 1.0, 2.4, 4.88, 6.0)


def _atomic_json(path: Path, obj) -> None:
    from labbench.atomic import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(obj, indent=2, default=float))


def model_with_nl(nl: float):
    """The default device model with its SET nonlinearity set to NeuroSim label ``nl``."""
    from labbench.physics import DeviceModel, load_device_model
    from labbench.physics.nonlinearity import normalized_a_from_nl

    dm = load_device_model()
    d = dm.to_dict()
    d["update"] = {**d["update"], "a_set": normalized_a_from_nl(nl) * d["update"]["pmax_set"]}
    d["name"] = f"{dm.name}_nl{nl:g}"
    return DeviceModel.model_validate(d)


def run_spec(name: str, cfg, dm, data, plots: bool = True):
    """Train ``cfg`` (a TrainSpec) on ``dm`` through TrainRun, in RUNS/name; (run, history)."""
    from labbench.bnn.run import TrainRun

    run = TrainRun(cfg.replace(device_model=dm, output={"dir": str(RUNS / name), "plots": plots}), progress=False)
    return run, run.run((data.x_train, data.y_train, data.x_test, data.y_test))


def train(name: str, cfg, dm, data, fresh: bool = False) -> dict:
    out = RUNS / name
    if fresh and (out / "checkpoint.npz").exists():
        (out / "checkpoint.npz").unlink()
    t0 = time.time()
    _, hist = run_spec(name, cfg, dm, data)
    acc = [h["test_acc"] for h in hist]
    out_row = {
        "name": name, "mode": cfg.mode, "sizes": list(cfg.sizes), "refresh": cfg.refresh.policy if cfg.mode == "device" else None,
        "device_model": dm.name, "epochs": len(hist), "final_test_acc": acc[-1], "best_test_acc": max(acc),
        "test_acc_per_epoch": acc, "train_seconds": sum(h["seconds"] for h in hist),
        "samples_per_s": [h["samples_per_s"] for h in hist], "wall_seconds_this_call": time.time() - t0,
    }
    if cfg.mode == "device":
        for k in ("set_pulses", "refresh_set_pulses", "reset_ops", "refreshes"):
            out_row[k] = int(sum(h[k] for h in hist))
        out_row["saturated_frac_final"] = hist[-1]["saturated_frac"]
    print(f"  {name}: final {100 * acc[-1]:.2f} %, best {100 * max(acc):.2f} % "
          f"({len(hist)} epochs, {out_row['train_seconds']:.0f} s training)", flush=True)
    return out_row


def part_main(args, data) -> dict:
    from labbench.bnn.spec import TrainSpec
    from labbench.physics import load_device_model

    dm = load_device_model()
    sizes = (784, args.hidden, 10)
    base = dict(sizes=sizes, epochs=args.epochs, seed=args.seed)
    tag = f"main_h{args.hidden}_e{args.epochs}_{TrainSpec().rule.name}"
    rows = {
        "device_refresh": train(f"{tag}_refresh", TrainSpec(**base, refresh="threshold"), dm, data),
        "device_no_refresh": train(f"{tag}_none", TrainSpec(**base, refresh="none"), dm, data),
        "ideal": train(f"main_h{args.hidden}_e{args.epochs}_ideal", TrainSpec(**base, mode="ideal"), dm, data),
    }
    return {"hidden": args.hidden, "epochs": args.epochs, "device_model": dm.name, "rule": TrainSpec().rule.name,
            "nl_set": 2.4, "c2c_abs": dm.update.c2c_abs, "d2d": dict(dm.d2d.sigma), "runs": rows}


def part_rules(args, data) -> dict:
    """The update rules side by side (784-500-10, default device, threshold refresh)."""
    from labbench.bnn.spec import TrainSpec
    from labbench.physics import load_device_model

    dm = load_device_model()
    epochs, subset = (2, 20000) if args.quick else (args.rules_epochs, None)
    rows = []
    for rule, theta in (("accumulate", None), ("stochastic", None), ("deterministic", None),
                        ("threshold", 0.5), ("threshold", 0.15)):
        extra = {"rule_threshold": theta} if theta else {}
        cfg = TrainSpec(sizes=(784, 500, 10), epochs=epochs, rule=rule, seed=args.seed, train_subset=subset, **extra)
        name = f"rules_e{epochs}_n{subset or 60000}_{rule}" + (f"{theta:g}" if theta and theta != 0.5 else "")
        rows.append({"rule": rule + (f" θ={theta:g}" if theta else ""), **train(name, cfg, dm, data)})
    return {"sizes": [784, 500, 10], "epochs": epochs, "train_subset": subset, "runs": rows}


def part_faults(args, data) -> dict:
    """Stuck cells and sense-amplifier errors (784-500-10): how gracefully accuracy degrades."""
    from labbench.array.sim_array import SimArray
    from labbench.bnn.spec import TrainSpec
    from labbench.physics import DeviceModel, load_device_model

    dm = load_device_model()
    epochs, subset = (2, 20000) if args.quick else (args.faults_epochs, None)
    rows = []
    for stuck in (0.0, 0.01, 0.05, 0.10):
        faulty = DeviceModel.model_validate({**dm.to_dict(), "name": f"{dm.name}_stuck{stuck:g}",
                                             "faults": {"stuck_at_gmin": stuck / 2, "stuck_at_gmax": stuck / 2}})
        cfg = TrainSpec(sizes=(784, 500, 10), epochs=epochs, seed=args.seed, train_subset=subset)
        rows.append({"stuck_frac": stuck, "sense_noise": 0.0,
                     **train(f"faults_e{epochs}_n{subset or 60000}_stuck{stuck:g}", cfg, faulty, data)})
    for noise in (0.02, 0.05, 0.10):
        cfg = TrainSpec(sizes=(784, 500, 10), epochs=epochs, seed=args.seed, train_subset=subset,
                          sense_noise=noise, sense_offset=noise / 2)
        probe = SimArray(dm, 784, 500, seed=0, sense_noise=noise, sense_offset=noise / 2)
        probe.apply_signed_pulses(np.where(np.random.default_rng(0).random((784, 500)) < 0.5, 1, -1).astype(np.int8))
        ber = probe.bit_error_rate()
        rows.append({"stuck_frac": 0.0, "sense_noise": noise, "sense_offset": noise / 2, "bit_error_rate_1_pulse": ber,
                     **train(f"faults_e{epochs}_n{subset or 60000}_sense{noise:g}", cfg, dm, data)})
    return {"sizes": [784, 500, 10], "epochs": epochs, "train_subset": subset, "runs": rows}


def part_ablation_stochastic(args, data) -> dict:
    """The same ablation with stochastic rounding, which writes many more pulses."""
    return part_ablation(args, data, rule="stochastic")


def part_ablation(args, data, rule: str | None = None) -> dict:
    from labbench.bnn.spec import TrainSpec

    epochs = args.ablation_epochs or (3 if args.quick else 5)
    subset = args.ablation_subset or (20000 if args.quick else None)
    hidden = args.ablation_hidden
    rows = []
    for nl in NLS:
        dm = model_with_nl(nl)
        for refresh in ("threshold", "none"):
            cfg = TrainSpec(sizes=(784, hidden, 10), epochs=epochs, seed=args.seed, refresh=refresh,
                              train_subset=subset, **({"rule": rule} if rule else {}))
            r = train(f"ablation_h{hidden}_e{epochs}_n{subset or 60000}_{cfg.rule.name}_nl{nl:g}_{refresh}", cfg, dm, data)
            rows.append({"nl": nl, **r})
    return {"hidden": hidden, "epochs": epochs, "train_subset": subset, "quick": args.quick,
            "rule": rule or TrainSpec().rule.name, "runs": rows}


def _accounting(r: dict, hist: list[dict]) -> None:
    """Refresh cost against the update pulses, and the run's digital state, into ``r``."""
    for k in ("set_pulses", "refresh_set_pulses", "reset_ops", "refresh_reads", "refreshes"):
        r[k] = int(sum(h.get(k, 0) for h in hist))
    upd = max(r["set_pulses"], 1)
    r["refresh_pulses_per_update_pulse"] = r["refresh_set_pulses"] / upd
    r["refresh_resets_per_update_pulse"] = r["reset_ops"] / upd
    r["refresh_reads_per_update_pulse"] = r["refresh_reads"] / upd
    r["bytes_per_synapse"] = hist[-1]["bytes_per_synapse"]
    r["precision"] = hist[-1]["precision"]


def _run_point(job) -> dict:
    """One training run in its own process (jobs run side by side with --jobs)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    name, preset, overrides, nl, data_dir = job
    from labbench.bnn.mnist import load_mnist
    from labbench.bnn.spec import preset_spec
    from labbench.bnn.trainer import tune_allocator

    tune_allocator()
    data = load_mnist(data_dir)
    cfg = preset_spec(preset, **overrides)
    _, hist = run_spec(name, cfg, model_with_nl(nl), data, plots=False)
    acc = [h["test_acc"] for h in hist]
    r = {"name": name, "preset": preset, "mode": cfg.mode, "optimizer": cfg.optimizer.name, "rule": cfg.rule.name,
         "refresh": cfg.refresh.policy, "nl": nl, "seed": cfg.seed, "sizes": list(cfg.sizes), "lr": cfg.optimizer.lr,
         "lr_end": cfg.optimizer.lr_end, "epochs": len(hist), "final_test_acc": acc[-1], "best_test_acc": max(acc),
         "test_acc_per_epoch": acc, "train_seconds": sum(h["seconds"] for h in hist)}
    if cfg.mode == "device":
        _accounting(r, hist)
    else:
        r["bytes_per_synapse"], r["precision"] = hist[-1]["bytes_per_synapse"], hist[-1]["precision"]
    print(f"  {name}: final {100 * acc[-1]:.2f} % ({len(hist)} epochs, {r['train_seconds']:.0f} s, "
          f"{r['bytes_per_synapse']:g} B/synapse)", flush=True)
    return r


def _run_all(jobs: list, n_jobs: int) -> list[dict]:
    if n_jobs <= 1:
        return [_run_point(j) for j in jobs]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(n_jobs) as pool:
        return list(pool.map(_run_point, jobs))


# What the strict runs add to the --mode strict preset (nothing: the preset is the recipe)
STRICT_SCHEDULE: dict = {}


def part_precision(args, data) -> dict:
    """Strict vs mixed precision, seeds side by side, each beside its ideal BNN."""
    from labbench.bnn.precision import STRICT

    sizes = [784, *args.precision_hidden, 10]
    tag = "-".join(map(str, args.precision_hidden))
    base = {"sizes": sizes, "epochs": args.precision_epochs}
    jobs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for preset, extra in (("strict", STRICT_SCHEDULE), ("mixed-precision", {})):
            if preset not in args.presets:
                continue
            for mode in args.modes:
                name = f"precision_{preset}_{mode}_h{tag}_e{args.precision_epochs}_s{seed}"
                jobs.append((name, preset, {**base, **extra, "mode": mode, "seed": seed}, 2.4, args.data))
    rows = _run_all(jobs, args.jobs)
    # runs of other networks, presets or seeds measured earlier stay (a part grows run by run)
    old = PARTS / "precision.json"
    kept = [r for r in json.loads(old.read_text())["runs"]] if old.exists() else []
    names = {r["name"] for r in rows}
    return {"epochs": args.precision_epochs, "strict_preset": STRICT,
            "runs": [r for r in kept if r["name"] not in names] + rows}


def part_strict_ablation(args, data) -> dict:
    """Strict mode with and without the paper-like refresh at SET NL 2.4 and 6."""
    sizes = [784, args.ablation_hidden, 10]
    epochs = args.ablation_epochs or 10
    jobs = [(f"strict_ablation_h{args.ablation_hidden}_e{epochs}_nl{nl:g}_{refresh}_s{seed}", "strict",
             {"sizes": sizes, "epochs": epochs, "refresh": refresh, "seed": seed, **STRICT_SCHEDULE}, nl, args.data)
            for nl in (2.4, 6.0) for refresh in ("paper", "none") for seed in range(args.ablation_seeds)]
    return {"sizes": sizes, "epochs": epochs, "seeds": args.ablation_seeds, "runs": _run_all(jobs, args.jobs)}


def part_energy(args, data) -> dict:
    """Energy per training sample, the refresh share, pulses per cell and wear-out after
    ``--energy-epochs`` epochs at the default endurance (issue 14), strict and mixed."""
    from labbench.bnn.spec import preset_spec
    from labbench.physics import load_device_model

    dm = load_device_model()
    rows = []
    for preset in ("mixed-precision", "strict"):
        cfg = preset_spec(preset, sizes=(784, args.energy_hidden, 10), epochs=args.energy_epochs, seed=args.seed)
        name = f"energy_{preset}_h{args.energy_hidden}_e{args.energy_epochs}"
        _, hist = run_spec(name, cfg, dm, data, plots=False)
        n = sum(len(data.x_train) // cfg.batch * cfg.batch for _ in hist)
        prog = sum(h["program_energy_J"] for h in hist)
        read = sum(h["read_energy_J"] for h in hist)
        refresh = sum(h["refresh_energy_J"] for h in hist)
        r = {"preset": preset, "epochs": len(hist), "final_test_acc": hist[-1]["test_acc"],
             "program_energy_J": prog, "read_energy_J": read, "refresh_energy_J": refresh,
             "energy_per_sample_J": (prog + read) / n, "refresh_share": refresh / prog if prog else float("nan"),
             "pulses_per_cell_mean": hist[-1]["pulses_per_cell_mean"], "pulses_per_cell_max": hist[-1]["pulses_per_cell_max"],
             "worn_fraction": hist[-1]["worn_fraction"], "per_epoch_program_energy_J": [h["program_energy_J"] for h in hist]}
        print(f"  {name}: {100 * r['final_test_acc']:.2f} %, {r['energy_per_sample_J'] * 1e9:.3f} nJ/sample, "
              f"refresh {100 * r['refresh_share']:.1f} % of programming energy, pulses/cell mean "
              f"{r['pulses_per_cell_mean']:.0f} max {r['pulses_per_cell_max']}, worn {100 * r['worn_fraction']:.3f} %",
              flush=True)
        rows.append(r)
    return {"sizes": [784, args.energy_hidden, 10], "device_model": dm.name, "runs": rows}


def part_speed(args, data) -> dict:
    """Ideal and device-in-the-loop, one full 60k epoch each, alternated on the same data
    (issue 11): the median of ``--speed-repeats`` ratios, per network, with the default
    device model, threshold refresh, C2C and D2D on; and where the time goes.  Once per
    BLAS thread count in ``--speed-blas`` (issue 25: 1 and 2), each in a process of its own
    (OpenBLAS takes its thread count when it loads); the first count's figures are the
    part's headline."""
    if not args.speed_blas:
        return speed_here(args, data)
    by = {}
    for n in args.speed_blas:
        by[str(n)] = speed_in_child(args, n)
    first = by[str(args.speed_blas[0])]
    return {**first, "by_blas_threads": by}


def speed_in_child(args, blas: int) -> dict:
    """:func:`speed_here` in a child process with ``blas`` BLAS threads (its lines shown)."""
    import subprocess
    import tempfile

    # the OpenBLAS idle-spin labbench/__init__ sets where it is imported before numpy (this
    # script imports numpy first): both arms run with it
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(blas), "OMP_NUM_THREADS": str(blas), "MKL_NUM_THREADS": str(blas),
           "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "20")}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speed.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--speed-out", str(out),
               "--speed-repeats", str(args.speed_repeats),
               "--speed-hidden", ",".join(str(h) for h in args.speed_hidden)]
        if args.data:
            cmd += ["--data", str(args.data)]
        print(f"  -- {blas} BLAS thread(s)", flush=True)
        subprocess.run(cmd, env=env, check=True)
        return json.loads(out.read_text())


def speed_here(args, data) -> dict:
    """The speed measurement with this process's BLAS threads (see :func:`part_speed`)."""
    from labbench.bnn.run import TrainRun
    from labbench.bnn.spec import TrainSpec
    from labbench.physics import load_device_model

    dm = load_device_model()
    from labbench.physics.overlap import helper_enabled

    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    # what each arm ran on: the BLAS threads of this process for both; the device's update
    # and whole-array reads also on the chip's helper thread (labbench.physics.overlap),
    # which takes blocks beside the training thread where a core is free
    helper = int(helper_enabled())
    threads = {"ideal": {"blas": blas, "helper": 0}, "device": {"blas": blas, "helper": helper}}
    out = {"batch": 100, "blas_threads": blas, "threads": threads, "cpus": os.cpu_count(),
           "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "OpenBLAS default"),
           "load_before": os.getloadavg(), "networks": {}}
    print(f"  threads: ideal {blas} BLAS; device {blas} BLAS + {helper} helper; OPENBLAS_THREAD_TIMEOUT "
          f"{out['openblas_thread_timeout']}; load average {out['load_before'][0]:.2f}", flush=True)
    for hidden in args.speed_hidden:
        sizes = (784, hidden, 10)
        per = {"ideal": [], "device": []}
        for rep in range(args.speed_repeats):
            for mode in ("ideal", "device"):
                spec = TrainSpec(sizes=sizes, epochs=1, mode=mode, seed=rep, device_model=dm)
                tr = TrainRun(spec, progress=False).prepare((data.x_train, data.y_train, data.x_test,
                                                             data.y_test)).trainer
                tr._compile_device_loops()   # as fit() does: compilation is not training
                row = tr.train_epoch(data.x_train, data.y_train)
                n_batches = len(data.x_train) // 100
                split = {k: 1e3 * v / n_batches for k, v in tr.clock.seconds.items()}
                per[mode].append({"samples_per_s": row["samples_per_s"], "epoch_seconds": row["seconds"],
                                  "ms_per_batch": split})
                print(f"  784-{hidden}-10 {mode}: {row['samples_per_s']:.0f} samples/s  "
                      + "  ".join(f"{k} {v:.2f}" for k, v in split.items() if v > 0.005) + " ms/batch", flush=True)
        ratios = [d["samples_per_s"] / i["samples_per_s"] for i, d in zip(per["ideal"], per["device"])]
        med = {m: {k: float(np.median([r["ms_per_batch"][k] for r in rs])) for k in rs[0]["ms_per_batch"]}
               for m, rs in per.items()}
        out["networks"][f"784-{hidden}-10"] = {
            "runs": per, "ratios": ratios, "median_ratio": float(np.median(ratios)),
            "median_samples_per_s": {m: float(np.median([r["samples_per_s"] for r in rs])) for m, rs in per.items()},
            "median_ms_per_batch": med}
        r = out["networks"][f"784-{hidden}-10"]
        print(f"  784-{hidden}-10, {blas} BLAS thread(s): device/ideal = {r['median_ratio']:.2f}x "
              f"(runs {', '.join(f'{x:.2f}' for x in ratios)})", flush=True)
    out["load_after"] = os.getloadavg()
    # the summary's 4a/4b read the first network
    first = next(iter(out["networks"].values()))
    out["ratio_device_over_ideal"] = first["median_ratio"]
    out["best_samples_per_s"] = first["median_samples_per_s"]
    out["device_epoch_seconds"] = float(np.median([r["epoch_seconds"] for r in first["runs"]["device"]]))
    return out


def part_memory(args, data) -> dict:
    import tracemalloc

    import numpy as np

    from labbench.array.sim_array import SimArray
    from labbench.physics import load_device_model

    tracemalloc.start()
    arr = SimArray(load_device_model(), 784, 1000, seed=0)
    arr.apply_signed_pulses(np.ones((784, 1000), np.int8))   # materialize per-device caches
    arr.read_signs_float()
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"shape": [784, 1000], "devices": 784 * 1000 * 2, "array_bytes": arr.nbytes(),
            "traced_bytes_after_construction_and_one_update": traced}


# -- summary ---------------------------------------------------------------------------
def summarize() -> dict:
    parts = {p.stem: json.loads(p.read_text()) for p in sorted(PARTS.glob("*.json"))}
    targets = []
    m = parts.get("main")
    if m:
        r = m["runs"]
        dev, none, ideal = r["device_refresh"], r["device_no_refresh"], r["ideal"]
        targets.append({"target": f"1. full MNIST 784-{m['hidden']}-10, refresh, ≥ 97.4 % within 20 epochs",
                        "measured": f"final {100 * dev['final_test_acc']:.2f} %, best {100 * dev['best_test_acc']:.2f} % "
                                    f"({dev['epochs']} epochs)",
                        "met": dev["final_test_acc"] >= 0.974 and dev["epochs"] <= 20})
        seeds = [parts[k] for k in sorted(parts) if k.startswith("main_seed")]   # bench/seed_check.py
        if seeds:
            targets.append({"target": "1. other seeds of the refresh run (bench/seed_check.py)", "measured": ", ".join(
                f"seed {s['seed']}: final {100 * s['final_test_acc']:.2f} %" for s in seeds),
                "met": all(s["final_test_acc"] >= 0.974 and s["epochs"] <= 20 for s in seeds)})
        targets.append({"target": "1b. same run without refresh", "measured":
                        f"final {100 * none['final_test_acc']:.2f} %, best {100 * none['best_test_acc']:.2f} %",
                        "met": None})
        gap = 100 * (ideal["final_test_acc"] - dev["final_test_acc"])
        targets.append({"target": "3. device within 0.5 pp of the ideal BNN (same shape, same run)",
                        "measured": f"ideal {100 * ideal['final_test_acc']:.2f} %, gap {gap:+.2f} pp",
                        "met": gap <= 0.5})
    for key in ("ablation", "ablation_stochastic"):
        a = parts.get(key)
        if not a:
            continue
        by = {(r["nl"], r["refresh"]): r["final_test_acc"] for r in a["runs"]}
        cells = ", ".join(f"NL {nl:g}: {100 * by.get((nl, 'threshold'), float('nan')):.2f}/"
                          f"{100 * by.get((nl, 'none'), float('nan')):.2f}" for nl in NLS)
        targets.append({"target": f"2. refresh ablation ({a.get('rule', 'accumulate')} rule, {a['epochs']} epochs), "
                                  "test % with/without refresh", "measured": cells,
                        "met": all(by.get((nl, "threshold"), 0) > by.get((nl, "none"), 1) for nl in NLS)})
    ru = parts.get("rules")
    if ru:
        targets.append({"target": "update rules (test %, update pulses)", "measured": ", ".join(
            f"{r['rule']} {100 * r['final_test_acc']:.2f} % / {_count(r['set_pulses'])}" for r in ru["runs"]),
            "met": None})
    fa = parts.get("faults")
    if fa:
        targets.append({"target": "faults: stuck cells and sense errors degrade gracefully (test %)", "measured": ", ".join(
            (f"stuck {100 * r['stuck_frac']:g} %" if r["stuck_frac"] else f"sense σ {r['sense_noise']:g} "
             f"(BER {100 * r['bit_error_rate_1_pulse']:.1f} %)" if r["sense_noise"] else "clean")
            + f": {100 * r['final_test_acc']:.2f}" for r in fa["runs"]), "met": None})
    s = parts.get("speed")
    if s:
        targets += _speed_targets(s)
    en = parts.get("energy")
    if en:
        for r in en["runs"]:
            targets.append({"target": f"energy and wear, {r['preset']}, {'-'.join(map(str, en['sizes']))}, "
                                      f"{r['epochs']} epochs, default endurance",
                            "measured": f"{r['energy_per_sample_J'] * 1e9:.3f} nJ per training sample, refresh "
                                        f"{100 * r['refresh_share']:.1f} % of programming energy; pulses per cell "
                                        f"mean {r['pulses_per_cell_mean']:.0f}, max {r['pulses_per_cell_max']}; "
                                        f"worn out {100 * r['worn_fraction']:.3f} %", "met": None})
    pr = parts.get("precision")
    networks = sorted({tuple(r["sizes"]) for r in pr["runs"]}, key=len) if pr else []
    for sizes in networks:
        for preset, target in (("strict", 0.974), ("mixed-precision", 0.980)):
            mine = [r for r in pr["runs"] if r["preset"] == preset and tuple(r["sizes"]) == sizes]
            dev = _mean_sd([r for r in mine if r["mode"] == "device"])
            ide = _mean_sd([r for r in mine if r["mode"] == "ideal"])
            if not dev:
                continue
            gap = f", gap to ideal {100 * (ide['mean'] - dev['mean']):+.2f} pp" if ide else ""
            met = dev["mean"] >= target and (preset == "strict" or (ide and ide["mean"] - dev["mean"] <= 0.002))
            targets.append({"target": f"6. {preset} ≥ {100 * target:.1f} %, {'-'.join(map(str, sizes))}, "
                                      f"{pr['epochs']} epochs, {dev['n']} seed(s)"
                                      + ("" if preset == "strict" else ", within 0.2 pp of ideal"),
                            "measured": f"{_pm(dev)} ({dev['bytes']:g} B/synapse); ideal, same optimizer: "
                                        f"{_pm(ide) if ide else 'n/a'}{gap}",
                            "met": bool(met)})
    sa = parts.get("strict_ablation")
    if sa:
        cells = []
        for nl in (2.4, 6.0):
            on = _mean_sd([r for r in sa["runs"] if r["nl"] == nl and r["refresh"] == "paper"])
            off = _mean_sd([r for r in sa["runs"] if r["nl"] == nl and r["refresh"] == "none"])
            if on and off:
                cells.append(f"NL {nl:g}: {_pm(on)} with / {_pm(off)} without")
        targets.append({"target": f"7. strict refresh ablation ({sa['epochs']} epochs, 784-{sa['sizes'][1]}-10)",
                        "measured": "; ".join(cells), "met": None})
    mem = parts.get("memory")
    if mem:
        targets.append({"target": "5. 784×1000 pair array + per-cell parameters ≤ 50 MB",
                        "measured": f"{mem['array_bytes'] / 1e6:.1f} MB", "met": mem["array_bytes"] <= 50e6})
    summary = {"targets": targets, "parts": parts}
    _atomic_json(RESULTS / "train_bench.json", summary)
    (RESULTS / "train_bench.md").write_text(markdown(summary))
    for key in ("ablation", "ablation_stochastic"):
        if parts.get(key):
            plot_ablation(parts[key], key)
    if parts.get("strict_ablation"):
        plot_strict_ablation(parts["strict_ablation"])
    return summary


def _speed_targets(s: dict) -> list[dict]:
    """4a per network and BLAS thread count (with issue 25's goal beside it), 4b."""
    out = []
    settings = s.get("by_blas_threads") or {str(s.get("blas_threads", "default")): s}
    for blas, one in settings.items():
        threads = one.get("threads", {}).get("device", {})
        helper = f", device + {threads['helper']} helper thread(s)" if threads else ""
        load = f", load average {one['load_before'][0]:.1f}" if "load_before" in one else ""
        for net, r in one.get("networks", {}).items():
            sp = r["median_samples_per_s"]
            split = ", ".join(f"{k} {r['median_ms_per_batch']['device'][k]:.2f}"
                              for k in r["median_ms_per_batch"]["device"])
            measured = (f"{sp['device']:.0f} vs {sp['ideal']:.0f} samples/s = {r['median_ratio']:.2f}× "
                        f"(runs {', '.join(f'{x:.2f}' for x in r['ratios'])}); device ms/batch: {split}")
            where = f"{net}, {blas} BLAS thread(s){helper}{load}"
            out.append({"target": f"4a. {where}: device-in-the-loop ≥ 0.8× ideal samples/s "
                                  f"(median of {len(r['ratios'])} alternating runs)",
                        "measured": measured, "met": r["median_ratio"] >= 0.8})
            out.append({"target": f"4c. {where}: issue 25's goal, ≥ 0.9×", "measured": f"{r['median_ratio']:.2f}×",
                        "met": r["median_ratio"] >= 0.9})
    out.append({"target": f"4b. 60k-image epoch of {next(iter(s['networks']), '784-500-10')} < 60 s",
                "measured": f"{s['device_epoch_seconds']:.1f} s", "met": s["device_epoch_seconds"] < 60})
    return out


def _mean_sd(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    a = np.array([r["final_test_acc"] for r in rows])
    return {"mean": float(a.mean()), "sd": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "n": len(a),
            "bytes": rows[0].get("bytes_per_synapse", float("nan"))}


def _pm(m: dict) -> str:
    return f"{100 * m['mean']:.2f} ± {100 * m['sd']:.2f} %"


def _count(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 100_000 else f"{n:,}"


def markdown(summary) -> str:
    lines = ["# train_bench results", "", "| target | measured | met |", "|---|---|---|"]
    for t in summary["targets"]:
        met = {True: "yes", False: "**no**", None: "—"}[t["met"]]
        lines.append(f"| {t['target']} | {t['measured']} | {met} |")
    for key in ("ablation", "ablation_stochastic"):
        a = summary["parts"].get(key)
        if not a:
            continue
        lines += ["", f"## Refresh ablation, {a.get('rule', 'accumulate')} rule (784-{a['hidden']}-10, "
                      f"{a['epochs']} epochs, {a['train_subset'] or 60000} training images)", "",
                  "| NL (SET) | refresh: test % | refresh pulses / update pulses | no refresh: test % |",
                  "|---|---|---|---|"]
        by = {(r["nl"], r["refresh"]): r for r in a["runs"]}
        for nl in NLS:
            r, n = by.get((nl, "threshold")), by.get((nl, "none"))
            if r and n:
                ratio = r["refresh_set_pulses"] / max(r["set_pulses"], 1)
                lines.append(f"| {nl:g} | {100 * r['final_test_acc']:.2f} | {ratio:.3f} | {100 * n['final_test_acc']:.2f} |")
    lines += _precision_markdown(summary["parts"])
    m = summary["parts"].get("main")
    if m:
        lines += ["", f"## Full MNIST, 784-{m['hidden']}-10, test % per epoch", ""]
        for k, r in m["runs"].items():
            lines.append(f"- {k}: " + ", ".join(f"{100 * x:.2f}" for x in r["test_acc_per_epoch"]))
        lines += ["", "| run | update SET pulses | refresh SET pulses | pairs refreshed | RESETs |", "|---|---|---|---|---|"]
        for k, r in m["runs"].items():
            if "set_pulses" in r:
                lines.append(f"| {k} | {_count(r['set_pulses'])} | {_count(r['refresh_set_pulses'])} | "
                             f"{_count(r['refreshes'])} | {_count(r['reset_ops'])} |")
    return "\n".join(lines) + "\n"


def _precision_markdown(parts: dict) -> list[str]:
    lines = []
    for key, title in (("precision", "Strict vs mixed precision"), ("strict_ablation", "Strict-mode refresh ablation")):
        pr = parts.get(key)
        if not pr:
            continue
        net = "-".join(map(str, pr["sizes"])) + ", " if "sizes" in pr else ""
        lines += ["", f"## {title} ({net}{pr['epochs']} epochs)", "",
                  "| run | NL | optimizer / rule / refresh | B/synapse | final test % | update pulses | "
                  "refresh SET / update | refresh RESETs / update | refresh reads / update |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in pr["runs"]:
            acct = (f"{_count(r['set_pulses'])} | {r['refresh_pulses_per_update_pulse']:.3f} | "
                    f"{r['refresh_resets_per_update_pulse']:.3f} | {r['refresh_reads_per_update_pulse']:.2f}"
                    if "set_pulses" in r else "— | — | — | —")
            lines.append(f"| {r['name']} | {r['nl']:g} | {r['optimizer']} / {r['rule']} / {r['refresh']} | "
                         f"{r['bytes_per_synapse']:g} | {100 * r['final_test_acc']:.2f} | {acct} |")
    return lines


def plot_strict_ablation(a) -> None:
    """The paper's figure under strict constraints: final accuracy (mean ± sd over seeds)."""
    from matplotlib.figure import Figure

    from labbench.atomic import atomic_path

    fig = Figure(figsize=(5, 3.5))
    ax = fig.add_subplot()
    nls = sorted({r["nl"] for r in a["runs"]})
    for refresh, style in (("paper", "o-"), ("none", "s--")):
        pts = [_mean_sd([r for r in a["runs"] if r["nl"] == nl and r["refresh"] == refresh]) for nl in nls]
        ok = [(nl, p) for nl, p in zip(nls, pts) if p]
        if ok:
            ax.errorbar([nl for nl, _ in ok], [100 * p["mean"] for _, p in ok], yerr=[100 * p["sd"] for _, p in ok],
                        fmt=style, capsize=3, label="paper-like refresh" if refresh == "paper" else "no refresh")
    ax.set_xlabel("SET nonlinearity (NeuroSim label)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"strict mode, 784-{a['sizes'][1]}-10, {a['epochs']} epochs, {a['seeds']} seed(s)")
    ax.grid(alpha=0.3)
    ax.legend()
    with atomic_path(RESULTS / "refresh_ablation_strict.png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def plot_ablation(a, key: str = "ablation") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for refresh, style in (("threshold", "o-"), ("none", "s--")):
        pts = sorted((r["nl"], 100 * r["final_test_acc"]) for r in a["runs"] if r["refresh"] == refresh)
        if pts:
            ax.plot(*zip(*pts), style, label=f"refresh: {refresh}")
    ax.set_xlabel("SET nonlinearity (NeuroSim label)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"784-{a['hidden']}-10, {a['epochs']} epochs, {a.get('rule', 'accumulate')} rule")
    ax.grid(alpha=0.3)
    ax.legend()
    name = "refresh_ablation" + key[len("ablation"):]
    from labbench.atomic import atomic_path

    with atomic_path(RESULTS / f"{name}.png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", action="append", choices=["main", "ablation", "ablation_stochastic", "rules", "faults", "speed",
                                                       "memory", "precision", "strict_ablation", "energy"],
                   help="run only these parts (repeatable); default all")
    p.add_argument("--quick", action="store_true", help="short ablation: 3 epochs on 20k images")
    p.add_argument("--hidden", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--ablation-hidden", type=int, default=500)
    p.add_argument("--ablation-epochs", type=int, default=None)
    p.add_argument("--ablation-subset", type=int, default=None)
    p.add_argument("--speed-repeats", type=int, default=3)
    p.add_argument("--speed-blas", type=lambda t: [int(x) for x in t.split(",") if x], default=[1, 2],
                   help="speed part: BLAS thread counts, each measured in a process of its own "
                        "(empty: this process's)")
    p.add_argument("--speed-out", default=None, help=argparse.SUPPRESS)   # a speed child's result file
    p.add_argument("--speed-hidden", type=lambda t: [int(x) for x in t.split(",")], default=[500, 1000])
    p.add_argument("--rules-epochs", type=int, default=3)
    p.add_argument("--faults-epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=3, help="precision part: seeds per configuration")
    p.add_argument("--precision-hidden", type=lambda t: [int(x) for x in t.split(",")], default=[1000],
                   help="precision part: hidden sizes, e.g. 1000 or 1000,1000")
    p.add_argument("--precision-epochs", type=int, default=20)
    p.add_argument("--first-seed", type=int, default=0, help="precision part: seeds first-seed .. first-seed+seeds-1")
    p.add_argument("--modes", type=lambda t: t.split(","), default=["device", "ideal"],
                   help="precision part: device, ideal or both (comma-separated)")
    p.add_argument("--presets", type=lambda t: t.split(","), default=["strict", "mixed-precision"],
                   help="precision part: which presets to run (comma-separated)")
    p.add_argument("--ablation-seeds", type=int, default=1)
    p.add_argument("--energy-hidden", type=int, default=500)
    p.add_argument("--energy-epochs", type=int, default=20)
    p.add_argument("--jobs", type=int, default=1, help="training runs side by side (processes)")
    p.add_argument("--data", default=None, help="MNIST folder")
    p.add_argument("--summary-only", action="store_true", help="only merge existing parts")
    args = p.parse_args(argv)
    if args.hidden > 1000:
        p.error("the target is one hidden layer of at most 1000 units")
    if any(n < 1 for n in args.speed_blas):
        p.error(f"--speed-blas takes BLAS thread counts >= 1, e.g. 1,2 (got {args.speed_blas})")
    if args.speed_out:                          # a child of part_speed: measure, hand back
        from labbench.bnn.mnist import load_mnist
        from labbench.bnn.trainer import tune_allocator

        tune_allocator()
        _atomic_json(Path(args.speed_out), speed_here(args, load_mnist(args.data)))
        return 0
    if not args.summary_only:
        from labbench.bnn.mnist import load_mnist
        from labbench.bnn.trainer import tune_allocator

        tune_allocator()
        data = load_mnist(args.data)
        for part in args.part or ["memory", "speed", "main", "ablation", "rules", "faults"]:
            print(f"== {part}", flush=True)
            result = {"part": part, **globals()[f"part_{part}"](args, data)}
            _atomic_json(PARTS / f"{part}.json", result)
    summary = summarize()
    print("\n== targets")
    for t in summary["targets"]:
        met = {True: "MET", False: "MISSED", None: "-"}[t["met"]]
        print(f"[{met:6}] {t['target']}: {t['measured']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
