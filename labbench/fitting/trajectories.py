"""Per-direction trajectory fits, batched over fit units (the whole array at once).

A *fit unit* is a set of trains that share parameters: all trains (pooled), one
device's cycles (per device), or one train (per cycle).  Each kind fits G against the
pulse position along the train, as NeuroSim's and aihwkit's own fitting scripts do
(``nonlinear_fit.m``; aihwkit ``fit_measurements``), not ΔG against G: on noisy reads
the step regression is biased by errors in the regressor.

Work happens in normalized units ``x = (G − lo)/span`` of the whole data set, so every
parameter is O(1) whatever the device's conductance scale.

* ``neurosim``: ``x(P) = x0 + (x1 − x0)·u(P)``, ``u = expm1(−c·P/Pmax)/expm1(−c)``.
  For fixed curvature ``c`` it is linear in (x0, x1): variable projection, a global grid
  search over ``c`` and golden-section refinement, all units at once.  ``c = Pmax/|A|``;
  normalized A = 1/c.
* step models (``softbounds``, ``powstep``, ``expstep``, ``piecewise``): the model's
  mean step per pulse is iterated from each train's start (a fitted value per train)
  and fitted by batched Levenberg–Marquardt (:mod:`.lm`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from labbench.physics.models import SET

from .lm import batched_lm

MAX_FREE_STARTS = 32  # above this many trains per unit, starts are fixed at the first read
PIECEWISE_NODES = 8
# joint one-step fit: a unit stops once an accepted step gains < 1e-6 of its cost; safe because the
# cost excess left is then ~1e-6·SSR, i.e. a few % of a parameter's standard error (was 1e-7: the
# last ~20 % of iterations moved the fitted array's A, Gmax and C2C by < 0.01 %)
_JOINT_RTOL = 1e-6


@dataclass(frozen=True)
class Norm:
    """x = (G − lo)/span: the normalized units all fits work in."""

    lo: float
    span: float

    def x(self, g):
        return (np.asarray(g) - self.lo) / self.span

    def g(self, x):
        return np.asarray(x) * self.span + self.lo


@dataclass
class DirectionFit:
    kind: str
    direction: int
    mode: str
    params: dict[str, np.ndarray]  # (U,) each, in normalized units (see kind)
    rss: np.ndarray                # (U,) in S²
    n: np.ndarray                  # (U,) data points
    k: int                         # fitted parameters per unit (starts included)
    pred: np.ndarray               # (U, T, L) in S
    g: np.ndarray                  # (U, T, L) observed, S
    p: np.ndarray                  # (U, T, L) pulse positions
    norm: Norm
    pmax: float
    one_step: Callable = field(repr=False)  # (x, dp) -> predicted next x, shape (U, T, L')

    method: str = "trajectory"
    bounds: Callable | None = field(default=None, repr=False)  # theta -> (lo, hi) clip bounds, x units
    # the solver's report where one ran (batched LM): converged flag per unit, iterations
    converged: np.ndarray | None = field(default=None, repr=False)
    iterations: int = 0

    @property
    def curve_rss(self) -> np.ndarray:
        """Σ (noise-free curve − data)² per unit, whatever the fitted objective was."""
        return np.nansum((self.pred - self.g) ** 2, axis=(1, 2))

    @property
    def rmse(self) -> np.ndarray:
        return np.sqrt(self.curve_rss / np.maximum(np.isfinite(self.g).sum(axis=(1, 2)), 1))

    @property
    def r2(self) -> np.ndarray:
        gm = np.nanmean(self.g, axis=(1, 2), keepdims=True)
        tss = np.nansum((self.g - gm) ** 2, axis=(1, 2))
        return 1.0 - self.curve_rss / np.where(tss > 0, tss, np.nan)


# ---------------------------------------------------------------------------------
# NeuroSim: variable projection over the curvature c
# ---------------------------------------------------------------------------------
C_GRID = np.concatenate([-np.geomspace(30.0, 0.02, 18), [0.0], np.geomspace(0.02, 120.0, 40)])
C_GRID_DENSE = np.concatenate([-np.geomspace(30.0, 0.01, 60), [0.0], np.geomspace(0.01, 120.0, 140)])


def _u(p_norm, c):
    """Normalized NeuroSim curve u(P/Pmax; c); c may be (U, 1, 1) or scalar, c → 0 is linear.

    |c| is kept ≥ 1e-7, where expm1(−cP)/expm1(−c) equals the line P to 1e-7: no branch.
    """
    c = np.asarray(c, float)
    c = np.where(np.abs(c) < 1e-7, np.where(c < 0, -1e-7, 1e-7), c)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.multiply(-c, p_norm)
        if out.ndim == 0:
            return np.expm1(out) / np.expm1(-c)
        np.expm1(out, out=out)
        out /= np.expm1(-c)  # in place: same values, no temporaries
        return out


def neurosim_map(xs, dp, x0, x1, c, pmax):
    """One-step NeuroSim map in normalized units: position of ``xs`` on the curve, plus dp.

    Evaluated through the curve's shift property, u(P + δ) = u(P)·e^{−cδ} + u(δ) (clipped to
    the curve's ends), the same function as locating P = u⁻¹(u) with a log and stepping it,
    without a log/exp per read when the steps are all equal.
    """
    c_, x0_, x1_ = (np.asarray(v, float).reshape((-1,) + (1,) * (np.ndim(xs) - 1)) for v in (c, x0, x1))
    dd = np.where(np.abs(x1_ - x0_) > 0, x1_ - x0_, 1e-12)
    uu = np.clip((xs - x0_) / dd, 0.0, 1.0 - 1e-9)
    c_ = np.where(np.abs(c_) < 1e-7, np.where(c_ < 0, -1e-7, 1e-7), c_)
    delta = np.asarray(dp, float) / pmax
    if delta.size and np.all(delta == delta.flat[0]):
        delta = delta.flat[0]  # one step size: e^{−cδ} once per unit, not per read
    with np.errstate(over="ignore", invalid="ignore"):
        m = np.expm1(-c_ * delta)
        k = m / np.expm1(-c_)
    m += 1.0
    uu *= m
    uu += k
    np.clip(uu, 0.0, 1.0, out=uu)
    uu *= dd
    uu += x0_
    return uu


class _Sums:
    """Sufficient statistics of the NeuroSim LS problem, so each curvature costs O(U·L).

    When every train of a unit has the same pulse positions (the usual case), the data
    collapse over trains to per-position counts and sums; otherwise they stay (U, T·L).
    """

    def __init__(self, x, w, pn):
        U, T, L = x.shape
        top = np.where(w > 0, pn, -np.inf).max(axis=1, keepdims=True)  # the position of each slot
        same = bool(np.all((w == 0) | (pn == top)))
        if same:
            self.w = w.sum(axis=1)
            self.wx = (w * x).sum(axis=1)
            self.p = np.where(np.isfinite(top[:, 0]), top[:, 0], 0.0)
        else:
            self.w, self.wx, self.p = w.reshape(U, -1), (w * x).reshape(U, -1), pn.reshape(U, -1)
        self.sw = self.w.sum(axis=1)
        self.sx = self.wx.sum(axis=1)
        self.sxx = (w * x * x).sum(axis=(1, 2))
        self.shared = bool(same and np.all(self.p == self.p[:1]))  # one pulse grid for every unit
        # equally spaced shared grid 0, δ, 2δ, …: the curve at any c follows by a recurrence
        p0 = self.p[0] if self.shared else np.zeros(0)
        step = float(p0[1] - p0[0]) if p0.size > 2 else 0.0
        self.step = step if step > 0 and np.allclose(p0, step * np.arange(p0.size), rtol=1e-14, atol=0) else 0.0

    def u(self, c):
        """The curve u(p; c) at the units' positions, c (U,); (U, L)."""
        if not self.step:
            return _u(self.p, c[:, None])
        # expm1(−c(l+1)δ) = expm1(−clδ)·e^{−cδ} + expm1(−cδ): same-sign terms, so it keeps full
        # relative precision (~l ulp) while needing one expm1 per unit instead of one per position
        c = np.where(np.abs(c) < 1e-7, np.where(c < 0, -1e-7, 1e-7), c)
        with np.errstate(over="ignore", invalid="ignore"):
            m1 = np.expm1(-c * self.step)
            e1 = 1.0 + m1
            out = np.empty((c.size, self.p.shape[1]))
            out[:, 0] = 0.0
            if out.shape[1] > 1:
                out[:, 1] = m1
            for j in range(2, out.shape[1]):
                np.multiply(out[:, j - 1], e1, out=out[:, j])
                out[:, j] += m1
            out /= np.expm1(-c)[:, None]
        return out

    def solve_grid(self, cs):
        """rss for every unit at every curvature in ``cs`` (shared pulse grid): three matmuls."""
        u = _u(self.p[0][:, None], cs[None, :])  # (L, G)
        su, suu, sux = self.w @ u, self.w @ (u * u), self.wx @ u
        sw, mx = self.sw[:, None], (self.sx / self.sw)[:, None]
        # the same arithmetic as solve(), in place on the (U, G) arrays
        mu = np.divide(su, sw, out=su)
        tmp = sw * mu
        cux = np.subtract(sux, np.multiply(tmp, mx, out=np.empty_like(tmp)), out=sux)
        tmp *= mu
        cuu = np.subtract(suu, tmp, out=suu)
        cxx = self.sxx[:, None] - sw * mx * mx
        ok = cuu > 1e-300
        d = np.divide(cux, np.where(ok, cuu, 1.0), out=tmp)
        d[~ok] = 0.0
        d *= cux
        rss = np.subtract(cxx, d, out=d)
        return np.maximum(rss, 0.0, out=rss)

    def solve(self, c):
        """x0, d, rss for curvature c (scalar or (U,))."""
        c = np.asarray(c, float)
        u = self.u(c) if c.ndim else _u(self.p, c)
        wu = self.w * u
        su, suu, sux = wu.sum(axis=1), np.einsum("ul,ul->u", wu, u), np.einsum("ul,ul->u", self.wx, u)
        mu, mx = su / self.sw, self.sx / self.sw
        cuu = suu - self.sw * mu * mu
        cux = sux - self.sw * mu * mx
        cxx = self.sxx - self.sw * mx * mx
        d = np.where(cuu > 1e-300, cux / np.where(cuu > 1e-300, cuu, 1.0), 0.0)
        return mx - d * mu, d, np.maximum(cxx - d * cux, 0.0)


