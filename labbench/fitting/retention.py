"""Retention fits: drift at rest from a retention run (reads at times after programming).

Each device is fitted on its own, ``G(t) = G_inf + (G_0 − G_inf)·exp(−t/τ)`` (the model of
:mod:`labbench.physics.retention`), by ``scipy.optimize.least_squares`` on relative
residuals (read noise is relative, so they are homoscedastic); a run has tens of devices,
so a loop over scipy's solver is fast enough and keeps its convergence report.  Reads of
a retention run are independent (the drift itself is deterministic), so the Jacobian at
the solution gives each device's standard errors.  The population's parameters are the
device model's: τ (the geometric mean of the τ_i, a t interval over devices), the spread
of ln τ (χ² interval less the fits' own noise, :mod:`.uncertainty`) and the relaxation
level (the mean G_inf as a fraction of a base model's window).  One temperature cannot
separate τ_0 from E_a: the activation energy is the base model's, and τ is converted to
the base model's reference temperature with it.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from labbench.physics import retention as physics_retention
from labbench.physics.device_model import DeviceModel

from . import uncertainty
from .io import CELL_KEYS, DataError, deembed_reads, plain, read_table

NEEDS = ("cell (or row, col, side), time (s since programming) and conductance (S), one row per read; "
         "`labbench measure retention` writes them")


def _exp(v: float) -> float:
    """e^v for a confidence bound on a log scale: inf where the data leave the parameter
    unbounded (a standard error of hundreds in ln), not an OverflowError."""
    return math.exp(v) if v < 709.0 else math.inf


def is_retention(source) -> bool:
    """A table with reads against time and no pulse trains: a retention run."""
    try:
        df, _ = read_table(source)
    except DataError:
        return False
    cols = {c.lower() for c in df.columns}
    return "conductance" in cols and not ({"pulse", "direction"} & cols) and \
        bool({"time", "read"} & cols)


def load_retention(source) -> pd.DataFrame:
    """(device, time, conductance) rows of a retention run; a DataError says what is missing."""
    df, _ = read_table(source)
    df = df.rename(columns={c: c.lower() for c in df.columns})
    if "time" not in df.columns:
        raise DataError("a retention fit needs time stamps: column 'time' (s since programming) is "
                        f"missing (found {list(df.columns)}); the fitter needs {NEEDS}")
    if "conductance" not in df.columns:
        raise DataError(f"column 'conductance' is missing; the fitter needs {NEEDS}")
    keys = ["cell"] if "cell" in df.columns else [k for k in CELL_KEYS if k in df.columns]
    if not keys:
        raise DataError(f"no device column ('cell', or 'row', 'col', 'side'); the fitter needs {NEEDS}")
    out = pd.DataFrame({"time": pd.to_numeric(df["time"], errors="coerce"),
                        "conductance": pd.to_numeric(df["conductance"], errors="coerce")})
    for name in ("read_voltage", "read_gate"):   # how it was read: de-embedded by the fit
        if name in df.columns:
            out[name] = pd.to_numeric(df[name], errors="coerce")
    for name in ("time", "conductance"):
        bad = np.flatnonzero(~np.isfinite(out[name].to_numpy(float)))
        if bad.size:
            raise DataError(f"column {name!r} is not a finite number at row {bad[0]} (line {bad[0] + 2}); "
                            f"the fitter needs {NEEDS}")
    if (out["time"] < 0).any():
        raise DataError("column 'time' must be >= 0 s (time since programming)")
    if (out["conductance"] <= 0).any():
        raise DataError("column 'conductance' must be > 0 S")
    temp = pd.to_numeric(df["temperature"], errors="coerce") if "temperature" in df.columns else None
    if temp is not None and temp.isna().all():
        temp = None          # a run at the room's temperature (no bake): as if the column were absent
    if temp is not None:   # bakes at several temperatures: one device per (cell, T)
        out["temperature"] = temp
        bad = np.flatnonzero(~(out["temperature"].to_numpy(float) > 0))
        if bad.size:
            raise DataError(f"column 'temperature' must be a number > 0 (K) at row {bad[0]} (line {bad[0] + 2})")
        keys = keys + ["temperature"]
    out["device"] = pd.factorize(pd.MultiIndex.from_frame(df[keys].astype(str)))[0]
    if out.groupby("device")["time"].nunique().min() < 4:
        raise DataError("each device needs reads at >= 4 distinct times for a retention fit "
                        "(3 parameters: G_0, G_inf, tau)")
    if not (out["time"].max() > 0):
        raise DataError("every read is at time 0: no drift to fit")
    return out


@dataclass
class DeviceRetention:
    g0: float
    g_inf: float
    log_tau: float
    se: np.ndarray          # standard errors of (g0, g_inf, ln tau)
    dof: int
    converged: bool
    message: str
    rmse_rel: float


def _fit_curve(t: np.ndarray, g: np.ndarray, curve, g_inf_max: float | None = None) -> DeviceRetention:
    """G_0, G_inf and ln τ of one device's reads ``g`` at times ``t`` for the drift ``curve(p, t)``
    (p = [G_0, G_inf, ln τ]), by least squares on relative residuals (read noise is
    relative), with the Jacobian's standard errors; ``g_inf_max`` caps G_inf."""
    t, g = np.asarray(t, float), np.asarray(g, float)
    order = np.argsort(t)
    t, g = t[order], g[order]
    t_pos = t[t > 0]
    lo_tau, hi_tau = math.log(t_pos.min() / 10), math.log(t.max() * 1e4)

    def resid(p):
        return (curve(p, t) - g) / g

    gmax = float(g.max())
    x0 = [float(g[0]), float(g[-1]) * 0.9, math.log(max(t.max() / 3, t_pos.min()))]
    lower, upper = [0.0, 0.0, lo_tau], [4 * gmax, 4 * gmax if g_inf_max is None else g_inf_max, hi_tau]
    x0 = np.clip(x0, np.array(lower) + 1e-30, np.array(upper) - 1e-9)
    sol = least_squares(resid, x0, bounds=(lower, upper), x_scale=[gmax, gmax, 1.0], method="trf",
                        xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=2000)
    se, dof = uncertainty.jacobian_errors(sol.jac, sol.fun)
    return DeviceRetention(g0=float(sol.x[0]), g_inf=float(sol.x[1]), log_tau=float(sol.x[2]), se=se, dof=dof,
                           converged=bool(sol.success and sol.status > 0), message=str(sol.message),
                           rmse_rel=float(np.sqrt(np.mean(sol.fun ** 2))))


