"""Energy of pulses and reads: ``|V|·I(G)·t`` through the 1T1R cell.

The current follows the device model's I-V (``energy.iv``: linear ``G·V`` or
``G·v0·sinh(V/v0)``), divided by the series access transistor and lines (``I/(1 + G·R_on)``,
as :meth:`Chip.current` does) and capped by the transistor's saturation current at the
gate voltage.  A pulse's current changes as the device switches; its energy uses the mean
of the currents at the conductance before and after the pulse (the trapezoid rule over the
pulse, exact for a linear change of G in time).  Only the cell is counted: drivers, sense
amplifiers and wires are not (NeuroSim counts those; a chip has them, a device model not).
"""
from __future__ import annotations

import numpy as np

from . import kinetics


def cell_current(model, g: np.ndarray, voltage: float, gate: float | None = None) -> np.ndarray:
    """|I| (A) through cells at ``g`` biased at ``voltage`` (in g's precision: a float32
    array's 10⁻⁷ is far below what an energy figure needs, and saves a copy per pulse)."""
    en = model.energy
    g = np.asarray(g)
    if g.dtype != np.float32:
        g = g.astype(np.float64, copy=False)
    v = abs(float(voltage))
    i = g * en.v0 * np.sinh(v / en.v0) if en.iv == "sinh" else g * v
    r_on = model.switching.on_resistance
    if r_on:
        i = i / (1.0 + g * r_on)
    if gate is not None:
        i = np.minimum(i, float(kinetics.saturation_current(model.switching, gate)))
    return i


def current_per_siemens(model, voltage: float) -> float:
    """k in I = G·k/(1 + G·R_on), the energy I-V at ``voltage`` without the transistor cap
    (``|V|``, or ``v0·sinh(|V|/v0)``): what the compiled pulse loop charges per pulse."""
    en = model.energy
    v = abs(float(voltage))
    return float(en.v0 * np.sinh(v / en.v0)) if en.iv == "sinh" else v


def pulse_energy(model, g_before: np.ndarray, g_after: np.ndarray, voltage: float, width: float,
                 gate: float | None = None) -> float:
    """J, summed over the devices, of one pulse each (see the module doc)."""
    i = cell_current(model, g_before, voltage, gate) + cell_current(model, g_after, voltage, gate)
    return float(0.5 * abs(voltage) * width * i.sum(dtype=np.float64))


def read_energy(model, current: np.ndarray, voltage: float) -> float:
    """J of reads that measured ``current`` at ``voltage`` (each for ``energy.read_time``)."""
    return float(abs(voltage) * model.energy.read_time * np.abs(current).sum(dtype=np.float64))
