"""``fit_device``: pulse-train data in, a validated DeviceModel and a report out.

The shape is scikit-learn's: one call does the work and returns a result object,
``fit_device(data, model="auto") -> FitResult`` with ``.device_model``, ``.report``
(one row per model and direction), ``.ranking`` (AIC/BIC), ``.summary()`` (the
CLI's JSON), ``.to_yaml(path)`` and ``.plot(path)``.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from labbench.physics.device_model import D2D_SIGMA_MAX, READ_NOISE_MAX, DeviceModel, ReadModel
from labbench.physics.models import RESET, SET
from labbench.physics.nonlinearity import nl_from_normalized_a

from . import build, neurosim_nl, provenance, residuals, selection, single_trace, trajectories, uncertainty, variation
from .io import DataError, Trains, deembed_reads, load_pulse_trains, pack, read_noise_scale
from .io import plain as _plain

KINDS = ("neurosim", "softbounds", "expstep", "powstep", "piecewise")
C2C_FORM = {"neurosim": "abs"}  # the others follow aihwkit: relative to the step
D2D_MIN = 0.005  # spreads below this are reported but not put in the model


class FitFailed(DataError):
    """A fit that ran but gave no usable device model (non-finite parameters, R² < 0)."""


@dataclass
class FitResult:
    kind: str
    device_model: DeviceModel
    report: pd.DataFrame
    ranking: pd.DataFrame
    fits: dict = field(repr=False)           # (kind, direction, mode) -> DirectionFit
    c2c: dict = field(default_factory=dict)  # direction -> estimate
    d2d: dict = field(default_factory=dict)  # parameter -> estimate
    notes: list[str] = field(default_factory=list)
    data: pd.DataFrame | None = field(default=None, repr=False)
    method: str = "trajectory"
    warnings: list[str] = field(default_factory=list)  # data problems worked around (also in notes)
    switching: object | None = None  # labbench.fitting.switching.SwitchingFit when the data hold a sweep
    uncertainty: dict = field(default_factory=dict)  # parameter -> {value, ci95, method}
    convergence: dict = field(default_factory=dict)  # the chosen model's solver report per direction
    residual_structure: dict = field(default_factory=dict)  # runs test of the residuals (.residuals.structure)
    neurosim_nl: dict = field(default_factory=dict)  # NeuroSim's label per direction (.neurosim_nl.labels)

    def unconverged(self) -> list[str]:
        """The chosen model's fits whose solver stopped before converging (for the CLI)."""
        return [f"{d}: {c['converged']}/{c['units']} fit units converged ({c['solver']}, {c['iterations']} iterations)"
                for d, c in self.convergence.items() if c.get("converged") is not None and c["converged"] < c["units"]]

    def summary(self) -> dict:
        """The JSON the CLI prints: chosen model, parameters per direction, metrics."""
        out: dict = {"model": self.kind, "name": self.device_model.name,
                     "update": self.device_model.update.to_dict(), "directions": {},
                     "d2d_sigma": dict(self.device_model.d2d.sigma), "notes": list(self.notes)}
        for d in (SET, RESET):
            name = variation.direction_name(d)
            f = self.fits[(self.kind, d, "pooled")]
            entry = nominal_direction_params(self.device_model.update, d) or direction_params(self.kind, f)
            c2c = self.c2c.get(name, {})
            c2c_key = "c2c_abs" if C2C_FORM.get(self.kind) == "abs" else "c2c_rel"
            entry["c2c_sigma"] = c2c.get(c2c_key, 0.0)
            if f"{c2c_key}_ci95" in c2c:   # bootstrap over trains (variation.c2c_estimate)
                entry["c2c_sigma_ci95"] = c2c[f"{c2c_key}_ci95"]
                entry["read_noise_rel_ci95"] = c2c["read_noise_rel_ci95"]
            fm = self.fits.get((self.kind, d, "device"), f)  # per-device fits where there are several devices
            entry.update(rmse=float(np.median(fm.rmse)), r2=float(np.nanmedian(fm.r2)), n_points=int(fm.n.sum()))
            out["directions"][name] = entry
        if self.switching is not None:
            out["switching"] = self.switching.summary()
        out["uncertainty"] = self.uncertainty
        out["d2d"] = {k: {kk: v[kk] for kk in ("sigma", "ci95", "resolved", "n_devices", "fit_noise") if kk in v}
                      for k, v in self.d2d.items()}
        out["convergence"] = self.convergence
        out["residual_structure"] = self.residual_structure
        out["neurosim_nl"] = self.neurosim_nl
        out["metrics"] = self.ranking.set_index("model").loc[self.kind].to_dict()
        out["ranking"] = self.ranking[["model", "aic", "bic", "rmse", "r2"]].to_dict(orient="records")
        return _plain(out)

    def quality_problems(self) -> list[str]:
        """Why this fit should not become a device model: non-finite parameters, or a chosen
        model that explains the data worse than a flat line (R² < 0, or R² undefined)."""
        out = []
        bad = [k for k, v in self.device_model.update.to_dict().items()
               if k not in ("kind", "noise_at_bound") and v is not None and not np.all(np.isfinite(np.asarray(v, float)))]
        if bad:
            out.append(f"non-finite parameters {bad}")
        for d, entry in self.summary()["directions"].items():
            r2 = entry.get("r2")
            if r2 is None:
                out.append(f"R² undefined for {d} (the fit or the data hold NaN)")
            elif r2 < 0:
                out.append(f"R² = {r2:.3g} for {d} (worse than a flat line at the mean)")
        return out

    def to_yaml(self, path: str | Path) -> str:
        return self.device_model.to_yaml(path)

    def plot(self, path: str | Path) -> Path:
        from .plots import plot_fit

        return plot_fit(self, path)


