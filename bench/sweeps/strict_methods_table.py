"""Issue 26's method screen as one table: every strict-method sweep's results, grouped by
configuration, mean ± sd over the seeds each configuration ran, beside the preset on the
same seeds (bench/results/strict_methods.md).

    .venv/bin/python bench/sweeps/strict_methods_table.py

Reads bench/results/sweep_strict_screen*/results.csv, sweep_strict_methods_seeds/results.csv and
the strict map's default-model point (the preset, seed 0)
(the sweeps of bench/sweeps/strict_screen*.yaml and strict_methods_seeds.yaml).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parents[1] / "results"
PRESET = {"rule": "threshold", "rule_threshold": 1.0, "rule_horizon": 8.0, "lr": 0.02, "lr_end": 0.001,
          "epochs": 20, "mode": "device", "precision": "strict", "sense_offset": 0.01, "sense_noise": 0.01}
DEVICE = ("c2c_abs", "c2c_rel", "d2d", "nl_set", "levels")
DEFAULT_DEVICE = {"c2c_abs": 0.03, "nl_set": 2.4, "levels": 64}   # the default model's own values


def label(row) -> str:
    cfg = json.loads(row["config"])
    if cfg.get("mode") == "ideal":
        return "ideal BNN, same optimizer (software weights)"
    parts = []
    for k in ("rule", "rule_threshold", "rule_horizon", "lr", "lr_end", "epochs", "precision", "sense_offset",
              "sense_noise"):
        v = cfg.get(k, PRESET[k])
        if k == "rule_threshold" and cfg.get("rule") != "threshold":
            continue
        if k == "rule_horizon" and cfg.get("rule") != "noise_aware":
            continue
        if v != PRESET[k]:
            parts.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")
    if cfg.get("precision") != "strict" and not cfg.get("sense_noise"):
        parts.append("(not strict: a noiseless sense amplifier)")
    for k in DEVICE:
        if k in row and pd.notna(row[k]) and row[k] != DEFAULT_DEVICE.get(k):
            parts.append(f"{k}={row[k]:g}")
    return ", ".join(parts) or "strict preset (threshold 1.0)"


def main() -> None:
    tables = sorted(RESULTS.glob("sweep_strict_screen*/results.csv")) + \
        sorted(RESULTS.glob("sweep_strict_methods_seeds/results.csv"))
    frames = [pd.read_csv(t).assign(sweep=t.parent.name) for t in tables]
    strict_map = RESULTS / "sweep_strict_map" / "results.csv"
    if strict_map.is_file():   # the map's default-model point is the preset's seed 0
        m = pd.read_csv(strict_map)
        frames.append(m[(m["c2c_abs"] == 0.03)].assign(sweep="sweep_strict_map"))
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["status"] == "finished"].copy()
    rows["label"] = rows.apply(label, axis=1)
    software = rows["label"].str.startswith("ideal")
    rows.loc[software, ["set_pulses", "refresh_set_pulses"]] = float("nan")   # no devices: no pulses
    g = rows.groupby("label")
    out = pd.DataFrame({
        "seeds": g["seed"].apply(lambda s: ",".join(str(int(x)) for x in sorted(s))),
        "test %": g["test_acc"].apply(lambda s: f"{100 * s.mean():.2f}" + (f" ± {100 * s.std():.2f}" if len(s) > 1 else "")),
        "best epoch %": g["best_test_acc"].apply(lambda s: f"{100 * s.mean():.2f}"),
        "train %": g["train_acc"].apply(lambda s: f"{100 * s.mean():.2f}"),
        "update pulses (M)": g["set_pulses"].apply(lambda s: f"{s.mean() / 1e6:.0f}" if s.notna().all() else "—"),
        "refresh SET (M)": g["refresh_set_pulses"].apply(lambda s: f"{s.mean() / 1e6:.1f}" if s.notna().all() else "—"),
        "B/synapse": g["bytes_per_synapse"].apply(lambda s: f"{s.max():g}"),
        "mean": g["test_acc"].mean(),
    }).sort_values("mean", ascending=False).drop(columns="mean")
    text = out.to_markdown()
    print(text)
    (RESULTS / "strict_methods.md").write_text(
        "# Strict on-chip training: the zero-state methods (issue 26)\n\n"
        "784-1000-1000-10, full MNIST, batch 1000, adafactor, paper-like refresh, ±1 inputs, sense σ 1 %, "
        "default device model unless a device field is named; test accuracy after the last epoch.  "
        "Written by bench/sweeps/strict_methods_table.py from the sweeps' tables.\n\n" + text + "\n")


if __name__ == "__main__":
    main()
