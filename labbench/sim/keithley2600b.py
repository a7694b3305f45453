"""Simulated Keithley 2636B (Series 2600B System SourceMeter), two channels, over TSP.

Every message is TSP, run by the Lua interpreter of :mod:`labbench.sim.tsp`; the
IEEE 488.2 common commands (``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ...) are accepted
as on the instrument.  The instrument objects are Python classes whose attributes are
the reference manual's (``smua.source.levelv``, ``smua.measure.nplc``,
``smua.nvbuffer1.readings[i]``, ...), each checked against the 2636B's ranges: a bad
value is an error in the queue (-222), a Lua error is -285/-286, as on the instrument.

Physics: channel A's HI is terminal ``hi`` (the source_meter role's), channel B's is
``b``.  While a channel's output is on in voltage mode, a level it holds without taking a
reading is applied to the chip when the level changes, as one pulse of that level and
of the time it was held, so ``levelv = 1.5; delay(1e-6); levelv = 0`` is one 1 us SET
pulse, exactly as the pulse generator's.  A level that is read is a DC bias: the reading
(``measure.i()``, the wiring's current at that level, NPLC/line frequency of instrument
time) applies it, as on the 2450, and it is not applied again as a pulse.  Only a channel that drives a bit line or the source
line pulses: a gate channel (on a word line) sets levels, it does not program.
"""
from __future__ import annotations

import functools
import logging

from .current_source import K2636B_CURRENT, K2636B_VOLTAGE, ReadingNoise, auto_range, source_current
from .instrument import SimInstrument
from .scpi import SCPIError, split_units
from .keithley2600b_factory import FACTORY_SCRIPTS
from .keithley2600b_trigger import SMUTrigger, TriggerModel
from .tsp import TSPEngine, TSPError
from .tsp_attributes import (Delay, FixedRange, Integer, Number, OneOf, ReadOnly, defaults, range_for,
                             storage, tsp_attributes)

log = logging.getLogger(__name__)

MODEL = "2636B"
LINE_FREQUENCY = 50.0
V_RANGES = (0.2, 2.0, 20.0, 200.0)
I_RANGES = (1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1.5)
V_MAX, I_MAX = 202.0, 1.515          # levels: the 200 V / 1.5 A ranges plus 1 % over-range
LIMITV = (20e-3, 200.0)              # QCoDeS's and the manual's 2636B limit ranges
LIMITI = (100e-12, 1.5)


class _Column:
    """``nvbuffer1.readings`` etc.: 1-based, read-only, ``#`` via ``.n`` of the buffer."""

    __slots__ = ("_rows",)
    TSP_NAME, TSP_API, TSP_INDEXED = "buffer column", (), True

    def __init__(self, rows):
        self._rows = rows

    def __getitem__(self, i):
        if not isinstance(i, int) or not 1 <= i <= len(self._rows):
            raise TSPError(-222, f"buffer index {i} outside 1..{len(self._rows)}")
        return self._rows[i - 1]

    def __len__(self):
        return len(self._rows)

    def values(self):
        return list(self._rows)


class ReadingBuffer:
    """``smuX.nvbuffer1``/``nvbuffer2``: readings with their source values and times."""

    __slots__ = ("_r", "_s", "_t", "appendmode", "collectsourcevalues", "collecttimestamps",
                 "capacity", "readings", "sourcevalues", "timestamps", "fillmode")
    TSP_NAME, TSP_INDEXED = "nvbuffer", True
    TSP_API = ("n", "clear", "appendmode", "collectsourcevalues", "collecttimestamps", "capacity", "readings",
               "sourcevalues", "timestamps", "fillmode")
    TSP_SETTABLE = ("appendmode", "collectsourcevalues", "collecttimestamps", "fillmode")

    def __init__(self):
        self._r, self._s, self._t = [], [], []
        self.readings, self.sourcevalues, self.timestamps = _Column(self._r), _Column(self._s), _Column(self._t)
        self.appendmode, self.collectsourcevalues, self.collecttimestamps = 0, 0, 0
        self.capacity, self.fillmode = 60000, 0

    @property
    def n(self):
        return len(self._r)

    def values(self):
        """The readings (``printbuffer(1, n, smua.nvbuffer1)``)."""
        return list(self._r)

    def __len__(self):
        return len(self._r)

    def __getitem__(self, i):       # ``smua.nvbuffer1[k]``: the k-th reading
        return self.readings[i]

    def clear(self):
        self._r.clear()
        self._s.clear()
        self._t.clear()

    def add(self, reading, source, t):
        if len(self._r) >= self.capacity:
            return
        self._r.append(reading)
        self._s.append(source)
        self._t.append(t)


