"""The simulated ArC TWO board: 64 channels, 32 selectors, a command FIFO, an output buffer.

The board runs what :class:`~labbench.sim.arc2.instrument.Instrument` queues, in virtual
time on its :class:`~labbench.sim.world.SimWorld`, against the world's chip.  Which chip
line is on which channel or selector is the daughterboard's map (``lines``), given by the
bench layer; the board never reads a bench or mapper file.

Electrical conventions, as libarc2 0.6 programs the hardware:

* a current read biases ``low`` at -vread with the read channels at 0 V; every other
  channel is switched to arbitrary voltage at its DAC level (0 V after the DAC reset of
  ``read_one``/``read_slice``), so a read drives every mapped line: with a common source
  line it biases the whole selected row, and the current is summed per read channel;
* a pulse is differential: +V/2 on the high channel(s), -V/2 on the low one, the other
  channels as they were (floating, grounded or at their level);
* a line's level is its channel's (None when the channel floats), 0 V when the channel
  is hard-grounded, or the selector's SELH/SELL level for a gate on a selector.

The cells respond through the same calls as on the SCPI bench (``labbench.sim.wiring``:
``gated_devices``, ``bias_current``, ``Chip.pulse``), so the same operation at the same
virtual time leaves the same chip.

Instrument time: libarc2's own waits (30 µs after a DAC update, the ~120 µs amplifier
preparation before a read) and the pulse widths and delays; a USB transfer per execute()
and per result fetched (``USB_LATENCY``, an estimate: the board's host link is USB 2.0).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from labbench.physics.models import RESET, SET

from .types import RANGE_VOLTS

__all__ = ["ALL_BITS", "ALL_WORDS", "Arc2Board", "QueuedCall"]

ALL_WORDS = tuple(range(16, 32)) + tuple(range(48, 64))   # libarc2's "wordline" channels
ALL_BITS = tuple(range(0, 16)) + tuple(range(32, 48))     # and "bitline" channels

DAC_SETTLE = 30e-6        # s: libarc2 waits this after every DAC update
AMP_PREP = 120e-6         # s: amplifier preparation before a read (libarc2's comments)
ADC_TIME = 10e-6          # s: one current conversion
READ_BIAS = DAC_SETTLE + ADC_TIME   # s: how long a read holds its bias on the cells
USB_LATENCY = 250e-6      # s: one USB transfer (execute(), or fetching a result): an estimate


def orthogonal(chan: int) -> tuple[int, ...]:
    """The channels a slice operation on ``chan`` reads or pulses (libarc2's 32×32 layout)."""
    return ALL_WORDS if chan in ALL_BITS else ALL_BITS


@dataclass
class QueuedCall:
    """One public pyarc2 call as the program will run it: its name, arguments and the
    board operations it expands to (``labbench bench rehearse`` prints these)."""

    name: str
    args: tuple
    ops: list = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.name}({', '.join(_show(a) for a in self.args)})"


def _show(a) -> str:
    if isinstance(a, np.ndarray):
        if a.dtype.kind not in "iu":
            return repr(a.tolist())
        if a.size > 4 and (np.diff(a.astype(np.int64)) == 1).all():   # a run of channels, as one would type it
            return f"np.arange({int(a[0])}, {int(a[-1]) + 1}, dtype=np.uint64)"
        return f"[{', '.join(str(int(x)) for x in a)}]"
    if isinstance(a, (np.floating, float)):
        return f"{float(a):.6g}"
    if isinstance(a, list):
        return "[" + ", ".join(_show(x) for x in a) + "]"
    if isinstance(a, tuple):
        return "(" + ", ".join(_show(x) for x in a) + ")"
    v = getattr(a, "_name", None)
    if v is not None:
        return f"{type(a).__name__}.{v}" + (f"({a.voltage():.6g})" if v == "Arb" else "")
    return repr(a)


