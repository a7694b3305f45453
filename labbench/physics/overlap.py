"""The chip's second thread: a helper that takes part of a long compiled job off the
training thread (issue 25), and the whole-array read split with it.

A job here is a claim loop: the work is cut into blocks, and each thread takes the next
block with a compare-and-swap on a (generation << 32 | next block) word, so a helper that
is late, preempted or busy with another run is never waited for: the calling thread takes
whatever is left.  Each block's result is independent of which thread computed it, and
anything summed across blocks is summed afterwards in block order, so a result never
depends on the helper (tests compare with and without it, bit for bit).

Why not a pool: waking a sleeping thread costs ~0.2 ms on the VMs we run on, a block
~0.1 ms.  The helper is woken once per job and spins (x86 ``pause``) only while the job
lasts.  numba's ``parallel=True`` was ruled out earlier (design-notes 8).
``LABBENCH_PULSE_HELPER=0`` switches it off; it is off where the process may use one CPU.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np
from numba import njit

from . import kernels
from .atomics import atomic_add, atomic_cas, atomic_load, atomic_store, cpu_relax

__all__ = ["Helper", "get_helper", "helper_enabled", "read_currents_split"]

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
GEN, CLAIM, DONE = 0, 1, 2       # slots of a read job's control words
_SHIFT = np.int64(32)
_LOW32 = np.int64(0xFFFFFFFF)
_NO_IDX = np.zeros(0, np.int64)


def helper_enabled() -> bool:
    """The helper thread is used unless ``LABBENCH_PULSE_HELPER=0`` or this process may run
    on one CPU only (then it would only take turns with the training thread)."""
    if os.environ.get("LABBENCH_PULSE_HELPER", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        return len(os.sched_getaffinity(0)) >= 2
    except AttributeError:            # not Linux
        return (os.cpu_count() or 1) >= 2


class Helper:
    """The process's one helper thread.  ``start(fn, args)`` hands it a claim loop (a
    compiled function that releases the GIL) if no other job holds it; ``finish()`` when
    the caller's own claim loop is done and every claimed block is finished."""

    def __init__(self):
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._job: tuple | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="labbench-pulse-helper", daemon=True)
        self.thread.start()

    def start(self, fn, args: tuple) -> bool:
        if not self._lock.acquire(blocking=False):
            return False                  # another run's job (a training in another thread)
        self.error = None
        self._job = (fn, args)
        self._wake.set()
        return True

    def finish(self) -> None:
        self._job = None
        self._lock.release()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            job = self._job
            if job is None:
                continue
            try:
                job[0](*job[1])
            except Exception as e:  # noqa: BLE001 - recorded for the calling thread, which raises it
                self.error = e


_helper: Helper | None = None
_helper_lock = threading.Lock()


def get_helper() -> Helper | None:
    """The helper thread (started on first use), or None where it is switched off."""
    global _helper
    if not helper_enabled():
        return None
    with _helper_lock:
        if _helper is None or not _helper.thread.is_alive():
            _helper = Helper()
        return _helper


def wait_for(helper: Helper | None, ctl, slot: int, target: int) -> None:
    """Until ``ctl[slot]`` reaches ``target``: spin a while, then check the helper and
    yield the CPU (a helper preempted mid-block needs it to finish)."""
    while not _wait_done(ctl, slot, target, 20000):
        if helper is not None and helper.error is not None:
            raise RuntimeError("the chip's helper thread failed") from helper.error
        time.sleep(0)


def settle(ctl, claim_slot: int, done_slot: int) -> int:
    """End a job's claims (no block can be claimed from here on) and wait until every block
    already claimed is done: after this, nothing touches the chip for this job, whether the
    job ended normally or was interrupted (Ctrl-C while waiting).  Returns how many blocks
    were claimed, all of them done: blocks 0 … that − 1."""
    claimed = int(_close_claims(ctl, claim_slot))
    while not _wait_done(ctl, done_slot, claimed, 1 << 22):
        time.sleep(0)
    return claimed


