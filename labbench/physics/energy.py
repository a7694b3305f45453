"""Energy of pulses and reads: ``|V|·I(G)·t`` through the 1T1R cell.

The current is the 1T1R circuit's (:mod:`labbench.physics.circuit`: the access transistor
at the word line's gate, in its linear or saturation region, and the lines in series),
for a device with the model's I-V (``energy.iv``: linear, or ``sinh`` with shape ``v0``,
applied as the ratio ``v0·sinh(V/v0)/V`` at the cell voltage: a first-order correction, the
circuit itself is solved for a linear device).  A pulse's current changes as the device
switches; its energy uses the mean of the currents at the conductance before and after the
pulse (the trapezoid rule over the pulse, exact for a linear change of G in time).  Every
path charges a pulse at the same gate, the pulse's own or, for the nominal pulse, the
device model's ``set_kinetics.gate``/``reset_kinetics.gate`` (SimArray and the bench alike).
Only the cell is counted: drivers, sense amplifiers and wires are not (NeuroSim counts
those; a chip has them, a device model not).
"""
from __future__ import annotations

import numpy as np

from . import circuit, kernels
from .kernels import circuit_args


def iv_ratio(model, voltage: float) -> float:
    """The energy I-V's current over the linear one at ``voltage`` (1 for ``iv: linear``)."""
    en = model.energy
    v = abs(float(voltage))
    if en is None or en.iv != "sinh" or v == 0:
        return 1.0
    return float(en.v0 * np.sinh(v / en.v0) / v)


def cell_current(model, g: np.ndarray, voltage: float, gate: float | None = None, reset: bool = False) -> np.ndarray:
    """|I| (A) through cells at ``g`` biased at ``voltage`` with the word line at ``gate``
    (None: no transistor), in g's precision (a float32 array's 10⁻⁷ is far below what an
    energy figure needs, and saves a copy per pulse)."""
    return circuit.cell_current(model.switching, g, voltage, gate, reset) * iv_ratio(model, voltage)


def cell_current_compiled(model, g: np.ndarray, voltage: float, gate: float | None = None,
                          reset: bool = False) -> np.ndarray:
    """:func:`cell_current`, bit for bit, in one compiled pass (``g`` a 1-D array)."""
    g = np.asarray(g)
    dt = np.float32 if g.dtype == np.float32 else np.float64
    g = g.astype(dt, copy=False)
    consts, mode = numpy_order_constants(model, voltage, gate, reset, dt)
    out = np.empty(g.shape, dt)
    kernels.cell_currents_like_numpy(g, consts, mode, out)
    return out


def numpy_order_constants(model, voltage: float, gate: float | None, reset: bool, dt) -> tuple[np.ndarray, int]:
    """The constants :func:`circuit.cell_current` rounds to ``dt`` (computed in Python floats,
    as there), for :func:`kernels.cell_currents_like_numpy`; and its mode."""
    sw = model.switching
    v = abs(float(voltage))
    k = sw.transistor_k
    vov = circuit.overdrive(sw, gate) if gate is not None else 0.0
    c = np.zeros(10)
    c[kernels.N_RS] = sw.on_resistance or 0.0
    c[kernels.N_V] = v
    c[kernels.N_2KVOV] = 2 * k * vov
    c[kernels.N_ISAT] = k * vov * vov
    c[kernels.N_4KV] = 4 * k * v
    c[kernels.N_2V] = 2 * v
    c[kernels.N_VMVOV] = v - vov
    c[kernels.N_C] = k * v * (2 * vov - v) if v < vov else k * vov * vov
    c[kernels.N_4K] = 4 * k
    c[kernels.N_RATIO] = iv_ratio(model, voltage)
    mode = 0 if gate is None else 3 if vov <= 0 else 2 if reset else 1
    return c.astype(dt), mode


def bias(model, voltage: float, gate: float | None, reset: bool) -> np.ndarray:
    """The compiled loops' form of one bias of this model (:func:`kernels.circuit_args`)."""
    return circuit_args(model.switching, voltage, gate, reset, iv_ratio(model, voltage))


def pulse_energy(model, g_before: np.ndarray, g_after: np.ndarray, voltage: float, width: float,
                 gate: float | None = None, reset: bool = False) -> float:
    """J, summed over the devices, of one pulse each (see the module doc)."""
    i = cell_current(model, g_before, voltage, gate, reset) + cell_current(model, g_after, voltage, gate, reset)
    return float(0.5 * abs(voltage) * width * i.sum(dtype=np.float64))


def read_energy(model, current: np.ndarray, voltage: float) -> float:
    """J of reads that measured ``current`` at ``voltage`` (each for ``energy.read_time``)."""
    return float(abs(voltage) * model.energy.read_time * np.abs(current).sum(dtype=np.float64))
