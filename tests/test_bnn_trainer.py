"""The Trainer: device-in-the-loop training on a toy problem, resume, faults, CLI end to end."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from labbench.bnn.spec import TrainSpec

from labbench.bnn.trainer import Trainer
from labbench.physics import DeviceModel, load_device_model


def toy(n, seed=0, d=20, k=4):
    """Four separable clusters in [−1, 1]^20 (random ±0.6 centres, σ 0.7 per axis)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).choice([-0.6, 0.6], (k, d))
    y = rng.integers(0, k, n)
    x = np.clip(centres[y] + 0.7 * rng.standard_normal((n, d)), -1, 1).astype(np.float32)
    return x, y


@pytest.fixture(scope="module")
def data():
    return (*toy(3000, 0), *toy(1000, 1))


def cfg(**kw):
    base = dict(sizes=(20, 64, 4), epochs=4, batch=50, lr=0.01, lr_end=0.001, refresh="threshold",
                refresh_level=0.7, refresh_check_every=5, seed=3)
    base.update(kw)
    return TrainSpec(**base)


@pytest.fixture(scope="module")
def clean_run(data):
    t = Trainer(cfg(), progress=False)
    return t, t.fit(*data)


def test_device_in_the_loop_learns_with_refresh(clean_run):
    t, hist = clean_run
    assert hist[-1]["test_acc"] > 0.9
    assert sum(h["refreshes"] for h in hist) > 0 and sum(h["refresh_set_pulses"] for h in hist) > 0
    assert sum(h["set_pulses"] for h in hist) == sum(a.counters.set_pulses for a in t.arrays) - 20 * 64 - 64 * 4
    # one read of every synapse per batch, plus one verify read per refreshed pair
    assert hist[0]["sign_reads"] == (3000 // 50) * (20 * 64 + 64 * 4) + hist[0]["refreshes"]


def test_ideal_mode_learns_too(data):
    hist = Trainer(cfg(mode="ideal"), progress=False).fit(*data)
    assert hist[-1]["test_acc"] > 0.9 and "set_pulses" not in hist[-1]


def test_resume_from_checkpoint_equals_an_uninterrupted_run(data, tmp_path):
    straight = Trainer(cfg(epochs=2), out_dir=tmp_path / "a", progress=False, plots=False)
    straight.fit(*data)
    first = Trainer(cfg(epochs=2), out_dir=tmp_path / "b", progress=False, plots=False)
    first.fit(*data, epochs=1)                         # "killed" after epoch 1
    resumed = Trainer(cfg(epochs=2), out_dir=tmp_path / "b", progress=False)
    hist = resumed.fit(*data)
    assert [h["test_acc"] for h in hist] == [h["test_acc"] for h in straight.history]
    for a, b in zip(straight.arrays, resumed.arrays):
        np.testing.assert_array_equal(a.conductances(), b.conductances())
        assert a.counters == b.counters
    lines = (tmp_path / "b" / "metrics.csv").read_text().strip().splitlines()
    assert len(lines) == 3                             # header + 2 epochs, no duplicate
    for plot in ("accuracy.png", "conductance_hist.png", "pulses.png"):
        assert (tmp_path / "b" / plot).exists()
    with pytest.raises(ValueError, match="different configuration.*lr"):
        Trainer(cfg(epochs=2, lr=0.02), out_dir=tmp_path / "b", progress=False).fit(*data)


def test_resume_keeps_what_refresh_learned_about_stuck_pairs(data, tmp_path):
    dm = load_device_model()
    faulty = DeviceModel.model_validate({**dm.to_dict(), "faults": {"stuck_at_gmax": 0.05}})
    straight = Trainer(cfg(epochs=2), faulty, out_dir=tmp_path / "a", progress=False, plots=False)
    straight.fit(*data)
    assert straight.policy.unresponsive(straight.arrays[0]) > 0       # stuck pairs given up on
    first = Trainer(cfg(epochs=2), faulty, out_dir=tmp_path / "b", progress=False, plots=False)
    first.fit(*data, epochs=1)
    resumed = Trainer(cfg(epochs=2), faulty, out_dir=tmp_path / "b", progress=False, plots=False)
    resumed.fit(*data)
    for a, b in zip(straight.arrays, resumed.arrays):
        np.testing.assert_array_equal(a.conductances(), b.conductances())
        assert a.counters == b.counters


def test_stuck_cells_and_sense_errors_degrade_gracefully(data, clean_run):
    clean = clean_run[1][-1]["test_acc"]
    dm = load_device_model()
    faulty = DeviceModel.model_validate({**dm.to_dict(), "faults": {"stuck_at_gmin": 0.05, "stuck_at_gmax": 0.05}})
    stuck = Trainer(cfg(), faulty, progress=False).fit(*data)[-1]["test_acc"]
    noisy = Trainer(cfg(sense_noise=0.05, sense_offset=0.02), progress=False).fit(*data)[-1]["test_acc"]
    for acc in (stuck, noisy):
        assert clean - 0.12 < acc <= clean + 0.03


# -- the command line -----------------------------------------------------------------
@pytest.fixture()
def mnist_dir(tmp_path):
    """A tiny learnable MNIST look-alike in IDX files: each class lights its own block."""
    return write_blocks_mnist(tmp_path / "mnist", 400, 100)


def write_blocks_mnist(folder, n_train: int, n_test: int):
    """``n_train``/``n_test`` images in MNIST's IDX files in ``folder``: each class lights
    its own horizontal block over noise (learnable in one epoch)."""
    from tests.test_bnn_mnist import write_idx
    from labbench.bnn.mnist import FILES

    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 10, n)
        img = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(y):
            img[i, 2 * c:2 * c + 6, 4:24] = 250
        return img, y
    (xtr, ytr), (xte, yte) = make(n_train), make(n_test)
    folder.mkdir()
    for key, arr in {"train_images": xtr, "train_labels": ytr, "test_images": xte, "test_labels": yte}.items():
        write_idx(folder / FILES[key], arr)
    return folder