def nominal_direction_params(update, d) -> dict | None:
    """NeuroSim's per-direction view of the nominal (median-device) model."""
    if update.kind != "neurosim":
        return None
    a, pmax = (update.a_set, update.pmax_set) if d == SET else (update.a_reset, update.pmax_reset)
    a_norm = float(a) / float(pmax)
    return {"gmin": float(update.g_min), "gmax": float(update.g_max), "pmax": float(pmax), "a": float(a),
            "a_normalized": a_norm, "nl": nl_from_normalized_a(a_norm)}


def direction_params(kind: str, f) -> dict:
    """Per-direction parameters in SI units (NeuroSim: gmin, gmax, pmax, a, a_normalized, nl)."""
    P = {k: float(np.asarray(v).ravel()[0]) for k, v in f.params.items()}
    if kind == "neurosim":
        g0, g1 = float(f.norm.g(P["x_start"])), float(f.norm.g(P["x_end"]))
        c = P["c"]
        a_norm = (1.0 / c if c != 0 else float("inf")) * (1 if f.direction == SET else -1)
        try:
            nl = nl_from_normalized_a(a_norm) if np.isfinite(a_norm) else 0.0
        except ValueError:
            nl = float("nan")
        return {"gmin": min(g0, g1), "gmax": max(g0, g1), "pmax": f.pmax, "a": a_norm * f.pmax,
                "a_normalized": a_norm, "nl": nl}
    if kind == "piecewise":
        return {"step_at_nodes_S": [P[f"s{i}"] * f.norm.span for i in range(trajectories.PIECEWISE_NODES)]}
    out = {}
    for k, v in P.items():
        out[k] = float(f.norm.g(v)) if k == "bound" else (v * f.norm.span if k in ("s",) else v)
    return out


def _fit_kind(kind, trains: dict[int, Trains], norm, mode, ctx, init=None, method="trajectory",
              c2c=None, span=None, prev=None):
    """Fit one kind, both directions, in one grouping ``mode``.

    ``prev`` (direction -> object with ``.params``) seeds the fit; ``c2c`` and ``span``
    switch on the clipped-noise one-step model.
    """
    if kind == "piecewise":
        return {d: trajectories.fit_piecewise(*tr.units(mode), d, norm, tr.pmax, mode) for d, tr in trains.items()}
    sig = {d: (0.0, 0.0) for d in trains}
    if c2c is not None:
        sig = {d: (c2c[variation.direction_name(d)]["c2c_abs"] * span / norm.span,
                   c2c[variation.direction_name(d)]["c2c_rel"]) for d in trains}
    if kind == "neurosim":
        base = prev or {d: trajectories.fit_neurosim(*tr.units(mode), d, norm, tr.pmax, mode)
                        for d, tr in trains.items()}
        aligned = trains[SET].units(mode)[0].shape[0] == trains[RESET].units(mode)[0].shape[0]
        if method != "onestep" or not aligned:
            return base
        P, Q = base[SET].params, base[RESET].params
        init_j = {"x_max": 0.5 * (P["x_end"] + Q["x_start"]), "c_set": P["c"], "c_reset": Q["c"]}
        gmin = onestep_gmin(trains, mode, norm)
        up, down = trajectories.fit_neurosim_joint(
            trains[SET].units(mode), trains[RESET].units(mode), norm, trains[SET].pmax, trains[RESET].pmax,
            mode, init_j, gmin, sigma_abs=(sig[SET][0], sig[RESET][0]))
        return {SET: up, RESET: down}
    out = {}
    for d, tr in trains.items():
        g, p = tr.units(mode)
        if prev is not None:
            f = prev[d]
        else:
            f = trajectories.fit_steps(kind, g, p, d, norm, tr.pmax, mode,
                                       init=None if init is None else init.get(d), ctx=ctx)
        if method == "onestep":
            f = trajectories.fit_onestep(kind, g, p, d, norm, tr.pmax, mode, init=f.params, ctx=ctx,
                                         sigma_abs=sig[d][0], sigma_rel=sig[d][1])
        out[d] = f
    return out


