"""Intervals for a fit of one trace per direction (one device, one or two cycles).

With fewer than three cycles there is nothing to resample but the residuals, so the
intervals come from a model-based residual bootstrap of the whole fit:

* read-noise data (``trajectory`` fits): replicates are the fitted curve plus the trace's
  own residuals ``G − curve`` resampled (rescaled by √(n/(n−k)) for the k fitted
  parameters);
* write-noise data (``onestep`` fits): replicates are chains started at the first read,
  each read the model's step from the previous one plus a resampled innovation, clipped at
  the model's bounds as the device is.

Every replicate is refitted by the same fitter (batched: replicates are fit units) and
mapped to the model's parameters; the 95 % interval is the basic bootstrap
``[θ̂ − (q97.5 − θ̂), θ̂ + (θ̂ − q2.5)]``, which corrects the bias of the nonlinear parameters
to first order, with both arms stretched by ``t(n_eff − k)/z``, the small-sample step of a
t interval.  Positively autocorrelated residuals (lag-1 ρ above its noise level 2/√n) carry
less information than their count: the arms are stretched further by √((1+ρ)/(1−ρ)) =
√(n/n_eff), the AR(1) variance inflation, and the notes say so.  (A moving-block
bootstrap was tried first: on 60-read traces with AR(1) noise of ρ = 0.6 it covered
0.72-0.88; the stretch covers 0.85-0.96.)  The resampling model is the fitted model: when
its residuals are structured (a wrong shape), the interval is only as good as that shape.
Parameters the replicates cannot move get no interval: Pmax (the pulse count), and Gmin
of a one-step NeuroSim fit (pinned at the first read, which every chain starts from).

Device-to-device and cycle-to-cycle variation are not identifiable from one trace: the
fit says so, and leaves D2D out of the model.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from labbench.physics.models import RESET, SET

from . import build
from .io import Trains
from .residuals import block_length, resample
from .variation import direction_name

#: parameters whose interval is taken on 1/value: NeuroSim's A, whose reciprocal (the
#: curvature) the data determine and which runs through the straight line at 1/A = 0
RECIPROCAL = ("a_set", "a_reset")
#: bootstrap replicates (refitted in one batch per direction), fewer for long trains, whose step
#: models simulate every pulse: BOOTSTRAP_READS / pulses per train, at least BOOTSTRAP_MIN
BOOTSTRAP = 200
BOOTSTRAP_READS = 40000
BOOTSTRAP_MIN = 50
LEVEL = 0.95


def _replicates(f, method: str, rng, reps: int) -> tuple[np.ndarray, dict]:
    """(U·reps, T, L) replicate conductances of one direction's fit of U units, and per unit
    the residuals' lag-1 autocorrelation ``rho`` (0 where it is within its noise), reads ``n``."""
    U, T, L = f.g.shape
    x = f.norm.x(f.g)
    valid = np.isfinite(f.g)
    if method == "onestep":
        dp = np.nan_to_num(f.p[..., 1:] - f.p[..., :-1])
        with np.errstate(invalid="ignore"):
            res = np.where(valid[..., 1:] & valid[..., :-1],
                           x[..., 1:] - f.one_step(np.nan_to_num(x[..., :-1]), dp), np.nan)
    else:
        res = f.g - f.pred
    out = np.full((U, reps, T, L), np.nan)
    diag = {"rho": np.zeros(U), "n": np.zeros(U, int)}
    for u in range(U):
        series = [r[np.isfinite(r)] for r in res[u]]
        n = int(sum(s.size for s in series))
        # one ρ per unit, from the lag pairs within each of its trains
        a = np.concatenate([s[:-1] for s in series if s.size > 1] or [np.zeros(0)])
        b = np.concatenate([s[1:] for s in series if s.size > 1] or [np.zeros(0)])
        rho = float(np.corrcoef(a, b)[0, 1]) if a.size > 3 and a.std() > 0 and b.std() > 0 else 0.0
        diag["rho"][u] = min(rho, 0.99) if block_length(rho, n) > 1 else 0.0   # significant only
        diag["n"][u] = n
        scale = np.sqrt(n / max(n - f.k, 1))   # residuals are shrunk by the k fitted parameters
        for t, s in enumerate(series):
            if s.size < 2:
                continue
            draws = resample((s - s.mean()) * scale, 1, rng, reps)   # independent: ρ is handled by the stretch
            if method == "onestep":
                out[u, :, t, :] = _chain(f, u, t, draws, reps)
            else:
                pos = np.flatnonzero(valid[u, t])
                out[u, :, t, pos] = (f.pred[u, t, pos][None, :] + draws).T
    return out.reshape(U * reps, T, L), diag


def _chain(f, u: int, t: int, innov: np.ndarray, reps: int) -> np.ndarray:
    """Replicate trains of unit u, train t: x_{k+1} = F(x_k) + e_k from the first read."""
    U, T, L = f.g.shape
    valid = np.isfinite(f.g[u, t])
    pos = np.flatnonzero(valid)
    x0 = f.norm.x(f.g[u, t, pos[0]])
    lo, hi = (np.asarray(v, float)[u] for v in f.bounds()) if f.bounds is not None else (-np.inf, np.inf)
    xs = np.full((U, reps), np.nan)
    xs[u] = x0
    path = np.full((reps, L), np.nan)
    path[:, pos[0]] = x0
    k = 0
    for a, b in zip(pos[:-1], pos[1:]):
        dp = np.zeros((U, reps, 1))
        dp[u] = f.p[u, t, b] - f.p[u, t, a]
        # every unit's map is evaluated (the closures are batched over units); only row u is used
        nxt = f.one_step(np.nan_to_num(xs)[..., None], dp)[u, :, 0] + innov[:, k]
        xs[u] = np.clip(nxt, lo, hi)
        path[:, b] = xs[u]
        k += 1
    return f.norm.g(path)


