"""Program-verify as one generated TSP script per cell, run on a Keithley 2600B.

The algorithm is :mod:`labbench.array.program_verify` (ISPP with verify, each direction's
ramp resuming ``backoff`` steps lower at a turn), written once more in Lua so that the loop
of pulses and reads runs on the instrument: one message and one reply per cell instead of
a round trip per pulse.  Channel A drives the bit line (SET pulses positive; RESET pulses
negative on the bit line with the source line grounded, the same polarity as SL above BL),
channel B the word line.  Overshoot ``reset`` (turn round) and ``stop`` run on the
instrument; ``restart`` needs the SMU's full RESET between pulses and is left to the
cell-by-cell face.

Safe as the other chunks are (:mod:`labbench.instruments.keithley2600`): the chunk carries
its functions as locals, the bench limits and the longest pulse are constants written into
it, every level it computes is checked against them before it reaches a channel, the
outputs are off when it ends, and it is rehearsed on a simulated 2600B before anything is
sent.  The Python side checks the settings first (the ramps' every level up to the budget).
"""
from __future__ import annotations

import math

import numpy as np

from .keithley2600 import TspPulseTrain, _reading, _refuse

# {wmax!r} is the bench's longest pulse; doubled braces are Lua table constructors
VERIFY_LUA = """\
local WMAX = {wmax!r}
local function ramp(k, a, as, am, w, wf, wm, g, gs, gm)
  -- pulse k of a ramp: each of amplitude, width and gate grows until its maximum
  return math.min(a + k * as, am), math.min(w * wf ^ k, wm), math.min(g + k * gs, gm)
end
local function verify(nmax, target, tol, back, stop, sa, sas, sam, sw, swf, swm, sg, sgs, sgm,
                      ra, ras, ram, rw, rwf, rwm, rg, rgs, rgm, vr, gr, il, nplc)
  -- ISPP with verify on one cell; prints converged (1/0), the pulses sent, and per
  -- operation "kind,amplitude,width,gate,read" (kind 0 read, 1 SET, 2 RESET)
  if type(nmax) ~= "number" or nmax < 1 or nmax > 10000 or type(target) ~= "number" or target <= 0
     or target ~= target or type(tol) ~= "number" or tol <= 0 or tol >= 1 then
    off() error("labbench: program-verify settings outside their range", 0)
  end
  for _, w in ipairs({{sw, swm, rw, rwm}}) do
    if type(w) ~= "number" or w ~= w or w <= 0 or w > WMAX then
      off() error("labbench: pulse width outside the bench limit", 0)
    end
  end
  on(sam, sgm, vr, gr, il, nplc)
  lim(sa, VA, "SET amplitude") lim(ram, VA, "RESET amplitude") lim(ra, VA, "RESET amplitude")
  lim(sg, VB, "SET gate") lim(rg, VB, "RESET gate") lim(rgm, VB, "RESET gate")
  local out = {{}}
  A.levelv = vr local g = M.i() / vr A.levelv = 0
  out[1] = "0,0,0,0," .. string.format("%.12g", g)
  local n, ks, kr, last, conv = 0, 0, 0, 0, 0
  while true do
    if math.abs(g - target) <= tol * target then conv = 1 break end
    local d = 1
    if g > target then d = -1 end
    if last ~= 0 and d ~= last then
      if stop == 1 then break end
      if d == 1 then ks = math.max(ks - back, 0) else kr = math.max(kr - back, 0) end
    end
    if n >= nmax then break end
    local amp, w, gt, level
    if d == 1 then
      amp, w, gt = ramp(ks, sa, sas, sam, sw, swf, swm, sg, sgs, sgm) ks = ks + 1 level = amp
    else
      amp, w, gt = ramp(kr, ra, ras, ram, rw, rwf, rwm, rg, rgs, rgm) kr = kr + 1 level = -amp
    end
    lim(level, VA, "pulse amplitude") lim(gt, VB, "pulse gate")
    if w <= 0 or w > WMAX then off() error("labbench: pulse width outside the bench limit", 0) end
    B.levelv = gt A.levelv = level delay(w) A.levelv = 0
    B.levelv = gr A.levelv = vr g = M.i() / vr A.levelv = 0
    n = n + 1 last = d
    out[#out + 1] = string.format("%d,%.6g,%.6g,%.6g,%.12g", d == 1 and 1 or 2, amp, w, gt, g)
  end
  off() reply()
  print(conv, n, table.concat(out, ";"))
end
"""


