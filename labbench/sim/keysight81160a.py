"""Simulated Keysight 81160A pulse/function generator, two channels (81160A Programming
Guide, "SCPI command reference"): the channel-numbered forms ``:VOLT2:HIGH``,
``:PULS:WIDT1``, ``:BURS1:NCYC``, ``:ARM:SOUR1``, ``:OUTP2`` ...

Modelled subset: function shape (PULSe, DC, SINusoid, SQUare, ...), amplitude/offset
and high/low levels (kept consistent, as on the instrument), frequency/period, pulse
width, duty cycle and transition, burst state/mode/count, trigger count, arm source,
output state/polarity/load, APPLy, and *TRG.  A bus trigger fires every channel that
is on, armed by MANual (or BUS) source and in burst mode: ``NCYC`` pulses of the high
level for ``WIDT`` seconds, sent to the chip through the wiring; virtual time advances
by NCYC·period.  The idle level of a pulse channel is its low level; a DC channel drives
its offset (the gate of the 2T2R cell is held by channel 2 in DC).
"""
from __future__ import annotations

from .instrument import SimInstrument
from .scpi import SCPIError, command, fmt, nargs, to_bool, to_enum, to_float, to_int

_SHAPES = ["SINusoid", "SQUare", "RAMP", "PULSe", "NOISe", "DC", "USER"]
V_MAX = 5.0        # |level| into 50 Ω
MIN_AMPLITUDE = 0.05


class _Channel:
    def __init__(self):
        self.shape = "SIN"
        self.high, self.low = 0.25, -0.25
        self.freq = 1e6
        self.width = 1e-7
        self.transition = 5e-9
        self.burst = False
        self.burst_mode = "TRIG"
        self.ncyc = 2
        self.trig_count = 1
        self.arm = "IMM"
        self.trig_source = "IMM"
        self.output = False
        self.polarity = "NORM"
        self.load = 50.0

    @property
    def amplitude(self):
        return self.high - self.low

    @property
    def offset(self):
        return (self.high + self.low) / 2