def fit_device_retention(t: np.ndarray, g: np.ndarray) -> DeviceRetention:
    """One device's exponential relaxation, ``G(t) = G_inf + (G_0 − G_inf)·exp(−t/τ)``."""
    return _fit_curve(t, g, lambda p, tt: p[1] + (p[0] - p[1]) * np.exp(-tt * np.exp(-p[2])))


def fit_device_state(t: np.ndarray, g: np.ndarray, beta: float, g_top: float) -> DeviceRetention:
    """One device's long-term drift at a given state factor β (the default chip's model,
    :func:`labbench.physics.retention.longterm`): ``G(t) = G_inf + u(t)·(g_top − G_inf)``
    with ``ln u + β·u = ln u0 + β·u0 − t/τ``."""
    def curve(p, tt):
        span = max(g_top - p[1], 1e-30)
        u0 = (p[0] - p[1]) / span
        return p[1] + physics_retention.longterm(np.full(tt.shape, u0), tt * np.exp(-p[2]), beta) * span

    return _fit_curve(t, g, curve, g_inf_max=0.999 * g_top)


#: the state factors β profiled (then refined between the best one's neighbours)
BETA_GRID = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0, 20.0, 30.0, 50.0)


def profile_state_factor(groups, g_top: float) -> tuple[float, list[float], list[DeviceRetention], list]:
    """β shared by every device: the profile of the summed squared relative residuals over β
    (each device's G_0, G_inf and τ refitted at each β), its minimum, and the 95 % interval
    where the profile stays within χ²₁(0.95)·σ² of it (σ² the residual variance at the
    minimum).  Returns (β, [lo, hi], the devices' fits at β, the profile)."""
    def total(beta):
        fits = [fit_device_state(tt, gg, beta, g_top) for tt, gg in groups]
        return sum(f.rmse_rel ** 2 * len(tt) for f, (tt, _) in zip(fits, groups)), fits

    prof = [(b, *total(b)) for b in BETA_GRID]
    k = int(np.argmin([p[1] for p in prof]))
    lo_b, hi_b = BETA_GRID[max(k - 1, 0)], BETA_GRID[min(k + 1, len(BETA_GRID) - 1)]
    prof += [(b, *total(b)) for b in np.linspace(lo_b, hi_b, 9)[1:-1]]
    prof.sort(key=lambda p: p[0])
    best = min(prof, key=lambda p: p[1])
    n_obs = sum(len(tt) for tt, _ in groups)
    s2 = best[1] / max(n_obs - 3 * len(groups) - 1, 1)
    # the interval from a parabola through the profile's five points nearest its minimum (a
    # grid alone would resolve it no finer than its spacing)
    near = sorted(prof, key=lambda p: abs(p[0] - best[0]))[:5]
    a2, a1, a0 = np.polyfit([p[0] for p in near], [p[1] for p in near], 2)
    span = [min(p[0] for p in near), max(p[0] for p in near)]
    if a2 > 0 and span[0] <= -a1 / (2 * a2) <= span[1]:
        b0 = -a1 / (2 * a2)   # the parabola's vertex, and every device refitted there
        half = math.sqrt(3.841 * s2 / a2)
        rss, fits = total(b0)
        prof.append((b0, rss, fits))
        best = (b0, rss, fits)
        ci = [max(b0 - half, 0.0), b0 + half]
    else:   # flat or concave: the data do not bound β
        ci = [0.0, float("inf")]
    return float(best[0]), [float(ci[0]), float(ci[1])], best[2], [(p[0], p[1]) for p in sorted(prof, key=lambda p: p[0])]


