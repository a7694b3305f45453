"""Training plots: accuracy per epoch, conductance histograms over time, pulses and
refreshes per epoch.  matplotlib's ``Figure`` API (no pyplot), so importing labbench never
changes a notebook's backend; each figure is written atomically."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from labbench.atomic import atomic_path


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    return fig, fig.add_subplot()


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def plot_training(history: list[dict], g_hist: list[np.ndarray], out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    epochs = [h["epoch"] for h in history]
    paths = []

    fig, ax = _figure()
    ax.plot(epochs, [100 * h["test_acc"] for h in history], "o-", label="test")
    ax.plot(epochs, [100 * h["train_acc"] for h in history], "s--", label="train")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    paths.append(out_dir / "accuracy.png")
    _save(fig, paths[-1])

    if "set_pulses" in history[0]:
        fig, ax1 = _figure()
        ax1.bar(np.array(epochs) - 0.2, [h["set_pulses"] for h in history], 0.4, label="update SET pulses")
        ax1.bar(np.array(epochs) + 0.2, [h["refresh_set_pulses"] for h in history], 0.4, label="refresh SET pulses")
        ax1.set_xlabel("epoch")
        ax1.set_ylabel("pulses")
        ax2 = ax1.twinx()
        ax2.plot(epochs, [h["refreshes"] for h in history], "k.-", label="pairs refreshed")
        ax2.set_ylabel("pairs refreshed")
        ax1.legend(loc="upper left", fontsize=8)
        ax2.legend(loc="upper right", fontsize=8)
        paths.append(out_dir / "pulses.png")
        _save(fig, paths[-1])

    if g_hist:
        h = np.stack(g_hist).astype(float)
        h /= h.sum(1, keepdims=True)
        fig, ax = _figure()
        im = ax.imshow(h.T, origin="lower", aspect="auto", extent=(0.5, len(h) + 0.5, 0, 1.05), cmap="viridis")
        ax.set_xlabel("epoch")
        ax.set_ylabel("(G − Gmin)/(Gmax − Gmin), layer 1")
        fig.colorbar(im, ax=ax, label="fraction of devices")
        paths.append(out_dir / "conductance_hist.png")
        _save(fig, paths[-1])
    return paths