def onestep_gmin(trains, mode, norm) -> np.ndarray:
    """NeuroSim's one-step map only sees the asymptote and A; Gmin is pinned from the data.

    The measurement protocol starts every SET train from a full RESET, so the median
    first read of the SET trains (per fit unit) is Gmin; both directions share it.
    """
    g, _ = trains[SET].units(mode)
    return norm.x(np.nanmedian(g[:, :, 0], axis=1))


def choose_method(trains: dict[int, Trains], norm) -> tuple[str, float]:
    """``onestep`` when write noise dominates the step residuals, else ``trajectory``.

    Read noise makes the one-step regressor noisy (biased); write noise carried from
    pulse to pulse biases trajectory fits.  The MA(1) split of the step residuals of a
    quick per-device NeuroSim fit says which dominates; returns (method, read/write ratio).
    """
    read, write = 0.0, 0.0
    for d, tr in trains.items():
        g, p = tr.units("device")
        f = trajectories.fit_neurosim(g, p, d, norm, tr.pmax, "device")
        est = variation.c2c_estimate(f, "abs", norm.span)  # both in units of the data's range
        read += (est["read_noise_rel"] * float(np.nanmean(g)) / norm.span) ** 2
        write += est["c2c_abs"] ** 2
    ratio = read / write if write > 0 else float("inf")
    if write < 1e-6:  # below 0.1 % of the range per pulse: effectively noise-free, fit the curve
        return "trajectory", ratio
    return ("onestep" if ratio < 1.0 else "trajectory"), ratio


#: with one model asked for and structured residuals, the other candidates are fitted (to rank
#: them) only up to this many reads and pulses per train (a 1000-pulse trace would take ~30 s)
EXTRA_FITS_MAX_READS = 20000
EXTRA_FITS_MAX_PULSES = 400


def _residual_structure(fits, kinds, model, chosen, ranking, trains, norm, ctx, mode, method, one_device) -> dict:
    """Is what the chosen model leaves over noise, or shape? (:mod:`.residuals`, runs test)

    With one model asked for, the other candidates are fitted only when it is shape, to say
    which fit better.  On one device fitted one-step, a wrong shape can hide: misfit makes
    the step residuals of :func:`choose_method`'s probe look like write noise, and against
    read noise the innovations show little of it.  There the candidates' curves are also
    fitted to G(P) (cheap for one device): when the chosen shape leaves structure about its
    curve that another shape does not, the shape is wrong (write noise would leave the same
    structure about every curve), and that is the answer.
    """
    allowed = tuple(k for k in KINDS if not (norm.lo < 0 and k == "neurosim"))
    out = residuals.structure(fits, kinds, mode, chosen, ranking, method)
    # the step models simulate every pulse of every train: above this the extra fits would
    # cost more than the fit itself, and the note says how to rank the candidates instead
    reads = sum(int(np.isfinite(t.g).sum()) for t in trains.values())
    cheap = reads <= EXTRA_FITS_MAX_READS and max(t.g.shape[-1] for t in trains.values()) <= EXTRA_FITS_MAX_PULSES
    if out["structured"] and model != "auto":
        others = tuple(k for k in allowed if k not in kinds)
        if not cheap:
            out["candidates_not_fitted"] = ("the other models were not fitted to rank them (long or many trains): "
                                            "fit with --model auto for that")
            return out
        fits.update(_fit_kinds(others, trains, norm, mode, ctx, method))
        out = residuals.structure(fits, kinds + others, mode, chosen, selection.rank(fits, kinds + others, mode), method)
    if out["structured"] or method != "onestep" or not one_device or not cheap:
        return out
    # the piecewise table is a step regression, never fitted to the curve: not a witness here
    shapes = tuple(k for k in allowed if k != "piecewise")
    if chosen not in shapes:
        return out
    curves = _fit_kinds(shapes, trains, norm, mode, ctx, "trajectory")
    about = residuals.structure(curves, shapes, mode, chosen, selection.rank(curves, shapes, mode), "trajectory")
    if about["structured"] and about["remove_structure"]:
        about["why"] = ("about the fitted curves (G against P): the one-step innovations show little against read "
                        "noise, and another shape leaves no structure")
        return about
    return out


def _fit_kinds(kinds, trains, norm, mode, ctx, method) -> dict:
    """Fit each kind in ``kinds`` in one grouping ``mode``: {(kind, direction, mode): fit}."""
    out = {}
    sb = None
    if any(k != "neurosim" for k in kinds):
        sb = _fit_kind("softbounds", trains, norm, mode, ctx)
    for kind in kinds:
        if kind == "softbounds" and method == "trajectory":
            res = sb
        elif kind == "softbounds":
            res = _fit_kind(kind, trains, norm, mode, ctx, method=method, prev=sb)
        else:
            res = _fit_kind(kind, trains, norm, mode, ctx, _inits(kind, sb, ctx), method=method)
        for d, f in res.items():
            out[(kind, d, mode)] = f
    return out


def _inits(kind, sb_fits, ctx):
    if kind in ("neurosim", "softbounds") or sb_fits is None:
        return None
    return {d: trajectories.softbounds_init_for(kind, f, ctx) for d, f in sb_fits.items()}


