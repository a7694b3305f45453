"""Refresh policies: when to refresh which 2T2R pairs.

Both devices of a pair only grow (SET pulses on + for ΔW > 0, on − for ΔW < 0), so
pairs drift to Gmax and stop learning.  A refresh RESETs both devices and re-programs
|G+ − G−| onto the side that was larger, keeping the sign (the array does the
re-programming: :meth:`Array2T2R.refresh`; SimArray takes ``cap`` and ``verify``).  A policy
given ``program`` (program-verify settings) re-writes with program-verify instead, to the
target conductance within a tolerance (:meth:`Array2T2R.refresh_verified`).

* ``none`` — never (the paper's baseline: training stalls once pairs saturate).
* ``paper`` — the paper-like refresh (Zhou et al. 2018): the ``threshold`` check, and a
  refreshed pair is RESET on both sides and the whole difference re-written (no cap), with
  no verify and no per-pair memory (no patience).  The only policy strict mode accepts
  besides ``none``.
* ``periodic`` — every K updates, refresh every pair.
* ``threshold`` — every ``check_every`` updates read both devices of every pair and
  refresh the pairs whose larger device is above ``level`` of the range (as read).
  A pair still above the level at ``patience`` consecutive checks does not respond to
  refresh (a device stuck at Gmax, say): it is left alone from then on instead of
  costing a RESET and a re-write at every check.

Each policy returns how many pairs it refreshed; the array's counters hold what it cost:
RESETs (two per refreshed pair), re-write SET pulses, and the conductance reads of every
check (two per pair) and of the refresh itself.  The trainer reports them per epoch
against the update pulses: refresh is energy and wear, a figure of merit beside accuracy.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from labbench.physics import DeviceModel, circuit


@njit(cache=True, nogil=True)
def _over_threshold(g, threshold, strikes, patience, mask):
    """mask[s] = the pair's larger device reads >= ``threshold``, and (with ``strikes``, one
    per pair; empty: no patience) it has not been above for more than ``patience`` checks
    in a row, counting this one.  One pass over the read (g: the pairs' two devices side by
    side, flat); returns how many are masked.  The NumPy form costs five passes."""
    counting = strikes.size > 0
    n = 0
    for s in range(mask.size):
        above = max(g[2 * s], g[2 * s + 1]) >= threshold
        if counting:
            st = strikes[s] + 1 if above else 0
            strikes[s] = st
            above = above and st <= patience
        mask[s] = above
        n += above
    return n


def _refresh(array, mask: np.ndarray, cap: float | None, verify: int, program=None) -> int:
    """Refresh the masked pairs; an array without an option refuses it by name.  With
    ``program`` (program-verify settings) the re-write is verified to its target conductance
    (:meth:`Array2T2R.refresh_verified`) instead of an open-loop pulse count."""
    n = int(mask.sum())
    if n == 0:
        return 0
    if program is not None:
        array.refresh_verified(mask, program, cap=cap)
    else:
        array.refresh(mask, cap=cap, verify=verify)
    return n


class RefreshPolicy:
    name = "abstract"

    def __init__(self, cap: float | None = 0.5, verify: int = 1, program=None):
        if cap is not None and not 0 < cap <= 1:
            raise ValueError(f"refresh cap is a fraction of the range in (0, 1], got {cap}")
        if verify < 0:
            raise ValueError("verify is a number of read-back rounds, >= 0")
        self.cap, self.verify = cap, int(verify)
        if program is not None:
            program.check()
        self.program = program   # VerifySettings: re-write with program-verify (None: open loop)

    def __call__(self, array, step: int) -> int:
        raise NotImplementedError

    # what a policy remembers about an array, for checkpoints (none by default)
    def state(self, array) -> np.ndarray | None:
        return None

    def load_state(self, array, state: np.ndarray) -> None:
        pass

    def describe(self) -> dict:
        out = {"policy": self.name, "cap": self.cap, "verify": self.verify}
        if self.program is not None:
            out["program_verify"] = {"tolerance": self.program.tolerance, "max_pulses": self.program.max_pulses}
        return out


class NoRefresh(RefreshPolicy):
    name = "none"

    def __init__(self, **_):
        super().__init__(cap=None, verify=0)

    def __call__(self, array, step):
        return 0


class PeriodicRefresh(RefreshPolicy):
    name = "periodic"

    def __init__(self, every: int = 100, **kw):
        super().__init__(**kw)
        if every < 1:
            raise ValueError(f"refresh period must be >= 1 update, got {every}")
        self.every = int(every)

    def __call__(self, array, step):
        if step % self.every:
            return 0
        return _refresh(array, np.ones((array.rows, array.cols), bool), self.cap, self.verify, self.program)

    def describe(self):
        return {**super().describe(), "every": self.every}


class ThresholdRefresh(RefreshPolicy):
    name = "threshold"

    def __init__(self, model: DeviceModel, level: float = 0.9, check_every: int = 1,
                 patience: int | None = 3, **kw):
        super().__init__(**kw)
        if not 0 < level < 1:
            raise ValueError(f"refresh level is a fraction of the range in (0, 1), got {level}")
        if check_every < 1:
            raise ValueError("check_every must be >= 1 update")
        if patience is not None and patience < 1:
            raise ValueError("patience is a number of consecutive checks, >= 1 (or None: never give up)")
        self.level, self.check_every, self.patience = float(level), int(check_every), patience
        # per array (a policy serves every layer): consecutive checks each pair was above
        self._strikes: dict[int, np.ndarray] = {}
        # the threshold in read units: the read sees G through the access transistor
        lo, hi = (float(circuit.as_read(model, g)) for g in (model.gmin, model.gmax))
        self.threshold = lo + self.level * (hi - lo)

    def __call__(self, array, step):
        if step % self.check_every:
            return 0
        g = np.ascontiguousarray(array.read_conductances())
        mask = np.empty(g.shape[:2], bool)
        if self.patience is None:
            strikes = np.zeros(0, np.int16)
        else:
            strikes = self._strikes.setdefault(id(array), np.zeros(mask.shape, np.int16))
        # the threshold in the read's precision (as NumPy compares a float32 read with it)
        n = _over_threshold(g.reshape(-1), g.dtype.type(self.threshold), strikes.reshape(-1),
                            self.patience or 0, mask.reshape(-1))
        return _refresh(array, mask, self.cap, self.verify, self.program) if n else 0

    def state(self, array):
        return self._strikes.get(id(array))

    def load_state(self, array, state):
        self._strikes[id(array)] = np.array(state, np.int16)

    def unresponsive(self, array) -> int:
        """Pairs of ``array`` this policy has given up refreshing."""
        s = self._strikes.get(id(array))
        return 0 if s is None or self.patience is None else int((s > self.patience).sum())

    def describe(self):
        return {**super().describe(), "level": self.level, "check_every": self.check_every,
                "patience": self.patience}


class PaperRefresh(ThresholdRefresh):
    """The threshold check with the paper's refresh: full re-write, no per-pair memory; open
    loop, or with ``program`` through program-verify (a verify loop keeps no state either)."""

    name = "paper"

    def __init__(self, model: DeviceModel, level: float = 0.9, check_every: int = 1, program=None, **_):
        super().__init__(model, level=level, check_every=check_every, patience=None, cap=None, verify=0,
                         program=program)


POLICIES = ("none", "periodic", "threshold", "paper")


def make_policy(name: str, model: DeviceModel, *, level: float = 0.9, check_every: int = 1,
                every: int = 100, cap: float | None = 0.5, verify: int = 1,
                patience: int | None = 3, program=None) -> RefreshPolicy:
    """``program``: program-verify settings (:class:`labbench.array.program_verify.VerifySettings`)
    for a verified re-write (periodic and threshold policies)."""
    if name == "none":
        return NoRefresh()
    if name == "periodic":
        return PeriodicRefresh(every=every, cap=cap, verify=verify, program=program)
    if name == "threshold":
        return ThresholdRefresh(model, level=level, check_every=check_every, cap=cap, verify=verify,
                                patience=patience, program=program)
    if name == "paper":
        return PaperRefresh(model, level=level, check_every=check_every, program=program)
    raise ValueError(f"unknown refresh policy {name!r}; choose one of {list(POLICIES)}")