class Keysight81160ASim(SimInstrument):
    IDN = ("Agilent Technologies", "81160A", "DE12345678", "1.2.0.0")

    def reset(self):
        self.ch = {1: _Channel(), 2: _Channel()}
        self.trigger_log: list[dict] = []  # what was fired (for tests and benchmarks)

    def _c(self, sfx, i=0) -> _Channel:
        n = sfx[i] if len(sfx) > i and sfx[i] is not None else 1
        if n not in self.ch:
            raise SCPIError(-114, f"channel {n}")
        return self.ch[n]

    def outputs_on(self):
        return [f"ch{n}" for n, c in self.ch.items() if c.output]

    def terminal_level(self, term: str):
        try:
            c = self.ch[int(term.removeprefix("ch"))]
        except (ValueError, KeyError):
            return None
        if not c.output:
            return None  # output relay open
        lvl = c.offset if c.shape == "DC" else c.low
        return -lvl if c.polarity == "INV" else lvl

    def bus_trigger(self):
        fired = [(n, c) for n, c in self.ch.items()
                 if c.output and c.arm in ("MAN", "BUS") and (c.burst or c.trig_count > 1 or c.shape == "PULS")]
        longest = 0.0
        for n, c in fired:
            count = c.ncyc if c.burst else c.trig_count
            high = -c.high if c.polarity == "INV" else c.high
            width = c.width if c.shape == "PULS" else 0.5 / c.freq
            self.trigger_log.append({"channel": n, "count": count, "high": high, "width": width})
            if self.world is not None and self.world.wiring is not None:
                self.world.wiring.pulse(self.world, f"{self.name}.ch{n}", high, width, count)
            longest = max(longest, count / c.freq)
        if self.world is not None:
            self.world.clock.advance(longest)

    # -- function and levels ------------------------------------------------------------
    @command("[:SOURce]:FUNCtion#[:SHAPe]")
    def _func(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).shape = to_enum(args[0], _SHAPES)

    @command("[:SOURce]:FUNCtion#[:SHAPe]", query=True)
    def _func_q(self, args, sfx):
        return self._c(sfx).shape

    def _set_levels(self, c: _Channel, high: float, low: float):
        if high - low < MIN_AMPLITUDE - 1e-12:
            raise SCPIError(-221, f"high {high:g} V must exceed low {low:g} V by {MIN_AMPLITUDE} V")
        if max(abs(high), abs(low)) > V_MAX + 1e-12:
            raise SCPIError(-222, f"levels {low:g}..{high:g} V exceed ±{V_MAX} V")
        c.high, c.low = high, low

    @command("[:SOURce]:VOLTage#[:LEVel][:IMMediate][:AMPLitude]")
    def _ampl(self, args, sfx):
        nargs(args, 1)
        c = self._c(sfx)
        a = to_float(args[0], MIN_AMPLITUDE, 2 * V_MAX, default=1.0)
        self._set_levels(c, c.offset + a / 2, c.offset - a / 2)

    @command("[:SOURce]:VOLTage#[:LEVel][:IMMediate][:AMPLitude]", query=True)
    def _ampl_q(self, args, sfx):
        return fmt(self._c(sfx).amplitude)

    @command("[:SOURce]:VOLTage#[:LEVel][:IMMediate]:OFFSet")
    def _offs(self, args, sfx):
        nargs(args, 1)
        c = self._c(sfx)
        o = to_float(args[0], -V_MAX, V_MAX, default=0.0)
        a = c.amplitude
        self._set_levels(c, o + a / 2, o - a / 2)

    @command("[:SOURce]:VOLTage#[:LEVel][:IMMediate]:OFFSet", query=True)
    def _offs_q(self, args, sfx):
        return fmt(self._c(sfx).offset)

    @command("[:SOURce]:VOLTage#[:LEVel][:IMMediate]:HIGH")
    def _high(self, args, sfx):
        nargs(args, 1)
        c = self._c(sfx)
        self._set_levels(c, to_float(args[0], -V_MAX, V_MAX, default=0.5), c.low)

    @command("[:SOURce]:VOLTage#[:LEVel][:IMMediate]:HIGH", query=True)
    def _high_q(self, args, sfx):
        return fmt(self._c(sfx).high)

    @command("[:SOURce]:VOLTage#[:LEVel][:IMMediate]:LOW")
    def _low(self, args, sfx):
        nargs(args, 1)
        c = self._c(sfx)
        self._set_levels(c, c.high, to_float(args[0], -V_MAX, V_MAX, default=0.0))

    @command("[:SOURce]:VOLTage#[:LEVel][:IMMediate]:LOW", query=True)
    def _low_q(self, args, sfx):
        return fmt(self._c(sfx).low)

    @command("[:SOURce]:VOLTage#:UNIT")
    def _vunit(self, args, sfx):
        nargs(args, 1)
        to_enum(args[0], ["VPP", "VRMS", "DBM"])

    @command("[:SOURce]:VOLTage#:UNIT", query=True)
    def _vunit_q(self, args, sfx):
        return "VPP"

    # -- timing ---------------------------------------------------------------------------
    @command("[:SOURce]:FREQuency#[:CW][:FIXed]")
    def _freq(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).freq = to_float(args[0], 1e-6, 500e6, default=1e6)

    @command("[:SOURce]:FREQuency#[:CW][:FIXed]", query=True)
    def _freq_q(self, args, sfx):
        return fmt(self._c(sfx).freq)

    @command("[:SOURce]:PULSe:PERiod#")
    def _per(self, args, sfx):
        nargs(args, 1)
        c = self._c(sfx)
        p = to_float(args[0], 3.03e-9, 1e6, default=1e-6)
        if c.width >= p:
            raise SCPIError(-221, f"period {p:g} s must exceed the width {c.width:g} s")
        c.freq = 1.0 / p

    @command("[:SOURce]:PULSe:PERiod#", query=True)
    def _per_q(self, args, sfx):
        return fmt(1.0 / self._c(sfx).freq)

    @command("[:SOURce]:PULSe:WIDTh#")
    def _width(self, args, sfx):
        nargs(args, 1)
        c = self._c(sfx)
        w = to_float(args[0], 1.5e-9, 1e6, default=1e-7)
        if w >= 1.0 / c.freq:
            raise SCPIError(-221, f"width {w:g} s must be shorter than the period {1 / c.freq:g} s")
        c.width = w

    @command("[:SOURce]:PULSe:WIDTh#", query=True)
    def _width_q(self, args, sfx):
        return fmt(self._c(sfx).width)

    @command("[:SOURce]:PULSe:DCYCle#")
    def _dcyc(self, args, sfx):
        nargs(args, 1)
        c = self._c(sfx)
        c.width = to_float(args[0], 0.0, 100.0, default=10.0) / 100.0 / c.freq

    @command("[:SOURce]:PULSe:DCYCle#", query=True)
    def _dcyc_q(self, args, sfx):
        c = self._c(sfx)
        return fmt(100.0 * c.width * c.freq)

    @command("[:SOURce]:FUNCtion#:PULSe:TRANsition[:LEADing]")
    def _tran(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).transition = to_float(args[0], 1e-9, 1e3, default=5e-9)

    @command("[:SOURce]:FUNCtion#:PULSe:TRANsition[:LEADing]", query=True)
    def _tran_q(self, args, sfx):
        return fmt(self._c(sfx).transition)

    @command("[:SOURce]:PULSe:TRANsition#[:LEADing]")
    def _tran2(self, args, sfx):
        self._tran(args, sfx)

    # -- burst, trigger, arm ----------------------------------------------------------
    @command("[:SOURce]:BURSt#:STATe")
    def _burst(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).burst = to_bool(args[0])

    @command("[:SOURce]:BURSt#:STATe", query=True)
    def _burst_q(self, args, sfx):
        return str(int(self._c(sfx).burst))

    @command("[:SOURce]:BURSt#:MODE")
    def _bmode(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).burst_mode = to_enum(args[0], ["TRIGgered", "GATed"])

    @command("[:SOURce]:BURSt#:MODE", query=True)
    def _bmode_q(self, args, sfx):
        return self._c(sfx).burst_mode

    @command("[:SOURce]:BURSt#:NCYCles")
    def _ncyc(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).ncyc = to_int(args[0], 1, 2_147_483_647, default=2)

    @command("[:SOURce]:BURSt#:NCYCles", query=True)
    def _ncyc_q(self, args, sfx):
        return str(self._c(sfx).ncyc)

    @command("[:SOURce]:BURSt#:INTernal:PERiod")
    def _bper(self, args, sfx):
        nargs(args, 1)
        to_float(args[0], 3.03e-9, 1e6, default=1e-3)

    @command(":TRIGger#:COUNt")
    def _tcount(self, args, sfx):
        nargs(args, 1)
        c = self._c(sfx)
        c.trig_count = to_int(args[0], 1, 2_147_483_647, default=1)
        c.burst = c.trig_count > 1

    @command(":TRIGger#:COUNt", query=True)
    def _tcount_q(self, args, sfx):
        return str(self._c(sfx).trig_count)

    @command(":ARM:SOURce#")
    def _arm(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).arm = to_enum(args[0], ["IMMediate", "INTernal2", "EXTernal", "MANual", "BUS"])

    @command(":ARM:SOURce#", query=True)
    def _arm_q(self, args, sfx):
        return self._c(sfx).arm

    @command(":TRIGger#:SOURce")
    def _tsour(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).trig_source = to_enum(args[0], ["IMMediate", "INTernal2", "EXTernal", "MANual", "BUS"])

    @command(":TRIGger#:SOURce", query=True)
    def _tsour_q(self, args, sfx):
        return self._c(sfx).trig_source

    @command(":TRIGger#[:SEQuence][:IMMediate]")
    def _trig_now(self, args, sfx):
        nargs(args, 0)
        self.bus_trigger()

    # -- output ---------------------------------------------------------------------------
    @command(":OUTPut#[:STATe]")
    def _outp(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).output = to_bool(args[0])

    @command(":OUTPut#[:STATe]", query=True)
    def _outp_q(self, args, sfx):
        return str(int(self._c(sfx).output))

    @command(":OUTPut#:POLarity")
    def _pol(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).polarity = to_enum(args[0], ["NORMal", "INVerted"])

    @command(":OUTPut#:POLarity", query=True)
    def _pol_q(self, args, sfx):
        return self._c(sfx).polarity

    @command(":OUTPut#:LOAD")
    def _load(self, args, sfx):
        nargs(args, 1)
        self._c(sfx).load = to_float(args[0], 0.3, 1e6, default=50.0, mx=1e6)

    @command(":OUTPut#:LOAD", query=True)
    def _load_q(self, args, sfx):
        return fmt(self._c(sfx).load)

    @command(":APPLy#:PULSe")
    def _apply_pulse(self, args, sfx):
        self._apply("PULS", args, sfx)

    @command(":APPLy#:DC")
    def _apply_dc(self, args, sfx):
        self._apply("DC", args, sfx)

    @command(":APPLy#:SINusoid")
    def _apply_sin(self, args, sfx):
        self._apply("SIN", args, sfx)

    @command(":APPLy#:SQUare")
    def _apply_squ(self, args, sfx):
        self._apply("SQU", args, sfx)

    def _apply(self, shape, args, sfx):
        """APPLy <freq>, <ampl>, <offset> (DC: frequency and amplitude are DEF)."""
        nargs(args, 0, 3)
        c = self._c(sfx)
        freq = to_float(args[0], 1e-6, 500e6, default=c.freq) if len(args) > 0 else c.freq
        ampl = to_float(args[1], MIN_AMPLITUDE, 2 * V_MAX, default=c.amplitude) if len(args) > 1 else c.amplitude
        offs = to_float(args[2], -V_MAX, V_MAX, default=c.offset) if len(args) > 2 else c.offset
        if shape != "DC":
            c.freq = freq
        self._set_levels(c, offs + ampl / 2, offs - ampl / 2)
        c.shape = shape
