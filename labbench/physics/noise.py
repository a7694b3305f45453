"""Counter-based Gaussian noise: a pure function of (seed, device, event).

Why not ``numpy.random.Generator``: a stateful stream makes the noise a cell sees
depend on the *order* in which cells are touched.  The simulated bench pulses cells
one by one through SCPI while ``SimArray`` pulses thousands at once; for the two paths
to leave a chip in the same state (DESIGN principle 1) the noise of a device's k-th
event must not depend on what happened to other devices in between.  Hashing the
triple (seed, device index, per-device event counter) gives exactly that, vectorized.
The loop itself is compiled (:mod:`labbench.physics.kernels`), and the fused pulse and
read kernels draw the same numbers inline.
"""
from __future__ import annotations

import numpy as np

from . import kernels


def stream_base(seed: int, stream: int) -> np.uint64:
    """The hash key of one (seed, stream): what :func:`kernels.normal_at` mixes each
    (device, event) with."""
    z = (int(seed) * 0x100000001B3 + int(stream)) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(int(kernels.splitmix64(np.uint64(z))))


def counter_normal(seed: int, device: np.ndarray, counter: np.ndarray, stream: int = 0,
                   dtype=np.float64) -> np.ndarray:
    """Standard normals indexed by (seed, stream, device, counter); same inputs, same numbers.

    ``stream`` separates independent uses (write noise, read noise, …) of one device.
    The normal is the ziggurat's, from the 64 bits of a SplitMix64 hash of the key
    (:func:`kernels.normal_at`), computed in float64 and rounded to ``dtype``: a float32
    chip sees the float64 chip's numbers, rounded.
    """
    device = np.asarray(device, dtype=np.uint64)
    counter = np.asarray(counter, dtype=np.uint64)
    shape = np.broadcast_shapes(device.shape, counter.shape)
    dev, ctr = (np.ascontiguousarray(np.broadcast_to(x, shape)).reshape(-1) for x in (device, counter))
    out = np.empty(dev.size, dtype)
    kernels.normals(stream_base(seed, stream), dev, ctr, out)
    return out.reshape(shape) if shape else out.reshape(())[()]