def fit_neurosim(g, p, direction, norm: Norm, pmax: float, mode: str) -> DirectionFit:
    x = np.nan_to_num(norm.x(g))
    w = np.isfinite(g).astype(float)
    pn = np.nan_to_num(p) / pmax
    U = g.shape[0]
    sums = _Sums(x, w, pn)
    # 1) global grid search over c (dense and in one go when the units share a pulse grid)
    grid = C_GRID_DENSE if sums.shared else C_GRID
    if sums.shared:
        best_i = np.argmin(sums.solve_grid(grid), axis=1)
    else:
        best_rss = np.full(U, np.inf)
        best_i = np.zeros(U, int)
        for i, c in enumerate(grid):
            rss = sums.solve(c)[2]
            better = rss < best_rss
            best_rss[better], best_i[better] = rss[better], i
    lo = grid[np.maximum(best_i - 1, 0)]
    hi = grid[np.minimum(best_i + 1, grid.size - 1)]

    # 2) golden-section refinement inside the bracketing grid cells
    def rss_at(c):
        return sums.solve(c)[2]

    phi = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo.copy(), hi.copy()
    c1, c2 = b - phi * (b - a), a + phi * (b - a)
    f1, f2 = rss_at(c1), rss_at(c2)
    for _ in range(8 if sums.shared else 40):  # the dense grid's cells are narrow (~7 %); a parabola finishes
        left = f1 <= f2
        b = np.where(left, c2, b)
        a = np.where(left, a, c1)
        c2n = np.where(left, c1, a + phi * (b - a))
        c1n = np.where(left, b - phi * (b - a), c2)
        fnew = rss_at(np.where(left, c1n, c2n))
        f2, f1 = np.where(left, f1, fnew), np.where(left, fnew, f2)
        c1, c2 = c1n, c2n
    # a last parabolic step through the two golden points and their midpoint
    cm = 0.5 * (c1 + c2)
    fm = rss_at(cm)
    num = (cm - c1) ** 2 * (fm - f2) - (cm - c2) ** 2 * (fm - f1)
    den = (cm - c1) * (fm - f2) - (cm - c2) * (fm - f1)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = cm - 0.5 * num / den
    ok = np.isfinite(vertex) & (vertex > a) & (vertex < b)
    c = np.where(ok, vertex, cm)
    x0, d, rss = sums.solve(c)
    u = sums.u(c)[:, None, :] if sums.shared or sums.p.shape == pn.shape[::2] else _u(pn, c[:, None, None])
    pred = norm.g(x0[:, None, None] + d[:, None, None] * u)
    pred = np.where(w > 0, pred, np.nan)

    def one_step(xs, dp, c=c, x0=x0, x1=x0 + d):
        return neurosim_map(xs, dp, x0, x1, c, pmax)

    return DirectionFit("neurosim", direction, mode,
                        {"x_start": x0, "x_end": x0 + d, "c": c},
                        rss * norm.span ** 2, w.sum(axis=(1, 2)), 3, pred, g, p, norm, pmax, one_step)


