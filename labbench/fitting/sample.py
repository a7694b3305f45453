"""Synthetic pulse-train data from a device model, through the simulated :class:`Chip`.

``generate`` runs the measurement a lab would: for each cycle, a full RESET, a train of
gradual SET pulses read after each pulse, then a train of gradual RESET pulses; all
devices of a rows×cols 2T2R chip at once.  Reads include the model's read noise and
are corrected for the access transistor's series resistance (G = I/(V − I·R_on)), as
a careful lab does.  ``python -m labbench.fitting.sample`` rewrites the shipped
``data/sample_pulse_trains.csv``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labbench.physics import circuit
from labbench.physics.chip import Chip
from labbench.physics.device_model import DeviceModel, load_device_model
from labbench.physics.models import RESET, SET

from labbench.paths import DATA

SAMPLE_PATH = DATA / "sample_pulse_trains.csv"


def _read(chip: Chip, idx: np.ndarray) -> np.ndarray:
    v = chip.model.read.voltage
    i = chip.current(idx, v)
    return circuit.from_read(chip.model, i / v, v)   # de-embedded: the device's own G


def generate(model: DeviceModel | None = None, rows: int = 4, cols: int = 2, cycles: int = 4,
             pulses_set: int | None = None, pulses_reset: int | None = None, seed: int = 0,
             read_noise: bool = True) -> pd.DataFrame:
    """Tidy pulse trains (columns row, col, side, cycle, direction, pulse, conductance)."""
    model = load_device_model() if model is None else model
    if not read_noise:
        model = model.model_copy(update={"read": model.read.model_copy(update={"noise_rel": 0.0})})
    up = model.update
    pulses_set = int(pulses_set or getattr(up, "pmax_set", 64))
    pulses_reset = int(pulses_reset or getattr(up, "pmax_reset", pulses_set))
    chip = Chip(model, rows, cols, seed=seed)
    idx = np.arange(chip.size)
    reads, keys = [], []  # one read of every device per pulse, in measurement order
    for cyc in range(cycles):
        chip.reset_full(idx)
        for direction, n in ((SET, pulses_set), (RESET, pulses_reset)):
            for k in range(n + 1):
                if k:
                    chip.pulse(idx, 1, direction)
                reads.append(_read(chip, idx))
                keys.append((cyc, direction, k))
    g = np.stack(reads, axis=1)  # (devices, reads): tidy order is device-major
    cyc, dirs, pulse = (np.array(v) for v in zip(*keys))
    nd, nr = g.shape
    dev = np.repeat(idx, nr)
    return pd.DataFrame({"row": dev // 2 // cols, "col": dev // 2 % cols, "side": dev % 2,
                         "cycle": np.tile(cyc, nd), "direction": np.where(np.tile(dirs, nd) == SET, "set", "reset"),
                         "pulse": np.tile(pulse, nd), "conductance": g.ravel()})


def write_sample(path: str | Path = SAMPLE_PATH, seed: int = 2018) -> Path:
    """The shipped sample: 4×2 cells (16 devices) × 4 cycles × 64+64 pulses of the default chip."""
    path = Path(path)
    df = generate(seed=seed)
    from labbench.atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.5g")
    return path


if __name__ == "__main__":
    print(write_sample())
