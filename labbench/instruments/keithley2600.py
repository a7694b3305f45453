"""Keithley 2600B SourceMeter: adapters over the PyMeasure and QCoDeS drivers, and the
on-instrument pulse-and-read path (TSP).

The adapters give the ``source_meter`` role channel A (terminal ``hi``); channel B
(terminal ``b``) is used by the TSP path as the word-line (gate) source.  The drivers
are used unchanged; the TSP text they send for us (:data:`PULSE_READ_SCRIPT`, the
rehearsal) is written here because neither driver has a pulse-train feature.

Labs make pulse loops fast on a 2600B by uploading a script once and calling it once
per train instead of a round trip per pulse: :class:`TspPulseTrain` does that on a
bench.  Every script is checked before it is sent: its parameters against the bench's
limits, and the whole script by a rehearsal on a simulated 2600B (the real Lua
interpreter) that refuses any level or limit outside the bench's limits, whether it is
a literal, computed in a loop, or set by an uploaded script.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

_ids = itertools.count(1)


def _refuse(message: str):
    """The roles' SafetyError (imported here: roles -> config -> drivers -> this module)."""
    from .roles import SafetyError

    return SafetyError(message)


# -- adapters -------------------------------------------------------------------------------
class PyMeasureKeithley2600:
    """PyMeasure's ``Keithley2600`` (channel A as the source meter)."""

    def __init__(self, name: str, address: str, visa_library):
        import warnings

        from pymeasure.instruments.keithley import Keithley2600

        with warnings.catch_warnings():  # "not known whether this device supports SCPI": it is TSP
            warnings.simplefilter("ignore", FutureWarning)
            self.drv = Keithley2600(address, visa_library=visa_library)
        self.ch = self.drv.ChA
        self._v = None
        self._on = None

    def idn(self) -> str:
        return self.drv.id

    def resource(self):
        return getattr(self.drv.adapter, "connection", None)

    def configure(self, compliance: float, nplc: float) -> None:
        self.ch.apply_voltage(compliance_current=compliance)
        self.ch.measure_current(nplc=nplc)

    def set_voltage(self, v: float) -> None:
        if v != self._v:
            self.ch.source_voltage = v
            self._v = v

    def output(self, on: bool) -> None:
        if on != self._on:
            self.ch.source_output = "ON" if on else "OFF"
            self._on = on

    def measure_current(self) -> float:
        return float(self.ch.current)

    def biased(self) -> bool:
        return self._on is not False and self._v != 0.0

    def off(self) -> None:
        self._v = self._on = None
        for ch in (self.drv.ChA, self.drv.ChB):
            ch.source_voltage = 0.0
            ch.source_output = "OFF"

    def settings(self) -> dict:
        c = self.ch
        return {"source_mode": c.source_mode, "source_voltage": c.source_voltage,
                "compliance_current": c.compliance_current, "nplc": c.measure_nplc,
                "output": c.source_output}

    def errors(self) -> list:
        return self.drv.check_errors()

    # TSP: a chunk (or a whole script upload) in one write; a reply line
    def tsp_write(self, text: str) -> None:
        self._v = self._on = None  # the script may change what the cache remembers
        self.drv.write(text)

    def tsp_read(self) -> str:
        return self.drv.read()

    def close(self) -> None:
        self.drv.adapter.close()
        self.drv.adapter.connection = None  # see PyMeasureKeithley2450.close


