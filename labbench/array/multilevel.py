"""Multi-level states: how many distinct levels a cell holds, and for how long.

N target levels across the reachable window (``level_targets``), cells programmed to them
with program-verify, re-read after delays; each read is decoded to the nearest level
(thresholds halfway between adjacent targets) and the *level error rate* at (N, time) is
the fraction of reads decoded to another level than the one programmed.  With Gray-coded
levels almost every level error is one bit of log2(N), so the bit error rate is about
the level error rate / log2(N) (both are in :func:`error_table`).  The bits per cell
that hold at an error rate after a time are log2 of the largest N whose level error rate
stays at or below it (:func:`bits_per_cell`).

The same analysis reads the ``multilevel`` procedure's rows (the bench, cell by cell) and
:func:`simulate`'s (a SimArray, the whole array at once): both are tidy tables with
columns ``levels`` (N), ``level``, ``target``, ``read`` (index), ``time`` (s since the
delays started), ``conductance`` (S, as read).
"""
from __future__ import annotations

import numpy as np

#: how level targets are spaced over the window
SPACINGS = ("linear", "log")


def level_targets(lo: float, hi: float, n: int, spacing: str = "linear", margin: float = 0.05) -> np.ndarray:
    """``n`` targets (S) over [lo, hi] shrunk by ``margin`` of the window at both ends (the
    extremes are where few devices of a spread can be placed), equally spaced in G
    (``linear``) or in log G (``log``)."""
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {list(SPACINGS)}, got {spacing!r}")
    if int(n) < 2:
        raise ValueError(f"a multi-level cell needs at least 2 levels, got {n}")
    a, b = lo + margin * (hi - lo), hi - margin * (hi - lo)
    return np.geomspace(a, b, int(n)) if spacing == "log" else np.linspace(a, b, int(n))


def thresholds(targets: np.ndarray, spacing: str = "linear") -> np.ndarray:
    """Decision thresholds between adjacent targets: halfway in G (linear) or in log G."""
    t = np.sort(np.asarray(targets, float))
    return np.sqrt(t[1:] * t[:-1]) if spacing == "log" else 0.5 * (t[1:] + t[:-1])


