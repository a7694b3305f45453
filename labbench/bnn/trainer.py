"""Online training of a binary MLP with the synapses in the loop.

Per batch: read the binary weights (the sense amplifiers of each layer's array),
forward and backward in software, the optimizer turns the gradients into desired weight
changes, the update rule turns those into SET pulses on the array, and the refresh policy
refreshes saturated pairs.  ``mode="ideal"`` swaps the arrays for plain float32 latent
weights (clipped to [−1, 1], BinaryConnect style): the software reference, same code.

Weights are in units of the conductance range: W = (G+ − G−)/(Gmax − Gmin) ∈ [−1, 1].
One nominal SET pulse is worth ``pulse_step`` (1/Pmax by default) of it.

What is kept digitally is counted and reported with every result (``bytes_per_synapse``,
see :mod:`labbench.bnn.precision`): ``precision="strict"`` keeps nothing per synapse (the
hidden weight lives only in the device pair, as on the paper's chip), ``"mixed-precision"``
(the default) keeps Adam's moments and the accumulate rule's residual, 12 B per synapse.

Checkpoints are written atomically at the end of every epoch (array state via
``Chip.state_dict``, optimizer, batch norm, RNG, metrics history), so a killed run
resumes losing at most the epoch in progress, and resuming gives the same numbers as
an uninterrupted run.  Metrics go to ``metrics.csv`` (rewritten atomically) and, when
a :class:`labbench.store.Store` is given, one dataset row per epoch, written after the
checkpoint so the dataset never runs ahead of it.
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from labbench.errors import LabbenchError, signals_deferred
from labbench.physics import DeviceModel, load_device_model

from .layers import BinaryMLP, sign, softmax_cross_entropy
from .mnist import to_inputs
from .optimizers import BLOCK_SYNAPSES, Adam, make_optimizer, row_blocks
from .precision import digital_state
from .refresh import make_policy
from .spec import TrainSpec, check_memory, differences
from .update_rules import rule_for

CHECKPOINT = "checkpoint.npz"
DEVICE_MODEL = "device_model.yaml"
METRICS = "metrics.csv"
WEAR = "wear.json"          # pulses per device, as a histogram, over every array (for the report)
HIST_BINS = 40


class CheckpointError(LabbenchError, ValueError):
    """A checkpoint that cannot be read, or that another configuration wrote."""


def tune_allocator() -> None:
    """Keep freed NumPy temporaries in the heap instead of returning them to the OS.

    A training step allocates and frees a few MB of temporaries; glibc returns large
    blocks with munmap, and the page faults of getting them back cost more than the
    arithmetic (measured: ~2× on a 10⁵-device pulse).  Process-wide, harmless, glibc only.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


# -- synapse stores: where a layer's weights live ------------------------------------
class IdealSynapses:
    """A software latent weight (the ideal reference)."""

    kind = "ideal"

    def __init__(self, shape, rng: np.random.Generator, init: float):
        self.w = (np.where(rng.random(shape) < 0.5, -init, init)).astype(np.float32)

    def signs(self) -> np.ndarray:
        return sign(self.w)

    def update(self, dw: np.ndarray, rng, clock: "PhaseClock | None" = None) -> None:
        self.w += dw
        np.clip(self.w, -1.0, 1.0, out=self.w)
        if clock is not None:
            clock.lap("update rule")

    def step(self, opt, i: int, grad: np.ndarray, lr: float, rng, clock: "PhaseClock | None" = None,
             pending=None) -> None:
        """Optimizer slot ``i``'s step from ``grad``, applied."""
        d = opt.step(i, grad, lr)
        if clock is not None:
            clock.lap("optimizer")
        self.update(d, rng, clock)

    def state_dict(self):
        return {"w": self.w.copy()}

    def load_state_dict(self, s):
        self.w[...] = s["w"]


class PhaseClock:
    """Seconds per phase of a training step, summed over an epoch: where the time goes
    (a speed regression then shows where it came from).  Six perf_counter calls a batch."""

    PHASES = ("sense", "forward", "backward", "optimizer", "update rule", "pulses (Chip.pulse)", "refresh")

    def __init__(self):
        self.seconds = dict.fromkeys(self.PHASES, 0.0)
        self._t = time.perf_counter()

    def start(self) -> None:
        self._t = time.perf_counter()

    def lap(self, phase: str) -> None:
        t = time.perf_counter()
        self.seconds[phase] += t - self._t
        self._t = t