@dataclass
class RetentionFit:
    devices: list[DeviceRetention]
    params: dict               # name -> {value, se?, ci95, ...}
    d2d: dict                  # tau_d2d estimate (uncertainty.sigma_interval)
    device_model: DeviceModel
    notes: list[str] = field(default_factory=list)
    data: pd.DataFrame | None = field(default=None, repr=False)
    temperature: float = 300.0

    kind = "retention"
    warnings: list = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return all(d.converged for d in self.devices)

    def unconverged(self) -> list[str]:
        bad = [i for i, d in enumerate(self.devices) if not d.converged]
        return [f"retention: {len(bad)}/{len(self.devices)} devices ({self.devices[bad[0]].message})"] if bad else []

    def summary(self) -> dict:
        n = len(self.devices) or int(self.params.get("relaxation", {}).get("n_devices", 0))
        return {"model": "retention", "name": self.device_model.name, "temperature": self.temperature,
                "params": self.params, "d2d": {"tau": self.d2d},
                "convergence": {"converged": sum(d.converged for d in self.devices) if self.devices else n,
                                "devices": n,
                                "messages": sorted({d.message for d in self.devices})},
                "retention": self.device_model.retention.model_dump(), "notes": list(self.notes)}

    def quality_problems(self) -> list[str]:
        return []

    def to_yaml(self, path) -> str:
        return self.device_model.to_yaml(path)

    def plot(self, path) -> Path:
        from .plots import plot_retention

        return plot_retention(self, path)


