"""The report's figures: matplotlib ``Figure`` objects (no pyplot), embedded as base64 PNG."""
from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd


def new(w: float = 5.0, h: float = 3.4, n: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w * n, h))
    axes = [fig.add_subplot(1, n, i + 1) for i in range(n)]
    return fig, axes


def embed(fig) -> str:
    """A ``data:`` URI of the figure as PNG."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# -- measurements -----------------------------------------------------------------------
def iv_loops(df: pd.DataFrame) -> str:
    fig, (a, b) = new(n=2)
    for (cell, cycle), g in df.groupby(["cell", "cycle"] if "cycle" in df else ["cell"] * 2):
        g = g.sort_values("step") if "step" in g else g
        a.plot(g["voltage"], g["current"] * 1e6, lw=0.8, alpha=0.7)
        b.semilogy(g["voltage"], np.abs(g["current"]) + 1e-15, lw=0.8, alpha=0.7)
    a.set(xlabel="voltage (V)", ylabel="current (µA)", title="I-V loops")
    b.set(xlabel="voltage (V)", ylabel="|current| (A)", title="I-V loops (log)")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    return embed(fig)


def forming(df: pd.DataFrame) -> str:
    fig, (a,) = new()
    for cell, g in df.groupby("cell"):
        g = g.sort_values("step") if "step" in g else g
        a.semilogy(g["voltage"], np.abs(g["current"]) + 1e-15, lw=0.8, alpha=0.7)
        if "formed" in g and (g["formed"] > 0).any():
            f = g[g["formed"] > 0].iloc[0]
            a.plot([f["voltage"]], [abs(f["current"]) + 1e-15], "k.", ms=4)
    a.set(xlabel="voltage (V)", ylabel="|current| (A)", title="forming ramps (dots: formed)")
    a.grid(alpha=0.3)
    return embed(fig)


def pulse_responses(df: pd.DataFrame, model=None) -> tuple[str, dict]:
    """Conductance vs pulse for SET and RESET trains, the model's mean curve over it, and
    the residuals (data − model) below; returns the figure and the residual RMS per direction."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.6))
    axes = {d: (fig.add_subplot(2, 2, 1 + i), fig.add_subplot(2, 2, 3 + i))
            for i, d in enumerate(("set", "reset"))}
    rms = {}
    for d, (ax, axr) in axes.items():
        sub = df[df["direction"] == d]
        if sub.empty:
            continue
        keys = [k for k in ("cell", "side", "cycle") if k in sub]
        for _, g in sub.groupby(keys):
            g = g.sort_values("pulse")
            ax.plot(g["pulse"], g["conductance"] * 1e6, lw=0.5, alpha=0.35, color="C0")
        mean = sub.groupby("pulse")["conductance"].mean()
        ax.plot(mean.index, mean.to_numpy() * 1e6, "k-", lw=1.5, label="mean of data")
        curve = _model_curve(model, d, mean) if model is not None else None
        if curve is not None:
            ax.plot(mean.index, curve * 1e6, "r--", lw=1.5, label=f"model ({model.update.kind})")
            res = mean.to_numpy() - curve
            rms[d] = float(np.sqrt(np.mean(res ** 2)))
            axr.plot(mean.index, res * 1e6, "r.-", ms=3)
            axr.axhline(0, color="k", lw=0.5)
        else:
            axr.text(0.5, 0.5, "no model to compare", ha="center", va="center", transform=axr.transAxes)
        ax.set(title=f"{d.upper()} trains", ylabel="conductance (µS)")
        axr.set(xlabel="pulse", ylabel="residual (µS)")
        ax.legend(fontsize=8)
        for a in (ax, axr):
            a.grid(alpha=0.3)
    return embed(fig), rms


def _model_curve(model, direction: str, mean: pd.Series):
    """The model's noise-free response from the data's mean starting point."""
    try:
        from labbench.physics import SET

        upd = model.update
        d = SET if direction == "set" else -SET
        n = mean.index.to_numpy().astype(np.int64)
        g0 = np.full(len(n), float(mean.iloc[0]), np.float64)
        return np.asarray(upd.advance(g0, n - n.min(), d), float)
    except Exception:  # noqa: BLE001 - a model the curve cannot be drawn for: no overlay
        return None


def cell_extremes(df: pd.DataFrame) -> pd.DataFrame:
    """Per (cell, side, cycle): the highest conductance after SET and the lowest after RESET."""
    keys = [k for k in ("cell", "row", "col", "side", "cycle") if k in df]
    hi = df[df["direction"] == "set"].groupby(keys)["conductance"].max().rename("g_high")
    lo = df[df["direction"] == "reset"].groupby(keys)["conductance"].min().rename("g_low")
    return pd.concat([hi, lo], axis=1).reset_index()


def variation(ext: pd.DataFrame) -> str:
    fig, (a, b, c) = new(w=3.6, n=3)
    a.hist(ext["g_high"].dropna() * 1e6, bins=20, color="C1")
    a.set(xlabel="conductance (µS)", ylabel="count", title="after SET (high)")
    b.hist(ext["g_low"].dropna() * 1e6, bins=20, color="C0")
    b.set(xlabel="conductance (µS)", title="after RESET (low)")
    ratio = (ext["g_high"] / ext["g_low"]).replace([np.inf, -np.inf], np.nan).dropna()
    c.hist(ratio, bins=20, color="C2")
    c.set(xlabel="high / low", title="ON/OFF ratio")
    for ax in (a, b, c):
        ax.grid(alpha=0.3)
    return embed(fig)