class QCoDeSKeithley2600:
    """QCoDeS's ``Keithley2636B`` (``smua`` as the source meter)."""

    def __init__(self, name: str, address: str, visa_library):
        from qcodes.instrument_drivers.Keithley import Keithley2636B

        self.drv = Keithley2636B(f"{name}_{next(_ids)}", address, visalib=visa_library or None)
        self.ch = self.drv.smua
        self._v = None
        self._on = None

    def idn(self) -> str:
        return ",".join(str(v) for v in self.drv.get_idn().values())

    def resource(self):
        return self.drv.visa_handle

    def configure(self, compliance: float, nplc: float) -> None:
        self.ch.mode("voltage")
        self.ch.limiti(compliance)
        self.ch.nplc(nplc)

    def set_voltage(self, v: float) -> None:
        if v != self._v:
            self.ch.volt(v)
            self._v = v

    def output(self, on: bool) -> None:
        if on != self._on:
            self.ch.output(on)
            self._on = on

    def measure_current(self) -> float:
        return float(self.ch.curr())

    def biased(self) -> bool:
        return self._on is not False and self._v != 0.0

    def off(self) -> None:
        self._v = self._on = None
        for ch in (self.drv.smua, self.drv.smub):
            ch.volt(0.0)
            ch.output(False)

    def settings(self) -> dict:
        c = self.ch
        return {"mode": c.mode(), "limiti": c.limiti(), "nplc": c.nplc(), "output": c.output()}

    def errors(self) -> list:
        out = []
        while True:
            code, _, rest = self.drv.ask("errorqueue.next()").partition("\t")
            if int(float(code)) == 0:
                return out
            out.append((int(float(code)), rest.split("\t")[0]))

    def tsp_write(self, text: str) -> None:
        self._v = self._on = None
        self.drv.visa_handle.write(text)

    def tsp_read(self) -> str:
        return self.drv.visa_handle.read()

    def close(self) -> None:
        self.drv.close()


# -- the pulse-and-read script --------------------------------------------------------------
SCRIPT_NAME = "labbench_pulse_read"
PULSE_READ_SCRIPT = """\
function labbench_setup(ilim, nplc)
  -- both channels source volts; channel A's compliance and one reading of nplc cycles
  smua.source.func = smua.OUTPUT_DCVOLTS
  smub.source.func = smub.OUTPUT_DCVOLTS
  smua.source.limiti = ilim
  smua.measure.nplc = nplc
  smua.measure.count = 1
end

function labbench_pulse(amp, width, gate_p, v_read, gate_r)
  -- one SET pulse of amp for width with the gate at gate_p, then the read bias v_read
  -- with the gate at gate_r (the caller measures, then returns channel A to 0 V)
  smub.source.levelv = gate_p
  smua.source.levelv = amp
  delay(width)
  smua.source.levelv = 0
  smub.source.levelv = gate_r
  smua.source.levelv = v_read
end

function labbench_train(n, amp, width, gate_p, v_read, gate_r, ilim, nplc)
  -- n x (SET pulse of amp for width with the gate at gate_p, then one reading at v_read
  -- with the gate at gate_r); channel A on the bit line, channel B on the word line
  labbench_setup(ilim, nplc)
  smua.nvbuffer1.clear()
  smua.nvbuffer1.appendmode = 1
  smua.source.levelv = 0
  smub.source.levelv = gate_r
  smua.source.output = smua.OUTPUT_ON
  smub.source.output = smub.OUTPUT_ON
  for k = 1, n do
    labbench_pulse(amp, width, gate_p, v_read, gate_r)
    smua.measure.i(smua.nvbuffer1)
    smua.source.levelv = 0
  end
  smub.source.levelv = 0
  format.data = format.ASCII
  format.asciiprecision = 12
  printbuffer(1, n, smua.nvbuffer1.readings)
end

function labbench_program(nmax, dg, amp, width, gate_p, v_read, gate_r, ilim, nplc)
  -- closed loop on one cell: read G0, then SET pulse + read until G >= G0 + dg or nmax
  -- pulses; prints the pulse count, G0 and the last G
  labbench_setup(ilim, nplc)
  smub.source.levelv = gate_r
  smua.source.output = smua.OUTPUT_ON
  smub.source.output = smub.OUTPUT_ON
  smua.source.levelv = v_read
  local g0 = smua.measure.i() / v_read
  smua.source.levelv = 0
  local g, k = g0, 0
  while k < nmax and g < g0 + dg do
    labbench_pulse(amp, width, gate_p, v_read, gate_r)
    g = smua.measure.i() / v_read
    smua.source.levelv = 0
    k = k + 1
  end
  smub.source.levelv = 0
  format.data = format.ASCII
  format.asciiprecision = 12
  print(k, g0, g)
end
"""


def upload_text(name: str, body: str) -> str:
    """A script as one message: ``loadscript`` ... ``endscript``, then run it (which
    defines its functions)."""
    return f"loadscript {name}\n{body}endscript\n{name}()"