def fit_retention(data, base: DeviceModel, name: str | None = None, source: str | None = None,
                  temperature: float | None = None) -> RetentionFit:
    """Fit drift at rest to a retention run; ``base`` supplies the rest of the device model
    (its window for the level, its activation energy and reference temperature)."""
    df = load_retention(data)
    # the device's own G, once for every fit below (the columns go: nothing de-embeds twice)
    df = deembed_reads(df, base).drop(columns=["read_voltage", "read_gate"], errors="ignore")
    ret0 = base.retention or physics_retention_default()
    temp = float(ret0.temperature if temperature is None else temperature)
    groups = list(df.groupby("device", sort=True))
    fits = [fit_device_retention(grp["time"].to_numpy(), grp["conductance"].to_numpy()) for _, grp in groups]
    n = len(fits)
    log_tau = np.array([f.log_tau for f in fits])
    se_log_tau = np.array([f.se[2] for f in fits])
    g_inf = np.array([f.g_inf for f in fits])
    notes: list[str] = []
    temps = (np.array([float(grp["temperature"].iloc[0]) for _, grp in groups]) if "temperature" in df.columns
             else np.full(n, temp))
    if "temperature" in df.columns and np.unique(temps).size == 1:
        if temperature is not None and abs(float(temperature) - temps[0]) > 0.5:
            raise DataError(f"--temperature {temperature:g} K contradicts the data's temperature column "
                            f"({temps[0]:g} K); leave --temperature out for a bake that records its temperature")
        temp = float(temps[0])          # one bake: at the temperature it recorded
    if np.unique(temps).size >= 2:
        if ret0.state_factor:   # the model's state-dependent drift: β profiled over all devices first
            g_top = float(base.gmax)
            beta, beta_ci, fits, prof = profile_state_factor(
                [(grp["time"].to_numpy(float), grp["conductance"].to_numpy(float)) for _, grp in groups], g_top)
            fit = _fit_arrhenius(df, fits, temps, base, ret0.model_copy(update={"state_factor": beta}), name, source,
                                 data)
            resolved = beta_ci[1] < BETA_GRID[-1] and beta_ci[1] - beta_ci[0] < max(3 * beta, 3.0)
            fit.params["state_factor"] = {"value": beta, "ci95": beta_ci, "resolved": bool(resolved),
                                          "profile": [[b, r] for b, r in prof]}
            fit.notes.insert(0, f"state factor beta = {beta:.3g} (95 % {beta_ci[0]:.3g} .. {beta_ci[1]:.3g}, profile "
                                f"over {len(prof)} values, every device refitted at each)"
                             + ("" if resolved else "; not resolved: the bakes do not decay far enough to "
                                                    "separate states (bake longer or hotter)"))
            if not resolved:
                ret = fit.device_model.retention.model_copy(update={"state_factor": ret0.state_factor})
                fit.device_model = DeviceModel.model_validate(
                    fit.device_model.model_copy(update={"retention": ret}).to_dict())
            return fit
        return _fit_arrhenius(df, fits, temps, base, ret0, name, source, data)
    if ret0.relaxation is not None:
        return _fit_relaxation_run(df, base, ret0, name, source, data, float(temps[0]))
    temp = float(temps[0])
    # τ at the measured temperature, over devices: the mean of ln τ_i and its t interval
    if n >= 2:
        m, s = float(log_tau.mean()), float(log_tau.std(ddof=1) / math.sqrt(n))
        lo, hi = uncertainty.t_interval(m, s, n - 1)
    else:
        m, s, (lo, hi) = float(log_tau[0]), float(se_log_tau[0]), uncertainty.t_interval(log_tau[0], se_log_tau[0], fits[0].dof)
    to_ref = math.exp(-ret0.activation_energy / physics_retention.K_B * (1 / temp - 1 / ret0.t_ref_temperature))
    tau = {"value": math.exp(m), "se_ln": s, "ci95": [_exp(lo), _exp(hi)], "temperature": temp,
           "at_reference": {"value": math.exp(m) * to_ref, "ci95": [_exp(lo) * to_ref, _exp(hi) * to_ref],
                            "temperature": ret0.t_ref_temperature}}
    span = base.gmax - base.gmin
    gm, gs = float(g_inf.mean()), float(g_inf.std(ddof=1) / math.sqrt(n)) if n >= 2 else float(fits[0].se[1])
    glo, ghi = uncertainty.t_interval(gm, gs, max(n - 1, 1))
    clip = lambda v: float(min(max((v - base.gmin) / span, 0.0), 1.0))   # noqa: E731
    level = {"value": clip(gm), "ci95": [clip(glo), clip(ghi)], "g_inf_S": gm, "g_inf_ci95_S": [glo, ghi]}
    d2d = uncertainty.sigma_interval(log_tau, float(np.mean(se_log_tau ** 2)))
    if d2d["resolved"]:
        tau_d2d = round(d2d["sigma"], 6)
    else:
        tau_d2d = ret0.tau_d2d
        notes.append(uncertainty.not_resolved_note("tau", d2d, None) + "; the base model's value is kept")
    bad = [i for i, f in enumerate(fits) if not f.converged]
    notes.append(f"solver: scipy least_squares (trf) converged for {n - len(bad)}/{n} devices"
                 + (f"; not converged: devices {bad[:10]} ({fits[bad[0]].message})" if bad else ""))
    wide = int(np.sum(se_log_tau > 1.0))
    if wide:
        notes.append(f"{wide}/{n} devices have ln tau uncertain by > 1 (the run is short against their tau: "
                     f"measure longer, or bake hotter)")
    notes.append(f"activation energy not fitted (one temperature, {temp:g} K): the base model's "
                 f"{ret0.activation_energy:g} eV is kept and converts tau to {ret0.t_ref_temperature:g} K")
    params = {"tau": tau, "level": level,
              "tau_d2d": ({"value": d2d["sigma"], "ci95": d2d["ci95"], "resolved": True} if d2d["resolved"]
                          else {"resolved": False, "upper95": d2d["ci95"][1], "n_devices": n,
                                "note": notes[0]})}
    new_ret = ret0.model_copy(update={"tau": float(tau["at_reference"]["value"]), "level": level["value"],
                                      "tau_d2d": float(tau_d2d)})
    fit_block = {"tool": "labbench.fitting.fit_retention",
                 "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "source": str(source if source is not None else (data if not isinstance(data, pd.DataFrame) else "DataFrame")),
                 "model": "retention", "n_devices": n, "n_reads": int(len(df)),
                 "duration_s": float(df["time"].max()), "params": params,
                 "converged": f"{n - len(bad)}/{n}", "notes": notes}
    dm = base.model_copy(update={"name": name or f"{base.name}_retention", "retention": new_ret,
                                 "fit": _plain_kept(fit_block), "provenance": _provenance(base, fit_block)})
    dm = DeviceModel.model_validate(dm.to_dict())   # validated as the file will be
    return RetentionFit(devices=fits, params=_plain_kept(params), d2d=_plain_kept(d2d), device_model=dm, notes=notes,
                        data=df, temperature=temp)


