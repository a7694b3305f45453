"""How the SET step depends on gate, amplitude and width: fit of the 1T1R drive.

The pulse-train procedure with ``gates``/``amplitudes``/``widths`` measures SET trains
at several conditions (:mod:`procedures.pulse_train`).  All trains are fitted at once
with the chip's own model (:mod:`labbench.physics.kinetics`): the NeuroSim SET curve at
the nominal pulse (Gmin, Gmax, A), each pulse worth ``m(V, t)`` nominal pulses
(switching time τ at the nominal voltage, v0 per e-fold), and a current-limited ceiling
``k(V_G − V_T)² / v_compliance`` that compresses the range below a low gate.

Only ``k / v_compliance`` is seen by SET trains, so ``v_compliance`` and ``V_T`` are taken
from the device model (an I-V plateau measures ``k`` itself); the reads are de-embedded
through the model's read transistor and lines (:func:`labbench.fitting.io.deembed_reads`).

The fit is a one-step regression (each read predicted from the one before, through the
mean step: the chip's per-pulse noise is unbiased), which a trajectory fit is not: there each
pulse's noise carries into every later point and biases the bounds and the gate's k.
Intervals: 95 %, from a cluster-robust (sandwich, CR2) covariance with each train a cluster
and a t quantile on the effective number of trains behind each parameter.
Device-to-device spread is absorbed by per-device Gmin, Gmax and A (reported as their
median and its standard error); v0, τ and k are shared.  A shared parameter whose column
of the Jacobian is ~0 (a sweep that was not measured, or gates so high that no ceiling
shows) is reported as not resolved and kept at the model's value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import least_squares

from labbench.physics import circuit
from labbench.physics.device_model import DeviceModel, Kinetics

from .io import DataError, deembed_reads, read_noise_scale
from .uncertainty import RESOLVED_FACTOR

Z95 = 1.959963984540054


@dataclass
class Trains:
    g: np.ndarray          # (T, P+1) conductance (R_on corrected), NaN where missing
    gate: np.ndarray       # (T,)
    amplitude: np.ndarray  # (T,)
    width: np.ndarray      # (T,)
    condition: np.ndarray  # (T,)
    device: np.ndarray     # (T,) index of the train's device, 0..D-1
    read_scale: np.ndarray | None = None   # (T, P+1) S per unit relative read noise (io.read_noise_scale)


@dataclass
class SwitchingFit:
    params: dict[str, float]
    interval: dict[str, tuple[float, float]]
    resolved: dict[str, bool]
    fixed: dict[str, float]
    conditions: pd.DataFrame
    rmse: float
    notes: list[str] = field(default_factory=list)

    @property
    def tau(self) -> float:
        return 10.0 ** self.params["log10_tau"]

    def summary(self) -> dict:
        out = {"params": {}, "fixed": dict(self.fixed), "rmse_S": self.rmse, "notes": list(self.notes)}
        for k, v in self.params.items():
            lo, hi = self.interval[k]
            if k == "log10_tau":
                k, v, lo, hi = "tau", 10 ** v, 10 ** lo, 10 ** hi
            out["params"][k] = {"value": v, "ci95": [lo, hi], "resolved": self.resolved.get(k, self.resolved.get("log10_tau"))}
        out["conditions"] = self.conditions.to_dict(orient="records")
        return out

    def apply_to(self, model: DeviceModel) -> DeviceModel:
        """``model`` with the fitted transistor k and SET kinetics (resolved values only)."""
        sw = model.switching
        kin = sw.set_kinetics.model_dump()
        kin.update(amplitude=self.fixed["amplitude_nominal"], width=self.fixed["width_nominal"])
        if self.resolved["v0"]:
            kin["v0"] = self.params["v0"]
        if self.resolved["log10_tau"]:
            kin["tau"] = self.tau
        upd = {"set_kinetics": Kinetics(**kin)}
        if self.resolved["transistor_k"]:
            upd["transistor_k"] = self.params["transistor_k"]
        return model.model_copy(update={"switching": sw.model_copy(update=upd)})


def sweep_table(source) -> pd.DataFrame | None:
    """The raw tidy table when it holds a SET sweep (several conditions with gate,
    amplitude and width columns), else None."""
    from .io import read_table

    df, _ = read_table(source)
    df = df.rename(columns={c: str(c).strip().lower() for c in df.columns})
    if not {"condition", "gate", "amplitude", "width"} <= set(df.columns) or df["condition"].nunique() < 2:
        return None
    return df


def set_trains(data: pd.DataFrame, model: DeviceModel) -> Trains:
    """SET trains of tidy pulse-train data, one row per (cell, condition, cycle)."""
    need = {"direction", "pulse", "conductance", "cycle", "gate", "amplitude", "width"}
    missing = need - set(data.columns)
    if missing:
        raise DataError(f"switching fit needs columns {sorted(missing)} (pulse-train with gate/amplitude/width)")
    # the read includes the transistor and lines in series: the device's own G (io.deembed_reads)
    raw = data[data["direction"].astype(str).str.lower() == "set"].copy()
    df = deembed_reads(raw, model)
    df["_scale"] = read_noise_scale(raw, df, model) if not df.empty else []
    if df.empty:
        raise DataError("no SET trains in the data")
    cell = df["cell"] if "cell" in df else df["row"].astype(str) + ":" + df["col"].astype(str) + ":" + df["side"].astype(str)
    df["_cell"] = cell
    if "condition" not in df:
        df["condition"] = df.groupby(["gate", "amplitude", "width"]).ngroup()
    keys = ["_cell", "condition", "cycle"]
    wide = df.pivot_table(index=keys, columns="pulse", values="conductance", aggfunc="first")
    scale = df.pivot_table(index=keys, columns="pulse", values="_scale", aggfunc="first").loc[wide.index, wide.columns]
    meta = df.groupby(keys)[["gate", "amplitude", "width"]].first().loc[wide.index]
    g = wide.to_numpy(float)
    cells = wide.index.get_level_values("_cell")
    return Trains(g=g, gate=meta["gate"].to_numpy(float), amplitude=meta["amplitude"].to_numpy(float),
                  width=meta["width"].to_numpy(float),
                  condition=np.asarray(wide.index.get_level_values("condition"), int),
                  device=pd.factorize(cells)[0], read_scale=scale.to_numpy(float))


def one_pulse(theta, g, tr: Trains, fixed: dict, noise: bool = False):
    """Expected conductance after one SET pulse from ``g`` (T, L): the chip's mean step on
    the (compressed) range.  ``noise``: also the σ of the pulse's write noise (the model's
    additive σ on the compressed range, times √m for a pulse worth m < 1 nominal pulses,
    shrunk within 3σ of a bound as the chip does: physics.models.UpdateModel.pulse_once)."""
    col = (slice(None), None)
    g_min, g_max, a, b = (np.asarray(x, float)[col] if np.ndim(x) else x for x in theta[:4])
    v0, log10_tau, k = theta[4:]
    tau = 10.0 ** log10_tau
    span = g_max - g_min
    ceiling = (k * np.maximum(tr.gate - fixed["v_gate_threshold"], 0.0) ** 2 / fixed["v_compliance"])[col]
    s = np.clip((ceiling - g_min) / b, 1e-6, 1.0)   # the asymptote lands on the ceiling, as in the Chip
    amp, width = tr.amplitude[col], tr.width[col]
    # the device voltage of this pulse and of the nominal one, the 1T1R circuit solved with
    # the transistor of this k (physics.circuit, as the chip does)
    cell = SimpleNamespace(v_gate_threshold=fixed["v_gate_threshold"], transistor_k=k,
                           on_resistance=fixed["on_resistance"])
    gg = np.maximum(g, 1e-12)
    v_dev = np.empty(np.broadcast_shapes(np.shape(gg), np.shape(amp)))
    for c in np.unique(np.stack([tr.amplitude, tr.gate], 1), axis=0):
        rows = (tr.amplitude == c[0]) & (tr.gate == c[1])
        v_dev[rows] = circuit.device_voltage(cell, gg[rows], c[0], c[1])
    v_nom = circuit.device_voltage(cell, gg, fixed["amplitude_nominal"], fixed["gate_nominal"])
    m = np.log1p((width / tau) * np.exp((v_dev - v_nom) / v0)) / np.log1p(fixed["width_nominal"] / tau)
    dist = np.maximum((g - g_min) / s, 0.0)
    g_new = g_min + np.minimum(b - (b - dist) * np.exp(-m / a), span) * s
    # the chip's per-pulse noise is unbiased (it shrinks near a bound instead of being
    # clipped: physics.models.toward), so the mean read after a pulse is the mean step
    out = np.where(g < ceiling, np.maximum(g_new, g), g)
    if not noise:
        return out
    room = np.minimum(out - np.minimum(g_min, g), np.maximum(g_min + span * s, g) - out) / 3.0
    sigma = fixed.get("c2c_abs", 0.0) * span * s * np.sqrt(np.clip(m, 0.0, 1.0))
    return out, np.where(g < ceiling, np.clip(np.minimum(sigma, room), 0.0, None), 0.0)


def filtered_states(theta, tr: Trains, fixed: dict) -> np.ndarray:
    """The state before each pulse given the reads up to it (T, P): an extended Kalman filter
    along each train with the model's mean step, the write noise of each pulse and the read
    noise of each read (``fixed['read_noise']`` × ``tr.read_scale``).

    Why: a read is the state plus its noise, so regressing each read on the one before
    (errors in the regressor) attenuates how the step depends on the state; with the chip's
    1 % reads that biased τ −15 % and k +1.7 % (32 devices × 3 cycles, reads alone, no write
    noise).  The filtered state uses only the reads up to it, so the next read's error is
    orthogonal to it and the one-step regression on it is unbiased to first order."""
    g = tr.g
    T, L = g.shape
    rv = (fixed.get("read_noise", 0.0) * (tr.read_scale if tr.read_scale is not None else g)) ** 2
    rv = np.where(np.isfinite(rv), rv, 0.0)
    est = np.empty((T, L - 1))
    x = np.where(np.isfinite(g[:, 0]), g[:, 0], np.nanmedian(g[:, 0]))
    var = rv[:, 0].copy()
    h = 1e-4 * float(np.nanmax(g))
    for k in range(L - 1):
        est[:, k] = x
        pred, sig = one_pulse(theta, x[:, None], tr, fixed, noise=True)
        slope = (one_pulse(theta, x[:, None] + h, tr, fixed)[:, 0] - pred[:, 0]) / h
        pred, sig = pred[:, 0], sig[:, 0]
        prior = slope * slope * var + sig * sig
        obs = g[:, k + 1]
        seen = np.isfinite(obs)
        gain = np.where(seen, prior / np.maximum(prior + rv[:, k + 1], 1e-300), 0.0)
        x = pred + gain * np.where(seen, obs - pred, 0.0)
        var = (1.0 - gain) * prior
    return est


def predict(theta, tr: Trains, fixed: dict) -> np.ndarray:
    """Mean SET trajectories (T, P+1) from each train's first read (for plots and reports)."""
    out = np.empty_like(tr.g)
    out[:, 0] = np.where(np.isfinite(tr.g[:, 0]), tr.g[:, 0], np.median(theta[0]))
    for p in range(1, tr.g.shape[1]):
        out[:, p] = one_pulse(theta, out[:, p - 1:p], tr, fixed)[:, 0]
    return out


