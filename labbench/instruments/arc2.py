"""The ArC TWO as a bench instrument: cell reads, pulses and gates through pyarc2.

:class:`Arc2Adapter` speaks pyarc2's API to either library with the same code: the real
``pyarc2`` (``pip install 'labbench[arc2]'``, imported only when a hardware ArC TWO is
opened) or its twin, ``labbench.sim.arc2``, for a ``simulated: true`` bench.

How a cell is addressed (the bench's operating point, as on the SCPI bench):

* a read biases the source line at -V and reads the bit line at 0 V, every other channel
  floating (``config_channels`` + ``read_slice_open``: pyarc2's ``read_one`` would put every
  channel at 0 V and bias the whole row);
* a pulse is pyarc2's differential pulse, +A/2 on the high line and -A/2 on the low one:
  SET with the bit line high, RESET with the source line high;
* the word line's gate level is set relative to the lower of the two lines, so the
  transistor sees the bench file's gate: SELH = gate + V_low for the selected row and
  SELL = V_low for the others (their gates off), or the same levels on gate channels.

Every level is checked against the terminal's limits (by the roles, before the call) and
here against the declared output range and the per-channel limits, before anything is
queued: a program is either refused whole or queued and executed at once.  If a program
was interrupted between queueing and ``execute()``, or the raw ``pyarc2.Instrument`` was
handed out (:attr:`Arc2Adapter.instrument`), closing opens the board afresh (a new handle
has an empty command buffer), so no queued remainder can run, then leaves every channel
as the bench file's ``idle`` says (``float`` or ``ground``) with every selector low.
"""
from __future__ import annotations

import math

import numpy as np

from labbench.errors import InstrumentFault, LabbenchError, SafetyError

__all__ = ["Arc2Adapter", "Arc2PulseView", "Arc2SourceMeterView", "import_pyarc2"]


def import_pyarc2():
    """The installed pyarc2, or a message saying how to install it."""
    try:
        import pyarc2
    except ImportError:
        raise LabbenchError("a hardware ArC TWO needs pyarc2 (ArC TWO's Python library): "
                            "pip install 'labbench[arc2]'; a simulated one (simulated: true) does not") from None
    return pyarc2


