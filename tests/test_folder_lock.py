"""One run per output folder: a second training or sweep into a folder in use is refused
with the holder's pid, and the folder is free again once the holder ends (kill -9 too)."""
from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from labbench.cli import main
from labbench.folderlock import LOCK_NAME, FolderLock
from tests.test_bnn_trainer import mnist_dir  # noqa: F401 - fixture

SWEEP = """name: locked
data: {kind: synthetic, train: 100, test: 50}
train: {sizes: [16, 4, 4], epochs: 1, batch: 50}
grid: {nl_set: [1, 2]}
"""


def _holder(folder):
    """Another process holding the folder's lock, as a running labbench would."""
    code = (f"from labbench.folderlock import FolderLock; import time; "
            f"lock = FolderLock({str(folder)!r}, 'training').acquire(); print('held', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_training_into_a_folder_in_use_is_refused_with_the_holders_pid(tmp_path, mnist_dir):  # noqa: F811
    run = tmp_path / "run"
    run.mkdir()
    p = _holder(run)
    try:
        r = CliRunner().invoke(main, ["train", "--data", str(mnist_dir), "--hidden", "16", "--epochs", "1",
                                      "--out", str(run), "--no-db"])
        assert r.exit_code == 2, r.output
        assert f"in use by another labbench training (pid {p.pid})" in r.output and "--out" in r.output
        assert sorted(x.name for x in run.iterdir()) == [LOCK_NAME]   # nothing of the refused run
    finally:
        p.kill()
        p.wait()
    # killed (as kill -9 would): the lock went with it, the folder is usable again
    with FolderLock(run, "training"):
        pass
    assert not (run / LOCK_NAME).exists()


def test_a_second_sweep_into_a_folder_in_use_is_refused(tmp_path):
    out = tmp_path / "sw"
    out.mkdir()
    (tmp_path / "s.yaml").write_text(SWEEP)
    p = _holder(out)
    try:
        r = CliRunner().invoke(main, ["sweep", str(tmp_path / "s.yaml"), "--out", str(out), "--threads", "--no-db"])
        assert r.exit_code == 2, r.output
        assert f"pid {p.pid}" in r.output
        assert not (out / "results.parquet").exists()
    finally:
        p.kill()
        p.wait()


def test_the_lock_is_released_when_the_run_ends(tmp_path, mnist_dir):  # noqa: F811
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--data", str(mnist_dir), "--hidden", "16", "--epochs", "1",
                                  "--out", str(run), "--no-db"])
    assert r.exit_code == 0, r.output
    assert not (run / LOCK_NAME).exists()
    with FolderLock(run, "training"):
        assert (run / LOCK_NAME).read_text().strip() == str(os.getpid())