# ---------------------------------------------------------------------------------
# Step models: iterate the mean step, fit by batched LM
# ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepFamily:
    """A per-direction mean-step law in normalized units, with its fit set-up."""

    kind: str
    names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    step: Callable  # (x, theta columns list, direction, ctx) -> step per pulse


def _col(theta, j, ndim):
    return theta[:, j].reshape((-1,) + (1,) * (ndim - 1))


def _softbounds_step(x, th, d, ctx):
    rate, bound = _col(th, 0, x.ndim), _col(th, 1, x.ndim)
    return rate * (bound - x)  # sign carried by (bound − x): bound above for SET, below for RESET


def _powstep_step(x, th, d, ctx):
    c, gamma, bound = (_col(th, j, x.ndim) for j in range(3))
    dist = np.clip(d * (bound - x), 0.0, None)
    return d * c * dist ** gamma


def _expstep_step(x, th, d, ctx):
    s, amp, gamma = (_col(th, j, x.ndim) for j in range(3))
    z = x - ctx["x_ref"]
    with np.errstate(over="ignore"):
        y = np.maximum(1.0 - amp * np.exp(np.clip(d * gamma * z, -60, 60)), 0.0)
    return d * s * y


def _piecewise_step(x, th, d, ctx):
    nodes = ctx["nodes"]
    xc = np.clip(x, nodes[0], nodes[-1])
    j = np.clip(np.searchsorted(nodes, xc) - 1, 0, nodes.size - 2)
    t = (xc - nodes[j]) / (nodes[j + 1] - nodes[j])
    th_b = th.reshape((th.shape[0],) + (1,) * (x.ndim - 1) + (th.shape[1],))
    lo = np.take_along_axis(np.broadcast_to(th_b, x.shape + (th.shape[1],)), j[..., None], -1)[..., 0]
    hi = np.take_along_axis(np.broadcast_to(th_b, x.shape + (th.shape[1],)), (j + 1)[..., None], -1)[..., 0]
    return d * (lo * (1 - t) + hi * t)


FAMILIES = {
    "softbounds": StepFamily("softbounds", ("rate", "bound"), (1e-7, -2.0), (1.0, 3.0), _softbounds_step),
    "powstep": StepFamily("powstep", ("c", "gamma", "bound"), (1e-9, 0.05, -2.0), (10.0, 8.0, 3.0),
                          _powstep_step),
    "expstep": StepFamily("expstep", ("s", "A", "gamma"), (1e-9, -1e3, -40.0), (1.0, 1e3, 40.0), _expstep_step),
}


