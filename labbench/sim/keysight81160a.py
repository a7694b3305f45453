"""Simulated Keysight 81160A pulse/function/arbitrary/noise generator, two channels
(81160A Programming Guide, "SCPI command reference").

The channel number is a suffix of the keyword (``:VOLT2:HIGH``, ``:PULS:WIDT1``,
``:OUTP2``); the 33500-style ``:SOUR2:...`` form PyMeasure's base class uses is accepted
too.  ``PROPS`` below is the command table; the coupling rules the manual states are
methods: amplitude/offset and high/low are two views of one pair of levels that must
stay inside the output window (+-5 V into 50 ohm, +-10 V into high impedance, scaled by
the load setting) and inside the voltage limits when those are on; period and width
(with ``:PULS:HOLD`` WIDTh or DCYCle) keep width < period; a function's frequency
range bounds the frequency.  In the DC function only the offset is the level, so any
offset inside the window is accepted whatever the last pulse amplitude was.

Behaviour: a bus trigger (``*TRG``, ``:TRIG``) fires every channel that is on and armed
by MANual (or BUS): NCYC pulses (burst) of the high level for WIDTh seconds, sent to the
chip through the wiring; instrument time advances by NCYC periods.  The idle level of a
channel is its low level; a DC channel drives its offset.  User waveforms: ``:DATA:DAC
VOLATILE`` (a binary block), ``:DATA:COPY``, ``:DATA:DEL``, the non-volatile catalog.
"""
from __future__ import annotations

import struct

from .instrument import SimInstrument
from .props import Bool, Choice, Int, Num, Text
from .scpi import SCPIError, command, fmt, nargs, to_enum, to_float

V_WINDOW_50 = 5.0           # |level| into 50 ohm; twice that into an open circuit
MIN_AMPLITUDE_50 = 0.05     # Vpp into 50 ohm
SOURCE_IMPEDANCE = 50.0
NVOL_SLOTS = 4
MAX_DAC = 8191
# frequency range of each function (data sheet): sine to 500 MHz, square/pulse/user
# to 330 MHz, ramp to 5 MHz; noise and DC have none
FREQ_MAX = {"SIN": 500e6, "SQU": 330e6, "PULS": 330e6, "USER": 330e6, "RAMP": 5e6}
SHAPES = ("SINusoid", "SQUare", "RAMP", "PULSe", "NOISe", "DC", "USER")
TRIGGER_SOURCES = ("IMMediate", "INTernal2", "EXTernal", "MANual", "BUS")

_LEVEL = "[:SOURce#]:VOLTage#[:LEVel][:IMMediate]"


