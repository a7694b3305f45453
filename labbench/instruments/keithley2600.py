"""Keithley 2600B SourceMeter: adapters over the PyMeasure and QCoDeS drivers, and the
on-instrument pulse-and-read path (TSP).

The adapters give the ``source_meter`` role channel A (terminal ``hi``); channel B
(terminal ``b``) is used by the TSP path as the word-line (gate) source.  The drivers
are used unchanged; the TSP chunks they send for us (:func:`call_chunk`, the rehearsal)
are written here because neither driver has a pulse-train feature.

Labs make pulse loops fast on a 2600B by running the loop on the instrument, one message
per train instead of a round trip per pulse: :class:`TspPulseTrain` does that on a
bench.  Two independent layers keep it inside the bench limits (docs/tsp-safety.md):
what labbench sends is safe by construction (generated chunks only, self-contained,
checking every level they compute against limits written into them, rehearsed on a
simulated 2600B first), and the simulated 2600B itself holds the bench limits like a
hardware interlock, whatever a script does.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from labbench.errors import SafetyError

from .error_queue import drain_error_queue
from .level_cache import LevelCache

_ids = itertools.count(1)


def _refuse(message: str):
    return SafetyError(message)


def tsp_errors(ask) -> list[tuple[int, str]]:
    """The 2600B's error queue as (code, message), bounded and checked like the SCPI
    instruments' (:func:`labbench.instruments.drivers.drain_error_queue`)."""
    return [(int(float(e.split("\t")[0])), e.split("\t")[1] if "\t" in e else "")
            for e in drain_error_queue(lambda: ask("print(errorqueue.next())")) if not e.startswith("(more")]


# -- adapters -------------------------------------------------------------------------------
class PyMeasureKeithley2600(LevelCache):
    """PyMeasure's ``Keithley2600`` (channel A as the source meter)."""

    def __init__(self, name: str, address: str, visa_library):
        import warnings

        from pymeasure.instruments.keithley import Keithley2600

        with warnings.catch_warnings():  # "not known whether this device supports SCPI": it is TSP
            warnings.simplefilter("ignore", FutureWarning)
            self.drv = Keithley2600(address, visa_library=visa_library)
        self.ch = self.drv.ChA

    def idn(self) -> str:
        return self.drv.id

    def resource(self):
        return getattr(self.drv.adapter, "connection", None)

    def configure(self, compliance: float, nplc: float) -> None:
        self.ch.apply_voltage(compliance_current=compliance)
        self.ch.measure_current(nplc=nplc)

    def _write_voltage(self, v: float) -> None:
        self.ch.source_voltage = v

    def _write_output(self, on: bool) -> None:
        self.ch.source_output = "ON" if on else "OFF"

    def measure_current(self) -> float:
        return float(self.ch.current)

    def source_current(self, level: float, voltage_limit: float, nplc: float = 1.0) -> None:
        """Current source, voltage limit, voltage measurement (outside the Protocol)."""
        self.forget_level()
        self.ch.apply_current(compliance_voltage=voltage_limit)
        self.ch.source_current = level
        self.ch.measure_voltage(nplc=nplc)

    def measure_voltage(self) -> tuple[float, bool]:
        v = float(self.ch.voltage)
        return v, self.drv.ask("print(smua.source.compliance)").strip() == "true"

    def _write_off(self) -> None:
        for ch in (self.drv.ChA, self.drv.ChB):
            ch.source_voltage = 0.0
            ch.source_output = "OFF"

    def settings(self) -> dict:
        c = self.ch
        return {"source_mode": c.source_mode, "source_voltage": c.source_voltage,
                "compliance_current": c.compliance_current, "nplc": c.measure_nplc,
                "output": c.source_output}

    def errors(self) -> list:
        return tsp_errors(self.drv.ask)

    # TSP: a chunk (or a whole script upload) in one write; a reply line
    def tsp_write(self, text: str) -> None:
        self.forget()  # the script may change what the cache remembers
        self.drv.write(text)

    def tsp_read(self) -> str:
        return self.drv.read()

    def close(self) -> None:
        self.drv.adapter.close()
        self.drv.adapter.connection = None  # see PyMeasureKeithley2450.close