class Arc2Board:
    """One simulated ArC TWO on ``world``; ``lines``: chip line (kind, index) ->
    ("channel", 0..63) or ("selector", 0..31)."""

    def __init__(self, world, lines: dict[tuple[str, int], tuple[str, int]], board_id: int = 0):
        self.world, self.id = world, int(board_id)
        self.lines = dict(lines)
        self.dac = np.zeros(64)                 # each channel's DAC level (V)
        self.mode = ["open"] * 64               # 'open' (floating), 'arb' (DAC level) or 'hs' (high-speed driver)
        self.gnd: set[int] = set()              # hard-grounded channels
        self.ac_gnd: set[int] = set()
        self.range = ["STD"] * 64
        self.selectors: set[int] = set()        # selectors toggled high
        self.aux = {"SELL": 0.0, "SELH": 0.0}
        self.control = "Internal"
        self.output: deque = deque()            # result slabs: (kind, 64 float32)
        self.history: list[QueuedCall] = []     # executed calls, in order (a rehearsal's record)
        self.programs: list[list[QueuedCall]] = []   # the same, one list per execute()
        self.instructions = 0                   # instructions executed (a benchmark's count)
        self.transfers = 0                      # USB transfers (execute() and result fetches)
        self.opened = False

    def power_on(self) -> None:
        """What ``Instrument(..., init=True)`` brings the board to: DACs at 0 V, channels
        open, no grounds, selectors low at 0 V."""
        self.dac[:] = 0.0
        self.mode = ["open"] * 64
        self.gnd.clear()
        self.ac_gnd.clear()
        self.selectors.clear()
        self.aux.update(SELL=0.0, SELH=0.0)

    # -- levels -------------------------------------------------------------------------
    def channel_level(self, ch: int) -> float | None:
        if ch in self.gnd:
            return 0.0
        if self.mode[ch] == "open":
            return None
        top = RANGE_VOLTS[self.range[ch]]       # the DAC code saturates at the range (libarc2's vidx!)
        return float(min(top, max(-top, self.dac[ch])))

    def line_levels(self) -> dict[tuple[str, int], float]:
        out = {}
        for line, (kind, n) in self.lines.items():
            if kind == "selector":
                out[line] = float(self.aux["SELH"] if n in self.selectors else self.aux["SELL"])
            else:
                v = self.channel_level(n)
                if v is not None:
                    out[line] = v
        return out

    def idle_state(self) -> dict[int, float | None]:
        """Every channel's level now (None: floating), for checks and snapshots."""
        return {ch: self.channel_level(ch) for ch in range(64)}

    def program_lines(self) -> list[str]:
        """Every executed program, step by step: a header per execute() (or immediate read,
        which executes the queue before it), then each pyarc2 call with its arguments."""
        out = []
        for k, calls in enumerate(self.programs, 1):
            out.append(f"step {k}: execute() runs {len(calls)} call{'s' if len(calls) != 1 else ''}")
            out += [f"  {call}" for call in calls]
        return out

    # -- time -----------------------------------------------------------------------------
    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self.world.clock.advance(seconds)

    def execute(self, calls: list[QueuedCall]) -> None:
        """Run ``calls`` (an Instrument's queue), in order, in virtual time."""
        self.programs.append(list(calls))
        self.transfers += 1
        self.wait(USB_LATENCY)
        for call in calls:
            for op, args in call.ops:
                self.instructions += 1
                op(self, *args)
            self.history.append(call)

    # -- operations (each one instruction group of libarc2) ---------------------------------
    def set_channels(self, config, base) -> None:
        if base is not None:
            self.dac[:] = float(base)
            for ch in range(64):
                self._drive(ch, "arb")
        for ch, v in config:
            self.dac[ch] = float(v)
            self._drive(ch, "arb")
        self.wait(AMP_PREP + DAC_SETTLE)

    def _drive(self, ch: int, mode: str) -> None:
        self.mode[ch] = mode
        self.gnd.discard(ch)       # an UP CH to a driven state releases the ground relay
        self.ac_gnd.discard(ch)

    def set_aux(self, config) -> None:
        for fn, v in config:
            self.aux[fn] = float(v)
        self.wait(DAC_SETTLE)

    def set_selectors(self, sel) -> None:
        self.selectors = set(sel)

    def ground_all(self, fast: bool) -> None:
        """Every DAC to 0 V: ``fast`` keeps each channel's mode (ground_all_fast), else
        every channel returns to arbitrary voltage (ground_all)."""
        self.dac[:] = 0.0
        if not fast:
            for ch in range(64):
                self._drive(ch, "arb")
        self.wait(DAC_SETTLE)

    def float_all(self) -> None:
        self.mode = ["open"] * 64

    def open_channels(self, chans) -> None:
        for ch in chans:
            self.mode[ch] = "open"
            self.gnd.discard(ch)
            self.ac_gnd.discard(ch)

    def grounds(self, chans, how: str, ac: bool = False) -> None:
        target = self.ac_gnd if ac else self.gnd
        if how == "set":
            target.clear()
            target.update(chans)
        elif how == "add":
            target.update(chans)
        else:
            target.difference_update(chans)

    def set_range(self, chans, rng: str) -> None:
        for ch in chans:
            self.range[ch] = rng

    def set_control(self, mode: str) -> None:
        self.control = mode

    def delay(self, nanos: int) -> None:
        self.hold(nanos * 1e-9)

    def hold(self, seconds: float) -> None:
        """The levels stay as they are for ``seconds``: a DC bias above every switching
        threshold acts on the cells as a pulse of that width (a long pulse built from
        config_channels and a delay, as pyarc2's docs describe)."""
        if seconds <= 0:
            return
        chip = self.world.chip
        if chip is not None:
            self.world.chip_to_now()
            quiet = chip.quiet_voltage()
            vth = chip.model.switching.v_gate_threshold
            for idx, vdev, vg, _ in _devices(self):
                if abs(vdev) >= quiet and vg >= vth:
                    chip.pulse(idx, 1, SET if vdev > 0 else RESET, amplitude=abs(vdev), width=seconds, gate=vg)
        self.wait(seconds)

    def pulse(self, low: int, highs, voltage: float, nanos: int) -> None:
        """A differential pulse: +V/2 on ``highs``, -V/2 on ``low``, for ``nanos`` ns."""
        half = float(voltage) / 2.0
        for ch in highs:
            self.dac[ch] = half
            self._drive(ch, "hs")
        self.dac[low] = -half
        self._drive(low, "hs")
        self.wait(DAC_SETTLE)
        self.pulse_hold(nanos / 1e9)
        for ch in (low, *highs):   # the high-speed drivers return to their normal level, 0 V
            self.dac[ch] = 0.0

    def pulse_hold(self, width: float) -> None:
        """The levels now act on the cells as one pulse of ``width`` s (every device that
        sees a voltage: ``Chip.pulse`` decides what a level below its threshold does)."""
        chip = self.world.chip
        if chip is not None and width > 0:
            self.world.chip_to_now()
            vth = chip.model.switching.v_gate_threshold
            for idx, vdev, vg, _ in _devices(self):
                # Chip.pulse does nothing with the transistor off: skipped here, not called
                if vdev != 0.0 and vg >= vth:
                    chip.pulse(idx, 1, SET if vdev > 0 else RESET, amplitude=abs(vdev), width=width, gate=vg)
        self.wait(width)

    def read(self, low: int | None, highs, vread: float, reset: bool, ground_after: bool, sink=None) -> np.ndarray:
        """A current read of ``highs`` (0 V) against ``low`` (-vread; None: an open read at
        the levels as they are, no channel set up).  Returns the 64-channel slab (NaN where
        not read)."""
        if reset:
            self.dac[:] = 0.0
        if low is not None:
            self.wait(AMP_PREP)
            self.dac[low] = -float(vread)
            for ch in highs:
                self.dac[ch] = 0.0
            for ch in range(64):               # UP CH: every channel to arbitrary voltage
                self._drive(ch, "arb")
            self.wait(DAC_SETTLE)
        slab = np.full(64, np.nan, dtype=np.float32)
        sums = dict.fromkeys(highs, 0.0)
        chip = self.world.chip
        if chip is not None:
            from labbench.sim.wiring import bias_current

            self.world.chip_to_now()
            chan_of = {line: n for line, (kind, n) in self.lines.items() if kind == "channel"}
            sl_ch = chan_of.get(("SL", 0))
            vth = chip.model.switching.v_gate_threshold
            for idx, vdev, vg, (_, bit) in _devices(self):
                if vg < vth:          # the access transistor is off: nothing flows, as on the SCPI path
                    continue
                i = bias_current(chip, idx, vdev, vg, None, READ_BIAS)
                # current out of a channel into the array: + on the bit line, - on SL
                if chan_of.get(bit) in sums:
                    sums[chan_of[bit]] += i
                if sl_ch in sums:
                    sums[sl_ch] -= i
        for ch, i in sums.items():
            slab[ch] = i
        self.wait(ADC_TIME)
        if ground_after:
            self.ground_all(fast=True)
        if sink is not None:
            self.output.append(slab)
        return slab

    def vread(self, chans, averaging: bool, sink=None) -> np.ndarray:
        slab = np.full(64, np.nan, dtype=np.float32)
        for ch in chans:
            v = self.channel_level(ch)
            slab[ch] = 0.0 if v is None else v
        self.wait(320e-6 if averaging else 10e-6)
        if sink is not None:
            self.output.append(slab)
        return slab


def _devices(board):
    from labbench.sim.wiring import gated_devices

    return gated_devices(board.world.chip, board.line_levels())