class Keysight81160ASim(SimInstrument):
    IDN = ("Agilent Technologies", "81160A", "DE12345678", "1.2.0.0")
    OPT = "002"  # the two-channel option
    INDEXES = (1, 2)

    PROPS = (
        Choice("shape", "[:SOURce#]:FUNCtion#[:SHAPe]", "SIN", SHAPES, couple="_couple_shape"),
        # levels: amplitude/offset and high/low are one pair of levels
        Num("amplitude", f"{_LEVEL}[:AMPLitude]", 0.5, 0.0, 20.0, "Vpp", mn=MIN_AMPLITUDE_50, mx=10.0,
            couple="_couple_levels"),
        Num("offset", f"{_LEVEL}:OFFSet", 0.0, -10.0, 10.0, "V", couple="_couple_levels"),
        Num("high", f"{_LEVEL}:HIGH", 0.25, -10.0, 10.0, "V", couple="_couple_levels"),
        Num("low", f"{_LEVEL}:LOW", -0.25, -10.0, 10.0, "V", couple="_couple_levels"),
        Choice("unit", "[:SOURce#]:VOLTage#:UNIT", "VPP", ("VPP", "VRMS", "DBM")),
        Bool("limit_state", "[:SOURce#]:VOLTage#:LIMit:STATe", False, couple="_couple_limits"),
        Num("limit_high", "[:SOURce#]:VOLTage#:LIMit:HIGH", 10.0, -9.99, 10.0, "V", couple="_couple_limits"),
        Num("limit_low", "[:SOURce#]:VOLTage#:LIMit:LOW", -10.0, -10.0, 9.99, "V", couple="_couple_limits"),
        # timing: frequency and period are one setting; width < period
        Num("freq", "[:SOURce#]:FREQuency#[:CW][:FIXed]", 1e6, 1e-6, 500e6, "Hz", couple="_couple_timing"),
        Num("period", "[:SOURce#]:PULSe:PERiod#", 1e-6, 3.03e-9, 1e6, "s", couple="_couple_timing"),
        Num("width", "[:SOURce#]:PULSe:WIDTh#", 1e-7, 1.5e-9, 1e6, "s", couple="_couple_timing"),
        Num("pulse_dcycle", "[:SOURce#]:PULSe:DCYCle#", 10.0, 0.15, 99.99, "%", couple="_couple_timing"),
        Choice("hold", "[:SOURce#]:PULSe:HOLD#", "WIDT", ("WIDTh", "DCYCle")),
        # the same pulse settings under the FUNCtion subsystem (programming guide)
        Num("width", "[:SOURce#]:FUNCtion#:PULSe:WIDTh", 1e-7, 1.5e-9, 1e6, "s", couple="_couple_timing",
            alias=True),
        Num("pulse_dcycle", "[:SOURce#]:FUNCtion#:PULSe:DCYCle", 10.0, 0.15, 99.99, "%", couple="_couple_timing",
            alias=True),
        Choice("hold", "[:SOURce#]:FUNCtion#:PULSe:HOLD", "WIDT", ("WIDTh", "DCYCle"), alias=True),
        Num("transition", "[:SOURce#]:PULSe:TRANsition#[:LEADing]", 5e-9, 1e-9, 1e3, "s"),
        Num("transition", "[:SOURce#]:FUNCtion#:PULSe:TRANsition[:LEADing]", 5e-9, 1e-9, 1e3, "s",
            alias=True),
        Num("trailing", "[:SOURce#]:PULSe:TRANsition#:TRAiling", 5e-9, 1e-9, 1e3, "s"),
        Num("square_dcycle", "[:SOURce#]:FUNCtion#:SQUare:DCYCle", 50.0, 0.0001515, 99.9998485, "%"),
        Num("ramp_symmetry", "[:SOURce#]:FUNCtion#:RAMP:SYMMetry", 100.0, 0.0, 100.0, "%"),
        Num("phase", "[:SOURce#]:PHASe#[:ADJust]", 0.0, -360.0, 360.0, "deg"),
        # burst, trigger, arm
        Bool("burst", "[:SOURce#]:BURSt#:STATe", False),
        Choice("burst_mode", "[:SOURce#]:BURSt#:MODE", "TRIG", ("TRIGgered", "GATed")),
        Int("ncycles", "[:SOURce#]:BURSt#:NCYCles", 2, 2, 2_147_483_647),
        Num("burst_period", "[:SOURce#]:BURSt#:INTernal:PERiod", 1e-3, 3.03e-9, 1e6, "s"),
        Int("trig_count", ":TRIGger#:COUNt", 1, 1, 2_147_483_647, couple="_couple_trig_count"),
        Choice("trig_source", ":TRIGger#:SOURce", "IMM", TRIGGER_SOURCES),
        Choice("arm", ":ARM:SOURce#", "IMM", TRIGGER_SOURCES),
        # output
        Bool("output", ":OUTPut#[:STATe]", False),
        Choice("polarity", ":OUTPut#:POLarity", "NORM", ("NORMal", "INVerted")),
        # 0.3 ohm .. 1 Mohm, or INFinity (high impedance); MAXimum is 1 Mohm
        Num("load", ":OUTPut#:LOAD", 50.0, 0.3, float("inf"), "ohm", mx=1e6, couple="_couple_load"),
        Bool("trigger_out", ":OUTPut#:TRIGger", False),
        Bool("coupled", ":TRACe:CHANnel#", False),
        Text("display", ":DISPlay:TEXT", ""),
    )

    def reset(self):
        super().reset()
        for st in self.state.values():
            st["user"] = "VOLATILE"
        self.volatile: dict[int, list[int] | None] = {1: None, 2: None}
        if not hasattr(self, "nvol"):  # non-volatile memory survives *RST
            self.nvol: dict[str, list[int]] = {}
        self.trigger_log: list[dict] = []  # what was fired (for tests and benchmarks)

    # -- coupling ---------------------------------------------------------------------------
    @staticmethod
    def _window(st) -> float:
        """The level window at the load: +-5 V into 50 ohm, -> +-10 V open circuit."""
        return V_WINDOW_50 * 2 / Keysight81160ASim.delivered_factor(st)

    @staticmethod
    def delivered_factor(st) -> float:
        """What the cell gets per programmed volt.  The level is programmed for the load
        setting L behind the 50 ohm source (the open-circuit voltage is level x (L + 50)/L);
        a cell is high impedance (>> 50 ohm), so it sees that open-circuit voltage: twice
        the level with the default 50 ohm setting, the level itself with INFinity."""
        load = st["load"]
        return 1.0 if load == float("inf") else (load + SOURCE_IMPEDANCE) / load

    def _check_levels(self, st, high: float, low: float) -> None:
        w = self._window(st)
        min_amp = MIN_AMPLITUDE_50 * w / V_WINDOW_50
        if high - low < min_amp - 1e-12:
            raise SCPIError(-221, f"high {high:g} V must exceed low {low:g} V by {min_amp:g} V")
        if max(abs(high), abs(low)) > w + 1e-12:
            raise SCPIError(-221, f"levels {low:g}..{high:g} V exceed +-{w:g} V at a {st['load']:g} ohm load")
        self._check_limits(st, high, low)

    @staticmethod
    def _check_limits(st, high, low) -> None:
        if st["limit_state"] and (high > st["limit_high"] + 1e-12 or low < st["limit_low"] - 1e-12):
            raise SCPIError(-221, f"levels {low:g}..{high:g} V outside the voltage limits "
                                  f"{st['limit_low']:g}..{st['limit_high']:g} V")

    def _store_levels(self, st, high: float, low: float) -> None:
        st["high"], st["low"] = high, low
        st["amplitude"], st["offset"] = high - low, (high + low) / 2

    def _couple_levels(self, ch, prop, v):
        st = self.state[ch]
        name = prop.name
        if name == "offset" and st["shape"] == "DC":
            # DC: the offset is the level; the amplitude does not apply
            w = self._window(st)
            if abs(v) > w + 1e-12:
                raise SCPIError(-221, f"DC level {v:g} V exceeds +-{w:g} V at a {st['load']:g} ohm load")
            self._check_limits(st, v, v)
            a = st["amplitude"]
            st["offset"], st["high"], st["low"] = v, v + a / 2, v - a / 2
            return
        high, low = st["high"], st["low"]
        if name == "amplitude":
            high, low = st["offset"] + v / 2, st["offset"] - v / 2
        elif name == "offset":
            high, low = v + st["amplitude"] / 2, v - st["amplitude"] / 2
        elif name == "high":
            high = v
        else:
            low = v
        self._check_levels(st, high, low)
        self._store_levels(st, high, low)

    def _couple_limits(self, ch, prop, v):
        st = self.state[ch]
        new = dict(st)
        new[prop.name] = v
        if new["limit_low"] >= new["limit_high"]:
            raise SCPIError(-221, "the low limit must be below the high limit")
        if new["limit_state"]:
            lo, hi = (st["offset"], st["offset"]) if st["shape"] == "DC" else (st["low"], st["high"])
            self._check_limits(new, hi, lo)
        st[prop.name] = v

    def _couple_load(self, ch, prop, v):
        if v != float("inf") and v > 1e6:
            raise SCPIError(-222, f"load {v:g} ohm outside [0.3, 1e+06] ohm (or INFinity)")
        st = self.state[ch]
        st["load"] = v
        # the levels are voltages at the load: a load whose window is smaller brings them
        # inside it (never outside the voltage limits), instead of refusing the load
        w = self._window(st)
        if st["shape"] == "DC":
            if abs(st["offset"]) > w:
                st["offset"] = max(-w, min(w, st["offset"]))
                st["high"], st["low"] = st["offset"] + st["amplitude"] / 2, st["offset"] - st["amplitude"] / 2
        elif max(abs(st["high"]), abs(st["low"])) > w:
            high, low = max(-w, min(w, st["high"])), max(-w, min(w, st["low"]))
            if high - low < MIN_AMPLITUDE_50 * w / V_WINDOW_50:
                low = high - MIN_AMPLITUDE_50 * w / V_WINDOW_50
            self._store_levels(st, high, low)

    def _check_freq(self, shape: str, f: float) -> None:
        fmax = FREQ_MAX.get(shape)
        if fmax is not None and f > fmax * (1 + 1e-9):
            raise SCPIError(-221, f"{f:g} Hz above the {shape} function's {fmax:g} Hz")

    def _couple_timing(self, ch, prop, v):
        st = self.state[ch]
        name = prop.name
        period, width = st["period"], st["width"]
        if name in ("freq", "period") and st["shape"] != "PULS":
            # the width limits only the pulse function: elsewhere the period is free, and the
            # pulse settings are brought to fit when the pulse function is chosen again
            period = 1.0 / v if name == "freq" else v
            self._check_freq(st["shape"], 1.0 / period)
            st["freq"], st["period"] = 1.0 / period, period
            return
        if name in ("freq", "period"):
            period = 1.0 / v if name == "freq" else v
            self._check_freq(st["shape"], 1.0 / period)
            if st["hold"] == "DCYC" or width >= period:
                # the width limits only the pulse function: elsewhere (and when a held
                # width no longer fits) the pulse keeps its duty cycle
                width = st["pulse_dcycle"] / 100.0 * period
        elif name == "width":
            width = v
        else:  # duty cycle
            width = v / 100.0 * period
        if width < 1.5e-9 or width >= period:
            raise SCPIError(-221, f"width {width:g} s must be shorter than the period {period:g} s")
        st["freq"], st["period"], st["width"] = 1.0 / period, period, width
        st["pulse_dcycle"] = 100.0 * width / period

    def _couple_shape(self, ch, prop, v):
        st = self.state[ch]
        self._check_freq(v, st["freq"])
        if v == "PULS" and (st["width"] >= st["period"] or st["hold"] == "DCYC"):
            width = st["pulse_dcycle"] / 100.0 * st["period"]   # the pulse keeps its duty cycle
            if width < 1.5e-9:
                raise SCPIError(-221, f"a {st['period']:g} s period leaves no pulse width of at least 1.5 ns")
            st["width"] = width
        if v != "DC" and st["shape"] == "DC":
            self._check_levels(st, st["high"], st["low"])
        st["shape"] = v

    def _couple_trig_count(self, ch, prop, v):
        # TRIG:COUN n is the short form of BURS:NCYC n with the burst on (n > 1)
        st = self.state[ch]
        st["trig_count"] = v
        st["burst"] = v > 1
        if v > 1:
            st["ncycles"] = v

    # -- what the chip lines see ----------------------------------------------------------------
    def outputs_on(self):
        return [f"ch{n}" for n, st in self.state.items() if st["output"]]

    def terminal_level(self, term: str):
        try:
            st = self.state[int(term.removeprefix("ch"))]
        except (ValueError, KeyError):
            return None
        if not st["output"]:
            return None  # output relay open
        lvl = (st["offset"] if st["shape"] == "DC" else st["low"]) * self.delivered_factor(st)
        return -lvl if st["polarity"] == "INV" else lvl

    def bus_trigger(self):
        longest = 0.0
        world = self.world
        for n, st in self.state.items():
            shape = st["shape"]
            if not st["output"] or st["arm"] not in ("MAN", "BUS") or shape in ("DC", "NOIS"):
                continue
            if not (st["burst"] or st["trig_count"] > 1 or shape == "PULS"):
                continue
            count = st["ncycles"] if st["burst"] else st["trig_count"]
            high = (-st["high"] if st["polarity"] == "INV" else st["high"]) * self.delivered_factor(st)
            width = st["width"] if shape == "PULS" else 0.5 / st["freq"]
            self.trigger_log.append({"channel": n, "count": count, "high": high, "width": width})
            if world is not None and world.wiring is not None:
                world.wiring.pulse(world, f"{self.name}.ch{n}", high, width, count)
            longest = max(longest, count / st["freq"])
        if world is not None:
            world.clock.advance(longest)

    # -- behaviour commands ---------------------------------------------------------------------
    @command(":TRIGger#[:SEQuence][:IMMediate]")
    def _trig_now(self, args, sfx):
        nargs(args, 0)
        self.bus_trigger()

    @command(":DISPlay:TEXT:CLEar")
    def _disp_clear(self, args, sfx):
        nargs(args, 0)
        self.state[1]["display"] = ""

    def _ch(self, sfx) -> int:
        for s in sfx:
            if s is not None:
                if s not in self.state:
                    raise SCPIError(-114, f"channel {s} (1..2)")
                return s
        return 1

    def _apply(self, shape, args, sfx):
        """APPLy <freq>, <ampl>, <offset>: all three checked first, then set together."""
        nargs(args, 0, 3)
        st = self.state[self._ch(sfx)]
        freq = to_float(args[0], 1e-6, 500e6, default=st["freq"]) if len(args) > 0 else st["freq"]
        ampl = to_float(args[1], 0.0, 20.0, default=st["amplitude"]) if len(args) > 1 else st["amplitude"]
        offs = to_float(args[2], -10.0, 10.0, default=st["offset"]) if len(args) > 2 else st["offset"]
        if shape == "DC":  # the level is the offset; frequency and amplitude do not apply
            w = self._window(st)
            if abs(offs) > w + 1e-12:
                raise SCPIError(-221, f"DC level {offs:g} V exceeds +-{w:g} V at a {st['load']:g} ohm load")
            self._check_limits(st, offs, offs)
            a = st["amplitude"]
            st["shape"], st["offset"], st["high"], st["low"] = "DC", offs, offs + a / 2, offs - a / 2
            return
        high, low = offs + ampl / 2, offs - ampl / 2
        self._check_freq(shape, freq)
        self._check_levels(st, high, low)
        period = 1.0 / freq
        self._store_levels(st, high, low)
        st["shape"] = shape
        if shape != "NOIS":
            if st["width"] >= period:     # a held width that no longer fits: the duty cycle is kept
                st["width"] = st["pulse_dcycle"] / 100.0 * period
            st["freq"], st["period"], st["pulse_dcycle"] = freq, period, 100.0 * st["width"] / period

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

    @command(":APPLy#:RAMP")
    def _apply_ramp(self, args, sfx):
        self._apply("RAMP", args, sfx)

    @command(":APPLy#:NOISe")
    def _apply_noise(self, args, sfx):
        self._apply("NOIS", args, sfx)

    @command(":APPLy#:USER")
    def _apply_user(self, args, sfx):
        self._apply("USER", args, sfx)

    @command(":APPLy#", query=True)
    def _apply_q(self, args, sfx):
        st = self.state[self._ch(sfx)]
        return f'"{st["shape"]} {fmt(st["freq"])},{fmt(st["amplitude"])},{fmt(st["offset"])}"'

    # -- user waveforms -------------------------------------------------------------------------
    @command("[:SOURce#]:FUNCtion#:USER")
    def _user(self, args, sfx):
        nargs(args, 1)
        name = args[0].strip().strip("\"'").upper()
        if name != "VOLATILE" and name not in self.nvol:
            raise SCPIError(-224, f"no user waveform {name}")
        self.state[self._ch(sfx)]["user"] = name

    @command("[:SOURce#]:FUNCtion#:USER", query=True)
    def _user_q(self, args, sfx):
        return self.state[self._ch(sfx)]["user"]

    @command(":DATA#:DAC")
    def _dac(self, args, sfx):
        nargs(args, 2)
        to_enum(args[0], ["VOLATILE"])
        tok = args[1].strip()
        if tok.startswith("#BLOCK"):
            raw = self.blocks[int(tok[6:])]
            if len(raw) % 2:
                raise SCPIError(-160, "odd number of bytes for 16-bit values")
            values = list(struct.unpack(f">{len(raw) // 2}h", raw))
        else:
            values = [int(to_float(t)) for t in args[1:]]
        if not 2 <= len(values) <= 524288:
            raise SCPIError(-222, f"{len(values)} points; a waveform has 2..524288")
        if any(abs(v) > MAX_DAC for v in values):
            raise SCPIError(-222, f"DAC values must lie in -{MAX_DAC}..{MAX_DAC}")
        self.volatile[self._ch(sfx)] = values

    @command(":DATA#:COPY")
    def _copy(self, args, sfx):
        nargs(args, 1, 2)
        name = args[0].strip().strip("\"'").upper()
        if not name[:1].isalpha() or len(name) > 12 or not all(c.isalnum() or c == "_" for c in name):
            raise SCPIError(-224, f"waveform name {name!r}: a letter, then up to 11 of A-Z 0-9 _")
        data = self.volatile[self._ch(sfx)]
        if data is None:
            raise SCPIError(-221, "no volatile waveform to copy")
        if name not in self.nvol and len(self.nvol) >= NVOL_SLOTS:
            raise SCPIError(-221, "non-volatile memory full")
        self.nvol[name] = list(data)

    @command(":DATA#:DELete")
    def _del(self, args, sfx):
        nargs(args, 1)
        name = args[0].strip().strip("\"'").upper()
        if name not in self.nvol:
            raise SCPIError(-224, f"no user waveform {name}")
        if any(st["user"] == name and st["shape"] == "USER" and st["output"] for st in self.state.values()):
            raise SCPIError(-221, f"waveform {name} is playing")
        del self.nvol[name]

    @command(":DATA#:NVOLatile:CATalog", query=True)
    def _cat(self, args, sfx):
        return ",".join(f'"{n}"' for n in ["VOLATILE", *self.nvol])

    @command(":DATA#:NVOLatile:FREE", query=True)
    def _free(self, args, sfx):
        return str(NVOL_SLOTS - len(self.nvol))