class QCoDeSKeithley2600(LevelCache):
    """QCoDeS's ``Keithley2636B`` (``smua`` as the source meter)."""

    def __init__(self, name: str, address: str, visa_library):
        from qcodes.instrument_drivers.Keithley import Keithley2636B

        self.drv = Keithley2636B(f"{name}_{next(_ids)}", address, visalib=visa_library or None)
        self.ch = self.drv.smua

    def idn(self) -> str:
        return ",".join(str(v) for v in self.drv.get_idn().values())

    def resource(self):
        return self.drv.visa_handle

    def configure(self, compliance: float, nplc: float) -> None:
        self.ch.mode("voltage")
        self.ch.limiti(compliance)
        self.ch.nplc(nplc)

    def _write_voltage(self, v: float) -> None:
        self.ch.volt(v)

    def _write_output(self, on: bool) -> None:
        self.ch.output(on)

    def measure_current(self) -> float:
        return float(self.ch.curr())

    def _write_off(self) -> None:
        for ch in (self.drv.smua, self.drv.smub):
            ch.volt(0.0)
            ch.output(False)

    def settings(self) -> dict:
        c = self.ch
        return {"mode": c.mode(), "limiti": c.limiti(), "nplc": c.nplc(), "output": c.output()}

    def errors(self) -> list:
        return tsp_errors(lambda q: self.drv.ask(q.removeprefix("print(").removesuffix(")")))

    def tsp_write(self, text: str) -> None:
        self.forget()
        self.drv.visa_handle.write(text)

    def tsp_read(self) -> str:
        return self.drv.visa_handle.read()

    def close(self) -> None:
        self.drv.close()


# -- the pulse-and-read scripts -------------------------------------------------------------
# Safe on a real 2600B by construction, not only in the simulator: any script can redefine
# a global function or leave state behind on the instrument, so each call is one anonymous
# chunk that carries everything it uses.  Its functions are locals of that chunk (nothing
# sent before or after can reach or redefine them), the bench limits are constants written
# into it, every level it computes is checked against them before it reaches a channel,
# both channels' limits (limitv, limiti) are set in the chunk that turns the outputs on,
# and the outputs are off when it ends, by error or not.
PULSE_READ_LUA = """\
local VA, IA, VB, IB = {va!r}, {ia!r}, {vb!r}, {ib!r}
local A, B, M = smua.source, smub.source, smua.measure
local function off()
  A.levelv = 0 B.levelv = 0 A.output = 0 B.output = 0
end
local function lim(v, m, s)
  if type(v) ~= "number" or v ~= v or v > m or v < -m then
    off() error("labbench: " .. s .. " outside the bench limit", 0)
  end
end
local function on(amp, gp, vr, gr, il, nplc)
  -- every level this chunk sources is an argument, checked here against the limits above
  lim(amp, VA, "amplitude") lim(vr, VA, "read voltage") lim(gp, VB, "gate") lim(gr, VB, "read gate")
  lim(il, IA, "compliance")
  -- volts mode (1) on both channels, both channels' limits set, then outputs on (1)
  off()
  A.func = 1 B.func = 1 A.limitv = VA B.limitv = VB A.limiti = il B.limiti = IB
  M.nplc = nplc M.count = 1
  B.levelv = gr
  A.output = 1 B.output = 1
end
local function pulse(amp, w, gp, vr, gr)
  -- one SET pulse of amp for w with the gate at gp, then the read bias vr, gate at gr
  B.levelv = gp A.levelv = amp delay(w) A.levelv = 0 B.levelv = gr A.levelv = vr
end
local function reply()
  format.data = format.ASCII format.asciiprecision = 12
end
"""

TRAIN_LUA = """\
local function train(n, amp, w, gp, vr, gr, il, nplc)
  -- n x (SET pulse, one reading at vr); channel A on the bit line, B on the word line
  on(amp, gp, vr, gr, il, nplc)
  local buf = smua.nvbuffer1
  buf.clear() buf.appendmode = 1
  for k = 1, n do
    pulse(amp, w, gp, vr, gr) M.i(buf) A.levelv = 0
  end
  off() reply()
  printbuffer(1, n, buf.readings)
end
"""