def rehearse(text: str, limits: dict[str, tuple[float | None, float | None]], timeout: float = 2.0,
             name: str = "smu") -> None:
    """Run ``text`` (TSP messages) on a simulated 2600B that refuses any level or limit
    outside ``limits`` ({'hi': (max |V|, max compliance), 'b': ...}).  Raises
    SafetyError with the instrument's messages if anything was refused or failed."""
    from labbench.sim.keithley2600b import Keithley2600BSim

    twin = Keithley2600BSim(None, name, "GPIB0::1::INSTR")  # named as on the bench: smu.hi, smu.b
    twin.limits = limits
    twin.visa_timeout = timeout
    twin.write(text.encode("ascii", "replace"))
    if len(twin.errors):
        msgs = []
        while len(twin.errors):
            msgs.append(twin.errors.pop())
        raise _refuse("TSP refused before sending (rehearsal on a simulated 2600B): "
                          + "; ".join(msgs) + "; nothing was sent")


class TspPulseTrain:
    """SET pulse-and-read trains run as a TSP script on a bench's Keithley 2600B.

    ``bench.source_meter`` must be a 2600B adapter (``tsp_write``/``tsp_read``), with
    channel A (``smu.hi``) and channel B (``smu.b``) wired to matrix inputs.  The cell's
    bit line goes to channel A, its word line to channel B, the source line to ground:
    one route, one call per train, one reply with every reading."""

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
        lim = bench.config.limits
        self.limits = {k: ((lim[t].max_voltage, getattr(lim[t], "max_compliance", None)) if t in lim else (0.0, 0.0))
                       for k, t in self.terms.items()}
        self.uploaded = False
        self._rehearsed: tuple | None = None

    def send(self, text: str) -> None:
        """Any TSP from the user (an assignment, a chunk, a whole ``loadscript`` upload):
        rehearsed against the bench's limits first, then sent as it is."""
        if not isinstance(text, str) or not text.isascii():
            raise _refuse("TSP text must be an ASCII string; nothing was sent")
        rehearse(text, self.limits, name=self.bench.source_meter.name)
        self.adapter.tsp_write(text)

    def upload(self) -> None:
        text = upload_text(SCRIPT_NAME, PULSE_READ_SCRIPT)
        rehearse(text, self.limits, name=self.bench.source_meter.name)
        self.adapter.tsp_write(text)
        self.uploaded = True

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

    def route(self, row: int, col: int, side: int) -> None:
        b = self.bench
        bit = f"{'BL' if side == 0 else 'BLB'}{col}"
        plan = [(self.terms["hi"], bit), ("ground", "SL"), (self.terms["b"], f"WL{row}")]
        paths = []
        for term, line in plan:
            card, out = b._pin(line)
            paths.append((card, b._port[term], out))
        b.switch_matrix.set_paths(paths)

    def _call(self, fn: str, first, rest: tuple) -> str:
        """``fn(first, *rest)`` on the instrument, rehearsed once per setting."""
        call = f"{fn}(%.12g, " % first + ", ".join("%.12g" % a for a in rest) + ")"
        if (fn, rest) != self._rehearsed:  # the whole call, on the simulated twin
            rehearse(upload_text(SCRIPT_NAME, PULSE_READ_SCRIPT) + "\n" + f"{fn}(1, " +
                     ", ".join("%.12g" % a for a in rest) + ")", self.limits, name=self.bench.source_meter.name)
            self._rehearsed = (fn, rest)
        if not self.uploaded:
            self.upload()
        return call

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
        call = self._call("labbench_program", int(n_max), (float(dg), *st))
        self.route(row, col, side)
        self.adapter.tsp_write(call)
        k, g0, g = (float(x) for x in self.adapter.tsp_read().split("\t"))
        return int(k), g0, g

    def run(self, row: int, col: int, side: int, n: int, amplitude: float | None = None,
            width: float | None = None, gate: float | None = None) -> np.ndarray:
        """``n`` SET pulses, each followed by a reading: the conductances (S) read after
        each pulse, as ``bench.pulse_cell(..., n=1)`` then ``bench.read_cell`` would."""
        op = self.bench.config.operating
        st = self._settings(amplitude, width, gate)
        self._check(n, *st)
        call = self._call("labbench_train", int(n), st)
        self.route(row, col, side)
        self.adapter.tsp_write(call)
        reply = self.adapter.tsp_read()
        currents = np.array([float(x) for x in reply.split(",")])
        if currents.size != n:
            raise RuntimeError(f"TSP pulse train: {currents.size} readings for {n} pulses: {reply[:80]!r}")
        return currents / op.read_voltage
