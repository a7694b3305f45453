"""The binary MLP: binary weights, batch norm before every sign, straight-through sign.

Plain NumPy, float32, one BLAS matmul per layer and direction, no per-sample loops.
Why not PyTorch/aihwkit: neither is a dependency here, the network is two matmuls, and
the weights come from an :class:`~labbench.array.Array2T2R` read, not a tensor we own.
The weights are passed in on every call (±1 matrices, shape (fan_in, fan_out)): the
model holds only the digital parts (batch-norm scale, shift and running statistics).
"""
from __future__ import annotations

import numpy as np


class BatchNorm:
    """Batch normalization over the batch axis, with running statistics for inference."""

    def __init__(self, n: int, momentum: float = 0.1, eps: float = 1e-4):
        self.gamma = np.ones(n, np.float32)
        self.beta = np.zeros(n, np.float32)
        self.running_mean = np.zeros(n, np.float32)
        self.running_var = np.ones(n, np.float32)
        self.momentum, self.eps = momentum, eps

    def forward(self, h: np.ndarray, train: bool):
        if not train:
            inv = 1.0 / np.sqrt(self.running_var + self.eps)
            return (h - self.running_mean) * (inv * self.gamma) + self.beta, None
        mu = h.mean(0)
        xc = h - mu
        var = np.einsum("ij,ij->j", xc, xc) / h.shape[0]
        inv = (1.0 / np.sqrt(var + self.eps)).astype(np.float32)
        xhat = xc * inv
        m = self.momentum
        self.running_mean = (1 - m) * self.running_mean + m * mu
        self.running_var = (1 - m) * self.running_var + m * var * (h.shape[0] / max(h.shape[0] - 1, 1))
        return xhat * self.gamma + self.beta, (xhat, inv)

    def backward(self, dy: np.ndarray, cache):
        xhat, inv = cache
        n = dy.shape[0]
        dgamma = np.einsum("ij,ij->j", dy, xhat)
        dbeta = dy.sum(0)
        # standard batch-norm gradient, folded: dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))
        dx = (dy - dbeta / n - xhat * (dgamma / n)) * (self.gamma * inv)
        return dx, dgamma, dbeta

    def state(self) -> dict[str, np.ndarray]:
        return {"gamma": self.gamma, "beta": self.beta, "running_mean": self.running_mean,
                "running_var": self.running_var}

    def load(self, state: dict[str, np.ndarray]) -> None:
        for k in ("gamma", "beta", "running_mean", "running_var"):
            setattr(self, k, np.asarray(state[k], np.float32).copy())


def sign(x: np.ndarray) -> np.ndarray:
    """±1 float32 (+0 maps to +1; copysign is 4× faster than a where)."""
    return np.copysign(np.float32(1), x, dtype=np.float32)


class BinaryMLP:
    """``sizes`` e.g. (784, 500, 10): x → [W·, BN, sign]* → W·, BN → logits."""

    def __init__(self, sizes, binarize_input: bool = False):
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer sizes must be >= 2 positive numbers, got {sizes}")
        self.sizes = sizes
        self.binarize_input = binarize_input
        self.bns = [BatchNorm(n) for n in sizes[1:]]

    @property
    def weight_shapes(self) -> list[tuple[int, int]]:
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    def forward(self, x: np.ndarray, weights: list[np.ndarray], train: bool):
        if self.binarize_input:
            x = sign(x)
        acts, caches = [x], []
        a = x
        for i, (w, bn) in enumerate(zip(weights, self.bns)):
            z, cache = bn.forward(a @ w, train)
            caches.append((z, cache))
            if i < len(weights) - 1:
                a = sign(z)
                acts.append(a)
            else:
                a = z
        return a, (acts, caches)

    def backward(self, saved, dlogits: np.ndarray, weights: list[np.ndarray]):
        """Gradients of the loss: per layer dW (fan_in, fan_out) and (dγ, dβ)."""
        acts, caches = saved
        dws, dbns = [None] * len(weights), [None] * len(weights)
        dz = dlogits
        for i in reversed(range(len(weights))):
            z, cache = caches[i]
            if i < len(weights) - 1:
                dz = dz * (np.abs(z) <= 1)        # straight-through estimator of sign
            dh, dgamma, dbeta = self.bns[i].backward(dz, cache)
            dbns[i] = (dgamma, dbeta)
            dws[i] = acts[i].T @ dh
            if i > 0:
                dz = dh @ weights[i].T
        return dws, dbns


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray):
    """Mean loss, its gradient w.r.t. the logits, and the number of correct predictions."""
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(1, keepdims=True)
    n = len(y)
    rows = np.arange(n)
    loss = float(-np.log(p[rows, y] + 1e-12).mean())
    correct = int((logits.argmax(1) == y).sum())
    p[rows, y] -= 1
    return loss, p / n, correct
