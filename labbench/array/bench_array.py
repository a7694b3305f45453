"""BenchArray: the Array2T2R protocol on a Bench, cell by cell through the instruments.

The closed loop on a real (or simulated) chip for a layer that fits on it: a tile of
``rows × cols`` synapses starting at (``row0``, ``col0``) of the bench's chip.

* signs: the bench has one SMU, not a sense amplifier, so the differential sense is
  emulated by reading G+ and G− and comparing (a tie reads +1);
* SET pulses: a burst of n pulses from the pulse generator on BL (G+) or BLB (G−);
* reset: a full RESET of each device (:meth:`Bench.reset_cell`: the SMU holds SL high
  with the bit line grounded; a burst of gradual RESET pulses would leave the
  cycle-to-cycle noise of the whole burst on the device);
* refresh: read both, RESET both, re-program |G+ − G−| (at most ``cap`` of the range)
  onto the larger side keeping the sign; the pulse count comes from the device model's
  inverse (its nominal response from Gmin, as read through the access transistor) when
  the model has one, else from a read-verify loop (one pulse, read back, until the
  target is reached); then ``verify`` rounds of reading the pair's sign back, one more
  pulse on the intended side where it reads wrong (SimArray's options, cell by cell).
"""
from __future__ import annotations

import numpy as np

from labbench.physics import circuit
from labbench.physics.device_model import load_device_model
from labbench.physics.models import SET

from .protocol import Array2T2R, ArrayCounters