# -- smuX.source and smuX.measure: the reference manual's attribute tables ------------------
# One row per attribute, from the Series 2600B Reference Manual (2600BS-901-01), "TSP command
# reference", smuX.source.* and smuX.measure.*: what it accepts on a 2636B, its value after
# reset(), its unit, its coupling (labbench.sim.tsp_attributes).  The hooks below are the
# behaviour a few attributes have beyond a check and a store.
def _set_levelv(src, v):
    """Held to the bench limit, then to the source range (fixed, or picked by autorange)."""
    src._guard("levelv", v)
    if not src._autorangev and abs(v) > src._rangev * 1.01:
        raise TSPError(-222, f"source.levelv = {v:g} above the {src._rangev:g} V range")
    if src._autorangev:
        src._rangev = range_for(v, "source.levelv", V_RANGES)
    src._ch.change(lambda: setattr(src, "_levelv", v))


def _set_leveli(src, v):
    """Held to the bench limit; autorange picks the source range."""
    src._guard("leveli", v)
    if src._autorangei:
        src._rangei = range_for(v, "source.leveli", I_RANGES)
    src._ch.change(lambda: setattr(src, "_leveli", v))


def _set_func(src, v):
    """A switch to current mode while on: the voltage can reach limitv, which the bench
    limit must then cover (``Source._guard_state``)."""
    src._guard_state(v, src._output)
    src._ch.change(lambda: setattr(src, "_func", v))


def _set_output(src, v):
    """ON only from a live script and inside the bench limits; OUTPUT_HIGH_Z (2) is off."""
    src._ch.inst.engine_alive()
    src._guard_state(src._func, v)
    src._ch.change(lambda: setattr(src, "_output", 1 if v == 1 else 0))


def _compliance(src):
    """True when the last reading found the source at its limit (the instrument evaluates
    it continuously; the simulation at each reading)."""
    return bool(src._ch._tripped)


SOURCE_ATTRIBUTES = (
    #          attribute     accepts                   default  unit   coupling
    Number(    "levelv",     -V_MAX, V_MAX,            0.0,     "V",   hook=_set_levelv),
    Number(    "leveli",     -I_MAX, I_MAX,            0.0,     "A",   hook=_set_leveli),
    Number(    "limitv",     *LIMITV,                  20.0,    "V",   interlock=True),
    Number(    "limiti",     *LIMITI,                  0.1,     "A",   interlock=True),
    FixedRange("rangev",     V_RANGES,                 0.2,     "V",   sets=(("autorangev", 0),)),
    FixedRange("rangei",     I_RANGES,                 1e-8,    "A",   sets=(("autorangei", 0),)),
    OneOf(     "autorangev", (0, 1),                   1,       labels="AUTORANGE_OFF, _ON"),
    OneOf(     "autorangei", (0, 1),                   1,       labels="AUTORANGE_OFF, _ON"),
    FixedRange("lowrangev",  V_RANGES,                 0.2,     "V"),
    FixedRange("lowrangei",  I_RANGES,                 1e-8,    "A"),
    OneOf(     "func",       (0, 1),                   1,       labels="OUTPUT_DCAMPS, _DCVOLTS", hook=_set_func),
    OneOf(     "output",     (0, 1, 2),                0,       labels="OUTPUT_OFF, _ON, _HIGH_Z", hook=_set_output),
    OneOf(     "offmode",    (0, 1, 2),                0,       labels="OUTPUT_NORMAL, _HIGH_Z, _ZERO", line=True),
    Number(    "offlimiti",  *LIMITI,                  1e-3,    "A"),
    Delay(     "delay"),
    OneOf(     "settling",   (0, 1, 2, 3, 128),        0,       labels="SETTLE_SMOOTH, _FAST_RANGE, _FAST_POLARITY, "
                                                                       "_DIRECT_IRANGE, _SMOOTH_100NA"),
    ReadOnly(  "compliance", _compliance),
    OneOf(     "highc",      (0, 1),                   0,       labels="DISABLE, ENABLE"),
)  # fmt: skip