def _simulate(step, theta, starts, pidx, frac, d, ctx, lmax):
    """Trajectories from ``starts`` (U, T) for lmax pulses; gathered at positions (U, T, L)."""
    s = starts
    traj = np.empty(starts.shape + (lmax + 2,))
    traj[..., 0] = s
    for j in range(1, lmax + 2):
        s = np.clip(s + step(s, theta, d, ctx), -2.0, 3.0)
        traj[..., j] = s
    a = np.take_along_axis(traj, pidx, axis=2)
    b = np.take_along_axis(traj, pidx + 1, axis=2)
    return a + (b - a) * frac


def fit_steps(kind: str, g, p, direction, norm: Norm, pmax: float, mode: str,
              init: dict[str, np.ndarray] | None = None, ctx: dict | None = None) -> DirectionFit:
    """Batched LM fit of a step family; ``init`` gives starting parameters per unit."""
    ctx = dict(ctx or {})
    if kind == "piecewise":
        nodes = np.linspace(0.0, 1.0, PIECEWISE_NODES)
        ctx["nodes"] = nodes
        fam = StepFamily("piecewise", tuple(f"s{i}" for i in range(nodes.size)),
                         (0.0,) * nodes.size, (1.0,) * nodes.size, _piecewise_step)
    else:
        fam = FAMILIES[kind]
    d = 1.0 if direction == SET else -1.0
    U, T, L = g.shape
    x = norm.x(g)
    mask = np.isfinite(x)
    xz = np.nan_to_num(x)
    pz = np.nan_to_num(p)
    pidx = np.floor(pz).astype(np.int64)
    frac = pz - pidx
    lmax = int(pidx.max())
    first = np.where(mask[:, :, 0], xz[:, :, 0], 0.0)
    theta0 = np.column_stack([init[n] for n in fam.names]) if init else _default_init(fam, xz, mask, d, lmax, ctx)
    free_starts = T <= MAX_FREE_STARTS
    n_theta = len(fam.names)
    x0 = np.hstack([theta0, first]) if free_starts else theta0
    lower = np.array(fam.lower + ((-2.0,) * T if free_starts else ()))
    upper = np.array(fam.upper + ((3.0,) * T if free_starts else ()))
    train_of = np.repeat(np.arange(T), L) if free_starts else None

    def residual(X, idx):
        th = X[:, :n_theta]
        st = X[:, n_theta:] if free_starts else first[idx]
        pred = _simulate(fam.step, th, st, pidx[idx], frac[idx], d, ctx, lmax)
        return np.where(mask[idx], pred - xz[idx], 0.0).reshape(idx.size, T * L)

    res = batched_lm(residual, x0, lower, upper, n_theta, train_of=train_of, max_iter=60, rtol=1e-8,
                     x_scale=np.abs(np.where(np.abs(x0).max(axis=0) > 0, np.abs(x0).max(axis=0), 1.0)))
    th = res.x[:, :n_theta]
    st = res.x[:, n_theta:] if free_starts else first
    pred_x = _simulate(fam.step, th, st, pidx, frac, d, ctx, lmax)
    pred = np.where(mask, norm.g(pred_x), np.nan)

    def one_step(xs, dp, th=th):
        out = np.array(xs, float)
        n = np.rint(np.nan_to_num(dp)).astype(int)
        for k in range(int(n.max()) if n.size else 0):
            live = n > k
            out = np.where(live, np.clip(out + fam.step(out, th, d, ctx), -2.0, 3.0), out)
        return out

    k = n_theta + (T if free_starts else 0)
    return DirectionFit(kind, direction, mode, {n: th[:, j] for j, n in enumerate(fam.names)},
                        res.cost * norm.span ** 2, mask.sum(axis=(1, 2)), k, pred, g, p, norm, pmax, one_step,
                        converged=res.converged, iterations=res.iterations)


def _default_init(fam, x, mask, d, lmax, ctx):
    """Softbounds-like start: bound at the far end of the data, a few pulses' time constant."""
    U = x.shape[0]
    xm = np.where(mask, x, np.nan)
    hi, lo = np.nanmax(xm, axis=(1, 2)), np.nanmin(xm, axis=(1, 2))
    bound = hi if d > 0 else lo
    rate = np.full(U, 3.0 / max(lmax, 1))
    if fam.kind == "softbounds":
        return np.column_stack([rate, bound])
    if fam.kind == "powstep":
        return np.column_stack([rate, np.ones(U), bound])
    if fam.kind == "expstep":
        span = np.maximum(hi - lo, 1e-6)
        gamma = np.full(U, 2.0)
        zb = bound - ctx["x_ref"]
        amp = np.exp(-d * gamma * zb)
        start = lo if d > 0 else hi
        s = rate * span / np.maximum(-np.expm1(-gamma * np.abs(bound - start)), 1e-6) * np.abs(bound - start) / span
        return np.column_stack([s, amp, gamma])
    nodes = ctx["nodes"]
    steps = np.clip(rate[:, None] * d * (bound[:, None] - nodes[None, :]), 0.0, None)
    return steps


