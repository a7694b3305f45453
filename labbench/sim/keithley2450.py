"""Simulated Keithley 2450 SourceMeter, native SCPI command set (Reference Manual
2450-901-01, "SCPI command reference"): a coherent subset.

Source VOLT/CURR with level, range (+auto), limit (ILIM/VLIM, tripped query), delay,
readback; sense CURR/VOLT/RES with NPLC, range (+auto), RSENse, AZERo; output; reading
buffers (defbuffer1/2 and user buffers: MAKE, POINts, ACTual, CLEar, DATA?, DELete);
:READ?, :MEASure[:<func>]?, :FETCh?; a linear sweep (:SOUR:SWE:<f>:LIN) run by :INIT;
*LANG.  The HI terminal is wired to the chip; a reading integrates NPLC/line-frequency
seconds of virtual time.  2400-emulation-only commands (e.g. :TRAC:FEED) are −113 here,
as on a 2450 in SCPI mode.
"""
from __future__ import annotations

import numpy as np

from .instrument import SimInstrument
from .scpi import SCPIError, command, fmt, nargs, to_bool, to_enum, to_float, to_int, to_str

LINE_FREQUENCY = 50.0
_SRC = {"VOLT": "voltage", "CURR": "current"}
_SENS_QUOTED = {"CURR": '"CURR:DC"', "VOLT": '"VOLT:DC"', "RES": '"RES"'}
_ELEMENTS = ["READing", "SOURce", "RELative", "SEConds", "UNIT", "SOURUNIT", "STATus",
             "SOURSTATus", "FORMatted", "SOURFORMatted", "DATE", "TIME", "TSTamp", "FRACtional"]


def _func(tok: str) -> str:
    """Sense function as data: "CURR", "CURR:DC", 'VOLTage:DC', "RES" -> short form."""
    t = tok.strip().strip("\"'").upper()
    base = t.split(":")[0]
    for long_, short in (("CURRENT", "CURR"), ("VOLTAGE", "VOLT"), ("RESISTANCE", "RES")):
        if base in (short, long_) and t[len(base):] in ("", ":DC"):
            return short
    raise SCPIError(-224, f"unknown function {tok}")


class _Buffer:
    def __init__(self, size: int):
        self.size = size
        self.rows: list[tuple[float, float, float, str]] = []  # reading, source, time, unit

    def add(self, reading, source, t, unit):
        self.rows.append((reading, source, t, unit))
        if len(self.rows) > self.size:  # fill-continuous: oldest out
            del self.rows[0]


