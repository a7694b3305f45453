"""Counter-based Gaussian noise: a pure function of (seed, device, event).

Why not ``numpy.random.Generator``: a stateful stream makes the noise a cell sees
depend on the *order* in which cells are touched.  The simulated bench pulses cells
one by one through SCPI while ``SimArray`` pulses thousands at once; for the two paths
to leave a chip in the same state (DESIGN principle 1) the noise of a device's k-th
event must not depend on what happened to other devices in between.  Hashing the
triple (seed, device index, per-device event counter) gives exactly that, vectorized.
"""
from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer (Steele et al. 2014): a bijective, well-mixed hash of uint64."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def _uniform(key: np.ndarray) -> np.ndarray:
    """Map uint64 hashes to floats in the open interval (0, 1)."""
    return ((key >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def counter_normal(seed: int, device: np.ndarray, counter: np.ndarray, stream: int = 0) -> np.ndarray:
    """Standard normals indexed by (seed, stream, device, counter); same inputs, same numbers.

    ``stream`` separates independent uses (write noise, read noise, …) of one device.
    """
    device = np.asarray(device, dtype=np.uint64)
    counter = np.asarray(counter, dtype=np.uint64)
    with np.errstate(over="ignore"):
        base = _splitmix64(np.uint64(seed) * np.uint64(0x100000001B3) + np.uint64(stream))
        k = _splitmix64(base ^ _splitmix64(device * np.uint64(0x9E3779B1) + counter))
        u1 = _uniform(k)
        u2 = _uniform(_splitmix64(k))
    # Box–Muller: one normal per key is enough here.
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