class DeviceSynapses:
    """A layer on an :class:`~labbench.array.Array2T2R` (weights (fan_in, fan_out) = rows × cols)."""

    kind = "device"

    def __init__(self, array, rule, pulse_step: float):
        self.array, self.rule = array, rule
        self.inv_step = np.float32(1.0 / pulse_step)

    def initialize(self, rng: np.random.Generator, pulses: int) -> None:
        """Random signs: ``pulses`` SET pulses on a random side of every pair."""
        plus = rng.random((self.array.rows, self.array.cols)) < 0.5
        n = np.full(plus.shape, pulses, np.int8)
        self.array.apply_set_pulses(np.where(plus, n, 0), np.where(plus, 0, n))

    def signs(self) -> np.ndarray:
        return self.array.read_signs_float()

    def update(self, dw: np.ndarray, rng, clock: "PhaseClock | None" = None) -> None:
        k = self.rule.signed_scaled(dw, self.inv_step, rng)
        if clock is not None:
            clock.lap("update rule")
        self.array.apply_signed_pulses(k)
        if clock is not None:
            clock.lap("pulses (Chip.pulse)")

    # layers from this many synapses stream their update (smaller ones: one call, where a
    # second thread would cost more than it hides)
    stream_min = 2 * BLOCK_SYNAPSES

    def step(self, opt, i: int, grad: np.ndarray, lr: float, rng, clock: "PhaseClock | None" = None,
             pending: contextlib.ExitStack | None = None) -> None:
        """Optimizer slot ``i``'s step from ``grad``, sent to the array as pulses.

        Streamed where the optimizer works by row block and the array takes a
        :meth:`~labbench.array.sim_array.SimArray.pulse_stream`: each block's step is
        computed while the blocks before are rounded and pulsed, on the helper thread where
        it is free (labbench.array.pulse_stream); the same numbers as the one-call update.
        With ``pending``, the stream is left to finish there (the caller ends it after the
        next layers' one-call updates, which then overlap its last blocks); a stream that
        opens ends the one pending first.  The phase clock books the optimizer as
        "optimizer" and the wait for the last blocks as "pulses"; "update rule" stays 0."""
        stream = None
        if opt.blockwise and grad.ndim == 2 and grad.size >= self.stream_min \
                and getattr(self.array, "can_stream", bool)():
            rule = self.rule.compiled(grad.size, rng)
            if rule is not None:
                edges = row_blocks(*grad.shape)
                # the last block's pulses are what the training thread waits for: posted in
                # quarters, the two threads share them as they come
                last = np.linspace(edges[-2], edges[-1], 5).round().astype(int).tolist()
                stream = self.array.pulse_stream(sorted(set(edges[:-1] + last)), rule, self.inv_step)
        if stream is None:
            d = opt.step(i, grad, lr)
            if clock is not None:
                clock.lap("optimizer")
            self.update(d, rng, clock)
            return
        if pending is not None:
            pending.close()                      # one stream open at a time
        cols = grad.shape[1]
        stream.__enter__()
        try:
            for r0, r1 in zip(edges[:-1], edges[1:]):
                opt.step_rows(i, grad, lr, r0, r1, stream.dw[r0 * cols:r1 * cols].reshape(r1 - r0, cols))
                stream.post(max(b + 1 for b, (s0, _) in enumerate(stream.blocks) if s0 < r1))
        except BaseException:
            stream.__exit__(*sys.exc_info())     # the posted blocks end; the chip stays consistent
            raise
        if clock is not None:
            clock.lap("optimizer")
        if pending is not None:
            pending.push(stream)
            return
        stream.__exit__(None, None, None)
        if clock is not None:
            clock.lap("pulses (Chip.pulse)")

    def state_dict(self):
        out = dict(self.array.state_dict())
        if self.rule.stateful:
            out.update({f"rule.{k}": v for k, v in self.rule.state_dict().items()})
        return out

    def load_state_dict(self, s):
        own = {k: v for k, v in s.items() if not k.startswith("rule.")}
        self.array.load_state_dict(own)
        if self.rule.stateful:
            self.rule.load_state_dict({k[5:]: v for k, v in s.items() if k.startswith("rule.")})


def _default_pulse_step(model: DeviceModel) -> float:
    pmax = getattr(model.update, "pmax_set", None)
    return 1.0 / float(pmax) if pmax else 1.0 / 64


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    from labbench.atomic import write_bytes

    write_bytes(path, data)


