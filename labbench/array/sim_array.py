"""SimArray: a 2T2R synapse array simulated by driving :class:`physics.Chip` directly.

Vectorized and float32: a 784 × 1000 layer is one chip of 1.57 M devices, and one
training update is one ``Chip.pulse`` call on the devices that get pulses.  A layer
larger than the chip you want to model is tiled onto several chips (``tile=(r, c)``);
each tile is its own Chip with its own seed, so its device-to-device parameters and
noise are its own.

Sense amplifier: the binary weight is read by a differential (precharge) sense
amplifier per column, comparing the two bit-line currents.  Its input offset is a
fixed per-column draw (σ ``sense_offset``) and each read adds thermal noise
(σ ``sense_noise``); both are fractions of the nominal conductance range, and together
they set the bit-error rate (0 and 0 = an ideal comparator).
"""
from __future__ import annotations

import json

import numpy as np

from labbench.physics import SET, Chip, DeviceModel, circuit, load_device_model

from .protocol import Array2T2R, ArrayCounters
from .pulse_stream import PulseStream
from .pulse_stream import resense_pairs as _resense_pairs


def check_representable(model: DeviceModel) -> None:
    """Refuse a device model that cannot hold a signed weight W ∝ G+ − G−."""
    gmin = np.asarray(model.update.gmin, float)
    gmax = np.asarray(model.update.gmax, float)
    if not np.all(np.isfinite(gmin)) or not np.all(np.isfinite(gmax)) or np.any(gmax <= gmin):
        raise ValueError(
            f"device model {model.name!r} cannot represent a weight: it needs Gmax > Gmin "
            f"(got Gmin={gmin}, Gmax={gmax}); fix g_min/g_max in the device-model file")


