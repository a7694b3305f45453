"""The data a sweep trains on: MNIST (loaded once per worker process) or a small
synthetic task (for tests and dry runs, no files needed)."""
from __future__ import annotations

import threading

import numpy as np

_CACHE: dict = {}
_LOCK = threading.Lock()


def check_data_spec(spec: dict, where: str) -> None:
    from .errors import SweepError

    allowed = {"mnist": {"kind", "path"}, "synthetic": {"kind", "train", "test", "noise"}}[spec["kind"]]
    extra = set(spec) - allowed
    if extra:
        raise SweepError(f"{where}: unknown key {sorted(extra)[0]!r} for kind {spec['kind']}; "
                         f"allowed: {', '.join(sorted(allowed))}")
    for k in ("train", "test"):
        if k in spec and (isinstance(spec[k], bool) or not isinstance(spec[k], int) or spec[k] < 10):
            raise SweepError(f"{where}: {k}: a whole number of samples >= 10, got {spec[k]!r}")
    if "noise" in spec:
        v = spec["noise"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 10:
            raise SweepError(f"{where}: noise: a number in [0, 10], got {v!r}")


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


def load(spec: dict, sizes) -> tuple:
    """(x_train, y_train, x_test, y_test) for a point; cached per process."""
    key = (spec["kind"], spec.get("path"), spec.get("train"), spec.get("test"), spec.get("noise"),
           sizes[0], sizes[-1])
    with _LOCK:
        if key not in _CACHE:
            if spec["kind"] == "mnist":
                from labbench.bnn.mnist import load_mnist

                m = load_mnist(spec.get("path"), allow_download=False)
                _CACHE[key] = (m.x_train, m.y_train, m.x_test, m.y_test)
            else:
                _CACHE[key] = synthetic(sizes[0], sizes[-1], spec.get("train", 400), spec.get("test", 200),
                                        spec.get("noise", 1.0))
        return _CACHE[key]
