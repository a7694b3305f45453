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
    """The five required operations, and optional ones with working defaults that an
    implementation overrides when it can do better (SimArray's fused fast paths).  The
    trainer and the refresh policies call these directly; they never probe an array."""

    rows: int
    cols: int
    counters: ArrayCounters
    #: does :meth:`refresh` support a capped rewrite (``cap``) and read-verify (``verify``)?
    refresh_options: frozenset[str] = frozenset()

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
    def refresh(self, mask: np.ndarray, cap: float | None = None, verify: int = 0) -> None:
        """Refresh the masked synapses: RESET both, re-program |G+ − G−| onto the larger
        side, keeping the sign.  Implementations count the pulses it costs.

        ``cap``: re-write at most this fraction of the range (None: the full difference);
        ``verify``: read-back rounds that re-pulse pairs whose sign came back wrong.  An
        array that lacks an option (see :attr:`refresh_options`) refuses it by name."""

    def _refuse_unsupported(self, cap: float | None, verify: int) -> None:
        asked = {"cap"} if cap is not None else set()
        asked |= {"verify"} if verify else set()
        missing = asked - self.refresh_options
        if missing:
            raise ValueError(f"{type(self).__name__}.refresh does not support {', '.join(sorted(missing))}; "
                             f"use --refresh-cap 0 / --refresh-verify 0 with this array")

    # -- optional operations, with defaults -------------------------------------------
    def read_signs_float(self) -> np.ndarray:
        """:meth:`read_signs` as float32 (what the BNN's matrix products use)."""
        return self.read_signs().astype(np.float32)

    def apply_signed_pulses(self, k: np.ndarray) -> None:
        """Signed pulse counts: k > 0 pulses G+ k times, k < 0 pulses G− |k| times."""
        self.apply_set_pulses(np.maximum(k, 0), np.maximum(-k, 0))

    def conductances(self) -> np.ndarray:
        """Conductances for monitoring and plots (a simulator may answer without counting
        a read; hardware reads them)."""
        return self.read_conductances()

    def energy(self) -> dict[str, float]:
        """J spent in the cells, ``{"program": …, "read": …}``; empty where the array cannot
        know (hardware without a power monitor)."""
        return {}

    def wear(self) -> dict:
        """Pulses per device (mean, max, histogram) and the fraction worn out; empty where
        the array does not count them."""
        return {}

    def advance_time(self, seconds: float) -> None:
        """Let the array sit idle ``seconds`` (drift at rest).  Only a simulator can skip
        time; a real array would have to wait it out."""
        raise ValueError(f"{type(self).__name__} cannot idle in simulated time; "
                         "idle time between epochs needs --array sim")

    def program_verify(self, targets, settings=None, keep_trace: bool = True):
        """Program devices to ``targets`` (S as read, (rows, cols, 2), NaN: leave alone) with
        ISPP and verify (:mod:`labbench.array.program_verify`); returns its result
        (``keep_trace=False``: without the per-pulse record)."""
        raise ValueError(f"{type(self).__name__} has no program-verify")

    def refresh_verified(self, mask: np.ndarray, settings=None, cap: float | None = None,
                         margin: float = 0.0):
        """Refresh the masked pairs with program-verify instead of an open-loop pulse count:
        read both devices, RESET both, then program the side that was larger to the other
        side's read plus the difference (at most ``cap``, at least ``margin``, both fractions
        of the read window), keeping the sign.  Returns the program-verify result (its
        cells are the array's devices, flat (row, col, side)).  Needs the array's
        ``model`` (its device model) for the read window."""
        from . import program_verify as pv

        mask = np.asarray(mask, bool)
        if mask.shape != (self.rows, self.cols):
            raise ValueError(f"mask has shape {mask.shape}, the array is {self.rows}×{self.cols}")
        model = self.model
        settings = settings or pv.VerifySettings.for_model(model)
        lo, hi = pv.reachable_range(model, settings)
        g = self.read_conductances()
        diff = np.abs(g[..., 0] - g[..., 1])
        side = np.where(g[..., 0] >= g[..., 1], 0, 1)
        if cap is not None:
            diff = np.minimum(diff, cap * (hi - lo))
        diff = np.maximum(diff, margin * (hi - lo))
        self.reset(mask)
        after = self.read_conductances()
        other = np.take_along_axis(after, (1 - side)[..., None], 2)[..., 0]
        # inside the range with room for the tolerance (a target at the very top is reached
        # by few devices of a spread)
        target = np.clip(other + diff, lo * (1 + 2 * settings.tolerance), hi * (1 - 2 * settings.tolerance))
        targets = np.full((self.rows, self.cols, 2), np.nan)
        r, c = np.nonzero(mask)
        targets[r, c, side[r, c]] = target[r, c]
        self.counters.refreshes += int(mask.sum())
        return self.program_verify(targets, settings, keep_trace=False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """What a checkpoint needs to resume this array exactly (by default: the counters;
        a device pair keeps its own non-volatile state)."""
        return {"counters": np.array(list(self.counters.as_dict().values()), np.int64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.counters = ArrayCounters(*[int(x) for x in state["counters"]])
