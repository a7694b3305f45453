"""Where each block of a fitted device model comes from: measured, or inherited and said so.

A replay needs every block the chip had (update curves, switching, level spreads, retention,
read disturb, endurance, energy).  A pulse-train campaign measures some of them; the rest come
from the base model (``labbench fit --device-model``, by default the shipped default chip),
and the model's ``provenance`` table says which, with the procedure that would measure an
inherited one.  Nothing is silently zero: a training on a fitted model reports its energy as
the base model's, not as 0 J and not as a measurement.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: the procedure (or run) that would measure each block a pulse-train fit does not
MEASURED_BY = {
    "switching": "labbench measure pulse-train with gates, amplitudes and widths swept",
    "variability": "pulse trains of two or more cycles (HRS); forming and I-V sweeps (LRS, thresholds)",
    "retention": "labbench measure retention (bakes at two or more temperatures for E_a)",
    "read_disturb": "labbench measure read-disturb",
    "endurance": "labbench measure endurance",
    "energy": "labbench measure iv-sweep (the cell's I-V)",
    "faults": "labbench measure array-map",
}
INHERITED = "inherited from {base}: not measured (measure with: {how})"


def hrs_spread(df: pd.DataFrame, read_noise_rel: float) -> dict | None:
    """Cycle-to-cycle σ of ln G where a full RESET lands (``variability.hrs_c2c``), from the
    first read of each SET train (pulse 0: the HRS that train starts from), pooled within
    devices so device-to-device spread does not count, less the read noise.  None when no
    device has two cycles.  The interval is the pooled variance's χ² one."""
    from scipy import stats

    rows = df[(df["direction"].astype(str).str.lower().isin(("set", "1", "+1"))) & (df["pulse"] == 0)]
    rows = rows[rows["conductance"] > 0]
    if rows.empty:
        return None
    ln = np.log(rows["conductance"].to_numpy(float))
    dev = rows["device"].to_numpy()
    frame = pd.DataFrame({"dev": dev, "ln": ln})
    groups = frame.groupby("dev")["ln"]
    n = groups.count()
    keep = n[n >= 2].index
    if len(keep) == 0:
        return None
    resid = frame[frame.dev.isin(keep)]
    centred = resid["ln"] - resid.groupby("dev")["ln"].transform("mean")
    dof = int(len(resid) - len(keep))
    if dof < 2:
        return None
    var = float((centred ** 2).sum() / dof)
    noise = float(read_noise_rel) ** 2
    lo_v, hi_v = (var * dof / stats.chi2.ppf(q, dof) for q in (0.975, 0.025))
    sigma = float(np.sqrt(max(var - noise, 0.0)))
    return {"sigma": sigma, "ci95": [float(np.sqrt(max(lo_v - noise, 0.0))), float(np.sqrt(max(hi_v - noise, 0.0)))],
            "devices": int(len(keep)), "reads": int(len(resid)), "read_noise_removed": float(read_noise_rel)}


def complete(base, kw: dict, source: str, fitted: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """The device model's blocks not fitted, taken from ``base`` (None: left out), and the
    provenance table: ``fitted`` maps fitted keys to how; every other block is named with
    where it came from and how to measure it."""
    prov = {k: f"fitted from {source}: {how}" for k, how in fitted.items()}
    name = base.name if base is not None else None
    for block, how in MEASURED_BY.items():
        if block in kw and block in fitted:
            continue
        value = getattr(base, block, None) if base is not None else None
        if block in kw:                      # given by the caller (switching, faults from the base)
            if block not in fitted:
                prov[block] = INHERITED.format(base=name, how=how) if name else f"default: not measured ({how})"
            continue
        if value is None:
            prov[block] = f"absent (the base model has none): not measured (measure with: {how})"
            continue
        kw[block] = value
        prov[block] = INHERITED.format(base=name, how=how)
    return kw, prov


def inherited_blocks(model) -> dict[str, str]:
    """The blocks of ``model`` its provenance marks as not measured (block -> the note)."""
    return {k: v for k, v in (model.provenance or {}).items() if "not measured" in v and "." not in k}