PROGRAM_LUA = """\
local function program(nmax, dg, amp, w, gp, vr, gr, il, nplc)
  -- closed loop on one cell: read G0, then SET pulse + read until G >= G0 + dg or nmax
  -- pulses; prints the pulse count, G0 and the last G
  on(amp, gp, vr, gr, il, nplc)
  A.levelv = vr
  local g0 = M.i() / vr
  A.levelv = 0
  local g, k = g0, 0
  while k < nmax and g < g0 + dg do
    pulse(amp, w, gp, vr, gr) g = M.i() / vr A.levelv = 0 k = k + 1
  end
  off() reply()
  print(k, g0, g)
end
"""

TRIGGER_TRAIN_LUA = """\
local WMAX = {wmax!r}
local function ttrain(n, amp, w, gp, vr, gr, il, nplc)
  -- n x (a SET pulse timed by the trigger model, one reading at vr with its timestamp);
  -- channel A on the bit line, B on the word line
  if type(w) ~= "number" or w ~= w or w < 1e-6 or w > WMAX then
    off() error("labbench: pulse width outside the bench limit", 0)
  end
  on(amp, gp, vr, gr, il, nplc)
  local buf, T, tm = smua.nvbuffer1, smua.trigger, trigger.timer[1]
  buf.clear() buf.appendmode = 1 buf.collecttimestamps = 1
  -- one point per pulse: amp when the model starts, back to the idle level (0 V) when
  -- timer 1, started by the source action, ends the width: the width is the timer's
  tm.reset() tm.delay = w tm.count = 1 tm.passthrough = false tm.stimulus = T.SOURCE_COMPLETE_EVENT_ID
  T.source.listv({{amp}}) T.source.limiti = il T.source.action = smua.ENABLE T.measure.action = smua.DISABLE
  T.endpulse.action = smua.SOURCE_IDLE T.endpulse.stimulus = tm.EVENT_ID T.endsweep.action = smua.SOURCE_IDLE
  T.arm.count = 1 T.arm.stimulus = 0 T.source.stimulus = 0 T.measure.stimulus = 0 T.count = 1
  for k = 1, n do
    B.levelv = gp A.levelv = 0
    T.initiate() waitcomplete()
    B.levelv = gr A.levelv = vr M.i(buf) A.levelv = 0
  end
  off() reply()
  printbuffer(1, n, buf.readings, buf.timestamps)
end
"""

_BODIES = {"train": TRAIN_LUA, "program": PROGRAM_LUA, "ttrain": TRIGGER_TRAIN_LUA}


def _compact(lua: str) -> str:
    """The Lua without comments and indentation: fewer bytes on the bus per call."""
    lines = (" ".join(line.split("--", 1)[0].split()) for line in lua.splitlines())
    return "\n".join(line for line in lines if line)


def call_chunk(fn: str, args: tuple, limits: dict[str, tuple[float | None, float | None]],
               max_width: float = 1.0, body: str | None = None) -> str:
    """One self-contained TSP message that defines ``fn`` and its helpers as locals, with
    ``limits`` ({'hi': (V, A), 'b': (V, A)}) and the longest pulse ``max_width`` (s) written
    in, and calls it with ``args``.  ``body``: the Lua defining ``fn`` (default: labbench's
    own for ``fn``), with ``{wmax}`` where the longest pulse goes."""
    (va, ia), (vb, ib) = limits["hi"], limits["b"]
    head = PULSE_READ_LUA.format(va=float(va or 0.0), ia=float(ia or 0.0), vb=float(vb or 0.0),
                                 ib=float(ib if ib is not None else 1e-10))
    body = body if body is not None else _BODIES[fn]
    body = body.format(wmax=float(max_width)) if "{wmax" in body else body
    call = f"{fn}(" + ", ".join("%.12g" % a for a in args) + ")"
    return "loadandrunscript\n" + _compact(head + body) + "\n" + call + "\nendscript"


