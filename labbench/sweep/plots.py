"""Sweep plots: a metric (final test accuracy by default) against any swept field, one
line per value of another, mean ± standard deviation over seeds; one panel per value of
the remaining swept fields.  matplotlib's ``Figure`` API (no pyplot)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from labbench.atomic import atomic_path

METRIC_LABELS = {"test_acc": "test accuracy (%)", "best_test_acc": "best test accuracy (%)",
                 "train_acc": "train accuracy (%)", "refresh_per_update_pulse": "refresh / update pulses",
                 "seconds": "wall time per point (s)"}
PERCENT = {"test_acc", "best_test_acc", "train_acc"}


def _key(v):
    """A sortable, hashable version of a cell (lists are stored as JSON text)."""
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))
    return v


def aggregate(table: pd.DataFrame, fields: list[str], y: str = "test_acc") -> pd.DataFrame:
    """Mean, sd and count of ``y`` over seeds, per combination of ``fields`` (finished points)."""
    df = table[table["status"] == "finished"].copy()
    if df.empty:
        return pd.DataFrame(columns=[*fields, "mean", "sd", "n"])
    for f in fields:
        df[f] = df[f].map(_key)
    g = df.groupby(fields, dropna=False, sort=True)[y]
    out = g.agg(["mean", "std", "count"]).reset_index()
    out = out.rename(columns={"std": "sd", "count": "n"})
    out["sd"] = out["sd"].fillna(0.0)
    return out


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values)


def plot_sweep(table: pd.DataFrame, fields: list[str], x: str, by: str | None = None, y: str = "test_acc",
               path: str | Path | None = None, title: str = ""):
    """The figure (and ``path`` written atomically when given)."""
    from matplotlib.figure import Figure

    rest = [f for f in fields if f not in (x, by, "seed")]
    rest = [f for f in rest if table[f].map(_key).nunique() > 1] if not table.empty else []
    agg = aggregate(table, [f for f in (*rest, by, x) if f], y)
    panels = (sorted(agg[rest].drop_duplicates().itertuples(index=False, name=None)) if rest and not agg.empty
              else [()])
    n = max(1, len(panels))
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.6 * cols, 3.4 * rows))
    scale = 100.0 if y in PERCENT else 1.0
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        sub = agg
        for f, v in zip(rest, panel):
            sub = sub[sub[f] == v]
        groups = [(None, sub)] if not by else list(sub.groupby(by, sort=True))
        for gval, g in groups:
            xs = list(g[x])
            if _numeric(xs):
                order = np.argsort(np.asarray(xs, float))
                xv = np.asarray(xs, float)[order]
            else:
                order = np.arange(len(xs))
                xv = np.arange(len(xs))
                ax.set_xticks(xv, [str(v) for v in xs])
            m = g["mean"].to_numpy()[order] * scale
            s = g["sd"].to_numpy()[order] * scale
            label = f"{by}={gval}" if by else None
            ax.errorbar(xv, m, yerr=s, marker="o", capsize=3, label=label)
        ax.set_xlabel(x)
        ax.set_ylabel(METRIC_LABELS.get(y, y))
        if rest:
            ax.set_title(", ".join(f"{f}={v}" for f, v in zip(rest, panel)), fontsize=9)
        ax.grid(alpha=0.3)
        if by:
            ax.legend(fontsize=8)
    nseeds = table["seed"].nunique() if "seed" in table and not table.empty else 0
    fig.suptitle(title or f"{METRIC_LABELS.get(y, y)} vs {x}: mean ± sd over {nseeds} seed(s)", fontsize=10)
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    return fig
