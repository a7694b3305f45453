"""Read-disturb fits: the model's ``read_disturb.factor`` from a read-disturb run.

In the device model a read is a weak, long pulse: ``m(G) = factor·ln(1 + (t/τ)·e^((V_dev −
V_nom)/v0)) / ln(1 + t_nom/τ)`` nominal SET pulses per read (:func:`labbench.physics.kinetics.
read_disturb_pulses`), with the switching kinetics' τ, v0 and transistor.  Those come from the
pulse-train fit (a width/amplitude sweep); what the stress measures on top of them is the one
factor.  Per device: the pulses the update curve needs to climb from the first read to the
last (``advance_by`` inverted by a root finder), divided by the pulse equivalents its stress
reads were worth at factor 1 along the way (the reads' state interpolated between
checkpoints; ``m`` changes by a factor of two over the window, so this is the integral, not a
first-order guess).  The model's factor is the median device's, with the lognormal median
interval over devices (:func:`.uncertainty.median_interval`): each device's ratio carries its
D2D (its own curve, not the nominal one) and its reads' noise, and both are in the spread.

The stress reads' duration is not in the data: a bench does not report its SMU's aperture.
It is taken as the base model's ``switching.dc_time`` (1 ms on the shipped models), and the
fitted factor is relative to it (the provenance says so).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from labbench.physics import kinetics
from labbench.physics.device_model import DeviceModel, ReadDisturb
from labbench.physics.models import SET

from . import uncertainty
from .io import CELL_KEYS, DataError, deembed_reads, read_table

NEEDS = ("cell (or row, col, side), stress_reads, conductance (S) and stress_voltage (V), one row per "
         "checkpoint read; `labbench measure read-disturb` writes them")


def is_read_disturb(source) -> bool:
    """A table with stress counts and normal reads: a read-disturb run."""
    try:
        df, _ = read_table(source)
    except DataError:
        return False
    cols = {c.lower() for c in df.columns}
    return {"stress_reads", "conductance", "stress_voltage"} <= cols


def load_read_disturb(source) -> pd.DataFrame:
    """The run's rows with a ``device`` number; a DataError says what is missing."""
    df, _ = read_table(source)
    df = df.rename(columns={c: c.lower() for c in df.columns})
    missing = [c for c in ("stress_reads", "conductance", "stress_voltage") if c not in df.columns]
    if missing:
        raise DataError(f"column(s) {missing} missing (found {list(df.columns)}); the fitter needs {NEEDS}")
    keys = ["cell"] if "cell" in df.columns else [k for k in CELL_KEYS if k in df.columns]
    if not keys:
        raise DataError(f"no device column ('cell', or 'row', 'col', 'side'); the fitter needs {NEEDS}")
    out = df.copy()
    for name in ("stress_reads", "conductance", "stress_voltage"):
        out[name] = pd.to_numeric(out[name], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(out[name].to_numpy(float)))
        if bad.size:
            raise DataError(f"column {name!r} is not a finite number at row {bad[0]} (line {bad[0] + 2}); "
                            f"the fitter needs {NEEDS}")
    if (out["conductance"] <= 0).any():
        raise DataError("column 'conductance' must be > 0 S")
    if (out["stress_voltage"] <= 0).any():
        raise DataError("column 'stress_voltage' must be > 0 V (a read-polarity stress)")
    out["device"] = pd.factorize(pd.MultiIndex.from_frame(df[keys].astype(str)))[0]
    if out.groupby("device")["stress_reads"].nunique().min() < 2:
        raise DataError("each device needs reads at >= 2 stress counts (before and after a stress)")
    return out


