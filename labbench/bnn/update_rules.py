"""Update rules: the optimizer's desired ΔW → gradual-SET pulses on the + or − device.

ΔW comes in units of pulses (ΔW divided by the nominal weight change of one pulse).
A positive ΔW pulses G+ (raising G+ − G−), a negative one G−; devices only ever grow
between refreshes.  Rules are pluggable: ``make_rule(name)``.

* ``deterministic`` — round |ΔW| to the nearest whole number of pulses.  Once the
  learning rate has decayed below half a pulse, nothing is written: learning stalls.
* ``stochastic`` — floor(|ΔW| + u), u ~ U[0, 1): unbiased, E[pulses] = |ΔW|, so small
  updates still move the weight on average (stochastic rounding, Gupta et al. 2015).
* ``threshold`` — one pulse where |ΔW| exceeds a threshold (in pulses), else none:
  the simplest circuit (Zhou et al. style sign-based update), blind to magnitude.
* ``accumulate`` (default) — ΔW goes into a digital sub-pulse residual; whole pulses are
  written when it reaches one (mixed precision).  Fewest pulses, so least write noise.
"""
from __future__ import annotations

import numpy as np

MAX_PULSES = 127   # per device per update (int8 counts)


class UpdateRule:
    name = "abstract"
    stateful = False

    def signed(self, dw_pulses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Signed pulse counts, int8: k > 0 pulses G+ k times, k < 0 pulses G− |k| times.

        ``dw_pulses`` (float32) may be overwritten.
        """
        raise NotImplementedError

    def pulses(self, dw_pulses: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(n_plus, n_minus), int8 arrays shaped like ``dw_pulses`` (the protocol's form)."""
        k = self.signed(dw_pulses, rng)
        return np.maximum(k, 0), np.maximum(-k, 0)


def uniform16(rng: np.random.Generator, shape) -> np.ndarray:
    """float32 uniforms on (0, 1) with 16-bit resolution, four per raw 64-bit draw.

    5× cheaper than ``rng.random(dtype=float32)`` (which spends a 32-bit draw and a
    conversion per number); 2⁻¹⁶ of a pulse is far below any learning rate used.
    """
    n = int(np.prod(shape))
    raw = rng.bit_generator.random_raw((n + 3) // 4)
    u = raw.view(np.uint16)[:n].astype(np.float32)
    u += np.float32(0.5)
    u *= np.float32(1.0 / 65536.0)
    return u.reshape(shape)


def _clip(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -MAX_PULSES, MAX_PULSES, out=x)


class DeterministicRounding(UpdateRule):
    name = "deterministic"

    def signed(self, x, rng):
        return np.rint(_clip(x), out=x).astype(np.int8)


class StochasticRounding(UpdateRule):
    name = "stochastic"

    def signed(self, x, rng):
        # floor(|x| + u)·sign(x) = trunc(x + sign(x)·u): one pass fewer than via |x|
        u = uniform16(rng, x.shape)
        np.copysign(u, x, out=u)
        x = _clip(x)
        x += u
        return x.astype(np.int8)          # truncation toward zero


class ThresholdPulse(UpdateRule):
    name = "threshold"

    def __init__(self, threshold: float = 0.5):
        if threshold <= 0:
            raise ValueError(f"threshold must be > 0 pulses, got {threshold}")
        self.threshold = float(threshold)

    def signed(self, x, rng):
        return (x > self.threshold).astype(np.int8) - (x < -self.threshold).astype(np.int8)


class Accumulate(UpdateRule):
    """Mixed precision (Nandakumar et al., Front. Neurosci. 2020): ΔW is added to a digital
    residual χ, and whole pulses are sent only when |χ| reaches one; χ keeps the rest.

    Gradient noise makes ΔW change sign from batch to batch; rounding it (even
    stochastically) turns that jitter into + and − pulses that cancel in the mean but
    each add write noise.  Accumulating first cancels the jitter digitally, so the
    device sees about |Σ ΔW| pulses instead of Σ |ΔW|.  Costs one number per synapse,
    like the Adam moments (kept digital anyway).
    """

    name = "accumulate"
    stateful = True

    def __init__(self):
        self.residual: np.ndarray | None = None

    def signed(self, x, rng):
        if self.residual is None or self.residual.shape != x.shape:
            self.residual = np.zeros(x.shape, np.float32)
        r = self.residual
        r += x
        k = _clip(r).astype(np.int8)    # truncation toward zero: whole pulses (|r| < 127 in practice)
        r -= k
        return k

    def state_dict(self) -> dict[str, np.ndarray]:
        return {} if self.residual is None else {"residual": self.residual.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "residual" in state:
            self.residual = np.asarray(state["residual"], np.float32).copy()


RULES = {c.name: c for c in (DeterministicRounding, StochasticRounding, ThresholdPulse, Accumulate)}


def make_rule(name: str, **kw) -> UpdateRule:
    try:
        return RULES[name](**kw)
    except KeyError:
        raise ValueError(f"unknown update rule {name!r}; choose one of {sorted(RULES)}") from None