def _fit_relaxation_run(df, base, ret0, name, source, data, temp) -> RetentionFit:
    """A run at one temperature of a model with post-program relaxation: the relaxation is
    what hours at the operating temperature show; the long-term drift (years) is not, so
    its parameters are the base model's, said in the notes (bake at several temperatures,
    a ``temperature`` column, to fit τ and E_a)."""
    rf = fit_relaxation(df, base)
    n = int(rf.params["n_devices"])
    notes = list(rf.notes)
    kept = ret0.model_dump(exclude={"relaxation"})
    notes.append(f"long-term drift not fitted (one temperature, {temp:g} K, {df['time'].max():.3g} s): the base "
                 f"model's tau = {ret0.tau:.3g} s, state_factor = {ret0.state_factor:g} and E_a = "
                 f"{ret0.activation_energy:g} eV are kept")
    params = {"relaxation": rf.params,
              "tau": {"value": ret0.tau, "ci95": [ret0.tau, ret0.tau], "fitted": False, "temperature": temp},
              "level": {"value": ret0.level, "ci95": [ret0.level, ret0.level], "fitted": False},
              "tau_d2d": {"resolved": False, "upper95": float("inf"), "n_devices": n, "note": notes[-1]}}
    new_ret = ret0.model_copy(update={"relaxation": rf.relaxation})
    fit_block = {"tool": "labbench.fitting.fit_retention",
                 "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "source": str(source if source is not None else (data if not isinstance(data, pd.DataFrame) else "DataFrame")),
                 "model": "retention", "n_devices": n, "n_reads": int(len(df)),
                 "duration_s": float(df["time"].max()), "params": params, "converged": f"{n}/{n}",
                 "notes": notes, "kept_from_base": sorted(kept)}
    dm = base.model_copy(update={"name": name or f"{base.name}_retention", "retention": new_ret,
                                 "fit": _plain_kept(fit_block), "provenance": _provenance(base, fit_block)})
    dm = DeviceModel.model_validate(dm.to_dict())
    res = RetentionFit(devices=[], params=_plain_kept(params), d2d={}, device_model=dm, notes=notes, data=df,
                       temperature=temp)
    res.relaxation_fit = rf
    return res


def _group_means(log_tau, se, temps):
    """(temperatures, mean ln τ, its standard error, devices) per temperature."""
    out = []
    for t in np.unique(temps):
        v = log_tau[temps == t]
        s = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size >= 2 else float(se[temps == t][0])
        out.append((float(t), float(v.mean()), s, int(v.size)))
    return out