class SimArray(Array2T2R):
    """``rows × cols`` synapses on one or more simulated chips (see module doc)."""

    refresh_options = frozenset({"cap", "verify"})

    def __init__(self, model: DeviceModel | str | None, rows: int, cols: int, *, seed: int = 0,
                 tile: tuple[int, int] | None = None, sense_offset: float = 0.0,
                 sense_noise: float = 0.0, dtype=np.float32):
        if not isinstance(model, DeviceModel):
            model = load_device_model(model)
        check_representable(model)
        if rows <= 0 or cols <= 0:
            raise ValueError(f"array size must be positive, got {rows}×{cols}")
        if sense_offset < 0 or sense_noise < 0:
            raise ValueError("sense_offset and sense_noise are σ's (fractions of the range): >= 0")
        self.model = model
        self.rows, self.cols = int(rows), int(cols)
        self.seed = int(seed)
        self.counters = ArrayCounters()
        tr, tc = tile if tile is not None else (self.rows, self.cols)
        if tr <= 0 or tc <= 0:
            raise ValueError(f"tile size must be positive, got {tile}")
        self.tiles: list[tuple[slice, slice, Chip]] = []
        r_edges = list(range(0, self.rows, tr))
        c_edges = list(range(0, self.cols, tc))
        single = len(r_edges) == 1 and len(c_edges) == 1
        for i, r0 in enumerate(r_edges):
            for j, c0 in enumerate(c_edges):
                r1, c1 = min(r0 + tr, self.rows), min(c0 + tc, self.cols)
                # one tile keeps the given seed (so a Chip(model, rows, cols, seed) on a
                # simulated bench is the same chip); several get independent seeds
                s = self.seed if single else int(np.random.SeedSequence([self.seed, i, j]).generate_state(1)[0])
                self.tiles.append((slice(r0, r1), slice(c0, c1), Chip(model, r1 - r0, c1 - c0, seed=s, dtype=dtype)))
        self.span = float(np.asarray(model.update.gmax) - np.asarray(model.update.gmin))
        self.sense_noise = float(sense_noise)
        self._sense_rng = np.random.default_rng([self.seed, 0x5E45E])
        self._offset = (sense_offset * self.span
                        * self._sense_rng.standard_normal(self.cols)).astype(dtype)
        self._lut = None
        self._sign_cache: np.ndarray | None = None

    # -- reads ----------------------------------------------------------------------
    def _diff(self) -> np.ndarray:
        if len(self.tiles) == 1:
            g = self.tiles[0][2].g.reshape(self.rows, self.cols, 2)
            return g[..., 0] - g[..., 1]
        out = np.empty((self.rows, self.cols), self.tiles[0][2].dtype)
        for rs, cs, chip in self.tiles:
            g = chip.g.reshape(chip.rows, chip.cols, 2)
            out[rs, cs] = g[..., 0] - g[..., 1]
        return out

    def _sense(self, diff: np.ndarray, cols=None) -> np.ndarray:
        """The comparator: sign of (I+ − I−) + offset + noise; a tie reads +1."""
        if self._offset.any():
            diff = diff + (self._offset if cols is None else self._offset[cols])
        if self.sense_noise:
            diff = diff + (self.sense_noise * self.span) * self._sense_rng.standard_normal(
                diff.shape, dtype=diff.dtype)
        return diff

    def read_signs(self) -> np.ndarray:
        self.counters.sign_reads += self.rows * self.cols
        self.charge_array_reads(1)
        return np.where(self._sense(self._diff()) >= 0, 1, -1).astype(np.int8)

    def read_signs_float(self) -> np.ndarray:
        """:meth:`read_signs` as float32 ±1 (what a matmul wants), read-only.

        Without sense noise a read is a pure function of the conductances, so the
        result is cached and only the synapses pulsed since are re-sensed (a training
        step touches a few % of them): same answer, a fraction of the cost.
        """
        self.counters.sign_reads += self.rows * self.cols
        self.charge_array_reads(1)
        if self.sense_noise:
            d = self._sense(self._diff())
            return np.where(d >= 0, np.float32(1), np.float32(-1))
        if self._sign_cache is None:
            d = self._sense(self._diff())
            self._sign_cache = np.where(d >= 0, np.float32(1), np.float32(-1))
            self._sign_cache.flags.writeable = False
        return self._sign_cache

    def _resense(self, chip: Chip, rs: slice, cs: slice, syn: np.ndarray,
                 diff: np.ndarray | None = None) -> None:
        """Update the cached signs of tile synapses ``syn`` (flat within the tile), from their
        G+ − G− when the caller has it."""
        if self._sign_cache is None:
            return
        if diff is None:
            diff = chip.g[syn * 2] - chip.g[syn * 2 + 1]
        cache = self._sign_cache
        cache.flags.writeable = True
        _resense_pairs(syn, diff, self._offset, chip.cols, cs.start, rs.start, self.cols, cache.reshape(-1))
        cache.flags.writeable = False

    def true_signs(self) -> np.ndarray:
        """sign(G+ − G−) without the sense amplifier (for measuring its bit-error rate)."""
        return np.where(self._diff() >= 0, 1, -1).astype(np.int8)

    def bit_error_rate(self, reads: int = 3) -> float:
        """Measured fraction of sense reads that disagree with the true sign."""
        truth = self.true_signs()
        return float(np.mean([np.mean(self.read_signs() != truth) for _ in range(reads)]))

    def read_conductances(self) -> np.ndarray:
        """As the read circuit reports them: I/V at the read voltage, with read noise."""
        self.counters.conductance_reads += 2 * self.rows * self.cols
        out = np.empty((self.rows, self.cols, 2), self.tiles[0][2].dtype)
        if len(self.tiles) == 1:   # straight into the result
            self.tiles[0][2].read_conductance(None, out=out.reshape(-1))
            return out
        for rs, cs, chip in self.tiles:
            out[rs, cs] = chip.read_conductance(None).reshape(chip.rows, chip.cols, 2)
        return out

    def conductances(self) -> np.ndarray:
        """True conductances (no read, not counted), (rows, cols, 2): for plots and tests."""
        if len(self.tiles) == 1:
            return self.tiles[0][2].conductance().copy()
        out = np.empty((self.rows, self.cols, 2), self.tiles[0][2].dtype)
        for rs, cs, chip in self.tiles:
            out[rs, cs] = chip.conductance()
        return out

    # -- writes ---------------------------------------------------------------------
    def apply_set_pulses(self, n_plus: np.ndarray, n_minus: np.ndarray) -> None:
        n_plus, n_minus = np.asarray(n_plus), np.asarray(n_minus)
        for name, n in (("n_plus", n_plus), ("n_minus", n_minus)):
            if n.shape != (self.rows, self.cols):
                raise ValueError(f"{name} has shape {n.shape}, the array is {self.rows}×{self.cols}")
        for rs, cs, chip in self.tiles:
            self.counters.set_pulses += self._pulse_tile(chip, rs, cs, n_plus[rs, cs], n_minus[rs, cs])

    def apply_signed_pulses(self, k: np.ndarray) -> None:
        """Same as ``apply_set_pulses(max(k, 0), max(−k, 0))`` in one pass: ``k[r, c] > 0``
        pulses G+ k times, ``< 0`` pulses G− |k| times (the trainer's fast path)."""
        k = np.asarray(k)
        if k.shape != (self.rows, self.cols):
            raise ValueError(f"pulse counts have shape {k.shape}, the array is {self.rows}×{self.cols}")
        for rs, cs, chip in self.tiles:
            kt = k[rs, cs]
            syn, diff, pulses = chip.pulse_pairs(kt)
            if syn.size:
                self._resense(chip, rs, cs, syn, diff)
                self.counters.set_pulses += pulses

    def can_stream(self) -> bool:
        """Whether this update can be a :meth:`pulse_stream`: one tile, an update model with
        the compiled pulse, and no device that could wear out in it (those take the one-call
        update, :meth:`apply_signed_pulses`)."""
        if len(self.tiles) != 1:
            return False
        chip = self.tiles[0][2]
        if chip._compiled(SET) is None:
            return False
        return chip.model.endurance is None or chip._wear_floor(127) is None

    def pulse_stream(self, row_edges, rule: tuple, scale, use_helper: bool = True) -> PulseStream:
        """A :class:`~labbench.array.pulse_stream.PulseStream` for one update (where
        :meth:`can_stream`), its ΔW posted by the row blocks ``row_edges`` (0, …, rows) and
        rounded by ``rule`` (an update rule's ``compiled()``), pulsed while the caller
        computes the next block."""
        if not self.can_stream():
            raise ValueError("this array cannot stream an update now (several tiles, no compiled pulse, "
                             "or a device near its endurance): use apply_signed_pulses")
        return PulseStream(self, self.tiles[0][2], row_edges, rule, scale, use_helper)

    def _pulse_tile(self, chip: Chip, rs: slice, cs: slice, n_plus: np.ndarray, n_minus: np.ndarray) -> int:
        fp = np.flatnonzero(n_plus != 0)
        fm = np.flatnonzero(n_minus != 0)
        if fp.size == 0 and fm.size == 0:
            return 0
        counts = np.concatenate([n_plus.ravel()[fp], n_minus.ravel()[fm]])
        if counts.min() < 0:
            raise ValueError("pulse counts must be >= 0")
        chip.pulse(np.concatenate([fp * 2, fm * 2 + 1]), counts, SET)
        self._resense(chip, rs, cs, np.concatenate([fp, fm]))
        return int(counts.sum())

    def reset(self, mask: np.ndarray) -> None:
        mask = self._check_mask(mask)
        self._sign_cache = None
        for rs, cs, chip in self.tiles:
            syn = np.flatnonzero(mask[rs, cs])
            chip.reset_full(np.concatenate([syn * 2, syn * 2 + 1]))
            self.counters.reset_ops += 2 * syn.size

    def refresh(self, mask: np.ndarray, cap: float | None = None, verify: int = 0) -> None:
        """RESET both devices of the masked synapses, then re-program |G+ − G−| onto the
        side that was larger, keeping the sign.

        ``cap`` limits the re-written difference to that fraction of the range (a pair
        far from zero needs only its sign and some margin, and rewriting all of it puts
        the pair straight back near saturation).  ``verify`` rounds of read-back: where
        the sense amplifier reads the wrong sign, one more pulse on the intended side.
        """
        mask = self._check_mask(mask)
        for rs, cs, chip in self.tiles:
            syn = np.flatnonzero(mask[rs, cs])
            if syn.size:
                self._refresh_tile(chip, syn, cs, cap, verify)
                self._resense(chip, rs, cs, syn)

    def _refresh_tile(self, chip: Chip, syn: np.ndarray, cs: slice, cap, verify: int) -> None:
        plus, minus = syn * 2, syn * 2 + 1
        read = chip.read_conductance(np.concatenate([plus, minus]))
        self.counters.conductance_reads += 2 * syn.size
        diff = read[:syn.size] - read[syn.size:]
        side = np.where(diff >= 0, 0, 1)
        target = np.abs(diff)
        if cap is not None:
            target = np.minimum(target, cap * self._read_span())
        chip.reset_full(np.concatenate([plus, minus]))
        self.counters.reset_ops += 2 * syn.size
        self.counters.refreshes += syn.size
        n = self._pulses_for(target)
        chip.pulse(syn * 2 + side, n, SET)
        self.counters.refresh_set_pulses += int(n.sum())
        cols = cs.start + syn % chip.cols
        want = np.where(side == 0, 1, -1)
        for _ in range(verify):
            g = chip.g
            got = np.where(self._sense(g[plus] - g[minus], cols) >= 0, 1, -1)
            self.counters.sign_reads += syn.size
            bad = got != want
            if not bad.any():
                break
            chip.pulse(syn[bad] * 2 + side[bad], 1, SET)
            self.counters.refresh_set_pulses += int(bad.sum())

    def _read_span(self) -> float:
        lut = self._pulse_lut()
        return float(lut[-1])

    def _pulse_lut(self) -> np.ndarray:
        """Read-back conductance above Gmin after k pulses from Gmin, nominal device."""
        if self._lut is None:
            upd = self.model.update
            kmax = int(getattr(upd, "pmax_set", 256))
            k = np.arange(kmax + 1)
            g = upd.advance(np.full(k.shape, float(upd.gmin)), k, SET)
            as_read = circuit.as_read(self.model, g)   # through the access transistor
            self._lut = as_read - as_read[0]
        return self._lut

    def _pulses_for(self, target: np.ndarray) -> np.ndarray:
        """Open-loop pulse count whose nominal response is closest to ``target`` (>= 1)."""
        lut = self._pulse_lut()
        k = np.searchsorted(lut, target)
        k = np.clip(k, 1, lut.size - 1)
        closer_below = np.abs(lut[k - 1] - target) < np.abs(lut[k] - target)
        return np.maximum(np.where(closer_below, k - 1, k), 1)

    def _check_mask(self, mask) -> np.ndarray:
        mask = np.asarray(mask, bool)
        if mask.shape != (self.rows, self.cols):
            raise ValueError(f"mask has shape {mask.shape}, the array is {self.rows}×{self.cols}")
        return mask

    # -- program-verify (labbench.array.program_verify) ------------------------------------
    def program_verify(self, targets, settings=None, keep_trace: bool = True):
        """Program devices to ``targets`` (S as read, shape (rows, cols, 2); NaN: leave a
        device alone) with ISPP and verify (:mod:`labbench.array.program_verify`), the whole
        array at once: the devices at one drive in one electrical ``Chip.pulse`` call per
        tile.  Returns the :class:`~labbench.array.program_verify.ProgramVerifyResult`
        (per device, flat in (row, col, side) order), its energy each device's own;
        ``keep_trace=False`` keeps no per-pulse record (a whole network's refresh)."""
        from . import program_verify as pv

        settings = settings or pv.VerifySettings.for_model(self.model)
        settings.check()
        t = np.asarray(targets, float)
        if t.shape != (self.rows, self.cols, 2):
            raise ValueError(f"targets have shape {t.shape}, the array is ({self.rows}, {self.cols}, 2)")
        t = pv.check_targets(t, self.model, settings).reshape(-1)
        self._sign_cache = None
        # array device index (flat (row, col, side)) -> (tile, the tile's own device index)
        n = t.size
        tile_of = np.empty(n, np.int64)
        local = np.empty(n, np.int64)
        r, c, side = np.unravel_index(np.arange(n), (self.rows, self.cols, 2))
        for k, (rs, cs, chip) in enumerate(self.tiles):
            m = (r >= rs.start) & (r < rs.stop) & (c >= cs.start) & (c < cs.stop)
            tile_of[m] = k
            local[m] = ((r[m] - rs.start) * chip.cols + (c[m] - cs.start)) * 2 + side[m]

        def per_tile(cells):
            for k, (_, _, chip) in enumerate(self.tiles):
                m = tile_of[cells] == k
                if m.any():
                    yield m, chip, local[cells[m]]

        def read(cells):
            out = np.empty(cells.size)
            for m, chip, idx in per_tile(cells):
                out[m] = chip.read_conductance(idx)
            self.counters.conductance_reads += int(cells.size)
            return out

        def pulse(cells, direction, amplitude, width, gate):
            energy = np.zeros(cells.size)
            for m, chip, idx in per_tile(cells):
                g0 = chip.g[idx].astype(float)
                chip.pulse(idx, 1, direction, amplitude=amplitude, width=width, gate=gate)
                energy[m] = pv.pulse_energy_each(self.model, g0, chip.g[idx], amplitude, width, gate,
                                                 reset=direction != SET)
            if direction == SET:
                self.counters.refresh_set_pulses += int(cells.size)
            else:
                self.counters.reset_ops += int(cells.size)
            return energy

        def full_reset(cells):
            energy = np.zeros(cells.size)
            kin = self.model.switching.reset_kinetics
            for m, chip, idx in per_tile(cells):
                g0 = chip.g[idx].astype(float)
                chip.reset_full(idx)
                # the strong RESET is one saturating RESET pulse (Chip.reset_full)
                width = chip._full_train(-1) * kin.width
                energy[m] = pv.pulse_energy_each(self.model, g0, chip.g[idx], kin.amplitude, width, kin.gate,
                                                 reset=True)
            self.counters.reset_ops += int(cells.size)
            return energy

        return pv.run(settings, t, read, pulse, full_reset, keep_trace=keep_trace)

    # -- state ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        out = {}
        for t, (_, _, chip) in enumerate(self.tiles):
            out.update({f"tile{t}.{k}": v for k, v in chip.state_dict().items()})
        out["counters"] = np.array(list(self.counters.as_dict().values()), np.int64)
        out["sense_rng"] = np.frombuffer(json.dumps(self._sense_rng.bit_generator.state).encode(), np.uint8)
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self._sign_cache = None
        for t, (_, _, chip) in enumerate(self.tiles):
            chip.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(f"tile{t}.")})
        self.counters = ArrayCounters(*[int(x) for x in state["counters"]])
        self._sense_rng.bit_generator.state = json.loads(bytes(state["sense_rng"]).decode())

    def nbytes(self) -> int:
        """Memory of the simulated array: conductances and every per-device parameter."""
        seen: dict[int, int] = {}

        def add(a):
            if isinstance(a, np.ndarray):
                if a.size > 1 and 0 in a.strides:
                    return   # a broadcast scalar costs nothing per device
                base = a if not isinstance(a.base, np.ndarray) else a.base
                seen[id(base)] = max(seen.get(id(base), 0), base.nbytes)

        for _, _, chip in self.tiles:
            for v in vars(chip).values():
                add(v)
            for v in vars(chip.devices).values():
                if isinstance(v, dict):
                    for tup in v.values():
                        for x in tup:
                            add(x)
                else:
                    add(v)
        add(self._offset)
        return int(sum(seen.values()))

    # -- time, energy and wear (physics.retention, physics.energy, model.endurance) -------
    def advance_time(self, seconds: float, temperature: float | None = None) -> None:
        """Idle time (between epochs, say): every chip drifts ``seconds`` at rest, at the
        model's operating temperature or baked at ``temperature`` K; the cached signs are
        re-sensed on the next read."""
        for _, _, chip in self.tiles:
            chip.advance_time(seconds, temperature)
        self._sign_cache = None

    def charge_array_reads(self, n: int = 1) -> None:
        """Charge ``n`` reads of every device (the sense amplifiers reading all signs; each
        ``read_signs`` call charges one).  O(1) per chip between conductance changes."""
        for _ in range(n):
            for _, _, chip in self.tiles:
                chip.charge_array_read()
        for _, _, chip in self.tiles:   # a sense read is a read: its disturb, counted per read
            chip.count_array_read(n)

    def energy(self) -> dict[str, float]:
        """J spent in the cells since the array was built (or its checkpoint began):
        ``{"program": pulses, RESETs and refresh re-writes, "read": conductance reads and
        sign reads (one read of every device per ``read_signs`` call)}``; 0 for a device
        model without an ``energy:`` block."""
        out = {"program": 0.0, "read": 0.0}
        for _, _, chip in self.tiles:
            for k, v in chip.energy().items():
                out[k] += v
        return out

    def wear(self) -> dict:
        """Pulses per device (write events: SET, RESET, refresh): mean, max and a histogram
        over power-of-two bins (``edges[i] <= pulses < edges[i+1]``), and the fraction of
        devices worn out (stuck past their endurance)."""
        ev = [chip.write_events for _, _, chip in self.tiles]
        top = max(int(e.max()) for e in ev)
        edges = np.concatenate([[0], 2 ** np.arange(0, max(top, 1).bit_length() + 1)])
        counts = sum(np.histogram(e, edges)[0] for e in ev)
        n = sum(e.size for e in ev)
        worn = sum(chip.wear()["worn_fraction"] * chip.size for _, _, chip in self.tiles)
        return {"pulses_mean": float(sum(float(e.sum()) for e in ev) / n), "pulses_max": top,
                "hist_edges": edges.tolist(), "hist_counts": np.asarray(counts).tolist(),
                "worn_fraction": worn / n}