def softbounds_init_for(kind: str, sb: DirectionFit, ctx: dict) -> dict[str, np.ndarray]:
    """Starting values for the richer step families from a soft-bounds fit."""
    rate, bound = sb.params["rate"], sb.params["bound"]
    d = 1.0 if sb.direction == SET else -1.0
    if kind == "powstep":
        return {"c": rate, "gamma": np.ones_like(rate), "bound": bound}
    if kind == "expstep":
        # match a zero step at the bound and the soft-bounds step one range away
        gamma = np.full_like(rate, 2.0)
        zb = bound - ctx["x_ref"]
        amp = np.exp(-d * gamma * zb)
        s = rate / np.maximum(-np.expm1(-gamma), 1e-6)
        return {"s": s, "A": amp, "gamma": gamma}
    if kind == "piecewise":
        nodes = np.linspace(0.0, 1.0, PIECEWISE_NODES)
        steps = np.clip(rate[:, None] * d * (bound[:, None] - nodes[None, :]), 0.0, None)
        return {f"s{i}": steps[:, i] for i in range(nodes.size)}
    raise ValueError(kind)


# ---------------------------------------------------------------------------------
# One-step (conditional) least squares: each read predicts the next
# ---------------------------------------------------------------------------------
NEUROSIM_BOUNDS = ((-2.0, -2.0, -60.0), (3.0, 3.0, 150.0))


def clipped_mean(mu, sigma, lo, hi):
    """E[clip(Y, lo, hi)] for Y ~ N(mu, sigma²): the mean read after noise clipped at the bounds.

    Only points within 6σ of a bound differ from ``mu``; the rest are left alone (cheap).
    """
    from scipy.special import ndtr

    mu, sigma, lo, hi = np.broadcast_arrays(np.asarray(mu, float), np.maximum(sigma, 1e-12), lo, hi)
    out = mu.copy()
    near = ((mu - lo) < 6.0 * sigma) | ((hi - mu) < 6.0 * sigma)
    if not near.any():
        return out
    m, sg, lo_n, hi_n = mu[near], sigma[near], lo[near], hi[near]
    a, b = (lo_n - m) / sg, (hi_n - m) / sg
    pa, pb = ndtr(a), ndtr(b)
    phi_a, phi_b = np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi), np.exp(-0.5 * b * b) / np.sqrt(2 * np.pi)
    out[near] = lo_n * pa + hi_n * (1.0 - pb) + m * (pb - pa) + sg * (phi_a - phi_b)
    return out


def _bounds_fn(kind, d):
    """Clip bounds (x units) of the simulated device implied by one direction's parameters."""
    big = 1e3
    if kind == "neurosim":
        return lambda th: (np.minimum(th[:, 0], th[:, 1]), np.maximum(th[:, 0], th[:, 1]))
    if kind in ("softbounds", "powstep"):
        j = FAMILIES[kind].names.index("bound")
        return lambda th: ((np.full(th.shape[0], -big), th[:, j]) if d > 0 else (th[:, j], np.full(th.shape[0], big)))
    return lambda th: (np.zeros(th.shape[0]), np.ones(th.shape[0]))