def _median_params(params: dict) -> dict:
    """Nominal parameters: the median device (D2D is a spread around the nominal)."""
    out = {}
    for k, v in params.items():
        v = np.asarray(v, float)
        if k == "g_nodes" or v.ndim == 0:
            out[k] = v
        elif v.ndim == 1:
            out[k] = np.array([np.median(v)])
        else:
            out[k] = np.median(v, axis=0, keepdims=True)
    return out


def _guarded_c2c(fits, c2c, span, form):
    """C2C again, without the steps within 4σ of a bound (within 3σ the device's noise shrinks,
    :func:`variation.c2c_estimate`), σ from the first estimate ``c2c``.

    The one-step fit itself is not refitted with a clipped-noise mean: the chip's noise
    shrinks near a bound instead of being clipped (physics.models.toward), so its mean
    step is the noise-free map; modelling clipping biased A_set +4 % and G_max +1.5 %
    (128 devices × 3 cycles)."""
    est = {}
    for d, f in fits.items():
        name = variation.direction_name(d)
        guard = c2c[name]["c2c_abs"] * span if form == "abs" else 0.0
        est[name] = variation.c2c_estimate(f, form, span, guard_S=guard)
    return est


def _nominal(kind, params, **kw):
    """The nominal update model; a fit the model class refuses (bounds crossed, NaN) is a
    :class:`FitFailed` that says what the data look like, not a bare parameter error."""
    try:
        return build.nominal_model(kind, params, **kw)
    except (ValueError, FloatingPointError) as e:
        raise FitFailed(f"the {kind} fit gave no valid device model ({e}); do the data rise during "
                        "set trains and fall during reset trains? check the 'direction' column and "
                        "look for outliers") from None


