"""TrainRun: check, prepare, run and record one :class:`~labbench.bnn.spec.TrainSpec`.

The one way a training run is put together: ``labbench train``, a sweep's points, the
demo and the benchmarks all build a TrainSpec and hand it to a TrainRun.

* :meth:`TrainRun.check` — the spec's own checks that need files
  (:meth:`TrainSpec.check`): no array is built, no data read.
* :meth:`TrainRun.prepare` — in this order: the dataset file (``output.db``; a file that
  is not a dataset is refused, nothing is created), the run folder (``output.dir``:
  created, proved writable, locked against a second run), a checkpoint already there
  (readable, and written by the same settings and device model), the data, the bench
  (opened last), the trainer.  A failure on the way leaves nothing behind: the bench is
  closed, the lock released, a run folder made for nothing removed again.
* :meth:`TrainRun.run` — the epochs (resuming a checkpoint), then the bench is closed
  (outputs off) and the lock released on every exit path.  The run folder records the
  spec as run (``spec.yaml``), the device model, checkpoint, metrics and plots; the
  dataset one row per epoch.
"""
from __future__ import annotations

from pathlib import Path

from .spec import TrainSpec, TrainSpecError

SPEC_FILE = "spec.yaml"


class TrainRun:
    """One training run of ``spec``.

    ``progress``: progress bars and a line per epoch; ``download``: fetch MNIST when it is
    missing; ``lock``: lock the run folder (a sweep locks its own folder instead);
    ``tap``/``control``: the live view's feed and Pause/Abort (or a sweep's stop file)."""

    def __init__(self, spec: TrainSpec, *, progress: bool = True, download: bool = True, lock: bool = True,
                 tap=None, control=None):
        self.spec = spec
        self.progress, self.download, self.lock_folder = progress, download, lock
        self.tap, self.control = tap, control
        self.device_model = None
        self.trainer = None
        self.bench = None
        self.on_bench: list[int] = []
        self.data: tuple | None = None
        self.resumed_from_epoch = 0
        self._lock = None
        self._made: list[Path] = []

    @property
    def out_dir(self) -> Path | None:
        return Path(self.spec.output.dir) if self.spec.output.dir else None

    # -- 1. check ------------------------------------------------------------------------------
    def check(self) -> "TrainRun":
        self.device_model = self.spec.check()
        return self

    # -- 2. prepare ----------------------------------------------------------------------------
    def prepare(self, data: tuple | None = None) -> "TrainRun":
        """Everything before the first epoch (see the module's docs).  ``data``: the
        (x_train, y_train, x_test, y_test) to train on instead of loading ``spec.data``."""
        if self.device_model is None:
            self.check()
        store = self._open_store()
        out = self.out_dir
        if out is not None:
            from labbench import paths

            self._made = paths.missing_folders(out)
        try:
            if out is not None:
                self._claim_folder(out)
            self.data = data if data is not None else self._load_data()
            self._check_batch()
            factory = self._open_bench() if self.spec.array.kind == "bench" else None
            from .trainer import Trainer

            self.trainer = Trainer(self.spec, self.device_model, out_dir=out, array_factory=factory,
                                   progress=self.progress, store=store, plots=self.spec.output.plots,
                                   tap=self.tap, control=self.control)
        except BaseException:
            self.close()
            from labbench import paths

            paths.remove_if_empty(self._made)
            raise
        return self

    def _open_store(self):
        if not self.spec.output.db:
            return None
        from labbench.store import Store

        return Store(self.spec.output.db)      # refuses a file that is not a dataset, creates nothing

    def _claim_folder(self, out: Path) -> None:
        from labbench import paths

        paths.ensure_writable_dir(out, "run folder (--out)")
        if self.lock_folder:
            from labbench.folderlock import FolderLock

            self._lock = FolderLock(out, "training").acquire()   # a second training here is refused
        self._check_checkpoint(out)

    def _check_checkpoint(self, out: Path) -> None:
        """A checkpoint in the run folder must be readable and of this spec (before any data)."""
        from .trainer import CHECKPOINT, CheckpointError, config_differences, read_checkpoint, run_identity

        ckpt = out / CHECKPOINT
        if not ckpt.exists():
            return
        meta = read_checkpoint(ckpt)["meta"]       # CheckpointError names the file
        diff = config_differences(self.spec, meta, run_identity(self.device_model, self.spec.array.kind))
        if diff:
            raise CheckpointError(
                f"{ckpt} holds a checkpoint of a different configuration (differs in {'; '.join(diff)}); "
                "a run folder resumes only the same configuration: choose another --out folder, "
                "or delete the checkpoint to start over")
        self.resumed_from_epoch = int(meta["epoch"])

    def _load_data(self) -> tuple:
        from .data import load

        return load(self.spec.data, self.spec.network.sizes, download=self.download)

    def _check_batch(self) -> None:
        n = len(self.data[0])
        subset = self.spec.data.subset
        n_train = min(n, subset or n)
        if self.spec.batch > n_train:
            what = "images" if self.spec.data.kind == "mnist" else "samples"
            raise TrainSpecError(f"batch {self.spec.batch} is larger than the training set ({n_train} {what}"
                                 f"{', --train-subset' if subset else ''}); not one batch would run", "batch")

    def _open_bench(self):
        """Open the bench; the library decides which layer goes on it (BenchPlacement)."""
        from labbench.array.placement import BenchPlacement
        from labbench.instruments.bench import Bench

        s = self.spec
        self.bench = Bench.from_yaml(s.array.bench)
        placement = BenchPlacement(self.bench, self.device_model, s.seed, s.sense.offset, s.sense.noise)
        self.on_bench = placement.on_bench
        return placement

    # -- 3. run ----------------------------------------------------------------------------------
    def run(self, data: tuple | None = None) -> list[dict]:
        """Train (preparing first if not yet done); the per-epoch history."""
        if self.trainer is None:
            self.prepare(data)
        try:
            if self.out_dir is not None:
                self.spec.to_yaml(self.out_dir / SPEC_FILE)
            return self.trainer.fit(*self.data)
        finally:
            self.close()

    def close(self) -> None:
        """Close the bench (outputs off) and release the run folder; safe to call twice."""
        if self.bench is not None:
            bench, self.bench = self.bench, None
            bench.close()
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.release()

    def follow(self, live) -> None:
        """Show this run in a live view (:mod:`labbench.live.session`): its feed sees the
        epochs, its control pauses and aborts; a pause switches a bench's outputs off."""
        from labbench.live.feed import guarded

        self.trainer.tap, self.trainer.control = guarded(live.feed), live.control
        live.feed.expect({"name": "bnn_training"})
        if self.bench is not None:
            from labbench.live.control import pause_outputs, recheck_limits

            bench = self.bench
            live.follow_bench(bench)
            live.control.on_pause.append(lambda: pause_outputs(bench))
            live.control.on_resume.append(lambda: recheck_limits(bench))

    # -- 4. the record ---------------------------------------------------------------------------
    def result(self) -> dict:
        """The last epoch's metrics with the settings, the run folder and the device model."""
        t = self.trainer
        return {**(t.history[-1] if t.history else {}), "config": self.spec.flat(),
                "out_dir": str(self.out_dir) if self.out_dir else None, "device_model": t.device_model.name,
                "layers_on_bench": list(self.on_bench)}