def _fit_arrhenius(df, fits, temps, base, ret0, name, source, data) -> RetentionFit:
    """Runs at several temperatures: ln τ = ln τ_ref + (E_a/k)·(1/T − 1/T_ref), a weighted
    least-squares line through the per-temperature means of ln τ_i (weights 1/SE²), with
    the covariance (XᵀWX)⁻¹ scaled by the reduced χ² when it exceeds 1."""
    log_tau = np.array([f.log_tau for f in fits])
    se = np.array([f.se[2] for f in fits])
    rows = _group_means(log_tau, se, temps)
    t_ref = ret0.t_ref_temperature
    T = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    w = 1.0 / np.maximum(np.array([r[2] for r in rows]), 1e-12) ** 2
    X = np.column_stack([np.ones_like(T), (1.0 / T - 1.0 / t_ref) / physics_retention.K_B])
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    beta = cov @ X.T @ (w * y)
    dof = len(rows) - 2
    if dof > 0:
        chi2 = float(np.sum(w * (y - X @ beta) ** 2)) / dof
        cov = cov * max(chi2, 1.0)
    # the weights are the groups' own standard errors (from their devices), so the normal
    # quantile; a misfit between temperatures widens the interval through the χ² scaling
    q = 1.959964
    se_b = np.sqrt(np.diag(cov))
    tau_ref = {"value": math.exp(beta[0]), "se_ln": float(se_b[0]), "temperature": t_ref,
               "ci95": [_exp(beta[0] - q * se_b[0]), _exp(beta[0] + q * se_b[0])]}
    ea = {"value": float(beta[1]), "se": float(se_b[1]), "ci95": [float(beta[1] - q * se_b[1]), float(beta[1] + q * se_b[1])]}
    centred = np.concatenate([log_tau[temps == r[0]] - r[1] for r in rows])
    n, groups = centred.size, len(rows)
    d2d = (uncertainty.sigma_interval_from(float(centred @ centred) / max(n - groups, 1), n - groups + 1,
                                           float(np.mean(se ** 2))) if n - groups >= 2
           else {"sigma": float("nan"), "ci95": [0.0, float("inf")], "resolved": False, "n_devices": n})
    notes = [f"Arrhenius fit over {groups} temperatures ({', '.join(f'{t:g}' for t in T)} K): "
             f"E_a = {ea['value']:.3g} eV (95 % {ea['ci95'][0]:.3g} .. {ea['ci95'][1]:.3g})"]
    tau_d2d = round(d2d["sigma"], 6) if d2d["resolved"] else ret0.tau_d2d
    if not d2d["resolved"]:
        notes.append(uncertainty.not_resolved_note("tau", d2d, None) + "; the base model's value is kept")
    bad = [i for i, f in enumerate(fits) if not f.converged]
    notes.append(f"solver: scipy least_squares (trf) converged for {n - len(bad)}/{n} devices")
    span = base.gmax - base.gmin
    g_inf = np.array([f.g_inf for f in fits])
    gm, gs = float(g_inf.mean()), float(g_inf.std(ddof=1) / math.sqrt(n))
    glo, ghi = uncertainty.t_interval(gm, gs, n - 1)
    clip = lambda v: float(min(max((v - base.gmin) / span, 0.0), 1.0))   # noqa: E731
    level = {"value": clip(gm), "ci95": [clip(glo), clip(ghi)], "g_inf_S": gm, "g_inf_ci95_S": [glo, ghi]}
    params = {"tau": {**tau_ref, "at_reference": dict(tau_ref)}, "activation_energy": ea, "level": level,
              "tau_per_temperature": [{"temperature": r[0], "tau": math.exp(r[1]), "se_ln": r[2], "devices": r[3]}
                                      for r in rows],
              "tau_d2d": ({"value": d2d["sigma"], "ci95": d2d["ci95"], "resolved": True} if d2d["resolved"]
                          else {"resolved": False, "upper95": d2d["ci95"][1], "n_devices": n, "note": notes[1]})}
    # the range the law was measured over: below the coolest bake it is an extrapolation
    # (what retention qualification does; `labbench evaluate` says so beyond it)
    measured = (float(min(r[0] for r in rows)), float(max(r[0] for r in rows)))
    new_ret = ret0.model_copy(update={"tau": float(tau_ref["value"]), "level": level["value"],
                                      "tau_d2d": float(tau_d2d),
                                      "activation_energy": float(min(max(ea["value"], 0.0), 5.0)),
                                      "validated_temperature": measured})
    fit_block = {"tool": "labbench.fitting.fit_retention",
                 "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "source": str(source if source is not None else (data if not isinstance(data, pd.DataFrame) else "DataFrame")),
                 "model": "retention", "n_devices": n, "n_reads": int(len(df)), "params": params,
                 "converged": f"{n - len(bad)}/{n}", "notes": notes}
    dm = base.model_copy(update={"name": name or f"{base.name}_retention", "retention": new_ret,
                                 "fit": _plain_kept(fit_block), "provenance": _provenance(base, fit_block)})
    dm = DeviceModel.model_validate(dm.to_dict())
    return RetentionFit(devices=fits, params=_plain_kept(params), d2d=_plain_kept(d2d), device_model=dm, notes=notes,
                        data=df, temperature=float(t_ref))