def rehearse(text: str, limits: dict[str, tuple[float | None, float | None]], timeout: float = 2.0,
             name: str = "smu") -> float:
    """Run ``text`` (TSP messages) on a simulated 2600B that refuses any level or limit
    outside ``limits`` ({'hi': (max |V|, max compliance), 'b': ...}).  Raises
    SafetyError with the instrument's messages if anything was refused or failed; else
    returns the instrument time it took (s)."""
    from labbench.sim.keithley2600b import Keithley2600BSim

    twin = Keithley2600BSim(None, name, "GPIB0::1::INSTR")  # named as on the bench: smu.hi, smu.b
    twin.set_limits(limits)
    twin.visa_timeout = timeout
    t0 = twin.now()
    twin.write(text.encode("ascii", "replace"))
    if len(twin.errors):
        msgs = []
        while len(twin.errors):
            msgs.append(twin.errors.pop())
        raise _refuse("TSP refused before sending (rehearsal on a simulated 2600B): "
                          + "; ".join(msgs) + "; nothing was sent")
    return twin.now() - t0


class TspPulseTrain:
    """SET pulse-and-read trains run as TSP on a bench's Keithley 2600B.

    ``bench.source_meter`` must be a 2600B adapter (``tsp_write``/``tsp_read``), with
    channel A (``smu.hi``) and channel B (``smu.b``) wired to matrix inputs.  The cell's
    bit line goes to channel A, its word line to channel B, the source line to ground:
    one route, one message per train, one reply with every reading.

    labbench sends only the chunks :func:`call_chunk` generates (there is no raw TSP
    entry point): each is checked here against the bench limits, rehearsed once per
    setting on a simulated 2600B, and checks its own levels on the instrument."""

    def __init__(self, bench):
        self.bench = bench
        adapter = bench.source_meter.adapter
        if not hasattr(adapter, "tsp_write"):
            raise ValueError(f"the source meter {bench.source_meter.name!r} does not run TSP scripts "
                             f"(a Keithley 2600B driver does)")
        self.adapter = adapter
        smu = bench.source_meter.name
        self.terms = {"hi": f"{smu}.hi", "b": f"{smu}.b"}
        for t in self.terms.values():
            if t not in bench._port:
                raise ValueError(f"TSP pulse trains need {t} wired to a matrix input")
        self.limits = bench.config.interlock_limits(smu, ("hi", "b"))
        # the longest pulse the bench allows: its pulse terminal's, as for the same pulse over SCPI
        op = bench.config.operating
        lim = bench.config.limits.get(op.pulse_terminal)
        self.max_width = float(lim.max_pulse_width) if lim is not None and lim.max_pulse_width else 1.0
        self._rehearsed: dict = {}          # setting -> instrument time of a 1-pulse rehearsal
        self._timed: dict = {}              # setting -> (fixed, per pulse) instrument time

    def _check(self, n, amp, width, gate_p, v_read, gate_r, ilim, nplc) -> None:
        for what, v in (("n", n), ("amplitude", amp), ("width", width), ("gate", gate_p),
                        ("read voltage", v_read), ("read gate", gate_r), ("compliance", ilim), ("nplc", nplc)):
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise _refuse(f"TSP pulse train: {what} must be a finite number, got {v!r}; nothing was sent")
        if int(n) != n or not 1 <= n <= 60000:
            raise _refuse(f"TSP pulse train: n must be an integer 1..60000, got {n}; nothing was sent")
        if not 0 < width <= 1.0 or not 0.001 <= nplc <= 25:
            raise _refuse(f"TSP pulse train: width {width} s must be in (0, 1], nplc {nplc} in 0.001..25; "
                              "nothing was sent")
        vmax_a, imax_a = self.limits["hi"]
        vmax_b, _ = self.limits["b"]
        for what, v, vmax, term in (("amplitude", amp, vmax_a, "hi"), ("read voltage", v_read, vmax_a, "hi"),
                                    ("gate", gate_p, vmax_b, "b"), ("read gate", gate_r, vmax_b, "b")):
            if abs(v) > vmax:
                raise _refuse(f"{self.terms[term]}: {what} {v} V outside the limit +-{vmax} V; nothing was sent")
        if not 0 < ilim <= (imax_a if imax_a is not None else math.inf):
            raise _refuse(f"{self.terms['hi']}: compliance {ilim} A outside (0, {imax_a}] A; nothing was sent")

    def _timeout(self) -> float | None:
        """The VISA timeout of the source meter's session (s), if the driver exposes it."""
        try:
            ms = self.adapter.resource().timeout
        except Exception:  # noqa: BLE001 - a driver without a resource: no check
            return None
        return float(ms) / 1000.0 if isinstance(ms, (int, float)) and math.isfinite(ms) else None

    def route(self, row: int, col: int, side: int) -> None:
        b = self.bench
        bit = f"{'BL' if side == 0 else 'BLB'}{col}"
        plan = [(self.terms["hi"], bit), ("ground", "SL"), (self.terms["b"], f"WL{row}")]
        paths = []
        for term, line in plan:
            card, out = b._pin(line)
            paths.append((card, b._port[term], out))
        b.switch_matrix.set_paths(paths)

    FN = "train"            # the chunk's function (:data:`_BODIES`)
    # pulses in the second rehearsal: Lua work is charged per 1000 instructions, so a
    # per-pulse time needs a train long enough to resolve it (to ~5 us a pulse)
    REHEARSED = 201

    def _chunk(self, fn: str, args: tuple) -> str:
        return call_chunk(fn, args, self.limits, self.max_width)

    def _call(self, fn: str, first, rest: tuple) -> str:
        """The chunk for ``fn(first, *rest)``, rehearsed once per setting (with 1 and
        ``REHEARSED`` pulses), and refused if the rehearsal's instrument time for ``first``
        pulses would pass the VISA timeout."""
        name = self.bench.source_meter.name
        if (fn, rest) not in self._rehearsed:        # every setting: its levels and limits
            self._rehearsed[(fn, rest)] = rehearse(self._chunk(fn, (1, *rest)), self.limits, name=name)
        timing = self._timing_key(fn, rest)
        if timing not in self._timed:                 # its duration (program's dg does not change it)
            k, t1 = self.REHEARSED, self._rehearsed[(fn, rest)]
            per = (rehearse(self._chunk(fn, (k, *rest)), self.limits, name=name, timeout=1e6) - t1) / (k - 1)
            self._timed[timing] = (t1 - per, per)    # fixed, per pulse
        fixed, per = self._timed[timing]
        timeout = self._timeout()
        # the duration the rehearsal measured, with a fifth of the timeout left for the reply
        if timeout is not None and fixed + first * per > 0.8 * timeout:
            raise _refuse(f"TSP pulse train: {first} pulses take {fixed + first * per:.3g} s of instrument time "
                          f"on the rehearsal, longer than the VISA timeout ({timeout:g} s) allows; use fewer "
                          "pulses per call or raise the timeout; nothing was sent")
        return self._chunk(fn, (first, *rest))

    def plan(self, n: int, amplitude: float | None = None, width: float | None = None,
             gate: float | None = None) -> float:
        """Check and rehearse a train of ``n`` pulses without sending anything: the
        instrument time it would take (s), or SafetyError."""
        st = self._settings(amplitude, width, gate)
        self._check(n, *st)
        self._call(self.FN, int(n), st)
        fixed, per = self._timed[self._timing_key(self.FN, st)]
        return fixed + n * per

    @staticmethod
    def _timing_key(fn: str, rest: tuple) -> tuple:
        # on the rehearsal's twin no cell answers, so program() always runs its n_max pulses
        return (fn, rest[1:] if fn == "program" else rest)

    def _settings(self, amplitude, width, gate):
        op = self.bench.config.operating
        return (op.set.amplitude if amplitude is None else amplitude, op.set.width if width is None else width,
                op.set.gate if gate is None else gate, op.read_voltage, op.read_gate, op.compliance, op.nplc)

    def program(self, row: int, col: int, side: int, dg: float, n_max: int = 8, amplitude: float | None = None,
                width: float | None = None, gate: float | None = None) -> tuple[int, float, float]:
        """Closed-loop SET on one cell: read G0, then pulse and read until G >= G0 + dg
        (S) or ``n_max`` pulses.  -> (pulses, G0, last G), as the same loop of
        ``bench.pulse_cell(..., n=1)`` and ``bench.read_cell`` gives."""
        st = self._settings(amplitude, width, gate)
        self._check(n_max, *st)
        if not (math.isfinite(dg) and 0 <= dg < 1.0):
            raise _refuse(f"TSP program: dg must be a finite conductance step in [0, 1) S, got {dg}; "
                          "nothing was sent")
        chunk = self._call("program", int(n_max), (float(dg), *st))
        self.route(row, col, side)
        self.adapter.tsp_write(chunk)
        what = f"{self.bench.source_meter.name}: TSP program"
        k, g0, g = (_reading(x, what) for x in _fields(self.adapter.tsp_read(), "\t", 3, what))
        return int(k), g0, g

    def run(self, row: int, col: int, side: int, n: int, amplitude: float | None = None,
            width: float | None = None, gate: float | None = None) -> np.ndarray:
        """``n`` SET pulses, each followed by a reading: the conductances (S) read after
        each pulse, as ``bench.pulse_cell(..., n=1)`` then ``bench.read_cell`` would."""
        st = self._settings(amplitude, width, gate)
        self._check(n, *st)
        chunk = self._call(self.FN, int(n), st)
        self.route(row, col, side)
        self.adapter.tsp_write(chunk)
        reply = self.adapter.tsp_read()
        what = f"{self.bench.source_meter.name}: TSP pulse train"
        values = np.array([_reading(x, what) for x in _fields(reply, ",", n * self.COLUMNS, what)])
        self._last = values.reshape(n, self.COLUMNS)
        return self._conductances(self._last[:, 0], st, what)

    COLUMNS = 1             # values per pulse in the reply

    def _conductances(self, currents: np.ndarray, st: tuple, what: str) -> np.ndarray:
        op = self.bench.config.operating
        ilim = st[-2]
        if np.any(np.abs(currents) > 1.05 * ilim + 1e-12):
            from labbench.errors import InstrumentFault

            raise InstrumentFault(f"{what}: a reading of {np.abs(currents).max():g} A is beyond the {ilim:g} A "
                                  f"compliance the chunk set: a truncated or garbled reply; nothing of it is recorded; "
                                  f"check the connection")
        return currents / op.read_voltage