def assign(n_cells: int, level_counts) -> tuple[np.ndarray, np.ndarray]:
    """(N, level) of each of ``n_cells`` cells: the level counts take turns over the cells
    and each count's cells go through its levels in turn, so every (N, level) gets
    ``n_cells / len(level_counts) / N`` cells, spread over the array."""
    counts = np.asarray(list(level_counts), int)
    k = np.arange(int(n_cells))
    n = counts[k % counts.size]
    return n, (k // counts.size) % n


def error_table(df, spacing: str = "linear"):
    """Per (N, read): time, cells, level errors, level error rate, bit error rate (Gray),
    and the worst adjacent-level overlap (the largest fraction of one level's reads that
    decode to a neighbour).  ``df``: the tidy table of the module doc."""
    import pandas as pd

    rows = []
    for (n, read), g in df.groupby(["levels", "read"], sort=True):
        targets = np.sort(g["target"].unique())
        if targets.size != n:     # levels with no cell left (too few cells): decode over those given
            targets = level_targets_of(g)
        th = thresholds(targets, spacing)
        decoded = np.searchsorted(th, g["conductance"].to_numpy())
        want = np.searchsorted(targets, g["target"].to_numpy())
        wrong = decoded != want
        per_level = pd.Series(wrong).groupby(want).mean()
        bits = max(np.log2(n), 1.0)
        rows.append({"levels": int(n), "read": int(read), "time": float(g["time"].median()), "cells": int(len(g)),
                     "errors": int(wrong.sum()), "level_error_rate": float(wrong.mean()),
                     "bit_error_rate": float(wrong.mean() / bits), "worst_level_error": float(per_level.max())})
    return pd.DataFrame(rows)


def level_targets_of(g) -> np.ndarray:
    return np.sort(g["target"].unique())


def bits_per_cell(table, error_rate: float, time: float) -> float:
    """log2 of the largest N whose level error rate is <= ``error_rate`` at every read up
    to ``time`` s (the reads after it are not asked about); 0 when no N holds."""
    ok = table[table["time"] <= time * (1 + 1e-9)].groupby("levels")["level_error_rate"].max() <= error_rate
    held = [int(n) for n, good in ok.items() if good]
    return float(np.log2(max(held))) if held else 0.0


def simulate(model, level_counts, delays, temperature: float | None = None, pairs: int = 32, seed: int = 0,
             settings=None, spacing: str = "linear", drift_seed: int | None = None):
    """The multilevel experiment on a SimArray of ``pairs`` × ``pairs`` synapses (every
    device a cell): program every cell to its level with program-verify (the whole array
    at once), then let it sit ``delays`` (s, cumulative from the end of programming) at
    ``temperature`` (K; None: the model's operating temperature), reading every device
    at each.  Returns the tidy table of the module doc (plus ``converged``, ``pulses``)."""
    import pandas as pd

    from . import program_verify as pv
    from .sim_array import SimArray

    arr = SimArray(model, pairs, pairs, seed=seed, dtype=np.float64)
    settings = settings or pv.VerifySettings.for_model(model)
    lo, hi = pv.reachable_range(model, settings)
    n_cells = 2 * pairs * pairs
    n, level = assign(n_cells, level_counts)
    target = np.empty(n_cells)
    for count in np.unique(n):
        m = n == count
        target[m] = level_targets(lo, hi, count, spacing)[level[m]]
    res = arr.program_verify(target.reshape(pairs, pairs, 2), settings, keep_trace=False)
    frames, now = [], 0.0
    for k, t in enumerate(sorted(float(d) for d in delays)):
        if t > now:
            arr.advance_time(t - now, temperature)
            now = t
        g = arr.read_conductances().reshape(-1).astype(float)
        frames.append(pd.DataFrame({"cell": np.arange(n_cells), "levels": n, "level": level, "target": target,
                                    "read": k, "time": t, "conductance": g, "converged": res.converged.astype(int),
                                    "pulses": res.pulses}))
    return pd.concat(frames, ignore_index=True)


def distributions_figure(df, levels: int, spacing: str = "linear", title: str = ""):
    """The figure people draw: the distribution of each level on a log-G axis, one panel
    per read time (top: right after programming), targets dashed, thresholds dotted.
    A matplotlib ``Figure`` (no pyplot: no backend is chosen for the caller)."""
    from matplotlib import cm
    from matplotlib.figure import Figure

    d = df[df["levels"] == levels]
    reads = sorted(d["read"].unique())
    targets = np.sort(d["target"].unique())
    g_all = d["conductance"].to_numpy()
    g_all = g_all[g_all > 0]
    bins = np.geomspace(g_all.min() * 0.9, g_all.max() * 1.1, 120)
    fig = Figure(figsize=(7, 1.2 + 1.1 * len(reads)))
    axes = fig.subplots(len(reads), 1, sharex=True, squeeze=False)
    colors = cm.viridis(np.linspace(0, 0.95, targets.size))
    for ax, r in zip(axes[:, 0], reads):
        rows = d[d["read"] == r]
        for j, t in enumerate(targets):
            g = rows.loc[rows["target"] == t, "conductance"].to_numpy()
            ax.hist(g[g > 0], bins=bins, color=colors[j], alpha=0.75)
        for t in targets:
            ax.axvline(t, color="k", ls="--", lw=0.5)
        for th in thresholds(targets, spacing):
            ax.axvline(th, color="r", ls=":", lw=0.6)
        ax.set_xscale("log")
        ax.set_yticks([])
        ax.set_ylabel(_duration(float(rows["time"].median())), rotation=0, ha="right", va="center", fontsize=8)
    axes[-1, 0].set_xlabel("conductance as read (S)")
    axes[0, 0].set_title(title or f"{levels} levels: distributions over time", fontsize=9)
    fig.tight_layout()
    return fig


def error_map_figure(table, title: str = ""):
    """Level error rate against N (rows) and time (columns), log colour scale (a Figure)."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    # by read (cells read one after another on a bench each have their own time)
    piv = table.pivot_table(index="levels", columns="read", values="level_error_rate")
    times = table.groupby("read")["time"].median()
    fig = Figure(figsize=(1.6 + 0.9 * piv.shape[1], 1.2 + 0.5 * piv.shape[0]))
    ax = fig.subplots()
    floor = 1.0 / max(int(table["cells"].max()), 1)
    im = ax.imshow(np.maximum(piv.to_numpy(), floor / 2), norm=LogNorm(vmin=floor / 2, vmax=1), cmap="magma_r",
                   aspect="auto")
    ax.set_xticks(range(piv.shape[1]), [_duration(times[r]) for r in piv.columns], fontsize=8)
    ax.set_yticks(range(piv.shape[0]), [str(n) for n in piv.index])
    ax.set_xlabel("time after programming")
    ax.set_ylabel("levels N")
    for (i, j), v in np.ndenumerate(piv.to_numpy()):
        ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=7, color="w" if v > 0.05 else "k")
    fig.colorbar(im, ax=ax, label="level error rate")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_distributions(df, levels: int, path, spacing: str = "linear", title: str = "") -> None:
    """:func:`distributions_figure` saved as a PNG at ``path``."""
    distributions_figure(df, levels, spacing, title).savefig(path, dpi=110)


def plot_error_map(table, path, title: str = "") -> None:
    """:func:`error_map_figure` saved as a PNG at ``path``."""
    error_map_figure(table, title).savefig(path, dpi=110)


def _duration(seconds: float) -> str:
    for unit, s in (("y", 365.25 * 86400), ("mo", 30.44 * 86400), ("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= s:
            v = seconds / s
            return f"{v:.3g} {unit}"
    return "0 s"