class Trainer:
    """Trains :class:`BinaryMLP` ``spec.network.sizes`` with every layer on an array (or ideal).

    The engine under :class:`~labbench.bnn.run.TrainRun` (which checks, prepares and
    records a :class:`~labbench.bnn.spec.TrainSpec`): ``spec`` decides the training, the
    arguments here where it lives (``device_model`` overrides ``spec.device_model``).

    ``array_factory(rows, cols, layer_index)`` builds a layer's array; by default a
    :class:`~labbench.array.sim_array.SimArray` of ``device_model``.  A network can put
    one layer on a bench and the rest in simulation by passing its own factory.
    """

    def __init__(self, spec: TrainSpec, device_model: DeviceModel | str | None = None,
                 out_dir: str | Path | None = None,
                 array_factory: Callable[[int, int, int], Any] | None = None,
                 progress: bool = True, store=None, plots: bool = True, tap=None, control=None,
                 initialize: bool = True):
        """``tap`` (:class:`labbench.live.feed.Tap`) sees each epoch's dataset row as it is
        stored, the progress per batch and layer 0's sign map per epoch; ``control``
        (:class:`labbench.live.control.RunControl`) acts on Pause/Abort after each batch.
        ``initialize=False``: no random first pulses on the arrays (they hold a trained
        network already, a real chip's own or a checkpoint's about to be restored)."""
        from labbench.live.feed import guarded

        self.tap, self.control = guarded(tap), control
        self.plots = plots
        self.spec = c = spec
        check_memory(c.network.sizes, c.mode)
        tune_allocator()
        self.device_model = (device_model if isinstance(device_model, DeviceModel)
                             else load_device_model(device_model) if device_model is not None
                             else c.load_device_model())
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        self.store = store
        self.rng = np.random.default_rng([c.seed, 0xB44])
        self.model = BinaryMLP(c.network.sizes, binarize_input=c.network.binarize_input)
        shapes = self.model.weight_shapes
        self.pulse_step = c.rule.pulse_step or _default_pulse_step(self.device_model)
        self.synapses: list = []
        self.arrays: list = []
        if c.mode == "ideal":
            self.synapses = [IdealSynapses(s, self.rng, c.array.init_pulses * self.pulse_step) for s in shapes]
            self.policy = None
        else:
            if array_factory is None:
                from labbench.array.sim_array import SimArray

                def array_factory(rows, cols, i):
                    return SimArray(self.device_model, rows, cols, seed=c.seed * 1000 + i,
                                    sense_offset=c.sense.offset, sense_noise=c.sense.noise)
            # the first pulses may compile the chip's loops: signals held (_compile_device_loops)
            with signals_deferred():
                for i, (rows, cols) in enumerate(shapes):
                    arr = array_factory(rows, cols, i)
                    syn = DeviceSynapses(arr, self._make_rule(), self.pulse_step)
                    if initialize:
                        syn.initialize(self.rng, c.array.init_pulses)
                    self.arrays.append(arr)
                    self.synapses.append(syn)
            self.policy = self._make_policy()
        n_bn = len(self.model.bns)
        kw = {"threshold": c.optimizer.threshold} if c.optimizer.name == "sign" else {}
        self.opt = make_optimizer(c.optimizer.name, shapes, **kw)
        # batch norm: per-neuron parameters, digital in every mode (O(neurons) Adam state)
        self.bn_opt = Adam([(n,) for n in c.network.sizes[1:]] * 2)
        self._bn_slots = (0, n_bn)
        self.epoch = 0          # epochs completed
        self.step = 0
        self.history: list[dict] = []
        self.g_hist: list[np.ndarray] = []

    def _make_rule(self):
        return rule_for(self.spec.rule, self.device_model)

    def _make_policy(self):
        f = self.spec.refresh
        from .spec import refresh_program

        return make_policy(f.policy, self.device_model, level=f.level, check_every=f.check_every,
                           every=f.every, cap=f.cap, verify=f.verify, patience=f.patience,
                           program=refresh_program(self.device_model, f.program))

    def _compile_device_loops(self) -> None:
        """Run this configuration's update, sense and refresh once on a throw-away 2×8
        SimArray, so the compiled loops (physics.kernels; cached on disk after the first run
        on a machine) are ready before the first epoch's clock starts: samples/s then
        measures training, not compilation."""
        from labbench.array.sim_array import SimArray

        if self.spec.mode == "ideal" or not any(isinstance(a, SimArray) for a in self.arrays):
            return
        t0 = time.perf_counter()
        c = self.spec
        # a signal that lands while numba compiles is raised inside a C callback, where Python
        # prints it and drops it (the run went on to "finished"): hold signals until done
        with signals_deferred():
            probe = SimArray(self.device_model, 2, 8, seed=0, sense_offset=c.sense.offset,
                             sense_noise=c.sense.noise)
            syn = DeviceSynapses(probe, self._make_rule(), self.pulse_step)
            rng = np.random.default_rng(0)      # not the trainer's: its draws stay as they were
            for _ in range(2):                   # the accumulate rule's residual exists from the 2nd
                syn.signs()
                syn.update(np.full((2, 8), 1.5 * self.pulse_step, np.float32), rng)
            # the streamed update of large layers (DeviceSynapses.step), on the same probe
            syn.stream_min = 0
            opt = make_optimizer("adam", [(2, 8)])
            for _ in range(2):
                opt.begin_step()
                syn.step(opt, 0, np.full((2, 8), 0.3, np.float32), 1.0, rng)
            if self.policy is not None:
                policy = self._make_policy()     # a fresh one: no state for the probe left behind
                for step in range(1, 3):
                    policy(probe, step * getattr(policy, "check_every", getattr(policy, "every", 1)))
                if policy.name != "none":        # the refresh itself: RESETs and re-writes
                    probe.refresh(np.ones((2, 8), bool), cap=policy.cap, verify=policy.verify)
                    syn.signs()
            if c.array.idle_between_epochs:
                probe.advance_time(c.array.idle_between_epochs)
            probe.energy(), probe.wear()
        seconds = time.perf_counter() - t0
        if self.progress and seconds > 1.0:
            print(f"compiled the simulated chip's loops in {seconds:.0f} s (cached for later runs)", flush=True)

    # -- data ---------------------------------------------------------------------------
    def _subset(self, x, y):
        n = self.spec.data.subset
        return (x[:n], y[:n]) if n else (x, y)

    # -- one epoch ----------------------------------------------------------------------
    def train_epoch(self, x_train: np.ndarray, y_train: np.ndarray) -> dict:
        c = self.spec
        lr = c.lr_at(self.epoch)
        order = self.rng.permutation(len(x_train))
        n_batches = len(order) // c.batch
        before = self._counter_totals()
        e_before = self._energy()
        refresh_energy = 0.0
        loss_sum, correct, refreshed = 0.0, 0, 0
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_batches, desc=f"epoch {self.epoch + 1}/{c.epochs}", unit="batch", leave=False)
        t0 = time.perf_counter()
        clock = self.clock = PhaseClock()
        g0, b0 = self._bn_slots
        for b in range(n_batches):
            sel = order[b * c.batch:(b + 1) * c.batch]
            xb = to_inputs(x_train[sel]) if x_train.dtype == np.uint8 else x_train[sel]
            yb = y_train[sel]
            clock.start()
            weights = [s.signs() for s in self.synapses]
            clock.lap("sense")
            logits, saved = self.model.forward(xb, weights, train=True)
            loss, dlogits, ok = softmax_cross_entropy(logits, yb)
            clock.lap("forward")
            dws, dbns = self.model.backward(saved, dlogits, weights)
            clock.lap("backward")
            self.opt.begin_step()
            self.bn_opt.begin_step()
            # a streamed layer's last blocks finish beside the next layers' updates and the
            # batch norm's (its own optimizer, no random draws: the order changes no number)
            with contextlib.ExitStack() as pending:
                for i, (syn, dw) in enumerate(zip(self.synapses, dws)):
                    syn.step(self.opt, i, dw, lr, self.rng, clock, pending)
                for j, (bn, (dgamma, dbeta)) in enumerate(zip(self.model.bns, dbns)):
                    bn.gamma += self.bn_opt.step(g0 + j, dgamma, lr)
                    bn.beta += self.bn_opt.step(b0 + j, dbeta, lr)
                clock.lap("optimizer")
                pending.close()
                clock.lap("pulses (Chip.pulse)")
            self.step += 1
            if self.policy is not None:
                e0 = self._energy().get("program", 0.0)
                for arr in self.arrays:
                    refreshed += self.policy(arr, self.step)
                refresh_energy += self._energy().get("program", 0.0) - e0
            clock.lap("refresh")
            loss_sum += loss
            correct += ok
            if bar is not None:
                bar.update(1)
                if b % 50 == 0:
                    bar.set_postfix(loss=f"{loss:.3f}")
            if self.tap is not None:
                self.tap.progress(100.0 * (self.epoch + (b + 1) / n_batches) / c.epochs)
            if self.control is not None:
                self.control.checkpoint()    # a pause waits here; an abort raises (Ctrl-C's path)
        seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        after = self._counter_totals()
        n = n_batches * c.batch
        counts = {k: after[k] - before[k] for k in after}
        if counts:
            # every conductance read in training is a refresh check or a refresh read-back;
            # sign reads beyond one per synapse per batch are a refresh's verify rounds
            forward = n_batches * sum(a.rows * a.cols for a in self.arrays)
            counts["refresh_reads"] = counts.get("conductance_reads", 0) + counts.get("sign_reads", 0) - forward
        e_after = self._energy()
        energy = {}
        if e_after:
            energy = {"program_energy_J": e_after["program"] - e_before["program"],
                      "read_energy_J": e_after["read"] - e_before["read"],
                      "refresh_energy_J": refresh_energy}
            energy["energy_per_sample_J"] = (energy["program_energy_J"] + energy["read_energy_J"]) / max(n, 1)
        return {"lr": lr, **self.digital_state(), **energy, "train_loss": loss_sum / max(n_batches, 1),
                "train_acc": correct / max(n, 1),
                "seconds": seconds, "samples_per_s": n / seconds if seconds else float("nan"),
                "pairs_refreshed": refreshed, **counts}

    def digital_state(self) -> dict:
        """What this run keeps digitally: bytes per synapse, per-layer bytes, the label."""
        return digital_state(self)

    def _energy(self) -> dict[str, float]:
        """J spent in every array's cells so far (empty if no array knows)."""
        tot: dict[str, float] = {}
        for arr in self.arrays:
            for k, v in arr.energy().items():
                tot[k] = tot.get(k, 0.0) + v
        return tot

    def _wear(self) -> dict:
        """Pulses per device over all arrays (mean, max) and the fraction worn out."""
        rows = [(arr.wear(), 2 * arr.rows * arr.cols) for arr in self.arrays]
        rows = [(w, n) for w, n in rows if w]
        if not rows:
            return {}
        n = sum(k for _, k in rows)
        return {"pulses_per_cell_mean": sum(w["pulses_mean"] * k for w, k in rows) / n,
                "pulses_per_cell_max": max(w["pulses_max"] for w, _ in rows),
                "worn_fraction": sum(w["worn_fraction"] * k for w, k in rows) / n}

    def _write_wear(self, path: Path) -> None:
        """Pulses-per-device histograms (power-of-two bins) of every array, atomically."""
        from labbench.atomic import write_text

        layers = [dict(arr.wear(), layer=i) for i, arr in enumerate(self.arrays)]
        layers = [w for w in layers if len(w) > 1]
        if layers:
            write_text(path, json.dumps({"epoch": self.epoch, "layers": layers}, indent=1))

    def _counter_totals(self) -> dict[str, int]:
        tot: dict[str, int] = {}
        for arr in self.arrays:
            for k, v in arr.counters.as_dict().items():
                tot[k] = tot.get(k, 0) + v
        return tot

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch: int = 1000, fresh_sense: bool = False) -> float:
        """Test accuracy.  The binary weights are sensed once for the whole set (what the
        epochs' test column reports), or with ``fresh_sense`` again for every ``batch`` of
        inputs: a chip senses its weights at each inference, each time with fresh sense noise
        (bench/strict_bench.py measures the difference)."""
        weights = [s.signs() for s in self.synapses]
        correct = 0
        for i in range(0, len(x), batch):
            if fresh_sense and i:
                weights = [s.signs() for s in self.synapses]
            xb = to_inputs(x[i:i + batch]) if x.dtype == np.uint8 else x[i:i + batch]
            logits, _ = self.model.forward(xb, weights, train=False)
            correct += int((logits.argmax(1) == y[i:i + batch]).sum())
        return correct / len(x)

    def _conductance_stats(self) -> dict:
        """Layer-0 conductance histogram (normalized) and saturation, for plots."""
        if not self.arrays:
            return {}
        arr = self.arrays[0]
        g = arr.conductances()
        self._last_g = g if self.tap is not None else None     # the live view's sign map
        dm = self.device_model
        u = (np.asarray(g, np.float32) - np.float32(dm.gmin)) / np.float32(dm.gmax - dm.gmin)
        hist, _ = np.histogram(u, bins=HIST_BINS, range=(0.0, 1.05))
        self.g_hist.append(hist.astype(np.int64))
        return {"saturated_frac": float((np.maximum(u[..., 0], u[..., 1]) >= self.spec.refresh.level).mean()),
                "mean_g_norm": float(u.mean())}

    # -- the loop -----------------------------------------------------------------------
    def fit(self, x_train, y_train, x_test, y_test, epochs: int | None = None) -> list[dict]:
        """Train to ``epochs`` (default ``spec.epochs``) completed epochs, resuming
        from the checkpoint in ``out_dir`` if there is one."""
        epochs = self.spec.epochs if epochs is None else epochs
        x_train, y_train = self._subset(x_train, y_train)
        if self.epoch < epochs:
            self._compile_device_loops()
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if (self.out_dir / CHECKPOINT).exists():
                self.load_checkpoint(self.out_dir / CHECKPOINT)
            if self.arrays:   # the physics this run trained on, with its provenance (report)
                self.device_model.to_yaml(self.out_dir / DEVICE_MODEL)
        with contextlib.ExitStack() as stack:
            # the store's context manager records the run finished, aborted (Ctrl-C,
            # SIGTERM) or failed (with the reason): exceptions must reach it
            writer = (stack.enter_context(self._open_store())
                      if self.store is not None and self.epoch < epochs else None)
            if self.tap is not None or self.control is not None:
                stack.enter_context(self._live(writer))
            while self.epoch < epochs:
                row = {"epoch": self.epoch + 1, **self.train_epoch(x_train, y_train)}
                if self.spec.array.idle_between_epochs:
                    for arr in self.arrays:      # drift at rest, then the test sees it
                        arr.advance_time(self.spec.array.idle_between_epochs)
                row["test_acc"] = self.evaluate(x_test, y_test)
                row.update(self._wear())
                row.update(self._conductance_stats())
                self.epoch += 1
                self.history.append(row)

                def record_row(row=row):
                    stored = {k: row.get(k, np.nan) for k in ["epoch"] + _STORE_VALUES}
                    if writer is not None:
                        writer.add(**stored)
                        writer.flush()      # on disk now: a run killed later keeps this epoch
                    if self.tap is not None:
                        self.tap.rows([stored])
                        self.tap.extra("signs", self._sign_map())

                if self.out_dir is not None:
                    # the epoch's row is on disk before the checkpoint that includes the
                    # epoch is published: a kill -9 in between retrains the epoch (a second
                    # row for it, in the resumed run), it never loses the row
                    self.save_checkpoint(self.out_dir / CHECKPOINT, before_publish=record_row)
                    self.write_metrics(self.out_dir / METRICS)
                else:
                    record_row()
                if self.progress:
                    print(f"epoch {row['epoch']}: test {row['test_acc']:.4f}  train {row['train_acc']:.4f}  "
                          f"{row['samples_per_s']:.0f} samples/s  pulses {row.get('set_pulses', 0)}  "
                          f"refreshed {row['pairs_refreshed']}", flush=True)
        if self.out_dir is not None and self.arrays:
            self._write_wear(self.out_dir / WEAR)
        if self.plots and self.out_dir is not None and self.history:
            from .plots import plot_training

            plot_training(self.history, self.g_hist, self.out_dir)
        return self.history

    # -- the live view (labbench.live) ----------------------------------------------------
    @contextlib.contextmanager
    def _live(self, writer):
        """Tell the tap the run started and how it ended; arm the control meanwhile."""
        from labbench.errors import interrupt_reason

        if self.tap is not None:
            self.tap.started({"name": "bnn_training", "index": {"epoch": ""},
                              "values": {k: "" for k in _STORE_VALUES},
                              "run_id": writer.run_id if writer is not None else None,
                              "db": str(self.store.path) if self.store is not None else None,
                              "metadata": {"config": self.spec.flat(),
                                           "device_model": self.device_model.name}})
        if self.control is not None:
            self.control.begin()
        status, reason = "failed", ""
        try:
            yield
            status = "finished"
        except KeyboardInterrupt as e:
            status, reason = "aborted", interrupt_reason(e)
            raise
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
            raise
        finally:
            if self.control is not None:
                self.control.end()
            if self.tap is not None:
                self.tap.ended(status, reason)

    def _sign_map(self, cells: int = 160) -> np.ndarray:
        """Layer 0's binary weights as block means (at most ``cells`` a side), from the
        conductances this epoch's statistics already read (no extra read of the array)."""
        g = getattr(self, "_last_g", None)
        w = (np.sign(g[..., 0] - g[..., 1]) if g is not None
             else np.asarray(self.synapses[0].signs(), np.float32) if self.spec.mode == "ideal" else None)
        if w is None:
            return np.zeros((1, 1), np.float32)
        w = np.asarray(w, np.float32)
        fr, fc = -(-w.shape[0] // cells), -(-w.shape[1] // cells)
        pr, pc = (-w.shape[0]) % fr, (-w.shape[1]) % fc
        w = np.pad(w, ((0, pr), (0, pc)), constant_values=np.nan)
        return np.nanmean(w.reshape(w.shape[0] // fr, fr, w.shape[1] // fc, fc), axis=(1, 3)).astype(np.float32)

    # -- dataset (labbench.store) -------------------------------------------------------
    def _open_store(self):
        values = {k: "" for k in _STORE_VALUES}
        values["seconds"] = "s"
        values.update(program_energy_J="J", read_energy_J="J", refresh_energy_J="J")
        return self.store.run("bnn_training", index={"epoch": ""}, values=values,
                              metadata={"config": self.spec.flat(),
                                        "device_model": self.device_model.name,
                                        "resumed_from_epoch": self.epoch,
                                        "out_dir": str(self.out_dir) if self.out_dir else None})

    # -- metrics and checkpoints --------------------------------------------------------
    def write_metrics(self, path: Path) -> None:
        import pandas as pd

        buf = io.StringIO()
        pd.DataFrame(self.history).to_csv(buf, index=False)
        _atomic_write_bytes(Path(path), buf.getvalue().encode())

    def save_checkpoint(self, path: Path, before_publish=None) -> None:
        """Write the checkpoint atomically; ``before_publish()`` runs once it is written
        to its temporary file and before it replaces ``path``."""
        arrays: dict[str, np.ndarray] = {}
        for i, syn in enumerate(self.synapses):
            for k, v in syn.state_dict().items():
                arrays[f"syn{i}.{k}"] = v
        for i, bn in enumerate(self.model.bns):
            for k, v in bn.state().items():
                arrays[f"bn{i}.{k}"] = v
        for k, v in self.opt.state_dict().items():
            arrays[f"opt.{k}"] = v
        for k, v in self.bn_opt.state_dict().items():
            arrays[f"bn_opt.{k}"] = v
        for i, arr in enumerate(self.arrays):
            if self.policy is not None and (st := self.policy.state(arr)) is not None:
                arrays[f"refresh{i}.state"] = st
        if self.g_hist:
            arrays["g_hist"] = np.stack(self.g_hist)
        meta = {"config": self.spec.flat(), **self._identity(), "epoch": self.epoch, "step": self.step,
                "opt_t": self.opt.t, "rng": self.rng.bit_generator.state, "history": self.history}
        if self.spec.array.kind == "bench" and self.spec.array.bench:
            from labbench.paths import bench_reference

            meta["bench"] = bench_reference(self.spec.array.bench)   # where `labbench evaluate` finds it
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        from labbench.atomic import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_bytes(buf.getvalue())
            if before_publish is not None:
                before_publish()

    def _identity(self) -> dict:
        """What, besides the settings, a checkpoint must share with this trainer to resume."""
        kinds = {type(a).__name__ for a in self.arrays}
        array = ("ideal" if not self.arrays else "bench" if "BenchArray" in kinds
                 else "sim" if kinds == {"SimArray"} else ",".join(sorted(kinds)))
        return run_identity(self.device_model, array)

    def check_checkpoint(self, path: Path) -> dict:
        """Read the checkpoint at ``path`` and check that this trainer can resume it;
        :class:`CheckpointError` (naming the file, or the options that differ) if not."""
        data = read_checkpoint(path)
        meta = data.pop("meta")
        diff = config_differences(self.spec, meta, self._identity())
        if diff:
            raise CheckpointError(
                f"{path} holds a checkpoint of a different configuration (differs in "
                f"{'; '.join(diff)}); a run folder resumes only the same configuration: "
                "choose another --out folder, or delete the checkpoint to start over")
        return {**data, "meta": meta}

    def load_checkpoint(self, path: Path) -> None:
        data = self.check_checkpoint(path)
        meta = data.pop("meta")
        try:
            self._load_state(data, meta)
        except (KeyError, ValueError, TypeError, IndexError) as e:
            raise CheckpointError(
                f"checkpoint {path} does not fit this network ({type(e).__name__}: {e}); "
                "delete it, or choose another --out folder") from None

    def _load_state(self, data: dict, meta: dict) -> None:
        for i, syn in enumerate(self.synapses):
            syn.load_state_dict({k.split(".", 1)[1]: v for k, v in data.items() if k.startswith(f"syn{i}.")})
        for i, bn in enumerate(self.model.bns):
            bn.load({k.split(".", 1)[1]: v for k, v in data.items() if k.startswith(f"bn{i}.")})
        self.opt.load_state_dict({k[4:]: v for k, v in data.items() if k.startswith("opt.")})
        self.bn_opt.load_state_dict({k[7:]: v for k, v in data.items() if k.startswith("bn_opt.")})
        for i, arr in enumerate(self.arrays):
            if f"refresh{i}.state" in data:
                self.policy.load_state(arr, data[f"refresh{i}.state"])
        self.g_hist = list(data["g_hist"]) if "g_hist" in data else []
        self.epoch, self.step = meta["epoch"], meta["step"]
        self.opt.t = self.bn_opt.t = meta["opt_t"]
        self.rng.bit_generator.state = meta["rng"]
        self.history = meta["history"]


def read_checkpoint(path: str | Path) -> dict:
    """All arrays of a checkpoint, with ``meta`` decoded; :class:`CheckpointError`
    naming the file if it is unreadable (empty, truncated, not a checkpoint)."""
    path = Path(path)
    hint = "delete it (the run starts over), or choose another --out folder"
    try:
        if path.stat().st_size == 0:
            raise CheckpointError(f"checkpoint {path} is empty (a crash while it was written?); {hint}")
        with open(path, "rb") as f:
            head = f.read(4)
        if head != b"PK\x03\x04":          # np.savez writes a zip archive
            raise CheckpointError(f"checkpoint {path} is corrupt: not a NumPy .npz archive "
                                  f"(starts with {head!r}); {hint}")
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
        meta = json.loads(bytes(data.pop("meta")).decode())
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ValueError("no configuration in its metadata")
        for key in ("epoch", "step", "opt_t", "rng", "history"):
            meta[key]
    except CheckpointError:
        raise
    except AttributeError:
        # np.load of a plain .npy array (no .files) is not a checkpoint either
        raise CheckpointError(f"checkpoint {path} is not a labbench checkpoint; {hint}") from None
    except OSError as e:
        if not path.exists():
            raise
        raise CheckpointError(f"cannot read checkpoint {path} ({e.strerror or e}); {hint}") from None
    except Exception as e:  # noqa: BLE001 - zipfile, EOF, JSON, pickle refusals: all say "corrupt"
        raise CheckpointError(f"checkpoint {path} is corrupt or not a labbench checkpoint "
                              f"({type(e).__name__}: {e}); {hint}") from None
    return {"meta": meta, **data}


def _option_name(key: str) -> str:
    return {"sizes": "--hidden", "mode": "--array (mode)", "precision": "--mode",
            "device_model_content": "--device-model (its content)"}.get(key, "--" + key.replace("_", "-"))


def _show(key: str, value) -> str:
    if key == "sizes" and isinstance(value, (list, tuple)) and len(value) > 2:
        return ",".join(str(v) for v in value[1:-1]) + f" (layers {list(value)})"
    return json.dumps(value)


def model_fingerprint(model: DeviceModel) -> str:
    """A short hash of a device model's content."""
    import hashlib

    text = json.dumps(model.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_identity(model: DeviceModel, array: str) -> dict:
    """What a checkpoint records beside the settings: the device model (by name, and by
    content: a model edited, or a labbench whose default physics changed, must not resume
    a run trained on the old one) and where the synapses lived (sim, bench, ideal)."""
    return {"device_model": model.name, "device_model_content": model_fingerprint(model), "array": array}


def config_differences(spec: TrainSpec, meta: dict, identity: dict | None = None) -> list[str]:
    """The settings that differ between ``spec`` and a checkpoint's ``meta``, each
    as "--option here vs checkpoint" (``epochs`` may differ: resuming trains further).
    A setting newer than the checkpoint counts as its default there."""
    mine, theirs = spec.flat(), dict(meta.get("config", {}))
    out = [f"{_option_name(k)} {_show(k, mine.get(k))} here vs {_show(k, theirs.get(k))} in the checkpoint"
           for k in differences(mine, theirs) if k != "epochs"]
    for k, v in (identity or {}).items():
        if k in meta and meta[k] != v:     # older checkpoints do not record these
            name = _option_name(k)
            out.append(f"{name} {json.dumps(v)} here vs {json.dumps(meta[k])} in the checkpoint")
    return out


_STORE_VALUES = ["test_acc", "train_acc", "train_loss", "lr", "seconds", "samples_per_s", "set_pulses",
                 "refresh_set_pulses", "reset_ops", "refreshes", "sign_reads", "conductance_reads",
                 "refresh_reads", "pairs_refreshed", "saturated_frac", "bytes_per_synapse",
                 "program_energy_J", "read_energy_J", "refresh_energy_J", "pulses_per_cell_mean",
                 "pulses_per_cell_max", "worn_fraction"]