@dataclass
class ReadDisturbFit:
    factor: dict                     # value, ci95, resolved, n_devices, method
    per_device: pd.DataFrame         # device, g_start, g_end, pulses, pulse_equivalents, factor
    device_model: DeviceModel
    notes: list[str] = field(default_factory=list)

    data: pd.DataFrame | None = field(default=None, repr=False)

    def summary(self) -> dict:
        return {"model": "read_disturb", "factor": self.factor, "notes": list(self.notes),
                "read_disturb": self.device_model.read_disturb.model_dump()}

    def to_yaml(self, path=None) -> str:
        return self.device_model.to_yaml(path)

    def plot(self, path) -> Path:
        """Each device's climb against stress reads (log axis), and the fitted model's nominal
        climb from the median start (the same integration the fit inverts)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for _, g in self.data.groupby("device"):
            g = g.sort_values("stress_reads")
            ax.plot(g["stress_reads"].clip(lower=0.5), g["conductance"] * 1e6, color="0.6", lw=0.8)
        n_end = float(self.data["stress_reads"].max())
        n = np.unique(np.concatenate([[0.0], np.logspace(0, np.log10(max(n_end, 1)), 40)]))
        row = self.per_device.iloc[0]
        g = float(np.median(self.per_device["g_start"]))
        dm = self.device_model
        curve = [g]
        for a, b in zip(n[:-1], n[1:]):
            m = kinetics.read_disturb_pulses(dm, np.array([g]), float(row["stress_voltage"]), float(row["gate"]),
                                             float(dm.switching.dc_time))
            g = float(dm.update.advance_by(np.array([g]), m * (b - a), SET)[0])
            curve.append(g)
        ax.plot(np.clip(n, 0.5, None), np.array(curve) * 1e6, color="C3", lw=2,
                label=f"model, factor {self.factor['value']:.3g}")
        ax.set_xscale("log")
        ax.set_xlabel(f"stress reads at {row['stress_voltage']:g} V (0 at 0.5)")
        ax.set_ylabel("G at the read voltage (µS, de-embedded)")
        ax.set_title("read disturb")
        ax.legend()
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _pulses_between(update, g0: float, g1: float) -> float:
    """Nominal SET pulses (fractional) the update curve takes from ``g0`` to ``g1`` (0 if it did not climb)."""
    if not g1 > g0:
        return 0.0
    g = np.array([g0], float)

    def gap(s):
        return float(update.advance_by(g, np.array([s]), SET)[0]) - g1

    hi = 1.0
    while gap(hi) < 0:
        hi *= 2
        if hi > 1e6:          # beyond the ceiling: the curve cannot reach g1
            return float("nan")
    return float(brentq(gap, 0.0, hi, xtol=1e-6))


def _equivalents(model1: DeviceModel, g: np.ndarray, n: np.ndarray, v_stress: float, v_read: float,
                 gate: float, t_read: float) -> float:
    """Pulse equivalents at factor 1 of the stress reads (and the checkpoint reads) of one
    device whose reads were ``g`` after ``n`` stress reads (checkpoints in order)."""
    total = 0.0
    for j in range(1, len(n)):
        mid = np.array([0.5 * (g[j - 1] + g[j])])
        total += (n[j] - n[j - 1]) * float(kinetics.read_disturb_pulses(model1, mid, v_stress, gate, t_read)[0])
        total += float(kinetics.read_disturb_pulses(model1, np.array([g[j - 1]]), v_read, gate, t_read)[0])
    return total


def fit_read_disturb(data, base: DeviceModel, name: str | None = None, source: str | None = None) -> ReadDisturbFit:
    """``read_disturb.factor`` from a read-disturb run, on ``base``'s update curve and switching
    kinetics (the fitted model of the same chip); returns the fit and ``base`` with the block."""
    df = load_read_disturb(data)
    notes: list[str] = []
    df = deembed_reads(df, base, notes)
    t_read = float(base.switching.dc_time)
    model1 = base.model_copy(update={"read_disturb": ReadDisturb(model="kinetics", factor=1.0)})
    rows = []
    for dev, g in df.groupby("device"):
        g = g.sort_values("stress_reads")
        n = g["stress_reads"].to_numpy(float)
        c = g["conductance"].to_numpy(float)
        v = float(g["stress_voltage"].iloc[0])
        v_read = float(g["read_voltage"].iloc[0]) if "read_voltage" in g else float(base.read.voltage)
        gate = float(g["read_gate"].iloc[0]) if "read_gate" in g else float(base.read.gate)
        pulses = _pulses_between(base.update, float(c[0]), float(c[-1]))
        eq = _equivalents(model1, c, n, v, v_read, gate, t_read)
        rows.append({"device": dev, "stress_voltage": v, "gate": gate, "stress_reads": n[-1], "g_start": c[0], "g_end": c[-1],
                     "pulses": pulses, "pulse_equivalents": eq,
                     "factor": pulses / eq if eq > 0 and np.isfinite(pulses) else float("nan")})
    per = pd.DataFrame(rows)
    f = per["factor"].to_numpy(float)
    ok = np.isfinite(f) & (f > 0)
    if ok.sum() < 3:
        raise DataError(f"only {int(ok.sum())} of {len(f)} devices climbed measurably under the stress, so the "
                        f"read-disturb factor cannot be fitted: stress longer (stress_reads) or at a higher "
                        f"stress_voltage, below the SET threshold")
    value, lo, hi = uncertainty.median_interval(f[ok])
    resolved = bool(hi / lo <= 3.0)
    if ok.sum() < len(f):
        notes.append(f"read disturb: {len(f) - int(ok.sum())} of {len(f)} devices did not climb measurably and "
                     f"are left out of the factor")
    factor = {"value": value, "ci95": [lo, hi], "resolved": resolved, "n_devices": int(ok.sum()),
              "method": "median device, lognormal t interval over devices",
              "stress_voltage": sorted(per["stress_voltage"].unique().tolist()), "read_time": t_read}
    src = f"{source or 'a read-disturb run'}: {int(ok.sum())} devices"
    # the stress is positive: negative (RESET-polarity) reads keep the base model's factor
    old = base.read_disturb or ReadDisturb(model="kinetics", factor=1.0)
    reset_factor = old.factor_for(-1.0) if old.model == "kinetics" else 1.0
    if resolved:
        block = ReadDisturb(model="kinetics", factor=value, reset_factor=reset_factor)
        what = (f"fitted from {src}: factor {value:.3g} (95 % {lo:.3g}..{hi:.3g}) on the switching kinetics, "
                f"stress reads taken as {t_read:g} s (switching.dc_time); negative (RESET-polarity) reads: "
                f"reset_factor {reset_factor:.3g} kept from the model it was fitted on, not measured (the stress is positive)")
    else:
        block = base.read_disturb or ReadDisturb(model="kinetics", factor=1.0)
        what = (f"inherited from {base.name}: the read-disturb run ({src}) does not resolve the factor "
                f"(95 % {lo:.3g}..{hi:.3g}, wider than a factor of 3): stress longer or with more devices")
        notes.append(f"read_disturb: {what}")
    prov = dict(base.provenance or {})
    prov["read_disturb"] = what
    fit_block = {**(base.fit or {}), "read_disturb": factor | {"source": source}}
    dm = base.model_copy(update={"read_disturb": block, "provenance": prov, "fit": fit_block,
                                 **({"name": name} if name else {})})
    return ReadDisturbFit(factor=factor, per_device=per, device_model=dm, notes=notes, data=df)