def run_cli(args):
    from labbench.cli import main

    return CliRunner().invoke(main, ["train", *args], catch_exceptions=False)


def test_cli_trains_resumes_and_reports_json(mnist_dir, tmp_path):
    out = tmp_path / "run"
    common = ["--array", "sim", "--hidden", "16", "--data", str(mnist_dir), "--out", str(out), "--quiet",
              "--batch", "20", "--lr", "0.02", "--refresh", "threshold", "--json"]
    r = run_cli([*common, "--epochs", "2", "--db", str(tmp_path / "lab.db")])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["epoch"] == 2 and res["test_acc"] > 0.5 and res["config"]["sizes"] == [784, 16, 10]
    r = run_cli([*common, "--epochs", "3", "--no-db"])            # resumes from the checkpoint
    assert json.loads(r.stdout)["epoch"] == 3
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 4
    from labbench.store import Store

    store = Store(tmp_path / "lab.db")
    runs = store.runs()
    assert runs["name"].tolist() == ["bnn_training"]
    df = store.load(int(runs["run_id"][0]))
    assert sorted(df["epoch"].unique()) == [1, 2] and df["test_acc"].between(0, 1).all()
    assert store.metadata(int(runs["run_id"][0]))["config"]["sizes"] == [784, 16, 10]


def test_cli_refuses_a_model_that_cannot_hold_a_weight(mnist_dir, tmp_path):
    dm = load_device_model().to_dict()
    dm["update"]["g_max"] = dm["update"]["g_min"] * 0.5
    import yaml

    path = tmp_path / "inverted.yaml"
    path.write_text(yaml.safe_dump(dm))
    r = CliRunner().invoke(__import__("labbench.cli", fromlist=["main"]).main,
                           ["train", "--device-model", str(path), "--data", str(mnist_dir), "--no-db", "--quiet"])
    assert r.exit_code != 0 and "g_max" in r.output and "must exceed g_min" in r.output


def test_cli_bench_needs_a_bench_file(mnist_dir):
    r = CliRunner().invoke(__import__("labbench.cli", fromlist=["main"]).main,
                           ["train", "--array", "bench", "--data", str(mnist_dir), "--no-db"])
    assert r.exit_code != 0 and "--bench" in r.output


