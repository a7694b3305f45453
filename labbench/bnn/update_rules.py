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
* ``noise_aware`` — stochastic rounding that knows the device's cycle-to-cycle noise σ
  (in pulses, from the device model): a pulse costs σ² of write noise, so a small |ΔW|
  whose direction does not persist buys more noise than signal.  Choosing the pulse
  probability p for the fractional part f of |ΔW| to minimize the squared error of N
  consecutive updates of the same ΔW (bias N(p − f), variance p(1 − p) + p·σ² per update)
  gives p = clip((2N·f − 1 − σ²) / (2(N − 1)), 0, 1): stochastic rounding (N → ∞) with a
  dead zone of (1 + σ²)/2N pulses, the MSE-optimal threshold (1 + σ²)/2 at N = 1.
  ``horizon`` is N.  Stateless (0 B/synapse), so strict mode allows it.
* ``accumulate`` (default) — ΔW goes into a digital sub-pulse residual; whole pulses are
  written when it reaches one (mixed precision).  Fewest pulses, so least write noise.
"""
from __future__ import annotations

import numpy as np

from labbench.array.rounding import (ACCUMULATE, DETERMINISTIC, MAX_PULSES, NOISE_AWARE, STOCHASTIC, THRESHOLD,
                                     round_accumulate, round_deterministic, round_noise_aware, round_stochastic, round_threshold)

_NO_U16 = np.zeros(0, np.uint16)
_NO_R = np.zeros(0, np.float32)


class UpdateRule:
    name = "abstract"
    stateful = False

    def signed(self, dw_pulses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Signed pulse counts, int8: k > 0 pulses G+ k times, k < 0 pulses G− |k| times.

        ``dw_pulses`` (float32) may be overwritten.
        """
        raise NotImplementedError

    def signed_scaled(self, dw: np.ndarray, scale: np.float32, rng: np.random.Generator) -> np.ndarray:
        """``signed(dw · scale)`` (ΔW in weight units, ``scale`` = 1 / the weight change of one
        pulse), in one compiled pass where the rule has one; ``dw`` may be overwritten."""
        x = np.ascontiguousarray(dw, dtype=np.float32)
        out = np.empty(x.shape, np.int8)
        if not self._fused(x.reshape(-1), np.float32(scale), rng, out.reshape(-1)):
            x = x * np.float32(scale)
            out = self.signed(x, rng)
        return out

    def _fused(self, x, scale, rng, out) -> bool:
        return False   # no compiled form: signed() on the scaled array

    def compiled(self, n: int, rng: np.random.Generator) -> tuple | None:
        """(code, f1, f2, residual, u16) for :func:`labbench.array.rounding.apply_rule`:
        :meth:`signed_scaled` of a layer of ``n`` synapses, a block at a time on any thread,
        the same numbers, with the layer's random draws taken here as signed_scaled takes
        them; or None (no compiled form, or no state yet: the one-call update)."""
        return None

    def pulses(self, dw_pulses: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(n_plus, n_minus), int8 arrays shaped like ``dw_pulses`` (the protocol's form)."""
        k = self.signed(dw_pulses, rng)
        return np.maximum(k, 0), np.maximum(-k, 0)


def raw16(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uint16 draws, four per raw 64-bit draw of ``rng``'s bit generator."""
    return rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n]


def uniform16(rng: np.random.Generator, shape) -> np.ndarray:
    """float32 uniforms on (0, 1) with 16-bit resolution, four per raw 64-bit draw.

    5× cheaper than ``rng.random(dtype=float32)`` (which spends a 32-bit draw and a
    conversion per number); 2⁻¹⁶ of a pulse is far below any learning rate used.
    """
    n = int(np.prod(shape))
    u = raw16(rng, n).astype(np.float32)
    u += np.float32(0.5)
    u *= np.float32(1.0 / 65536.0)
    return u.reshape(shape)


def _clip(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -MAX_PULSES, MAX_PULSES, out=x)


class DeterministicRounding(UpdateRule):
    name = "deterministic"

    def signed(self, x, rng):
        return np.rint(_clip(x), out=x).astype(np.int8)

    def _fused(self, x, scale, rng, out):
        round_deterministic(x, scale, out)
        return True

    def compiled(self, n, rng):
        return DETERMINISTIC, np.float32(0), np.float32(0), _NO_R, _NO_U16


class StochasticRounding(UpdateRule):
    name = "stochastic"

    def signed(self, x, rng):
        # floor(|x| + u)·sign(x) = trunc(x + sign(x)·u): one pass fewer than via |x|
        u = uniform16(rng, x.shape)
        np.copysign(u, x, out=u)
        x = _clip(x)
        x += u
        return x.astype(np.int8)          # truncation toward zero

    def _fused(self, x, scale, rng, out):
        round_stochastic(x, scale, raw16(rng, x.size), out)
        return True

    def compiled(self, n, rng):
        return STOCHASTIC, np.float32(0), np.float32(0), _NO_R, raw16(rng, n)


class ThresholdPulse(UpdateRule):
    name = "threshold"

    def __init__(self, threshold: float = 0.5):
        if threshold <= 0:
            raise ValueError(f"threshold must be > 0 pulses, got {threshold}")
        self.threshold = float(threshold)

    def signed(self, x, rng):
        return (x > self.threshold).astype(np.int8) - (x < -self.threshold).astype(np.int8)

    def _fused(self, x, scale, rng, out):
        round_threshold(x, scale, np.float32(self.threshold), out)
        return True

    def compiled(self, n, rng):
        return THRESHOLD, np.float32(self.threshold), np.float32(0), _NO_R, _NO_U16


class NoiseAwareRounding(UpdateRule):
    """Stochastic rounding with a dead zone set by the device's C2C noise (module doc)."""

    name = "noise_aware"

    def __init__(self, sigma: float = 0.0, horizon: float = 8.0):
        if not (np.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"sigma must be a finite number of pulses >= 0, got {sigma}")
        if not (np.isfinite(horizon) and horizon >= 1):
            raise ValueError(f"horizon must be a finite number of updates >= 1, got {horizon}")
        self.sigma, self.horizon = float(sigma), float(horizon)
        n, cost = self.horizon, 1.0 + self.sigma ** 2
        if n == 1.0:   # one update: pulse where f > (1 + σ²)/2 (a step of the clip)
            self.slope, self.offset = np.float32(1e6), np.float32(1e6 * cost / 2)
        else:
            self.slope, self.offset = np.float32(n / (n - 1)), np.float32(cost / (2 * (n - 1)))

    def probability(self, f: np.ndarray) -> np.ndarray:
        """The pulse probability for fractional parts ``f`` (the rule's curve, for plots and tests)."""
        return np.clip(np.asarray(f, np.float32) * self.slope - self.offset, 0.0, 1.0)

    def signed(self, x, rng):
        out = np.empty(x.shape, np.int8)
        round_noise_aware(np.ascontiguousarray(x, np.float32).reshape(-1), np.float32(1.0), raw16(rng, x.size),
                     self.slope, self.offset, out.reshape(-1))
        return out

    def _fused(self, x, scale, rng, out):
        round_noise_aware(x, scale, raw16(rng, x.size), self.slope, self.offset, out)
        return True

    def compiled(self, n, rng):
        return NOISE_AWARE, self.slope, self.offset, _NO_R, raw16(rng, n)


def c2c_sigma_pulses(model) -> float:
    """The device model's cycle-to-cycle noise per nominal SET pulse, in mean steps (a mean
    step is 1/Pmax of the range): additive σ = c2c_abs of the range is c2c_abs · Pmax
    steps, step-scaled σ = c2c_rel of a step; added in quadrature."""
    up = model.update
    pmax = float(getattr(up, "pmax_set", None) or 64)
    c2c_abs, c2c_rel = float(getattr(up, "c2c_abs", 0.0) or 0.0), float(getattr(up, "c2c_rel", 0.0) or 0.0)
    return float(np.hypot(c2c_abs * pmax, c2c_rel))


def rule_for(rule_spec, model) -> "UpdateRule":
    """The rule a TrainSpec's ``rule`` section names, with the parameters it takes."""
    if rule_spec.name == "threshold":
        return make_rule("threshold", threshold=rule_spec.threshold)
    if rule_spec.name == "noise_aware":
        return make_rule("noise_aware", sigma=c2c_sigma_pulses(model), horizon=rule_spec.horizon)
    return make_rule(rule_spec.name)


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

    def _fused(self, x, scale, rng, out):
        if self.residual is None or self.residual.size != x.size:
            return False
        round_accumulate(x, scale, self.residual.reshape(-1), out)
        return True

    def compiled(self, n, rng):
        if self.residual is None or self.residual.size != n:
            return None
        return ACCUMULATE, np.float32(0), np.float32(0), self.residual.reshape(-1), _NO_U16

    def state_dict(self) -> dict[str, np.ndarray]:
        return {} if self.residual is None else {"residual": self.residual.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "residual" in state:
            self.residual = np.asarray(state["residual"], np.float32).copy()


RULES = {c.name: c for c in (DeterministicRounding, StochasticRounding, ThresholdPulse, NoiseAwareRounding,
                             Accumulate)}


def make_rule(name: str, **kw) -> UpdateRule:
    try:
        return RULES[name](**kw)
    except KeyError:
        raise ValueError(f"unknown update rule {name!r}; choose one of {sorted(RULES)}") from None