def fit_switching(data: pd.DataFrame, model: DeviceModel, pmax: float | None = None) -> SwitchingFit:
    """Fit gate, amplitude and width dependence of the SET step (see module doc).

    ``model`` supplies what SET trains cannot separate (V_T, v_compliance, R_on), the
    per-pulse additive noise (``update.c2c_abs``, as :func:`fit_device` measured it: the
    mean of clipped noisy pulses is followed, not the noise-free curve) and the starting
    values; ``pmax`` is NeuroSim's Pmax (default: the model's ``pmax_set``)."""
    sw = model.switching
    tr = set_trains(data, model)
    nominal = tr.condition == tr.condition.min()
    fixed = {"v_gate_threshold": sw.v_gate_threshold, "v_compliance": sw.v_compliance,
             "on_resistance": sw.on_resistance,
             "amplitude_nominal": float(np.median(tr.amplitude[nominal])),
             "width_nominal": float(np.median(tr.width[nominal])),
             "gate_nominal": float(np.median(tr.gate[nominal])),
             "pmax": float(pmax or getattr(model.update, "pmax_set", tr.g.shape[1] - 1)),
             "c2c_abs": float(getattr(model.update, "c2c_abs", 0.0)),
             "read_noise": float(model.read.noise_rel)}
    g0 = float(np.nanmedian(tr.g[:, 0]))
    g_end = float(np.nanpercentile(tr.g, 95))
    D = int(tr.device.max()) + 1
    # shared: v0, log10 τ, k; per device (nuisance, D2D): Gmin, Gmax (where the chip clips),
    # A and B (the asymptote Gmin + B): B apart from Gmax because a short nominal train does
    # not reach Gmax but a strong pulse does, and the ceiling is set on the asymptote
    n_sh, NP = 3, 4
    x0 = np.concatenate([[sw.set_kinetics.v0, np.log10(sw.set_kinetics.tau), sw.transistor_k],
                         np.full(D, g0), np.full(D, g_end), np.full(D, fixed["pmax"] / 2),
                         np.full(D, 1.2 * (g_end - g0))])
    lo = np.concatenate([[0.005, -10.0, 1e-8], np.zeros(D), np.full(D, g0), np.full(D, 0.05 * fixed["pmax"]),
                         np.full(D, 0.05 * g_end)])
    hi = np.concatenate([[2.0, 2.0, 1.0], np.full(D, g_end), np.full(D, 10 * g_end), np.full(D, 50 * fixed["pmax"]),
                         np.full(D, 20 * g_end)])
    scale = np.concatenate([[0.1, 1.0, sw.transistor_k], np.full(D, g0), np.full(D, g_end), np.full(D, fixed["pmax"]),
                            np.full(D, g_end)])
    prior = x0[:n_sh].copy()   # the model's v0, log10 τ, k: kept where the data do not see them
    x0 = np.clip(x0, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
    # one-step regression: each read predicted from the read before it.  With write noise
    # well above read noise (fit_device's choose_method says which), this is unbiased where
    # a trajectory fit carries each pulse's noise into every later point
    before, after = tr.g[:, :-1], tr.g[:, 1:]
    ok = np.isfinite(before) & np.isfinite(after)
    dev = tr.device

    def unpack(x):
        v = x * scale
        per = [v[n_sh + j * D:n_sh + (j + 1) * D][dev] for j in range(NP)]
        return (*per, v[0], v[1], v[2])

    def resid(u):
        return (one_pulse(unpack(u), np.where(ok, before, g0), tr, fixed) - after)[ok] / g_end

    rows_dev = np.broadcast_to(dev[:, None], ok.shape)[ok]
    sparsity = np.zeros((rows_dev.size, x0.size), bool)
    sparsity[:, :n_sh] = True
    for j in range(NP):
        sparsity[np.arange(rows_dev.size), n_sh + j * D + rows_dev] = True
    res = least_squares(resid, x0 / scale, bounds=(lo / scale, hi / scale), x_scale="jac", method="trf",
                        jac_sparsity=sparsity)
    if fixed["read_noise"] > 0 and fixed["c2c_abs"] > 0:
        # regress on the filtered states instead of the noisy reads (filtered_states); the
        # filter needs the model, so again from each estimate until the shared parameters
        # settle (two passes, as a rule).  Without write noise the filter would follow the
        # model alone (a trajectory fit): the reads are used as they are
        for _ in range(4):
            before = filtered_states(unpack(res.x), tr, fixed)
            prev = res.x[:n_sh].copy()
            res = least_squares(resid, res.x, bounds=(lo / scale, hi / scale), x_scale="jac", method="trf",
                                jac_sparsity=sparsity)
            if np.max(np.abs(res.x[:n_sh] - prev)) < 1e-3:
                break
    est = res.x * scale
    r = res.fun
    jac = np.asarray(res.jac.todense() if hasattr(res.jac, "todense") else res.jac) / scale[None, :]
    # a parameter the data do not see has a ~zero Jacobian column (an unmeasured sweep; a
    # device's clip level that no pulse reached): left out of the covariance
    colnorm = np.sqrt((jac ** 2).sum(axis=0)) * scale
    seen_all = colnorm > 1e-6 * colnorm.max()
    seen = seen_all[:n_sh]
    se_shared = np.full(3, np.nan)
    q95 = np.full(3, Z95)
    cols = np.flatnonzero(seen_all)
    jac = jac[:, cols]
    try:
        bread = np.linalg.inv(jac.T @ jac)
        train_of_obs = np.nonzero(ok)[0]
        meat = np.zeros_like(bread)
        parts = []
        for g in np.unique(train_of_obs):
            # CR2 (Bell & McCaffrey 2002) with one cluster per train: its residuals scaled by
            # (I − H_gg)^(−1/2), its block of the hat matrix (rank ≤ the 7 parameters it sees:
            # solved in that space).  Its device's parameters take part of its residuals: the
            # plain sandwich held k in 74-86 % of seeds at 8 devices.  (One cluster per device
            # is as valid but, with 4-8 devices, gave intervals 3-4× wider.)
            sel = train_of_obs == g
            jg = jac[sel]
            nz = np.flatnonzero(np.any(jg != 0, axis=0))
            q, rr_ = np.linalg.qr(jg[:, nz])
            lam, w = np.linalg.eigh(rr_ @ bread[np.ix_(nz, nz)] @ rr_.T)
            u = q @ w
            res_g = r[sel]
            adj = res_g + u @ ((1.0 / np.sqrt(np.clip(1.0 - lam, 1e-6, None)) - 1.0) * (u.T @ res_g))
            v = jg.T @ adj
            meat += np.outer(v, v)
            parts.append((bread @ v)[:seen.sum()] ** 2)
        c = bread @ meat @ bread
        se_shared[np.flatnonzero(seen)] = np.sqrt(np.abs(np.diag(c)[:seen.sum()]))
        # a t quantile on the effective number of clusters behind each parameter (Carter, Schnepel
        # & Steigerwald 2017): few trains carry a parameter (the low-gate ones for k, the long
        # pulses for τ; a campaign's unswept devices none), so z ran short (k 89 % at 8 devices)
        parts = np.array(parts)
        g_eff = parts.sum(0) ** 2 / np.maximum((parts ** 2).sum(0), 1e-300)
        q95[np.flatnonzero(seen)] = stats.t.ppf(0.975, np.maximum(g_eff - 1.0, 1.0))
    except np.linalg.LinAlgError:
        seen[:] = False
    params, interval, res_map, notes = {}, {}, {}, []
    for i, n in enumerate(("v0", "log10_tau", "transistor_k")):
        lo_i, hi_i = float(est[i] - q95[i] * se_shared[i]), float(est[i] + q95[i] * se_shared[i])
        # resolved: seen, and known to within a factor of RESOLVED_FACTOR (τ's interval is in
        # log10: a width of log10(3)); a τ "resolved" to 4.5 decades was a number from nothing
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            factor = float(np.power(10.0, hi_i - lo_i)) if n == "log10_tau" else (hi_i / lo_i if lo_i > 0 else np.inf)
        ok_i = bool(seen[i] and np.isfinite(se_shared[i]) and factor <= RESOLVED_FACTOR)
        res_map[n] = ok_i
        params[n] = float(est[i]) if ok_i else float(prior[i])
        interval[n] = (lo_i, hi_i) if ok_i else (np.nan, np.nan)
        if not ok_i:
            span = "" if not (seen[i] and np.isfinite(factor)) else f", 95 % interval a factor {factor:.3g} wide"
            notes.append(f"{n}: not resolved by these sweeps{span} (kept at {params[n]:.4g}); "
                         + {"transistor_k": "sweep gates low enough that the ceiling falls below Gmax",
                            "v0": "sweep the SET amplitude", "log10_tau": "sweep widths up to ~τ"}[n])
    for j, n in enumerate(("g_min", "g_max", "a_set", "b_set")):   # per device: median and its standard error
        vals = est[n_sh + j * D:n_sh + (j + 1) * D]
        med = float(np.median(vals))
        se = 1.2533 * float(np.std(vals, ddof=1)) / np.sqrt(D) if D > 1 else np.nan
        params[n], interval[n], res_map[n] = med, (med - Z95 * se, med + Z95 * se), True
    theta = unpack(res.x)
    pred = predict(theta, tr, fixed)
    first = pd.DataFrame({"condition": tr.condition, "gate": tr.gate, "amplitude": tr.amplitude, "width": tr.width,
                          "first_step": tr.g[:, 1] - tr.g[:, 0], "model_first_step": pred[:, 1] - pred[:, 0],
                          "final": tr.g[:, -1], "model_final": pred[:, -1]})
    cond = first.groupby("condition").mean().reset_index()
    rmse = float(np.sqrt(np.mean((r * g_end) ** 2)))
    return SwitchingFit(params=params, interval=interval, resolved=res_map, fixed=fixed, conditions=cond,
                        rmse=rmse, notes=notes)