MEASURE_ATTRIBUTES = (
    Number(    "nplc",       0.001, 25.0,              1.0,     "PLC"),
    FixedRange("rangev",     V_RANGES,                 0.2,     "V",   sets=(("autorangev", 0),)),
    FixedRange("rangei",     I_RANGES,                 1e-7,    "A",   sets=(("autorangei", 0),)),
    OneOf(     "autorangev", (0, 1, 2),                1,       labels="AUTORANGE_OFF, _ON, _FOLLOW_LIMIT"),
    OneOf(     "autorangei", (0, 1, 2),                1,       labels="AUTORANGE_OFF, _ON, _FOLLOW_LIMIT"),
    FixedRange("lowrangev",  V_RANGES,                 0.2,     "V"),
    FixedRange("lowrangei",  I_RANGES,                 1e-8,    "A"),
    Integer(   "count",      1, 60000,                 1),
    Delay(     "delay"),
    Number(    "interval",   0.0, 1.0,                 0.0,     "s"),
    OneOf(     "autozero",   (0, 1, 2),                2,       labels="AUTOZERO_OFF, _ONCE, _AUTO"),
)  # fmt: skip

CHANNEL_ATTRIBUTES = (
    OneOf(     "sense",      (0, 1, 3),                0,       labels="SENSE_LOCAL, _REMOTE, _CALA"),
)  # fmt: skip


@tsp_attributes(SOURCE_ATTRIBUTES)
class Source:
    """``smuX.source``: function, levels, limits, ranges, output and its off mode."""

    __slots__ = ("_ch", *storage(SOURCE_ATTRIBUTES))
    TSP_NAME = "source"

    def __init__(self, ch):
        self._ch = ch
        defaults(self, SOURCE_ATTRIBUTES)
        self.hold_to_interlock()

    def hold_to_interlock(self) -> None:
        """The instrument's own defaults (0.1 A, 20 V) brought inside the bench limits:
        after ``reset()`` a channel's compliance is never above what the bench allows."""
        lim = self._ch.inst.limits.get(self._ch.term)
        if lim:
            vmax, imax = lim
            if imax is not None:
                self._limiti = min(self._limiti, max(imax, LIMITI[0]))
            if vmax is not None:
                self._limitv = min(self._limitv, max(vmax, LIMITV[0]))

    def _guard(self, what, v):
        self._ch.inst.engine_alive()
        self._ch.inst.guard(self._ch.term, what, v)

    def _guard_state(self, func, output) -> None:
        """Before the output sources anything: in current mode the voltage can reach
        ``limitv``, so that is the level the bench limit must cover."""
        if output == 1:
            self._ch.inst.guard(self._ch.term, "limitv" if func == 0 else "levelv",
                                self._limitv if func == 0 else self._levelv)


@tsp_attributes(MEASURE_ATTRIBUTES, methods=("i", "v", "r", "p", "iv"))
class Measure:
    """``smuX.measure``: integration, ranges, count, and the readings i/v/iv/r/p."""

    __slots__ = ("_ch", *storage(MEASURE_ATTRIBUTES))
    TSP_NAME = "measure"

    def __init__(self, ch):
        self._ch = ch
        defaults(self, MEASURE_ATTRIBUTES)

    # readings: one value per call; with a buffer, count readings go into it
    def _take(self, kind, buf1=None, buf2=None, bias=True):
        ch = self._ch
        ch.inst.engine_alive()
        out = None
        for _ in range(self._count):
            if ch.inst.engine is not None:
                ch.inst.engine.check_budget()      # count x NPLC can outlast the timeout
            i, v = ch.reading(bias)
            val = {"i": i, "v": v, "r": (v / i if i else 9.91e37), "p": v * i}
            if kind == "iv":
                out = (i, v)
                if buf1 is not None:
                    buf1.add(i, v, ch.inst.now())
                if buf2 is not None:
                    buf2.add(v, v, ch.inst.now())
            else:
                out = val[kind]
                if buf1 is not None:
                    buf1.add(out, ch.source._levelv if ch.source._func == 1 else ch.source._leveli, ch.inst.now())
            if self._interval and self._count > 1:
                ch.inst.advance(self._interval)
        return out

    def i(self, buf=None):
        return self._take("i", buf)

    def v(self, buf=None):
        return self._take("v", buf)

    def r(self, buf=None):
        return self._take("r", buf)

    def p(self, buf=None):
        return self._take("p", buf)

    def iv(self, ibuf=None, vbuf=None):
        return self._take("iv", ibuf, vbuf)