def fit_device(data, model: str = "auto", name: str | None = None, source: str | None = None,  # noqa: C901 - one fit's steps in order, each a few lines
               method: str = "auto", variation_fits: bool = True, base: DeviceModel | None = None,
               allow_negative: bool = False) -> FitResult:
    """Fit an update model (or all, ``model="auto"``) to tidy pulse-train data.

    ``data`` is a CSV path or a DataFrame in the tidy format (see :mod:`.io`).
    ``method``: ``trajectory`` (fit the curve G(P)), ``onestep`` (each read predicts the
    next) or ``auto`` (from the read/write-noise split, see :func:`choose_method`).
    ``variation_fits`` adds the split-half fits that the D2D correction needs.
    ``base`` supplies the sections not fitted (switching unless swept, level spreads but the
    HRS one, retention, read disturb, endurance, energy, faults), each marked in the model's
    ``provenance`` as inherited and not measured (:mod:`.provenance`).
    ``allow_negative`` accepts normalized (aihwkit weight-unit) data.
    """
    if model != "auto" and model not in KINDS:
        raise ValueError(f"unknown model {model!r}; choose auto or one of {list(KINDS)}")
    if method not in ("auto", "trajectory", "onestep"):
        raise ValueError(f"method must be auto, trajectory or onestep, got {method!r}")
    df = load_pulse_trains(data, allow_negative=allow_negative)
    load_warnings = list(df.attrs.get("warnings", []))
    raw_df = df
    df = deembed_reads(df, base, load_warnings)   # what the device did, not what the read saw
    trains = {d: t for d in (SET, RESET) if (t := pack(df, d)) is not None}
    if len(trains) < 2:
        have = variation.direction_name(next(iter(trains)))
        raise DataError(f"the data hold only {have} trains; a device model needs both set and reset "
                        "trains (column 'direction')")
    g_all = df["conductance"].to_numpy(float)
    lo, hi = float(g_all.min()), float(g_all.max())
    if not hi > lo:
        raise DataError("column 'conductance' is constant; nothing to fit")
    norm = trajectories.Norm(lo, hi - lo)
    ctx = {"x_ref": build.expstep_x_ref(norm)}
    kinds = KINDS if model == "auto" else (model,)
    if lo < 0:  # weight units (allow_negative): NeuroSim's model is defined for G >= 0 only
        if model == "neurosim":
            raise DataError("the neurosim model needs conductances >= 0; these data are in weight units "
                            "(negative values): fit softbounds, expstep, powstep or piecewise")
        kinds = tuple(k for k in kinds if k != "neurosim")
    notes: list[str] = list(load_warnings)  # kept in the model's fit block: what was dropped
    noise_ratio = None
    if method == "auto":
        method, noise_ratio = choose_method(trains, norm)
    n_devices = int(df["device"].nunique())
    same_devices = np.array_equal(trains[SET].devices, trains[RESET].devices)
    multi = n_devices >= 2 and same_devices
    modes = ("pooled", "device") if multi else ("pooled",)
    rank_mode = modes[-1]

    fits: dict = {}
    for mode in modes:
        # with several devices the pooled fit is only reported (the nominal is the median device):
        # fit its curve, which is cheap, rather than a one-step chain over every train
        m_method = "trajectory" if (multi and mode == "pooled") else method
        fits.update(_fit_kinds(kinds, trains, norm, mode, ctx, m_method))
    ranking = selection.rank(fits, kinds, rank_mode)
    chosen = model if model != "auto" else str(ranking.iloc[0]["model"])
    form = C2C_FORM.get(chosen, "rel")

    main = {d: fits[(chosen, d, rank_mode)] for d in (SET, RESET)}
    params = build.combine(chosen, main[SET], main[RESET])
    nominal_params = _median_params(params) if multi else params
    nominal = _nominal(chosen, nominal_params)
    span = float(nominal.gmax - nominal.gmin)

    if method == "onestep":   # once more from the first solution: hard data (spikes) need the iterations
        main = _fit_kind(chosen, trains, norm, rank_mode, ctx, method="onestep", prev=main)
        for d, f in main.items():
            fits[(chosen, d, rank_mode)] = f
        params = build.combine(chosen, main[SET], main[RESET])
        nominal_params = _median_params(params) if multi else params
        nominal = _nominal(chosen, nominal_params)
        span = float(nominal.gmax - nominal.gmin)
    # each device's noise in its own range (variation.c2c_estimate)
    unit_span = np.asarray(params["g_max"] - params["g_min"], float) if chosen == "neurosim" and multi else span
    c2c = {variation.direction_name(d): variation.c2c_estimate(f, form, unit_span) for d, f in main.items()}
    c2c = _guarded_c2c(main, c2c, unit_span, form)
    if chosen == "neurosim":
        for d, f in main.items():
            c = float(np.median(f.params["c"]))
            if c < build.MIN_CURVATURE:
                notes.append(f"{variation.direction_name(d)}: the data bend the wrong way for NeuroSim's model "
                             f"(normalized A = {1 / c if c else float('inf'):.3g}); the device model uses a "
                             "near-linear curve")

    n_cycles = max(t.g.shape[1] for t in trains.values())
    d2d = {}
    halves = None
    if multi and n_devices >= 3:
        dev_vals = build.per_device_values(chosen, params, nominal)
        if variation_fits and n_cycles >= 2:
            halves = []
            for sl in (slice(0, None, 2), slice(1, None, 2)):
                sub = {d: Trains(d, t.g[:, sl], t.p[:, sl], t.devices, t.cycles[:, sl]) for d, t in trains.items()}
                hf = _fit_kind(chosen, sub, norm, "device", ctx, method=method,
                               prev=main if method == "onestep" else None)
                vals = build.per_device_values(chosen, build.combine(chosen, hf[SET], hf[RESET]), nominal)
                # a device with no train in this half (one cycle: mixed with fully cycled devices
                # in a campaign) keeps its starting values, which are not a fit: none
                seen = np.logical_and.reduce([np.isfinite(t.g).any(axis=(1, 2)) for t in sub.values()])
                halves.append({k: np.where(seen, v, np.nan) if np.ndim(v) == 1 and np.size(v) == seen.size else v
                               for k, v in vals.items()})
        d2d = variation.d2d_estimate(dev_vals, halves)

    c2c_rel = float(np.mean([v["c2c_rel"] for v in c2c.values()]))
    c2c_abs = float(np.mean([v["c2c_abs"] for v in c2c.values()]))
    nominal = _nominal(chosen, nominal_params, c2c_rel=c2c_rel, c2c_abs=c2c_abs)
    # read noise is relative to what the read saw: each read's σ in the device's conductance
    # is noise_rel times its de-embedding slope (io.read_noise_scale), so the replay reads as
    # noisily as the chip did (variation.read_noise_estimate)
    scale_df = df.assign(conductance=read_noise_scale(raw_df, df, base))
    scales = [pack(scale_df, d).units(rank_mode)[0] for d in (SET, RESET)]
    rn = variation.read_noise_estimate([main[SET], main[RESET]], scales)
    read_noise = rn["value"] if np.isfinite(rn["value"]) else 0.0
    if read_noise > READ_NOISE_MAX:   # residuals that are not read noise (spikes, a wrong model)
        notes.append(f"read noise: estimate {read_noise:.3g} is above the model's bound {READ_NOISE_MAX:g}; "
                     "capped (look for outliers in the reads)")
        read_noise = READ_NOISE_MAX
    if "ci95" in rn and not rn["resolved"]:
        notes.append(f"read noise: not resolved by these trains ({read_noise:.3g} relative, 95 % interval "
                     f"{rn['ci95'][0]:.3g}-{rn['ci95'][1]:.3g}); the model keeps the estimate; more devices or "
                     "cycles narrow it")

    report = selection.report_table(fits, kinds, direction_params)
    # a spread goes into the model only when the data resolve it (its χ² interval, less the
    # per-device fit noise, excludes 0): an unresolved one is reported as such, never as a number
    sigma = {k: round(v["sigma"], 6) for k, v in d2d.items()
             if v.get("resolved") and D2D_MIN <= v["sigma"] <= D2D_SIGMA_MAX}
    # an unresolved spread is not silently zero in a replay (principle 10): the base model's
    # value for it, capped at what the data allow (the upper bound), marked in the provenance;
    # dropping it made a replay of a chip with a 10 % spread of A_set have none
    d2d_kept: dict[str, str] = {}
    base_sigma = dict(base.d2d.sigma) if base is not None and base.update.kind == chosen else {}
    for k, v in d2d.items():
        if not v.get("resolved"):
            why = "" if halves is not None else " (one cycle per device: the fits' own noise is unknown)"
            upper = v.get("ci95", [0.0, float("nan")])[1]
            kept = base_sigma.get(k)
            if kept and np.isfinite(upper):
                sigma[k] = round(min(float(kept), float(upper)), 6)
                d2d_kept[k] = (f"not resolved (95 % upper bound {upper:.3g}): {sigma[k]:g} from {base.name}"
                               + (", capped at the bound" if kept > upper else "") + ", not measured")
                notes.append(uncertainty.not_resolved_note(k, v, int(n_cycles)) + why + f"; {sigma[k]:g} kept from "
                             f"the base model {base.name}" + (" (capped at the bound)" if kept > upper else ""))
                continue
            notes.append(uncertainty.not_resolved_note(k, v, int(n_cycles)) + why + "; left out of the device model")
        elif not v["sigma"] <= D2D_SIGMA_MAX:   # NaN too: beyond any physical spread
            notes.append(f"d2d {k}: estimate {v['sigma']:.3g} is above the model's bound {D2D_SIGMA_MAX:g}; "
                         f"left out of the device model")
    convergence = _convergence(main)
    for d, c in convergence.items():
        if c["converged"] is not None:
            notes.append(f"solver ({d}): {c['solver']} converged for {c['converged']}/{c['units']} fit units "
                         f"in {c['iterations']} iterations")
    structure = _residual_structure(fits, kinds, model, chosen, ranking, trains, norm, ctx, rank_mode, method,
                                    one_device=n_devices == 1)
    if (note := residuals.structure_note(structure)) is not None:
        notes.append(note)
    intervals = _parameter_intervals(chosen, params, nominal, multi, trains, norm, ctx, notes,
                                     main=main, method=method, c2c=c2c, span=span, n_cycles=int(n_cycles))
    if "ci95" in rn:
        intervals["read.noise_rel"] = {**rn, "value": read_noise}
    if not multi and n_devices == 1 and n_cycles == 1:
        notes.append(single_trace.NOT_IDENTIFIABLE)
        if structure["structured"] and intervals:
            notes.append("the single-trace intervals resample residuals about the fitted shape; with structured "
                         "residuals (above) they understate the uncertainty of that shape")
    ns_labels = neurosim_nl.labels(trains)
    fit_block = {
        "tool": "labbench.fitting.fit_device",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": str(source if source is not None else (data if not isinstance(data, pd.DataFrame) else "DataFrame")),
        "model": chosen, "method": method, "read_to_write_noise": noise_ratio,
        "n_devices": n_devices, "n_cycles": int(n_cycles), "n_points": int(len(df)),
        "directions": {variation.direction_name(d): nominal_direction_params(nominal, d)
                       or direction_params(chosen, fits[(chosen, d, "pooled")]) for d in (SET, RESET)},
        "pooled_fit": {variation.direction_name(d): direction_params(chosen, fits[(chosen, d, "pooled")])
                       for d in (SET, RESET)},
        "metrics": {variation.direction_name(d): {"rmse_S": float(np.median(f.rmse)), "r2": float(np.nanmedian(f.r2))}
                    for d, f in main.items()},
        "c2c": c2c, "d2d": d2d, "uncertainty": intervals, "convergence": convergence,
        "residual_structure": structure, "neurosim_nl": ns_labels,
        "ranking": ranking[["model", "aic", "bic"]].to_dict(orient="records"),
        "notes": notes,
    }
    base_kw = {"switching": base.switching, "faults": base.faults} if base is not None else {}
    read = {**(base.read if base is not None else ReadModel()).model_dump(), "noise_rel": round(read_noise, 6)}
    sweep = None
    if nominal.kind == "neurosim":   # a gate/amplitude/width sweep in the data: fit how the step depends on them
        from .switching import fit_switching, sweep_table

        raw = sweep_table(data)
        if raw is not None:
            here = DeviceModel(name="sweep", update=nominal, read=read, **base_kw)   # the reads' noise: its filter
            sweep = fit_switching(raw, here)
            base_kw = {**base_kw, "switching": sweep.apply_to(here).switching}
            fit_block["switching"] = sweep.summary()
            notes.extend(f"switching: {n}" for n in sweep.notes)
    # every block a replay needs: fitted here, or inherited from the base model and said so
    fitted = {"update": f"{chosen} update curves ({method})", "d2d": "device-to-device spread of the curves",
              "read.noise_rel": "read noise from the split of read and write noise"}
    if sweep is not None:
        fitted["switching"] = "gate, amplitude and width sweep (switching kinetics, transistor k)"
    hrs = provenance.hrs_spread(df, read_noise)
    if hrs is not None:
        # observed, not fitted: a RESET never raises G, so a train that starts from the end of
        # a RESET train shows less spread than a full RESET's own level (variability.hrs_c2c)
        lo, hi = hrs["ci95"]
        notes.append(f"HRS at the start of SET trains: σ(ln G) within devices {hrs['sigma']:.3g} (95 % {lo:.3g}-{hi:.3g}, "
                     f"{hrs['devices']} devices); a lower bound of variability.hrs_c2c, which is kept from the base "
                     "model (a full RESET after a SET train measures it)")
        fit_block["hrs_start_of_set"] = hrs
    src = str(source) if source is not None else "the data"
    base_kw, prov = provenance.complete(base, dict(base_kw), src, fitted)
    prov.update({f"d2d.{k}": how for k, how in d2d_kept.items()})
    if sweep is None:
        base_kw, prov = _lines_for_window(base_kw, prov, nominal, notes)
    for block, how in prov.items():
        if "not measured" in how and "." not in block:
            notes.append(f"{block}: {how}")
    try:  # validated as a file would be (sub-models too), so what is written loads again
        dm = DeviceModel(name=name or f"fitted_{chosen}", description=f"{chosen} model fitted by labbench",
                         update=nominal, d2d={"sigma": sigma}, read=read, fit=_plain(fit_block), provenance=prov,
                         **base_kw)
    except ValidationError as e:  # e.g. NaN parameters from degenerate data: say which, no pydantic dump
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
                             .lstrip(": ") for err in e.errors())
        raise FitFailed(f"the {chosen} fit gave no valid device model ({problems}); check the data "
                        "(outliers, units, enough pulses per train)") from None
    return FitResult(kind=chosen, device_model=dm, report=report, ranking=ranking, fits=fits, c2c=c2c, d2d=d2d,
                     notes=notes, data=df, method=method, warnings=load_warnings, switching=sweep,
                     uncertainty=_plain(intervals), convergence=_plain(convergence),
                     residual_structure=_plain(structure), neurosim_nl=_plain(ns_labels))


