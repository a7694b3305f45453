"""Batched Levenberg–Marquardt: thousands of small, independent least-squares problems at once.

Why not ``scipy.optimize.least_squares``: it solves one problem; fitting a 2,048-device
array with it means 2,048 Python-level solver runs, or one huge problem whose single
trust region makes every device wait for the slowest.  Here every device (fit unit)
keeps its own damping and convergence flag and all units advance together in NumPy
(per-unit normal equations, ``np.linalg.solve`` on stacked K×K systems), the way GPU
fitters such as Gpufit batch LM.  The Jacobian is by forward differences with one
residual evaluation per model parameter, plus one for *all* per-train start values
together (each start touches only its own train — scipy's column-grouping trick for
sparse Jacobians).  A caller with an analytic Jacobian passes ``normal`` instead: it
returns the cost and the normal equations at trial points, so each iteration costs one
model evaluation rather than 1 + (Jacobian columns).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class LMResult:
    x: np.ndarray          # (U, K) solution
    cost: np.ndarray       # (U,) sum of squared residuals
    iterations: int
    converged: np.ndarray  # (U,) bool


def batched_lm(residual: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, lower: np.ndarray,
               upper: np.ndarray, n_theta: int, train_of: np.ndarray | None = None,
               x_scale: np.ndarray | None = None, max_iter: int = 200, rtol: float = 1e-10,
               normal: Callable | None = None) -> LMResult:
    """Minimize ``sum(residual(X)**2, axis=1)`` for every row of ``X`` independently.

    ``residual(X, idx)`` maps the parameters (len(idx), K) of units ``idx`` to their
    residuals (len(idx), M), 0 where data are missing.
    Columns ``[:n_theta]`` are model parameters; columns ``n_theta + t`` are the start
    value of train ``t``, and ``train_of[m]`` says which train residual ``m`` belongs to.
    ``lower``/``upper`` (K,) are box bounds (steps are clipped into the box).
    ``normal(X, idx) -> (cost (n,), JᵀJ (n, K, K), Jᵀr (n, K))``, when given, replaces the
    finite-difference Jacobian (and ``residual``, which may then be None); the damping,
    acceptance and convergence rules are the same.
    """
    if normal is not None:
        return _lm_normal(normal, x0, lower, upper, x_scale, max_iter, rtol)
    x = np.clip(np.array(x0, dtype=float), lower, upper)
    U, K = x.shape
    scale = np.ones(K) if x_scale is None else np.asarray(x_scale, float)
    r = residual(x, np.arange(U))
    cost = np.einsum("um,um->u", r, r)
    lam = np.full(U, 1e-3)
    active = np.ones(U, bool)
    n_starts = K - n_theta
    if n_starts and train_of is None:
        raise ValueError("train_of is required when start values are fitted")
    eye = np.eye(K)
    it = 0
    for it in range(1, max_iter + 1):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        xa, ra = x[idx], r[idx]
        M = ra.shape[1]
        # all finite-difference evaluations in one stacked residual call
        blocks = [xa.copy() for _ in range(n_theta + (1 if n_starts else 0))]
        hs = []
        for k in range(n_theta):
            h = 1e-7 * np.maximum(np.abs(xa[:, k]), scale[k])
            blocks[k][:, k] += h
            hs.append(h)
        if n_starts:
            h = 1e-7 * np.maximum(np.abs(xa[:, n_theta:]).max(axis=1), scale[n_theta:].max())
            blocks[-1][:, n_theta:] += h[:, None]
            hs.append(h)
        r_fd = residual(np.vstack(blocks), np.tile(idx, len(blocks))).reshape(len(blocks), idx.size, M)
        jac = np.zeros((idx.size, M, K))
        for k in range(n_theta):
            jac[:, :, k] = (r_fd[k] - ra) / hs[k][:, None]
        if n_starts:
            d = (r_fd[-1] - ra) / hs[-1][:, None]
            jac[:, np.arange(M), n_theta + train_of] = d
        a = np.einsum("umk,uml->ukl", jac, jac)
        g = np.einsum("umk,um->uk", jac, ra)
        la = lam[idx]
        x_new = _damped_step(a, g, la, xa, lower, upper, eye)
        r_new = residual(x_new, idx)
        c_new = np.einsum("um,um->u", r_new, r_new)
        better = np.isfinite(c_new) & (c_new <= cost[idx])
        gain = np.where(better, (cost[idx] - c_new) / np.maximum(cost[idx], 1e-300), 0.0)
        # accept improvements, adapt the damping per unit
        acc = idx[better]
        x[acc], r[acc], cost[acc] = x_new[better], r_new[better], c_new[better]
        _adapt(lam, active, idx, la, better, gain, x_new, xa, scale, rtol)
    return LMResult(x=x, cost=cost, iterations=it, converged=~active)


def _damped_step(a, g, la, xa, lower, upper, eye) -> np.ndarray:
    """One Marquardt step per unit: solve (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr, clip into the box."""
    diag = np.maximum(np.einsum("ukk->uk", a), 1e-30)
    system = a + (la[:, None] * diag)[:, :, None] * eye
    try:
        step = np.linalg.solve(system, -g[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        step = -g / (diag * (1 + la[:, None]))
    return np.clip(xa + step, lower, upper)


def _adapt(lam, active, idx, la, better, gain, x_new, xa, scale, rtol) -> None:
    """Per unit: relax the damping after an accepted step, stiffen it after a rejected
    one, and retire units that converged (small gain or step) or gave up (λ at its cap)."""
    lam[idx] = np.where(better, np.maximum(la / 3.0, 1e-12), np.minimum(la * 4.0, 1e12))
    small_step = np.all(np.abs(x_new - xa) <= 1e-9 * (np.abs(xa) + scale), axis=1)
    done = (better & (gain < rtol)) | small_step | (lam[idx] >= 1e12)
    active[idx[done]] = False


def _lm_normal(normal, x0, lower, upper, x_scale, max_iter, rtol) -> LMResult:
    """:func:`batched_lm` with the normal equations supplied by the caller (exact Jacobian).

    The normal equations at each accepted point come from the call that evaluated its cost,
    so an iteration is one evaluation of the model for the still-active units.
    """
    x = np.clip(np.array(x0, dtype=float), lower, upper)
    U, K = x.shape
    scale = np.ones(K) if x_scale is None else np.asarray(x_scale, float)
    cost, A, G = normal(x, np.arange(U))
    A, G = np.array(A, float), np.array(G, float)
    lam = np.full(U, 1e-3)
    active = np.ones(U, bool)
    eye = np.eye(K)
    it = 0
    for it in range(1, max_iter + 1):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        xa, a, g, ca = x[idx], A[idx], G[idx], cost[idx]
        la = lam[idx]
        x_new = _damped_step(a, g, la, xa, lower, upper, eye)
        c_new, a_new, g_new = normal(x_new, idx)
        better = np.isfinite(c_new) & (c_new <= ca)
        gain = np.where(better, (ca - c_new) / np.maximum(ca, 1e-300), 0.0)
        acc = idx[better]
        x[acc], cost[acc], A[acc], G[acc] = x_new[better], c_new[better], a_new[better], g_new[better]
        _adapt(lam, active, idx, la, better, gain, x_new, xa, scale, rtol)
    return LMResult(x=x, cost=cost, iterations=it, converged=~active)