def _provenance(base: DeviceModel, fit_block: dict) -> dict[str, str]:
    """The base model's provenance with the retention block now fitted (and from what)."""
    prov = dict(base.provenance or {})
    params = fit_block.get("params", {})
    src = f"{fit_block['source']}: {fit_block['n_devices']} devices"
    if params.get("tau", {}).get("fitted") is False:
        prov["retention"] = (f"relaxation fitted from {src}; long-term drift (tau, E_a, state factor) inherited from "
                             f"{base.name}: not measured (bake at two or more temperatures)")
    elif "activation_energy" in params:
        prov["retention"] = f"fitted from {src}, Arrhenius over bakes"
        temps = [r["temperature"] for r in params.get("tau_per_temperature", [])]
        if temps:
            prov["retention.validated_temperature"] = (f"the bakes of {fit_block['source']} ({min(temps):g}-"
                                                       f"{max(temps):g} K); below them tau is extrapolated")
    else:
        prov["retention"] = (f"fitted from {src} at one temperature; E_a inherited from {base.name}: not measured "
                             f"(bake at two or more temperatures)")
    return prov


def physics_retention_default():
    from labbench.physics.device_model import Retention

    return Retention(tau=1e5)


def _plain_kept(o):
    # retention results keep non-finite values (an unresolved spread's upper bound, inf)
    return plain(o, nonfinite_as_none=False)


# -- fast post-programming relaxation (physics.retention: σ(w)·ξ·f(t) in ln G) -------------
@dataclass
class RelaxationFit:
    params: dict               # name -> {value, ci95, ...}
    relaxation: object         # the fitted labbench.physics.device_model.Relaxation
    b: np.ndarray              # per-device displacement at saturation (ln G)
    w: np.ndarray              # per-device state (fraction of the nominal window)
    notes: list[str]


