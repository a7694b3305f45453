"""Simulated Lake Shore 335 temperature controller on a heated chuck (Model 335 user's
manual, chapter 6 "Computer interface operation": SETP, RANGE, RAMP, MOUT, KRDG?, ...).

Loop 1 (output 1, control input A) heats the chuck the chip sits on; the chip's retention
physics sees the chuck's temperature (:meth:`HeatedChuck.bring`, called by the world before
every operation on the chip), so a bake on this bench ages the chip as a bake ages a wafer.

The chuck is a first-order thermal mass: it approaches the (possibly ramping) set point
with ``tau_heat`` while the heater can deliver it, and cools passively towards the room
with ``tau_cool`` when the heater is off or the set point is below it (a hot chuck has no
cooling).  The heater ranges are the 335's power decades (high = full, medium 1/10, low
1/100), so the highest temperature each reaches is ``room + 1, 10 or 100 % of
(rating − room)``.  Readings carry 0.02 K of noise.  As on the 335, a mistyped command
sets the command-error bit of the standard event register (``*ESR?`` bit 5); there is no
error queue.
"""
from __future__ import annotations

import math

import numpy as np

from .instrument import SimInstrument
from .props import Int, Num
from .scpi import SCPIError, command, fmt, nargs, to_float, to_int

READ_NOISE_K = 0.02
#: a chip's temperature follows the chuck in steps no finer than this (K): finer steps change
#: nothing measurable and would apply drift at every transaction
CHIP_STEP_K = 0.25
_POWER = {0: 0.0, 1: 0.01, 2: 0.1, 3: 1.0}


class HeatedChuck:
    """The chuck's temperature against virtual time, integrated as the clock moves."""

    def __init__(self, room: float, rating: float, tau_heat: float = 30.0, tau_cool: float = 300.0):
        self.room, self.rating = float(room), float(rating)
        self.tau_heat, self.tau_cool = float(tau_heat), float(tau_cool)
        self.time = 0.0
        self.T = self.room
        self.setpoint = self.room         # the loop's set point now (it moves while ramping)
        self.target = self.room           # where a ramp ends
        self.ramp_rate = 0.0              # K/min, 0: no ramp (a new set point applies at once)
        self.heater = 0                   # heater range 0 (off) .. 3 (high)

    def ceiling(self) -> float:
        """The highest temperature the heater's present range can hold."""
        return self.room + _POWER[self.heater] * (self.rating - self.room)

    def ramping(self) -> bool:
        return self.ramp_rate > 0 and self.setpoint != self.target

    def _goal(self) -> float:
        return min(self.setpoint, self.ceiling()) if self.heater else self.room

    def step(self, t: float, on_step=None) -> None:
        """Integrate up to time ``t``; ``on_step(t_end, T_mean)`` is told each stretch."""
        while self.time < t:
            dt_left = t - self.time
            goal = self._goal()
            tau = self.tau_heat if goal > self.T else self.tau_cool
            settled = abs(goal - self.T) < 1e-3 and not self.ramping()
            dt = dt_left if settled else min(dt_left, tau / 10)
            if self.ramping():
                move = self.ramp_rate / 60.0 * dt
                d = self.target - self.setpoint
                self.setpoint = self.target if abs(d) <= move else self.setpoint + math.copysign(move, d)
                goal = self._goal()
            before = self.T
            self.T = goal + (self.T - goal) * math.exp(-dt / tau) if not settled else goal
            self.time += dt
            if on_step is not None:
                on_step(self.time, 0.5 * (before + self.T))

    def bring(self, chip, t: float) -> None:
        """Move the chuck, and the chip on it, to time ``t``: the chip ages at the chuck's
        temperature stretch by stretch (the room's is the model's operating temperature)."""
        def at(t_end, temp):
            want = None if abs(temp - self.room) < CHIP_STEP_K else temp
            have = chip.temperature
            if (want is None) != (have is None) or (want is not None and abs(want - have) >= CHIP_STEP_K):
                chip.set_temperature(want)       # applies the drift pending at the old one
            chip.advance_to(t_end)

        self.step(t, at if chip is not None else None)


