"""Optimizers: a layer's gradient → the desired weight change ΔW (then pulses, by the rule).

On a 2T2R chip the hidden weight lives in the device pair; anything an optimizer keeps
*per synapse* is a second, digital copy of the learning state beside it.  So every
optimizer here says what it keeps (:meth:`Optimizer.state_bytes`), split into per-synapse
state (O(rows × cols)) and per-layer / per-neuron state (O(rows + cols)):

* ``adam`` — Adam (Kingma & Ba 2015): two float32 moments per synapse, 8 B/synapse.
  The mixed-precision reference.
* ``sgd`` — SGD with one scale per layer: ΔW = −lr · g / rms(g), rms an exponential average
  of the layer's gradient RMS.  One global SGD rate fails here: the two layers' gradients
  differ by ~40×.  0 B/synapse.
* ``adafactor`` — a factored second moment without momentum (Shazeer & Stern 2018): one
  running mean of g² per row and one per column, V̂ = R Cᵀ / mean(R); ΔW = −lr · g / √V̂,
  clipped at ``clip`` (the paper's update clipping).  0 B/synapse, (rows + cols) × 4 B per layer.
* ``sign`` — signSGD (Bernstein et al. 2018): ΔW = −lr · sign(g) where |g| exceeds
  ``threshold`` × the layer's gradient RMS, else 0: a pulse-or-nothing update, no magnitude
  stored anywhere.  0 B/synapse.

Batch-norm scale and shift are per-neuron parameters that stay digital in every mode
(they are the periphery, not synapses); they always use Adam, whose state there is O(neurons).
"""
from __future__ import annotations

import numpy as np

# Elementwise optimizers go over a layer in row blocks of about this many synapses: a
# block's gradient, moments and step (4 × 256 KB) stay in the 1 MB L2 between the passes
# (~10 % faster than whole-layer passes on 784 × 500), and the device path pulses one block
# while the next is computed (labbench.array.pulse_stream).  Elementwise, so the numbers
# do not depend on the blocks.
BLOCK_SYNAPSES = 1 << 16