@tsp_attributes(CHANNEL_ATTRIBUTES)
class SMUChannel:
    """``smua`` / ``smub``: source, measure, sense, two reading buffers, reset()."""

    __slots__ = ("inst", "name", "term", "source", "measure", "nvbuffer1", "nvbuffer2", "_sense",
                 "_seg_level", "_seg_start", "_seg_read", "_tripped", "trigger")
    OUTPUT_OFF, OUTPUT_ON, OUTPUT_HIGH_Z = 0, 1, 2
    OUTPUT_DCAMPS, OUTPUT_DCVOLTS = 0, 1
    OUTPUT_NORMAL, OUTPUT_ZERO = 0, 2
    SENSE_LOCAL, SENSE_REMOTE, SENSE_CALA = 0, 1, 3
    AUTORANGE_OFF, AUTORANGE_ON, AUTORANGE_FOLLOW_LIMIT = 0, 1, 2
    AUTOZERO_OFF, AUTOZERO_ONCE, AUTOZERO_AUTO = 0, 1, 2
    DELAY_OFF, DELAY_AUTO = 0, -1
    SETTLE_SMOOTH, SETTLE_FAST_RANGE, SETTLE_FAST_POLARITY, SETTLE_DIRECT_IRANGE = 0, 1, 2, 3
    ENABLE, DISABLE = 1, 0
    SOURCE_IDLE, SOURCE_HOLD = 0, 1
    TSP_API = ("source", "measure", "nvbuffer1", "nvbuffer2", "sense", "reset", "trigger", "SOURCE_IDLE",
               "SOURCE_HOLD", "OUTPUT_OFF", "OUTPUT_ON",
               "OUTPUT_HIGH_Z", "OUTPUT_DCAMPS", "OUTPUT_DCVOLTS", "OUTPUT_NORMAL", "OUTPUT_ZERO", "SENSE_LOCAL",
               "SENSE_REMOTE", "SENSE_CALA", "AUTORANGE_OFF", "AUTORANGE_ON", "AUTORANGE_FOLLOW_LIMIT",
               "AUTOZERO_OFF", "AUTOZERO_ONCE", "AUTOZERO_AUTO", "DELAY_OFF", "DELAY_AUTO", "SETTLE_SMOOTH",
               "SETTLE_FAST_RANGE", "SETTLE_FAST_POLARITY", "SETTLE_DIRECT_IRANGE", "ENABLE", "DISABLE")
    TSP_SETTABLE = ("sense",)

    @property
    def TSP_NAME(self):
        return self.name

    def __init__(self, inst, name: str, term: str):
        self.inst, self.name, self.term = inst, name, term
        self._seg_level, self._seg_start, self._seg_read, self._tripped = None, 0.0, False, False
        self.reset()

    def reset(self):
        if getattr(self, "source", None) is not None:
            self.change(lambda: None, reset=True)
        self.source, self.measure = Source(self), Measure(self)
        self.nvbuffer1, self.nvbuffer2 = ReadingBuffer(), ReadingBuffer()
        self.trigger = SMUTrigger(self, self.inst.trigger_model)
        defaults(self, CHANNEL_ATTRIBUTES)
        self._tripped = False
        self._seg_level, self._seg_start = self.line_level(), self.inst.now()

    # -- what the line sees -------------------------------------------------------------------
    def line_level(self):
        src = self.source
        if not src._output:
            return 0.0 if src._offmode in (0, 2) else None  # NORMAL/ZERO: 0 V; HIGH_Z floats
        return src._levelv if src._func == 1 else None

    def change(self, apply, reset: bool = False):
        """Apply a setting that may change the line level: the level held so far is
        applied to the chip first, for the time it was held."""
        before = self.line_level()
        apply()
        after = None if reset else self.line_level()
        if after != before:
            if not self._seg_read:
                self.inst.held(self, before)
            self._seg_level, self._seg_start, self._seg_read = after, self.inst.now(), False

    def reading(self, bias: bool = True) -> tuple[float, float]:
        """(current, voltage) at the present level, after NPLC/line frequency.  ``bias``:
        the reading is a DC bias on the cell (a level held to be read); False inside a
        trigger-model pulse, whose whole width is applied as a pulse when it ends."""
        inst = self.inst
        m = self.measure
        dt = m._nplc / LINE_FREQUENCY + (m._delay if m._delay > 0 else 0.0)
        inst.advance(dt)
        src = self.source
        if src._output and src._func == 0:
            # current source: V where leveli flows, clamped at limitv (then in compliance:
            # smuX.source.compliance true, 2600BS-901-01 "smuX.source.compliance")
            v, i, self._tripped = inst.current_source(self, src._leveli, src._limitv, bias)
            return self._noisy(i, v)
        v = self.line_level()
        if v is None:
            self._tripped = False
            return self._noisy(0.0, 0.0)   # HIGH_Z off: nothing connected, the meter still reads its floor
        if bias:
            self._seg_read = True  # a level that is read is a DC bias, applied by the reading
        i = inst.current_at(self, v, src._limiti, bias)
        self._tripped = bool(src._output) and abs(i) >= src._limiti * (1 - 1e-9)
        return self._noisy(i, v)

    def _noisy(self, i: float, v: float) -> tuple[float, float]:
        """The readings as the meter reports them: plus its offset and noise on the range
        the measurement is on (autorange: the smallest holding the value, not below lowrange)."""
        m, noise = self.measure, self.inst.noise
        ri = auto_range(i, I_RANGES, m._lowrangei) if m._autorangei else m._rangei
        rv = auto_range(v, V_RANGES, m._lowrangev) if m._autorangev else m._rangev
        return noise.add("i", i, ri), noise.add("v", v, rv)


