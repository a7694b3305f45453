"""Sweep speed-up on a local Dask cluster against the same points run one after another.

8 points (784-1000-10, two full MNIST epochs each, 10-20 s a point like a real sweep's
points; 4 SET nonlinearities × 2 seeds) run serially in this process (NumPy with its default threads), then as a sweep on a
LocalCluster of ``--workers`` single-task workers (BLAS threads = cores // workers), then
serially again in a child process with a worker's BLAS threads and, like a worker, no pulse
helper thread where a worker has no spare core (the parallelism alone).  The first serial run
has the helper (labbench.physics.overlap), as a serial run on a 2-core machine does.
Prints both wall times, the speed-up (target: ≥ 1.7× with 2 workers on 2 cores) and the
Dask overhead (wall − the points' own time / workers), and writes
``bench/results/sweep_bench.json``.

    LABBENCH_MNIST=/path/to/mnist .venv/bin/python bench/sweeps/sweep_bench.py [--points 16] [--workers 2]

``--synthetic`` uses the built-in synthetic task instead of MNIST (no files needed).
A shared or busy machine distorts the speed-up: the JSON records the load average.
Points are sized like real sweep points (seconds to minutes): the cluster's start (1–3 s)
and each worker's MNIST load are part of the Dask time, so sub-second points (this script's
sizes before issue 25) measure the cluster, not the sweep.  Each point's wall and CPU
seconds are printed beside the load average: CPU well below wall means the point did not
have its core.
``accuracy_same`` is true only when the serial run uses as many BLAS threads as a worker
(``OMP_NUM_THREADS=1`` for 2 workers on 2 cores): the order of a matrix product's sums
changes the last digits, and training carries them on.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

NLS = [0.5, 1.0, 2.0, 2.4, 3.0, 4.0, 4.88, 6.0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=8, help="points (even, <= 16)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--subset", type=int, default=0, help="training images per point (0: all 60,000)")
    ap.add_argument("--synthetic", action="store_true", help="synthetic data instead of MNIST")
    ap.add_argument("--serial-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "results" / "sweep_bench.json"))
    a = ap.parse_args()

    from labbench.sweep import build_sweep
    from labbench.sweep.point import run_point
    from labbench.sweep.runner import cores, run_sweep

    n_nl = max(1, a.points // 2)
    raw = {"name": "sweep_bench",
           "data": {"kind": "synthetic", "train": a.subset or 20000, "test": 2000} if a.synthetic else {"kind": "mnist"},
           "train": {"sizes": [784, a.hidden, 10], "epochs": a.epochs,
                     **({"train_subset": a.subset} if a.subset and not a.synthetic else {})},
           "grid": {"nl_set": NLS[:n_nl]}, "seeds": [0, 1]}
    sw = build_sweep(raw)
    if a.serial_only:                  # the child of a like-for-like serial run: JSON out
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            rows = [run_point(dataclasses.asdict(p), str(Path(tmp) / p.id), None) for p in sw.points]
            print(json.dumps({"seconds": time.perf_counter() - t0, "rows": rows}))
        return
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        serial = [run_point(dataclasses.asdict(p), str(tmp / "serial" / p.id), None) for p in sw.points]
        t_serial = time.perf_counter() - t0
        bad = [r["error"] for r in serial if r["status"] != "finished"]
        if bad:
            raise SystemExit(f"serial points failed: {bad[:2]}")
        # the CPU the sweep spends outside its points: this process (client, scheduler, its
        # dashboard) and the workers' own (nannies, MNIST loads, heartbeats), read from the
        # reaped children's rusage once the cluster has closed
        import resource

        cpu0 = time.process_time()
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        table, info = run_sweep(sw, tmp / "dask", workers=a.workers, progress=False, say=lambda m: None)
        sweep_cpu = time.process_time() - cpu0
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    # serially again with the workers' BLAS threads: the speed-up of the parallelism alone
    import subprocess
    import sys

    blas = str(info.blas_threads or 1)
    # and, like a worker, the chip's helper thread only where a worker has a spare core
    env = {**os.environ, "OMP_NUM_THREADS": blas, "OPENBLAS_NUM_THREADS": blas, "MKL_NUM_THREADS": blas,
           "LABBENCH_PULSE_HELPER": str(int(cores() // a.workers >= 2))}
    child = subprocess.run([sys.executable, __file__, "--serial-only", *sys.argv[1:]], env=env,
                           capture_output=True, text=True, check=True)
    same = json.loads(child.stdout.strip().splitlines()[-1])
    t_same = same["seconds"]
    load1 = os.getloadavg()
    speedup = t_serial / info.wall_s
    per_point = [{"point": r["point_id"], "serial_s": r["seconds"], "serial_cpu_s": r.get("cpu_seconds"),
                  "dask_s": d["seconds"], "dask_cpu_s": d.get("cpu_seconds"),
                  "same_blas_s": q["seconds"], "same_blas_cpu_s": q.get("cpu_seconds")}
                 for r, d, q in zip(sorted(serial, key=lambda r: r["point_id"]),
                                    sorted(table.to_dict("records"), key=lambda r: r["point_id"]),
                                    sorted(same["rows"], key=lambda r: r["point_id"]))]
    res = {"points": len(sw.points), "network": f"784-{a.hidden}-10", "epochs": a.epochs,
           "train_images": a.subset or 60000, "per_point": per_point,
           "data": raw["data"]["kind"], "cores": cores(), "workers": a.workers, "blas_threads": info.blas_threads,
           "serial_s": t_serial, "dask_wall_s": info.wall_s, "dask_cluster_start_s": info.cluster_start_s,
           "dask_point_seconds": info.point_seconds, "dask_overhead_s": info.overhead_s,
           "serial_point_mean_s": sum(r["seconds"] for r in serial) / len(serial),
           "dask_sweep_process_cpu_s": sweep_cpu, "dask_workers_cpu_s": workers_cpu,
           "dask_points_cpu_s": sum(p["dask_cpu_s"] or 0.0 for p in per_point),
           "speedup": speedup, "target": 1.7, "met": speedup >= 1.7,
           "serial_same_blas_s": t_same, "speedup_same_blas": t_same / info.wall_s,
           "accuracy_same_blas_equal": bool(sorted(round(r["test_acc"], 6) for r in same["rows"])
                                            == sorted(round(x, 6) for x in table["test_acc"])),
           "loadavg_before": load0, "loadavg_after": load1,
           "accuracy_same": bool(sorted(round(r["test_acc"], 6) for r in serial)
                                 == sorted(round(x, 6) for x in table["test_acc"]))}
    print(f"{len(sw.points)} points, 784-{a.hidden}-10, {a.subset or 60000} images, {a.epochs} epoch(s)")
    print(f"{'point':>14} {'serial s':>9} {'cpu s':>7} {'Dask s':>8} {'cpu s':>7} {'1-BLAS s':>9} {'cpu s':>7}")
    for r in per_point:
        print(f"{r['point']:>14} {r['serial_s']:9.1f} {r['serial_cpu_s'] or 0:7.1f} {r['dask_s']:8.1f} "
              f"{r['dask_cpu_s'] or 0:7.1f} {r['same_blas_s']:9.1f} {r['same_blas_cpu_s'] or 0:7.1f}")
    print(f"serial (one process):       {t_serial:7.1f} s")
    print(f"Dask, {a.workers} workers × {info.blas_threads} BLAS: {info.wall_s:7.1f} s "
          f"(cluster start {info.cluster_start_s:.1f} s, overhead ~{info.overhead_s:.1f} s)")
    outside = res["dask_sweep_process_cpu_s"] + res["dask_workers_cpu_s"] - res["dask_points_cpu_s"]
    print(f"  CPU outside the points on Dask: {outside:.1f} s (this process {sweep_cpu:.1f} s, workers "
          f"{workers_cpu:.1f} s of which points {res['dask_points_cpu_s']:.1f} s) of {a.workers} × "
          f"{info.wall_s:.1f} s; Σ point wall / Dask wall = {sum(p['dask_s'] for p in per_point) / info.wall_s:.2f}")
    print(f"serial, {blas} BLAS thread(s) like a worker: {t_same:7.1f} s -> speed-up of the parallelism alone "
          f"{t_same / info.wall_s:.2f}× (accuracies equal to Dask's: {res['accuracy_same_blas_equal']})")
    print(f"speed-up {speedup:.2f}× (target ≥ 1.7×: {'met' if res['met'] else 'NOT met'}); "
          f"load average {load0[0]:.1f} -> {load1[0]:.1f}; same accuracies: {res['accuracy_same']}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    from labbench.atomic import write_text

    write_text(a.out, json.dumps(res, indent=2))
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