def row_blocks(rows: int, cols: int) -> list[int]:
    """Row edges 0 = e0 < e1 < … < rows of blocks of about :data:`BLOCK_SYNAPSES`."""
    per = max(1, BLOCK_SYNAPSES // max(cols, 1))
    n = max(1, round(rows / per))
    return [round(i * rows / n) for i in range(n + 1)]


class Optimizer:
    name = "abstract"
    per_synapse = False          # does it keep O(rows × cols) state?

    def __init__(self, shapes):
        self.shapes = [tuple(s) for s in shapes]
        self.t = 0

    def begin_step(self) -> None:
        self.t += 1

    def step(self, i: int, grad: np.ndarray, lr: float) -> np.ndarray:
        """ΔW for slot ``i`` (float32, same shape as ``grad``; may reuse ``grad``'s memory)."""
        raise NotImplementedError

    # an optimizer whose step is elementwise per synapse gives it by row block too
    # (step_rows); the others compute the whole step first
    blockwise = False

    def step_rows(self, i: int, grad: np.ndarray, lr: float, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0:r1`` of :meth:`step` (``blockwise`` optimizers), the same numbers."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for k, v in self.state_dict().items():
            v[...] = state[k]            # in place: KeyError / shape error if it does not fit

    def state_bytes(self) -> dict[str, int]:
        """Bytes of state: ``per_synapse`` (arrays shaped like a weight) and ``other``."""
        out = {"per_synapse": 0, "other": 0}
        for v in self.state_dict().values():
            key = "per_synapse" if v.ndim == 2 and v.shape in self.shapes else "other"
            out[key] += int(v.nbytes)
        return out


class Adam(Optimizer):
    """Adam, in place on float32 moments; returns the step to apply."""

    name = "adam"
    per_synapse = True
    blockwise = True

    def __init__(self, shapes, b1=0.9, b2=0.999, eps=1e-8):
        super().__init__(shapes)
        self.m = [np.zeros(s, np.float32) for s in self.shapes]
        self.v = [np.zeros(s, np.float32) for s in self.shapes]
        self.b1, self.b2, self.eps = b1, b2, eps

    def step(self, i, grad, lr):
        if grad.ndim != 2:
            return self._step(self.m[i], self.v[i], grad, lr, np.empty(grad.shape, np.float32))
        out = np.empty(grad.shape, np.float32)
        edges = row_blocks(*grad.shape)
        for r0, r1 in zip(edges[:-1], edges[1:]):
            self.step_rows(i, grad, lr, r0, r1, out[r0:r1])
        return out

    def step_rows(self, i, grad, lr, r0, r1, out=None):
        if out is None:
            out = np.empty((r1 - r0,) + grad.shape[1:], np.float32)
        return self._step(self.m[i][r0:r1], self.v[i][r0:r1], grad[r0:r1], lr, out)

    def _step(self, m, v, grad, lr, d):
        m *= self.b1
        m += (1 - self.b1) * grad
        v *= self.b2
        v += (1 - self.b2) * (grad * grad)
        t = self.t
        lr_t = lr * np.sqrt(1 - self.b2 ** t) / (1 - self.b1 ** t)
        np.sqrt(v, out=d)
        d += self.eps
        np.divide(m, d, out=d)
        d *= np.float32(-lr_t)
        return d

    def state_dict(self):
        return {**{f"m{i}": m for i, m in enumerate(self.m)}, **{f"v{i}": v for i, v in enumerate(self.v)}}


def _rms(g: np.ndarray) -> float:
    # float64 accumulation: a 784×1000 sum of squares in float32 loses digits
    return float(np.sqrt(np.dot(g.ravel(), g.ravel()) / g.size)) if g.size else 0.0


class LayerSGD(Optimizer):
    """SGD with one scale per layer (a running RMS of the layer's gradient)."""

    name = "sgd"

    def __init__(self, shapes, beta=0.99, eps=1e-12):
        super().__init__(shapes)
        self.beta, self.eps = beta, eps
        self.ms = np.zeros(len(self.shapes), np.float64)      # running mean of g², per layer

    def _scale(self, i, grad) -> float:
        self.ms[i] = self.beta * self.ms[i] + (1 - self.beta) * _rms(grad) ** 2
        return float(np.sqrt(self.ms[i] / (1 - self.beta ** self.t))) + self.eps

    def step(self, i, grad, lr):
        grad *= np.float32(-lr / self._scale(i, grad))
        return grad

    def state_dict(self):
        return {"ms": self.ms}


class SignSGD(LayerSGD):
    """−lr·sign(g) where |g| > threshold × the layer's running gradient RMS, else 0."""

    name = "sign"

    def __init__(self, shapes, threshold: float = 0.0, **kw):
        super().__init__(shapes, **kw)
        if not (np.isfinite(threshold) and threshold >= 0):
            raise ValueError(f"sign optimizer threshold must be a finite number >= 0, got {threshold!r}")
        self.threshold = float(threshold)

    def step(self, i, grad, lr):
        cut = np.float32(self.threshold * self._scale(i, grad))
        big = np.abs(grad) > cut
        out = np.copysign(np.float32(lr), grad, dtype=np.float32)
        out *= np.float32(-1)
        out *= big
        return out


class FactoredRMS(Optimizer):
    """Adafactor's factored second moment, without momentum, with update clipping."""

    name = "adafactor"

    def __init__(self, shapes, b2=0.999, eps=1e-30, clip=1.0):
        super().__init__(shapes)
        for s in self.shapes:
            if len(s) != 2:
                raise ValueError(f"adafactor factors 2-D weights; got a slot of shape {s}")
        self.rows = [np.zeros(s[0], np.float32) for s in self.shapes]
        self.cols = [np.zeros(s[1], np.float32) for s in self.shapes]
        self.b2, self.eps, self.clip = b2, eps, clip

    def step(self, i, grad, lr):
        g2 = grad * grad
        g2 += np.float32(self.eps)
        r, c = self.rows[i], self.cols[i]
        r *= self.b2
        r += (1 - self.b2) * g2.mean(1)
        c *= self.b2
        c += (1 - self.b2) * g2.mean(0)
        corr = 1 - self.b2 ** self.t
        # V̂ = R Cᵀ / mean(R), bias-corrected; ΔW = g / √V̂
        inv_r = 1.0 / np.sqrt(r / corr / max(float(r.mean()) / corr, 1e-38))
        inv_c = 1.0 / np.sqrt(c / corr)
        u = grad * inv_r[:, None].astype(np.float32)
        u *= inv_c[None, :].astype(np.float32)
        if self.clip:
            # update clipping (Adafactor §5): RMS(u) ≤ clip, so one noisy batch cannot
            # send a burst of pulses to every device of a layer
            u /= np.float32(max(1.0, _rms(u) / self.clip))
        u *= np.float32(-lr)
        return u

    def state_dict(self):
        return {**{f"r{i}": r for i, r in enumerate(self.rows)}, **{f"c{i}": c for i, c in enumerate(self.cols)}}


OPTIMIZERS = {c.name: c for c in (Adam, LayerSGD, FactoredRMS, SignSGD)}
ZERO_STATE = sorted(n for n, c in OPTIMIZERS.items() if not c.per_synapse)


def make_optimizer(name: str, shapes, **kw) -> Optimizer:
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)} "
                         f"(with no per-synapse state: {', '.join(ZERO_STATE)})") from None
    return cls(shapes, **kw)