class BenchArray(Array2T2R):
    refresh_options = frozenset({"cap", "verify"})

    def __init__(self, bench, rows: int | None = None, cols: int | None = None, row0: int = 0,
                 col0: int = 0, refresh_mode: str = "model", max_verify_pulses: int | None = None):
        chip = bench.config.chip
        self.bench = bench
        self.rows = int(rows if rows is not None else chip.rows - row0)
        self.cols = int(cols if cols is not None else chip.cols - col0)
        self.row0, self.col0 = int(row0), int(col0)
        if self.rows <= 0 or self.cols <= 0 or self.row0 < 0 or self.col0 < 0 \
                or self.row0 + self.rows > chip.rows or self.col0 + self.cols > chip.cols:
            raise ValueError(f"tile {self.rows}×{self.cols} at ({row0}, {col0}) does not fit the "
                             f"{chip.rows}×{chip.cols} chip of bench {bench.config.name!r}")
        if refresh_mode not in ("model", "verify"):
            raise ValueError("refresh_mode must be 'model' (device-model inverse) or 'verify'")
        self.model = load_device_model(chip.device_model)
        upd = self.model.update
        self.refresh_mode = refresh_mode
        self.max_verify_pulses = int(max_verify_pulses or 2 * getattr(upd, "pmax_set", 64))
        self.counters = ArrayCounters()
        self._lut = self._model_lut() if refresh_mode == "model" else None
        # the signs last read with no pulse or RESET since (None: unknown); a checkpoint keeps
        # them, so a real chip can later be told apart from a different or erased one
        self._known_signs: np.ndarray | None = None

    # -- one cell ---------------------------------------------------------------------
    def _read(self, r: int, c: int, side: int) -> float:
        return self.bench.read_cell(self.row0 + r, self.col0 + c, side)

    def _pulse(self, r: int, c: int, side: int, direction: str, n: int) -> None:
        self._known_signs = None
        self.bench.pulse_cell(self.row0 + r, self.col0 + c, side, direction, int(n))

    def _reset(self, r: int, c: int, side: int) -> None:
        self._known_signs = None
        self.bench.reset_cell(self.row0 + r, self.col0 + c, side)

    # -- protocol -----------------------------------------------------------------------
    def read_conductances(self) -> np.ndarray:
        out = np.empty((self.rows, self.cols, 2))
        for r in range(self.rows):
            for c in range(self.cols):
                out[r, c] = self._read(r, c, 0), self._read(r, c, 1)
        self.counters.conductance_reads += 2 * self.rows * self.cols
        return out

    def read_signs(self) -> np.ndarray:
        g = np.empty((self.rows, self.cols, 2))
        for r in range(self.rows):
            for c in range(self.cols):
                g[r, c] = self._read(r, c, 0), self._read(r, c, 1)
        self.counters.sign_reads += self.rows * self.cols
        return self._signs_of(g)

    def _signs_of(self, g: np.ndarray) -> np.ndarray:
        """The differential sense of conductances read (a tie reads +1), remembered."""
        self._known_signs = np.where(g[..., 0] >= g[..., 1], 1, -1).astype(np.int8)
        return self._known_signs.copy()

    def apply_set_pulses(self, n_plus: np.ndarray, n_minus: np.ndarray) -> None:
        n_plus, n_minus = np.asarray(n_plus), np.asarray(n_minus)
        for name, n in (("n_plus", n_plus), ("n_minus", n_minus)):
            if n.shape != (self.rows, self.cols):
                raise ValueError(f"{name} has shape {n.shape}, the array is {self.rows}×{self.cols}")
            if (n < 0).any():
                raise ValueError(f"{name}: pulse counts must be >= 0")
        for side, n in ((0, n_plus), (1, n_minus)):
            for r, c in zip(*np.nonzero(n)):
                self._pulse(int(r), int(c), side, "set", int(n[r, c]))
                self.counters.set_pulses += int(n[r, c])

    def reset(self, mask: np.ndarray) -> None:
        for r, c in zip(*np.nonzero(self._check_mask(mask))):
            for side in (0, 1):
                self._reset(int(r), int(c), side)
            self.counters.reset_ops += 2

    def refresh(self, mask: np.ndarray, cap: float | None = None, verify: int = 0) -> None:
        self._refuse_unsupported(cap, verify)
        span = self._read_span() if cap is not None else None
        for r, c in zip(*np.nonzero(self._check_mask(mask))):
            r, c = int(r), int(c)
            gp, gm = self._read(r, c, 0), self._read(r, c, 1)
            self.counters.conductance_reads += 2
            side = 0 if gp >= gm else 1
            target = abs(gp - gm) if span is None else min(abs(gp - gm), cap * span)
            for s in (0, 1):
                self._reset(r, c, s)
            self.counters.reset_ops += 2
            self.counters.refreshes += 1
            if self._lut is not None:
                n = self._pulses_for(target)
                self._pulse(r, c, side, "set", n)
                self.counters.refresh_set_pulses += n
            else:
                self._verify_program(r, c, side, target)
            for _ in range(verify):   # the pair's sign read back; one more pulse where it is wrong
                gp, gm = self._read(r, c, 0), self._read(r, c, 1)
                self.counters.sign_reads += 1
                if (gp >= gm) == (side == 0):
                    break
                self._pulse(r, c, side, "set", 1)
                self.counters.refresh_set_pulses += 1

    def _read_span(self) -> float:
        """The range as read (Gmax − Gmin through the access transistor): the model's
        inverse where it has one, else its nominal bounds."""
        if self._lut is not None:
            return float(self._lut[-1])
        upd = self.model.update
        g = circuit.as_read(self.model, np.array([float(upd.gmin), float(upd.gmax)]))
        return float(g[1] - g[0])

    # -- re-programming -------------------------------------------------------------------
    def _model_lut(self) -> np.ndarray | None:
        """Read-back conductance above Gmin after k SET pulses from Gmin (nominal device)."""
        upd = self.model.update
        try:
            k = np.arange(int(getattr(upd, "pmax_set", 256)) + 1)
            g = np.asarray(upd.advance(np.full(k.shape, float(upd.gmin)), k, SET), float)
        except (NotImplementedError, AttributeError, TypeError, ValueError):
            self.refresh_mode = "verify"  # no usable inverse: fall back to read-verify
            return None
        as_read = circuit.as_read(self.model, g)   # through the access transistor
        return as_read - as_read[0]

    def _pulses_for(self, target: float) -> int:
        lut = self._lut
        k = int(np.clip(np.searchsorted(lut, target), 1, lut.size - 1))
        if abs(lut[k - 1] - target) < abs(lut[k] - target):
            k -= 1
        return max(k, 1)

    def _verify_program(self, r: int, c: int, side: int, target: float) -> None:
        g0 = self._read(r, c, side)
        self.counters.conductance_reads += 1
        for _ in range(self.max_verify_pulses):
            self._pulse(r, c, side, "set", 1)
            self.counters.refresh_set_pulses += 1
            g = self._read(r, c, side)
            self.counters.conductance_reads += 1
            if g - g0 >= target:
                break

    # -- program-verify (labbench.array.program_verify) --------------------------------------
    def program_verify(self, targets, settings=None, keep_trace: bool = True):
        """Program-verify on the bench, one pulse and one read at a time (the same algorithm
        as SimArray's); the ramps default to the bench's operating pulses, and every level
        they can reach is checked against the bench's limits before the first pulse.  The
        energy is estimated from the reads and the bench's device model."""
        from . import program_verify as pv

        b = self.bench
        self._known_signs = None
        op = b.config.operating
        settings = settings or pv.bench_settings(b)
        settings.check()
        t = np.asarray(targets, float)
        if t.shape != (self.rows, self.cols, 2):
            raise ValueError(f"targets have shape {t.shape}, the array is ({self.rows}, {self.cols}, 2)")
        t = pv.check_targets(t, self.model, settings, op.read_voltage, op.read_gate).reshape(-1)
        pv.check_on_bench(b, settings)

        def where(cell):
            r, c, s = np.unravel_index(int(cell), (self.rows, self.cols, 2))
            return int(r), int(c), int(s)

        def read(cells):
            self.counters.conductance_reads += int(cells.size)
            return np.array([self._read(*where(k)) for k in cells])

        def pulse(cells, direction, amplitude, width, gate):
            for k in cells:
                r, c, s = where(k)
                b.pulse_cell(self.row0 + r, self.col0 + c, s, "set" if direction == SET else "reset", 1,
                             amplitude=amplitude, width=width, gate=gate)
            if direction == SET:
                self.counters.refresh_set_pulses += int(cells.size)
            else:
                self.counters.reset_ops += int(cells.size)

        def full_reset(cells):
            for k in cells:
                self._reset(*where(k))
            self.counters.reset_ops += int(cells.size)

        return pv.run(settings, t, read, pulse, full_reset, keep_trace=keep_trace, model=self.model,
                      read_bias=(op.read_voltage, op.read_gate))

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A real chip keeps its own non-volatile state; a simulated bench's chip is saved
        whole, so a resumed run finds it as it was.  Either way ``signs``: the signs last read
        with nothing written since (the trainer reads them for the test accuracy right before
        each checkpoint), what a real chip must still hold when the run is evaluated
        (``labbench evaluate``); left out when unknown rather than read here (a read in a
        checkpoint would change the simulated chip's trajectory)."""
        out = super().state_dict()
        if self._known_signs is not None:
            out["signs"] = self._known_signs.copy()
        chip = self._sim_chip()
        if chip is not None:
            out.update({f"chip.{k}": v for k, v in chip.state_dict().items()})
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        super().load_state_dict(state)
        self._known_signs = None       # a real chip's signs are read, not assumed
        chip = self._sim_chip()
        if chip is not None and any(k.startswith("chip.") for k in state):
            chip.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("chip.")})
            # a bench opened anew starts its clock at 0, behind the chip's: time at rest must
            # drift the chip from its own time on, not wait for the clock to catch up
            clock = self.bench.world.clock
            clock.advance(max(0.0, chip.time - clock.now()))

    @property
    def simulated(self) -> bool:
        """Is the chip simulated (its state saved in checkpoints)?  A real chip keeps its
        weights itself: one copy, whose clock only runs forward."""
        return self._sim_chip() is not None

    def _sim_chip(self):
        return self.bench.world.chip if self.bench.world is not None else None

    def _check_mask(self, mask) -> np.ndarray:
        mask = np.asarray(mask, bool)
        if mask.shape != (self.rows, self.cols):
            raise ValueError(f"mask has shape {mask.shape}, the array is {self.rows}×{self.cols}")
        return mask
