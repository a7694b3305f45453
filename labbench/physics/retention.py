"""Conductance drift at rest and read disturb: the device's memory is not perfect.

**Drift.**  A programmed RRAM conductance relaxes after programming: oxygen vacancies of
the filament diffuse, thermally activated, so an intermediate (analog) state moves towards
a stable level, fastest right after programming and at high temperature (post-program
relaxation in HfO2, Fantini et al., IEDM 2015; an Arrhenius retention model of TaOx,
Wei et al., IEDM 2012; analog-state relaxation reviewed by Zhao et al., Appl. Phys. Rev.
7, 011301, 2020).  Here each device relaxes exponentially towards
``G_inf = Gmin + level·(Gmax − Gmin)`` with its own time constant
``τ_i = τ·exp(σ·z_i)·exp(E_a/k·(1/T − 1/T_ref))``.  The relaxation is Markovian (the
state after t1 + t2 is the state after t1, then t2), so the chip needs no per-device
clock: it applies the elapsed time to every device at once, whenever at least
``time_step`` seconds have passed (see :meth:`Chip.advance_to`).

**Read disturb.**  A read biases the device below its switching threshold, but not
without effect: each read at V moves G a small fraction ``shift·exp((|V| − v_ref)/v0)``
of the way towards Gmax (positive read, SET polarity) or Gmin (negative read) (read
disturb of HfOx cells, Y. S. Chen et al., IEDM 2009).  It is deterministic, so two paths
that read the same devices at the same voltages stay identical.
"""
from __future__ import annotations

import numpy as np

from .noise import counter_normal

#: Boltzmann constant, eV/K
K_B = 8.617333262e-5
#: the noise stream of the per-device drift time constants (the chip uses 1-4)
RETENTION_STREAM = 5
#: lognormal spreads are truncated at ±3σ, as elsewhere in the chip
_TRUNCATE = 3.0


def arrhenius(ret, temperature: float | None = None) -> float:
    """τ at ``temperature`` (K; None: the model's operating temperature), in s."""
    t = ret.temperature if temperature is None else float(temperature)
    return float(ret.tau * np.exp(ret.activation_energy / K_B * (1.0 / t - 1.0 / ret.t_ref_temperature)))


def device_taus(ret, seed: int, idx: np.ndarray, temperature: float | None = None) -> np.ndarray:
    """Per-device τ_i (s) of devices ``idx``: a pure function of (seed, device), no storage
    (10⁶ devices × float64 would be 8 MB for a number used once per idle period)."""
    tau = arrhenius(ret, temperature)
    if not ret.tau_d2d:
        return np.full(idx.shape, tau)
    z = counter_normal(seed, idx, np.zeros(idx.shape, np.uint64), RETENTION_STREAM)
    return tau * np.exp(ret.tau_d2d * np.clip(z, -_TRUNCATE, _TRUNCATE))


def relax(g: np.ndarray, g_inf: np.ndarray, tau: np.ndarray, dt: float) -> np.ndarray:
    """G after ``dt`` s of relaxation towards ``g_inf`` with time constants ``tau``."""
    keep = np.exp(-dt / tau)
    return (g_inf + (g - g_inf) * keep).astype(g.dtype, copy=False)


def disturb_fraction(rd, voltage: float) -> float:
    """The fraction of the way to Gmax (V > 0) or Gmin (V < 0) one read at ``voltage`` moves
    a device (the chip applies it: :func:`labbench.physics.kernels.read_disturb`)."""
    if voltage == 0 or not rd.shift:
        return 0.0
    return float(min(rd.shift * np.exp((abs(voltage) - rd.v_ref) / rd.v0), 1.0))
