"""A layer's update streamed to the chip by row blocks, pulsed on a second thread while the
training thread computes the next block's optimizer step (issue 25: hide the device's
bookkeeping behind the BNN's own arithmetic).

The training thread writes the optimizer's ΔW one row block at a time and posts each
block.  A block's device work is one compiled call: the update rule's rounding to pulse
counts (:mod:`.rounding`), finding the touched synapses, pulsing them (the compiled
nominal pulse, :func:`labbench.physics.kernels.signed_pair_pulses`) and re-sensing their
cached signs.  Whichever thread gets to a block first takes it: the helper thread, or the
training thread once it has posted everything.  So a run never waits on a helper that is
late or busy elsewhere; at worst the training thread does every block itself.

The result does not depend on who pulsed what.  Each synapse is pulsed once, in the same
way, keyed by its own write counter; a block's energy is summed inside the block and the
blocks' sums are added in block order.  Tests check a stream with and without the helper
against each other and against the one-call update, bit for bit.

The helper thread and the claim protocol: :mod:`labbench.physics.overlap`.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from labbench.physics import SET, kernels
from labbench.physics.atomics import atomic_add, atomic_cas, atomic_load, cpu_relax
from labbench.physics.overlap import Helper, get_helper, post, settle, wait_for

from .rounding import apply_rule

__all__ = ["PulseStream", "resense_pairs"]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}

# slots of a stream's control word array
_GEN, _CLAIM, _POSTED, _CLOSED, _DONE = 0, 1, 2, 3, 4
_SHIFT = np.int64(32)
_LOW32 = np.int64(0xFFFFFFFF)


@njit(**_JIT)
def resense_pairs(syn, diff, offset, cols, col0, row0, out_cols, cache):
    """cache[r, c] = ±1, the sign of (G+ − G−) + the column's offset, for tile synapses
    ``syn`` (flat in the tile, their differences ``diff``) at tile origin (row0, col0) of the
    array's flat sign cache (``out_cols`` wide)."""
    one = np.float32(1)
    if row0 == 0 and col0 == 0 and cols == out_cols and not np.any(offset):
        # one tile, an ideal comparator: the flat index is the synapse's, no integer division
        for j in range(syn.size):
            cache[syn[j]] = one if diff[j] >= 0 else -one
        return
    for j in range(syn.size):
        s = syn[j]
        c = s % cols
        cache[(row0 + s // cols) * out_cols + col0 + c] = one if diff[j] + offset[col0 + c] >= 0 else -one


@njit(**_JIT)
def _pulse_block(b, edges, dw, rule, scale, f1, f2, r, u16, k, words, sums, sent, g, events, formed, stuck,
                 all_live, up, params, c2c_abs, c2c_rel, clip, base, floor, pulse_bias, read_bias, offset, cols,
                 cache):
    """Block ``b``: its pulse counts from its ΔW (the rule), its touched synapses, their
    pulses (energy sums into ``sums[b]``, pulses sent into ``sent[b]``), their signs."""
    lo, hi = edges[b], edges[b + 1]
    apply_rule(rule, dw[lo:hi], scale, f1, f2, r[lo:hi] if r.size else r, u16[lo:hi] if u16.size else u16,
               k[lo:hi])
    pos = np.empty(hi - lo + 8, np.int64)
    m = kernels.nonzero_int8_range(k, words, lo, hi, pos)
    e = sums[b]
    e[0] = 0.0
    e[1] = 0.0
    sent[b] = 0
    if m == 0:
        return
    syn = pos[:m]
    diff, n = kernels.signed_pair_pulses(k, syn, g, events, formed, stuck, all_live, up, params, c2c_abs,
                                         c2c_rel, clip, base, floor, pulse_bias, read_bias, e)
    sent[b] = n
    if cache.size:
        resense_pairs(syn, diff, offset, cols, 0, 0, cols, cache)


@njit(**_JIT)
def _work(ctl, gen, edges, dw, rule, scale, f1, f2, r, u16, k, words, sums, sent, g, events, formed, stuck,
          all_live, up, params, c2c_abs, c2c_rel, clip, base, floor, pulse_bias, read_bias, offset, cols, cache):
    """Claim posted blocks (compare-and-swap on ``ctl[_CLAIM]`` = gen << 32 | next block) and
    pulse them, until the stream is closed and nothing posted is left, or the stream ``gen``
    is over.  Returns how many blocks this thread pulsed."""
    nb = edges.size - 1
    did = 0
    while True:
        if atomic_load(ctl, _GEN) != gen:
            return did
        word = atomic_load(ctl, _CLAIM)
        if (word >> _SHIFT) != gen:
            return did
        b = word & _LOW32
        if b >= nb:
            return did
        if b >= atomic_load(ctl, _POSTED):
            if atomic_load(ctl, _CLOSED) != 0 and b >= atomic_load(ctl, _POSTED):
                return did
            cpu_relax()
            continue
        if not atomic_cas(ctl, _CLAIM, word, word + 1):
            continue
        _pulse_block(b, edges, dw, rule, scale, f1, f2, r, u16, k, words, sums, sent, g, events, formed, stuck,
                     all_live, up, params, c2c_abs, c2c_rel, clip, base, floor, pulse_bias, read_bias, offset,
                     cols, cache)
        atomic_add(ctl, _DONE, 1)
        did += 1


@njit(**_JIT)
def _helper_work(*job):
    """The helper's part: claim blocks like the training thread, then read the sign cache
    through once (the last argument), so the next forward pass finds it in the shared
    cache rather than in memory (the chip's scattered lines evicted it)."""
    did = _work(*job)
    cache = job[-1]
    s = np.float32(0)
    for i in range(0, cache.size, 16):    # one load per 64-byte line
        s += cache[i]
    return did + (0 if s == s else 1)


@njit(**_JIT)
def _ordered_sums(sums, sent, nb, out):
    """The blocks' energy sums added in block order (so the total does not depend on which
    thread pulsed which block); the pulses sent."""
    total = 0
    for b in range(nb):
        out[0] += sums[b, 0]
        out[1] += sums[b, 1]
        total += sent[b]
    return total


class PulseStream:
    """One update of a one-tile :class:`~labbench.array.sim_array.SimArray` streamed by row
    blocks (see the module doc).  ``rule``: (code, f1, f2, residual, u16) of
    :func:`labbench.array.rounding.apply_rule` (an update rule's ``compiled()``), ``scale``
    1 / the weight change of one pulse.  Use::

        with array.pulse_stream(row_edges, rule, scale) as s:
            for b, (r0, r1) in enumerate(s.blocks):
                write rows r0:r1 of ΔW into s.dw[r0 * cols:r1 * cols]
                s.post(b + 1)

    A posted block is rounded to pulse counts, pulsed and re-sensed by whichever thread
    claims it.  Leaving the ``with`` (normally or by an exception) finishes every posted
    block, waits for the helper and books the energy and counters, so the chip, its signs
    and the rule's state (the residual of the posted rows) stay consistent after an
    interrupt too; rows never posted are left as they were."""

    def __init__(self, array, chip, row_edges, rule: tuple, scale, use_helper: bool = True):
        self.array, self.chip = array, chip
        cols = array.cols
        self.blocks = list(zip(row_edges[:-1], row_edges[1:]))
        self.edges = np.asarray(row_edges, np.int64) * cols
        st = array.__dict__.setdefault("_stream_state", {})
        n = array.rows * array.cols
        if st.get("n") != n or st["sums"].shape[0] < len(self.blocks):
            st.update(n=n, k=np.zeros(n, np.int8), dw=np.zeros(n, np.float32), ctl=np.zeros(8, np.int64), gen=0,
                      sums=np.zeros((len(self.blocks), 2)), sent=np.zeros(len(self.blocks), np.int64))
        st["gen"] += 1
        self.k, self.dw, self.ctl, self.gen = st["k"], st["dw"], st["ctl"], st["gen"]
        self._sums, self._sent = st["sums"], st["sent"]
        code, f1, f2, r, u16 = rule
        self._rule = (np.int64(code), np.float32(scale), np.float32(f1), np.float32(f2),
                      np.ascontiguousarray(r, np.float32).reshape(-1), np.ascontiguousarray(u16, np.uint16).reshape(-1))
        self._use_helper = use_helper
        self._helper: Helper | None = None
        self._posted = 0

    def __enter__(self) -> "PulseStream":
        ctl, gen = self.ctl, self.gen
        ctl[_CLAIM] = gen << 32
        ctl[_POSTED] = 0
        ctl[_CLOSED] = 0
        ctl[_DONE] = 0
        post(ctl, _GEN, gen)          # last: a helper that sees this generation sees the rest
        arr, chip = self.array, self.chip
        cache = arr._sign_cache
        if cache is not None:
            cache.flags.writeable = True
        flat_cache = cache.reshape(-1) if cache is not None else np.zeros(0, np.float32)
        words = self.k[:self.k.size - self.k.size % 8].view(np.uint64)
        self._job = (ctl, gen, self.edges, self.dw, *self._rule, self.k, words, self._sums, self._sent, chip.g,
                     chip.write_events,
                     chip.formed, chip.stuck, chip._all_live(), *chip._burst_args(SET), chip._floor_arg(None),
                     *chip._energy_args(SET), arr._offset, arr.cols, flat_cache)
        helper = get_helper() if self._use_helper else None
        if helper is not None and helper.start(_helper_work, self._job):
            self._helper = helper
        return self

    def post(self, blocks_done: int) -> None:
        """Blocks ``< blocks_done`` have their ΔW in ``dw``: they may be pulsed now."""
        self._posted = blocks_done
        post(self.ctl, _POSTED, blocks_done)

    def __exit__(self, *exc) -> None:
        ctl = self.ctl
        done = 0
        try:
            post(ctl, _CLOSED, 1)
            _work(*self._job)          # whatever the helper has not claimed
            wait_for(self._helper, ctl, _DONE, self._posted)
        finally:
            # interrupted before the end: blocks claimed finish, blocks never claimed stay
            # as they were (their rows not rounded either); either way book what was pulsed
            done = settle(ctl, _CLAIM, _DONE)
            post(ctl, _GEN, -1)       # a late helper finds the stream over
            if self._helper is not None:
                self._helper.finish()
            cache = self.array._sign_cache
            if cache is not None:
                cache.flags.writeable = False
            sums = np.zeros(2)
            sent = _ordered_sums(self._sums, self._sent, min(done, self._posted), sums)
            if sent:                   # as Chip.pulse_pairs books a compiled update
                self.chip._after_compiled(SET, sums, None, 127)
                self.array.counters.set_pulses += int(sent)
