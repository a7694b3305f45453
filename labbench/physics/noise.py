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


def _splitmix64_inplace(z: np.ndarray) -> np.ndarray:
    """:func:`_splitmix64` on an array we own, in place (same numbers, no temporaries
    per step: hashing is most of the cost of a big vectorized pulse)."""
    t = np.empty_like(z)
    with np.errstate(over="ignore"):
        z += _GOLDEN
        np.right_shift(z, np.uint64(30), out=t)
        z ^= t
        z *= _M1
        np.right_shift(z, np.uint64(27), out=t)
        z ^= t
        z *= _M2
        np.right_shift(z, np.uint64(31), out=t)
        z ^= t
    return z


def _uniform(key: np.ndarray) -> np.ndarray:
    """Map uint64 hashes to floats in the open interval (0, 1)."""
    u = (key >> np.uint64(11)).astype(np.float64)
    u += 0.5
    u *= 1.0 / 9007199254740992.0
    return u


def counter_normal(seed: int, device: np.ndarray, counter: np.ndarray, stream: int = 0,
                   dtype=np.float64) -> np.ndarray:
    """Standard normals indexed by (seed, stream, device, counter); same inputs, same numbers.

    ``stream`` separates independent uses (write noise, read noise, …) of one device.
    ``dtype=float32`` does the Box–Muller transform in single precision (SIMD log/cos,
    ~4× faster; float32 chips use it): still a pure function of the same inputs.
    """
    device = np.asarray(device, dtype=np.uint64)
    counter = np.asarray(counter, dtype=np.uint64)
    shape = np.broadcast_shapes(device.shape, counter.shape)
    with np.errstate(over="ignore"):
        base = _splitmix64(np.uint64(seed) * np.uint64(0x100000001B3) + np.uint64(stream))
        k = device * np.uint64(0x9E3779B1) + counter   # a fresh array we may overwrite
    k = np.full(1, k, np.uint64) if np.ndim(k) == 0 else k.reshape(-1)
    out = np.empty(k.shape, dtype)
    if k.size <= _SMALL:
        _normal_from_keys_small(k, int(base), out)
        return out.reshape(shape) if shape else out.reshape(())[()]
    # in cache-sized chunks: the hash is a dozen passes over the keys, memory-bound on
    # a million-device read when done whole
    for lo in range(0, k.size, _CHUNK):
        _normal_from_keys(k[lo:lo + _CHUNK], base, out[lo:lo + _CHUNK])
    return out.reshape(shape) if shape else out.reshape(())[()]


_CHUNK = 1 << 15
# Below this many keys the hash runs on Python ints: a dozen NumPy calls (plus their
# errstate contexts) cost ~150 µs for one device, which is most of a simulated
# instrument's pulse-then-read.  Integer arithmetic mod 2**64 is exact either way and
# the int->float steps are IEEE-identical, so both paths give the same numbers (tested).
_SMALL = 8
_MASK = (1 << 64) - 1


def _splitmix64_int(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _normal_from_keys_small(k: np.ndarray, base: int, out: np.ndarray) -> None:
    u1 = np.empty(k.size, out.dtype)
    u2 = np.empty(k.size, out.dtype)
    for i, key in enumerate(k.tolist()):
        h = _splitmix64_int(_splitmix64_int(key) ^ base)
        u1[i] = ((h >> 11) + 0.5) * (1.0 / 9007199254740992.0)
        u2[i] = ((_splitmix64_int(h) >> 11) + 0.5) * (1.0 / 9007199254740992.0)
    _box_muller(u1, u2, out)   # the same float operations as the vectorized path


def _normal_from_keys(k: np.ndarray, base, out: np.ndarray) -> None:
    with np.errstate(over="ignore"):
        _splitmix64_inplace(k)
        k ^= base
        _splitmix64_inplace(k)
        u1 = _uniform(k).astype(out.dtype, copy=False)
        u2 = _uniform(_splitmix64_inplace(k)).astype(out.dtype, copy=False)   # k is spent
    _box_muller(u1, u2, out)


def _box_muller(u1: np.ndarray, u2: np.ndarray, out: np.ndarray) -> None:
    """One normal per uniform pair, sqrt(−2 ln u1)·cos(2π u2), in place (u1, u2 are spent)."""
    np.log(u1, out=u1)
    u1 *= u1.dtype.type(-2.0)
    np.sqrt(u1, out=u1)
    u2 *= u2.dtype.type(2.0 * np.pi)
    np.cos(u2, out=u2)
    np.multiply(u1, u2, out=out)