SIDE_NAMES = {0: "+ (BL)", 1: "− (BLB)"}


def array_map(df: pd.DataFrame, value: str = "conductance", title: str = "") -> str:
    """Rows × cols image of the mean of ``value`` per cell (both sides side by side)."""
    sides = sorted(df["side"].unique()) if "side" in df else [None]
    fig, axes = new(w=3.8, h=3.4, n=len(sides))
    for ax, side in zip(axes, sides):
        sub = df if side is None else df[df["side"] == side]
        m = sub.groupby(["row", "col"])[value].mean().unstack()
        im = ax.imshow(m.to_numpy() * 1e6, cmap="viridis", aspect="auto")
        ax.set(xlabel="col", ylabel="row",
               title=f"{title}, side {SIDE_NAMES.get(side, side)}" if side is not None else title)
        ax.set_xticks(range(m.shape[1]), [str(c) for c in m.columns])
        ax.set_yticks(range(m.shape[0]), [str(r) for r in m.index])
        fig.colorbar(im, ax=ax, label="µS")
    return embed(fig)


# -- training ----------------------------------------------------------------------------
def _epoch_ticks(ax, epochs) -> None:
    """Whole epochs on the x axis (every one while there are few)."""
    from matplotlib.ticker import MaxNLocator

    epochs = list(epochs)
    if 0 < len(epochs) <= 12:
        ax.set_xticks(epochs)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def training_curves(runs: dict[str, pd.DataFrame]) -> str:
    """Test and train accuracy per epoch, one panel per run (ideal beside device)."""
    fig, axes = new(w=4.4, n=max(1, len(runs)))
    lo = min((100 * min(h["test_acc"].min(), h["train_acc"].min()) for h in runs.values()), default=0)
    for ax, (name, h) in zip(axes, runs.items()):
        ax.plot(h["epoch"], 100 * h["test_acc"], "o-", label="test")
        ax.plot(h["epoch"], 100 * h["train_acc"], "s--", label="train")
        _epoch_ticks(ax, h["epoch"])
        ax.set(xlabel="epoch", ylabel="accuracy (%)", title=name, ylim=(max(0, lo - 2), 100))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return embed(fig)


def pulses_per_epoch(h: pd.DataFrame) -> str | None:
    if "set_pulses" not in h:
        return None
    fig, (a,) = new()
    a.bar(h["epoch"] - 0.2, h["set_pulses"], width=0.4, label="update SET pulses")
    if "refresh_set_pulses" in h:
        a.bar(h["epoch"] + 0.2, h["refresh_set_pulses"], width=0.4, label="refresh SET pulses")
    _epoch_ticks(a, h["epoch"])
    a.set(xlabel="epoch", ylabel="pulses", title="pulses per epoch", yscale="log")
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    return embed(fig)


def wear_histogram(wear: dict) -> str:
    """Devices per pulse-count bin (power-of-two bins), one bar series per layer."""
    fig, (a,) = new()
    for w in wear["layers"]:
        edges = np.asarray(w["hist_edges"], float)
        counts = np.asarray(w["hist_counts"], float)
        a.step(np.maximum(edges[:-1], 0.5), counts / max(counts.sum(), 1), where="post",
               label=f"layer {w['layer']}: mean {w['pulses_mean']:.0f}, max {w['pulses_max']}")
    a.set(xscale="log", xlabel="write events per device (pulses, RESETs)", ylabel="fraction of devices",
          title=f"wear after epoch {wear['epoch']}")
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    return embed(fig)


def conductance_histograms(g_hist: np.ndarray) -> str:
    fig, (a,) = new()
    edges = np.linspace(0, 1.05, g_hist.shape[1] + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    for i in np.unique(np.linspace(0, len(g_hist) - 1, min(5, len(g_hist))).astype(int)):
        a.plot(centers, g_hist[i] / max(1, g_hist[i].sum()), label=f"after epoch {i + 1}")
    a.set(xlabel="(G − Gmin) / (Gmax − Gmin)", ylabel="fraction of devices", title="layer-0 conductances")
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    return embed(fig)


def sweep_curves(curves: dict[str, pd.DataFrame], max_lines: int = 12) -> str:
    """Test accuracy per epoch, mean over seeds, one line per point (group of seeds)."""
    fig, (a,) = new(w=7.0, h=3.8)
    for i, (label, h) in enumerate(curves.items()):
        if i >= max_lines:
            break
        a.plot(h["epoch"], 100 * h["mean"], "o-" if len(h) < 15 else "-", ms=3, label=label)
    _epoch_ticks(a, sorted({e for h in curves.values() for e in h["epoch"]}))
    a.set(xlabel="epoch", ylabel="test accuracy (%)",
          title="per point, mean over seeds" + (f" (first {max_lines} of {len(curves)})" if len(curves) > max_lines
                                                 else ""))
    a.grid(alpha=0.3)
    a.legend(fontsize=7, loc="lower right")
    return embed(fig)