class TspTriggerPulseTrain(TspPulseTrain):
    """The same SET pulse-and-read trains, with each pulse timed by the 2600B's trigger
    model instead of a Lua ``delay``: one sweep point per pulse, the source action puts the
    amplitude on channel A, timer 1 (started by it) ends the pulse back at the idle 0 V, so
    the width is the instrument's timer, not the script's timing.  Each reading is taken at
    the read bias as on the loop path and kept with its timestamp.

    Limits as for :class:`TspPulseTrain`, plus the width: at most the bench's pulse-width
    limit (that of its pulse terminal, as the same pulse over SCPI), written into the chunk
    and checked there, and not below the timer's 1 us.  The train's duration is computed
    by the rehearsal and refused before sending if the VISA timeout would cut it."""

    FN = "ttrain"
    COLUMNS = 2             # a reading and its timestamp per pulse

    def _check(self, n, amp, width, gate_p, v_read, gate_r, ilim, nplc) -> None:
        super()._check(n, amp, width, gate_p, v_read, gate_r, ilim, nplc)
        if not 1e-6 <= width <= self.max_width:
            raise _refuse(f"TSP trigger-model pulse train: width {width:g} s outside 1e-06..{self.max_width:g} s "
                          "(the trigger timer's resolution, the bench's pulse-width limit); nothing was sent")

    def program(self, *args, **kwargs):
        raise NotImplementedError("the trigger-model path runs trains; closed-loop programming is TspPulseTrain's")

    def run_timed(self, row: int, col: int, side: int, n: int, amplitude: float | None = None,
                  width: float | None = None, gate: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(conductances (S), times of the readings (s) after the first) of ``n`` pulses."""
        g = self.run(row, col, side, n, amplitude, width, gate)
        stamps = self._last[:, 1]
        return g, stamps - stamps[0]


def _fields(reply: str, sep: str, n: int, what: str) -> list[str]:
    from labbench.errors import InstrumentFault

    parts = reply.split(sep)
    if len(parts) != n:
        raise InstrumentFault(f"{what}: the 2600B answered {len(parts)} values where {n} were expected "
                           f"({reply[:80]!r}); a truncated or garbled reply, nothing recorded from it")
    return parts


def _reading(text: str, what: str) -> float:
    """A number the 2600B printed: finite, or the run fails naming what it said."""
    from labbench.errors import InstrumentFault

    try:
        v = float(text)
    except ValueError:
        raise InstrumentFault(f"{what}: the 2600B answered {text.strip()[:40]!r}, not a number") from None
    if not math.isfinite(v):
        raise InstrumentFault(f"{what}: the 2600B answered {text.strip()!r}; a reading must be finite")
    return v
