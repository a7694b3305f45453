"""The closure test at a lab's campaign size (issue 18): the default characterization plan
(`labbench characterize`: I-V, pulse trains of 32 cells x 2 sides x 3 cycles plus a gate/
amplitude/width sweep, endurance, bakes at 200/225/250 C) on a simulated chip whose model is
the hidden truth; fitted as characterize fits it; the fitted model replayed on a fresh chip
and the same plan measured again; every observable compared as distributions.  Beside it, a
replay of the TRUE model on another chip: what the criteria say when the model is exactly
right (their own false-alarm rate at these sample sizes).

    .venv/bin/python bench/closure.py [--bench sim] [--seeds 3]

Prints each seed's tables and a summary (how often each observable passes, fitted against
true-model replays, with the resolution-widened criteria and the fixed 5 % / 0.8-1.25 ones);
writes bench/results/closure.txt.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from labbench import closure

OUT = Path(__file__).resolve().parent / "results" / "closure.txt"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", default="sim")
    p.add_argument("--plan", default=None, help="campaign plan (default: the shipped one)")
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args()
    lines, rows = [], []
    for s in range(a.seeds):
        t0 = time.time()
        c = closure.run_campaign_closure(a.bench, a.plan, seed=s, replay_seed=100 + s)
        dm = c.fitted.fitted_model
        u = dm.update
        lines += [f"#### chip seed {s}, replays on seed {100 + s} ({time.time() - t0:.0f} s: "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in c.seconds.items()) + ")", c.text(),
                  f"fitted: g_min {u.g_min:.4g} S, g_max {u.g_max:.4g} S, a_set {u.a_set:.4g}, a_reset {u.a_reset:.4g}, "
                  f"c2c_abs {u.c2c_abs:.4g}, read noise {dm.read.noise_rel:.4g}, d2d {dict(dm.d2d.sigma)}, "
                  f"E_a {dm.retention.activation_energy:.3g} eV, tau {dm.retention.tau:.3g} s", ""]
        print("\n".join(lines[-4:]), flush=True)
        for which, cl in (("fitted", c.fitted), ("true model", c.null)):
            for r in cl.table.itertuples():
                rows.append({"seed": s, "replay": which, "observable": r.observable, "ok": r.ok,
                             "ok_strict": r.ok_strict})
    df = pd.DataFrame(rows)
    summary = df.pivot_table(index="observable", columns="replay", values=["ok", "ok_strict"], aggfunc="sum",
                             sort=False)
    closes = df.groupby(["replay", "seed"])[["ok", "ok_strict"]].all().groupby("replay").sum()
    lines += [f"#### summary over {a.seeds} seeds: observables passing (of {a.seeds})", summary.to_string(), "",
              f"campaigns that close (of {a.seeds}; ok = resolution-widened criteria, ok_strict = 5 % / 0.8-1.25):",
              closes.to_string()]
    print("\n".join(lines[-5:]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
