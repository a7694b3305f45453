"""Simulated Keithley 2450 SourceMeter, native SCPI command set (Reference Manual
2450-901-01, "SCPI command reference").

The settings are the manual's command tables below (``PROPS``); the code after them is
behaviour: the source into the chip line (with the output-off state), readings and the
reading buffers (``:TRACe``), the linear sweep run by ``:INIT``, ``*LANG``.  The HI
terminal is wired to the chip; a reading costs the source delay (if the level changed)
plus NPLC/line-frequency seconds of instrument time.  2400-emulation-only commands
(``:TRAC:FEED``, ``:STAT:MEAS``) are -113 here, as on a 2450 in SCPI mode.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .current_source import K2450_CURRENT, K2450_VOLTAGE, ReadingNoise, auto_range, source_current
from .instrument import SimInstrument
from .props import Bool, Choice, Int, Num, Query
from .scpi import SCPIError, command, fmt, nargs, to_bool, to_enum, to_float, to_int, to_str

LINE_FREQUENCY = 50.0
V_RANGES = (0.02, 0.2, 2.0, 20.0, 200.0)
I_RANGES = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
R_RANGES = (20.0, 200.0, 2e3, 2e4, 2e5, 2e6, 2e7, 2e8)
OFF_MODES = ("NORMal", "HIMPedance", "ZERO", "GUARd")
# the source delay the 2450 applies in auto mode (manual, "Source delay" table: a few
# hundred µs on the low ranges); one figure for every range here
AUTO_SOURCE_DELAY = 5e-5

_SENS_QUOTED = {"CURR": '"CURR:DC"', "VOLT": '"VOLT:DC"', "RES": '"RES"'}
_ELEMENTS = ["READing", "SOURce", "RELative", "SEConds", "UNIT", "SOURUNIT", "STATus",
             "SOURSTATus", "FORMatted", "SOURFORMatted", "DATE", "TIME", "TSTamp", "FRACtional"]
_UNIT = {"CURR": "Amp DC", "VOLT": "Volt DC", "RES": "Ohm"}
_SRC_UNIT = {"VOLT": "Volt DC", "CURR": "Amp DC"}


def _source_rows(node: str, f: str, level_max: float, ranges, rst_range, limit_node, limit):
    """The :SOURce rows of one source function (VOLTage or CURRent)."""
    lname, (ldef, llo, lhi) = limit_node, limit
    rows = [
        Num(f"level_{f}", f":SOURce[1]:{node}[:LEVel][:IMMediate][:AMPLitude]", 0.0, -level_max, level_max,
            "V" if f == "VOLT" else "A", couple="_couple_level"),
        Num(f"src_range_{f}", f":SOURce[1]:{node}:RANGe", rst_range, -level_max, level_max,
            mn=ranges[0], mx=ranges[-1], ranges=ranges, magnitude=True, sets=((f"src_auto_{f}", False),)),
        Bool(f"src_auto_{f}", f":SOURce[1]:{node}:RANGe:AUTO", True),
        Num(f"limit_{f}", f":SOURce[1]:{node}:{lname}[:LEVel]", ldef, llo, lhi, "A" if f == "VOLT" else "V"),
        Num(f"delay_{f}", f":SOURce[1]:{node}:DELay", 0.0, 0.0, 1e4, "s", sets=((f"delay_auto_{f}", False),)),
        Bool(f"delay_auto_{f}", f":SOURce[1]:{node}:DELay:AUTO", True),
        Bool(f"readback_{f}", f":SOURce[1]:{node}:READ:BACK", True),
        Choice(f"off_mode_{f}", f":OUTPut[1]:{node}:SMODe", "NORM", OFF_MODES),
    ]
    rows += [Num(f"src_user_delay_{f}{n}", f":SOURce[1]:{node}:DELay:USER{n}", 0.0, 0.0, 1e4, "s")
             for n in range(1, 6)]
    return rows


def _sense_rows(node: str, f: str, lo: float, hi: float, ranges, rst_range, unit):
    """The :SENSe rows of one measure function (CURRent, VOLTage or RESistance)."""
    base = f":SENSe[1]:{node}[:DC]" if f != "RES" else f":SENSe[1]:{node}"
    rows = [
        Num(f"nplc_{f}", f"{base}:NPLCycles", 1.0, 0.01, 10.0, "PLC"),
        Num(f"range_{f}", f"{base}:RANGe[:UPPer]", rst_range, lo, hi, unit, mn=ranges[0], mx=ranges[-1],
            ranges=ranges, magnitude=True, sets=((f"auto_{f}", False),)),
        Bool(f"auto_{f}", f"{base}:RANGe:AUTO", True),
        Bool(f"rsense_{f}", f"{base}:RSENse", False),
        Bool(f"azero_{f}", f"{base}:AZERo[:STATe]", True),
        Bool(f"average_{f}", f"{base}:AVERage[:STATe]", False),
        Choice(f"average_type_{f}", f"{base}:AVERage:TCONtrol", "REP", ("REPeat", "MOVing")),
        Int(f"average_count_{f}", f"{base}:AVERage:COUNt", 10, 1, 100),
    ]
    rows += [Num(f"sens_user_delay_{f}{n}", f"{base}:DELay:USER{n}", 0.0, 0.0, 1e4, "s") for n in range(1, 6)]
    return rows


def _func(tok: str) -> str:
    """Sense function as data: "CURR", "CURR:DC", 'VOLTage:DC', "RES" -> short form."""
    t = tok.strip().strip("\"'").upper()
    base = t.split(":")[0]
    for long_, short in (("CURRENT", "CURR"), ("VOLTAGE", "VOLT"), ("RESISTANCE", "RES")):
        if base in (short, long_) and t[len(base):] in ("", ":DC"):
            return short
    raise SCPIError(-224, f"unknown function {tok}")


class _Buffer:
    """A reading buffer: (reading, source value, time, sense function) rows."""

    def __init__(self, size: int, fill: str = "CONT"):
        self.size = size
        self.fill = fill
        self.rows: list[tuple[float, float, float, str]] = []

    def add(self, reading, source, t, unit):
        if len(self.rows) >= self.size:
            if self.fill == "ONCE":
                return
            del self.rows[0]  # fill continuous: the oldest reading goes
        self.rows.append((reading, source, t, unit))


class Keithley2450Sim(SimInstrument):
    IDN = ("KEITHLEY INSTRUMENTS", "MODEL 2450", "04512345", "1.7.12b")

    PROPS = (
        *_source_rows("VOLTage", "VOLT", 210.0, V_RANGES, 0.2, "ILIMit", (1.05e-4, 1e-9, 1.05)),
        *_source_rows("CURRent", "CURR", 1.05, I_RANGES, 1e-6, "VLIMit", (21.0, 0.02, 210.0)),
        *_sense_rows("CURRent", "CURR", -1.05, 1.05, I_RANGES, 1e-4, "A"),
        *_sense_rows("VOLTage", "VOLT", -210.0, 210.0, V_RANGES, 0.02, "V"),
        *_sense_rows("RESistance", "RES", 0.0, 2.1e8, R_RANGES, 2e5, "Ohm"),
        Int("count", ":SENSe[1]:COUNt", 1, 1, 300000),
        Bool("output", ":OUTPut[1][:STATe]", False),
        Choice("terminals", ":ROUTe:TERMinals", "FRON", ("FRONt", "REAR")),
        Choice("format", ":FORMat[:DATA]", "ASC", ("ASCii", "REAL", "SREal")),
        Choice("display_light", ":DISPlay:LIGHt:STATe", "ON50", ("ON100", "ON75", "ON50", "ON25", "OFF", "BLACkout")),
        Query("line_frequency", ":SYSTem:LFRequency", "int", default=int(LINE_FREQUENCY)),
    )

    def reset(self):
        super().reset()
        self.s = self.state[1]
        self.src = "VOLT"
        self.sense = "CURR"
        self.lang = "SCPI"
        self.tripped = False
        self.pending_delay = False
        self.buffers = {"defbuffer1": _Buffer(100000), "defbuffer2": _Buffer(10000)}
        self.sweep = None
        self.last_current = 0.0

    # -- coupling ---------------------------------------------------------------------------
    _LEVEL_KEYS = {f: (f"src_auto_{f}", f"src_range_{f}", V_RANGES if f == "VOLT" else I_RANGES)
                   for f in ("VOLT", "CURR")}

    def _couple_level(self, ch, prop, v):
        """Autorange picks the range of the level; a fixed range refuses a level above it."""
        auto, rng, ranges = self._LEVEL_KEYS[prop.name[-4:]]
        st = self.s
        a = abs(v)
        if st[auto]:
            for r in ranges:
                if a <= r * 1.05:
                    break
            st[rng] = r
        elif a > st[rng] * 1.05:
            raise SCPIError(-222, f"{v:g} exceeds the {st[rng]:g} source range")
        st[prop.name] = v
        self.pending_delay = True

    # -- what the chip line sees --------------------------------------------------------------
    def outputs_on(self):
        return ["hi"] if self.s["output"] else []

    def terminal_level(self, term: str):
        if term != "hi":
            return None
        st = self.s
        if not st["output"]:
            # output-off state: NORMal and ZERO hold 0 V through the closed relay,
            # HIMPedance opens it (the line floats), GUARd is a 0 A source (floats too)
            return 0.0 if st["off_mode_" + self.src] in ("NORM", "ZERO") else None
        return st["level_VOLT"] if self.src == "VOLT" else None

    # -- physics ------------------------------------------------------------------------------
    @functools.cached_property
    def noise(self) -> ReadingNoise:
        """The reading noise floor (drawn once per instrument: *RST does not replay it)."""
        return ReadingNoise({"i": K2450_CURRENT, "v": K2450_VOLTAGE}, self.world, self.name)

    def _measure_once(self) -> tuple[float, float]:
        """One reading of the sense function -> (reading, source value).

        Voltage source: the wiring's current at the level, clipped at ILIMit.  Current
        source: the voltage at which the level flows, clamped at VLIMit, where the source
        is in compliance (:SOUR:CURR:VLIM:TRIP? 1; manual 2450-901-01, ":SOURce[1]:
        <function>:<x>LIMit[:LEVel]:TRIPped?").  Output off: 0 V / 0 A at the terminal
        (NORMal off state).  Every reading then carries the noise floor of its range."""
        world = self.world
        st = self.s
        src = self.src
        if world is not None:
            dt = st["nplc_" + self.sense] / LINE_FREQUENCY
            if self.pending_delay and st["output"]:
                dt += AUTO_SOURCE_DELAY if st["delay_auto_" + src] else st["delay_" + src]
                self.pending_delay = False
            world.clock.advance(dt)
        v = st["level_VOLT"] if st["output"] else 0.0
        current = 0.0
        if st["output"] and src == "VOLT":
            self.tripped = False
            if world is not None and world.wiring is not None:
                ilim = st["limit_VOLT"]
                current = world.wiring.measure(world, self.name + ".hi", v, ilim)
                self.tripped = abs(current) >= ilim * (1 - 1e-9)
        elif st["output"]:
            v, current, self.tripped = source_current(world, self.name + ".hi", st["level_CURR"], st["limit_CURR"])
        else:
            self.tripped = False
        self.last_current = current
        sense = self.sense
        i_read = self.noise.add("i", current, self._sense_range("CURR", current, I_RANGES))
        if sense == "CURR":
            reading = i_read
            if not st["auto_CURR"] and abs(current) > 1.05 * st["range_CURR"]:
                reading = 9.9e37  # overflow
        else:
            v_read = self.noise.add("v", v, self._sense_range("VOLT", v, V_RANGES))
            reading = v_read if sense == "VOLT" else ((v_read / i_read) if i_read else 9.9e37)
        return reading, (st["level_VOLT"] if src == "VOLT" else st["level_CURR"])

    def _sense_range(self, f: str, value: float, ranges) -> float:
        st = self.s
        return auto_range(value, ranges, ranges[0]) if st["auto_" + f] else st["range_" + f]

    def _read_into(self, buffer: str) -> list[float]:
        buf = self._buffer(buffer)
        vals = []
        clock = self.world.clock if self.world is not None else None
        for _ in range(self.s["count"]):
            r, s = self._measure_once()
            buf.add(r, s, clock.now() if clock else 0.0, self.sense)
            vals.append(r)
        return vals

    def _buffer(self, name: str) -> _Buffer:
        b = self.buffers.get(name)
        if b is None:
            raise SCPIError(-224, f"buffer {name!r} does not exist")
        return b

    def _buffer_arg(self, args, i=0) -> str:
        return to_str(args[i]) if len(args) > i and args[i] else "defbuffer1"

    # -- language, source and sense functions -------------------------------------------------
    @command("*LANG", query=True)
    def _lang_q(self, args, sfx):
        return self.lang

    @command("*LANG")
    def _lang(self, args, sfx):
        nargs(args, 1)
        to_enum(args[0], ["SCPI", "TSP", "SCPI2400"])  # takes effect after a power cycle

    @command(":SOURce[1]:FUNCtion[:MODE]")
    def _src_func(self, args, sfx):
        nargs(args, 1)
        f = to_enum(args[0], ["VOLTage", "CURRent"])
        if f != self.src:
            self.s["output"] = False  # the 2450 turns the output off when the function changes
        self.src = f

    @command(":SOURce[1]:FUNCtion[:MODE]", query=True)
    def _src_func_q(self, args, sfx):
        return self.src

    @command(":SOURce[1]:VOLTage:ILIMit[:LEVel]:TRIPped", query=True)
    def _ilim_trip(self, args, sfx):
        return str(int(self.tripped and self.src == "VOLT"))

    @command(":SOURce[1]:CURRent:VLIMit[:LEVel]:TRIPped", query=True)
    def _vlim_trip(self, args, sfx):
        return str(int(self.tripped and self.src == "CURR"))

    @command(":SENSe[1]:FUNCtion[:ON]")
    def _sens_func(self, args, sfx):
        nargs(args, 1)
        self.sense = _func(to_str(args[0]))

    @command(":SENSe[1]:FUNCtion[:ON]", query=True)
    def _sens_func_q(self, args, sfx):
        return _SENS_QUOTED[self.sense]

    @command(":SENSe[1]:AZERo:ONCE")
    def _azonce(self, args, sfx):
        nargs(args, 0)

    @command(":SOURce[1]:SWEep:VOLTage:LINear")
    def _sweep_v(self, args, sfx):
        self._sweep("VOLT", args, 210)

    @command(":SOURce[1]:SWEep:CURRent:LINear")
    def _sweep_i(self, args, sfx):
        self._sweep("CURR", args, 1.05)

    def _sweep(self, f, args, mx):
        nargs(args, 3, 9)
        start, stop = to_float(args[0], -mx, mx), to_float(args[1], -mx, mx)
        points = to_int(args[2], 2, 1_000_000)
        delay = to_float(args[3], -1, 10000, default=0) if len(args) > 3 else -1.0  # -1: auto
        count = to_int(args[4], 1, 1_000_000) if len(args) > 4 else 1
        if len(args) > 5:
            to_enum(args[5], ["BEST", "AUTO", "FIXed"])
        if len(args) > 6:
            to_bool(args[6])
        dual = to_bool(args[7]) if len(args) > 7 else False
        buffer = to_str(args[8]) if len(args) > 8 else "defbuffer1"
        self._buffer(buffer)
        levels = list(np.linspace(start, stop, points))
        if dual:
            levels = levels + levels[::-1]
        self.sweep = {"function": f, "levels": levels * count, "delay": max(delay, 0.0), "buffer": buffer}

    # -- system ---------------------------------------------------------------------------------
    @command(":SYSTem:CLEar")
    def _sys_clear(self, args, sfx):
        self.errors.clear()

    @command(":STATus:CLEar")
    def _stat_clear(self, args, sfx):
        self.esr = 0

    @command(":SYSTem:BEEPer[:IMMediate]")
    def _beep(self, args, sfx):
        nargs(args, 2)
        to_float(args[0], 20, 8000)
        t = to_float(args[1], 0.001, 100)
        if self.world is not None:
            self.world.clock.advance(t)  # the command returns when the beep ends

    @command(":ABORt")
    def _abort(self, args, sfx):
        nargs(args, 0)

    @command(":INITiate[:IMMediate]")
    def _init(self, args, sfx):
        nargs(args, 0)
        if self.sweep is None:
            self._read_into("defbuffer1")
            return
        sw, f = self.sweep, self.sweep["function"]
        if f != self.src:
            raise SCPIError(-221, "sweep function differs from the source function")
        buf = self._buffer(sw["buffer"])
        buf.rows.clear()  # the sweep trigger-model template starts with a buffer-clear block
        self.s["output"] = True
        clock = self.world.clock if self.world is not None else None
        for lv in sw["levels"]:
            self.s["level_" + f] = float(lv)
            if clock is not None:
                clock.advance(sw["delay"])
            r, s = self._measure_once()
            buf.add(r, s, clock.now() if clock else 0.0, self.sense)

    # -- readings -----------------------------------------------------------------------------
    @command(":READ[:DEFBuffer1]", query=True)
    def _read(self, args, sfx):
        """Makes :SENS:COUNt readings into the buffer and returns the last (manual)."""
        if len(args) > 1 + len(_ELEMENTS):
            nargs(args, 0, 1 + len(_ELEMENTS))
        name = self._buffer_arg(args)
        vals = self._read_into(name)
        if len(args) > 1:
            return self._elements(self._buffer(name).rows[-1], args[1:])
        return fmt(vals[-1])

    @command(":MEASure", query=True)
    def _meas(self, args, sfx):
        return self._read(args, sfx)

    @command(":MEASure:CURRent[:DC]", query=True)
    def _meas_i(self, args, sfx):
        self.sense = "CURR"
        return self._read(args, sfx)

    @command(":MEASure:VOLTage[:DC]", query=True)
    def _meas_v(self, args, sfx):
        self.sense = "VOLT"
        return self._read(args, sfx)

    @command(":MEASure:RESistance", query=True)
    def _meas_r(self, args, sfx):
        self.sense = "RES"
        return self._read(args, sfx)

    @command(":FETCh", query=True)
    def _fetch(self, args, sfx):
        name = self._buffer_arg(args)
        rows = self._buffer(name).rows
        if not rows:
            raise SCPIError(-230, "no reading in the buffer")
        return self._elements(rows[-1], args[1:]) if len(args) > 1 else fmt(rows[-1][0])

    def _elements(self, row, tokens) -> str:
        out = []
        for tok in tokens:
            e = to_enum(tok, _ELEMENTS)
            out.append({"READ": fmt(row[0]), "SOUR": fmt(row[1]), "REL": fmt(row[2]), "SEC": fmt(row[2]),
                        "UNIT": _UNIT[row[3]], "SOURUNIT": _SRC_UNIT[self.src],
                        "STAT": "0", "SOURSTAT": "0", "TST": fmt(row[2]), "FRAC": fmt(row[2] % 1.0),
                        "FORM": f"{row[0]:.6g}", "SOURFORM": f"{row[1]:.6g}"}
                       .get(e, fmt(row[0])))
        return ",".join(out)

    # -- reading buffers (:TRACe) ---------------------------------------------------------------
    @command(":TRACe:MAKE")
    def _make(self, args, sfx):
        nargs(args, 2, 3)
        name = to_str(args[0])
        if name in self.buffers:
            raise SCPIError(-221, f"buffer {name} exists")
        if len(args) > 2:
            to_enum(args[2], ["STANdard", "COMPact", "FULL", "WRITable", "FULLWRITable"])
        self.buffers[name] = _Buffer(to_int(args[1], 10, 6_875_000))

    @command(":TRACe:DELete")
    def _delete(self, args, sfx):
        nargs(args, 1)
        name = to_str(args[0])
        if name in ("defbuffer1", "defbuffer2"):
            raise SCPIError(-221, "default buffers cannot be deleted")
        self._buffer(name)
        del self.buffers[name]

    @command(":TRACe:POINts")
    def _points(self, args, sfx):
        nargs(args, 1, 2)
        buf = self._buffer(self._buffer_arg(args, 1))
        buf.size = to_int(args[0], 1, 6_875_000)  # the 2450 clears a buffer it resizes
        buf.rows.clear()

    @command(":TRACe:POINts", query=True)
    def _points_q(self, args, sfx):
        return str(self._buffer(self._buffer_arg(args)).size)

    @command(":TRACe:ACTual", query=True)
    def _actual(self, args, sfx):
        nargs(args, 0, 1)
        return str(len(self._buffer(self._buffer_arg(args)).rows))

    @command(":TRACe:ACTual:STARt", query=True)
    def _actual_start(self, args, sfx):
        nargs(args, 0, 1)
        return "1" if self._buffer(self._buffer_arg(args)).rows else "0"

    @command(":TRACe:ACTual:END", query=True)
    def _actual_end(self, args, sfx):
        nargs(args, 0, 1)
        return str(len(self._buffer(self._buffer_arg(args)).rows))

    @command(":TRACe:FILL:MODE")
    def _fill(self, args, sfx):
        nargs(args, 1, 2)
        self._buffer(self._buffer_arg(args, 1)).fill = to_enum(args[0], ["CONTinuous", "ONCE"])

    @command(":TRACe:FILL:MODE", query=True)
    def _fill_q(self, args, sfx):
        return self._buffer(self._buffer_arg(args)).fill

    @command(":TRACe:CLEar")
    def _trace_clear(self, args, sfx):
        nargs(args, 0, 1)
        self._buffer(self._buffer_arg(args)).rows.clear()

    @command(":TRACe:TRIGger")
    def _trace_trig(self, args, sfx):
        nargs(args, 0, 1)
        self._read_into(self._buffer_arg(args))

    @command(":TRACe:DATA", query=True)
    def _data(self, args, sfx):
        nargs(args, 2, 3 + len(_ELEMENTS))
        start, end = to_int(args[0], 1), to_int(args[1], 1)
        rows = self._buffer(self._buffer_arg(args, 2)).rows
        if end < start or end > len(rows):
            raise SCPIError(-222, f"index {start}..{end} outside 1..{len(rows)}")
        sel = rows[start - 1:end]
        if len(args) > 3:
            return ",".join(self._elements(r, args[3:]) for r in sel)
        return ",".join(fmt(r[0]) for r in sel)

    def _stat(self, args, fn) -> str:
        nargs(args, 0, 1)
        vals = [r[0] for r in self._buffer(self._buffer_arg(args)).rows]
        return fmt(fn(vals)) if vals else fmt(float("nan"))

    @command(":TRACe:STATistics:AVERage", query=True)
    def _avg(self, args, sfx):
        return self._stat(args, lambda v: sum(v) / len(v))

    @command(":TRACe:STATistics:MAXimum", query=True)
    def _max(self, args, sfx):
        return self._stat(args, max)

    @command(":TRACe:STATistics:MINimum", query=True)
    def _min(self, args, sfx):
        return self._stat(args, min)

    @command(":TRACe:STATistics:PK2Pk", query=True)
    def _pk2pk(self, args, sfx):
        return self._stat(args, lambda v: max(v) - min(v))

    @command(":TRACe:STATistics:STDDev", query=True)
    def _std(self, args, sfx):
        def sd(v):
            if len(v) < 2:
                return 0.0
            m = sum(v) / len(v)
            return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
        return self._stat(args, sd)

    @command(":TRACe:STATistics:CLEar")
    def _stat_clr(self, args, sfx):
        nargs(args, 0, 1)
