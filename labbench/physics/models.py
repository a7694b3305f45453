"""Conductance-update models: how one device's conductance responds to n identical pulses.

Every model is an immutable parameter class (a frozen dataclass, in the spirit of
aihwkit's device configs) with one vectorized entry point::

    g_new = model.step(g, n_pulses, direction, rng)

``g`` is an array of any shape and dtype (float32 for big arrays), ``n_pulses`` a
non-negative integer array broadcastable to it, ``direction`` is ``SET`` (+1,
potentiation) or ``RESET`` (-1, depression), scalar or per element.  Parameters may
themselves be arrays broadcastable to ``g``: that is how device-to-device variation is
represented (see :meth:`UpdateModel.sample_devices`).

Cycle-to-cycle noise is carried by every model in two fields, and a device model
chooses either or both:

* ``c2c_rel`` — σ of each pulse's step relative to its mean step: noise that scales with
  the step, and so with the state, vanishing at saturation (aihwkit's ``dw_min_std``);
* ``c2c_abs`` — additive σ per pulse as a fraction of the range ``gmax − gmin``
  (NeuroSim's ``sigmaCtoC``) in mid-range, shrinking near a bound (:func:`toward`).

A burst of n pulses *is* n pulses: each pulse draws its own noise and stays inside the
bounds before the next (by default noise shrinks near a bound instead of being clipped
there, so it has no bias: :func:`toward`; ``noise_at_bound: clip`` adds the full noise
and clips, as aihwkit and NeuroSim do: :data:`NOISE_AT_BOUND`) (:meth:`UpdateModel.step`, :meth:`UpdateModel.pulse_once`), so a
burst and n single pulses have the same distribution, at the bounds too.  A pulse that
counts as ``scale`` nominal pulses (a stronger or longer pulse, see
:mod:`labbench.physics.kinetics`) moves the mean by ``scale`` pulses; its additive noise
is one pulse's (a fraction ``scale`` of it for a weaker pulse): noise comes per physical
pulse, and a strong pulse that saturates a device lands once, as one pulse does.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

SET = 1  # potentiation: gradual SET, conductance grows
RESET = -1  # depression: gradual RESET, conductance shrinks

_REGISTRY: dict[str, type["UpdateModel"]] = {}


def register(cls: type["UpdateModel"]) -> type["UpdateModel"]:
    """Class decorator: make a model constructible by its ``kind`` name (YAML, CLI)."""
    _REGISTRY[cls.kind] = cls
    return cls


def model_class(kind: str) -> type["UpdateModel"]:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise ValueError(
            f"unknown update model kind {kind!r}; choose one of {sorted(_REGISTRY)}"
        ) from None


def model_kinds() -> list[str]:
    return sorted(_REGISTRY)


def parse_direction(direction: Any) -> np.ndarray | int:
    """Accept +1/-1, 'set'/'reset', 'up'/'down', 'ltp'/'ltd' (scalar or array)."""
    if isinstance(direction, str):
        d = direction.strip().lower()
        if d in ("set", "up", "ltp", "potentiation", "+", "+1", "1"):
            return SET
        if d in ("reset", "down", "ltd", "depression", "-", "-1"):
            return RESET
        raise ValueError(f"direction must be 'set' or 'reset', got {direction!r}")
    arr = np.asarray(direction)
    if arr.ndim == 0:
        v = int(arr)
        if v not in (SET, RESET):
            raise ValueError(f"direction must be +1 (SET) or -1 (RESET), got {v}")
        return v
    if not np.isin(arr, (SET, RESET)).all():
        raise ValueError("direction array may only hold +1 (SET) and -1 (RESET)")
    return arr.astype(np.int8)


#: per-pulse noise is a normal truncated at ±NOISE_ROOM σ, and within NOISE_ROOM σ of a
#: bound its σ shrinks to (distance to the bound)/NOISE_ROOM: see :func:`toward`
NOISE_ROOM = 3.0

#: the conventions for a pulse's noise at the bounds (an update model's ``noise_at_bound``):
#:
#: * ``shrink`` (the default): within NOISE_ROOM σ of a bound σ shrinks to a third of the
#:   distance and ξ is truncated at ±NOISE_ROOM, so no draw crosses the bound and none is
#:   clipped: the mean response is unbiased (:func:`toward`);
#: * ``clip``: aihwkit 1.2.0's and MLP+NeuroSim V3.0's rule — the full σ, an untruncated
#:   normal, added to the mean step before it is bounded (the curve continued past the bound),
#:   then clipped to [Gmin, Gmax].  A device held at a bound random-walks away from it, so the
#:   mean sits inside the bound (what those simulators do; :mod:`labbench.export`).
NOISE_AT_BOUND = ("shrink", "clip")


def check_noise_at_bound(value) -> None:
    """Raise a ValueError naming the known conventions unless ``value`` is one."""
    if not isinstance(value, str) or value not in NOISE_AT_BOUND:
        raise ValueError(f"noise_at_bound must be one of {', '.join(NOISE_AT_BOUND)} (shrink: σ shrinks near a "
                         f"bound, unbiased; clip: full noise clipped at the bound, as aihwkit and NeuroSim), "
                         f"got {value!r}")


def forward_only(g, g_new, direction):
    """``g_new`` where it moves in the pulse's direction, else ``g``: a SET never lowers G
    and a RESET never raises it."""
    up = np.asarray(direction) == SET
    return np.where(up, np.maximum(g_new, g), np.minimum(g_new, g))


def toward(g, g_new, direction, gmin, gmax):
    """A mean pulse response kept physical: a SET never lowers G and a RESET never raises
    it, and neither crosses a bound the device is inside of.  A device below its Gmin
    (a strong RESET drew a deeper HRS, :class:`~labbench.physics.chip.Chip`) stays there
    under RESET instead of snapping up to Gmin, and a SET starts from where it is.

    Noise near the bounds (:meth:`UpdateModel.pulse_once` and the compiled pulse) is
    *multiplicative in the distance to the bound*: the additive per-pulse σ of the model
    applies in mid-range, and within 3σ of a bound it shrinks to a third of the distance,
    so no draw (truncated at ±3σ) crosses the bound and nothing is clipped.  Why: clipping
    a Gaussian at a bound biases the mean away from it (a RESET train then levels off well
    above Gmin, and a RESET raises a device at its HRS more often than not); the spread a
    device really has at its HRS is the level's own cycle-to-cycle spread, drawn where a
    RESET saturates (``variability.hrs_c2c``), not a per-pulse random walk."""
    lo, hi = np.minimum(gmin, g), np.maximum(gmax, g)
    return np.clip(forward_only(g, g_new, direction), lo, hi)


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpdateModel(ABC):
    """Base class.  Subclasses define bounds and either ``advance`` or ``mean_step``."""

    kind: ClassVar[str] = "abstract"
    #: parameters that device-to-device variation may act on (lognormal spread)
    variable_params: ClassVar[tuple[str, ...]] = ()

    c2c_rel: float = 0.0
    c2c_abs: float = 0.0
    #: how a pulse's noise meets a bound: ``shrink`` or ``clip`` (:data:`NOISE_AT_BOUND`)
    noise_at_bound: str = "shrink"

    # -- bounds ---------------------------------------------------------------------
    @property
    @abstractmethod
    def gmin(self) -> Any: ...

    @property
    @abstractmethod
    def gmax(self) -> Any: ...

    # -- deterministic response -----------------------------------------------------
    def mean_step(self, g: np.ndarray, direction) -> np.ndarray:
        """Signed mean conductance change of a single pulse at state ``g``."""
        raise NotImplementedError(f"{type(self).__name__} defines neither mean_step nor advance")

    def advance(self, g: np.ndarray, n: np.ndarray, direction) -> np.ndarray:
        """Noise-free state after ``n`` pulses.  Default: iterate ``mean_step``.

        Subclasses with a closed form (NeuroSim) override this; the loop runs
        ``max(n)`` vectorized iterations with a mask, not one per device.
        """
        g = np.array(g, copy=True)
        n = np.broadcast_to(np.asarray(n), g.shape)
        d = direction if np.ndim(direction) == 0 else np.broadcast_to(direction, g.shape)
        n_max = int(n.max()) if n.size else 0
        for k in range(n_max):
            active = n > k
            if not active.any():
                break
            dg = self.mean_step(g, d)
            g = np.where(active, toward(g, g + dg, d, self.gmin, self.gmax), g).astype(g.dtype, copy=False)
        return g

    def set_asymptote_span(self, dtype=np.float64):
        """S, how far above Gmin a SET would saturate without the Gmax clip (per device).

        A current-limited SET compresses the curve so that this asymptote lands on the
        ceiling; defined this way the ceiling does not depend on how many pulses a fit
        took as the range (NeuroSim's Pmax).  Default: Gmax − Gmin."""
        return np.asarray(np.asarray(self.gmax) - np.asarray(self.gmin), dtype)

    def advance_by(self, g: np.ndarray, scale, direction) -> np.ndarray:
        """Noise-free state after one pulse worth ``scale`` nominal pulses (a float array)."""
        if type(self).advance is not UpdateModel.advance:   # a closed form takes fractional n
            return self.advance(g, scale, direction)
        dg = self.mean_step(g, direction)
        return toward(g, g + np.asarray(scale, g.dtype) * dg, direction, self.gmin, self.gmax).astype(g.dtype, copy=False)

    def mean_past_bound(self, g: np.ndarray, direction, scale=None) -> np.ndarray:
        """One pulse's mean before the bounds are applied: the curve continued past a bound
        (only the direction is kept, :func:`forward_only`).  What aihwkit and NeuroSim add
        their noise to before they clip (``noise_at_bound: clip``)."""
        dg = self.mean_step(g, direction)
        step = dg if scale is None else np.asarray(scale, g.dtype) * dg
        return forward_only(g, g + step, direction).astype(g.dtype, copy=False)

    # -- the public entry points ----------------------------------------------------
    def pulse_once(self, g: np.ndarray, direction, xi=None, scale=None) -> np.ndarray:
        """One pulse on every element of ``g``, with noise ``xi`` (standard normals, one per
        element; None: noise-free), inside the bounds: without clipping (``noise_at_bound:
        shrink``, :func:`toward`) or clipped (``clip``).  ``scale``: the pulse is worth
        that many nominal pulses (per element; None = exactly one)."""
        has_noise = xi is not None and bool(self.c2c_rel or self.c2c_abs)
        if has_noise and self.noise_at_bound == "clip":
            return self._pulse_clipped(g, direction, xi, scale)
        if scale is None:
            g_mean = self.advance(g, np.ones(g.shape, np.int8), direction)
        else:
            g_mean = self.advance_by(g, scale, direction)
        if not has_noise:
            return g_mean.astype(g.dtype, copy=False)
        dt = g.dtype
        sigma = self._sigma(g, g_mean, scale)
        lo, hi = np.minimum(self.gmin, g), np.maximum(self.gmax, g)
        sigma = np.minimum(sigma, np.minimum(g_mean - lo, hi - g_mean) / NOISE_ROOM)
        z = np.clip(np.asarray(xi, dtype=dt), -NOISE_ROOM, NOISE_ROOM)
        noisy = (z * sigma + g_mean).astype(dt, copy=False)
        if scale is not None and np.any(np.asarray(scale) <= 0):
            noisy = np.where(np.asarray(scale) > 0, noisy, g)   # a pulse that does nothing
        return np.clip(noisy, lo, hi).astype(dt, copy=False)   # rounding only: nothing reaches a bound

    def _sigma(self, g, g_mean, scale):
        """The per-pulse σ (S): additive ``c2c_abs`` of the range (a weaker pulse a fraction of
        it) and ``c2c_rel`` of the step ``g_mean − g``."""
        dt = g.dtype
        sigma_abs = np.asarray(self.c2c_abs * np.asarray(self.gmax - self.gmin, dtype=dt), dtype=dt)
        if self.c2c_rel:
            var = np.square(sigma_abs) * (1 if scale is None else np.minimum(np.asarray(scale, dt), 1))
            return np.sqrt(var + np.square(dt.type(self.c2c_rel) * (g_mean - g)))
        return sigma_abs if scale is None else sigma_abs * np.sqrt(np.minimum(np.asarray(scale, dt), 1))

    def _pulse_clipped(self, g, direction, xi, scale):
        """``noise_at_bound: clip`` — aihwkit's ``w += Δw(w)·(1 + σ_rel·ξ)`` / ``+ σ·ξ`` then
        ``w = clip(w, min_bound, max_bound)`` (rpu_*_device.cpp ``update_once``), NeuroSim's
        ``G' = NonlinearWeight(x + 1) + N(0, σ)`` then the clip (Cell.cpp ``RealDevice::Write``):
        the noise is added to the unbounded mean step, untruncated, and only the sum is clipped.
        A device below Gmin (a deep HRS) or above Gmax keeps that as its bound, as in :func:`toward`."""
        dt = g.dtype
        g_mean = self.mean_past_bound(g, direction, scale)
        sigma = self._sigma(g, g_mean, scale)
        noisy = (np.asarray(xi, dtype=dt) * sigma + g_mean).astype(dt, copy=False)
        if scale is not None and np.any(np.asarray(scale) <= 0):
            noisy = np.where(np.asarray(scale) > 0, noisy, g)   # a pulse that does nothing
        lo, hi = np.minimum(self.gmin, g), np.maximum(self.gmax, g)
        return np.clip(noisy, lo, hi).astype(dt, copy=False)

    def step(self, g, n_pulses, direction, rng=None, xi=None, scale=None) -> np.ndarray:
        """State after ``n_pulses`` pulses in ``direction``, with cycle-to-cycle noise.

        Each pulse draws its own noise and is bounded before the next.  ``rng`` is a
        ``numpy.random.Generator`` (or anything with ``standard_normal``); ``xi`` may
        instead give the standard normals directly, shape ``(max(n),) + g.shape`` (or
        ``g.shape`` when no element gets more than one pulse).  With neither the step is
        noise-free, in closed form.  ``scale``: each pulse is worth that many nominal
        pulses (see :meth:`pulse_once`).
        """
        g = np.asarray(g)
        if not np.issubdtype(g.dtype, np.floating):
            g = g.astype(np.float64)
        n = np.asarray(n_pulses)
        if n.size and (n < 0).any():
            raise ValueError("n_pulses must be >= 0")
        direction = parse_direction(direction)
        noisy = (xi is not None or rng is not None) and bool(self.c2c_rel or self.c2c_abs)
        if not noisy:
            n_eff = n if scale is None else n * np.asarray(scale)
            return self.advance(g, n_eff, direction).astype(g.dtype, copy=False)
        shape = np.broadcast(g, n).shape
        g = np.array(np.broadcast_to(g, shape), copy=True)
        n = np.broadcast_to(n, shape)
        n_max = int(n.max()) if n.size else 0
        if xi is not None:
            xi = np.asarray(xi)
            if xi.shape == shape:
                if n_max > 1:
                    raise ValueError("xi holds one normal per element: give (max(n),) + shape for bursts")
                xi = xi[None]
            elif xi.shape != (n_max,) + shape:
                raise ValueError(f"xi has shape {xi.shape}, expected {(n_max,) + shape}")
        for k in range(n_max):
            z = xi[k] if xi is not None else rng.standard_normal(shape)
            out = self.pulse_once(g, direction, z, scale)
            g = out if (n > k).all() else np.where(n > k, out, g).astype(g.dtype, copy=False)
        return g

    # -- variation ------------------------------------------------------------------
    def sample_devices(self, shape, d2d: dict[str, float] | None, rng: np.random.Generator,
                       truncate: float = 3.0, dtype=np.float64) -> "UpdateModel":
        """A copy whose parameters are arrays of ``shape``, one value per device.

        ``d2d`` maps parameter names to the σ of a lognormal factor ``exp(σ·z)``, with
        ``z`` a standard normal truncated to ``±truncate`` (so no device gets a
        non-physical parameter).  Parameters not named stay shared scalars.
        """
        if not d2d:
            return self
        changes = {}
        for name, sigma in d2d.items():
            if name not in self.variable_params:
                raise ValueError(
                    f"device-to-device spread on {name!r} is not supported by the "
                    f"{self.kind} model; use one of {list(self.variable_params)}"
                )
            if sigma < 0:
                raise ValueError(f"d2d sigma for {name!r} must be >= 0, got {sigma}")
            z = rng.standard_normal(shape)
            z = np.clip(z, -truncate, truncate)
            base = getattr(self, name)
            changes[name] = (base * np.exp(sigma * z)).astype(dtype)
        return dataclasses.replace(self, **changes)

    def index(self, idx) -> "UpdateModel":
        """The model restricted to devices ``idx`` (array parameters are sliced)."""
        changes = {
            f.name: getattr(self, f.name)[idx]
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        return dataclasses.replace(self, **changes) if changes else self

    # -- serialisation --------------------------------------------------------------
    def to_dict(self) -> dict:
        out: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "noise_at_bound":
                if v != "shrink":   # the default is left out: files and run hashes stay as they were
                    out[f.name] = v
                continue
            if isinstance(v, np.ndarray):
                raise ValueError("a per-device (sampled) model cannot be serialised; save the nominal one")
            out[f.name] = float(v) if isinstance(v, (int, float, np.floating)) else v
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "UpdateModel":
        data = dict(data)
        kind = data.pop("kind", None)
        target = model_class(kind) if kind is not None else cls
        names = {f.name for f in dataclasses.fields(target)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(
                f"{target.kind} model: unknown parameter(s) {sorted(unknown)}; "
                f"expected some of {sorted(names)}"
            )
        return target(**data)

    def _check(self, cond: bool, msg: str) -> None:
        if not cond:
            raise ValueError(f"{self.kind} model: {msg}")

    def _check_noise_at_bound(self) -> None:
        try:
            check_noise_at_bound(self.noise_at_bound)
        except ValueError as e:
            raise ValueError(f"{self.kind} model: {e}") from None


def _directional(direction, up, down):
    """Select per element between the SET value ``up`` and the RESET value ``down``."""
    if np.ndim(direction) == 0:
        return up if direction == SET else down
    return np.where(direction == SET, up, down)


@register
@dataclasses.dataclass(frozen=True, kw_only=True)
class NeuroSimModel(UpdateModel):
    """NeuroSim's saturating exponential (MLP+NeuroSim V3 manual, eqs. 1–3).

    SET:   G(P) = B_s (1 − e^(−P/A_s)) + Gmin,          B_s = (Gmax − Gmin)/(1 − e^(−Pmax_s/A_s))
    RESET: G(Q) = Gmax − B_r (1 − e^(−Q/|A_r|)),        Q = depression pulses from Gmax

    ``a_set`` and ``a_reset`` are in pulses and follow NeuroSim's sign convention:
    positive for SET, negative for RESET (the manual fits LTD on a mirrored axis with a
    negative A).  A device at G sits at pulse position ``x = −A ln(1 − (G − Gmin)/B)``
    and n pulses move it to ``x + n`` (clipped to [0, Pmax]): a closed form, so n
    pulses cost the same as one.
    """

    kind: ClassVar[str] = "neurosim"
    variable_params: ClassVar[tuple[str, ...]] = ("g_min", "g_max", "a_set", "a_reset")

    g_min: Any
    g_max: Any
    pmax_set: float
    a_set: Any
    pmax_reset: float
    a_reset: Any

    def __post_init__(self):
        self._check_noise_at_bound()
        self._check(np.all(np.asarray(self.g_max) > np.asarray(self.g_min)),
                    f"g_max ({self.g_max}) must exceed g_min ({self.g_min})")
        self._check(np.all(np.asarray(self.g_min) >= 0), "g_min must be >= 0 S")
        self._check(self.pmax_set > 0 and self.pmax_reset > 0, "pmax_set and pmax_reset must be > 0")
        self._check(np.all(np.asarray(self.a_set) > 0), "a_set must be > 0 (pulses)")
        self._check(np.all(np.asarray(self.a_reset) < 0),
                    "a_reset must be < 0 (NeuroSim convention for depression)")

    @property
    def gmin(self):
        return self.g_min

    @property
    def gmax(self):
        return self.g_max

    # Position/conductance maps of one direction, measured from that direction's start.
    @staticmethod
    def _b(span, pmax, a):
        return span / (-np.expm1(-pmax / a))

    def _constants(self, up: bool, dt) -> tuple:
        """(A, B) of one direction in dtype ``dt``; per device when D2D varies them.

        Cached on the instance: they depend on the parameters only, and recomputing
        B (an expm1 per device) on every pulse was a third of a big pulse's cost.  A
        model made by :meth:`index` slices its parent's cache where the parent has them,
        and computes its own devices' otherwise (an elementwise function of each device's
        own parameters: the same numbers, without B for all 10⁶ devices of a chip when a
        refresh reads a few thousand).
        """
        cache = self.__dict__.setdefault("_consts", {})
        key = (up, np.dtype(dt).str)
        if key not in cache:
            src = self.__dict__.get("_consts_src")
            if src is not None and key in src[0].__dict__.get("_consts", {}):
                parent, idx = src
                cache[key] = tuple(x[idx] if x.ndim else x for x in parent._constants(up, dt))
            else:
                span = np.asarray(np.asarray(self.g_max) - np.asarray(self.g_min), dtype=dt)
                a = np.asarray(self.a_set if up else -np.asarray(self.a_reset), dtype=dt)
                pmax = np.asarray(self.pmax_set if up else self.pmax_reset, dtype=dt)
                cache[key] = (a, np.asarray(self._b(span, pmax, a), dtype=dt))
        return cache[key]

    def index(self, idx) -> "NeuroSimModel":
        """The model restricted to devices ``idx``.

        Faster than the generic version for the Chip's per-pulse gather: a subset of a
        validated model is valid (no re-validation), and the per-device constants are
        sliced from this model's cache instead of recomputed.
        """
        arrays = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if isinstance(getattr(self, f.name), np.ndarray)}
        if not arrays:
            return self
        new = object.__new__(type(self))
        new.__dict__.update({k: v for k, v in self.__dict__.items()
                             if k not in arrays and not k.startswith(("_consts", "_lazy"))})
        # per-device fields are gathered on first use (a SET pulse never reads a_reset,
        # nor a_set: advance uses the cached constants)
        new.__dict__["_lazy_src"] = (self, idx, frozenset(arrays))
        new.__dict__["_consts_src"] = (self, idx)
        return new

    def __getattr__(self, name):
        # only reached when normal lookup fails: a lazily indexed per-device field
        src = self.__dict__.get("_lazy_src")
        if src is not None and name in src[2]:
            value = getattr(src[0], name)[src[1]]
            self.__dict__[name] = value
            return value
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def set_asymptote_span(self, dtype=np.float64):
        """NeuroSim's B: the SET curve tends to Gmin + B (Gmax is reached at Pmax)."""
        return self._constants(True, np.dtype(dtype))[1]

    def advance(self, g, n, direction):
        g = np.asarray(g)
        dt = g.dtype
        n = np.asarray(n)
        g_new = toward(g, self._curve(g, n, direction, capped=True), direction, self.g_min, self.g_max)
        # zero pulses must leave a device exactly where it was (the G→x→G round trip
        # is not exact in float32)
        if n.size and n.min() > 0 and g_new.shape == np.shape(g):
            return g_new.astype(dt, copy=False)
        return np.where(n > 0, g_new, g).astype(dt, copy=False)

    def mean_past_bound(self, g, direction, scale=None):
        """The closed form without the clip at Pmax: NeuroSim's ``NonlinearWeight(x + 1)``,
        which ``RealDevice::Write`` adds its noise to before clipping."""
        g = np.asarray(g)
        n = np.ones(g.shape, np.int8) if scale is None else np.asarray(scale)
        return forward_only(g, self._curve(g, n, direction, capped=False), direction).astype(g.dtype, copy=False)

    def _curve(self, g, n, direction, capped: bool):
        """G after ``n`` pulses along the curve, before :func:`toward`; ``capped``: with the
        clip of x + n at Pmax."""
        dt = g.dtype
        # From position x = −A ln(1 − d/B) (d = distance from this direction's start),
        # n pulses give d' = B − (B − d)·e^(−n/A): one exp per device instead of log1p +
        # expm1; the clip of x + n at Pmax is d' ≤ span.  d may be negative (a SET from
        # below Gmin, where a strong RESET left the device): the curve continues there,
        # with no snap to Gmin; and a pulse never moves a device against its direction
        # (:func:`toward`).
        if np.ndim(direction) == 0:
            up = direction == SET
            a, b = self._constants(up, dt)
            dist = (g - self.g_min) if up else (self.g_max - g)
        else:
            up = np.asarray(direction) == SET
            (a1, b1), (a0, b0) = self._constants(True, dt), self._constants(False, dt)
            a, b = np.where(up, a1, a0), np.where(up, b1, b0)
            dist = np.where(up, g - self.g_min, self.g_max - g)
        dist = np.asarray(dist, dtype=dt)
        span = np.asarray(np.asarray(self.g_max) - np.asarray(self.g_min), dtype=dt)
        decay = np.exp(-n.astype(dt) / a)
        dist_new = b - (b - dist) * decay
        if capped:
            dist_new = np.minimum(dist_new, span)
        g_new = (self.g_min + dist_new if up else self.g_max - dist_new) if np.ndim(up) == 0 \
            else np.where(up, self.g_min + dist_new, self.g_max - dist_new)
        return np.asarray(g_new, dt)

    def curve(self, pulses, direction) -> np.ndarray:
        """G along a full train from the starting bound (Gmin for SET, Gmax for RESET)."""
        d = parse_direction(direction)
        start = np.asarray(self.g_min if d == SET else self.g_max, dtype=float)
        return self.advance(np.full(np.shape(pulses), start), np.asarray(pulses), d)

    # NeuroSim's normalized A and nonlinearity label
    @property
    def a_set_normalized(self):
        return np.asarray(self.a_set) / self.pmax_set

    @property
    def a_reset_normalized(self):
        return np.asarray(self.a_reset) / self.pmax_reset

    @classmethod
    def from_nonlinearity(cls, g_min: float, g_max: float, nl_set: float, nl_reset: float,
                          pmax_set: float, pmax_reset: float | None = None, **kw) -> "NeuroSimModel":
        """Build from NeuroSim's nonlinearity labels (e.g. 2.4 / −4.88)."""
        from .nonlinearity import normalized_a_from_nl

        pmax_reset = pmax_set if pmax_reset is None else pmax_reset
        if nl_set <= 0 or nl_reset >= 0:
            raise ValueError("nl_set must be > 0 and nl_reset < 0 (NeuroSim sign convention)")
        return cls(g_min=g_min, g_max=g_max, pmax_set=pmax_set, pmax_reset=pmax_reset,
                   a_set=normalized_a_from_nl(nl_set) * pmax_set,
                   a_reset=normalized_a_from_nl(nl_reset) * pmax_reset, **kw)