def _lines_for_window(base_kw: dict, prov: dict, nominal, notes: list) -> tuple[dict, dict]:
    """An inherited switching block without a transistor whose lines (``on_resistance``)
    would keep the fitted device's thresholds out of the nominal pulses' reach: a 400-600 Ohm
    device (CrossSim's ramps) behind the schema's 1 kOhm got 38 % of each pulse, so no
    pulse at a given amplitude could switch it (program-verify converged 3 %).  The lines
    are lowered until both nominal pulses reach their threshold with 10 % to spare, and the
    provenance says so; a block the sweep fitted is never touched."""
    from labbench.physics import circuit
    from labbench.physics.device_model import Switching

    sw = base_kw.get("switching") or Switching()     # no base: the schema's default block
    if sw.set_kinetics.gate is not None or sw.reset_kinetics.gate is not None:
        return base_kw, prov
    try:
        g_lo, g_hi = float(np.min(nominal.gmin)), float(np.max(nominal.gmax))
    except (TypeError, ValueError, NotImplementedError):
        return base_kw, prov
    if not 0 < g_lo < g_hi < 1:       # weights in arbitrary units: no circuit
        return base_kw, prov
    cap = sw.on_resistance
    for kin, g, v_th, reset in ((sw.set_kinetics, g_lo, sw.v_set, False), (sw.reset_kinetics, g_hi, sw.v_reset, True)):
        if float(circuit.device_voltage(sw, np.array([g]), kin.amplitude, None, reset)[0]) < v_th:
            cap = min(cap, (1.0 / g) * (kin.amplitude / (1.1 * v_th) - 1.0))
    if cap >= sw.on_resistance or cap <= 0:
        return base_kw, prov
    why = (f"on_resistance lowered from {sw.on_resistance:g} to {cap:.3g} Ohm: the inherited lines left the fitted "
           f"device ({1 / g_hi:.4g}-{1 / g_lo:.4g} Ohm) below its thresholds at the nominal pulses")
    notes.append(f"switching: {why}")
    prov = {**prov, "switching": f"{prov.get('switching', 'inherited')}; {why}"}
    return {**base_kw, "switching": sw.model_copy(update={"on_resistance": float(cap)})}, prov


