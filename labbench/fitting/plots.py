"""Fit plots: data vs fit per direction, residuals, D2D histograms.

matplotlib's ``Figure`` API (no pyplot), so importing labbench never changes a notebook's
backend; the PNG is written atomically."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from labbench.atomic import atomic_path
from labbench.physics.models import RESET, SET

MAX_TRACES = 40  # per panel; more only blurs the picture


def plot_fit(result, path: str | Path) -> Path:
    """Write a PNG with one column per direction (data+fit, residuals) and a D2D panel."""
    path = Path(path)
    kind = result.kind
    fig = Figure(figsize=(11, 10), layout="constrained")
    axes = fig.subplots(3, 2)
    for col, d in enumerate((SET, RESET)):
        name = "SET (potentiation)" if d == SET else "RESET (depression)"
        f = result.fits.get((kind, d, "device")) or result.fits[(kind, d, "pooled")]
        g, p, pred = f.g.reshape(-1, f.g.shape[-1]), f.p.reshape(-1, f.p.shape[-1]), f.pred.reshape(-1, f.g.shape[-1])
        keep = np.flatnonzero(np.isfinite(g[:, 0]))[:MAX_TRACES]
        ax = axes[0, col]
        for i in keep:
            ax.plot(p[i], g[i] * 1e6, ".", ms=2, color="0.6", alpha=0.6)
            ax.plot(p[i], pred[i] * 1e6, "-", lw=0.8, color="C0" if d == SET else "C3", alpha=0.8)
        pooled = result.fits[(kind, d, "pooled")]
        ax.set(title=f"{name}: data (grey) and {kind} fit", xlabel="pulse", ylabel="G (µS)")
        ax.text(0.02, 0.95, f"RMSE {float(np.median(f.rmse)) * 1e6:.3g} µS, R² {float(np.nanmedian(f.r2)):.3f}\n"
                f"pooled RMSE {float(pooled.rmse[0]) * 1e6:.3g} µS", transform=ax.transAxes, va="top", fontsize=8)
        res = (g - pred)[keep]
        ax = axes[1, col]
        ax.plot(p[keep].ravel(), res.ravel() * 1e6, ".", ms=2, alpha=0.5, color="C0" if d == SET else "C3")
        ax.axhline(0, color="k", lw=0.6)
        ax.set(title=f"{name}: residuals (data − fit)", xlabel="pulse", ylabel="ΔG (µS)")
    ax_hist = axes[2, 0]
    d2d = result.d2d
    dev = None
    if d2d:
        from . import build

        up, down = result.fits.get((kind, SET, "device")), result.fits.get((kind, RESET, "device"))
        if up is not None and down is not None:
            dev = build.per_device_values(kind, build.combine(kind, up, down), result.device_model.update)
    if dev:
        for i, (pname, v) in enumerate(dev.items()):
            v = np.abs(np.asarray(v, float))
            v = v[np.isfinite(v) & (v > 0)]
            if v.size:
                ax_hist.hist(np.log(v / np.median(v)), bins=20, histtype="step", lw=1.2, color=f"C{i}",
                             label=_d2d_label(pname, d2d.get(pname, {})))
        ax_hist.legend(fontsize=8)
        ax_hist.set(title="device-to-device: log(value / median), per-device fits", xlabel="log ratio",
                    ylabel="devices")
    else:
        ax_hist.text(0.5, 0.5, "one device: no device-to-device spread", ha="center", va="center")
        ax_hist.set_axis_off()
    ax = axes[2, 1]
    rk = result.ranking
    ax.barh(rk["model"], rk["delta_bic"], color=["C2" if c else "0.7" for c in rk["chosen"]])
    ax.set(title="model ranking: ΔBIC (0 = chosen)", xlabel="ΔBIC")
    if result.uncertainty:   # the nominal parameters' 95 % intervals, and the solver's report
        lines = [f"{k} = {v['value']:.4g}  (95 % {v['ci95'][0]:.4g} .. {v['ci95'][1]:.4g})"
                 for k, v in result.uncertainty.items()]
        lines += [f"{d}: {c['converged']}/{c['units']} converged" for d, c in result.convergence.items()
                  if c.get("converged") is not None]
        ax.text(0.98, 0.02, "\n".join(lines), transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
                bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    fig.suptitle(f"{result.device_model.name}: {kind} fit ({result.method})")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    return path


def _d2d_label(name: str, est: dict) -> str:
    if not est:
        return name
    if est.get("resolved"):
        lo, hi = est["ci95"]
        return f"{name}: σ={est['sigma']:.3f} (95 % {lo:.3f} .. {hi:.3f})"
    return f"{name}: σ not resolved (≤ {est['ci95'][1]:.3g})"


def _plot_relaxation(result, path: Path) -> Path:
    """A relaxation fit: ln(G/G₀) per device against time, and the per-device saturated
    displacement against the state with the fitted σ(w)."""
    from labbench.physics import retention as pr

    rf = result.relaxation_fit
    rel = rf.relaxation
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax, ax_s = fig.subplots(1, 2)
    for i, (_, grp) in enumerate(result.data.groupby("device", sort=True)):
        if i >= MAX_TRACES:
            break
        t, g = grp["time"].to_numpy(), grp["conductance"].to_numpy()
        ax.plot(np.maximum(t, 0.1), np.log(g / g[0]), ".-", ms=3, lw=0.5, color="0.6")
    tt = np.logspace(-1, np.log10(max(result.data["time"].max(), 1.0)), 100)
    for s in (1, -1):
        ax.plot(tt, s * pr.relax_sigma(rel, float(np.median(rf.w))) * pr.relax_shape(rel, tt), "C1-", lw=1.5)
    ax.set(xscale="log", xlabel="time since programming (s)", ylabel="ln(G / G₀)",
           title="relaxation: data (grey), ±σ(t) of the median state (orange)")
    ax_s.plot(rf.w, rf.b, "o", ms=3, color="C0", label="per-device displacement b_i")
    ww = np.linspace(0, 1, 50)
    for s in (1, -1):
        ax_s.plot(ww, s * pr.relax_sigma(rel, ww), "C1-", label="±σ(w) fitted" if s > 0 else None)
    ax_s.set(xlabel="state w (fraction of the window)", ylabel="saturated Δ ln G", title="relaxation σ against state")
    ax_s.legend(fontsize=8)
    fig.suptitle(f"{result.device_model.name}: post-program relaxation fit")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    return path


def plot_retention(result, path: str | Path) -> Path:
    """A retention fit: G(t)/G(0) per device with its fit (log time), and ln τ across devices
    with the fitted τ, its 95 % interval and the D2D σ (or "not resolved")."""
    path = Path(path)
    if not result.devices:
        return _plot_relaxation(result, path)
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax, ax_h = fig.subplots(1, 2)
    df = result.data
    for i, (dev, grp) in enumerate(df.groupby("device", sort=True)):
        if i >= MAX_TRACES:
            break
        f = result.devices[i]
        t, g = grp["time"].to_numpy(), grp["conductance"].to_numpy()
        tt = np.logspace(np.log10(max(t[t > 0].min(), 1e-3)), np.log10(t.max()), 100)
        fit = f.g_inf + (f.g0 - f.g_inf) * np.exp(-tt / np.exp(f.log_tau))
        ax.plot(np.maximum(t, tt[0]), g / f.g0, ".", ms=3, color="0.6")
        ax.plot(tt, fit / f.g0, "-", lw=0.8, color="C0", alpha=0.8)
    ax.set(xscale="log", xlabel="time since programming (s; t = 0 drawn at the left edge)",
           ylabel="G / G₀ (fitted)", title="retention: data (grey) and per-device fits")
    tau = result.params["tau"]
    lt = np.array([f.log_tau for f in result.devices])
    ax_h.hist(lt / np.log(10), bins=max(5, min(30, lt.size // 2)), color="C0", alpha=0.7)
    lo, hi = tau["ci95"]
    ax_h.axvspan(np.log10(lo), np.log10(hi), color="C1", alpha=0.3, label=f"τ 95 %: {lo:.3g} .. {hi:.3g} s")
    ax_h.axvline(np.log10(tau["value"]), color="C1", label=f"τ = {tau['value']:.3g} s at {tau['temperature']:g} K")
    d = result.params["tau_d2d"]
    label = (f"σ(ln τ) = {d['value']:.3f} (95 % {d['ci95'][0]:.3f} .. {d['ci95'][1]:.3f})" if d["resolved"]
             else f"σ(ln τ) not resolved (≤ {d['upper95']:.3g})")
    ax_h.set(xlabel="log10 τ (s)", ylabel="devices", title=label)
    ax_h.legend(fontsize=8)
    conv = result.summary()["convergence"]
    fig.suptitle(f"{result.device_model.name}: retention fit, {conv['converged']}/{conv['devices']} converged")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    return path
