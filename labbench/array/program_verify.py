"""Program-verify: put cells at target conductances, one algorithm for every face.

Incremental-step pulse programming (ISPP) with verify: read every cell; where a read is
outside ``target·(1 ± tolerance)``, send one pulse in the direction of the target (SET
below it, RESET above it) and read again.  Each direction has its own *ramp*: pulse k in
a direction is ``amplitude + k·amplitude_step`` V, ``width·width_factor^k`` s and (an
optional gate step) ``gate + k·gate_step`` V, each held at its maximum once it gets
there.  A read that lands beyond the target (an overshoot) is handled as
``overshoot`` says:

* ``"reset"`` — corrected: the cell turns round and ramps the other way (RESET pulses
  after a SET overshoot, SET after a RESET one), each ramp resuming ``backoff`` steps
  below where that direction last stopped, so the steps shrink as a cell homes in;
* ``"restart"`` — a full RESET, then the SET ramp again (``backoff`` steps lower);
* ``"stop"`` — overshoot is not allowed: the cell stops there, not converged.

A cell stops when a read is inside the tolerance (converged) or its pulse budget
``max_pulses`` is spent (full RESETs count as pulses).  Every pulse and every read is
recorded (:attr:`ProgramVerifyResult.trace`); per cell the result holds converged or not,
pulses used, the final read and its relative error, and the programming energy.

This module knows no instrument and no chip: :func:`run` drives three callables, a read
of some cells, a pulse of some cells at one drive, and a full RESET of some cells.
:meth:`labbench.array.SimArray.program_verify` gives them a whole simulated array at
once (the cells of one drive in one ``Chip.pulse`` call); the ``program-verify``
procedure gives them the bench, one cell at a time.  The same settings and targets run
the same algorithm on both.

Targets, reads and the tolerance are conductances *as read* (I/V at the read voltage,
through the access transistor): what the verify step can see.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from labbench.physics import circuit, kinetics
from labbench.physics.models import RESET, SET

#: the kinds of operation a trace records (int8 codes: a trace of 10⁶ cells stays small)
READ, SET_PULSE, RESET_PULSE, FULL_RESET = 0, 1, 2, 3
KIND_NAMES = ("read", "set", "reset", "full_reset")
OVERSHOOT_MODES = ("reset", "restart", "stop")
#: largest pulse budget per cell (a typo guard: 10⁴ pulses per cell is already a wear test)
MAX_PULSES_LIMIT = 10_000


@dataclass(frozen=True)
class Ramp:
    """One direction's pulses: pulse k (k = 0, 1, ...) of a ramp (see the module doc)."""

    amplitude: float
    width: float
    gate: float | None = None
    amplitude_step: float = 0.0
    width_factor: float = 1.0
    gate_step: float = 0.0
    max_amplitude: float | None = None
    max_width: float | None = None
    max_gate: float | None = None

    def check(self, what: str) -> None:
        for name in ("amplitude", "width", "amplitude_step", "width_factor", "gate_step"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise ValueError(f"{what} {name} must be a finite number, got {v!r}")
        if self.amplitude <= 0 or self.width <= 0:
            raise ValueError(f"{what}: amplitude ({self.amplitude:g} V) and width ({self.width:g} s) must be > 0")
        if self.gate is not None and not (math.isfinite(self.gate) and self.gate > 0):
            raise ValueError(f"{what} gate must be a finite number > 0 V, got {self.gate!r}")
        if self.amplitude_step < 0 or self.gate_step < 0 or self.width_factor < 1:
            raise ValueError(f"{what}: a ramp only grows (amplitude_step >= 0, gate_step >= 0, width_factor >= 1)")
        for name, start in (("max_amplitude", self.amplitude), ("max_width", self.width), ("max_gate", self.gate)):
            cap = getattr(self, name)
            if cap is not None and not (math.isfinite(cap) and start is not None and cap >= start):
                raise ValueError(f"{what} {name} ({cap!r}) must be a finite number >= the first pulse's ({start!r})")

    def at(self, k) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(amplitude V, width s, gate V or None) of pulse(s) ``k`` of the ramp."""
        k = np.asarray(k, float)
        amp = self.amplitude + k * self.amplitude_step
        if self.max_amplitude is not None:
            amp = np.minimum(amp, self.max_amplitude)
        width = self.width * self.width_factor ** k
        if self.max_width is not None:
            width = np.minimum(width, self.max_width)
        gate = None
        if self.gate is not None:
            gate = self.gate + k * self.gate_step
            if self.max_gate is not None:
                gate = np.minimum(gate, self.max_gate)
        # rounded so one drive is one value (a group of cells = one instrument setting)
        return np.round(amp, 6), np.round(width, 12), None if gate is None else np.round(gate, 6)

    def levels(self, n: int) -> list[tuple[float, float, float | None]]:
        """Every distinct (amplitude, width, gate) of the first ``n`` pulses (for limit checks)."""
        amp, width, gate = self.at(np.arange(max(int(n), 1)))
        gate = [None] * amp.size if gate is None else gate.tolist()
        return sorted(set(zip(amp.tolist(), width.tolist(), gate)), key=lambda x: (x[0], x[1], x[2] or 0))


@dataclass(frozen=True)
class VerifySettings:
    """How cells are programmed (see the module doc); build with :meth:`for_model` or
    :meth:`for_pulses` to start from a device's nominal pulses."""

    set: Ramp
    reset: Ramp
    tolerance: float = 0.02          # relative: |read − target| <= tolerance·target
    max_pulses: int = 50             # per cell, full RESETs included
    overshoot: str = "reset"         # "reset" | "restart" | "stop"
    backoff: int = 3                 # ramp steps given back at each turn
    initial_reset: bool = False      # a full RESET of every cell before the first pulse

    def check(self) -> None:
        """ValueError naming the first setting that makes no sensible program."""
        tol = self.tolerance
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol <= 0:
            raise ValueError(f"tolerance must be a finite fraction > 0 (0.02 = 2 %), got {tol!r}")
        if tol >= 1:
            raise ValueError(f"tolerance {tol:g} is a fraction of the target (0.02 = 2 %), not a percentage; "
                             f"it must be < 1")
        n = self.max_pulses
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_PULSES_LIMIT:
            raise ValueError(f"pulse budget (max_pulses) must be a whole number from 1 to {MAX_PULSES_LIMIT}, "
                             f"got {n!r}")
        if self.overshoot not in OVERSHOOT_MODES:
            raise ValueError(f"overshoot must be one of {list(OVERSHOOT_MODES)}, got {self.overshoot!r}")
        if isinstance(self.backoff, bool) or not isinstance(self.backoff, (int, np.integer)) or self.backoff < 0:
            raise ValueError(f"backoff is a number of ramp steps >= 0, got {self.backoff!r}")
        self.set.check("SET ramp")
        self.reset.check("RESET ramp")

    @classmethod
    def for_pulses(cls, set_pulse: tuple[float, float, float | None], reset_pulse: tuple[float, float, float | None],
                   step: str = "amplitude", gate_step: float = 0.0, amplitude_step: float = 0.05,
                   width_factor: float = 1.25, **kw) -> "VerifySettings":
        """Ramps around the nominal (amplitude, width, gate) of SET and of RESET.

        ``step="amplitude"``: SET from 0.4 V below its nominal amplitude to 0.3 V above it,
        RESET from 0.6 V below up to it, in ``amplitude_step`` (0.05 V) steps at the nominal widths (on the default
        model a pulse 0.4 V low moves a device ~2 % of a nominal one, 0.3 V high ~15× one: the
        ramp spans the fine and the fast end); ``step="width"``: nominal amplitudes, widths
        from 1/16 of the nominal to 8× (SET) or 1× (RESET), ×``width_factor`` (1.25) per pulse.  ``gate_step`` > 0
        also steps the SET gate, from 0.3 V below the nominal gate up to it (the gate's
        saturation current is the SET compliance, so the steps stay small while it is low).
        Other keywords go to the settings.  (Tuned on ``hfox_2t2r_default``: targets across
        10-90 % of the window converge to 2 % in ~20 pulses, bench/program_verify_bench.py.)"""
        (sa, sw, sg), (ra, rw, rg) = set_pulse, reset_pulse
        if step == "amplitude":
            set_ramp = Ramp(max(sa - 0.4, 0.05), sw, sg, amplitude_step=amplitude_step, max_amplitude=sa + 0.3)
            reset_ramp = Ramp(max(ra - 0.6, 0.05), rw, rg, amplitude_step=amplitude_step, max_amplitude=ra)
        elif step == "width":
            set_ramp = Ramp(sa, sw / 16, sg, width_factor=width_factor, max_width=8 * sw)
            reset_ramp = Ramp(ra, rw / 16, rg, width_factor=width_factor, max_width=rw)
        else:
            raise ValueError(f"step must be 'amplitude' or 'width', got {step!r}")
        if gate_step:
            if sg is None:
                raise ValueError("a gate step needs the SET pulse's gate (this model declares no access transistor)")
            set_ramp = replace(set_ramp, gate=max(sg - 0.3, 0.05), gate_step=float(gate_step), max_gate=sg)
        return cls(set=set_ramp, reset=reset_ramp, **kw)

    @classmethod
    def for_model(cls, model, step: str = "amplitude", gate_step: float = 0.0, **kw) -> "VerifySettings":
        """:meth:`for_pulses` around the device model's nominal SET and RESET pulses."""
        sw = model.switching
        k_s, k_r = sw.set_kinetics, sw.reset_kinetics
        return cls.for_pulses((k_s.amplitude, k_s.width, k_s.gate), (k_r.amplitude, k_r.width, k_r.gate),
                              step=step, gate_step=gate_step, **kw)


def reachable_range(model, settings: VerifySettings | None = None, read_voltage: float | None = None,
                    read_gate: float | None = None) -> tuple[float, float]:
    """(lowest, highest) conductance, as read, a cell of ``model`` can be programmed to: the
    nominal device's Gmin, and its Gmax or the SET ceiling of the ramp's highest gate
    (the access transistor's saturation current), whichever is lower."""
    top = float(model.gmax)
    if settings is not None and settings.set.gate is not None:
        gate = settings.set.max_gate if settings.set.max_gate is not None else settings.set.gate
        ceiling = kinetics.set_ceiling(model.switching, gate)
        if ceiling is not None:
            top = min(top, float(ceiling))
    lo, hi = circuit.as_read(model, np.array([float(model.gmin), top]), read_voltage, read_gate)
    return float(lo), float(hi)


def check_targets(targets, model, settings: VerifySettings | None = None, read_voltage: float | None = None,
                  read_gate: float | None = None) -> np.ndarray:
    """``targets`` as a float array (NaN: leave that cell alone), each inside
    :func:`reachable_range`; ValueError stating the range otherwise."""
    t = np.asarray(targets, float)
    given = t[~np.isnan(t)]
    if given.size == 0:
        raise ValueError("no target given (every target is NaN)")
    if not np.isfinite(given).all():
        raise ValueError("targets must be finite conductances in S (NaN only to skip a cell)")
    lo, hi = reachable_range(model, settings, read_voltage, read_gate)
    bad = given[(given < lo) | (given > hi)]
    if bad.size:
        where = f"{bad.size} of {given.size} targets are" if given.size > 1 else "target"
        raise ValueError(f"{where} outside the cell's reachable range {lo:.4g} S to {hi:.4g} S (as read, "
                         f"device model {getattr(model, 'name', '?')!r}), e.g. {bad[0]:.4g} S")
    return t


@dataclass
class Round:
    """One round of the algorithm: an operation and the read after it, on some cells."""

    cells: np.ndarray           # indices into the targets
    kind: np.ndarray            # int8 per cell: READ (round 0), SET_PULSE, RESET_PULSE or FULL_RESET
    amplitude: np.ndarray       # V (NaN for a read or a full RESET)
    width: np.ndarray           # s
    gate: np.ndarray            # V (NaN: the path's own)
    read: np.ndarray            # S, as read after the operation
    energy: np.ndarray          # J of the operation


@dataclass
class ProgramVerifyResult:
    """Per cell (in the targets' order; skipped cells hold NaN / False / 0) and the trace."""

    target: np.ndarray
    converged: np.ndarray       # bool
    pulses: np.ndarray          # programming operations sent (full RESETs included)
    final: np.ndarray           # S, the last read
    error: np.ndarray           # (final − target)/target
    energy: np.ndarray          # J, programming energy (pulses and full RESETs)
    overshoots: np.ndarray      # times a read landed beyond the target
    tolerance: float
    max_pulses: int
    trace: list[Round] = field(default_factory=list)

    @property
    def selected(self) -> np.ndarray:
        return ~np.isnan(self.target)

    def summary(self) -> dict:
        """Fraction converged, pulses per cell (mean, median, 95th percentile of the
        converged; mean of all), final |error| and energy per cell."""
        sel = self.selected
        conv = self.converged[sel]
        pulses = self.pulses[sel]
        pc = pulses[conv]
        return {"cells": int(sel.sum()), "converged_fraction": float(conv.mean()) if conv.size else float("nan"),
                "tolerance": self.tolerance, "max_pulses": self.max_pulses,
                "pulses_mean": float(pulses.mean()) if pulses.size else float("nan"),
                "pulses_converged_mean": float(pc.mean()) if pc.size else float("nan"),
                "pulses_converged_median": float(np.median(pc)) if pc.size else float("nan"),
                "pulses_converged_p95": float(np.percentile(pc, 95)) if pc.size else float("nan"),
                "abs_error_median": float(np.median(np.abs(self.error[sel]))) if sel.any() else float("nan"),
                "energy_mean_J": float(self.energy[sel].mean()) if sel.any() else float("nan"),
                "overshoot_fraction": float((self.overshoots[sel] > 0).mean()) if sel.any() else float("nan")}

    def trace_columns(self) -> dict[str, np.ndarray]:
        """The trace in tidy long form: one row per operation and its read (``pulse`` 0 is
        the first read), columns cell, pulse, kind (a name: :data:`KIND_NAMES`), amplitude,
        width, gate, read, energy."""
        if not self.trace:
            return {k: np.zeros(0) for k in ("cell", "pulse", "kind", "amplitude", "width", "gate", "read", "energy")}
        count = np.zeros(self.target.size, np.int64)
        pulse = []
        for r in self.trace:
            pulse.append(count[r.cells].copy())
            count[r.cells] += 1
        cat = np.concatenate
        return {"cell": cat([r.cells for r in self.trace]), "pulse": cat(pulse),
                "kind": np.asarray(KIND_NAMES)[cat([r.kind for r in self.trace])],
                "amplitude": cat([r.amplitude for r in self.trace]),
                "width": cat([r.width for r in self.trace]), "gate": cat([r.gate for r in self.trace]),
                "read": cat([r.read for r in self.trace]), "energy": cat([r.energy for r in self.trace])}


class ProgramVerify:
    """The algorithm's state over ``n`` cells; :func:`run` drives it.  Each round:
    :meth:`plan` says which cells get which operation, the caller applies it and reads
    them, :meth:`observe` takes the reads."""

    def __init__(self, settings: VerifySettings, targets):
        settings.check()
        self.settings = settings
        self.target = np.asarray(targets, float).reshape(-1)
        n = self.target.size
        self.active = ~np.isnan(self.target)
        self.read = np.full(n, np.nan)
        self.converged = np.zeros(n, bool)
        self.stopped = np.zeros(n, bool)     # stopped on an overshoot (overshoot "stop")
        self.pulses = np.zeros(n, np.int64)
        self.energy = np.zeros(n)
        self.overshoots = np.zeros(n, np.int64)
        self.k = np.zeros((2, n), np.int64)  # next ramp step per direction: [SET, RESET]
        self.last = np.zeros(n, np.int8)     # direction of the last pulse (0: none yet)
        self.started = False

    # -- the decision ---------------------------------------------------------------------
    def _judge(self) -> None:
        """Mark cells that are done after the latest reads."""
        a = self.active
        tol = self.settings.tolerance * self.target
        inside = a & (np.abs(self.read - self.target) <= tol)
        self.converged |= inside
        a &= ~inside
        if self.started:
            below = self.read < self.target
            want = np.where(below, SET, RESET)
            crossed = a & (self.last != 0) & (want != self.last)
            self.overshoots += crossed
            if self.settings.overshoot == "stop":
                # a RESET overshoot cannot happen here (stop mode never RESETs gradually)
                self.stopped |= crossed
                a &= ~crossed
        a &= self.pulses < self.settings.max_pulses
        self.active = a

    def plan(self) -> dict[str, np.ndarray]:
        """The next operation of every active cell: ``cells``, ``kind`` (SET_PULSE,
        RESET_PULSE, FULL_RESET) and, for pulses, ``amplitude``, ``width``, ``gate``."""
        s = self.settings
        cells = np.flatnonzero(self.active)
        below = self.read[cells] < self.target[cells]
        # without gradual RESET (overshoot "restart"/"stop") a cell above its target starts
        # again from a full RESET
        full = ~below if s.overshoot != "reset" else np.zeros(cells.size, bool)
        d = np.where(below, SET, RESET)
        # a turn (the direction changes): resume that direction's ramp `backoff` steps lower
        turned = (self.last[cells] != 0) & (self.last[cells] != d) & ~full
        row = np.where(d == SET, 0, 1)
        k = self.k[row, cells]
        k = np.where(turned, np.maximum(k - s.backoff, 0), k)
        if full.any():
            # after a full RESET the SET ramp resumes `backoff` steps below where it was
            k = np.where(full, np.maximum(self.k[0, cells] - s.backoff, 0), k)
        amp = np.full(cells.size, np.nan)
        width = np.full(cells.size, np.nan)
        gate = np.full(cells.size, np.nan)
        for direction, ramp in ((SET, s.set), (RESET, s.reset)):
            m = (d == direction) & ~full
            if m.any():
                a_, w_, g_ = ramp.at(k[m])
                amp[m], width[m] = a_, w_
                if g_ is not None:
                    gate[m] = g_
        kind = np.where(full, FULL_RESET, np.where(d == SET, SET_PULSE, RESET_PULSE)).astype(np.int8)
        self._planned = (cells, d, k, full)
        return {"cells": cells, "kind": kind, "amplitude": amp, "width": width, "gate": gate}

    def observe(self, reads, energy=None) -> None:
        """The reads (S) of the planned cells after their operation, and its energy (J)."""
        cells, d, k, full = self._planned
        self.read[cells] = reads
        self.pulses[cells] += 1
        if energy is not None:
            self.energy[cells] += energy
        row = np.where(d == SET, 0, 1)
        # the ramp moves on in the direction pulsed; a full RESET restarts SET at k
        self.k[row[~full], cells[~full]] = k[~full] + 1
        self.k[0, cells[full]] = k[full]
        self.last[cells] = np.where(full, 0, d)
        self._judge()

    def begin(self, reads) -> None:
        """The first reads (every selected cell, before any pulse)."""
        cells = np.flatnonzero(self.active)
        self.read[cells] = reads
        self._judge()
        self.started = True

    @property
    def done(self) -> bool:
        return not self.active.any()

    def result(self, trace: list[Round]) -> ProgramVerifyResult:
        sel = ~np.isnan(self.target)
        err = np.where(sel, (self.read - self.target) / np.where(sel, self.target, 1.0), np.nan)
        return ProgramVerifyResult(target=self.target.copy(), converged=self.converged & sel,
                                   pulses=self.pulses.copy(), final=self.read.copy(), error=err,
                                   energy=self.energy.copy(), overshoots=self.overshoots.copy(),
                                   tolerance=self.settings.tolerance, max_pulses=self.settings.max_pulses,
                                   trace=trace)


# the three things a face supplies
ReadFn = Callable[[np.ndarray], np.ndarray]
PulseFn = Callable[[np.ndarray, int, float, float, "float | None"], "np.ndarray | None"]
ResetFn = Callable[[np.ndarray], "np.ndarray | None"]


def run(settings: VerifySettings, targets, read: ReadFn, pulse: PulseFn, full_reset: ResetFn,
        on_round: Callable[[Round], None] | None = None, should_stop: Callable[[], bool] | None = None,
        keep_trace: bool = True, model=None, read_bias: tuple[float | None, float | None] = (None, None)
        ) -> ProgramVerifyResult:
    """Program-verify ``targets`` (one per cell; NaN: skip) with the face's operations:

    * ``read(cells)`` -> conductances as read (S) of those cells;
    * ``pulse(cells, direction, amplitude, width, gate)`` -> J per cell (or None): one pulse
      on each of ``cells``, all at the same drive (SET or RESET; gate None: the path's own);
    * ``full_reset(cells)`` -> J per cell (or None).

    Cells that share a drive are pulsed in one call (a vectorized face does them at once,
    a bench one after another).  ``on_round`` sees every round as it happens (a procedure
    emits its rows there); ``should_stop`` ends the run early, with what was done.

    A face that cannot know a pulse's energy (hardware: no power monitor) returns None;
    with a device ``model`` the energy is then estimated from the reads before and after
    the pulse, de-embedded at ``read_bias`` (read voltage, read gate; None: the model's)
    (:func:`estimated_energy`)."""
    pv = ProgramVerify(settings, targets)
    trace: list[Round] = []

    def record(r: Round) -> None:
        if keep_trace:
            trace.append(r)
        if on_round is not None:
            on_round(r)

    cells = np.flatnonzero(pv.active)
    if pv.settings.initial_reset:
        e = full_reset(cells)
        pv.pulses[cells] += 1
        if e is not None:
            pv.energy[cells] += e
    first = np.asarray(read(cells), float)
    pv.begin(first)
    nan = np.full(cells.size, np.nan)
    record(Round(cells, np.full(cells.size, FULL_RESET if pv.settings.initial_reset else READ, np.int8),
                 nan, nan, nan, first, pv.energy[cells].copy()))
    while not pv.done:
        if should_stop is not None and should_stop():
            break
        p = pv.plan()
        cells, kind = p["cells"], p["kind"]
        energy = np.zeros(cells.size)
        unknown = np.zeros(cells.size, bool)   # cells whose face returned no energy
        # one call per distinct drive: cells at the same ramp step share an instrument setting
        full = kind == FULL_RESET
        if full.any():
            e = full_reset(cells[full])
            if e is not None:
                energy[full] = e
            else:
                unknown[full] = True
        key = np.stack([np.where(kind == SET_PULSE, 1.0, -1.0), p["amplitude"], p["width"], p["gate"]], 1)
        groups = key[~full]
        if groups.size:
            uniq, inv = np.unique(np.nan_to_num(groups, nan=-1.0), axis=0, return_inverse=True)
            pos = np.flatnonzero(~full)
            inv = np.asarray(inv).reshape(-1)
            for j, (d, amp, width, gate) in enumerate(uniq):
                sel = pos[inv == j]
                e = pulse(cells[sel], SET if d > 0 else RESET, float(amp), float(width),
                          None if gate < 0 else float(gate))
                if e is not None:
                    energy[sel] = e
                else:
                    unknown[sel] = True
        reads = np.asarray(read(cells), float)
        if model is not None and unknown.any():
            before = pv.read[cells]
            energy[unknown] = estimated_energy(model, before[unknown], reads[unknown], kind[unknown],
                                               p["amplitude"][unknown], p["width"][unknown],
                                               p["gate"][unknown], *read_bias)
        pv.observe(reads, energy)
        record(Round(cells, kind, p["amplitude"], p["width"], p["gate"], reads, energy))
    return pv.result(trace)


def pulse_energy_each(model, g_before, g_after, amplitude: float, width: float, gate: float | None,
                      reset: bool) -> np.ndarray:
    """J of one pulse on each device (before/after device conductances): ``|V|·t`` times the
    mean of the 1T1R cell currents before and after (as :mod:`labbench.physics.energy`)."""
    from labbench.physics import energy as _energy

    i0 = _energy.cell_current(model, np.asarray(g_before, float), amplitude, gate, reset)
    i1 = _energy.cell_current(model, np.asarray(g_after, float), amplitude, gate, reset)
    return 0.5 * abs(amplitude) * width * (i0 + i1)


def estimated_energy(model, read_before, read_after, kind, amplitude, width, gate,
                     read_voltage: float | None = None, read_gate: float | None = None) -> np.ndarray:
    """J of each operation, estimated from the reads around it: the device conductances
    de-embedded from the reads (:func:`labbench.physics.circuit.from_read`) in
    :func:`pulse_energy_each`.  A full RESET (a strong DC RESET on a bench) is charged as
    one RESET pulse of the model's nominal amplitude and gate lasting ``switching.dc_time``."""
    g0 = np.nan_to_num(circuit.from_read(model, read_before, read_voltage, read_gate), nan=float(model.gmax))
    g1 = np.nan_to_num(circuit.from_read(model, read_after, read_voltage, read_gate), nan=float(model.gmax))
    out = np.zeros(np.size(kind))
    kin = model.switching.reset_kinetics
    for j in range(out.size):
        if kind[j] == FULL_RESET:
            a, w, g, reset = kin.amplitude, model.switching.dc_time, kin.gate, True
        else:
            a, w, reset = float(amplitude[j]), float(width[j]), kind[j] == RESET_PULSE
            g = None if np.isnan(gate[j]) else float(gate[j])
            if g is None:   # the path's own gate: the nominal pulse's
                g = (kin if reset else model.switching.set_kinetics).gate
        out[j] = pulse_energy_each(model, g0[j:j + 1], g1[j:j + 1], a, w, g, reset)[0]
    return out


def bench_settings(bench, step: str = "amplitude", gate_step: float = 0.0, **kw) -> VerifySettings:
    """:meth:`VerifySettings.for_pulses` around a bench's operating SET and RESET pulses."""
    op = bench.config.operating
    return VerifySettings.for_pulses((op.set.amplitude, op.set.width, op.set.gate),
                                     (op.reset.amplitude, op.reset.width, op.reset.gate),
                                     step=step, gate_step=gate_step, **kw)


def check_on_bench(bench, settings: VerifySettings) -> None:
    """Every level the settings can send, checked against the bench's limits before the
    run: each ramp's (amplitude, width) on the pulse channel and its gates on the
    word-line channel, up to the pulse budget (SafetyError, a ValueError, naming it)."""
    op = bench.config.operating
    pulse_ch = int(op.pulse_terminal.rpartition("ch")[2])
    gate_ch = int(op.gate_terminal.rpartition("ch")[2])
    pg = bench.pulse_generator
    for ramp, nominal in ((settings.set, op.set), (settings.reset, op.reset)):
        for amp, width, gate in ramp.levels(settings.max_pulses):
            pg.check(pulse_ch, amp, width)
            pg.check(gate_ch, nominal.gate if gate is None else gate)
    if settings.initial_reset or settings.overshoot == "restart" or settings.overshoot == "stop":
        bench.source_meter.check(op.strong_reset_voltage)
        pg.check(gate_ch, op.strong_reset_gate)


def convergence_figure(df, tolerance: float | None = None):
    """From the ``program-verify`` procedure's rows (one per operation and its read): the
    pulses each converged cell needed (histogram), and every cell's reads against pulse
    number relative to its target, with the tolerance band.  A matplotlib Figure."""
    from matplotlib.figure import Figure

    last = df.groupby("cell").tail(1)
    fig = Figure(figsize=(10, 3.4))
    a, b = fig.subplots(1, 2)
    conv = last[last["converged"] > 0]
    top = int(df["pulse"].max()) + 1
    a.hist(conv["pulse"], bins=np.arange(0, top + 2) - 0.5, color="C0")
    a.set(xlabel="pulses to converge", ylabel="cells",
          title=f"{len(conv)} of {len(last)} cells converged ({100 * len(conv) / max(len(last), 1):.0f} %)")
    for _, g in df.groupby("cell"):
        b.plot(g["pulse"], 100 * (g["conductance"] / g["target"] - 1), lw=0.7, alpha=0.6)
    tol = tolerance if tolerance is not None else float(np.nanmax(np.abs(conv["error"]))) if len(conv) else None
    if tol:
        b.axhspan(-100 * tol, 100 * tol, color="k", alpha=0.1, lw=0)
    b.set(xlabel="pulse", ylabel="read − target (% of target)", title="every cell's reads")
    b.set_ylim(-100, 100)
    fig.tight_layout()
    return fig
