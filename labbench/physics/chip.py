"""The simulated 2T2R chip: the one place that knows how a cell responds.

A chip of ``rows × cols`` synapses holds ``rows × cols × 2`` 1T1R devices; side 0 is
the "+" device on bit line BL, side 1 the "−" device on BLB.  Word line ``row`` drives
both gates of a synapse; the source line is common.  Both the simulated instruments
(:mod:`labbench.sim`) and :class:`~labbench.array.SimArray` drive the same methods
below, so a pulse sent as SCPI and the same pulse sent by SimArray leave the chip in
the same state (DESIGN principle 1).

Devices are addressed by flat index ``(row·cols + col)·2 + side`` (see
:meth:`Chip.flat`).  All operations are vectorized over index arrays.  Noise is
counter-based (:mod:`labbench.physics.noise`), so it does not depend on the order in
which cells are visited.  Within one call an index array must not repeat a device
(as one instrument action cannot address a device twice); repeat the call instead.
"""
from __future__ import annotations

import math

import dataclasses

import numpy as np

from . import energy as _energy
from . import kernels, kinetics, overlap, retention
from .device_model import DeviceModel
from .models import RESET, SET, NeuroSimModel, parse_direction
from .noise import counter_normal, stream_base

# independent noise streams of one device, all keyed by its event counters
_WRITE_STREAM, _READ_STREAM, _LEVEL_STREAM, _THRESHOLD_STREAM = 1, 2, 3, 4
# per-device draws that are not per event (drift time constants: retention.RETENTION_STREAM = 5)
_ENDURANCE_STREAM = 6
#: ``stuck`` codes: ±1 a fabrication fault (model.faults), ±2 worn out (model.endurance)
WORN = 2
#: lognormal spreads are truncated here (no device gets a non-physical level or threshold)
_TRUNCATE = 3.0
#: a full RESET is one RESET pulse worth this many nominal pulses: saturated in any model
_FULL_RESET = 1e4


def check_chip_model(model: DeviceModel) -> None:
    """ValueError if a chip cannot be made of ``model`` (what the schema alone allows)."""
    if model.gmin < 0:
        raise ValueError(
            f"device model {model.name!r} has a negative lower bound ({model.gmin:g}): it is in "
            "normalized (aihwkit weight) units, but a chip needs conductance in S; refit the "
            "data in siemens or rescale w_min/w_max/dw_min to conductances")


