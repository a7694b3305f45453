"""The paper's refresh figure from a refresh-ablation sweep table, one panel per update rule.

    .venv/bin/python bench/sweeps/refresh_figure.py bench/results/sweep_refresh_ablation

Reads ``results.parquet`` in the sweep folder, writes ``refresh_ablation_by_rule.png`` there
and prints the Markdown table of the folder's README: test accuracy (mean ± sd over seeds)
with and without refresh, and refresh re-write pulses per update pulse, per rule and SET NL.
(The sweep's own plots average over the rules unless grouped by both.)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    done = df[df.status == "finished"]
    return (done.groupby(["rule", "nl_set", "refresh"])
            .agg(acc=("test_acc", "mean"), sd=("test_acc", "std"), seeds=("test_acc", "size"),
                 rpu=("refresh_per_update_pulse", "mean"))
            .reset_index())


def table(s: pd.DataFrame) -> str:
    lines = ["| rule | SET NL | refresh: test % | no refresh: test % | refresh / update pulses |",
             "|---|---|---|---|---|"]
    for (rule, nl), g in s.groupby(["rule", "nl_set"]):
        on, off = (g[g.refresh == r].iloc[0] for r in ("threshold", "none"))
        lines.append(f"| {rule} | {nl:g} | {100 * on.acc:.2f} ± {100 * on.sd:.2f} | "
                     f"{100 * off.acc:.2f} ± {100 * off.sd:.2f} | {on.rpu:.3f} |")
    return "\n".join(lines)


def figure(s: pd.DataFrame, path: Path) -> None:
    rules = sorted(s.rule.unique())
    fig, axes = plt.subplots(1, len(rules), figsize=(5 * len(rules), 3.6), sharey=True, squeeze=False)
    for ax, rule in zip(axes[0], rules):
        for refresh, style in (("threshold", "o-"), ("none", "s--")):
            g = s[(s.rule == rule) & (s.refresh == refresh)].sort_values("nl_set")
            ax.errorbar(g.nl_set, 100 * g.acc, yerr=100 * g.sd, fmt=style, capsize=3,
                        label="refresh" if refresh == "threshold" else "no refresh")
        ax.set_title(f"{rule} rule")
        ax.set_xlabel("SET nonlinearity (NeuroSim NL)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%), mean ± sd over seeds")
    axes[0][0].legend()
    fig.suptitle("784-500-10 on SimArray, full MNIST: refresh against nonlinearity")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="sweep folder with results.parquet")
    a = ap.parse_args()
    s = summarize(pd.read_parquet(a.folder / "results.parquet"))
    figure(s, a.folder / "refresh_ablation_by_rule.png")
    print(table(s))
    print(f"\nfigure: {a.folder / 'refresh_ablation_by_rule.png'}")


if __name__ == "__main__":
    main()