def fit_relaxation(df: pd.DataFrame, base: DeviceModel) -> RelaxationFit:
    """σ_hrs, σ_lrs, t0 and t_sat from reads after programming at one temperature.

    Each device is ``ln G(t) = c_i + b_i·f(t; t0, t_sat)`` plus read noise: for a given
    (t0, t_sat) the (c_i, b_i) are a linear fit, so the shape is fitted by variable
    projection (``least_squares`` over ln t0, ln t_sat on the projected residuals; their
    Jacobian gives the standard errors).  Then ``b_i ~ N(0, σ(w_i)² + se_i²)`` with
    ``σ(w) = σ_hrs + (σ_lrs − σ_hrs)·w``, w_i the device's state from c_i: maximum
    likelihood, intervals from the observed information (normal quantile).  The run must
    last past t_sat, or t_sat is only bounded below (said in the notes)."""
    from labbench.physics.device_model import Relaxation

    # ln of the device's own G: reads that say how they were read are de-embedded from the
    # read transistor and lines (io.deembed_reads)
    df = deembed_reads(df, base)
    groups = [(grp["time"].to_numpy(float), np.log(grp["conductance"].to_numpy(float)))
              for _, grp in df.groupby("device", sort=True)]
    t_all = np.concatenate([t for t, _ in groups])
    t_pos = t_all[t_all > 0]
    lo = np.log([max(t_pos.min() / 100, 1e-4), t_pos.min()])
    hi = np.log([t_pos.max(), 1e8])

    def shape(p, t):
        t0, ts = math.exp(p[0]), math.exp(p[1])
        return np.minimum(np.log1p(t / t0) / math.log1p(ts / t0), 1.0)

    def project(p):
        res, coef = [], []
        for t, y in groups:
            X = np.column_stack([np.ones_like(t), shape(p, t)])
            beta, *_ = np.linalg.lstsq(X, y, rcond=None)
            res.append(y - X @ beta)
            coef.append(beta)
        return np.concatenate(res), np.array(coef)

    rel0 = (base.retention.relaxation if base.retention is not None and base.retention.relaxation is not None
            else Relaxation(sigma_hrs=0.05, sigma_lrs=0.02))
    x0 = np.clip(np.log([rel0.t0, rel0.t_sat]), lo + 1e-6, hi - 1e-6)
    if x0[1] <= x0[0]:
        x0[1] = min(x0[0] + 2.0, hi[1] - 1e-6)
    sol = least_squares(lambda p: project(p)[0], x0, bounds=(lo, hi), method="trf", xtol=1e-10, ftol=1e-12,
                        diff_step=1e-4)
    se_p, dof = uncertainty.jacobian_errors(sol.jac, sol.fun)
    res, coef = project(sol.x)
    s2 = float(res @ res) / max(dof, 1)
    # each device's b_i standard error from its own (c, b) fit at the fitted shape
    se_b = []
    for t, _ in groups:
        X = np.column_stack([np.ones_like(t), shape(sol.x, t)])
        se_b.append(math.sqrt(s2 * np.linalg.inv(X.T @ X)[1, 1]))
    se_b = np.array(se_b)
    b = coef[:, 1]
    w = np.clip((np.exp(coef[:, 0]) - base.gmin) / (base.gmax - base.gmin), 0.0, 1.0)

    def nll(q):
        sig = q[0] + (q[1] - q[0]) * w
        var = sig ** 2 + se_b ** 2
        return 0.5 * float(np.sum(np.log(var) + b ** 2 / var))

    from scipy.optimize import minimize

    start = np.array([max(float(np.std(b)), 1e-3)] * 2)
    opt = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 4000})
    q = np.abs(opt.x)
    h = 1e-4 * max(q.max(), 1e-3)
    H = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            e_i, e_j = np.eye(2)[i] * h, np.eye(2)[j] * h
            H[i, j] = (nll(q + e_i + e_j) - nll(q + e_i - e_j) - nll(q - e_i + e_j) + nll(q - e_i - e_j)) / (4 * h * h)
    notes = []
    z = 1.959964
    try:
        cov_q = np.linalg.inv(H)
        se_q = np.sqrt(np.clip(np.diag(cov_q), 0, None))
    except np.linalg.LinAlgError:
        se_q = np.full(2, np.inf)
    if np.ptp(w) < 0.3:
        notes.append(f"relaxation: the devices span states w = {w.min():.2f} .. {w.max():.2f} only, so sigma_hrs and "
                     f"sigma_lrs are extrapolated (program several levels: `labbench measure retention levels=3`)")
    t0, ts = (math.exp(v) for v in sol.x)
    q_t = uncertainty.t_interval(0.0, 1.0, max(dof, 1))[1]   # Student quantile for the shape
    params = {
        "t0": {"value": t0, "se_ln": float(se_p[0]),
               "ci95": [_exp(sol.x[0] - q_t * se_p[0]), _exp(sol.x[0] + q_t * se_p[0])]},
        "t_sat": {"value": ts, "se_ln": float(se_p[1]),
                  "ci95": [_exp(sol.x[1] - q_t * se_p[1]), _exp(sol.x[1] + q_t * se_p[1])]},
        "sigma_hrs": {"value": float(q[0]), "se": float(se_q[0]),
                      "ci95": [float(max(q[0] - z * se_q[0], 0.0)), float(q[0] + z * se_q[0])]},
        "sigma_lrs": {"value": float(q[1]), "se": float(se_q[1]),
                      "ci95": [float(max(q[1] - z * se_q[1], 0.0)), float(q[1] + z * se_q[1])]},
        "n_devices": len(groups), "read_noise_ln": math.sqrt(s2),
    }
    if ts >= 0.5 * t_pos.max():
        notes.append(f"relaxation: t_sat ({ts:.3g} s) is near the end of the run ({t_pos.max():.3g} s): "
                     "measure longer to pin it down")
    s_hrs, s_lrs = min(float(q[0]), 1.0), min(float(q[1]), 1.0)
    s_lrs = min(s_lrs, s_hrs)   # the model's σ(G) must not grow with G
    rel = Relaxation(sigma_hrs=round(s_hrs, 6), sigma_lrs=round(s_lrs, 6), t0=t0, t_sat=max(ts, t0 * 1.001))
    return RelaxationFit(params=_plain_kept(params), relaxation=rel, b=b, w=w, notes=notes)
