"""The update rules' arithmetic, compiled: ΔW (in weight units) × 1/pulse step → signed
int8 pulse counts, one pass over a layer or a block of it (the rules themselves, what they
mean and when to use which: :mod:`labbench.bnn.update_rules`).

Here, below the training code, because a streamed update (:mod:`.pulse_stream`) rounds
each block on whichever thread pulses it; :func:`apply_rule` picks a rule by its code.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["ACCUMULATE", "DETERMINISTIC", "MAX_PULSES", "NOISE_AWARE", "STOCHASTIC", "THRESHOLD", "apply_rule",
           "round_accumulate", "round_deterministic", "round_noise_aware", "round_stochastic", "round_threshold"]

MAX_PULSES = 127   # per device per update (int8 counts)

# Each rule's arithmetic as one compiled pass over the layer (scale by 1/pulse step, round,
# clip, int8), the same float32 operations as each rule's NumPy form (bnn.update_rules): four or five
# NumPy passes over a 784×1000 layer cost more than the pulses they produce (issue 11).
_JIT = {"cache": True, "nogil": True}
_LIM = np.float32(MAX_PULSES)


@njit(**_JIT)
def round_accumulate(x, scale, r, out):
    for i in range(x.size):
        v = min(max(r[i] + x[i] * scale, -_LIM), _LIM)
        k = np.int8(v)                               # truncation toward zero
        r[i] = v - np.float32(k)
        out[i] = k


@njit(**_JIT)
def round_stochastic(x, scale, u16, out):
    half, res = np.float32(0.5), np.float32(1.0 / 65536.0)
    for i in range(x.size):
        v = min(max(x[i] * scale, -_LIM), _LIM)
        u = (np.float32(u16[i]) + half) * res
        out[i] = np.int8(v + u if v >= 0 else v - u)   # floor(|v| + u)·sign(v)


@njit(**_JIT)
def round_noise_aware(x, scale, u16, slope, offset, out):
    half, res, one = np.float32(0.5), np.float32(1.0 / 65536.0), np.float32(1.0)
    for i in range(x.size):
        v = min(max(x[i] * scale, -_LIM), _LIM)
        a = abs(v)
        n = np.float32(np.int8(a))                     # whole pulses
        p = min(max((a - n) * slope - offset, np.float32(0.0)), one)
        u = (np.float32(u16[i]) + half) * res
        k = np.int8(n) + (np.int8(1) if u < p and n < _LIM else np.int8(0))
        out[i] = k if v >= 0 else -k


@njit(**_JIT)
def round_threshold(x, scale, theta, out):
    for i in range(x.size):
        v = x[i] * scale
        out[i] = 1 if v > theta else (-1 if v < -theta else 0)


@njit(**_JIT)
def round_deterministic(x, scale, out):
    for i in range(x.size):
        out[i] = np.int8(np.rint(min(max(x[i] * scale, -_LIM), _LIM)))



ACCUMULATE, STOCHASTIC, THRESHOLD, DETERMINISTIC, NOISE_AWARE = range(5)


@njit(**_JIT)
def apply_rule(code, x, scale, f1, f2, r, u16, out):
    """Rule ``code``'s counts for ΔW ``x`` into ``out``: ``r`` the accumulate rule's residual,
    ``u16`` the stochastic rules' draws (slices matching ``x``; empty where unused), ``f1``
    the threshold (THRESHOLD) or slope (NOISE_AWARE), ``f2`` the offset (NOISE_AWARE)."""
    if code == ACCUMULATE:
        round_accumulate(x, scale, r, out)
    elif code == STOCHASTIC:
        round_stochastic(x, scale, u16, out)
    elif code == THRESHOLD:
        round_threshold(x, scale, f1, out)
    elif code == DETERMINISTIC:
        round_deterministic(x, scale, out)
    else:
        round_noise_aware(x, scale, u16, f1, f2, out)
