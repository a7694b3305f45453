"""A twin of ``pyarc2.Instrument`` on a simulated board (:class:`~.board.Arc2Board`).

Same public names, signatures, argument types and return types as the installed pyarc2
0.6.0 (``tests/test_arc2_parity.py`` checks them against it): channel arrays are uint64,
reads are float32, queued calls return the instrument so they chain, nothing queued runs
before ``execute()`` (an immediate read executes the queue first, as pyarc2 does), results
of queued reads are drained with ``pick_one``/``get_iter`` until ``None``.

Errors are the installed pyarc2's: PyO3's TypeError/OverflowError for a wrong argument,
pyarc2's own TypeError for a wrong array shape, ``ArC2Error`` where libarc2 returns an
error (an unknown board id, an inconsistent ramp, mixed transitions in one 8-channel
cluster, a high-speed pulse longer than 500 ms), and PyO3's ``PanicException`` where
libarc2 panics (a channel above 63 indexes its 64-channel tables out of bounds).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Optional

import numpy as np

from . import convert as cv
from .board import ALL_BITS, ALL_WORDS, USB_LATENCY, Arc2Board, QueuedCall, orthogonal
from .types import (ArC2Error, AuxDACFn, BiasOrder, ControlMode, DataMode, IdleMode, IODir, LogicLevel,
                    OutputRange, PanicException, ReadAfter, ReadAt, ReadType, WaitFor)

__all__ = ["Instrument", "find_ids", "plug", "unplug"]

HS_MAX_NANOS = 500_000_000      # libarc2: the high-speed drivers' longest pulse (500 ms)

_boards: dict[int, list[Arc2Board]] = {}


def plug(board: Arc2Board) -> None:
    """Attach a simulated board: ``find_ids()`` lists its id and ``Instrument(id, fw)``
    opens it.  Several simulated benches may use the same id: the board plugged last is
    the one opened (a bench plugs its own again before each open)."""
    stack = _boards.setdefault(board.id, [])
    if board in stack:
        stack.remove(board)
    stack.append(board)


def unplug(board: Arc2Board) -> None:
    stack = _boards.get(board.id, [])
    if board in stack:
        stack.remove(board)
    if not stack:
        _boards.pop(board.id, None)


def find_ids() -> list[int]:
    """The ids of the attached (simulated) boards."""
    return sorted(_boards)


def _chan(x, name: str) -> int:
    v = cv.uint(x, name)
    if v > 63:
        raise PanicException(f"index out of bounds: the len is 64 but the index is {v}")
    return v


def _chans(arr, name: str) -> list[int]:
    out = cv.chan_array(arr, name)
    for v in out:
        if v > 63:
            raise PanicException(f"index out of bounds: the len is 64 but the index is {v}")
    return out


def _v(x, name: str) -> float:
    return float(cv.f32(x, name))


class Instrument:
    """
    To do anything with ArC TWO you will need first to instantiate an
    ``Instrument``.  Here: a simulated board attached with :func:`plug`.

    :param int port: The EFM id of the ArC TWO to connect to
    :param str firmware: Path of the firmware to load (not read: there is no FPGA)
    :param bool init: Bring the board to a known state (all DACs at 0.0 V)
    """

    def __init__(self, port: int, firmware: str, init=True):
        port = cv.sint(port, "id")
        if not isinstance(firmware, str):
            raise TypeError(f"argument 'fw': '{type(firmware).__name__}' object cannot be converted to 'PyString'")
        init = cv.opt(init, cv.boolean, "init")
        board = (_boards.get(port) or [None])[-1]
        if board is None:
            raise ArC2Error(f"Invalid ArC2 device id: {port}")
        self._board = board
        self._fifo: list[QueuedCall] = []      # this connection's command buffer (libarc2 keeps one per handle)
        self.firmware = firmware
        if init is None or init:
            board.power_on()
        board.opened = True

    # -- the queue ------------------------------------------------------------------------
    def _queue(self, name: str, args: tuple, *ops) -> "Instrument":
        self._fifo.append(QueuedCall(name, args, list(ops)))
        return self

    def _now(self, name: str, args: tuple, *ops) -> list:
        """An immediate call: queue it, execute everything queued, fetch its results."""
        out: list = []
        self._fifo.append(QueuedCall(name, args, [(_collect(op, out), a) for op, a in ops]))
        self.execute()
        self._board.transfers += 1          # the result comes back over USB
        self._board.wait(USB_LATENCY)
        return out

    def execute(self) -> "Instrument":
        """Write everything in the command buffer to the instrument."""
        calls, self._fifo = self._fifo, []
        self._board.execute(calls)
        return self

    def busy(self) -> bool:
        """Returns `True` if the command buffer has not been consumed."""
        return False     # execute() runs the program to its end in virtual time

    def wait(self) -> None:
        """Block until the instrument has executed its command buffer."""
        return None

    def delay(self, nanos) -> "Instrument":
        """Insert a delay of ``nanos`` nanoseconds in the command buffer."""
        n = cv.uint(nanos, "nanos", 128)
        return self._queue("delay", (n,), (Arc2Board.delay, (n,)))

    # -- channel configuration --------------------------------------------------------------
    def ground_all(self) -> "Instrument":
        """Ground all channels and revert them to arbitrary voltage operation."""
        return self._queue("ground_all", (), (Arc2Board.ground_all, (False,)))

    def ground_all_fast(self) -> "Instrument":
        """Ground all channels maintaing current channel operating mode."""
        return self._queue("ground_all_fast", (), (Arc2Board.ground_all, (True,)))

    def float_all(self) -> "Instrument":
        """Disconnect all channels."""
        return self._queue("float_all", (), (Arc2Board.float_all, ()))

    def _grounds(self, name, chans, how, ac=False) -> "Instrument":
        arr = cv.ndarray_check(chans)
        c = _chans(arr, "chans")
        return self._queue(name, (arr,), (Arc2Board.grounds, (c, how, ac)))

    def connect_to_gnd(self, chans) -> "Instrument":
        """Switch exactly these channels to hard ground (an empty array clears them)."""
        return self._grounds("connect_to_gnd", chans, "set")

    def gnd_add(self, chans) -> "Instrument":
        return self._grounds("gnd_add", chans, "add")

    def gnd_remove(self, chans) -> "Instrument":
        return self._grounds("gnd_remove", chans, "remove")

    def connect_to_ac_gnd(self, chans) -> "Instrument":
        return self._grounds("connect_to_ac_gnd", chans, "set", True)

    def gnd_ac_add(self, chans) -> "Instrument":
        return self._grounds("gnd_ac_add", chans, "add", True)

    def gnd_ac_remove(self, chans) -> "Instrument":
        return self._grounds("gnd_ac_remove", chans, "remove", True)

    def open_channels(self, channels) -> "Instrument":
        """Set selected channels to open (disconnected from the DACs and from ground)."""
        c = cv.uint_list(channels, "channels")
        for v in c:
            if v > 63:
                raise PanicException(f"index out of bounds: the len is 64 but the index is {v}")
        return self._queue("open_channels", (c,), (Arc2Board.open_channels, (c,)))

    def config_channels(self, input, base=None) -> "Instrument":   # "input": pyarc2's parameter name
        """Configure channels at voltages ``[(channel, voltage), ...]``; ``base``: the rest (None: as they are)."""
        conf = cv.pairs(input, "input", lambda c: cv.uint(c, "input", 16), lambda v: _v(v, "input"))
        for ch, _ in conf:
            if ch > 63:
                raise PanicException(f"index out of bounds: the len is 64 but the index is {ch}")
        b = cv.opt(base, _v, "base")
        return self._queue("config_channels", (conf, b), (Arc2Board.set_channels, (conf, b)))

    def config_aux_channels(self, voltages) -> "Instrument":
        """Configure the auxiliary DACs: ``[(AuxDACFn, voltage), ...]`` (SELL/SELH: selector levels)."""
        conf = cv.pairs(voltages, "voltages", lambda f: cv.enum(f, AuxDACFn, "voltages"), lambda v: _v(v, "voltages"))
        named = [(f._name, v) for f, v in conf]
        return self._queue("config_aux_channels", (conf,), (Arc2Board.set_aux, (named,)))

    def config_selectors(self, selectors) -> "Instrument":
        """Toggle these selectors (0..31) high, the others low."""
        sel = cv.uint_list(selectors, "selectors")
        bad = [s for s in sel if s > 31]
        if bad:
            raise ArC2Error(f"Instruction Error: selector {bad[0]} out of range (0..31)")
        return self._queue("config_selectors", (sel,), (Arc2Board.set_selectors, (sel,)))

    def set_channel_range(self, chans, rng) -> "Instrument":
        """Set the range of analogue channels: OutputRange.STD (±10 V) or EXT (±20 V)."""
        arr = cv.ndarray_check(chans)
        c = _chans(arr, "chans")
        r = cv.enum(rng, OutputRange, "rng")
        return self._queue("set_channel_range", (arr, r), (Arc2Board.set_range, (c, r._name)))

    def set_control_mode(self, mode) -> "Instrument":
        m = cv.enum(mode, ControlMode, "mode")
        return self._queue("set_control_mode", (m,), (Arc2Board.set_control, (m._name,)))

    def set_logic(self, mask: int, cl0: Optional[IODir] = None, cl1: Optional[IODir] = None,
                  cl2: Optional[IODir] = None, cl3: Optional[IODir] = None) -> "Instrument":
        m = cv.uint(mask, "mask", 32)
        dirs = tuple(cv.opt(c, cv.enum, IODir, f"cl{k}") for k, c in enumerate((cl0, cl1, cl2, cl3)))
        return self._queue("set_logic", (m, *dirs))

    def set_logic_level(self, level) -> "Instrument":
        lv = cv.enum(level, LogicLevel, "level")
        return self._queue("set_logic_level", (lv,))

    # -- pulses (queued) ------------------------------------------------------------------
    def pulse_one(self, low, high, voltage, nanos) -> "Instrument":
        """Pulse between two channels: +V/2 on ``high``, -V/2 on ``low``, ``nanos`` ns."""
        lo, hi = _chan(low, "low"), _chan(high, "high")
        v, n = _v(voltage, "voltage"), cv.uint(nanos, "nanos", 128)
        return self._queue("pulse_one", (lo, hi, v, n), (Arc2Board.pulse, (lo, (hi,), v, n)))

    def pulse_slice(self, chan, voltage, nanos) -> "Instrument":
        """Pulse a row or column: ``chan`` low, every orthogonal channel high."""
        c, v, n = _chan(chan, "chan"), _v(voltage, "voltage"), cv.uint(nanos, "nanos", 128)
        return self._queue("pulse_slice", (c, v, n), (Arc2Board.pulse, (c, orthogonal(c), v, n)))

    def pulse_slice_masked(self, chan, voltage, nanos, mask) -> "Instrument":
        """Pulse ``chan`` (low) against the high channels in ``mask``."""
        arr = cv.ndarray_check(mask)
        c, v, n = _chan(chan, "chan"), _v(voltage, "voltage"), cv.uint(nanos, "nanos", 128)
        m = _chans(arr, "mask")
        return self._queue("pulse_slice_masked", (c, v, n, arr), (Arc2Board.pulse, (c, tuple(m), v, n)))

    def pulse_all(self, voltage, nanos, order) -> "Instrument":
        """Pulse every crosspoint, slice by slice (Rows: the word channels low, Cols: the bit ones)."""
        v, n = _v(voltage, "voltage"), cv.uint(nanos, "nanos", 128)
        o = cv.enum(order, BiasOrder, "order")
        lows = ALL_WORDS if o._name == "Rows" else ALL_BITS
        return self._queue("pulse_all", (v, n, o), *[(Arc2Board.pulse, (c, orthogonal(c), v, n)) for c in lows])

    def pulse_slice_fast_open(self, chans, cl_nanos, preset_state) -> "Instrument":
        """Sub-500 ms pulses on ``[(chan, pulse V, normal V), ...]`` with per-cluster widths."""
        conf = []
        if isinstance(chans, str):
            raise TypeError("argument 'chans': Can't extract `str` to `Vec`")
        for it in list(chans):
            if not isinstance(it, tuple) or len(it) != 3:
                raise TypeError(f"argument 'chans': '{type(it).__name__}' object cannot be converted to 'PyTuple'")
            conf.append((cv.uint(it[0], "chans"), _v(it[1], "chans"), _v(it[2], "chans")))
        timings = [cv.opt(t, cv.uint, "cl_nanos", 128) for t in cv_list(cl_nanos, "cl_nanos")]
        cv.boolean(preset_state, "preset_state")
        if len(timings) != 8:
            raise ValueError("Need 8 arguments for cluster timings")
        polarity: dict[int, bool] = {}
        for ch, active, normal in conf:
            if ch > 63:
                raise PanicException(f"index out of bounds: the len is 64 but the index is {ch}")
            t = timings[ch // 8]
            if t is None:
                raise ArC2Error(f"HS Channel {ch} has no timing associated on cluster {ch // 8}")
            if t > HS_MAX_NANOS:
                raise ArC2Error(f"HS Channel pulse width {ch} too long")
            high = active <= normal
            if polarity.setdefault(ch // 8, high) != high:
                raise ArC2Error("Attempting to toggle a previously set HS polarity bit")
        return self._queue("pulse_slice_fast_open", (conf, timings, bool(preset_state)),
                           (_fast_open, (conf, timings)))

    # -- reads (immediate) -------------------------------------------------------------------
    def read_one(self, low, high, vread) -> float:
        """Current between ``low`` (biased at -vread) and ``high`` (read, 0 V)."""
        lo, hi, v = _chan(low, "low"), _chan(high, "high"), _v(vread, "vread")
        slab = self._now("read_one", (lo, hi, v), (Arc2Board.read, (lo, (hi,), v, True, True)))[0]
        return float(slab[hi])

    def read_slice(self, chan, vread) -> np.ndarray:
        """Read every orthogonal channel against ``chan`` (low, at -vread): 32 float32 values."""
        c, v = _chan(chan, "chan"), _v(vread, "vread")
        highs = orthogonal(c)
        slab = self._now("read_slice", (c, v), (Arc2Board.read, (c, highs, v, True, True)))[0]
        return slab[list(highs)].astype(np.float32)

    def read_slice_masked(self, chan, mask, vread) -> np.ndarray:
        """As read_slice, reading only the channels in ``mask`` (the others NaN)."""
        arr = cv.ndarray_check(mask)
        c, v = _chan(chan, "chan"), _v(vread, "vread")
        m = _chans(arr, "mask")
        slab = self._now("read_slice_masked", (c, arr, v), (Arc2Board.read, (c, tuple(m), v, True, True)))[0]
        return slab[list(orthogonal(c))].astype(np.float32)

    def read_all(self, vread, order) -> np.ndarray:
        """Every crosspoint, slice by slice: a 32×32 float32 array."""
        v = _v(vread, "vread")
        o = cv.enum(order, BiasOrder, "order")
        lows = ALL_WORDS if o._name == "Rows" else ALL_BITS
        slabs = self._now("read_all", (v, o), *[(Arc2Board.read, (c, orthogonal(c), v, True, True)) for c in lows])
        return np.stack([s[list(orthogonal(c))] for s, c in zip(slabs, lows)]).astype(np.float32)

    def read_slice_open(self, highs, ground_after) -> np.ndarray:
        """Read the currents of ``highs`` at the levels as they are (64 values, NaN elsewhere)."""
        arr = cv.ndarray_check(highs)
        h = _chans(arr, "highs")
        g = True if ground_after is None else cv.boolean(ground_after, "ground_after")
        return self._now("read_slice_open", (arr, g), (Arc2Board.read, (None, tuple(h), 0.0, False, g)))[0]

    def read_slice_open_deferred(self, highs, ground_after) -> "Instrument":
        arr = cv.ndarray_check(highs)
        h = _chans(arr, "highs")
        g = True if ground_after is None else cv.boolean(ground_after, "ground_after")
        return self._queue("read_slice_open_deferred", (arr, g),
                           (Arc2Board.read, (None, tuple(h), 0.0, False, g, True)))

    def vread_channels(self, chans, averaging) -> list:
        """Voltages of ``chans``, ascending channel order (a list of floats)."""
        arr = cv.ndarray_check(chans)
        c = sorted(_chans(arr, "chans"))
        a = cv.boolean(averaging, "averaging")
        slab = self._now("vread_channels", (arr, a), (Arc2Board.vread, (c, a)))[0]
        return [float(slab[ch]) for ch in c]

    def vread_channels_deferred(self, chans, averaging) -> "Instrument":
        arr = cv.ndarray_check(chans)
        c = sorted(_chans(arr, "chans"))
        a = cv.boolean(averaging, "averaging")
        return self._queue("vread_channels_deferred", (arr, a), (Arc2Board.vread, (c, a, True)))

    # -- pulse, then read (immediate) ----------------------------------------------------------
    def _pulseread(self, name, args, low, highs, vpulse, nanos, vread):
        ops = [(Arc2Board.pulse, (low, highs, vpulse, nanos))]
        if nanos < HS_MAX_NANOS:
            ops.append((Arc2Board.ground_all, (True,)))
            ops.append((Arc2Board.read, (low, highs, vread, False, True)))
        else:
            ops.append((Arc2Board.ground_all, (False,)))
            ops.append((Arc2Board.read, (low, highs, vread, True, True)))
        return self._now(name, args, *ops)[-1]

    def pulseread_one(self, low, high, vpulse, nanos, vread) -> float:
        lo, hi = _chan(low, "low"), _chan(high, "high")
        vp, n, vr = _v(vpulse, "vpulse"), cv.uint(nanos, "nanos", 128), _v(vread, "vread")
        return float(self._pulseread("pulseread_one", (lo, hi, vp, n, vr), lo, (hi,), vp, n, vr)[hi])

    def pulseread_slice(self, chan, vpulse, nanos, vread) -> np.ndarray:
        c = _chan(chan, "chan")
        vp, n, vr = _v(vpulse, "vpulse"), cv.uint(nanos, "nanos", 128), _v(vread, "vread")
        slab = self._pulseread("pulseread_slice", (c, vp, n, vr), c, orthogonal(c), vp, n, vr)
        return slab[list(orthogonal(c))].astype(np.float32)

    def pulseread_slice_masked(self, chan, mask, vpulse, nanos, vread) -> np.ndarray:
        arr = cv.ndarray_check(mask)
        c = _chan(chan, "chan")
        m = _chans(arr, "mask")
        vp, n, vr = _v(vpulse, "vpulse"), cv.uint(nanos, "nanos", 128), _v(vread, "vread")
        slab = self._pulseread("pulseread_slice_masked", (c, arr, vp, n, vr), c, tuple(m), vp, n, vr)
        return slab[list(orthogonal(c))].astype(np.float32)

    def pulseread_all(self, vpulse, nanos, vread, order) -> np.ndarray:
        vp, n, vr = _v(vpulse, "vpulse"), cv.uint(nanos, "nanos", 128), _v(vread, "vread")
        o = cv.enum(order, BiasOrder, "order")
        lows = ALL_WORDS if o._name == "Rows" else ALL_BITS
        rows = [self._pulseread("pulseread_all", (vp, n, vr, o), c, orthogonal(c), vp, n, vr)[list(orthogonal(c))]
                for c in lows]
        return np.stack(rows).astype(np.float32)

    # -- queued programs with results in the output buffer -------------------------------------
    def generate_ramp(self, low, high, vstart, vstep, vstop, pw_nanos, inter_nanos, num_pulses, read_at,
                      read_after) -> "Instrument":
        """Ramp pulses from vstart by vstep up to (not including) vstop, num_pulses per step,
        reading as ``read_at``/``read_after`` say; reads go to the output buffer."""
        lo, hi = _chan(low, "low"), _chan(high, "high")
        v0, dv, v1 = _v(vstart, "vstart"), _v(vstep, "vstep"), _v(vstop, "vstop")
        pw, inter = cv.uint(pw_nanos, "pw_nanos", 128), cv.uint(inter_nanos, "inter_nanos", 128)
        npulse = cv.uint(num_pulses, "num_pulses")
        at, after = cv.enum(read_at, ReadAt, "read_at"), cv.enum(read_after, ReadAfter, "read_after")
        ops = _ramp_ops(lo, hi, v0, dv, v1, pw, inter, npulse, at, after)
        return self._queue("generate_ramp", (lo, hi, v0, dv, v1, pw, inter, npulse, at, after), *ops)

    def generate_read_train(self, lows, highs, vread, nreads, inter_nanos, ground) -> "Instrument":
        """``nreads`` reads of ``highs`` against ``lows`` (None: open reads), into the output buffer."""
        la, ha = cv.ndarray_check(lows), cv.ndarray_check(highs)
        lo = [] if la is None else _chans(la, "lows")
        hi = _chans(ha, "highs")
        v, n = _v(vread, "vread"), cv.uint(nreads, "nreads")
        inter, g = cv.uint(inter_nanos, "inter_nanos", 128), cv.boolean(ground, "ground")
        ops = []
        for _ in range(n):
            if lo:
                ops.append((Arc2Board.set_channels, ([(c, -v) for c in lo], None)))
            ops.append((Arc2Board.read, (None, tuple(hi), 0.0, False, False, True)))
            if g:
                ops.append((_ground_some, (tuple(hi) + tuple(lo),)))
            if inter:
                ops.append((Arc2Board.delay, (inter + 1000,)))
        return self._queue("generate_read_train", (la, ha, v, n, inter, g), *ops)

    def generate_vread_train(self, chans, averaging, npulses, inter_nanos) -> "Instrument":
        arr = cv.ndarray_check(chans)
        c = sorted(_chans(arr, "uchans"))
        a, n = cv.boolean(averaging, "averaging"), cv.uint(npulses, "npulses")
        inter = cv.uint(inter_nanos, "inter_nanos", 128)
        ops = []
        for _ in range(n):
            ops.append((Arc2Board.vread, (c, a, True)))
            if inter:
                ops.append((Arc2Board.delay, (inter,)))
        return self._queue("generate_vread_train", (arr, a, n, inter), *ops)

    def read_train(self, low, high, vread, interpulse, preload, condition) -> None:
        """A retention-like train of reads of one crosspoint every ``interpulse`` ns until
        ``condition`` (WaitFor); results into the output buffer.  Runs at once."""
        lo, hi, v = _chan(low, "low"), _chan(high, "high"), _v(vread, "vread")
        inter = cv.uint(interpulse, "interpulse", 128)
        pre = cv.opt(preload, _v, "preload")
        cond = cv.enum(condition, WaitFor, "condition")
        if cond._name == "Iterations":
            n = cond._n
        else:   # a duration: as many reads as fit, each read plus its wait
            span = cond._n * (1e-9 if cond._name == "Nanos" else 1e-3)
            n = int(span / max(inter * 1e-9, 2e-4)) + 1
        if n > 10**6:
            raise ArC2Error(f"Cannot store address {n} to output buffer")
        ops = []
        for _ in range(n):
            ops.append((Arc2Board.read, (lo, (hi,), v, False, pre is None, True)))
            ops.append((Arc2Board.delay, (inter,)))
        self._queue("read_train", (lo, hi, v, inter, pre, cond), *ops)
        self.execute()
        return None

    def pick_one(self, mode, rtype) -> Optional[np.ndarray]:
        """Take the first slab of the output buffer (None when empty): 64 values for
        DataMode.All, the 32 word or bit channels for Words/Bits, float32."""
        m = cv.enum(mode, DataMode, "mode")
        cv.enum(rtype, ReadType, "rtype")
        board = self._board
        if not board.output:
            return None
        slab = board.output.popleft()
        board.transfers += 1
        board.wait(USB_LATENCY)
        if m._name == "All":
            return slab.astype(np.float32)
        return slab[list(ALL_WORDS if m._name == "Words" else ALL_BITS)].astype(np.float32)

    def _array_iter_inner(self, mode: DataMode, rtype: ReadType):
        data = self.pick_one(mode, rtype)
        if data is None:
            return None
        return [data]

    def get_iter(self, mode: DataMode, rtype: Optional[ReadType] = None):
        """Iterate the output buffer in the order results were saved (pyarc2's own code)."""
        if rtype is None:
            rtype = ReadType.Current
        fn = partial(self._array_iter_inner, mode, rtype)
        return iter(fn, None)

    def currents_from_address(self, addr, chans) -> np.ndarray:
        """Currents of ``chans`` from a memory segment (the twin keeps no addressed memory:
        every segment reads as freshly zeroed; unselected channels NaN)."""
        arr = cv.ndarray_check(chans)
        a = _addr(addr)
        out = np.full(64, np.nan, dtype=np.float32)
        for ch in _chans(arr, "chans"):
            out[ch] = 0.0
        del a
        return out

    def bit_currents_from_address(self, addr) -> np.ndarray:
        _addr(addr)
        return np.zeros(32, dtype=np.float32)

    def word_currents_from_address(self, addr) -> np.ndarray:
        _addr(addr)
        return np.zeros(32, dtype=np.float32)

    def finalise_operation(self, mode: Optional[IdleMode] = None, control: Optional[ControlMode] = None):
        """pyarc2's own code: float, soft- or hard-ground every channel; set the control mode."""
        if mode == IdleMode.Float:
            self.connect_to_gnd(np.arange(0, dtype=np.uint64)).ground_all_fast().float_all().execute()
        elif mode == IdleMode.SoftGnd:
            self.connect_to_gnd(np.arange(0, dtype=np.uint64)).ground_all().execute()
        elif mode == IdleMode.HardGnd:
            self.ground_all_fast().float_all().connect_to_gnd(np.arange(64, dtype=np.uint64)).execute()
        elif mode is None:
            pass
        else:
            raise ArC2Error("Invalid idle mode")
        if control == ControlMode.Header or control == ControlMode.Internal:
            self.set_control_mode(control)
        elif control is None:
            pass
        else:
            raise ArC2Error("Invalid control mode")


def cv_list(x, name):
    if isinstance(x, str):
        raise TypeError(f"argument '{name}': Can't extract `str` to `Vec`")
    try:
        return list(x)
    except TypeError:
        raise TypeError(f"argument '{name}': '{type(x).__name__}' object cannot be converted to 'Sequence'") from None


def _addr(addr) -> int:
    a = cv.uint(addr, "addr", 32)
    if a % 256:
        raise PanicException("Attempted to read currents from invalid base address")
    return a


def _collect(op, out):
    def run(board, *args):
        r = op(board, *args)
        if r is not None:
            out.append(r)
    return run


def _ground_some(board, chans) -> None:
    for ch in chans:
        board.dac[ch] = 0.0


def _fast_open(board, conf, timings) -> None:
    """pulse_slice_fast_open: every listed channel at its pulse level; each cluster's
    channels return to their normal level when its timing ends."""
    for ch, active, _ in conf:
        board.dac[ch] = active
        board._drive(ch, "hs")
    t0 = 0
    for t in sorted({timings[ch // 8] for ch, _, _ in conf}):
        board.pulse_hold((t - t0) * 1e-9)
        for ch, _, normal in conf:
            if timings[ch // 8] == t:
                board.dac[ch] = normal
        t0 = t


def _ramp_ops(lo, hi, v0, dv, v1, pw, inter, npulse, at, after) -> list:
    if (v1 < v0 and dv >= 0) or (v1 > v0 and dv <= 0) or not all(map(math.isfinite, (v0, dv, v1))):
        raise ArC2Error(f"Ramp operation error: Vstart {v0}, Vstop {v1}, Vstep {dv}")
    steps = math.ceil(float(np.float32(v1 - v0) / np.float32(dv))) if dv else 0
    reads = not (at._name == "Never" or after._name == "Never")
    ops = []

    def read(v):
        rv = at.voltage() if at._name == "Arb" else v
        ops.append((Arc2Board.read, (lo, (hi,), rv, False, False, True)))

    def inter_wait():
        if inter:
            ops.append((Arc2Board.delay, (inter,)))

    v = v0
    for k in range(steps):
        v = float(np.float32(v0 + np.float32(dv) * np.float32(k)))
        if npulse == 0:
            if after._name == "Pulse":
                read(v)
            continue
        for p in range(npulse):
            ops.append((Arc2Board.pulse, (lo, (hi,), v, pw)))
            if inter:
                ops.append((_ground_some, ((lo, hi),)))
            if not reads or after._name == "Ramp" or (after._name == "Block" and p < npulse - 1):
                inter_wait()
                continue
            read(v)
            inter_wait()
    if reads and after._name == "Ramp" and steps:
        read(v)
    return ops