def fit_onestep(kind: str, g, p, direction, norm: Norm, pmax: float, mode: str,
                init: dict[str, np.ndarray], ctx: dict | None = None,
                sigma_abs: float = 0.0, sigma_rel: float = 0.0,
                fixed: dict[str, np.ndarray] | None = None) -> DirectionFit:
    """Fit ``x_{k+1} ≈ F(x_k; θ)``: the estimator for write-noise–dominated data.

    When each pulse adds noise that the device carries forward (a Markov chain, as in
    the simulated chip), the noisy trajectory drifts from the noise-free curve (the
    G→position map is convex, so noise advances devices on average) and a trajectory
    fit is biased; conditioning on the previous read is not.  ``init`` comes from the
    trajectory fit.  Reads near a bound where noise is clipped are kept: the one-step
    map clips the same way.
    """
    ctx = dict(ctx or {})
    d = 1.0 if direction == SET else -1.0
    x = norm.x(g)
    xs, xn = x[..., :-1], x[..., 1:]
    dp = np.nan_to_num(p[..., 1:] - p[..., :-1])
    valid = np.isfinite(xs) & np.isfinite(xn) & (dp > 0)
    xs0, xn0 = np.nan_to_num(xs), np.nan_to_num(xn)
    U = g.shape[0]
    if kind == "neurosim":
        names = ("x_start", "x_end", "c")
        lower, upper = map(np.array, NEUROSIM_BOUNDS)

        def predict(th, xs_, dp_):
            return neurosim_map(xs_, dp_, th[:, 0], th[:, 1], th[:, 2], pmax)
    else:
        if kind == "piecewise":
            ctx["nodes"] = np.linspace(0.0, 1.0, PIECEWISE_NODES)
            names = tuple(f"s{i}" for i in range(PIECEWISE_NODES))
            fam = StepFamily("piecewise", names, (0.0,) * len(names), (1.0,) * len(names), _piecewise_step)
        else:
            fam = FAMILIES[kind]
            names = fam.names
        lower, upper = np.array(fam.lower), np.array(fam.upper)

        def predict(th, xs_, dp_):
            out = xs_
            n = np.rint(dp_).astype(int)
            for k in range(int(n.max()) if n.size else 0):
                out = np.where(n > k, np.clip(out + fam.step(out, th, d, ctx), -2.0, 3.0), out)
            return out

    fixed = fixed or {}
    full0 = np.column_stack([np.broadcast_to(np.asarray(fixed.get(n, init[n]), float), (U,)) for n in names])
    free = np.array([n not in fixed for n in names])
    theta0 = full0[:, free]
    bounds = _bounds_fn(kind, d)

    def full(th_free, idx):
        th = full0[idx].copy()
        th[:, free] = th_free
        return th

    def mean_next(th, xs_, dp_):
        mu = predict(th, xs_, dp_)
        if not (sigma_abs or sigma_rel):
            return mu
        # the device clips its noisy state at its bounds: predict the clipped mean
        lo, hi = (v.reshape((-1,) + (1,) * (xs_.ndim - 1)) for v in bounds(th))
        sig = np.sqrt(sigma_abs ** 2 * np.maximum(dp_, 1) + (sigma_rel * (mu - xs_)) ** 2 / np.maximum(dp_, 1))
        return clipped_mean(mu, sig, lo, hi)

    def residual(th_free, idx):
        pred = mean_next(full(th_free, idx), xs0[idx], dp[idx])
        return np.where(valid[idx], pred - xn0[idx], 0.0).reshape(idx.size, -1)

    scale = np.maximum(np.abs(theta0).max(axis=0), 1e-3)
    res = batched_lm(residual, theta0, lower[free], upper[free], int(free.sum()), x_scale=scale,
                     max_iter=50, rtol=1e-7)
    th = full(res.x, np.arange(U))
    params = {n: th[:, j] for j, n in enumerate(names)}
    # the noise-free curve through each train's first read, for plots and R²
    mask = np.isfinite(x)
    if kind == "neurosim":
        pn = np.nan_to_num(p) / pmax
        pred_x = th[:, 0, None, None] + (th[:, 1] - th[:, 0])[:, None, None] * _u(pn, th[:, 2, None, None])
    else:
        pz = np.nan_to_num(p)
        pidx = np.floor(pz).astype(np.int64)
        first = np.where(mask[:, :, 0], np.nan_to_num(x[:, :, 0]), 0.0)
        pred_x = _simulate(fam.step, th, first, pidx, pz - pidx, d, ctx, int(pidx.max()))
    pred = np.where(mask, norm.g(pred_x), np.nan)

    def one_step(xs_, dp_, th=th):
        return predict(th, xs_, dp_)

    return DirectionFit(kind, direction, mode, params, res.cost * norm.span ** 2, valid.sum(axis=(1, 2)),
                        int(free.sum()), pred, g, p, norm, pmax, one_step, method="onestep",
                        bounds=lambda th=th: bounds(th), converged=res.converged, iterations=res.iterations)