def _convergence(main: dict) -> dict:
    """The solver's report of the chosen model's fits, per direction (None: no iterative
    solver ran, e.g. NeuroSim's variable projection, which is a bracketed 1-D search)."""
    out = {}
    for d, f in main.items():
        name = variation.direction_name(d)
        if f.converged is None:
            out[name] = {"solver": "variable projection (closed form + 1-D search)", "converged": None,
                         "units": int(np.size(f.rss)), "iterations": 0}
        else:
            out[name] = {"solver": "batched Levenberg-Marquardt", "converged": int(np.sum(f.converged)),
                         "units": int(np.size(f.converged)), "iterations": int(f.iterations)}
    return out


#: bootstrap replicates for parameter intervals (a median of tens of values: 400 is plenty)
BOOTSTRAP = 400


def _parameter_intervals(kind, params, nominal, multi, trains, norm, ctx, notes, main=None, method="trajectory",
                         c2c=None, span=None, n_cycles=0) -> dict:
    """95 % intervals of the nominal parameters by bootstrap.  Trajectory residuals carry
    the write noise from pulse to pulse (a random walk), so the Jacobian's independent-
    residual errors would be far too small: resample what is independent instead, devices
    (the nominal is the median device) or, for one device, its cycles (per-cycle fits; the
    interval of their median, centred on the pooled fit).  One device with fewer than 3
    cycles has only its residuals: a residual bootstrap of the whole fit (:mod:`.single_trace`)."""
    if not multi and n_cycles < 3 and main is not None:
        return _residual_intervals(kind, params, nominal, trains, norm, ctx, notes, main, method, c2c, span)
    unit_params, method = params, "bootstrap over devices"
    if not multi:
        try:
            cyc = _fit_kind(kind, trains, norm, "cycle", ctx)
            unit_params = build.combine(kind, cyc[SET], cyc[RESET])
        except (ValueError, IndexError) as e:   # set and reset trains not paired cycle by cycle
            notes.append(f"no parameter intervals: per-cycle fits failed ({e})")
            return {}
        method = "bootstrap over cycles (per-cycle fits, centred on the pooled fit)"
    vals = nominal.to_dict()
    rng = np.random.default_rng(0)
    out = {}
    if multi:
        method = "median over devices ± t·se (lognormal across devices)"
    for k, v in unit_params.items():
        v = np.asarray(v, float)
        if v.ndim != 1 or v.size < 3 or k not in vals or not isinstance(vals[k], (int, float)):
            continue
        v = v[np.isfinite(v)]
        if v.size < 3:
            continue
        value = float(vals[k])
        if multi and ((v > 0).all() or (v < 0).all()):   # a spread of log values: uncertainty.median_interval
            _, lo, hi = uncertainty.median_interval(v)
            # resolved: known to within a factor of 3 (A of 8 devices × 2 cycles sometimes is not)
            ok = bool(lo * hi > 0 and max(abs(lo), abs(hi)) <= uncertainty.RESOLVED_FACTOR * min(abs(lo), abs(hi)))
            out[k] = {"value": value, "ci95": [float(lo), float(hi)], "method": method, "n": int(v.size),
                      "resolved": ok}
            if not ok:
                notes.append(f"{k}: not resolved by these devices (95 % interval {lo:.3g} to {hi:.3g}, wider than "
                             f"a factor of {uncertainty.RESOLVED_FACTOR:g}); the model keeps the median device's value")
            continue
        med = np.median(v[rng.integers(0, v.size, (BOOTSTRAP, v.size))], axis=1)
        lo, hi = np.quantile(med, [0.025, 0.975])
        if not multi:   # shift the interval of the cycles' median onto the pooled value
            m = float(np.median(v))
            lo, hi = value - (m - lo), value + (hi - m)
        out[k] = {"value": value, "ci95": [float(lo), float(hi)], "method": method, "n": int(v.size)}
    return out