class TspProgramVerify(TspPulseTrain):
    """Program-verify one cell per TSP message on a bench's 2600B (see the module doc)."""

    FN = "verify"

    def _chunk(self, fn: str, args: tuple) -> str:
        from .keithley2600 import call_chunk

        return call_chunk(fn, args, self.limits, self.max_width, body=VERIFY_LUA if fn == "verify" else None)

    @staticmethod
    def _timing_key(fn: str, rest: tuple) -> tuple:
        return (fn, rest[1:])      # the target does not change the worst case (the rehearsal's cell never answers)

    def _args(self, settings, target: float) -> tuple:
        """The chunk's arguments after the pulse budget, checked before anything is built."""
        if settings.overshoot not in ("reset", "stop"):
            raise _refuse(f"TSP program-verify: overshoot {settings.overshoot!r} needs the SMU's full RESET between "
                          "pulses; run it cell by cell (labbench measure program-verify) or use 'reset' or 'stop'; "
                          "nothing was sent")
        if settings.initial_reset:
            raise _refuse("TSP program-verify: initial_reset needs the SMU's full RESET; run it cell by cell "
                          "(labbench measure program-verify); nothing was sent")
        op = self.bench.config.operating
        ramps = []
        for ramp, nominal in ((settings.set, op.set), (settings.reset, op.reset)):
            gate = nominal.gate if ramp.gate is None else ramp.gate
            top = ramp.at(max(settings.max_pulses - 1, 0))
            ramps += [ramp.amplitude, ramp.amplitude_step, float(top[0]), ramp.width, ramp.width_factor,
                      float(top[1]), gate, ramp.gate_step, gate if top[2] is None else float(top[2])]
        args = (float(target), settings.tolerance, settings.backoff, 1 if settings.overshoot == "stop" else 0,
                *ramps, op.read_voltage, op.read_gate, op.compliance, op.nplc)
        for v in args:
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise _refuse(f"TSP program-verify: a setting is not a finite number ({v!r}); nothing was sent")
        if not target > 0:
            raise _refuse(f"TSP program-verify: target {target!r} S must be > 0; nothing was sent")
        vmax_a, imax_a = self.limits["hi"]
        vmax_b, _ = self.limits["b"]
        for what, v, vmax, term in (("SET amplitude", ramps[2], vmax_a, "hi"), ("RESET amplitude", ramps[11], vmax_a, "hi"),
                                    ("SET gate", ramps[8], vmax_b, "b"), ("RESET gate", ramps[17], vmax_b, "b")):
            if abs(v) > vmax:
                raise _refuse(f"{self.terms[term]}: {what} {v} V outside the limit +-{vmax} V; nothing was sent")
        for what, w in (("SET", ramps[5]), ("RESET", ramps[14])):
            if not 0 < w <= self.max_width:
                raise _refuse(f"TSP program-verify: the {what} ramp reaches a width of {w:g} s, beyond the bench's "
                              f"{self.max_width:g} s; nothing was sent")
        return args

    def plan_verify(self, settings, target: float = 1e-5) -> float:
        """Check and rehearse the chunk for ``settings`` without sending anything: its worst-case
        instrument time (s; the whole budget), or SafetyError."""
        args = self._args(settings, target)
        self._call(self.FN, int(settings.max_pulses), args)
        fixed, per = self._timed[self._timing_key(self.FN, args)]
        return fixed + settings.max_pulses * per

    def verify(self, row: int, col: int, side: int, target: float, settings) -> dict:
        """Program-verify one cell: {'converged', 'pulses', 'ops'}, ``ops`` an array of rows
        (kind, amplitude, width, gate, read), the first the read before any pulse."""
        args = self._args(settings, target)
        chunk = self._call(self.FN, int(settings.max_pulses), args)
        self.route(row, col, side)
        self.adapter.tsp_write(chunk)
        reply = self.adapter.tsp_read()
        what = f"{self.bench.source_meter.name}: TSP program-verify"
        parts = reply.strip().split("\t")
        if len(parts) != 3:
            from labbench.errors import InstrumentFault

            raise InstrumentFault(f"{what}: the 2600B answered {reply[:80]!r}; expected 'converged, pulses, "
                                  "operations': a truncated or garbled reply, nothing recorded from it")
        conv, n = int(_reading(parts[0], what)), int(_reading(parts[1], what))
        ops = np.array([[_reading(x, what) for x in op.split(",")] for op in parts[2].split(";")])
        if ops.shape != (n + 1, 5):
            from labbench.errors import InstrumentFault

            raise InstrumentFault(f"{what}: {ops.shape[0]} operations reported for {n} pulses; nothing recorded")
        op = self.bench.config.operating
        # the reads as currents, checked against the compliance the chunk set, then as I/V
        ops[:, 4] = self._conductances(ops[:, 4] * op.read_voltage, (op.compliance, op.nplc), what)
        return {"converged": bool(conv), "pulses": n, "ops": ops}
