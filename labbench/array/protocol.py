"""The protocol training talks to: a tile of 2T2R synapses, never instruments.

A tile has ``rows × cols`` synapses; synapse (r, c) is the pair of devices G+ (side 0,
bit line BL) and G− (side 1, BLB).  Its hidden analog weight is ``G+ − G−`` and its
binary weight ``sign(G+ − G−)`` as a differential sense amplifier reads it.  Updates are
gradual SET pulses only, on the + side to raise the weight and on the − side to lower
it, so both devices only grow until a refresh (RESET both, re-program the difference
onto one side).

Implementations: ``SimArray`` (drives ``physics.Chip`` directly, vectorized) and
``BenchArray`` (drives a Bench, cell by cell, through real or simulated instruments).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class ArrayCounters:
    """What the array has cost so far: energy and wear are counted in pulses."""

    set_pulses: int = 0          # gradual-SET pulses from training updates
    refresh_set_pulses: int = 0  # gradual-SET pulses spent re-programming during refresh
    reset_ops: int = 0           # device RESET operations (2 per refreshed synapse)
    refreshes: int = 0           # synapses refreshed
    sign_reads: int = 0          # synapses read by the differential sense amplifier
    conductance_reads: int = 0   # devices read individually

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Array2T2R(ABC):
    rows: int
    cols: int
    counters: ArrayCounters

    @abstractmethod
    def read_signs(self) -> np.ndarray:
        """Binary weights, int8 array (rows, cols) of ±1, as the sense amplifier reads them."""

    @abstractmethod
    def read_conductances(self) -> np.ndarray:
        """Device conductances in S, array (rows, cols, 2): [..., 0] = G+, [..., 1] = G−."""

    @abstractmethod
    def apply_set_pulses(self, n_plus: np.ndarray, n_minus: np.ndarray) -> None:
        """Gradual-SET pulses: ``n_plus[r, c]`` on G+ and ``n_minus[r, c]`` on G− (ints >= 0)."""

    @abstractmethod
    def reset(self, mask: np.ndarray) -> None:
        """RESET both devices of the synapses where ``mask`` (bool, rows × cols) is True."""

    @abstractmethod
    def refresh(self, mask: np.ndarray) -> None:
        """Refresh the masked synapses: RESET both, re-program |G+ − G−| onto the larger
        side, keeping the sign.  Implementations count the pulses it costs."""