def test_a_killed_run_resumes_and_the_dataset_stays_consistent(data, tmp_path):
    from labbench.store import Store

    store = Store(tmp_path / "lab.db")
    killed = Trainer(cfg(epochs=3), out_dir=tmp_path / "run", progress=False, plots=False, store=store)
    real_epoch, calls = killed.train_epoch, []

    def dies_in_epoch_two(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed mid-epoch")
        return real_epoch(*a, **kw)

    killed.train_epoch = dies_in_epoch_two
    with pytest.raises(KeyboardInterrupt):
        killed.fit(*data)
    resumed = Trainer(cfg(epochs=3), out_dir=tmp_path / "run", progress=False, plots=False, store=store)
    hist = resumed.fit(*data)
    assert [h["epoch"] for h in hist] == [1, 2, 3]            # lost only the epoch in progress
    epochs = sorted(e for rid in store.runs()["run_id"] for e in store.load(int(rid))["epoch"].unique())
    assert epochs == [1, 2, 3]                                 # no epoch missing or written twice
    assert store.metadata(int(store.runs()["run_id"].max()))["resumed_from_epoch"] == 1


def test_the_epoch_row_is_on_disk_before_the_checkpoint_that_includes_it(data, tmp_path, monkeypatch):
    """A kill -9 right after the checkpoint of epoch N is published finds epoch N's row
    in the dataset already (the other order lost the row for good: the resumed run
    starts after epoch N)."""
    import labbench.atomic as atomic
    from labbench.store import Store

    store = Store(tmp_path / "lab.db", write_period=1e6)
    seen = []
    real_replace = atomic.os.replace

    def replace(src, dst):
        if str(dst).endswith("checkpoint.npz"):
            reader = Store(tmp_path / "lab.db")
            rid = int(reader.runs()["run_id"].max())
            seen.append(sorted(int(e) for e in reader.load(rid)["epoch"].unique()))
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    Trainer(cfg(epochs=2), out_dir=tmp_path / "run", progress=False, plots=False, store=store).fit(*data)
    assert seen == [[1], [1, 2]]


# -- bad inputs and lost work -----------------------------------------------------------
def test_each_epoch_is_in_the_dataset_when_it_ends_and_the_run_records_how_it_ended(data, tmp_path):
    """A run killed in epoch 2 has epoch 1 on disk (flushed at the end of the epoch, not
    when QCoDeS's write period happens to elapse), and its record says aborted; a run
    that fails says failed, with the reason."""
    from labbench.store import Store

    store = Store(tmp_path / "lab.db", write_period=1e6)      # only our flush writes rows
    t = Trainer(cfg(epochs=3), out_dir=tmp_path / "run", progress=False, plots=False, store=store)
    real_epoch, seen = t.train_epoch, []

    def epoch(*a, **kw):
        if t.epoch == 1:
            reader = Store(tmp_path / "lab.db")
            seen.append(sorted(reader.load(int(reader.runs()["run_id"].max()))["epoch"].unique()))
            raise KeyboardInterrupt("killed mid-epoch")
        return real_epoch(*a, **kw)

    t.train_epoch = epoch
    with pytest.raises(KeyboardInterrupt):
        t.fit(*data)
    assert seen == [[1]]                                       # epoch 1 was on disk during epoch 2
    runs = store.runs()
    assert runs["status"].tolist() == ["aborted"] and runs["rows"].tolist() == [1]

    t2 = Trainer(cfg(epochs=3), out_dir=tmp_path / "run", progress=False, plots=False, store=store)

    def fails(*a, **kw):
        raise RuntimeError("the chip caught fire")

    t2.train_epoch = fails
    with pytest.raises(RuntimeError):
        t2.fit(*data)
    runs = store.runs().set_index("run_id")
    last = runs.loc[runs.index.max()]
    assert last["status"] == "failed" and "caught fire" in last["reason"]


def test_a_corrupt_checkpoint_is_named_not_a_traceback(data, tmp_path):
    from labbench.bnn.trainer import CHECKPOINT, CheckpointError

    t = Trainer(cfg(epochs=1), out_dir=tmp_path / "run", progress=False, plots=False)
    t.fit(*data)
    path = tmp_path / "run" / CHECKPOINT
    good = path.read_bytes()
    for bad, why in [(b"", "is empty"), (good[: len(good) // 3], "corrupt"), (b"\x93NUMPY garbage", "corrupt"),
                     (good[:-200], "corrupt")]:
        path.write_bytes(bad)
        with pytest.raises(CheckpointError, match=f"{CHECKPOINT}.*{why}.*delete it.*--out"):
            Trainer(cfg(epochs=2), out_dir=tmp_path / "run", progress=False, plots=False).fit(*data)


def test_a_checkpoint_of_another_device_model_or_network_is_refused(data, tmp_path):
    from labbench.bnn.trainer import CheckpointError

    Trainer(cfg(epochs=1), out_dir=tmp_path / "run", progress=False, plots=False).fit(*data)
    other = DeviceModel.model_validate({**load_device_model().to_dict(), "name": "another_chip"})
    with pytest.raises(CheckpointError, match=r"--device-model \"another_chip\" here"):
        Trainer(cfg(epochs=2), other, out_dir=tmp_path / "run", progress=False).fit(*data)
    # the same name, other physics (an edited file): refused too, named
    edited = load_device_model().to_dict()
    edited["update"] = {**edited["update"], "c2c_abs": 0.02}
    with pytest.raises(CheckpointError, match=r"--device-model \(its content\)"):
        Trainer(cfg(epochs=2), DeviceModel.model_validate(edited), out_dir=tmp_path / "run", progress=False).fit(*data)
    with pytest.raises(CheckpointError, match=r"--hidden 32 .*here vs 64"):
        Trainer(cfg(epochs=2, sizes=(20, 32, 4)), out_dir=tmp_path / "run", progress=False).fit(*data)
    with pytest.raises(CheckpointError,
                       match=r"--array \(mode\) \"ideal\" here vs \"device\".*--array \"ideal\" here vs \"sim\""):
        Trainer(cfg(epochs=2, mode="ideal"), out_dir=tmp_path / "run", progress=False).fit(*data)


@pytest.mark.parametrize("field, value", [("lr", float("inf")), ("lr", float("nan")), ("lr_end", -1.0),
                                          ("sense_noise", float("nan")), ("refresh_level", 2.0),
                                          ("refresh_cap", float("nan")), ("sense_offset", -0.1)])
def test_config_refuses_non_finite_or_out_of_range_floats(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a finite number in"):
        cfg(**{field: value})


def test_a_network_too_big_for_memory_is_refused_before_allocating(monkeypatch):
    from labbench.bnn import spec

    monkeypatch.setattr(spec, "memory_cap", lambda: 1 << 20)       # 1 MiB
    with pytest.raises(ValueError, match=r"20-10000-4 network has 240,000 device pairs.*about 36.6 MiB"):
        Trainer(cfg(sizes=(20, 10000, 4)), progress=False)


def test_cli_default_outputs_go_to_labbench_out_not_the_package(mnist_dir, tmp_path, monkeypatch):
    from labbench.paths import DATA

    monkeypatch.setenv("LABBENCH_OUT", str(tmp_path / "outs"))
    (tmp_path / "outs").mkdir()
    before = sorted(p.name for p in DATA.iterdir())
    r = run_cli(["--hidden", "8", "--epochs", "1", "--batch", "50", "--data", str(mnist_dir), "--quiet"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "outs" / "runs" / "train-sim-s0" / "checkpoint.npz").is_file()
    assert (tmp_path / "outs" / "labbench.db").is_file()
    assert sorted(p.name for p in DATA.iterdir()) == before


def test_cli_refuses_a_run_folder_of_another_configuration(mnist_dir, tmp_path):
    common = ["--epochs", "1", "--batch", "50", "--data", str(mnist_dir), "--out", str(tmp_path / "run"),
              "--quiet", "--no-db"]
    assert run_cli(["--hidden", "8", *common]).exit_code == 0
    r = CliRunner().invoke(__import__("labbench.cli", fromlist=["main"]).main,
                           ["train", "--hidden", "16", "--lr", "0.01", *common])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "--hidden 16" in r.output and "--lr 0.01 here vs 0.005" in r.output and "another --out" in r.output


def test_cli_batch_larger_than_the_training_set(mnist_dir, tmp_path):
    r = CliRunner().invoke(__import__("labbench.cli", fromlist=["main"]).main,
                           ["train", "--hidden", "8", "--batch", "500", "--data", str(mnist_dir),
                            "--out", str(tmp_path / "run"), "--no-db"])
    assert r.exit_code == 2 and "--batch" in r.output and "400 images" in r.output
    assert not (tmp_path / "run").exists()                  # the folder made for the run is gone again


def test_cli_read_only_run_folder(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        r = CliRunner().invoke(__import__("labbench.cli", fromlist=["main"]).main,
                               ["train", "--out", str(ro / "run"), "--no-db"])
    finally:
        ro.chmod(0o755)
    assert r.exit_code == 1 and "cannot write to run folder (--out)" in r.output


def test_cli_interrupted_run_keeps_its_epochs_and_says_aborted(mnist_dir, tmp_path, monkeypatch):
    from labbench.store import Store

    real_epoch = Trainer.train_epoch

    def epoch(self, *a, **kw):
        if self.epoch == 1:
            raise KeyboardInterrupt()
        return real_epoch(self, *a, **kw)

    monkeypatch.setattr(Trainer, "train_epoch", epoch)
    r = CliRunner().invoke(__import__("labbench.cli", fromlist=["main"]).main,
                           ["train", "--hidden", "8", "--epochs", "3", "--batch", "50", "--data", str(mnist_dir),
                            "--out", str(tmp_path / "run"), "--db", str(tmp_path / "lab.db"), "--quiet"])
    assert r.exit_code == 130 and "Traceback" not in r.output
    store = Store(tmp_path / "lab.db")
    runs = store.runs()
    assert runs["status"].tolist() == ["aborted"]
    assert store.load(int(runs["run_id"][0]))["epoch"].tolist() == [1]