@njit(**_JIT)
def _close_claims(ctl, slot):
    """Swap the claim word for one no generation matches; the blocks claimed before."""
    closed = np.int64(-1) << _SHIFT
    while True:
        word = atomic_load(ctl, slot)
        if word == closed:
            return np.int64(0)
        if atomic_cas(ctl, slot, word, closed):
            return word & _LOW32


@njit(**_JIT)
def _wait_done(ctl, slot, target, spins):
    for _ in range(spins):
        if atomic_load(ctl, slot) >= target:
            return True
        cpu_relax()
    return atomic_load(ctl, slot) >= target


@njit(**_JIT)
def post(ctl, slot, value):
    """ctl[slot] = value, a release store (what was written before is visible with it)."""
    atomic_store(ctl, slot, value)


@njit(**_JIT)
def _read_claims(ctl, gen, chunk, g, events, bias, sign, noise_rel, base, out, formed, stuck, all_live,
                 gmin, gmax, disturb, toward_max):
    """Claim chunks of ``chunk`` devices of a whole-array read and read them
    (:func:`kernels.read_currents`, devices lo…hi − 1 into out[lo:hi])."""
    n = out.size
    nchunks = (n + chunk - 1) // chunk
    none = np.zeros(1)
    did = 0
    while True:
        if atomic_load(ctl, GEN) != gen:
            return did
        word = atomic_load(ctl, CLAIM)
        c = word & _LOW32
        if (word >> _SHIFT) != gen or c >= nchunks:
            return did
        if not atomic_cas(ctl, CLAIM, word, word + 1):
            continue
        lo = c * chunk
        hi = min(n, lo + chunk)
        kernels.read_currents(g, events, _NO_IDX, lo, bias, sign, noise_rel, base, out[lo:hi], formed, stuck,
                              all_live, gmin, gmax, disturb, toward_max, False, none)
        atomic_add(ctl, DONE, 1)
        did += 1


@njit(**_JIT)
def _abs_sum(out, abs_sum):
    """abs_sum[0] += Σ |out|, summed as :func:`kernels.read_currents` sums it (in order)."""
    total = 0.0
    for j in range(out.size):
        total += abs(float(out[j]))
    abs_sum[0] += total


_READ_CHUNK = 1 << 15


def read_currents_split(g, events, bias, sign, noise_rel, base, out, formed, stuck, all_live, gmin, gmax,
                        disturb, toward_max, sum_abs, abs_sum) -> None:
    """:func:`kernels.read_currents` of every device (``out``: all of them, in order), the
    same numbers, with the helper reading chunks beside this thread where it is free.
    Below two chunks, or without the helper, one call."""
    helper = get_helper() if out.size >= 2 * _READ_CHUNK else None
    if helper is None or helper.busy:
        kernels.read_currents(g, events, _NO_IDX, 0, bias, sign, noise_rel, base, out, formed, stuck, all_live,
                              gmin, gmax, disturb, toward_max, sum_abs, abs_sum)
        return
    gen = 1
    ctl = np.zeros(4, np.int64)       # this call's own: a late helper finds it over
    ctl[CLAIM] = gen << 32
    post(ctl, GEN, gen)
    args = (ctl, gen, _READ_CHUNK, g, events, bias, sign, noise_rel, base, out, formed, stuck, all_live, gmin,
            gmax, disturb, toward_max)
    started = helper.start(_read_claims, args)
    try:
        _read_claims(*args)
        wait_for(helper if started else None, ctl, DONE, (out.size + _READ_CHUNK - 1) // _READ_CHUNK)
    finally:
        settle(ctl, CLAIM, DONE)
        post(ctl, GEN, -1)
        if started:
            helper.finish()
    if sum_abs:
        _abs_sum(out, abs_sum)
