"""NeuroSim's device, read from its public C++ (MLP+NeuroSim V3.0, ``Cell.cpp``
``RealDevice::RealDevice`` and ``RealDevice::Write``; ``formula.cpp`` ``getParamA``,
``NonlinearWeight``, ``InvNonlinearWeight``), so an exported parameter set can be replayed
pulse by pulse in Python and compared with labbench's Chip.

What it reproduces, for identical pulses (``nonIdenticalPulse = false``, ``nonlinearWrite = true``):

* ``paramA = getParamA(NL + σ_DtoD·ξ)·maxNumLevel`` per device and direction, ``getParamA``
  looking the label up in a table at ``index = (int)(|NL|·100) − 1`` (labels 0.01…9 in
  steps of 0.01, rounded *down*); the table's values are
  :func:`labbench.physics.nonlinearity.normalized_a_from_nl` of the entry's label, which
  reproduces NeuroSim's table to < 0.01 % (``tests/test_nonlinearity.py``);
* ``conductanceRangeVar``: Gmax and Gmin of each device moved by Gaussians of σ
  ``maxConductanceVar`` / ``minConductanceVar`` (S);
* ``Write``: ``x = InvNonlinearWeight(G)``, ``G' = NonlinearWeight(x + numPulse)`` with
  ``B = (Gmax − Gmin)/(1 − e^(−maxNumLevel/A))`` (A < 0 for LTD, so the same formula runs
  backwards), then ``G' += N(0, sigmaCtoC)·√|numPulse|`` and a clip to [Gmin, Gmax].

One deliberate difference: V3.0 seeds the D2D generator with ``time(0)`` in every device's
constructor, so all devices built within the same second draw the *same* NL; here each
device draws its own (what the parameter means in the manual).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from labbench.physics.nonlinearity import normalized_a_from_nl

__all__ = ["get_param_a", "table_index", "NeuroSimParams", "NeuroSimArray", "TABLE_SIZE", "params_variant",
           "params_from_export"]

#: getParamA's table: labels 0.01 … 9.00
TABLE_SIZE = 900


def table_index(nl) -> np.ndarray:
    """getParamA's index, ``(int)(fabs(NL)*100) − 1``, as C computes it (truncation toward 0)."""
    return np.trunc(np.abs(np.asarray(nl, float)) * 100.0).astype(np.int64) - 1


_TABLE_CACHE: dict[int, float] = {}


def _table_value(index: int) -> float:
    if index not in _TABLE_CACHE:
        _TABLE_CACHE[index] = normalized_a_from_nl((index + 1) / 100.0)
    return _TABLE_CACHE[index]


def get_param_a(nl, clamp: bool = True) -> np.ndarray:
    """NeuroSim's normalized A for label(s) ``nl`` (sign carried), through the table.

    V3.0 reads outside its table for |NL| < 0.01 or > 9.00 (undefined behaviour in C);
    ``clamp`` holds the index to the table as DNN+NeuroSim V2.1's ``GetParamA`` does."""
    nl = np.asarray(nl, float)
    idx = table_index(nl)
    if clamp:
        idx = np.clip(idx, 0, TABLE_SIZE - 1)
    elif np.any((idx < 0) | (idx >= TABLE_SIZE)):
        raise ValueError("a nonlinearity label outside NeuroSim's table (|NL| 0.01-9.00)")
    values = np.vectorize(_table_value, otypes=[float])(idx)
    return np.where(nl >= 0, 1.0, -1.0) * values


@dataclass(frozen=True)
class NeuroSimParams:
    """The RealDevice parameters labbench exports (V3.0 names)."""

    maxConductance: float
    minConductance: float
    maxNumLevelLTP: int
    maxNumLevelLTD: int
    NL_LTP: float
    NL_LTD: float
    sigmaDtoD: float = 0.0
    sigmaCtoC: float = 0.0   # S (V3.0 writes it as a fraction × (maxConductance − minConductance))
    maxConductanceVar: float = 0.0
    minConductanceVar: float = 0.0