class _StatusChannel:
    __slots__ = ("_ch",)
    TSP_NAME, TSP_API = "status.measurement.instrument.smuX", ("condition",)

    def __init__(self, ch):
        self._ch = ch

    @property
    def condition(self):
        # bit 0 VLMT (a current source at its voltage limit), bit 1 ILMT (a voltage source at its current limit)
        return (1 if self._ch.source._func == 0 else 2) if self._ch._tripped else 0


class _StatusInstrument:
    __slots__ = ("smua", "smub")
    TSP_NAME, TSP_API = "status.measurement.instrument", ("smua", "smub")


class _StatusMeasurement:
    __slots__ = ("instrument",)
    TSP_NAME, TSP_API = "status.measurement", ("instrument",)


class _Status:
    __slots__ = ("measurement", "_inst")
    TSP_NAME, TSP_API = "status", ("measurement", "condition", "reset")

    def __init__(self, inst):
        self._inst = inst
        self.measurement = _StatusMeasurement()
        self.measurement.instrument = _StatusInstrument()
        self.measurement.instrument.smua = _StatusChannel(inst.smua)
        self.measurement.instrument.smub = _StatusChannel(inst.smub)

    @property
    def condition(self):
        return 0

    def reset(self):
        return None


class _LocalNode:
    __slots__ = ("_inst", "prompts", "showerrors", "linefreq", "autolinefreq")
    model = MODEL
    serialno = "4123456"
    revision = "4.0.4"
    description = "Keithley Instruments SMU 2636B"
    TSP_NAME = "localnode"
    TSP_API = ("model", "serialno", "revision", "description", "prompts", "showerrors", "linefreq", "autolinefreq",
               "reset")
    TSP_SETTABLE = ("prompts", "showerrors", "linefreq", "autolinefreq")

    def __init__(self, inst):
        self._inst = inst
        self.prompts, self.showerrors, self.linefreq, self.autolinefreq = 0, 0, LINE_FREQUENCY, True

    def reset(self):
        self._inst.tsp_reset()