class Arc2Adapter:
    """One ArC TWO: ``lines`` maps chip lines to channels/selectors (the mapper file)."""

    def __init__(self, name: str, inst, lines: dict, lib, range_volts: float, attach=None):
        self.name, self.lib = name, lib
        self._attach = attach        # the twin: plug this bench's board before each open
        self.board = int(inst.board or 0)
        self.firmware = inst.firmware or ""
        self.idle = inst.idle
        self.output_range = inst.output_range
        self.range_volts = float(range_volts)
        self.channel_limits = dict(inst.channel_limits or {})
        self.lines = dict(lines)
        self._raw = False            # the raw Instrument was handed out: its queue is unknown
        self._in_flight = False      # a program is being queued (not yet executed)
        self.calls = 0               # pyarc2 calls made (a benchmark's count)
        self.arc = self._open()
        rng = lib.OutputRange.STD if self.output_range == "std" else lib.OutputRange.EXT
        self._run([("set_channel_range", (np.arange(64, dtype=np.uint64), rng))])

    def _open(self):
        if self._attach is not None:
            self._attach()
        try:
            return self.lib.Instrument(self.board, self.firmware)
        except self.lib.ArC2Error as e:
            ids = self.lib.find_ids()
            raise InstrumentFault(f"{self.name} (ArC TWO board {self.board}): {e}; boards found: "
                                  f"{ids or 'none'}; check the USB cable, the board id and the firmware path "
                                  f"({self.firmware or 'none given'})") from None

    @property
    def instrument(self):
        """The pyarc2 ``Instrument`` itself, for a script's own programs.  Whatever it leaves
        queued and never executed is discarded when the bench closes."""
        self._raw = True
        return self.arc

    # -- programs ---------------------------------------------------------------------------
    def _run(self, program, then=None):
        """Queue ``program`` [(method, args), ...] and execute it; ``then``: a final
        immediate call (method, args) whose result is returned (it executes the queue)."""
        self._in_flight = True
        arc = self.arc
        for method, args in program:
            getattr(arc, method)(*args)
            self.calls += 1
        if then is None:
            arc.execute()
            out = None
        else:
            out = getattr(arc, then[0])(*then[1])
        self.calls += 1
        self._in_flight = False
        return out

    def _channel(self, kind: str, index: int) -> tuple[str, int]:
        try:
            return self.lines[(kind, index)]
        except KeyError:
            raise ValueError(f"chip line {kind}{index} is not in the ArC TWO's mapper file") from None

    def _check_level(self, what: str, ch: int, v: float) -> None:
        if not 0 <= ch <= 63:
            raise SafetyError(f"{self.name}: channel {ch} is outside 0-63; nothing was queued")
        if not math.isfinite(v) or abs(v) > self.range_volts:
            raise SafetyError(f"{self.name}: {what} {v:g} V on channel {ch} is outside the declared output range "
                              f"({self.output_range}: ±{self.range_volts:g} V); nothing was queued")
        top = self.channel_limits.get(ch)
        if top is not None and abs(v) > top:
            raise SafetyError(f"{self.name}: {what} {v:g} V on channel {ch} exceeds instruments.{self.name}."
                              f"channel_limits.{ch} = {top:g} V; nothing was queued")

    def _gate_program(self, row: int, gate: float, ref: float) -> list:
        """The word line ``row`` at ``gate`` above ``ref`` (the lower line), the others at ``ref``."""
        kind, n = self._channel("WL", row)
        on = gate + ref
        if not (math.isfinite(on) and abs(on) <= self.range_volts):
            raise SafetyError(f"{self.name}: gate level {on:g} V is outside the declared output range "
                              f"(±{self.range_volts:g} V); nothing was queued")
        if kind == "selector":
            aux = self.lib.AuxDACFn
            return [("config_aux_channels", ([(aux.SELL, ref), (aux.SELH, on)],)), ("config_selectors", ([n],))]
        gates = [(c, on if (k, r) == ("WL", row) else ref) for (k, r), (kk, c) in sorted(self.lines.items())
                 if k == "WL" and kk == "channel"]
        for c, v in gates:
            self._check_level("gate", c, v)
        return [("config_channels", (gates, None))]

    def _bit(self, col: int, side: int) -> int:
        kind, n = self._channel("BL" if side == 0 else "BLB", col)
        return n

    def _sl(self) -> int:
        return self._channel("SL", 0)[1]

    _RELEASE = (("connect_to_gnd", (np.zeros(0, dtype=np.uint64),)), ("float_all", ()))

    # -- cell operations ------------------------------------------------------------------
    def read(self, row: int, col: int, side: int, v: float, gate: float) -> float:
        """Current (A) out of the bit line at 0 V with SL at -v, the row's gate at ``gate``."""
        sl, bit = self._sl(), self._bit(col, side)
        self._check_level("read level", sl, -v)
        program = [*self._RELEASE, *self._gate_program(row, gate, min(0.0, -v)),
                   ("config_channels", ([(sl, -v), (bit, 0.0)], None))]
        slab = self._run(program, ("read_slice_open", (np.array([bit], dtype=np.uint64), True)))
        return float(slab[bit])

    def read_row(self, row: int, cols, v: float, gate: float) -> np.ndarray:
        """Currents (A) of every device of ``row`` in columns ``cols``, (len(cols), 2), in
        one read: every bit line at 0 V, SL at -v (the whole row biased at once)."""
        sl = self._sl()
        bits = [self._bit(c, s) for c in cols for s in (0, 1)]
        self._check_level("read level", sl, -v)
        program = [*self._RELEASE, *self._gate_program(row, gate, min(0.0, -v)),
                   ("config_channels", ([(sl, -v)] + [(b, 0.0) for b in bits], None))]
        slab = self._run(program, ("read_slice_open", (np.array(bits, dtype=np.uint64), True)))
        return np.asarray([float(slab[b]) for b in bits]).reshape(len(cols), 2)

    def pulse(self, row: int, col: int, side: int, set_: bool, amplitude: float, width: float, gate: float,
              n: int) -> None:
        """``n`` differential pulses: SET with the bit line high, RESET with SL high."""
        sl, bit = self._sl(), self._bit(col, side)
        low, high = (sl, bit) if set_ else (bit, sl)
        half = amplitude / 2.0
        self._check_level("pulse level", high, half)
        self._check_level("pulse level", low, -half)
        nanos = max(1, round(width * 1e9))
        program = [*self._RELEASE, *self._gate_program(row, gate, -half)]
        if n == 1:
            program.append(("pulse_one", (low, high, amplitude, nanos)))
        else:   # a train is one ramp of a single step: n pulses at the amplitude, no reads
            step = 0.1    # vstop = vstart + step/2: exactly one step, at vstart
            program.append(("generate_ramp", (low, high, amplitude, step, amplitude + step / 2, nanos, 0, int(n),
                                              self.lib.ReadAt.Never, self.lib.ReadAfter.Never)))
        self._run(program)

    # -- bench plumbing ---------------------------------------------------------------------
    def idn(self) -> str:
        version = getattr(self.lib, "LIBARC2_VERSION", None) or "?"
        kind = "simulated twin" if self.lib.__name__.startswith("labbench") else "pyarc2"
        return f"ArC TWO, board {self.board} ({kind}, libarc2 {version}), firmware {self.firmware or '-'}"

    def off(self) -> None:
        """Every channel as ``idle`` says, selectors low at 0 V; a command buffer that might
        hold an unexecuted remainder is discarded first (a fresh handle)."""
        if self._raw or self._in_flight:
            self.arc = None
            self.arc = self._open()
            self._raw = self._in_flight = False
        mode = self.lib.IdleMode.Float if self.idle == "float" else self.lib.IdleMode.HardGnd
        self.arc.finalise_operation(mode)
        aux = self.lib.AuxDACFn
        self._run([("config_aux_channels", ([(aux.SELL, 0.0), (aux.SELH, 0.0)],)), ("config_selectors", ([],))])

    def settings(self) -> dict:
        return {"board": self.board, "output_range": self.output_range, "idle": self.idle,
                "channel_limits": self.channel_limits,
                "lines": {f"{k}{i}": f"{kind} {n}" for (k, i), (kind, n) in sorted(self.lines.items())}}

    def errors(self) -> list:
        return []          # pyarc2 raises at the call; the board keeps no error queue

    def close(self) -> None:
        self.arc = None