class NeuroSimArray:
    """``n`` RealDevices under identical pulses, vectorized (see the module docstring)."""

    def __init__(self, p: NeuroSimParams, n: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.p, self.rng = p, rng
        self.g_max = p.maxConductance + (rng.standard_normal(n) * p.maxConductanceVar if p.maxConductanceVar else 0.0)
        self.g_min = p.minConductance + (rng.standard_normal(n) * p.minConductanceVar if p.minConductanceVar else 0.0)
        self.g_max = np.broadcast_to(self.g_max, (n,)).astype(float)
        self.g_min = np.broadcast_to(self.g_min, (n,)).astype(float)
        if np.any(self.g_min >= self.g_max) or np.any(self.g_min < 0):
            # V3.0 prints "[Error] Conductance variation check not passed" and exits
            raise ValueError("NeuroSim's conductance variation check fails: the variation is too large")
        d_ltp = rng.standard_normal(n) * p.sigmaDtoD if p.sigmaDtoD else np.zeros(n)
        d_ltd = rng.standard_normal(n) * p.sigmaDtoD if p.sigmaDtoD else np.zeros(n)
        self.a_ltp = get_param_a(p.NL_LTP + d_ltp) * p.maxNumLevelLTP
        self.a_ltd = get_param_a(p.NL_LTD + d_ltd) * p.maxNumLevelLTD
        self.g = self.g_min.copy()   # conductance = minConductance

    def write(self, num_pulse: int) -> None:
        """``RealDevice::Write`` with ``numPulse`` identical pulses (> 0 LTP, < 0 LTD) on every device."""
        if num_pulse == 0:
            return
        ltp = num_pulse > 0
        a = self.a_ltp if ltp else self.a_ltd
        levels = self.p.maxNumLevelLTP if ltp else self.p.maxNumLevelLTD
        span = self.g_max - self.g_min
        b = span / (1.0 - np.exp(-levels / a))
        with np.errstate(invalid="ignore", divide="ignore"):
            x = -a * np.log(1.0 - (self.g - self.g_min) / b)        # InvNonlinearWeight
            g_new = b * (1.0 - np.exp(-(x + num_pulse) / a)) + self.g_min   # NonlinearWeight
        g_new = np.where(np.isfinite(g_new), g_new, self.g)
        if self.p.sigmaCtoC:
            g_new = g_new + self.rng.standard_normal(self.g.shape) * self.p.sigmaCtoC * math.sqrt(abs(num_pulse))
        self.g = np.clip(g_new, self.g_min, self.g_max)

    def train(self, n_set: int, n_reset: int) -> np.ndarray:
        """G (n_set + n_reset + 1, devices): from the current state, one pulse at a time."""
        out = [self.g.copy()]
        for k in range(n_set + n_reset):
            self.write(1 if k < n_set else -1)
            out.append(self.g.copy())
        return np.array(out)


def params_variant(p: NeuroSimParams, noise: str) -> NeuroSimParams:
    """``p`` with only the named noise: ``full``, ``c2c`` (no D2D), ``d2d`` (no C2C) or ``none``."""
    import dataclasses

    if noise not in ("full", "c2c", "d2d", "none"):
        raise ValueError(f"noise must be full, c2c, d2d or none, got {noise!r}")
    if noise in ("d2d", "none"):
        p = dataclasses.replace(p, sigmaCtoC=0.0)
    if noise in ("c2c", "none"):
        p = dataclasses.replace(p, sigmaDtoD=0.0, maxConductanceVar=0.0, minConductanceVar=0.0)
    return p


def params_from_export(cell: dict) -> NeuroSimParams:
    """The :class:`NeuroSimParams` of an export's ``mlp_v3_cell`` block."""
    import dataclasses

    return NeuroSimParams(**{f.name: cell[f.name] for f in dataclasses.fields(NeuroSimParams)})