def _residual_intervals(kind, params, nominal, trains, norm, ctx, notes, main, method, c2c, span) -> dict:
    """:func:`.single_trace.residual_intervals` for one device's pooled fit, as the other
    intervals are reported ({name: {value, ci95, method, n}})."""
    vals = nominal.to_dict()
    wanted = {k: np.asarray(v, float).ravel()[:1] for k, v in params.items()
              if k in vals and isinstance(vals[k], (int, float)) and np.size(v) == 1}

    if not wanted:   # e.g. the piecewise table: no scalar parameter to give an interval
        return {}

    def refit(tb):
        # each replicate starts from the fit it was drawn from: a few iterations, not a search
        n = next(iter(tb.values())).g.shape[0]
        init = {d: {k: np.repeat(np.asarray(v, float).ravel()[:1], n) for k, v in f.params.items()}
                for d, f in main.items()}
        return _fit_kind(kind, tb, norm, "device", ctx, init=init if kind != "neurosim" else None, method=method,
                         c2c=c2c if method == "onestep" else None, span=span)

    try:
        iv, more, _ = single_trace.residual_intervals(kind, main, method, refit, wanted)
    except (ValueError, FloatingPointError) as e:   # a degenerate replicate set: say so, fit stands
        notes.append(f"no parameter intervals: the residual bootstrap failed ({e})")
        return {}
    notes.extend(more)
    n = int(sum(np.isfinite(f.g).sum() for f in main.values()))
    return {k: {"value": float(vals[k]), "ci95": [float(v["ci95"][0, 0]), float(v["ci95"][0, 1])],
                "method": v["method"], "n": n} for k, v in iv.items()}
