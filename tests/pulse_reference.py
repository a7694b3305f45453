"""The NumPy reference the compiled pulse loops are checked against (tests only)."""
import numpy as np

from labbench.physics.noise import counter_normal


def numpy_burst(chip, idx, n, direction) -> np.ndarray:
    """G of devices ``idx`` after ``n`` pulses each, pulse by pulse through the device model's
    NumPy step with the chip's own normals (keyed by each device's write counter), in float64;
    the chip itself is not changed."""
    g = chip.g[idx].astype(np.float64)
    events = chip.write_events[idx].astype(np.uint64)
    dev = chip.devices.index(idx)
    for k in range(int(n.max())):
        xi = counter_normal(chip.seed, idx, events + np.uint64(k + 1), 1)
        g = np.where(n > k, dev.pulse_once(g, direction, xi), g)
    return g
