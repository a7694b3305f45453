"""A trained network over time: accuracy, sign flips and one verified refresh, at 25 and 85 °C.

Two 784-500-10 BNNs on full MNIST, the same configuration and seed (default
mixed-precision preset, ``--epochs`` epochs: few, to fit this machine's time; the
figures are about what the network *keeps*, not how far it trains):

* **online**: trained with the synapses on SimArrays of the default device model
  (``labbench train --array sim``);
* **offline**: trained in software (``--array ideal``), then its signs written onto
  SimArrays of the same model with program-verify (the "on" side of each pair to 50 % of
  the window, 5 % tolerance, the other side RESET).

Each is then left at rest for 1 h, 1 day, 1 month and 10 years (cumulative) at 25 °C and
at 85 °C (``labbench evaluate``'s :class:`~labbench.bnn.evaluate.Evaluation`), with
``--seeds`` draws of the drift: test accuracy (mean ± sd over seeds), the fraction of
synapses whose sign flipped, and the accuracy after one refresh-with-verify pass (pairs
whose read difference fell below 10 % of the window re-programmed to 10 %).  A third
variant refreshes the online network once *before* the time at rest (``evaluate
--refresh-first``): what a refresh before storage buys.

Run: ``.venv/bin/python bench/network_retention_bench.py [--epochs 5] [--seeds 3]``
(needs MNIST: ``--data`` or $LABBENCH_MNIST).  Writes
``bench/results/network_retention.txt`` and ``network_retention.png``.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

RESULTS = Path(__file__).parent / "results"
YEAR = 365.25 * 86400
AFTER = [3600.0, 86400.0, YEAR / 12, 10 * YEAR]
LABELS = {0.0: "trained", 3600.0: "1 h", 86400.0: "1 d", YEAR / 12: "1 mo", 10 * YEAR: "10 y"}


def train(folder: Path, array: str, epochs: int, data: str | None) -> None:
    if (folder / "checkpoint.npz").exists():
        return
    cmd = [sys.executable, "-m", "labbench.cli", "train", "--array", array, "--hidden", "500", "--epochs", str(epochs),
           "--out", str(folder), "--no-db", "--quiet"]
    if data:
        cmd += ["--data", data]
    subprocess.run(cmd, check=True)


def main() -> None:
    import pandas as pd

    from labbench.bnn import evaluate as ev
    from labbench.bnn.mnist import load_mnist

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--runs", default=None,
                    help="where the two trained run folders go, reused when there (default: $LABBENCH_OUT, "
                         "else the current folder, /runs/network_retention)")
    ap.add_argument("--data", default=None, help="MNIST folder")
    args = ap.parse_args()
    from labbench import paths

    runs = Path(args.runs) if args.runs else paths.output_dir() / "runs" / "network_retention"
    mnist = load_mnist(args.data)
    lines = [f"labbench network_retention_bench: 784-500-10 BNN, full MNIST, {args.epochs} epochs (few: this "
             f"machine's time), default mixed-precision preset, seed 0; default device model "
             f"(hfox_2t2r_default); drift seeds {args.seeds} (± = sd over them); refresh: pairs with read "
             f"|G+ - G-| < 10 % of the window re-programmed to 10 % with program-verify (5 %)", ""]
    all_rows = []
    for name, array, first in (("online", "sim", False), ("offline", "ideal", False),
                               ("online, refreshed before storage", "sim", True)):
        folder = runs / name.split(",")[0]
        t0 = time.perf_counter()
        train(folder, array, args.epochs, args.data)
        trained = pd.read_csv(folder / "metrics.csv")["test_acc"].iloc[-1]
        run = ev.load_run(folder)
        e = ev.Evaluation(run, mnist.x_test, mnist.y_test, refresh_first=first)
        rows = []
        for celsius in (25.0, 85.0):
            for seed in range(args.seeds):
                rows += [{"run": name, "temperature_C": celsius, **r}
                         for r in e.run_through(AFTER, celsius + ev.KELVIN, seed)]
        summary = ev.summarize(rows)
        all_rows += rows
        head = f"{name} ({'trained on SimArrays' if array == 'sim' else 'trained in software, then programmed'}): " \
               f"test accuracy {100 * trained:.2f} % at the end of training"
        if e.stored:
            head += (f"; one verified refresh before storage: {e.stored['pairs']} pairs below the margin "
                     f"re-programmed, accuracy {100 * e.stored['accuracy_before']:.2f} % -> "
                     f"{100 * rows[0]['accuracy']:.2f} %, {100 * rows[0]['flipped']:.3f} % of signs flipped by it")
        if e.program_result:
            conv = np.mean([r["converged_fraction"] for r in e.program_result])
            pulses = np.mean([r["pulses_mean"] for r in e.program_result])
            head += f"; programmed with program-verify: {100 * conv:.1f} % of devices converged, {pulses:.1f} " \
                    f"pulses/device, accuracy {100 * rows[0]['accuracy']:.2f} % right after"
        lines.append(head + f" ({time.perf_counter() - t0:.0f} s)")
        lines.append(f"  {'°C':>4} {'after':>8} {'accuracy %':>16} {'signs flipped %':>18} "
                     f"{'after refresh %':>17} {'flipped after %':>16} {'pairs refreshed':>16}")
        for _, r in summary.iterrows():
            t = r["time"]
            line = (f"  {r['temperature_C']:>4g} {LABELS[t]:>8} {100 * r['accuracy_mean']:>8.2f} ± "
                    f"{100 * np.nan_to_num(r['accuracy_sd']):.2f} {100 * r['flipped_mean']:>10.3f} ± "
                    f"{100 * np.nan_to_num(r['flipped_sd']):.3f}")
            if t > 0:
                sd = 100 * np.nan_to_num(r["refreshed_accuracy_sd"])
                line += (f" {100 * r['refreshed_accuracy_mean']:>9.2f} ± {sd:.2f}"
                         f" {100 * r['refreshed_flipped_mean']:>15.3f} {r['refreshed_pairs_mean']:>16.0f}")
            lines.append(line)
        lines.append("")
        print("\n".join(lines[-12:]), flush=True)
    df = pd.DataFrame(all_rows)
    RESULTS.mkdir(exist_ok=True)
    df.to_csv(RESULTS / "network_retention.csv", index=False)
    lines.append("A refresh re-writes the sign each pair reads: it restores margin to pairs that drifted close to "
                 "zero (so the next interval flips fewer) but cannot undo a flip that has happened; the accuracy "
                 "it recovers is the part lost to pairs read near zero, not to pairs already flipped.")
    text = "\n".join(lines) + "\n"
    print(text)
    (RESULTS / "network_retention.txt").write_text(text)
    _plot(df, RESULTS / "network_retention.png")


def _plot(df, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labbench.bnn import evaluate as ev

    fig, axes = plt.subplots(1, df["run"].nunique(), figsize=(5.5 * df["run"].nunique(), 3.8), sharey=True)
    for ax, (name, d) in zip(axes, df.groupby("run", sort=False)):
        s = ev.summarize(d.drop(columns="run").to_dict("records"))
        times = sorted(s["time"].unique())
        first = times[1] / 10
        for k, (temp, g) in enumerate(s.groupby("temperature_C")):
            x = np.where(g["time"] > 0, g["time"], first)
            ax.errorbar(x, 100 * g["accuracy_mean"], yerr=100 * g["accuracy_sd"].fillna(0), marker="o", color=f"C{k}",
                        capsize=3, label=f"{temp:g} °C")
            m = g["time"] > 0
            ax.errorbar(x[m], 100 * g.loc[m, "refreshed_accuracy_mean"], yerr=100 * g.loc[m, "refreshed_accuracy_sd"]
                        .fillna(0), marker="s", ls="--", color=f"C{k}", capsize=3, label=f"{temp:g} °C, refreshed")
        ax.set_xscale("log")
        ax.set_xticks([first] + times[1:], [LABELS[t] for t in times], fontsize=8)
        ax.minorticks_off()
        ax.set_title(f"784-500-10, {name}", fontsize=9)
        ax.set_xlabel("time at rest")
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