class Arc2SourceMeterView:
    """The ArC TWO in the source-meter role (terminal ``hi``): its levels exist only during
    a read (:meth:`Arc2Adapter.read`), so setting one sends nothing."""

    def __init__(self, adapter: Arc2Adapter):
        self.arc2 = adapter

    def idn(self) -> str:
        return self.arc2.idn()

    def configure(self, compliance: float, nplc: float) -> None:
        return None

    def set_voltage(self, v: float) -> None:
        return None

    def output(self, on: bool) -> None:
        return None

    def measure_current(self) -> float:
        raise NotImplementedError("an ArC TWO reads a cell at a time: Bench.read_current")

    def biased(self) -> bool:
        return False

    def off(self) -> None:
        self.arc2.off()

    def settings(self) -> dict:
        return self.arc2.settings()

    def errors(self) -> list:
        return []

    def close(self) -> None:
        return None


class Arc2PulseView(Arc2SourceMeterView):
    """The ArC TWO in the pulse-generator role (``ch1``: programming pulses, ``ch2``: the
    word-line gate), for the limit checks and the bench display; the cells are pulsed by
    :meth:`Arc2Adapter.pulse`."""

    def set_load(self, ch: int, ohms: float) -> None:
        return None

    def load(self, ch: int) -> float:
        return float("inf")    # the channels drive the lines directly

    def off(self) -> None:
        return None             # the source-meter view's off() already set every channel idle