def replicates_for(pulses: int) -> int:
    return int(min(BOOTSTRAP, max(BOOTSTRAP_MIN, BOOTSTRAP_READS // max(pulses, 1))))


def residual_intervals(kind: str, main: dict, method: str, refit, nominal_values: dict,
                       reps: int | None = None, seed: int = 0) -> tuple[dict, list[str], dict]:
    """95 % intervals of the model's parameters from each unit's residuals.

    ``main`` maps SET and RESET to fits of U units (one device each; U = 1 in
    :func:`.api.fit_device`), ``refit`` fits a {direction: Trains} of replicates (one unit
    each) with the same kind and method, ``nominal_values`` the fitted parameters per unit
    ({name: (U,) array}).  Returns ({name: {value, ci95 (U, 2) or pair, method, n}}, notes,
    diagnostics per direction).
    """
    rng = np.random.default_rng(seed)
    U = main[SET].g.shape[0]
    reps = reps or replicates_for(max(f.g.shape[-1] for f in main.values()))
    reps_g, diag = {}, {}
    for d in (SET, RESET):
        reps_g[d], diag[direction_name(d)] = _replicates(main[d], method, rng, reps)
    trains = {}
    for d, g in reps_g.items():
        f = main[d]
        p = np.repeat(f.p, reps, axis=0)
        n_units, T, _ = g.shape
        trains[d] = Trains(d, g, p, np.arange(n_units), np.tile(np.arange(T), (n_units, 1)))
    fits = refit(trains)
    boot = build.combine(kind, fits[SET], fits[RESET])
    # effective reads per unit: the fewer of its directions' n·(1−ρ)/(1+ρ), less the fitted parameters
    n_eff = np.min([dg["n"] * (1 - dg["rho"]) / (1 + dg["rho"]) - main[d].k
                    for d, dg in zip((SET, RESET), diag.values())], axis=0)
    rho = np.max([dg["rho"] for dg in diag.values()], axis=0)
    stretch = (np.sqrt((1 + rho) / (1 - rho)) * stats.t.ppf(0.5 + LEVEL / 2, np.maximum(n_eff, 1.0))
               / stats.norm.ppf(0.5 + LEVEL / 2))
    out, unstable = {}, []
    for name, value in nominal_values.items():
        v = np.asarray(value, float).ravel()
        b = np.asarray(boot.get(name, np.nan), float)
        if v.size != U or b.shape != (U * reps,) or not np.all(np.isfinite(v)):
            continue
        b = b.reshape(U, reps)
        if np.allclose(b, v[:, None], rtol=1e-12, atol=0):   # fixed by the data's layout (e.g. Pmax)
            continue
        recip = name in RECIPROCAL
        tv, tb = (1.0 / v, 1.0 / b) if recip else (v, b)
        q_lo, q_hi = np.nanquantile(tb, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=1)
        # basic bootstrap, its arms stretched (see the module doc)
        lo, hi = tv - stretch * (q_hi - tv), tv + stretch * (tv - q_lo)
        # the fit not inside its own replicates' central 95 %: the refits land elsewhere (the
        # parameters trade off, or a bound): take the hull of the basic and percentile intervals
        off = (tv < q_lo) | (tv > q_hi)
        lo, hi = np.where(off, np.minimum(lo, q_lo), lo), np.where(off, np.maximum(hi, q_hi), hi)
        if off.any():
            unstable.append(name)
        if recip:
            # the curvature 1/A is what the data see; an interval through 0 reaches the straight
            # line, i.e. the largest |A| the model takes (the replicates' own clamp)
            far = np.nanmax(np.abs(b), axis=1) * np.sign(v)
            ends = [np.where(np.sign(e) == np.sign(v), 1.0 / np.where(e != 0, e, np.inf), far) for e in (lo, hi)]
            lo, hi = np.minimum(*ends), np.maximum(*ends)
        out[name] = {"value": v, "ci95": np.column_stack([lo, hi])}
    how = ("residual bootstrap (" + ("one-step innovations" if method == "onestep" else "residuals about the curve")
           + (", widened for autocorrelated residuals" if np.any(rho > 0) else "") + ")")
    for v in out.values():
        v["method"] = how
    notes = []
    for name, dg in diag.items():
        if dg["rho"].max() > 0:
            r, n = float(dg["rho"].max()), int(dg["n"].max())
            notes.append(f"{name}: residuals are autocorrelated (lag-1 ρ = {r:.2f} over {n} reads), an effective "
                         f"sample size of about {n * (1 - r) / (1 + r):.0f}: the intervals are widened "
                         f"{np.sqrt((1 + r) / (1 - r)):.2g}× for it")
    if unstable:
        notes.append(f"{', '.join(unstable)}: the refits of the residual bootstrap do not centre on the fit (the "
                     "parameters trade off, or sit at a bound); the interval spans both and is not a precise one")
    return out, notes, {k: {kk: vv.tolist() for kk, vv in v.items()} for k, v in diag.items()}


NOT_IDENTIFIABLE = ("one trace per direction (one device, one cycle): device-to-device and cycle-to-cycle "
                    "variation are not identifiable; D2D is left out of the model, and its C2C is this trace's "
                    "per-pulse write noise from the split of its step residuals, confounded with any misfit")