class _JointOneStep:
    """Clipped one-step NeuroSim means of both directions, with their exact derivatives.

    The same function as :func:`neurosim_map` followed by :func:`clipped_mean` (bounds
    [Gmin, Gmax] shared by both directions), evaluated through the curve's shift property:
    a step δ = ΔP/Pmax moves the curve position u to ``min(u·e^{−cδ} + expm1(−cδ)/expm1(−c), 1)``,
    an affine map, so per read it needs no log/exp (only the clipped-noise terms near a
    bound do).  ``normal`` gives the cost and the normal equations for :func:`.lm.batched_lm`
    (analytic Jacobian: one model evaluation per LM iteration instead of four).
    Parameters per unit: x_max, c_set, c_reset; residuals are flattened to (U, M).
    """

    def __init__(self, parts, x_lo, sigma_abs):
        self.x_lo = np.asarray(x_lo, float)
        self.dirs = []
        for j, (xs, xn, dp, valid, pmax) in enumerate(parts):
            U = xs.shape[0]
            v = valid.reshape(U, -1)
            dpf = dp.reshape(U, -1)
            dv = dpf[v]
            uniform = dv.size == 0 or bool(np.all(dv == dv[0]))
            d0 = float(dv[0]) if dv.size else 1.0
            # invalid reads get weight 0, so their (unused) step may be anything
            delta = d0 / pmax if uniform else dpf / pmax
            sig = float(sigma_abs[j])
            if sig:
                sig = sig * np.sqrt(max(d0, 1.0)) if uniform else sig * np.sqrt(np.maximum(dpf, 1.0))
            self.dirs.append({"xs": np.ascontiguousarray(xs.reshape(U, -1)),
                              "xn": np.ascontiguousarray(xn.reshape(U, -1)),
                              "w": None if v.all() else v.astype(float), "delta": delta, "sigma": sig})

    def direction(self, j, th, idx, jac=True):
        """Residuals (and their derivatives by x_max and by this direction's c) of direction j."""
        from scipy.special import ndtr

        D = self.dirs[j]
        xs, xn = D["xs"][idx], D["xn"][idx]
        lo = self.x_lo[idx][:, None]
        X = th[:, 0][:, None]
        x0, x1 = (lo, X) if j == 0 else (X, lo)
        dd = x1 - x0
        dd = np.where(np.abs(dd) > 0, dd, 1e-12)
        c = th[:, 1 + j]
        c = np.where(np.abs(c) < 1e-7, np.where(c < 0, -1e-7, 1e-7), c)[:, None]
        delta = D["delta"] if np.ndim(D["delta"]) == 0 else D["delta"][idx]
        with np.errstate(over="ignore", invalid="ignore"):
            big_e = np.expm1(-c)
            m = np.expm1(-c * delta)
        e = 1.0 + m
        k = m / big_e
        uraw = xs - x0
        uraw /= dd
        uu = np.clip(uraw, 0.0, 1.0 - 1e-9)
        ue = uu * e
        t = ue + k
        sat = t >= 1.0
        mu = np.minimum(t, 1.0)
        mu *= dd
        mu += x0
        if jac:
            interior = uu == uraw
            # d mu/d x_max, unsaturated: SET k (interior) or t (u clipped); RESET 1-k-e or 1-t
            if j == 0:
                ue *= interior
                dmu_x = np.subtract(t, ue, out=ue)
                dmu_x[sat] = 1.0
            else:
                np.subtract(e, ue, out=ue)
                ue *= interior
                dmu_x = np.subtract(1.0, t, out=t)
                dmu_x -= ue
                dmu_x[sat] = 0.0
            de = -delta * e
            dk = (de + k * (1.0 + big_e)) / big_e
            dmu_c = np.multiply(uu, de * dd, out=uu)
            dmu_c += dk * dd
            dmu_c[sat] = 0.0
        sig = D["sigma"]
        if np.any(sig):
            # E[clip(Y, lo, hi)], Y ~ N(mu, s²): each bound within 6 s adds its term (beyond 6 s a
            # term is below 1e-9·s, the same cut clipped_mean makes)
            sig_full = np.ndim(sig) != 0
            s6 = 6.0 * sig if not sig_full else 6.0 * D["sigma"][idx]
            dlo = np.subtract(mu, lo, out=uraw)
            dhi = X - mu
            near_lo = np.flatnonzero(dlo < s6)
            near_hi = np.flatnonzero(dhi < s6)
            mu_f = mu.reshape(-1)
            gm = None
            for near, dist, hi in ((near_lo, dlo, False), (near_hi, dhi, True)):
                if not near.size:
                    continue
                sn = sig if not sig_full else D["sigma"][idx].reshape(-1)[near]
                z = dist.reshape(-1)[near]
                z /= sn
                if not hi:
                    np.negative(z, out=z)  # a = (lo − mu)/s
                p = ndtr(-z if hi else z)   # hi: Q = 1 − Φ(b); lo: P = Φ(a)
                phi = np.exp(-0.5 * z * z)
                phi *= _INV_SQRT_2PI
                corr = z * p
                if hi:
                    corr -= phi
                else:
                    corr += phi
                corr *= sn
                mu_f[near] += corr
                if jac:
                    if gm is None:
                        gm = np.ones(mu.size)
                    gm[near] -= p
                    if hi:
                        q_hi = p
            if jac and gm is not None:
                gm = gm.reshape(mu.shape)
                dmu_x *= gm
                if near_hi.size:
                    dmu_x.reshape(-1)[near_hi] += q_hi
                dmu_c *= gm
        r = mu
        r -= xn
        w = D["w"]
        if w is not None:
            w = w[idx]
            r *= w
            if jac:
                dmu_x *= w
                dmu_c *= w
        return (r, dmu_x, dmu_c) if jac else (r,)

    def normal(self, th, idx):
        """Cost, JᵀJ and Jᵀr per unit (parameters x_max, c_set, c_reset)."""
        n = idx.size
        cost = np.zeros(n)
        a = np.zeros((n, 3, 3))
        g = np.zeros((n, 3))
        for s in range(0, n, _CHUNK):  # a few dozen units at a time: the temporaries stay in cache
            sl = slice(s, s + _CHUNK)
            ti, ii = th[sl], idx[sl]
            for j in (0, 1):
                r, jx, jc = self.direction(j, ti, ii)
                cost[sl] += np.einsum("um,um->u", r, r)
                a[sl, 0, 0] += np.einsum("um,um->u", jx, jx)
                a[sl, 0, 1 + j] = a[sl, 1 + j, 0] = np.einsum("um,um->u", jx, jc)
                a[sl, 1 + j, 1 + j] = np.einsum("um,um->u", jc, jc)
                g[sl, 0] += np.einsum("um,um->u", jx, r)
                g[sl, 1 + j] = np.einsum("um,um->u", jc, r)
        return cost, a, g

    def residual(self, th, idx):
        """(U, M) residuals of both directions."""
        return np.hstack([np.vstack([self.direction(j, th[s:s + _CHUNK], idx[s:s + _CHUNK], jac=False)[0]
                                     for s in range(0, idx.size, _CHUNK)]) for j in (0, 1)])


