"""Bad inputs to ``labbench evaluate`` of a run trained with a layer on a bench
(``labbench train --array bench``): its bench file gone or wrong, a layer that is not the one
on the bench, a chip that holds its own state asked for copies, a chip that is not the one
trained.  Each refused before MNIST is looked for (it is missing in these cases)."""
from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from badcases import Case

_LOCK = threading.Lock()
_TEMPLATE: list[Path] = []


def _template() -> Path:
    """One small run trained with layer 0 (20 × 8) on a copy of benches/sim.yaml, once per
    process (every case copies it): {run/, lab.yaml}."""
    with _LOCK:
        if not _TEMPLATE:
            from labbench.bnn.run import TrainRun
            from labbench.bnn.spec import TrainSpec
            from labbench.paths import resolve_bench

            root = Path(tempfile.mkdtemp(prefix="labbench-bench-run-"))
            atexit.register(shutil.rmtree, root, True)
            shutil.copy(resolve_bench("sim"), root / "lab.yaml")
            spec = TrainSpec(sizes=(20, 8, 4), epochs=1, batch=10, array={"kind": "bench", "bench": str(root / "lab.yaml")},
                             data={"kind": "synthetic", "train": 40, "test": 10},
                             output={"dir": str(root / "run"), "plots": False})
            TrainRun(spec, progress=False).run()
            _TEMPLATE.append(root)
    return _TEMPLATE[0]


def bench_trained_run(tmp: Path, *, bench: str | None = None, keep_chip: bool = True) -> Path:
    """{tmp}/run: the template run, recording ``bench`` as its bench file (None: the template's
    copy of sim.yaml); ``keep_chip=False`` drops the simulated chip's state from the checkpoint
    (the chip then holds its own state, as a real one does: here, a fresh chip)."""
    src = _template() / "run"
    run = tmp / "run"
    shutil.copytree(src, run)
    if bench is not None or not keep_chip:
        ckpt = run / "checkpoint.npz"
        with np.load(ckpt) as f:
            data = {k: f[k] for k in f.files}
        meta = json.loads(bytes(data["meta"]).decode())
        if bench is not None:
            meta["bench"] = bench
        data["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
        if not keep_chip:
            data = {k: v for k, v in data.items() if ".chip." not in k}
        np.savez(ckpt, **data)
    return run


def _moved(tmp):
    bench_trained_run(tmp, bench=str(tmp / "gone" / "lab.yaml"))


def _own_chip(tmp):
    bench_trained_run(tmp, keep_chip=False)


def _small_chip(tmp):
    bench_trained_run(tmp)
    text = (_template() / "lab.yaml").read_text()
    (tmp / "small.yaml").write_text(text.replace("rows: 32", "rows: 8").replace("cols: 32", "cols: 8"))


RUN = "{tmp}/run"
CASES = [
    Case("eval-bench-file-gone", ["evaluate", RUN], r"the bench .*run trained on, '.*gone/lab\.yaml', is not found.*"
         r"if the bench file moved, point at it with --bench PATH", setup=_moved, exit_codes=(2,),
         forbid=("{tmp}/run/evaluation_bench.json",)),
    Case("eval-bench-flag-no-such-file", ["evaluate", RUN, "--bench", "{tmp}/nope.yaml"],
         r"--bench '.*nope\.yaml' is not found .*give the bench file .*run trained on", setup=_moved, exit_codes=(2,)),
    Case("eval-bench-not-the-trained-bench", ["evaluate", RUN, "--bench", "{tmp}/small.yaml"],
         r"small\.yaml\) is not the bench this run trained on: its 8 × 8 chip takes layer 1 of 20-8-4, the run "
         r"trained layer 0 on its bench; give that bench with --bench PATH", setup=_small_chip,
         exit_codes=(2,)),
    Case("eval-bench-layer-not-on-the-bench", ["evaluate", RUN, "--bench-layer", "1"],
         r"--bench-layer 1: .*trained its layer 0 on the bench.*leave --bench-layer out",
         setup=lambda tmp: bench_trained_run(tmp), exit_codes=(2,)),
    Case("eval-bench-own-chip-two-temperatures", ["evaluate", RUN, "--temperature", "25,85"],
         r"--temperature: layer 0 .* state is the chip's own.*one copy whose clock only runs forward.*one "
         r"temperature per run", setup=_own_chip, exit_codes=(2,)),
    Case("eval-bench-own-chip-seeds", ["evaluate", RUN, "--seeds", "2"], r"--seeds: layer 0 .*give --seeds 1",
         setup=_own_chip, exit_codes=(2,)),
    Case("eval-bench-chip-not-the-trained-one", ["evaluate", RUN, "--temperature", "85"],
         r"does not hold layer 0 of .*run: [0-9.]+ % of its 160 signs differ from the checkpoint's last read.*"
         r"different or erased chip", setup=_own_chip, exit_codes=(2,), forbid=("{tmp}/run/evaluation_bench.json",)),
]