class Chip:
    def __init__(self, model: DeviceModel, rows: int, cols: int, seed: int = 0,
                 dtype=np.float64, formed: bool = True, initial: str = "gmin"):
        if rows <= 0 or cols <= 0:
            raise ValueError(f"chip size must be positive, got {rows}×{cols}")
        check_chip_model(model)
        self.model = model
        self.rows, self.cols = int(rows), int(cols)
        self.seed = int(seed)
        self.dtype = np.dtype(dtype)
        n = self.rows * self.cols * 2
        rng = np.random.default_rng(self.seed)
        # per-device parameters (device-to-device variation), flat arrays of length n
        self.devices = self._packed(model.update.sample_devices(
            (n,), model.d2d.sigma, rng, truncate=model.d2d.truncate, dtype=self.dtype), n)
        # read-only per-device bounds; shared with the model's arrays (no copy) where
        # D2D varies them, a broadcast view of the scalar where not: memory per cell
        # matters at 10⁶ devices
        self._gmin = self._per_device(self.devices.gmin, n)
        self._gmax = self._per_device(self.devices.gmax, n)
        u = rng.random(n)
        f = model.faults
        self.stuck = np.zeros(n, np.int8)
        self.stuck[u < f.stuck_at_gmin] = -1
        self.stuck[(u >= f.stuck_at_gmin) & (u < f.stuck_at_gmin + f.stuck_at_gmax)] = 1
        self.formed = np.full(n, bool(formed))
        start = {"gmin": self._gmin, "gmax": self._gmax}.get(initial)
        if start is None:
            raise ValueError("initial must be 'gmin' or 'gmax'")
        self.g = np.where(self.formed, start, model.switching.g_pristine).astype(self.dtype)
        self._apply_stuck()
        # per-device event counters (they key the noise); uint32 holds 4·10⁹ events per
        # device, beyond any RRAM endurance, at half the memory of uint64
        self.write_events = np.zeros(n, np.uint32)
        self.read_events = np.zeros(n, np.uint32)
        # the key of the drift's randomness (per-device retention time constants, post-program
        # relaxation); None: the chip's seed.  Another value replays the same chip drifting
        # another way (labbench evaluate's error bars over drift seeds)
        self.drift_seed: int | None = None
        # virtual time (s) the chip has seen, and up to which drift has been applied
        self.time = 0.0
        self._drift_time = 0.0
        # the chip's temperature, K (None: the model's operating temperature); a heated
        # chuck sets it through set_temperature, which applies the drift pending at the old one
        self.temperature: float | None = None
        # post-program relaxation state (_relax_register): allocated on the first drift
        self._age_clock = 0.0
        self._relax_code = self._relax_events = self._relax_epochs = None
        # J spent in the cells: programming (pulses, DC switching) and reads (energy.py)
        self.program_energy = 0.0
        self.read_energy = 0.0
        # Σ over all devices of the read current at the model's read voltage, kept up to date
        # by the pulses (None: recomputed when next needed), so a sense read of the whole
        # array is charged in O(1) (charge_array_read)
        self._read_i_sum: float | None = None

    def _per_device(self, value, n: int) -> np.ndarray:
        arr = np.asarray(value, self.dtype)
        arr = arr if arr.shape == (n,) else np.broadcast_to(arr, (n,))
        view = arr.view()
        view.flags.writeable = False
        return view

    # -- addressing -----------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.g.size

    def flat(self, row, col, side) -> np.ndarray:
        row, col, side = (np.asarray(x, dtype=np.int64) for x in (row, col, side))
        if (row < 0).any() or (row >= self.rows).any() or (col < 0).any() or (col >= self.cols).any():
            raise IndexError(f"cell outside the {self.rows}×{self.cols} chip")
        if not np.isin(side, (0, 1)).all():
            raise IndexError("side must be 0 (+, BL) or 1 (−, BLB)")
        return (row * self.cols + col) * 2 + side

    def conductance(self) -> np.ndarray:
        """True conductances (no read noise), shape (rows, cols, 2). For tests and plots."""
        self._flush_disturb()
        return self.g.reshape(self.rows, self.cols, 2)

    def _all_live(self) -> bool:
        """Every device formed and none stuck (then a pulse need not look): cached, and
        forgotten wherever ``formed`` or ``stuck`` change (all of them end in _apply_stuck)."""
        live = self.__dict__.get("_live")
        if live is None:
            live = self._live = bool(self.formed.all() and not self.stuck.any())
        return live

    def _apply_stuck(self, idx=None):
        self._live = None
        sel = slice(None) if idx is None else idx
        s = self.stuck[sel]
        g = self.g[sel]
        g = np.where(s < 0, self._gmin[sel], np.where(s > 0, self._gmax[sel], g))
        self.g[sel] = g
        self._read_i_sum = None

    # -- spreads: thresholds and levels -------------------------------------------------
    def _d2d_factor(self, name: str) -> np.ndarray | None:
        """Per-device lognormal factor of threshold ``name`` (built on first use: SimArray's
        nominal pulses never look at thresholds, and 10⁶ devices × 3 arrays is memory)."""
        sigma = getattr(self.model.variability, name).d2d
        if not sigma:
            return None
        cache = self.__dict__.setdefault("_threshold_d2d", {})
        if name not in cache:
            # a stream of its own, so adding a spread leaves every other draw unchanged
            rng = np.random.default_rng([self.seed, 0x7E5, ("v_form", "v_set", "v_reset").index(name)])
            z = np.clip(rng.standard_normal(self.size), -_TRUNCATE, _TRUNCATE)
            cache[name] = np.exp(sigma * z)
        return cache[name]

    def threshold(self, name: str, idx, events) -> np.ndarray:
        """V, threshold ``name`` (v_form, v_set, v_reset) of devices ``idx`` at their events."""
        value = np.full(np.shape(idx), getattr(self.model.switching, name), float)
        d2d = self._d2d_factor(name)
        if d2d is not None:
            value = value * d2d[idx]
        sigma = getattr(self.model.variability, name).c2c
        if sigma:
            xi = counter_normal(self.seed, idx, events, _THRESHOLD_STREAM)
            value = value * np.exp(sigma * np.clip(xi, -_TRUNCATE, _TRUNCATE))
        return value

    def _level(self, idx, events, median, sigma: float) -> np.ndarray:
        """A lognormal level (S) with ``median`` per device, drawn per event."""
        if not sigma:
            return np.asarray(median, self.dtype)
        xi = counter_normal(self.seed, idx, events, _LEVEL_STREAM)
        return (median * np.exp(sigma * np.clip(xi, -_TRUNCATE, _TRUNCATE))).astype(self.dtype)

    # -- writes ---------------------------------------------------------------------
    def pulse(self, idx, n, direction, amplitude: float | None = None, width: float | None = None,
              gate: float | None = None) -> None:
        """Apply ``n`` gradual SET (BL) or RESET (SL) pulses to devices ``idx``.

        A burst of n is n pulses: each draws its own noise and is clipped before the next,
        so it equals n single calls exactly.  With electrical values given (the instrument
        path) the pulse goes through :mod:`~labbench.physics.kinetics`: its amplitude and
        width set how many nominal pulses it is worth, the gate's saturation current caps
        a SET, a device voltage below the device's V_set/V_reset does nothing, a pulse
        shorter than the minimum width or with the gate off does nothing, and a SET pulse
        on a pristine device may form it.  ``SimArray`` omits them and means "the nominal
        programming pulse".
        """
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        electrical = amplitude is not None or width is not None or gate is not None
        if electrical or np.ndim(n) == 0:   # the instrument path's scalars (SimArray's arrays are its own)
            _check_drive("pulse", n=n, amplitude=amplitude, width=width, gate=gate)
        n = np.broadcast_to(np.asarray(n, dtype=np.int64), idx.shape)
        d = parse_direction(direction)
        sw = self.model.switching
        if width is not None and width < sw.min_pulse_width:
            return
        if gate is not None and gate < sw.v_gate_threshold:
            return
        if electrical and np.ndim(d):
            raise ValueError("one electrical pulse has one direction (the line it is applied to)")
        live = self.formed[idx] & (self.stuck[idx] == 0) & (n > 0)
        if electrical and d == SET and amplitude is not None and not self.formed[idx].all():
            self._form_by_pulses(idx, n, amplitude, width, gate)   # formed now: no SET too
        if not live.all():
            idx, n = idx[live], n[live]
            if np.ndim(d):
                d = np.broadcast_to(d, live.shape)[live]
        if idx.size == 0:
            return
        drive = (amplitude, width, gate, None) if electrical else None
        self._burst(idx, n, d, drive)

    def _burst(self, idx, n, d, drive) -> None:
        """n pulses on live devices ``idx`` (n >= 1 each), one noise draw per pulse."""
        if drive is None and np.ndim(d) == 0 and self._compiled(d) is not None:
            if self._compiled_bursts(idx, n, d, int(n.max())):
                return
            # a device reaches its endurance in this burst: the NumPy path below handles wear
        self._events_bound = None   # the NumPy path moves the counters: recount when needed
        e0 = self.write_events[idx]
        worn = None
        if self.model.endurance is not None:
            n, worn = self._wear_limit(idx, e0, n)
            if worn is not None and not n.all():   # devices with no life left get no pulse
                keep = n > 0
                idx, n, e0 = idx[keep], n[keep], e0[keep]
                d = d if np.ndim(d) == 0 else d[keep]
                if idx.size == 0:
                    self._wear_out(worn)
                    return
        n_max = int(n.max())
        if n_max == 1:   # the common case (one pulse each): one pass for the counters
            e0 += np.uint32(1)
            self.write_events[idx] = e0
            g0 = self.g[idx]
            g1 = self._one_pulse(idx, g0, e0, d, drive)
            self.g[idx] = g1
            if self.model.energy is not None:
                self._charge_pulses(g0, g1, d, drive)
        else:
            self.write_events[idx] = e0 + n.astype(np.uint32)
            g = self.g[idx]
            for k in range(n_max):
                pos = np.flatnonzero(n > k)
                dk = d if np.ndim(d) == 0 else d[pos]
                g0 = g[pos]
                g[pos] = self._one_pulse(idx[pos], g0, e0[pos] + np.uint32(k + 1), dk, drive)
                if self.model.energy is not None:
                    self._charge_pulses(g0, g[pos], dk, drive)
            self.g[idx] = g
        if worn is not None:
            self._wear_out(worn)

    # -- the compiled nominal pulse (physics.kernels) -------------------------------------
    def _packed(self, dev, n: int):
        """A NeuroSim model whose per-device SET parameters (Gmin, Gmax, A and the curve's B)
        are views into one (n, 4) array: the compiled pulse then reads one cache line per
        device instead of four (a pulse is a handful of cache misses and little arithmetic).
        The same memory as four separate arrays; the values are the model's own."""
        if not isinstance(dev, NeuroSimModel):
            return dev
        a, b = dev._constants(True, self.dtype)       # B as the model computes it
        cols = (dev.g_min, dev.g_max, a, b)
        if not any(np.ndim(x) for x in cols):
            self._set_params = np.array([cols], self.dtype)   # nothing varies: one shared row
            return dev
        packed = self._param_rows(cols, n)
        views = [packed[:, c] for c in range(4)]
        new = dataclasses.replace(dev, **{name: views[c] for c, name in enumerate(("g_min", "g_max", "a_set"))
                                          if np.ndim(getattr(dev, name))})
        new.__dict__["_consts"] = {(True, self.dtype.str): (views[2] if np.ndim(a) else a,
                                                            views[3] if np.ndim(b) else b)}
        self._set_params = packed
        return new

    def _param_rows(self, cols, n: int) -> np.ndarray:
        """(Gmin, Gmax, A, B) as one row per device (n rows; shared values broadcast)."""
        rows = np.empty((n, 4), self.dtype)
        for c, x in enumerate(cols):
            rows[:, c] = x
        return rows

    def _compiled(self, d) -> tuple | None:
        """(parameter rows, σ_abs, σ_rel, clip at the bounds) of the compiled NeuroSim pulse in direction ``d``,
        in the chip's dtype, or None for other update models (they take the NumPy path,
        :meth:`UpdateModel.pulse_once`)."""
        cache = self.__dict__.setdefault("_kernel_args", {})
        if d not in cache:
            dev = self.devices
            if not isinstance(dev, NeuroSimModel):
                cache[d] = None
            else:
                t = self.dtype.type
                if d == SET:
                    rows = self._set_params
                else:   # RESET rows are built when first needed (SimArray never pulses RESET)
                    cols = (dev.g_min, dev.g_max, *dev._constants(False, self.dtype))
                    rows = self._param_rows(cols, max(np.size(x) for x in cols))
                cache[d] = (rows, t(dev.c2c_abs), t(dev.c2c_rel), dev.noise_at_bound == "clip")
        return cache[d]

    def _burst_args(self, d) -> tuple:
        """:func:`kernels.neurosim_burst`'s arguments after the addressing (up to the wear
        floor, which is per call): the parameters and the noise stream."""
        cache = self.__dict__.setdefault("_burst_cache", {})
        if d not in cache:
            cache[d] = (d == SET, *self._compiled(d), self._write_base())
        return cache[d]

    def _energy_args(self, d) -> tuple:
        """(pulse bias, read bias) of the kernels' energy sums: the nominal pulse at its own
        gate, the read at the read gate (:func:`energy.bias`); empty: not counted."""
        tracked = self._read_i_sum is not None
        cache = self.__dict__.setdefault("_energy_cache", {})
        if (d, tracked) not in cache:
            none = np.zeros(0)
            pulse = read = none
            if self.model.energy is not None:
                kin = self.model.switching.set_kinetics if d == SET else self.model.switching.reset_kinetics
                pulse = _energy.bias(self.model, kin.amplitude, kin.gate, d != SET)
                if tracked:
                    read = _energy.bias(self.model, self.model.read.voltage, self.model.read.gate, False)
            cache[(d, tracked)] = (pulse, read)
        return cache[(d, tracked)]

    def _wear_floor(self, n_max: int) -> int | None:
        """The write-event count a compiled burst must check against (None: none can be
        reached in this call, so the kernel skips its check, a pass over the counters).
        The chip keeps an upper bound on every device's write events, raised by each
        compiled call and recounted only when it nears the endurance floor."""
        en = self.model.endurance
        if en is None:
            return None
        floor = int(np.floor(en.median * np.exp(-_TRUNCATE * en.sigma)))
        bound = self.__dict__.get("_events_bound")
        if bound is None or bound + n_max >= floor:
            bound = self._events_bound = int(self.write_events.max())
        return None if bound + n_max < floor else floor

    def _compiled_bursts(self, idx, n, d, n_max: int) -> bool:
        """``n`` nominal pulses on devices ``idx`` in the compiled loop; False (nothing done)
        when a device would wear out in it."""
        floor = self._wear_floor(n_max)
        sums = np.zeros(2)
        if kernels.neurosim_burst(self.g, self.write_events, self.formed, self.stuck, self._all_live(), idx, n,
                                  *self._burst_args(d), self._floor_arg(floor), *self._energy_args(d), sums) < 0:
            return False
        self._after_compiled(d, sums, floor, n_max)
        return True

    @staticmethod
    def _floor_arg(floor: int | None) -> np.int64:
        return np.int64(kernels._NO_FLOOR if floor is None else floor)

    def _after_compiled(self, d, sums, floor: int | None, n_max: int) -> None:
        """Book a compiled burst's energy and move the write-counter bound: up by ``n_max``
        when unchecked, recounted next time when the kernel checked against ``floor``."""
        self._book_energy(d, sums)
        bound = self.__dict__.get("_events_bound")
        self._events_bound = bound + n_max if floor is None and bound is not None else None

    def _write_base(self) -> np.uint64:
        if "_wbase" not in self.__dict__:
            self._wbase = stream_base(self.seed, _WRITE_STREAM)
        return self._wbase

    def _book_energy(self, d, sums) -> None:
        """Book the energy sums of a compiled burst (see :func:`kernels.neurosim_burst`)."""
        if self.model.energy is None:
            return
        kin = self.model.switching.set_kinetics if d == SET else self.model.switching.reset_kinetics
        self.program_energy += 0.5 * abs(kin.amplitude) * kin.width * float(sums[0])
        if self._read_i_sum is not None:
            self._read_i_sum += float(sums[1])

    def pulse_pairs(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """2T2R updates from signed counts ``k`` (one per synapse, flat): k > 0 pulses the
        + device k times, k < 0 the − device |k| times, nominal SET pulses.  Returns (the
        synapses touched, G+ − G− of each afterwards, the pulses sent to them).  Compiled
        passes where the model allows (SimArray's update)."""
        k = np.ascontiguousarray(k).reshape(-1)
        if k.size != self.rows * self.cols:
            raise ValueError(f"{k.size} pulse counts for a chip of {self.rows * self.cols} synapses")
        if k.dtype == np.int8:
            syn = kernels.nonzero_int8(k, k[:k.size - k.size % 8].view(np.uint64))
        else:
            syn = np.flatnonzero(k != 0)
        floor = self._wear_floor(127) if self.model.endurance is not None else None
        if syn.size and self._compiled(SET) is not None and k.dtype == np.int8:
            sums = np.zeros(2)
            diff, sent = kernels.signed_pair_pulses(
                k, syn, self.g, self.write_events, self.formed, self.stuck, self._all_live(),
                *self._burst_args(SET), self._floor_arg(floor), *self._energy_args(SET), sums)
            if sent >= 0:
                self._after_compiled(SET, sums, floor, 127)
                return syn, diff, int(sent)
        counts = np.abs(k[syn].astype(np.int64))
        self.pulse(syn * 2 + (k[syn] < 0), counts, SET)
        return syn, self.g[syn * 2] - self.g[syn * 2 + 1], int(counts.sum())

    # -- wear -------------------------------------------------------------------------
    def endurance_of(self, idx) -> np.ndarray:
        """Write events devices ``idx`` survive (lognormal across devices, ``model.endurance``):
        a pure function of (seed, device), drawn when needed, never stored."""
        en = self.model.endurance
        idx = np.atleast_1d(np.asarray(idx, np.int64))
        if not en.sigma:
            return np.full(idx.shape, max(np.floor(en.median), 1.0))
        z = counter_normal(self.seed, idx, np.zeros(idx.shape, np.uint64), _ENDURANCE_STREAM)
        return np.maximum(np.floor(en.median * np.exp(en.sigma * np.clip(z, -_TRUNCATE, _TRUNCATE))), 1.0)

    def _wear_limit(self, idx, e0, n):
        """(n cut to what each device survives, devices that wear out in this burst or None).
        Cheap when nothing is near its end: one max over the pulsed devices' counters."""
        en = self.model.endurance
        floor = np.floor(en.median * np.exp(-_TRUNCATE * en.sigma))
        after = e0.astype(np.int64) + n
        if after.max() < floor:
            return n, None
        near = np.flatnonzero(after >= floor)
        left = self.endurance_of(idx[near]) - e0[near]
        n = n.copy()
        n[near] = np.minimum(n[near], np.maximum(left, 0)).astype(n.dtype)
        ends = near[n[near] >= left]
        return n, (idx[ends] if ends.size else None)

    def _wear_out(self, idx) -> None:
        code = WORN if self.model.endurance.stuck_at == "gmax" else -WORN
        self.stuck[idx] = code
        self._apply_stuck(idx)

    def wear(self) -> dict:
        """Write events per device (mean, max) and the fraction of devices worn out."""
        ev = self.write_events
        return {"pulses_mean": float(ev.mean()), "pulses_max": int(ev.max()),
                "worn_fraction": float(np.count_nonzero(np.abs(self.stuck) == WORN)) / self.size}

    # -- energy -------------------------------------------------------------------------
    def _charge_pulses(self, g0, g1, d, drive) -> None:
        """Add the programming energy of one pulse on each device (before g0, after g1)."""
        sw = self.model.switching
        gate = None
        if drive is None:              # the nominal pulse (SimArray): at its nominal gate
            width = None
            amplitude = None
        elif drive == "full":
            # a strong RESET in an array: the nominal RESET pulse, as long as the train that
            # saturates a device (2|A| pulses); the bench's SMU RESET is a DC reading (dc())
            amplitude = sw.reset_kinetics.amplitude
            width = self._full_train(RESET) * sw.reset_kinetics.width
        else:
            amplitude, width, gate, _ = drive
        if np.ndim(d):
            for dd in (SET, RESET):
                m = d == dd
                if m.any():
                    self._charge_pulses(g0[m], g1[m], dd, drive)
            return
        kin = sw.set_kinetics if d == SET else sw.reset_kinetics
        v = kin.amplitude if amplitude is None else amplitude
        t = kin.width if width is None else width
        gate = kin.gate if gate is None else gate
        self.program_energy += _energy.pulse_energy(self.model, g0, g1, v, t, gate, reset=d != SET)
        if self._read_i_sum is not None:
            self._read_i_sum += float(self._read_currents_sum(g1) - self._read_currents_sum(g0))

    def _read_currents_sum(self, g) -> float:
        """Σ |I| of devices at ``g`` read at the model's read voltage and gate."""
        rd = self.model.read
        g = np.asarray(g).reshape(-1)
        return float(_energy.cell_current_compiled(self.model, g, rd.voltage, rd.gate).sum(dtype=np.float64))

    def charge_array_read(self) -> None:
        """Charge one read of every device at the model's read voltage (a sense amplifier
        reading the whole array's signs): ``V_read·read_time·Σ I``, O(1) between changes."""
        if self.model.energy is None:
            return
        vr = self.model.read.voltage
        if self._read_i_sum is None:
            self._read_i_sum = self._read_currents_sum(self.g)
        self.read_energy += vr * self.model.energy.read_time * self._read_i_sum

    def energy(self) -> dict:
        """J spent in the cells so far: programming and reads."""
        return {"program": self.program_energy, "read": self.read_energy}

    # -- time: drift at rest ------------------------------------------------------------
    def advance_to(self, t: float) -> None:
        """The chip's clock reads ``t`` (s): drift every device by the time since drift was
        last applied, once that is at least ``retention.time_step`` (so the milliseconds a
        measurement spends on transport and pulses never drift it, and the result depends
        only on the times of the operations, not on how often the clock was looked at)."""
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"Chip.advance_to: time {t} s is not a finite number")
        if t <= self.time:
            return
        # every write since the last clock reading happened at that reading (a pulse happens
        # at the chip's time): the post-program relaxation starts there
        since, self.time = self.time, t
        ret = self.model.retention
        if ret is None or t - self._drift_time < ret.time_step:
            return
        dt, self._drift_time = t - self._drift_time, t
        self._drift(dt, self.temperature, since=since)

    def set_temperature(self, temperature: float | None) -> None:
        """The chip is at ``temperature`` K from its present time on (None: the model's
        operating temperature).  Drift pending since it was last applied happened at the old
        temperature, so it is applied first, however short (a chuck ramping through 200 K
        must not age the chip at the end temperature for the whole ramp)."""
        if temperature is not None:
            temperature = float(temperature)
            if not 0 < temperature <= 1000:
                raise ValueError(f"temperature must be in (0, 1000] K, got {temperature}")
        if temperature == self.temperature:
            return
        if self.model.retention is not None and self.time > self._drift_time:
            pending, self._drift_time = self.time - self._drift_time, self.time
            self._drift(pending, self.temperature, since=self.time)
        self.temperature = temperature

    def _drift(self, dt: float, temperature: float | None = None, since: float | None = None) -> None:
        """Every live device drifts for ``dt`` s at ``temperature`` (None: the model's), the
        period ending at ``self._drift_time``; devices programmed since the last drift were
        programmed at chip time ``since`` (None: at its start) and drift from there."""
        ret = self.model.retention
        rel = ret.relaxation if ret is not None else None
        if ret is None or (dt <= 0 and rel is None):
            return
        end = self._drift_time if temperature is None else self.time
        fresh = min(max(end - since, 0.0), dt) if since is not None else dt   # s a new program drifts
        live = self.formed & (self.stuck == 0)
        new = self._relax_register(live, dt, fresh, temperature) if rel is not None else None
        idx = np.flatnonzero(live)
        if idx.size == 0 or dt <= 0:
            return
        all_live = idx.size == self.size
        sel = slice(None) if all_live else idx
        g = self.g[sel]
        gmin, gmax = self._gmin[sel], self._gmax[sel]
        g_inf = gmin + self.dtype.type(ret.level) * (gmax - gmin)
        taus = retention.device_taus(ret, self._drift_key(), idx, temperature)
        if not ret.state_factor and (new is None or fresh == dt):
            g = retention.relax(g, g_inf, taus, dt)        # the exponential model, as before
        else:
            kt = dt / taus
            if new is not None and fresh != dt:
                kt = np.where(new[sel], fresh / taus, kt)
            g_top = self.dtype.type(self.model.gmax)
            u = (g - g_inf) / (g_top - g_inf)
            g = (g_inf + retention.longterm(u, kt, ret.state_factor) * (g_top - g_inf)).astype(self.dtype)
        if rel is not None:
            g = self._relax_step(g, idx, sel)
        self.g[sel] = g
        self._read_i_sum = None

    # The post-program relaxation depends on the time since each device's last program, which
    # G alone does not hold.  Memory is what a 10⁶-device array cannot spare, so per device
    # two bytes, allocated on the first drift (training never advances the clock): the low
    # byte of its write-event count at the last drift (changed: programmed since; a device
    # written a multiple of 256 times between two drifts is missed) and an index (0: settled)
    # into a 256-entry table of program times on the age clock (time scaled by Arrhenius to
    # the reference temperature, so a bake settles relaxation too).
    _RELAX_SLOTS = 256

    def _relax_register(self, live, dt: float, fresh: float, temperature) -> np.ndarray:
        """Book the devices programmed since the last drift (returned as a mask) and move
        the age clock over this drift's ``dt``; the increments are :meth:`_relax_step`'s."""
        ret = self.model.retention
        acc = retention.acceleration(ret, temperature)
        if self.__dict__.get("_relax_code") is None:
            self._relax_code = np.zeros(self.size, np.uint8)
            self._relax_epochs = np.zeros(self._RELAX_SLOTS)
            if self.__dict__.get("_relax_settled"):   # an old checkpoint: its devices have settled
                new = np.zeros(self.size, bool)
            else:
                new = self.write_events > 0
            self._relax_events = self.write_events.astype(np.uint8)
        else:
            low = self.write_events.astype(np.uint8)
            new = low != self._relax_events
            self._relax_events = low
        new &= live
        self._relax_code[~live] = 0
        a0 = self._age_clock
        self._relax_age = (a0, a0 + max(dt, 0.0) * acc)   # this drift's span on the age clock
        self._age_clock = self._relax_age[1]
        if new.any():
            self._relax_code[new] = 0
            slot = self._free_slot()
            self._relax_epochs[slot] = self._age_clock - fresh * acc
            self._relax_code[new] = slot
        return new

    def _free_slot(self) -> int:
        """A program-time slot no device uses; when all 255 are in use (255 programs within
        a relaxation time, between drifts), the two closest in log-age are merged (the
        younger's devices take the older's time: a small, bounded approximation)."""
        counts = np.bincount(self._relax_code, minlength=self._RELAX_SLOTS)
        free = np.flatnonzero(counts[1:] == 0)
        if free.size:
            return int(free[0]) + 1
        ages = np.maximum(self._age_clock - self._relax_epochs[1:], 1e-9)
        order = np.argsort(ages) + 1
        ratio = np.log(ages[order[1:] - 1]) - np.log(ages[order[:-1] - 1])
        k = int(np.argmin(ratio))
        young, old = order[k], order[k + 1]
        self._relax_code[self._relax_code == young] = old
        return int(young)

    def _relax_step(self, g, idx, sel) -> np.ndarray:
        """``g`` (of live devices ``idx``) after this drift's post-program relaxation."""
        rel = self.model.retention.relaxation
        code = self._relax_code[sel]
        pos = np.flatnonzero(code)
        if pos.size == 0:
            return g
        dev, c = idx[pos], code[pos]
        a0, a1 = self._relax_age
        born = self._relax_epochs[c]
        df = retention.relax_shape(rel, a1 - born) - retention.relax_shape(rel, a0 - born)
        xi = np.clip(counter_normal(self._drift_key(), dev, self.write_events[dev], retention.RELAXATION_STREAM),
                     -_TRUNCATE, _TRUNCATE)
        g[pos] = retention.relax_move(g[pos], rel, self.model.gmin, self.model.gmax, xi * df).astype(g.dtype)
        done = pos[a1 - born >= rel.t_sat]
        if done.size:
            self._relax_code[idx[done]] = 0      # settled: no more increments
        return g

    def _drift_key(self) -> int:
        return self.seed if self.drift_seed is None else int(self.drift_seed)

    def redraw_drift(self, seed: int) -> None:
        """Drift seed ``seed`` from now on: 0 is the chip's own draw, any other draws the
        drift's randomness anew, the same for the same chip and seed."""
        self.drift_seed = None if seed == 0 else int(np.random.SeedSequence(
            [self.seed, 0xD71F7, seed]).generate_state(1)[0])

    def advance_time(self, seconds: float, temperature: float | None = None) -> None:
        """Let ``seconds`` pass at rest: idle time at the chip's temperature
        (:meth:`set_temperature`; by default the model's ``retention.temperature``), or a bake
        at ``temperature`` K (drift pending from before the bake is applied first, at the
        chip's temperature)."""
        if not seconds >= 0:
            raise ValueError(f"time cannot run backwards (seconds={seconds})")
        if not math.isfinite(seconds):
            raise ValueError(f"Chip.advance_time: {seconds} s is not a finite time")
        if temperature is None:
            self.advance_to(self.time + seconds)
            return
        if not 0 < temperature <= 1000:
            raise ValueError(f"temperature must be in (0, 1000] K, got {temperature}")
        pending, self._drift_time = self.time - self._drift_time, self.time
        self._drift(pending, self.temperature, since=self.time)
        self.time += float(seconds)
        self._drift(float(seconds), float(temperature), since=self.time - float(seconds))
        self._drift_time = self.time

    def _one_pulse(self, idx, g, events, d, drive) -> np.ndarray:
        """The state of devices ``idx`` (at ``g``) after their pulse number ``events``."""
        xi = counter_normal(self.seed, idx, events, _WRITE_STREAM, dtype=self.dtype)
        dev = self.devices.index(idx)
        var = self.model.variability
        scale, ceiling = None, None
        c_nominal = None
        if drive == "full":
            scale = np.full(idx.shape, _FULL_RESET, self.dtype)
        elif drive is not None:
            amplitude, width, gate, compliance = drive
            sw = self.model.switching
            gate = kinetics.nominal_gate(sw, d) if gate is None else gate
            scale, v_dev = kinetics.pulse_drive(sw, g, d, amplitude, width, gate)
            if amplitude is not None:
                thr = self.threshold("v_set" if d == SET else "v_reset", idx, events)
                below = v_dev < thr
                if below.any():
                    scale = np.where(below, 0.0, 1.0 if scale is None else scale)
            if scale is not None and np.all(scale == 1.0):
                scale = None   # the nominal pulse: the same arithmetic as SimArray's
            if d == SET:
                c_nominal = kinetics.set_ceiling(sw, gate, compliance)
        # A pulse worth more than a whole train saturates the device: where it lands is the
        # HRS/LRS level's own spread (a floor or ceiling drawn for this event), and the
        # gradual pulse's noise fades out between one and two trains' worth (continuously,
        # so a fit of the step against width or amplitude has a smooth model).  Gradual
        # pulses keep fixed bounds: a fresh bound per pulse would ratchet a train to the
        # extreme of its draws.
        full = None
        if scale is not None:
            train = self._full_train(d)
            full = scale >= train
            if np.any(scale > train):
                xi = xi * np.clip(2.0 - scale / train, 0.0, 1.0).astype(xi.dtype)
            if not full.any():
                full = None
        floor = None
        sw = self.model.switching
        if full is not None and np.ndim(d) == 0 and d == RESET and (var.hrs_c2c or sw.hrs_excess):
            # where a saturating RESET lands: deeper for a stronger drive (kinetics.hrs_factor),
            # lognormal from event to event around it
            gmin = self._gmin[idx]
            median = gmin * kinetics.hrs_factor(sw, scale / self._full_train(d)).astype(self.dtype)
            floor = np.where(full, self._level(idx, events, median, var.hrs_c2c), gmin)
        ceiling = self._ceiling(dev, idx, events, c_nominal, full)
        if ceiling is None and floor is None:
            if scale is None and np.ndim(d) == 0 and self._compiled(d) is not None:
                # the nominal pulse: the same compiled arithmetic as SimArray's bursts
                out = np.empty_like(g)
                kernels.neurosim_pulse_once(g, idx, xi.astype(g.dtype, copy=False), d == SET,
                                            *self._compiled(d), out)
                return out
            return dev.pulse_once(g, d, xi, scale)
        return self._compressed_pulse(dev, idx, g, d, xi, scale, ceiling, floor)

    def _full_train(self, d) -> float:
        """Nominal pulses that saturate a device: twice the curve's pulse constant |A| (the
        step is then e^(−2) of the first), which, unlike Pmax, does not depend on how long
        the trains were that a model was fitted to.  Models without an A: 64 pulses."""
        up = self.model.update
        a = getattr(up, "a_set" if (np.ndim(d) == 0 and d == SET) else "a_reset", None)
        return 2.0 * abs(float(a)) if a is not None else 64.0

    def _ceiling(self, dev, idx, events, c_nominal: float | None, full) -> np.ndarray | None:
        """S, where a current-limited SET of devices ``idx`` tends to (for a saturating
        pulse, lognormal from event to event), or None where the limit is above every
        device's own SET asymptote (the usual case: nothing limits the nominal pulse)."""
        if c_nominal is None:
            return None
        sigma = self.model.variability.lrs_c2c if full is not None else 0.0
        lo = self._gmin[idx]
        top = lo + dev.set_asymptote_span(self.dtype)
        if c_nominal * np.exp(-_TRUNCATE * sigma) >= np.max(top):
            return None
        c = np.full(idx.shape, c_nominal, self.dtype)
        if sigma:
            c = np.where(full, self._level(idx, events, c_nominal, sigma), c)
        return np.minimum(c, top)

    def _compressed_pulse(self, dev, idx, g, d, xi, scale, ceiling, floor) -> np.ndarray:
        """One pulse of a device whose range this event tends to [Gmin, ceiling] (SET under
        a current limit) or is [floor, Gmax] (RESET with its bottom drawn): the update model on
        the compressed range, so the steps (and their noise) shrink with it.  A device already
        beyond the bound (SET above a lower gate's ceiling) is left where it is."""
        lo, hi = self._gmin[idx].astype(g.dtype), self._gmax[idx].astype(g.dtype)
        span = hi - lo
        if ceiling is not None:
            # the SET asymptote lands on the ceiling (see UpdateModel.set_asymptote_span)
            s = np.maximum((ceiling - lo) / dev.set_asymptote_span(g.dtype), 1e-6)
            u = lo + (g - lo) / s
            out = lo + (dev.pulse_once(u, d, xi, scale) - lo) * s
            return np.where(g < ceiling, out, g).astype(g.dtype, copy=False)
        s = np.maximum((hi - floor) / span, 1e-6)
        u = hi - (hi - g) / s
        out = hi - (hi - dev.pulse_once(u, d, xi, scale)) * s
        return np.where(g > floor, out, g).astype(g.dtype, copy=False)

    def reset_full(self, idx) -> None:
        """Strong RESET (a long, high SL pulse): one RESET pulse that saturates, landing at
        the device's HRS of this cycle (lognormal around its own Gmin, ``variability.hrs_c2c``)
        plus the update model's one-pulse noise, as a DC RESET on the bench does."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        idx = idx[self.formed[idx] & (self.stuck[idx] == 0)]
        if idx.size:
            self._burst(idx, np.ones(idx.shape, np.int64), RESET, "full")

    def form(self, idx, voltage: float, compliance: float | None = None, gate: float | None = None,
             width: float | None = None) -> np.ndarray:
        """Forming: a pristine device biased ``width`` s (default: the nominal SET width) at
        ``voltage`` forms when that drive reaches its own V_form (:func:`kinetics.form_progress`);
        it lands at the current-limited LRS, I_C / v_compliance (I_C the lower of the
        compliance and the gate's saturation current), lognormal from event to event.

        Returns the boolean mask of devices that formed by this call.
        """
        _check_drive("form", voltage=voltage, compliance=compliance, gate=gate, width=width)
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        sw = self.model.switching
        width = sw.set_kinetics.width if width is None else float(width)
        newly = np.zeros(idx.shape, bool)
        cand = ~self.formed[idx]
        if not cand.any() or voltage <= 0 or width < sw.min_pulse_width:
            return newly
        tgt = idx[cand]
        events = self.write_events[tgt] + np.uint32(1)
        self.write_events[tgt] = events
        self._events_bound = None
        formed = kinetics.form_progress(sw, voltage, width, self.threshold("v_form", tgt, events)) >= 1.0
        newly[np.flatnonzero(cand)[formed]] = True
        tgt, events = tgt[formed], events[formed]
        if tgt.size == 0:
            return newly
        self.formed[tgt] = True
        limit = kinetics.set_ceiling(sw, gate, compliance)
        if limit is None:
            limit = np.inf   # nothing limits the current: the device forms to its Gmax
        level = self._level(tgt, events, limit, self.model.variability.lrs_c2c)
        self.g[tgt] = np.clip(level, self._gmin[tgt], self._gmax[tgt])
        self._read_i_sum = None
        self._apply_stuck(tgt)
        return newly

    def _form_by_pulses(self, idx, n, amplitude, width, gate) -> None:
        """Forming by SET pulses: up to n tries per pristine device (each pulse is an event)."""
        for k in range(int(n.max())):
            todo = idx[(n > k) & ~self.formed[idx]]
            if todo.size == 0:
                return
            self.form(todo, amplitude, None, gate, width)

    # -- reads and DC ---------------------------------------------------------------
    def current(self, idx, voltage: float, compliance: float | None = None, noisy: bool = True,
                gate: float | None = None, out: np.ndarray | None = None,
                duration: float | None = None) -> np.ndarray:
        """Current (A) through devices ``idx`` (None: every device, in order) at ``voltage``
        (no state change): the 1T1R circuit, the access transistor at ``gate`` (None: the
        model's ``read.gate``) in series (:mod:`~labbench.physics.circuit`).  ``out``: write
        the currents there (a whole-array read into its destination, no copy).  ``duration``:
        how long the read biases the devices (s; None: an array read, ``energy.read_time``),
        which sets its read disturb."""
        _check_drive("current", voltage=voltage, compliance=compliance, gate=gate, duration=duration)
        every = idx is None
        idx = np.empty(0, np.int64) if every else np.atleast_1d(np.asarray(idx, dtype=np.int64))
        rd = self.model.read
        gate = rd.gate if gate is None else gate
        # float64 currents, except on float32 chips (SimArray), where reading 10⁶ devices
        # in double precision costs twice the time for no physical difference
        dt = np.float32 if self.dtype == np.float32 else np.float64
        g = self.g if self.g.dtype == dt else self.g.astype(dt)
        ratio = 1.0 if rd.iv != "sinh" or voltage == 0 else float(rd.v0 * np.sinh(abs(voltage) / rd.v0) / abs(voltage))
        # through the access transistor at the read's gate and the lines (physics.circuit);
        # a negative read is SL above BL, the transistor's source then rides on the device
        bias = kernels.circuit_args(self.model.switching, voltage, gate, voltage < 0, ratio)
        noise = rd.noise_rel if noisy else 0.0
        i = np.empty(self.size if every else idx.size, dt) if out is None else out
        # a read below every threshold costs energy and disturbs the device (_after_read)
        after = noisy and (self.model.read_disturb is not None or self.model.energy is not None) \
            and abs(voltage) < self.quiet_voltage()
        # with nothing to clip, that is done in the same pass (a refresh check's whole-array read)
        fused = after and compliance is None and g is self.g
        fraction = self.model.read_disturb is not None and self.model.read_disturb.model == "fraction"
        rd_f = retention.disturb_fraction(self.model.read_disturb, voltage) if fused and fraction else 0.0
        # series access transistor (R_on: the device and it form a divider) and read noise,
        # keyed by each device's read counter: one compiled pass
        sums = np.zeros(1)
        args = (bias, 1.0 if voltage >= 0 else -1.0, dt(noise), self._read_base(), i, self.formed, self.stuck,
                self._all_live(), self._gmin, self._gmax, self.dtype.type(rd_f), voltage > 0,
                fused and self.model.energy is not None, sums)
        if every and g is self.g:
            # a whole-array read (a refresh check): chunks on the helper thread too, where it
            # is free (physics.overlap); the same numbers
            overlap.read_currents_split(g, self.read_events, *args)
        else:
            kernels.read_currents(g, self.read_events, idx, 0, *args)
        abs_sum = float(sums[0])
        if fused:
            if self.model.energy is not None:
                self.read_energy += abs(voltage) * self.model.energy.read_time * abs_sum
            if rd_f:
                self._read_i_sum = None
            elif self.model.read_disturb is not None and not fraction:
                self._disturb(idx, voltage, gate, duration)
            return i
        if compliance is not None:
            i = np.clip(i, -abs(compliance), abs(compliance))
        if after:
            self._after_read(idx, voltage, i, gate, duration)
        if out is not None and i is not out:
            out[...] = i
            i = out
        return i

    def _read_base(self) -> np.uint64:
        if "_rbase" not in self.__dict__:
            self._rbase = stream_base(self.seed, _READ_STREAM)
        return self._rbase

    def _after_read(self, idx, voltage: float, i, gate=None, duration=None) -> None:
        """A read's cost (energy) and its trace on the device (read disturb); ``idx`` empty:
        every device was read."""
        if self.model.energy is not None:
            self.read_energy += _energy.read_energy(self.model, i, voltage)
        rd = self.model.read_disturb
        if rd is not None and rd.model == "kinetics":
            self._disturb(idx, voltage, gate, duration)
            return
        f = retention.disturb_fraction(rd, voltage) if rd is not None else 0.0
        if f:
            kernels.read_disturb(self.g, self.formed, self.stuck, idx, self._gmin, self._gmax,
                                 self.dtype.type(f), voltage > 0)
            self._read_i_sum = None

    # -- read disturb from the switching kinetics (read_disturb.model: kinetics) ------------
    def _read_time(self, duration) -> float:
        if duration is not None:
            return float(duration)
        return self.model.energy.read_time if self.model.energy is not None else 1e-7

    def _disturb(self, idx, voltage: float, gate, duration, count: int = 1) -> None:
        """``count`` reads at ``voltage`` (word line ``gate``, for ``duration`` s) on devices
        ``idx`` (empty: every device).  One device's read acts at once; a whole-array read
        (a sense read of every sign, a refresh check) is counted and applied when the reads
        counted so far add up to a thousandth of a nominal pulse, or when the state is
        looked at (:meth:`conductance`, :meth:`state_dict`): a pass over 10⁶ devices per
        sense read for a change of 10⁻¹³ S would cost training its speed for nothing, and the
        deferred reads are applied exactly (a closed form in the pulse count)."""
        rd = self.model.read_disturb
        if rd is None or voltage == 0 or not rd.factor_for(voltage):
            return
        key = (float(voltage), self.model.read.gate if gate is None else gate, self._read_time(duration))
        if np.size(idx):
            self._apply_disturb(np.asarray(idx, np.int64), *key, count)
            return
        pending = self.__dict__.setdefault("_pending_reads", {})
        pending[key] = pending.get(key, 0) + count
        if pending[key] * self._disturb_scale(key) >= 1e-3:
            self._flush_disturb()

    def _disturb_scale(self, key) -> float:
        """The most nominal pulses one read of ``key`` is worth on the nominal device."""
        cache = self.__dict__.setdefault("_disturb_scales", {})
        if key not in cache:
            g = np.array([self.model.gmin, self.model.gmax], float)
            cache[key] = float(np.max(kinetics.read_disturb_pulses(self.model, g, *key)))
        return cache[key]

    def _flush_disturb(self) -> None:
        pending = self.__dict__.get("_pending_reads")
        if not pending:
            return
        self._pending_reads = {}
        for key, count in pending.items():
            self._apply_disturb(None, *key, count)

    def count_array_read(self, count: int = 1) -> None:
        """``count`` sense reads of every device at the model's read (voltage, gate, time):
        their read disturb (the differential sign reads of training are reads too)."""
        sense = self.__dict__.get("_sense")
        if sense is None:   # once per chip: this runs per sense read, per tile
            rd = self.model.read_disturb
            v_sense = float(self.model.read.voltage)
            if rd is None or not rd.factor_for(v_sense) or rd.model == "fraction":
                sense = self._sense = (None if rd is None or not rd.factor_for(v_sense) else "fraction", 0.0)
            else:
                key = (float(self.model.read.voltage), self.model.read.gate, self._read_time(None))
                sense = self._sense = (key, self._disturb_scale(key))
        key, scale = sense
        if key is None:
            return
        if key == "fraction":
            for _ in range(count):
                self._after_read(np.empty(0, np.int64), self.model.read.voltage, np.zeros(0))
            return
        pending = self.__dict__.setdefault("_pending_reads", {})
        n = pending[key] = pending.get(key, 0) + count
        if n * scale >= 1e-3:
            self._flush_disturb()

    def _apply_disturb(self, idx, voltage: float, gate, duration: float, count: int) -> None:
        """Move live devices ``idx`` (None: all) by ``count`` reads' worth of nominal pulses,
        noise-free (the update model's own curve, each device's parameters)."""
        live = self.formed & (self.stuck == 0)
        sel = np.flatnonzero(live) if idx is None else idx[live[idx]]
        if sel.size == 0:
            return
        g = self.g[sel]
        d = SET if voltage > 0 else RESET
        gate = self.model.read.gate if gate is None else gate
        m = kinetics.read_disturb_pulses(self.model, g.astype(float), voltage, gate, duration) * count
        dev = self.devices if sel.size == self.size else self.devices.index(sel)
        self.g[sel] = dev.advance_by(g.astype(float), m, d).astype(self.dtype)
        self._read_i_sum = None

    def read_conductance(self, idx, voltage: float | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """Conductance as a read at ``voltage`` would report it (I/V, noisy); ``idx`` None:
        every device; ``out``: where to write it."""
        v = self.model.read.voltage if voltage is None else voltage
        i = self.current(idx, v, out=out)
        i /= i.dtype.type(v)   # as i / v: NumPy divides float32 by a Python float in float32
        return i

    def quiet_voltage(self) -> float:
        """|V| below which a DC bias cannot change any device (threshold spreads included)."""
        if "_quiet" not in self.__dict__:   # the model is immutable: once per chip
            sw, var = self.model.switching, self.model.variability
            lowest = [getattr(sw, k) * np.exp(-_TRUNCATE * (getattr(var, k).d2d + getattr(var, k).c2c))
                      for k in ("v_set", "v_reset", "v_form")]
            self._quiet = float(min(lowest))
        return self._quiet

    def dc(self, idx, voltage: float, compliance: float, gate: float | None = None,
           duration: float | None = None) -> np.ndarray:
        """One DC reading (I-V sweeps, forming, the SMU's full RESET): the bias acts for
        ``duration`` s (default ``switching.dc_time``) through the same switching model as
        a pulse of that width, then the current is measured.

        Positive voltage is on BL (SET polarity, limited by the compliance and the gate),
        negative means SL above BL (RESET).  A pristine device may form.
        """
        _check_drive("dc", voltage=voltage, compliance=compliance, gate=gate, duration=duration)
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        sw = self.model.switching
        t = sw.dc_time if duration is None else float(duration)
        if gate is None and voltage != 0:   # the nominal gate of the direction it biases
            gate = kinetics.nominal_gate(sw, SET if voltage > 0 else RESET)
        pristine = ~self.formed[idx]
        if pristine.any():
            self.form(idx[pristine], abs(voltage), compliance, gate, t)
        live = idx[~pristine & self.formed[idx] & (self.stuck[idx] == 0)]
        if live.size and voltage != 0:
            d = SET if voltage > 0 else RESET
            self._burst(live, np.ones(live.shape, np.int64), d, (abs(voltage), t, gate, compliance))
        return self.current(idx, voltage, compliance, gate=gate)

    # -- state, for checkpoints and equivalence tests ---------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        self._flush_disturb()
        return {"g": self.g.copy(), "formed": self.formed.copy(), "stuck": self.stuck.copy(),
                "write_events": self.write_events.copy(), "read_events": self.read_events.copy(),
                # drift is applied up to here; the last clock reading itself is no state
                "drift_time": np.array(self._drift_time),
                "energy": np.array([self.program_energy, self.read_energy]),
                # post-program relaxation (empty until the first drift allocates it)
                **self._relax_state()}

    def _relax_state(self) -> dict[str, np.ndarray]:
        empty = np.zeros(0, np.uint8)
        have = self._relax_code is not None
        return {"relax_code": self._relax_code.copy() if have else empty,
                "relax_events": self._relax_events.copy() if have else empty,
                "relax_epochs": self._relax_epochs.copy() if have else np.zeros(0),
                "age_clock": np.array(self._age_clock)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for k in ("g", "formed", "stuck", "write_events", "read_events"):
            if state[k].shape != getattr(self, k).shape:
                raise ValueError(f"checkpoint {k} has shape {state[k].shape}, chip has {getattr(self, k).shape}")
            getattr(self, k)[...] = state[k]
        self._live = self._events_bound = None
        self._pending_reads = {}   # reads not yet applied belong to the state replaced
        # checkpoints from before drift and energy existed hold neither: time 0, nothing spent
        self._read_i_sum = None
        self._drift_time = float(state.get("drift_time", 0.0))
        self.time = max(self.time, self._drift_time)
        self.program_energy, self.read_energy = (float(x) for x in state.get("energy", (0.0, 0.0)))
        # relaxation state: a checkpoint from before it existed says nothing of when devices
        # were programmed; they are taken as settled (no relaxation left)
        self._relax_settled = "relax_code" not in state
        self._age_clock = float(state.get("age_clock", 0.0))
        code = state.get("relax_code")
        if code is None or np.size(code) == 0:
            self._relax_code = self._relax_events = self._relax_epochs = None
        else:
            if np.shape(code) != (self.size,) or np.shape(state["relax_events"]) != (self.size,) \
                    or np.shape(state["relax_epochs"]) != (self._RELAX_SLOTS,):
                raise ValueError(f"checkpoint relaxation state has shapes {np.shape(code)}, "
                                 f"{np.shape(state['relax_events'])}, {np.shape(state['relax_epochs'])}; "
                                 f"chip has ({self.size},) devices and {self._RELAX_SLOTS} slots")
            self._relax_code = np.array(code, np.uint8)
            self._relax_events = np.array(state["relax_events"], np.uint8)
            self._relax_epochs = np.array(state["relax_epochs"], np.float64)


def compile_loops(model: DeviceModel, dtype=np.float64) -> None:
    """Run a throw-away 2×2 chip of ``model`` through the compiled loops the instrument path
    uses (forming, electrical SET and RESET pulses, a strong RESET, reads with compliance and
    gate, a whole-array read), with signals held.  Compilation happens once per machine
    (then the loops load from the disk cache in milliseconds), but a signal that lands while
    numba compiles is raised inside a C callback, where Python prints it and drops it: a
    SIGTERM in the first measurement on a fresh install would be lost."""
    from labbench.errors import signals_deferred

    with signals_deferred():
        chip = Chip(model, 2, 2, seed=0, dtype=dtype, formed=False)
        idx = np.arange(chip.size)
        sw, v = model.switching, model.read.voltage
        chip.dc(idx, 1.5 * sw.v_form, compliance=1e-4)
        for d, kin in ((SET, sw.set_kinetics), (RESET, sw.reset_kinetics)):
            chip.pulse(idx, 1, d, amplitude=kin.amplitude, width=kin.width, gate=None)
            chip.pulse(idx, 2, d, amplitude=0.8 * kin.amplitude, width=kin.width, gate=None)
        chip.reset_full(idx)
        chip.current(idx, v, compliance=1e-3, gate=max(sw.v_gate_threshold + 0.5, 1.0))
        chip.read_conductance(None)


__all__ = ["Chip", "SET", "RESET", "check_chip_model", "compile_loops"]


# what each electrical value may be (defence in depth behind the bench's limits: a NaN or
# infinite level would otherwise pass every comparison and reach the physics)
_DRIVE_RULES = {
    "amplitude": ("V", lambda v: True), "voltage": ("V", lambda v: True), "gate": ("V", lambda v: True),
    "width": ("s", lambda v: v > 0), "duration": ("s", lambda v: v >= 0), "compliance": ("A", lambda v: v > 0),
}


def _check_drive(op: str, n=None, **values) -> None:
    """Refuse NaN, infinite or impossible values before they reach the physics."""
    for name, v in values.items():
        if v is None:
            continue
        unit, ok = _DRIVE_RULES[name]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(float(v)) or not ok(float(v)):
            what = "a finite number" + (" > 0" if name in ("width", "compliance") else " >= 0" if name == "duration"
                                         else "")
            raise ValueError(f"Chip.{op}: {name} {v!r} {unit} must be {what}")
    if n is not None and np.ndim(n) == 0:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) and not (
                isinstance(n, (float, np.floating)) and math.isfinite(n) and float(n).is_integer()):
            raise ValueError(f"Chip.{op}: pulse count {n!r} must be a whole number >= 0")
        if int(n) < 0:
            raise ValueError(f"Chip.{op}: pulse count {n!r} must be >= 0")
