"""The data a training run learns: MNIST (loaded once per process) or a small synthetic
task (for tests, sweeps' dry runs and benchmarks: no files needed)."""
from __future__ import annotations

import threading

import numpy as np

_CACHE: dict = {}
_LOCK = threading.Lock()
SYNTHETIC_DEFAULTS = {"train": 400, "test": 200, "noise": 1.0}


def synthetic(n_in: int, n_out: int, n_train: int = 400, n_test: int = 200, noise: float = 1.0, seed: int = 0):
    """Noisy copies of ``n_out`` random ±1 prototypes in ``n_in`` dimensions, in [−1, 1]."""
    rng = np.random.default_rng([seed, 0x5EED])
    protos = rng.choice(np.float32([-1, 1]), size=(n_out, n_in))

    def draw(n):
        y = rng.integers(0, n_out, n)
        x = protos[y] + noise * rng.standard_normal((n, n_in)).astype(np.float32)
        return np.clip(x, -1, 1).astype(np.float32), y.astype(np.int64)

    x_tr, y_tr = draw(n_train)
    x_te, y_te = draw(n_test)
    return x_tr, y_tr, x_te, y_te


def load(data, sizes, download: bool = False) -> tuple:
    """(x_train, y_train, x_test, y_test) for a :class:`~labbench.bnn.spec.DataSpec` and a
    network of ``sizes``; cached per process (a sweep's points share one copy).
    ``download``: fetch MNIST when its files are missing (never on a sweep's workers)."""
    key = (data.kind, data.path, data.train, data.test, data.noise, sizes[0], sizes[-1])
    with _LOCK:
        if key not in _CACHE:
            if data.kind == "mnist":
                from labbench.bnn.mnist import load_mnist

                m = load_mnist(data.path, allow_download=download)
                _CACHE[key] = (m.x_train, m.y_train, m.x_test, m.y_test)
            else:
                d = SYNTHETIC_DEFAULTS
                _CACHE[key] = synthetic(sizes[0], sizes[-1], data.train or d["train"], data.test or d["test"],
                                        d["noise"] if data.noise is None else data.noise)
        return _CACHE[key]
