"""Model ranking (AIC/BIC) and the report table.

For least squares with Gaussian errors, ``AIC = n·ln(RSS/n) + 2k`` and
``BIC = n·ln(RSS/n) + k·ln n`` (Burnham & Anderson 2002), with n reads and k fitted
parameters (per-train start values included) summed over both directions of the
pooled fit.  The model with the lowest BIC is chosen: BIC penalizes the many node
values of the piecewise model more than AIC does.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .variation import direction_name


def information_criteria(rss: float, n: int, k: int) -> tuple[float, float]:
    rss = max(rss, 1e-300)
    ll = n * np.log(rss / n)
    return float(ll + 2 * k), float(ll + k * np.log(n))


def rank(fits: dict, kinds, mode: str = "pooled") -> pd.DataFrame:
    """Models by BIC over all fit units of ``mode`` (per device for multi-device data)."""
    rows = []
    for kind in kinds:
        parts = [f for (k, d, m), f in fits.items() if k == kind and m == mode]
        rss = float(sum(f.rss.sum() for f in parts))
        n = int(sum(f.n.sum() for f in parts))
        k = int(sum(f.k * f.rss.size for f in parts))
        aic, bic = information_criteria(rss, n, k)
        tss = float(sum(np.nansum((f.g - np.nanmean(f.g)) ** 2) for f in parts))
        crss = float(sum(f.curve_rss.sum() for f in parts))
        npts = int(sum(np.isfinite(f.g).sum() for f in parts))
        rows.append({"model": kind, "scope": mode, "method": parts[0].method, "n_points": n, "n_params": k,
                     "rss": rss, "rmse": float(np.sqrt(crss / npts)),
                     "r2": 1.0 - crss / tss if tss > 0 else float("nan"), "aic": aic, "bic": bic})
    df = pd.DataFrame(rows).sort_values("bic", kind="stable").reset_index(drop=True)
    df["delta_bic"] = df["bic"] - df["bic"].iloc[0]
    df["chosen"] = df.index == 0
    return df


def report_table(fits: dict, kinds, direction_params) -> pd.DataFrame:
    """One row per (model, direction, scope); device scope reports median and spread."""
    rows = []
    for (kind, d, mode), f in fits.items():
        if mode == "cycle":
            continue
        base = {"model": kind, "direction": direction_name(d), "scope": mode, "n_units": int(f.rss.size)}
        if mode == "pooled":
            aic, bic = information_criteria(float(f.rss[0]), int(f.n[0]), f.k)
            params = direction_params(kind, f)
            rows.append({**base, "n_points": int(f.n[0]), "n_params": f.k, "rmse_S": float(f.rmse[0]),
                         "r2": float(f.r2[0]), "aic": aic, "bic": bic,
                         **{k: v for k, v in params.items() if not isinstance(v, list)}})
        else:
            rows.append({**base, "n_points": int(np.median(f.n)), "n_params": f.k,
                         "rmse_S": float(np.median(f.rmse)), "r2": float(np.nanmedian(f.r2))})
    return pd.DataFrame(rows)
