"""The device's I-V shape (linear or sinh) from the sub-threshold part of an I-V sweep.

The energy a pulse or read costs, and what a read at another voltage reports, follow the
device's I-V: ``I = G·V`` (linear) or ``I = G·v0·sinh(V/v0)`` (the device model's ``read.iv``
and ``energy.iv``).  An I-V sweep measures it below the switching thresholds, where the state
does not move: each up-ramp's points below the model's quiet voltage, de-embedded from the
access transistor and lines (:func:`labbench.physics.circuit.deembed`), give the device's
chord conductance ``I/V_dev`` at several cell voltages.  Relative to the ramp's lowest
point, ``r(V) = h(V)/h(V_1)`` with ``h(V) = v0·sinh(V/v0)/V = sinh(V√c)/(V√c)``, ``c = 1/v0²``
(continued to c < 0 as ``sin(V√−c)/(V√−c)``, so that noise about a linear device scatters
about c = 0 instead of piling up at a bound).  Each ramp's ``c`` is fitted by least squares
(the exact ``h``: its quadratic approximation read v0 = 0.25 V as 0.232), and the population's
``c`` is the mean over ramps with a t interval from their scatter (the ramps are the
independent units).  An interval that holds 0 means the data are linear within what they
resolve, and says down to which v0 a sinh is ruled out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import minimize_scalar

from labbench.physics import circuit
from labbench.physics.device_model import DeviceModel, Energy

from .io import DataError


@dataclass
class IVShapeFit:
    iv: str                   # "linear" or "sinh"
    v0: float | None          # V, for sinh
    c: dict                   # 1/v0² in V⁻²: value, ci95, n_ramps, v_max (the highest device voltage used)
    device_model: DeviceModel
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {"model": "iv_shape", "iv": self.iv, "v0": self.v0, "c": self.c, "notes": list(self.notes)}


#: the smallest bend of the I-V at the top of the ramps called a sinh (see fit_iv_shape)
MATERIAL = 0.02
#: |c| = 1/v0² searched up to this (v0 down to 0.05 V)
C_MAX = 400.0


def shape(v: np.ndarray, c: float) -> np.ndarray:
    """h(V) = sinh(V√c)/(V√c) for c = 1/v0² > 0, its continuation sin(V√−c)/(V√−c) below 0."""
    v = np.asarray(v, float)
    if c > 0:
        x = v * np.sqrt(c)
        return np.sinh(x) / x
    if c < 0:
        x = v * np.sqrt(-c)
        return np.sin(x) / x
    return np.ones_like(v)


def _ramp_curvature(v: np.ndarray, r: np.ndarray) -> float:
    """The c of one ramp: least squares of h(V)/h(V_1) against the measured ratios ``r``."""
    def cost(c):
        return float(np.sum((shape(v, c) / shape(v[:1], c) - r) ** 2))

    return float(minimize_scalar(cost, bounds=(-C_MAX, C_MAX), method="bounded", options={"xatol": 1e-6}).x)


def _quiet_voltage(model: DeviceModel) -> float:
    from labbench.physics.chip import Chip

    return Chip(model, 1, 1, seed=0).quiet_voltage()


def ramp_slopes(iv: pd.DataFrame, base: DeviceModel) -> tuple[np.ndarray, float]:
    """One ``c`` per up-ramp (cell, side, gate, cycle) of an iv-sweep run, and the highest
    cell voltage used."""
    quiet = 0.95 * _quiet_voltage(base)
    keys = [k for k in ("cell", "side", "gate", "cycle") if k in iv.columns]
    slopes, v_top = [], 0.0
    sw = base.switching
    for _, g in iv.groupby(keys):
        g = g.sort_values("step") if "step" in g.columns else g
        v = g["voltage"].to_numpy(float)
        i = g["current"].to_numpy(float)
        # the first ramp up from 0, below every threshold: nothing has switched yet
        stop = int(np.argmax(np.diff(v) <= 0)) + 1 if np.any(np.diff(v) <= 0) else len(v)
        v, i = v[:stop], i[:stop]
        keep = (v > 0) & (v < quiet) & (i > 0)
        if keep.sum() < 3:
            continue
        v, i = v[keep], i[keep]
        gate = float(g["gate"].iloc[0]) if "gate" in g.columns else base.read.gate
        # one de-embedding per point: each is read at its own voltage
        gd = np.array([circuit.deembed(sw, np.array([i[j] / v[j]]), float(v[j]), gate)[0] for j in range(len(v))])
        ok = np.isfinite(gd) & (gd > 0)
        if ok.sum() < 3:
            continue
        # h at the cell voltage, as the device model applies it (physics.energy: the ratio at
        # the cell voltage scales the linear circuit solve); at the device voltage instead,
        # v0 = 0.25 V read as 0.237 (95 % 0.234-0.241)
        v_cell = v[ok]
        r = gd[ok] / gd[ok][0]
        if not np.ptp(v_cell) > 0:
            continue
        slopes.append(_ramp_curvature(v_cell, r))
        v_top = max(v_top, float(v_cell.max()))
    return np.asarray(slopes, float), v_top


def fit_iv_shape(iv: pd.DataFrame, base: DeviceModel, source: str | None = None) -> IVShapeFit:
    """The I-V shape of ``iv`` (rows of `labbench measure iv-sweep`); ``base``: its transistor
    de-embeds the reads, its thresholds bound the sub-threshold range.  Returns ``base`` with
    ``read.iv``/``read.v0`` and the energy block's I-V set from the data."""
    for col in ("voltage", "current"):
        if col not in iv.columns:
            raise DataError(f"an I-V shape fit needs column {col!r} (rows of `labbench measure iv-sweep`)")
    slopes, v_top = ramp_slopes(iv, base)
    if len(slopes) < 3:
        raise DataError(f"only {len(slopes)} I-V ramps have >= 3 points below the switching threshold "
                        f"({_quiet_voltage(base):.3g} V): sweep with more points (iv-sweep points)")
    n = len(slopes)
    mean, se = float(np.mean(slopes)), float(np.std(slopes, ddof=1) / np.sqrt(n))
    q = float(stats.t.ppf(0.975, n - 1))
    lo, hi = mean - q * se, mean + q * se
    c = {"value": mean, "ci95": [lo, hi], "n_ramps": n, "v_max": v_top, "unit": "1/V^2"}
    src = f"{source or 'an I-V sweep'}: {n} ramps below {v_top:.3g} V"
    notes = []
    # material only: the ramp's own read disturb (~1 % over a ramp) reads as curvature too, so a
    # curvature whose lower bound bends the I-V by less than MATERIAL at the top of the ramp is
    # called linear (a false sinh of v0 1.2 V made the replay's I-V plateau 25 % high)
    if lo * v_top ** 2 / 6 < MATERIAL:
        iv_kind, v0 = "linear", None
        bound = f"a sinh with v0 < {1 / np.sqrt(hi):.3g} V is ruled out" if hi > 0 else "no curvature at all"
        what = (f"fitted from {src}: linear (curvature under {MATERIAL:.0%} at the top of the ramps, what read disturb "
                f"alone can make; {bound}, 95 %)")
    else:
        iv_kind, v0 = "sinh", float(1 / np.sqrt(mean))
        what = (f"fitted from {src}: sinh, v0 {v0:.3g} V (95 % {1 / np.sqrt(hi):.3g}..{1 / np.sqrt(lo):.3g}); "
                f"read and energy use it")
        if v_top < 0.5 * v0:
            notes.append(f"energy: the I-V curvature was measured up to {v_top:.3g} V only, far below v0 = {v0:.3g} V; "
                         f"pulses at higher voltage extrapolate it")
    read = base.read.model_copy(update={"iv": iv_kind, **({"v0": v0} if v0 else {})})
    energy = (base.energy or Energy(iv="linear")).model_copy(update={"iv": iv_kind, **({"v0": v0} if v0 else {})})
    prov = dict(base.provenance or {})
    prev = prov.get("energy", "")
    prov["energy"] = what + (f"; read_time as before ({prev})" if prev and "not measured" not in prev else
                             "; the read time inherited")
    dm = base.model_copy(update={"read": read, "energy": energy, "provenance": prov,
                                 "fit": {**(base.fit or {}), "iv_shape": {**c, "iv": iv_kind, "v0": v0,
                                                                          "source": source}}})
    return IVShapeFit(iv=iv_kind, v0=v0, c=c, device_model=dm, notes=notes)