class LakeShore335Sim(SimInstrument):
    # *IDN? as the 335 manual gives it: LSCI,MODEL335,<serial>/<option serial>,<firmware>
    IDN = ("LSCI", "MODEL335", "LSA1234/1234567", "2.0")
    INDEXES = (1, 2)
    PROPS = (
        Num("setpoint", "SETP", 0.0, 0.0, 1500.0, "K", index="arg", couple="_couple_setpoint"),
        Int("range", "RANGE", 0, 0, 3, index="arg", couple="_couple_range"),
        Num("mout", "MOUT", 0.0, 0.0, 100.0, "%", index="arg"),
    )
    TERMINALS = ("loop1",)
    rating = 673.15   # the chuck's (set by the bench from its file)

    def reset(self):
        super().reset()
        room = self._room()
        self.chuck = getattr(self, "chuck", None) or HeatedChuck(room, self.rating)
        self.chuck.heater = 0
        self.chuck.ramp_rate = 0.0
        for ch in self.INDEXES:
            self.state[ch]["setpoint"] = room if ch == 1 else 0.0
        self.chuck.setpoint = self.chuck.target = room
        self._rng = np.random.default_rng(12345)

    def _room(self) -> float:
        chip = getattr(self.world, "chip", None)
        ret = getattr(getattr(chip, "model", None), "retention", None)
        return float(ret.temperature) if ret is not None else 295.0

    def set_rating(self, kelvin: float) -> None:
        self.rating = self.chuck.rating = float(kelvin)

    def _now(self) -> None:
        """Bring the chuck (and the chip on it) to the world's time before any change."""
        w = self.world
        if w is not None:
            w.chip_to_now()

    def execute(self, message: str) -> None:
        super().execute(message)
        if self._out.endswith(b"\n") and not self._out.endswith(b"\r\n"):
            self._out = self._out[:-1] + b"\r\n"     # the 335 terminates replies with CR LF

    def outputs_on(self):
        return ["loop1"] if self.chuck.heater else []

    # -- coupling: loop 1 drives the chuck ------------------------------------------------
    def _couple_setpoint(self, ch, prop, v):
        self.state[ch]["setpoint"] = v
        if ch == 1:
            self._now()
            self.chuck.target = v
            if not self.chuck.ramp_rate:
                self.chuck.setpoint = v

    def _couple_range(self, ch, prop, v):
        if ch == 2 and v > 1:
            raise SCPIError(-222, "output 2 (voltage output) has range 0 or 1")
        self._now()
        self.state[ch]["range"] = v
        if ch == 1:
            self.chuck.heater = v

    # -- ramp ---------------------------------------------------------------------------
    @command("RAMP")
    def _ramp(self, args, sfx):
        nargs(args, 3)
        out, on, rate = to_int(args[0], 1, 2), to_int(args[1], 0, 1), to_float(args[2], 0.0, 100.0)
        if out == 1:
            self._now()
            self.chuck.ramp_rate = rate if on else 0.0
            if not on:
                self.chuck.setpoint = self.chuck.target
        self._ramp_state = getattr(self, "_ramp_state", {})
        self._ramp_state[out] = (on, rate)

    @command("RAMP", query=True)
    def _ramp_q(self, args, sfx):
        nargs(args, 1)
        out = to_int(args[0], 1, 2)
        on, rate = getattr(self, "_ramp_state", {}).get(out, (0, 0.0))
        return f"{on},{rate:.1f}"

    @command("RAMPST", query=True)
    def _rampst_q(self, args, sfx):
        nargs(args, 1)
        out = to_int(args[0], 1, 2)
        self._now()
        return "1" if out == 1 and self.chuck.ramping() else "0"

    # -- readings -----------------------------------------------------------------------
    def _kelvin(self, args) -> float:
        nargs(args, 1)
        inp = str(args[0]).strip().strip("\"").upper()   # character data: A, B (0: all)
        if inp not in ("A", "B", "0"):
            raise SCPIError(-224, "input A or B")
        self._now()
        if inp == "B":            # no sensor on input B: the 335 reads 0
            return 0.0
        return self.chuck.T + READ_NOISE_K * float(self._rng.standard_normal())

    @command("KRDG", query=True)
    def _krdg(self, args, sfx):
        return f"{self._kelvin(args):+.4f}"

    @command("CRDG", query=True)
    def _crdg(self, args, sfx):
        k = self._kelvin(args)
        return f"{(k - 273.15) if k else 0.0:+.4f}"

    @command("SRDG", query=True)
    def _srdg(self, args, sfx):
        # a Pt100 in ohms (IEC 60751 linear term): what a sensor-units reading shows
        k = self._kelvin(args)
        return f"{100.0 * (1 + 3.9083e-3 * (k - 273.15)) if k else 0.0:+.4f}"

    @command("HTR", query=True)
    def _htr(self, args, sfx):
        nargs(args, 1)
        out = to_int(args[0], 1, 2)
        self._now()
        c = self.chuck
        if out != 1 or not c.heater or c.setpoint <= c.room:
            return fmt(0.0)
        # the power that holds the present temperature, as a percent of the range's
        need = (c.T - c.room) / max(c.ceiling() - c.room, 1e-9)
        return f"{100.0 * min(max(need, 0.0), 1.0):.1f}"

    def terminal_level(self, terminal: str):
        return None    # the chuck is not wired to the chip's lines