class Keithley2450Sim(SimInstrument):
    IDN = ("KEITHLEY INSTRUMENTS", "MODEL 2450", "04512345", "1.7.12b")

    def reset(self):
        self.lang = "SCPI"
        self.src = "VOLT"
        self.level = {"VOLT": 0.0, "CURR": 0.0}
        self.src_range = {"VOLT": 20.0, "CURR": 1e-4}
        self.src_auto = {"VOLT": True, "CURR": True}
        self.limit = {"VOLT": 1.05e-4, "CURR": 2.1}   # ILIM for V source, VLIM for I source
        self.tripped = False
        self.src_delay = {"VOLT": 0.0, "CURR": 0.0}
        self.src_delay_auto = {"VOLT": True, "CURR": True}
        self.readback = {"VOLT": True, "CURR": True}
        self.sense = "CURR"
        self.nplc = {"CURR": 1.0, "VOLT": 1.0, "RES": 1.0}
        self.sens_range = {"CURR": 1e-4, "VOLT": 0.02, "RES": 2e5}
        self.sens_auto = {"CURR": True, "VOLT": True, "RES": True}
        self.rsense = {"CURR": False, "VOLT": False, "RES": False}
        self.azero = {"CURR": True, "VOLT": True, "RES": True}
        self.count = 1
        self.output = False
        self.terminals = "FRON"
        self.buffers = {"defbuffer1": _Buffer(100000), "defbuffer2": _Buffer(10000)}
        self.sweep = None
        self.last_current = 0.0

    def outputs_on(self):
        return ["hi"] if self.output else []

    def terminal_level(self, term: str):
        if term != "hi" or not self.output:
            return None  # output relay open: the line floats
        return self.level["VOLT"] if self.src == "VOLT" else None

    # -- physics --------------------------------------------------------------------
    def _measure_once(self, source_level: float | None = None) -> tuple[float, float]:
        """One reading of the sense function -> (reading, source value)."""
        world = self.world
        if world is not None:
            world.clock.advance(self.nplc[self.sense] / LINE_FREQUENCY)
        v = self.level["VOLT"] if source_level is None else source_level
        current = 0.0
        if self.output and self.src == "VOLT" and world is not None and world.wiring is not None:
            ilim = self.limit["VOLT"]
            current = world.wiring.measure(world, self.name + ".hi", v, ilim)
            self.tripped = abs(current) >= ilim * (1 - 1e-9)
        self.last_current = current
        if self.sense == "CURR":
            reading = current
            rng = self.sens_range["CURR"]
            if not self.sens_auto["CURR"] and abs(current) > 1.05 * rng:
                reading = 9.9e37  # overflow
        elif self.sense == "VOLT":
            reading = v if self.output else 0.0
        else:
            reading = (v / current) if current else 9.9e37
        return reading, v

    def _read_into(self, buffer: str, n: int | None = None) -> list[float]:
        buf = self._buffer(buffer)
        vals = []
        for _ in range(n or self.count):
            r, s = self._measure_once()
            buf.add(r, s, self.world.clock.now() if self.world else 0.0, self.sense)
            vals.append(r)
        return vals

    def _buffer(self, name: str) -> _Buffer:
        b = self.buffers.get(name)
        if b is None:
            raise SCPIError(-224, f"buffer {name!r} does not exist")
        return b

    def _buffer_arg(self, args, i=0) -> str:
        return to_str(args[i]) if len(args) > i and args[i] else "defbuffer1"

    # -- language ---------------------------------------------------------------------
    @command("*LANG", query=True)
    def _lang_q(self, args, sfx):
        return self.lang

    @command("*LANG")
    def _lang(self, args, sfx):
        nargs(args, 1)
        to_enum(args[0], ["SCPI", "TSP", "SCPI2400"])  # takes effect after a power cycle

    # -- source -------------------------------------------------------------------------
    @command(":SOURce[1]:FUNCtion[:MODE]")
    def _src_func(self, args, sfx):
        nargs(args, 1)
        f = to_enum(args[0], ["VOLTage", "CURRent"])
        if f != self.src:
            self.output = False  # the 2450 turns the output off when the function changes
        self.src = f

    @command(":SOURce[1]:FUNCtion[:MODE]", query=True)
    def _src_func_q(self, args, sfx):
        return self.src

    @command(":SOURce[1]:VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    def _sv(self, args, sfx):
        self._set_level("VOLT", args, 210.0)

    @command(":SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]")
    def _si(self, args, sfx):
        self._set_level("CURR", args, 1.05)

    def _set_level(self, f, args, mx):
        nargs(args, 1)
        v = to_float(args[0], -mx, mx, default=0.0)
        if not self.src_auto[f] and abs(v) > self.src_range[f] * 1.05:
            raise SCPIError(-222, f"{v:g} exceeds the {self.src_range[f]:g} source range")
        self.level[f] = v

    @command(":SOURce[1]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", query=True)
    def _sv_q(self, args, sfx):
        return fmt(self.level["VOLT"])

    @command(":SOURce[1]:CURRent[:LEVel][:IMMediate][:AMPLitude]", query=True)
    def _si_q(self, args, sfx):
        return fmt(self.level["CURR"])

    @command(":SOURce[1]:VOLTage:RANGe")
    def _svr(self, args, sfx):
        nargs(args, 1)
        self.src_range["VOLT"] = to_float(args[0], -210, 210, default=20, mn=0.02, mx=200)
        self.src_auto["VOLT"] = False

    @command(":SOURce[1]:CURRent:RANGe")
    def _sir(self, args, sfx):
        nargs(args, 1)
        self.src_range["CURR"] = abs(to_float(args[0], -1.05, 1.05, default=1e-4, mn=1e-8, mx=1))
        self.src_auto["CURR"] = False

    @command(":SOURce[1]:VOLTage:RANGe", query=True)
    def _svr_q(self, args, sfx):
        return fmt(self.src_range["VOLT"])

    @command(":SOURce[1]:CURRent:RANGe", query=True)
    def _sir_q(self, args, sfx):
        return fmt(self.src_range["CURR"])

    @command(":SOURce[1]:VOLTage:RANGe:AUTO")
    def _svra(self, args, sfx):
        nargs(args, 1)
        self.src_auto["VOLT"] = to_bool(args[0])

    @command(":SOURce[1]:CURRent:RANGe:AUTO")
    def _sira(self, args, sfx):
        nargs(args, 1)
        self.src_auto["CURR"] = to_bool(args[0])

    @command(":SOURce[1]:VOLTage:RANGe:AUTO", query=True)
    def _svra_q(self, args, sfx):
        return str(int(self.src_auto["VOLT"]))

    @command(":SOURce[1]:CURRent:RANGe:AUTO", query=True)
    def _sira_q(self, args, sfx):
        return str(int(self.src_auto["CURR"]))

    @command(":SOURce[1]:VOLTage:ILIMit[:LEVel]")
    def _ilim(self, args, sfx):
        nargs(args, 1)
        self.limit["VOLT"] = to_float(args[0], 1e-9, 1.05, default=1.05e-4)

    @command(":SOURce[1]:VOLTage:ILIMit[:LEVel]", query=True)
    def _ilim_q(self, args, sfx):
        return fmt(self.limit["VOLT"])

    @command(":SOURce[1]:CURRent:VLIMit[:LEVel]")
    def _vlim(self, args, sfx):
        nargs(args, 1)
        self.limit["CURR"] = to_float(args[0], 0.02, 210, default=2.1)

    @command(":SOURce[1]:CURRent:VLIMit[:LEVel]", query=True)
    def _vlim_q(self, args, sfx):
        return fmt(self.limit["CURR"])

    @command(":SOURce[1]:VOLTage:ILIMit[:LEVel]:TRIPped", query=True)
    def _ilim_trip(self, args, sfx):
        return str(int(self.tripped and self.src == "VOLT"))

    @command(":SOURce[1]:CURRent:VLIMit[:LEVel]:TRIPped", query=True)
    def _vlim_trip(self, args, sfx):
        return "0"

    @command(":SOURce[1]:VOLTage:DELay")
    def _sdel_v(self, args, sfx):
        nargs(args, 1)
        self.src_delay["VOLT"] = to_float(args[0], 0, 10000, default=0)
        self.src_delay_auto["VOLT"] = False

    @command(":SOURce[1]:CURRent:DELay")
    def _sdel_i(self, args, sfx):
        nargs(args, 1)
        self.src_delay["CURR"] = to_float(args[0], 0, 10000, default=0)
        self.src_delay_auto["CURR"] = False

    @command(":SOURce[1]:VOLTage:DELay", query=True)
    def _sdel_v_q(self, args, sfx):
        return fmt(self.src_delay["VOLT"])

    @command(":SOURce[1]:CURRent:DELay", query=True)
    def _sdel_i_q(self, args, sfx):
        return fmt(self.src_delay["CURR"])

    @command(":SOURce[1]:VOLTage:DELay:AUTO")
    def _sdela_v(self, args, sfx):
        nargs(args, 1)
        self.src_delay_auto["VOLT"] = to_bool(args[0])

    @command(":SOURce[1]:CURRent:DELay:AUTO")
    def _sdela_i(self, args, sfx):
        nargs(args, 1)
        self.src_delay_auto["CURR"] = to_bool(args[0])

    @command(":SOURce[1]:VOLTage:DELay:AUTO", query=True)
    def _sdela_v_q(self, args, sfx):
        return str(int(self.src_delay_auto["VOLT"]))

    @command(":SOURce[1]:CURRent:DELay:AUTO", query=True)
    def _sdela_i_q(self, args, sfx):
        return str(int(self.src_delay_auto["CURR"]))

    @command(":SOURce[1]:VOLTage:READ:BACK")
    def _rb_v(self, args, sfx):
        nargs(args, 1)
        self.readback["VOLT"] = to_bool(args[0])

    @command(":SOURce[1]:CURRent:READ:BACK")
    def _rb_i(self, args, sfx):
        nargs(args, 1)
        self.readback["CURR"] = to_bool(args[0])

    @command(":SOURce[1]:VOLTage:READ:BACK", query=True)
    def _rb_v_q(self, args, sfx):
        return str(int(self.readback["VOLT"]))

    @command(":SOURce[1]:CURRent:READ:BACK", query=True)
    def _rb_i_q(self, args, sfx):
        return str(int(self.readback["CURR"]))

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
        delay = to_float(args[3], 0, 10000, default=0) if len(args) > 3 else 0.0
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
        self.sweep = {"function": f, "levels": levels * count, "delay": delay, "buffer": buffer}

    # -- sense ----------------------------------------------------------------------------
    @command(":SENSe[1]:FUNCtion[:ON]")
    def _sens_func(self, args, sfx):
        nargs(args, 1)
        self.sense = _func(to_str(args[0]))

    @command(":SENSe[1]:FUNCtion[:ON]", query=True)
    def _sens_func_q(self, args, sfx):
        return _SENS_QUOTED[self.sense]

    def _sens_cmd(kind):  # noqa: N805 - builds one handler per sense function
        f = {"CURRent": "CURR", "VOLTage": "VOLT", "RESistance": "RES"}[kind]
        lim = {"CURR": (1e-8, 1.0), "VOLT": (0.02, 200.0), "RES": (2.0, 2e8)}[f]

        @command(f":SENSe[1]:{kind}[:DC]:NPLCycles")
        def nplc(self, args, sfx):
            nargs(args, 1)
            self.nplc[f] = to_float(args[0], 0.01, 10, default=1)

        @command(f":SENSe[1]:{kind}[:DC]:NPLCycles", query=True)
        def nplc_q(self, args, sfx):
            return fmt(self.nplc[f])

        @command(f":SENSe[1]:{kind}[:DC]:RANGe[:UPPer]")
        def rng(self, args, sfx):
            nargs(args, 1)
            self.sens_range[f] = abs(to_float(args[0], -lim[1] * 1.05, lim[1] * 1.05, default=lim[1],
                                              mn=lim[0], mx=lim[1]))
            self.sens_auto[f] = False

        @command(f":SENSe[1]:{kind}[:DC]:RANGe[:UPPer]", query=True)
        def rng_q(self, args, sfx):
            return fmt(self.sens_range[f])

        @command(f":SENSe[1]:{kind}[:DC]:RANGe:AUTO")
        def rauto(self, args, sfx):
            nargs(args, 1)
            self.sens_auto[f] = to_bool(args[0])

        @command(f":SENSe[1]:{kind}[:DC]:RANGe:AUTO", query=True)
        def rauto_q(self, args, sfx):
            return str(int(self.sens_auto[f]))

        @command(f":SENSe[1]:{kind}[:DC]:RSENse")
        def rsense(self, args, sfx):
            nargs(args, 1)
            self.rsense[f] = to_bool(args[0])

        @command(f":SENSe[1]:{kind}[:DC]:RSENse", query=True)
        def rsense_q(self, args, sfx):
            return str(int(self.rsense[f]))

        @command(f":SENSe[1]:{kind}[:DC]:AZERo[:STATe]")
        def az(self, args, sfx):
            nargs(args, 1)
            self.azero[f] = to_bool(args[0])

        @command(f":SENSe[1]:{kind}[:DC]:AZERo[:STATe]", query=True)
        def az_q(self, args, sfx):
            return str(int(self.azero[f]))

        return nplc, nplc_q, rng, rng_q, rauto, rauto_q, rsense, rsense_q, az, az_q

    _sense_current = _sens_cmd("CURRent")
    _sense_voltage = _sens_cmd("VOLTage")
    _sense_resistance = _sens_cmd("RESistance")
    del _sens_cmd

    @command(":SENSe[1]:COUNt")
    def _count(self, args, sfx):
        nargs(args, 1)
        self.count = to_int(args[0], 1, 300000, default=1)

    @command(":SENSe[1]:COUNt", query=True)
    def _count_q(self, args, sfx):
        return str(self.count)

    @command(":SENSe[1]:AZERo:ONCE")
    def _azonce(self, args, sfx):
        nargs(args, 0)

    # -- output, routing, system ----------------------------------------------------------
    @command(":OUTPut[1][:STATe]")
    def _outp(self, args, sfx):
        nargs(args, 1)
        self.output = to_bool(args[0])

    @command(":OUTPut[1][:STATe]", query=True)
    def _outp_q(self, args, sfx):
        return str(int(self.output))

    @command(":ROUTe:TERMinals")
    def _term(self, args, sfx):
        nargs(args, 1)
        self.terminals = to_enum(args[0], ["FRONt", "REAR"])

    @command(":ROUTe:TERMinals", query=True)
    def _term_q(self, args, sfx):
        return self.terminals

    @command(":SYSTem:LFRequency", query=True)
    def _lfr(self, args, sfx):
        return str(int(LINE_FREQUENCY))

    @command(":SYSTem:CLEar")
    def _sys_clear(self, args, sfx):
        self.errors.clear()

    @command(":STATus:CLEar")
    def _stat_clear(self, args, sfx):
        self.esr = 0

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
        self.output = True
        for lv in sw["levels"]:
            self.level[f] = float(lv)
            if self.world is not None:
                self.world.clock.advance(sw["delay"])
            r, s = self._measure_once()
            buf.add(r, s, self.world.clock.now() if self.world else 0.0, self.sense)

    # -- readings -------------------------------------------------------------------------
    @command(":READ[:DEFBuffer1]", query=True)
    def _read(self, args, sfx):
        nargs(args, 0, 1 + len(_ELEMENTS))
        name = self._buffer_arg(args)
        vals = self._read_into(name)
        if len(args) > 1:
            return self._elements(self._buffer(name).rows[-1], args[1:])
        return ",".join(fmt(v) for v in vals)

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
                        "UNIT": {"CURR": "Amp DC", "VOLT": "Volt DC", "RES": "Ohm"}[row[3]]}
                       .get(e, fmt(row[0])))
        return ",".join(out)

    # -- buffers (:TRACe) -----------------------------------------------------------------
    @command(":TRACe:MAKE")
    def _make(self, args, sfx):
        nargs(args, 2, 3)
        name = to_str(args[0])
        if name in self.buffers:
            raise SCPIError(-221, f"buffer {name} exists")
        self.buffers[name] = _Buffer(to_int(args[1], 10, 10_000_000))

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
        self._buffer(self._buffer_arg(args, 1)).size = to_int(args[0], 1, 10_000_000)

    @command(":TRACe:POINts", query=True)
    def _points_q(self, args, sfx):
        return str(self._buffer(self._buffer_arg(args)).size)

    @command(":TRACe:ACTual", query=True)
    def _actual(self, args, sfx):
        nargs(args, 0, 1)
        return str(len(self._buffer(self._buffer_arg(args)).rows))

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

