"""The Trainer: device-in-the-loop training on a toy problem, resume, faults, CLI end to end."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from labbench.bnn.trainer import TrainConfig, Trainer
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
    return TrainConfig(**base)


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
    from tests.test_bnn_mnist import write_idx
    from labbench.bnn.mnist import FILES

    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 10, n)
        img = rng.integers(0, 60, (n, 28, 28))
        for i, c in enumerate(y):
            img[i, 2 * c:2 * c + 6, 4:24] = 250
        return img, y
    (xtr, ytr), (xte, yte) = make(400), make(100)
    folder = tmp_path / "mnist"
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
