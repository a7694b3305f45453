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

import numpy as np

from .device_model import DeviceModel
from .models import RESET, SET, parse_direction
from .noise import counter_normal

_WRITE_STREAM, _READ_STREAM = 1, 2


class Chip:
    def __init__(self, model: DeviceModel, rows: int, cols: int, seed: int = 0,
                 dtype=np.float64, formed: bool = True, initial: str = "gmin"):
        if rows <= 0 or cols <= 0:
            raise ValueError(f"chip size must be positive, got {rows}×{cols}")
        if model.gmin < 0:
            raise ValueError(
                f"device model {model.name!r} has a negative lower bound ({model.gmin:g}): it is in "
                "normalized (aihwkit weight) units, but a chip needs conductance in S; refit the "
                "data in siemens or rescale w_min/w_max/dw_min to conductances")
        self.model = model
        self.rows, self.cols = int(rows), int(cols)
        self.seed = int(seed)
        self.dtype = np.dtype(dtype)
        n = self.rows * self.cols * 2
        rng = np.random.default_rng(self.seed)
        # per-device parameters (device-to-device variation), flat arrays of length n
        self.devices = model.update.sample_devices(
            (n,), model.d2d.sigma, rng, truncate=model.d2d.truncate, dtype=self.dtype)
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
        return self.g.reshape(self.rows, self.cols, 2)

    def _apply_stuck(self, idx=None):
        sel = slice(None) if idx is None else idx
        s = self.stuck[sel]
        g = self.g[sel]
        g = np.where(s < 0, self._gmin[sel], np.where(s > 0, self._gmax[sel], g))
        self.g[sel] = g

    # -- writes ---------------------------------------------------------------------
    def pulse(self, idx, n, direction, amplitude: float | None = None, width: float | None = None,
              gate: float | None = None) -> None:
        """Apply ``n`` identical gradual SET (BL) or RESET (SL) pulses to devices ``idx``.

        With electrical values given (the instrument path), a pulse below the switching
        threshold, shorter than the minimum width, or with the gate off does nothing, as
        on hardware.  ``SimArray`` omits them and means "a valid programming pulse".
        """
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        n = np.broadcast_to(np.asarray(n, dtype=np.int64), idx.shape)
        d = parse_direction(direction)
        sw = self.model.switching
        if amplitude is not None:
            thr = sw.v_set if (np.all(d == SET)) else sw.v_reset
            if abs(amplitude) < thr:
                return
        if width is not None and width < sw.min_pulse_width:
            return
        if gate is not None and gate < sw.v_gate_threshold:
            return
        live = self.formed[idx] & (self.stuck[idx] == 0) & (n > 0)
        if not live.all():
            idx, n = idx[live], n[live]
            if np.ndim(d):
                d = np.broadcast_to(d, live.shape)[live]
        if idx.size == 0:
            return
        events = self.write_events[idx] + np.uint32(1)
        self.write_events[idx] = events
        xi = counter_normal(self.seed, idx, events, _WRITE_STREAM, dtype=self.dtype)
        dev = self.devices.index(idx)
        self.g[idx] = dev.step(self.g[idx], n, d, xi=xi)

    def reset_full(self, idx) -> None:
        """Strong RESET (a long, high SL pulse): the device returns to its own Gmin."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        ok = self.formed[idx]
        self.g[idx[ok]] = self._gmin[idx[ok]]
        self._apply_stuck(idx)

    def form(self, idx, voltage: float, compliance: float) -> np.ndarray:
        """Forming: a pristine device biased at or above ``v_form`` forms, compliance-limited.

        Returns the boolean mask of devices that formed by this call.
        """
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        sw = self.model.switching
        if voltage < sw.v_form:
            return np.zeros(idx.shape, bool)
        newly = ~self.formed[idx]
        tgt = idx[newly]
        self.formed[tgt] = True
        g_cc = compliance / max(voltage, 1e-12)
        self.g[tgt] = np.clip(g_cc, self._gmin[tgt], self._gmax[tgt])
        self._apply_stuck(tgt)
        return newly

    # -- reads and DC ---------------------------------------------------------------
    def current(self, idx, voltage: float, compliance: float | None = None, noisy: bool = True) -> np.ndarray:
        """Current (A) through devices ``idx`` at ``voltage`` (no state change)."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        rd = self.model.read
        # float64 currents, except on float32 chips (SimArray), where reading 10⁶ devices
        # in double precision costs twice the time for no physical difference
        g = self.g[idx].astype(np.float32 if self.dtype == np.float32 else np.float64)
        if rd.iv == "sinh":
            i = g * rd.v0 * np.sinh(voltage / rd.v0)
        else:
            i = g * voltage
        # series access transistor: the device and R_on form a divider
        r_on = self.model.switching.on_resistance
        if r_on:
            i = i / (1.0 + g * r_on)
        if noisy and rd.noise_rel:
            events = self.read_events[idx] + np.uint32(1)
            self.read_events[idx] = events
            xi = counter_normal(self.seed, idx, events, _READ_STREAM, dtype=g.dtype)
            i = i * (1.0 + g.dtype.type(rd.noise_rel) * xi)
        if compliance is not None:
            i = np.clip(i, -abs(compliance), abs(compliance))
        return i

    def read_conductance(self, idx, voltage: float | None = None) -> np.ndarray:
        """Conductance as a read at ``voltage`` would report it (I/V, noisy)."""
        v = self.model.read.voltage if voltage is None else voltage
        return self.current(idx, v) / v

    def dc(self, idx, voltage: float, compliance: float) -> np.ndarray:
        """A DC bias step (I-V sweeps): abrupt SET/RESET above thresholds, then the current.

        Positive voltage is on BL (SET polarity), negative means SL above BL (RESET).
        """
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        sw = self.model.switching
        if abs(voltage) >= sw.v_form:
            self.form(idx, abs(voltage), compliance)
        live = idx[self.formed[idx] & (self.stuck[idx] == 0)]
        if voltage >= sw.v_set and live.size:
            g_cc = abs(compliance) / voltage
            self.g[live] = np.clip(np.maximum(self.g[live], g_cc), self._gmin[live], self._gmax[live])
        elif voltage <= -sw.v_reset and live.size:
            # RESET deepens with |V|: interpolate toward Gmin over a 0.5 V window
            frac = min(1.0, (abs(voltage) - sw.v_reset) / 0.5 + 0.2)
            self.g[live] = self.g[live] - frac * (self.g[live] - self._gmin[live])
        return self.current(idx, voltage, compliance)

    # -- state, for checkpoints and equivalence tests ---------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        return {"g": self.g.copy(), "formed": self.formed.copy(), "stuck": self.stuck.copy(),
                "write_events": self.write_events.copy(), "read_events": self.read_events.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for k in ("g", "formed", "stuck", "write_events", "read_events"):
            if state[k].shape != getattr(self, k).shape:
                raise ValueError(f"checkpoint {k} has shape {state[k].shape}, chip has {getattr(self, k).shape}")
            getattr(self, k)[...] = state[k]


__all__ = ["Chip", "SET", "RESET"]
