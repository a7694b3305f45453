"""Robustness benchmark: every case of the bad-input table (tests/cases_*.py) run as a real
`labbench` subprocess, plus signal scenarios, counted.

Prints: cases tried / handled (non-zero exit, the expected message, nothing half-written) /
tracebacks / rows lost / limits bypassed, per area and in total, and writes
bench/results/robustness.json.

    .venv/bin/python bench/robustness.py [--jobs 2] [-k SUBSTRING]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(1, str(ROOT))          # the corpora import shared fixtures as tests.*
from badcases import all_cases  # noqa: E402

LABBENCH = [sys.executable, "-m", "labbench.cli"]


def run_case(case) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        try:
            argv = case.prepare(tmp)
        except BaseException as e:  # noqa: BLE001 - a case this machine cannot set up (pytest.skip)
            return {"id": case.id, "area": case.area, "exit": None, "handled": None, "skipped": str(e),
                    "traceback": False, "limit_bypassed": False, "leftovers": [], "tail": []}
        env = {**os.environ, "LABBENCH_MNIST": str(tmp / "no-mnist"), "LABBENCH_OUT": str(tmp)}
        env.pop("LABBENCH_DEBUG", None)
        t0 = time.perf_counter()
        p = subprocess.run(LABBENCH + argv, capture_output=True, text=True, cwd=tmp, env=env, timeout=300)
        out = p.stdout + p.stderr
        traceback = "Traceback (most recent call last)" in out
        matched = re.search(case.expect, out, re.S | re.I) is not None
        leftovers = case.leftovers(tmp) + [str(x) for x in tmp.rglob("*.tmp*")]
        handled = p.returncode in case.exit_codes and matched and not traceback and not leftovers
        bypass = case.area == "measure" and case.id.startswith("bench-") and p.returncode == 0
        return {"id": case.id, "area": case.area, "exit": p.returncode, "handled": handled,
                "traceback": traceback, "limit_bypassed": bypass, "leftovers": leftovers,
                "seconds": round(time.perf_counter() - t0, 2), "tail": out.strip().splitlines()[-1:] if out else []}


def signal_scenario(sig: int) -> dict:
    """A pulse-train run stopped by ``sig``: exit status, dataset status, rows lost."""
    from labbench.store import Store

    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "d.db"
        p = subprocess.Popen(LABBENCH + ["measure", "pulse-train", "-p", "cells=0:16, 0:16", "-p", "cycles=20",
                                         "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=d)
        time.sleep(6.0)
        p.send_signal(sig)
        out, err = p.communicate(timeout=120)
        runs = Store(db).runs() if db.exists() else None
        saved = int(runs.rows[0]) if runs is not None and len(runs) else 0
        stored = len(Store(db).load(int(runs.run_id[0]))) if saved else 0
        ok = p.returncode in (130, 143) and "Traceback" not in err and runs is not None \
            and runs.status.tolist() == ["aborted"]
        return {"id": f"signal-{signal.Signals(sig).name}", "area": "signals", "exit": p.returncode,
                "handled": ok, "traceback": "Traceback" in err, "limit_bypassed": False,
                "rows_lost": max(0, saved - stored), "leftovers": [], "tail": err.strip().splitlines()[-1:]}


def tsp_scenarios() -> list[dict]:
    """The hostile-TSP corpora of tests/test_tsp_sandbox.py and tests/test_tsp_safety_layers.py,
    each written to a simulated 2600B as a client would: handled = no host effect, an
    instrument error, no Python words, bounded time, outputs off where stopped; a limit is
    bypassed if any channel's line saw more than the bench allows."""
    import warnings

    import test_tsp_safety_layers as layers
    import test_tsp_sandbox as sandbox

    from labbench.instruments import Bench
    from labbench.paths import BENCHES
    from labbench.sim import SimWorld

    out = []

    def fresh():
        w = SimWorld()
        inst = w.add("keithley2600b", "smu", "GPIB0::26::INSTR")
        w.add("keysight81160a", "pg", "GPIB0::10::INSTR")
        return inst

    def record(case_id, area, ok, bypass=False, detail=""):
        out.append({"id": case_id, "area": area, "exit": None, "handled": bool(ok), "traceback": False,
                    "limit_bypassed": bool(bypass), "leftovers": [], "tail": [detail] if detail else []})

    def sealed(case_id, text):
        try:
            sandbox._sealed(fresh(), text)
            record(case_id, "tsp-escape", True)
        except AssertionError as e:
            record(case_id, "tsp-escape", False, detail=str(e).splitlines()[0])

    for i, text in enumerate(sandbox.ESCAPES):
        sealed(f"tsp-escape-{i}", text)
        sealed(f"tsp-escape-{i}-pcall", f"local ok, e = pcall(function() {text} end); if not ok then error(e) end")
    for name in sandbox.GLOBALS:
        for attr in sandbox.DUNDERS:
            sealed(f"tsp-dunder-{name}.{attr}", f"x = {name}.{attr}")
    for key, (text, outcome) in sandbox.HANGS.items():
        inst = fresh()
        inst.write(b"smua.source.output = 1; smub.source.output = 1")
        t0 = time.perf_counter()
        replies, errors = sandbox._run(inst, text)
        ok = time.perf_counter() - t0 < 10 and sandbox._EVENTS == [] and \
            not any(sandbox._python_words(x, text) for x in replies + errors)
        if outcome == "stopped":
            ok = ok and bool(errors) and inst.outputs_on() == []
        record(f"tsp-hang-{key}", "tsp-hang", ok)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, messages in layers.BYPASSES.items():
            with Bench.from_yaml(BENCHES / "sim_2600.yaml") as b:
                smu = b.world.instruments["smu"]
                seen = layers._watch(smu)
                for m in messages:
                    smu.write(m.encode() + b"\n")
                bypass = seen["hi"] > layers.VMAX_A or seen["b"] > layers.VMAX_B or \
                    smu.smua.source.limiti > layers.IMAX or smu.smub.source.limiti > layers.IMAX
                record(f"tsp-bypass-{key}", "tsp-limits", not bypass, bypass)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("-k", default="", help="only cases whose id contains this")
    args = ap.parse_args()
    cases = [c for c in all_cases() if args.k in c.id]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run_case, cases))
    if not args.k:
        results += [signal_scenario(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)]
    if not args.k or "tsp" in args.k:
        results += tsp_scenarios()
    skipped = [r for r in results if r.get("skipped")]
    results = [r for r in results if not r.get("skipped")]
    areas = sorted({r["area"] for r in results})
    rows = []
    for area in areas + ["total"]:
        rs = [r for r in results if area in ("total", r["area"])]
        rows.append({"area": area, "tried": len(rs), "handled": sum(r["handled"] for r in rs),
                     "tracebacks": sum(r["traceback"] for r in rs),
                     "rows_lost": sum(r.get("rows_lost", 0) for r in rs),
                     "limits_bypassed": sum(r["limit_bypassed"] for r in rs)})
    print(f"{'area':<10} {'tried':>6} {'handled':>8} {'tracebacks':>11} {'rows lost':>10} {'limits bypassed':>16}")
    for r in rows:
        print(f"{r['area']:<10} {r['tried']:>6} {r['handled']:>8} {r['tracebacks']:>11} {r['rows_lost']:>10} "
              f"{r['limits_bypassed']:>16}")
    bad = [r for r in results if not r["handled"]]
    for r in bad:
        print(f"NOT HANDLED {r['id']}: exit {r['exit']}, traceback={r['traceback']}, "
              f"leftovers={r['leftovers']}: {r['tail']}")
    for r in skipped:
        print(f"skipped {r['id']}: {r['skipped']}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    out = ROOT / "bench" / "results" / "robustness.json"
    from labbench.atomic import write_text

    write_text(out, json.dumps({"summary": rows, "cases": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
