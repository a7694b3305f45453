"""The 1T1R cell as a circuit: the access transistor in series with the device and the lines.

One solve serves every way a cell is biased (pulses, DC readings, array reads, energy), so
what a read reports, what a SET pulse puts across the device and what the cell draws agree.

* **Transistor**: the square law in both regions (the textbook long-channel MOSFET),
  ``I = k·(2·V_ov·V_DS − V_DS²)`` for ``V_DS < V_ov`` (linear) and ``I = k·V_ov²`` above
  (saturation), ``V_ov = V_GS − V_T``; its channel resistance at small V_DS is
  ``1/(2·k·V_ov)``, so it falls as the gate rises.  ``k`` and ``V_T`` are
  ``switching.transistor_k`` and ``switching.v_gate_threshold``.
* **Device and lines**: the device's conductance G in series with ``switching.on_resistance``
  (lines and contacts, not the transistor: that is solved), lumped as ``G' = G/(1 + G·R_s)``.
* **SET and reads** (BL at +V, SL low): the transistor's source is the source line, so
  ``V_GS`` is the gate voltage: solve ``G'·(V − V_DS) = I_T(V_DS)``.
* **RESET** (SL at +V, BL low): the transistor's source is the node it shares with the
  device, at ``V_N = I/G'``, so ``V_GS = V_G − V_N`` (source degeneration): solve
  ``G'·V_N = I_T(V_GS = V_G − V_N, V_DS = V − V_N)``.

Both are quadratics, solved in closed form (the stable root form, no cancellation), so a
pulse on a million devices costs a few vectorized operations.  ``gate`` is the word line
above the lower of the two bit/source lines (the wiring passes it so); None means no
transistor limits the cell (a model without an access transistor, or one that does not
declare its nominal gates).  The compiled loops use the same formulas
(:func:`labbench.physics.kernels.cell_current`).
"""
from __future__ import annotations

import numpy as np


def overdrive(sw, gate) -> float:
    """V_ov = V_G − V_T (0 below threshold)."""
    return max(float(gate) - sw.v_gate_threshold, 0.0)


def cell_current(sw, g, v_cell: float, gate: float | None, reset: bool = False) -> np.ndarray:
    """|I| (A) through cells of device conductance ``g`` with ``|v_cell|`` across the cell,
    the device's I-V linear (callers scale for a nonlinear one)."""
    g = np.asarray(g)
    dt = np.float32 if g.dtype == np.float32 else np.float64
    g = g.astype(dt, copy=False)
    v = abs(float(v_cell))
    r_s = sw.on_resistance
    gp = g / (1 + g * dt(r_s)) if r_s else g
    if gate is None:
        return gp * dt(v)
    vov = overdrive(sw, gate)
    k = sw.transistor_k
    if vov <= 0:
        return np.zeros_like(gp)
    s = dt(2 * k * vov) + gp
    if not reset:
        i_sat = dt(k * vov * vov)
        disc = np.maximum(s * s - dt(4 * k * v) * gp, 0)
        x = dt(2 * v) * gp / (s + np.sqrt(disc))   # V_DS in the linear region
        lin = gp * (dt(v) - x)
        return np.where(gp * dt(v - vov) >= i_sat, np.minimum(i_sat, gp * dt(v)), lin).astype(dt, copy=False)
    c = dt(k * v * (2 * vov - v)) if v < vov else dt(k * vov * vov)
    y = dt(2) * c / (s + np.sqrt(np.maximum(s * s - dt(4 * k) * c, 0)))   # V_N, the shared node
    return (gp * y).astype(dt, copy=False)


def device_voltage(sw, g, v_cell: float, gate: float | None, reset: bool = False) -> np.ndarray:
    """|V| across the device itself (the transistor and lines take the rest)."""
    g = np.asarray(g, float)
    i = cell_current(sw, g, v_cell, gate, reset).astype(float)
    return np.where(g > 0, i / np.maximum(g, 1e-300), abs(float(v_cell)))


def deembed(sw, g_read, v_read: float, gate: float | None) -> np.ndarray:
    """Device conductance from a read's apparent conductance ``I/V`` (SET polarity, reads):
    the inverse of :func:`cell_current`, for fits of what an instrument measured.  NaN where
    the read is at or beyond what the transistor and lines pass (no device explains it)."""
    g_read = np.asarray(g_read, float)
    v = abs(float(v_read))
    i = g_read * v
    x = 0.0
    if gate is not None:
        vov = overdrive(sw, gate)
        k = sw.transistor_k
        with np.errstate(invalid="ignore"):
            x = vov - np.sqrt(vov * vov - i / k) if vov > 0 else np.full_like(i, np.nan)   # V_DS
    with np.errstate(divide="ignore", invalid="ignore"):
        gp = i / (v - x)
        g = gp / (1.0 - gp * sw.on_resistance)
    return np.where(np.isfinite(g) & (g >= 0), g, np.nan)


def as_read(model, g, voltage: float | None = None, gate: float | None = None) -> np.ndarray:
    """The conductance a read reports (I/V) for devices at ``g``: through the transistor at
    the model's read gate and the lines (``voltage``/``gate``: None, the model's read)."""
    rd = model.read
    v = rd.voltage if voltage is None else voltage
    return cell_current(model.switching, np.asarray(g, float), v, rd.gate if gate is None else gate) / abs(v)


def from_read(model, g_read, voltage: float | None = None, gate: float | None = None) -> np.ndarray:
    """Device conductance from what a read reported: :func:`deembed` at the model's read."""
    rd = model.read
    return deembed(model.switching, g_read, rd.voltage if voltage is None else voltage,
                   rd.gate if gate is None else gate)