class _Display:
    __slots__ = ("text", "screen", "trigger")
    SMUA, SMUB, SMUA_SMUB, USER = 0, 1, 2, 3
    TSP_NAME, TSP_API = "display", ("text", "screen", "SMUA", "SMUB", "SMUA_SMUB", "USER", "settext", "setcursor",
                                     "clear", "sendkey", "trigger")
    TSP_SETTABLE = ("screen",)

    def __init__(self):
        self.text, self.screen, self.trigger = "", 2, None

    def setcursor(self, row, column, style=0):
        if not (isinstance(row, (int, float)) and isinstance(column, (int, float)) and 1 <= row <= 2
                and 1 <= column <= 32):
            raise TSPError(-222, "display.setcursor(row 1..2, column 1..32)")

    def settext(self, text):
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise TSPError(-222, "display.settext takes a string")
        self.text = str(text)[:32]

    def clear(self):
        self.text = ""

    def sendkey(self, key):
        return None


class _Beeper:
    __slots__ = ("enable",)
    TSP_NAME, TSP_API, TSP_SETTABLE = "beeper", ("enable", "beep"), ("enable",)

    def __init__(self):
        self.enable = 1

    def beep(self, duration, frequency):
        return None


class Keithley2600BSim(SimInstrument):
    IDN = ("Keithley Instruments Inc.", f"Model {MODEL}", "4123456", "4.0.4")
    TERMINALS = ("hi", "b")

    def __init__(self, world, name, address):
        self.engine = None
        self.trigger_model = TriggerModel(self)
        self._queue: list[bytes] = []
        self.limits: dict[str, tuple[float | None, float | None]] = {}  # a dry run's safety limits
        super().__init__(world, name, address)

    # -- the instrument -----------------------------------------------------------------------
    def reset(self):
        super().reset()
        self.tsp_reset()

    def tsp_reset(self):
        if getattr(self, "smua", None) is not None:
            self.smua.reset()
            self.smub.reset()
        else:
            self.smua = SMUChannel(self, "smua", "hi")
            self.smub = SMUChannel(self, "smub", "b")
        if self.engine is None:
            self.tsp_globals = self._globals()    # the instrument's own names, as a script sees them
            self.engine = TSPEngine(self, self.tsp_globals, self.now, self.advance, self._queue.append)
            self.engine.lua.execute(FACTORY_SCRIPTS)   # KISweep/KIPulse, as loaded at power-up

    def _globals(self) -> dict:
        display = _Display()
        display.trigger = self.trigger_model.display_trigger
        return {"smua": self.smua, "smub": self.smub, "localnode": _LocalNode(self), "status": _Status(self),
                "display": display, "beeper": _Beeper(), "reset": self.tsp_reset,
                "trigger": self.trigger_model.trigger}

    def now(self) -> float:
        return self.world.clock.now() if self.world is not None else self._t

    _t = 0.0

    def advance(self, dt: float) -> None:
        if self.world is not None:
            self.world.clock.advance(dt)
        else:
            self._t += dt

    def engine_alive(self) -> None:
        if self.engine is not None:
            self.engine.check_alive()

    def set_limits(self, limits: dict) -> None:
        """The bench file's limits per channel ({'hi': (max |V|, max compliance), 'b':
        ...}), held like a hardware interlock: no level, voltage limit or compliance
        outside them is accepted, whatever a script does, and the channels' defaults
        (after ``reset()``) are brought inside them.  Not reachable from a script."""
        self.limits = dict(limits)
        for ch in (self.smua, self.smub):
            ch.source.hold_to_interlock()

    def guard(self, term: str, what: str, v: float) -> None:
        """The interlock: a value outside the bench limits is refused (queued at once,
        even if a script's pcall catches the error)."""
        lim = self.limits.get(term)
        if not lim:
            return
        vmax, imax = lim
        if what in ("levelv", "limitv") and vmax is not None and abs(v) > vmax:
            self.abort_outputs()     # an interlock trip switches the outputs off, as the hardware's does
            raise TSPError(-222, f"{self.name}.{term}: {what} = {v:g} V outside the bench limit +-{vmax:g} V; "
                                 f"outputs off", interlock=True)
        if what in ("limiti", "leveli") and imax is not None and abs(v) > imax:
            self.abort_outputs()
            raise TSPError(-222, f"{self.name}.{term}: {what} = {v:g} A above the bench limit {imax:g} A; "
                                 f"outputs off", interlock=True)

    def abort_outputs(self) -> None:
        """A stopped script leaves both outputs off."""
        for ch in (self.smua, self.smub):
            ch.change(lambda ch=ch: setattr(ch.source, "_output", 0))

    def outputs_on(self):
        return [ch.term for ch in (self.smua, self.smub) if ch.source._output]

    def terminal_level(self, term: str):
        ch = self.smua if term == "hi" else self.smub if term == "b" else None
        return None if ch is None else ch.line_level()

    # -- physics --------------------------------------------------------------------------------
    def held(self, ch: SMUChannel, level) -> None:
        """``ch`` held ``level`` since its segment began: apply it as one pulse if the
        channel drives a bit line or the source line (below threshold it is a no-op)."""
        world = self.world
        if level is None or level == 0.0 or world is None or world.wiring is None or world.chip is None:
            return
        width = round(self.now() - ch._seg_start, 12)
        if width <= 0:
            return
        term = f"{self.name}.{ch.term}"
        _, drivers = world.wiring.levels(world)
        if any(t == term and line[0] in ("BL", "BLB", "SL") for line, t in drivers.items()):
            world.wiring.pulse(world, term, level, width, 1)

    @functools.cached_property
    def noise(self) -> ReadingNoise:
        """The meters' noise floor (both channels; drawn once per instrument)."""
        return ReadingNoise({"i": K2636B_CURRENT, "v": K2636B_VOLTAGE}, self.world, self.name)

    def current_source(self, ch: SMUChannel, level: float, limitv: float, bias: bool = True):
        """(V, I, in compliance) of channel ``ch`` sourcing ``level`` A, voltage limit ``limitv``."""
        return source_current(self.world, f"{self.name}.{ch.term}", level, limitv, bias=bias)

    def current_at(self, ch: SMUChannel, v: float, limit: float, bias: bool = True) -> float:
        world = self.world
        if world is None or world.wiring is None:
            return 0.0
        return world.wiring.measure(world, f"{self.name}.{ch.term}", v, limit, bias=bias)

    # -- messages ---------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self._count_transaction()
        if self.fault == "disconnect":
            raise ConnectionError(self.name)
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            self.push_error(SCPIError(-101, "non-ASCII byte in message"))
            return
        budget = self.visa_timeout
        self.engine.budget = budget
        for line in text.replace("\r", "").split("\n"):
            if self.log is not None and line.strip():
                self.log.append(line)
            try:
                if line.lstrip().startswith("*") and self.engine.loading is None:
                    self._common(line.strip())
                else:
                    self.engine.message(line)
            except TSPError as e:
                self.push_error(SCPIError(e.code, e.message))
            except SCPIError as e:
                self.push_error(e)
            except Exception:
                log.debug("%s: internal error on %r", self.name, line, exc_info=True)
                self.push_error(SCPIError(-286))

    def _common(self, line: str) -> None:
        """IEEE 488.2 common commands, through the base class's table."""
        for unit in split_units(line):
            if not unit.strip():
                continue
            head, _, rest = unit.strip().partition(" ")
            q = head.endswith("?")
            cmd, sfx = self._table.lookup(":" + head.rstrip("?").upper())
            fn = cmd.query if q else cmd.setter
            if fn is None:
                raise SCPIError(-113, head)
            r = fn(self, [p for p in rest.split(",") if p.strip()], sfx)
            if q:
                self._queue.append(str(r).encode("ascii", "replace") + b"\n")

    def read(self) -> bytes | None:
        self._count_transaction()
        if self.fault == "disconnect":
            raise ConnectionError(self.name)
        if self.fault == "timeout" or not self._queue:
            return None  # nothing to send: the VISA read times out
        return self._faulty_reply(self._queue.pop(0))

    def unread(self, rest: bytes) -> None:
        self._queue.insert(0, rest)

    def clear(self) -> None:
        """Device clear: empties the output queue and abandons a script being loaded."""
        self._queue.clear()
        self.engine.loading = None

    def status_byte(self) -> int:
        stb = super().status_byte()
        return stb | (16 if self._queue else 0)