_CHUNK = 128
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def fit_neurosim_joint(up: tuple, down: tuple, norm: Norm, pmax_up: float, pmax_down: float, mode: str,
                       init: dict[str, np.ndarray], gmin_x: np.ndarray, sigma_abs: tuple[float, float] = (0.0, 0.0)
                       ) -> tuple[DirectionFit, DirectionFit]:
    """One-step NeuroSim fit of both directions with shared bounds (the model's own form).

    A single direction's one-step map only sees its asymptote and A, so Gmax is weakly
    determined from SET alone (the plateau is rarely reached); tying SET and RESET to
    one (Gmin, Gmax), with Gmin pinned at the SET trains' first reads, determines it.
    ``up``/``down`` are (g, p) arrays of shape (U, T, L) with the same units.
    Parameters per unit: x_max, c_set, c_reset.
    """
    parts = []
    for (g, p), pmax in ((up, pmax_up), (down, pmax_down)):
        x = norm.x(g)
        dp = np.nan_to_num(p[..., 1:] - p[..., :-1])
        valid = np.isfinite(x[..., :-1]) & np.isfinite(x[..., 1:]) & (dp > 0)
        parts.append((np.nan_to_num(x[..., :-1]), np.nan_to_num(x[..., 1:]), dp, valid, pmax))
    U = up[0].shape[0]
    x_lo = np.broadcast_to(np.asarray(gmin_x, float), (U,))
    model = _JointOneStep(parts, x_lo, sigma_abs)

    residual = model.residual

    theta0 = np.column_stack([init["x_max"], init["c_set"], init["c_reset"]])
    res = batched_lm(None, theta0, np.array([-2.0, -60.0, -60.0]), np.array([3.0, 150.0, 150.0]), 3,
                     x_scale=np.array([1.0, 1.0, 1.0]), max_iter=50, rtol=_JOINT_RTOL, normal=model.normal)
    th = res.x
    r_all = residual(th, np.arange(U))
    n_up = parts[0][0][0].size
    fits = []
    for j, ((g, p), pmax) in enumerate(((up, pmax_up), (down, pmax_down))):
        x0, x1 = (x_lo, th[:, 0]) if j == 0 else (th[:, 0], x_lo)
        c = th[:, 1 + j]
        pn = np.nan_to_num(p) / pmax
        pred_x = x0[:, None, None] + (x1 - x0)[:, None, None] * _u(pn, c[:, None, None])
        pred = np.where(np.isfinite(g), norm.g(pred_x), np.nan)
        rr = r_all[:, :n_up] if j == 0 else r_all[:, n_up:]
        rss = np.einsum("um,um->u", rr, rr) * norm.span ** 2

        def one_step(xs, dp, x0=x0.copy(), x1=x1.copy(), c=c.copy(), pmax=pmax):  # noqa: B008 - copies bound now
            return neurosim_map(xs, dp, x0, x1, c, pmax)

        k = 1 if j == 0 else 2  # x_max is shared: count it once
        fits.append(DirectionFit("neurosim", SET if j == 0 else -SET, mode,
                                 {"x_start": x0.copy(), "x_end": x1.copy(), "c": c.copy()},
                                 rss, parts[j][3].sum(axis=(1, 2)), k, pred, g, p, norm, pmax, one_step,
                                 method="onestep", bounds=lambda x0=x0, x1=x1: (np.minimum(x0, x1), np.maximum(x0, x1)),
                                 converged=res.converged, iterations=res.iterations))
    return fits[0], fits[1]


def fit_piecewise(g, p, direction, norm: Norm, pmax: float, mode: str) -> DirectionFit:
    """Piecewise step table by non-negative least squares of observed steps on hat functions.

    The step law is linear in the node values, so this is a linear regression of
    ``x_{k+1} − x_k`` on the hat functions of ``x_k`` (scipy ``nnls`` per unit: steps are
    magnitudes).  It is the data-driven ΔG(G) table; with strong read noise prefer a
    closed-form model.
    """
    from scipy.optimize import nnls

    d = 1.0 if direction == SET else -1.0
    nodes = np.linspace(0.0, 1.0, PIECEWISE_NODES)
    x = norm.x(g)
    xs, dx = x[..., :-1], x[..., 1:] - x[..., :-1]
    dp = p[..., 1:] - p[..., :-1]
    valid = np.isfinite(xs) & np.isfinite(dx) & (np.nan_to_num(dp) > 0)
    U = g.shape[0]
    th = np.zeros((U, nodes.size))
    rss = np.zeros(U)
    eye = np.eye(nodes.size)
    for u in range(U):
        v = valid[u]
        xv = np.clip(xs[u][v], 0.0, 1.0)
        basis = np.stack([np.interp(xv, nodes, eye[i]) for i in range(nodes.size)], axis=1) * dp[u][v][:, None]
        th[u], res = nnls(basis, d * dx[u][v])
        rss[u] = res ** 2
    ctx = {"nodes": nodes}
    mask = np.isfinite(x)
    pz = np.nan_to_num(p)
    pidx = np.floor(pz).astype(np.int64)
    first = np.where(mask[:, :, 0], np.nan_to_num(x[:, :, 0]), 0.0)
    pred_x = _simulate(_piecewise_step, th, first, pidx, pz - pidx, d, ctx, int(pidx.max()))

    def one_step(xs_, dp_, th=th):
        out = np.array(xs_, float)
        n = np.rint(np.nan_to_num(dp_)).astype(int)
        for k in range(int(n.max()) if n.size else 0):
            out = np.where(n > k, np.clip(out + _piecewise_step(out, th, d, ctx), -2.0, 3.0), out)
        return out

    return DirectionFit("piecewise", direction, mode, {f"s{i}": th[:, i] for i in range(nodes.size)},
                        rss * norm.span ** 2, valid.sum(axis=(1, 2)), nodes.size,
                        np.where(mask, norm.g(pred_x), np.nan), g, p, norm, pmax, one_step, method="onestep",
                        bounds=lambda: (np.zeros(U), np.ones(U)))
