"""`labbench evaluate` of a network trained online with a layer on the bench (`labbench train
--array bench`): the layer is evaluated in place on the bench it trained on, a copy of the
simulated chip per temperature, restored from the checkpoint; a chip that holds its own state
(a real one, faked here) takes one temperature and is checked to be the chip trained."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labbench.array.bench_array import BenchArray
from labbench.bnn import evaluate as ev
from labbench.bnn.run import TrainRun
from labbench.bnn.spec import TrainSpec
from labbench.instruments import Bench
from labbench.paths import resolve_bench


def cli(*args):
    from labbench.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """784-16-10 on MNIST look-alikes, one epoch: its 16 × 10 output layer on a copy of the
    simulated 32 × 32 bench (benches/sim.yaml), the 784 × 16 layer on a SimArray (~8 s)."""
    from tests.test_bnn_trainer import write_blocks_mnist

    tmp = tmp_path_factory.mktemp("bench_trained")
    mnist = write_blocks_mnist(tmp / "mnist", 400, 100)
    (tmp / "benches").mkdir()
    bench = tmp / "benches" / "lab.yaml"
    shutil.copy(resolve_bench("sim"), bench)
    run = tmp / "run"
    spec = TrainSpec(sizes=(784, 16, 10), epochs=1, batch=20, lr=0.02, array={"kind": "bench", "bench": str(bench)},
                     data={"path": str(mnist)}, output={"dir": str(run), "plots": False})
    r = TrainRun(spec, progress=False)
    r.run()
    assert r.result()["layers_on_bench"] == [1]
    return {"run": run, "mnist": mnist, "bench": bench, "tmp": tmp}


def _evaluate(trained, out, *more):
    return cli("evaluate", trained["run"], "--after", "1h,1d,10y", "--data", trained["mnist"], "--out", out, *more)


def test_a_bench_trained_run_evaluates_in_place_at_each_temperature(trained, tmp_path):
    ckpt = (trained["run"] / "checkpoint.npz").read_bytes()
    r = _evaluate(trained, tmp_path / "a", "--temperature", "25,85", "--seeds", "1")
    assert r.exit_code == 0, r.output
    assert "layer 1 in place on" in r.output and "evaluation_bench.csv and evaluation_bench.json" in r.output
    rows = pd.read_csv(tmp_path / "a" / "evaluation_bench.csv")
    assert rows.groupby("temperature_C").time.apply(list).to_dict() == {t: [0, 3600, 86400, 3.15576e8]
                                                                        for t in (25.0, 85.0)}
    assert rows.accuracy.between(0, 1).all() and rows.flipped.between(0, 1).all()
    assert (rows[rows.time == 0].flipped == 0).all()
    flips = rows.set_index(["temperature_C", "time"]).flipped
    assert flips[(85.0, 3.15576e8)] >= flips[(25.0, 3.15576e8)] and flips[(85.0, 3.15576e8)] > 0
    info = json.loads((tmp_path / "a" / "evaluation_bench.json").read_text())
    assert info["in_place"] and info["chip_restored"] and info["layer"] == 1 and info["chip_check"] is None
    for res in info["results"]:
        assert res["programmed"] is None and res["pairs"] == 160
        assert res["changed_since_checkpoint"] <= 0.02          # the chip as the checkpoint left it
    trained_acc = pd.read_csv(trained["run"] / "metrics.csv").test_acc.iloc[-1]
    assert abs(rows.accuracy.iloc[0] - trained_acc) <= 0.02 and trained_acc > 0.5
    # again: the chip restored from the checkpoint, not trained on (the checkpoint is untouched)
    r = _evaluate(trained, tmp_path / "b", "--temperature", "85", "--seeds", "1")
    assert r.exit_code == 0, r.output
    again = pd.read_csv(tmp_path / "b" / "evaluation_bench.csv")
    assert again.accuracy.iloc[0] == rows[rows.temperature_C == 85.0].accuracy.iloc[0]
    np.testing.assert_array_equal(again.flipped, rows[rows.temperature_C == 85.0].flipped)
    assert (trained["run"] / "checkpoint.npz").read_bytes() == ckpt


def test_drift_seeds_copy_the_chip_and_redraw_its_drift(trained, tmp_path):
    with ev.load_run(trained["run"]) as run:
        assert run.kind == "bench" and run.bench_layer == 1 and run.chip_in_checkpoint
        assert run.bench.now() >= run.bench.world.chip.time > 0      # the clock resumes at the chip's time
        bench = run.bench
    assert bench._closed
    r = cli("evaluate", trained["run"], "--after", "10y", "--temperature", "85", "--seeds", "2", "--data",
            trained["mnist"], "--out", tmp_path, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert [res["seed"] for res in info["results"]] == [0, 1] and info["seeds"] == 2
    first = [res["rows"][0]["accuracy"] for res in info["results"]]
    assert first[0] == first[1]                                     # both copies start as trained


def test_a_moved_bench_file_is_named_and_found_with_bench(trained, tmp_path):
    moved = tmp_path / "elsewhere.yaml"
    shutil.move(trained["bench"], moved)
    try:
        r = _evaluate(trained, tmp_path / "a")
        assert r.exit_code == 2 and "Traceback" not in r.output
        assert "lab.yaml', is not found" in r.output and "point at it with --bench PATH" in r.output
        r = cli("evaluate", trained["run"], "--after", "1h", "--seeds", "1", "--bench", moved, "--data",
                trained["mnist"], "--out", tmp_path / "b")
        assert r.exit_code == 0, r.output
        assert "room temperature" in r.output and len(pd.read_csv(tmp_path / "b" / "evaluation_bench.csv")) == 2
    finally:
        shutil.move(moved, trained["bench"])


def test_a_real_chip_takes_one_temperature_and_must_be_the_chip_trained(trained, tmp_path, monkeypatch):
    # a real bench: no simulated chip to save or restore (here: the bench's fresh chip)
    monkeypatch.setattr(BenchArray, "_sim_chip", lambda self: None)
    r = _evaluate(trained, tmp_path, "--temperature", "25,85")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "one copy whose clock only runs forward" in r.output and "one temperature per run" in r.output
    r = _evaluate(trained, tmp_path, "--temperature", "25", "--seeds", "3")
    assert r.exit_code == 2 and "give --seeds 1" in r.output
    r = _evaluate(trained, tmp_path, "--temperature", "85")
    assert r.exit_code == 2 and "does not hold layer 1" in r.output and "different or erased chip" in r.output
    assert not (tmp_path / "evaluation_bench.json").exists()


def test_a_real_chip_that_holds_the_layer_is_evaluated_once(trained, tmp_path, monkeypatch):
    # the chip holds its own state (restored here, as a real chip keeps it) and is not copied
    monkeypatch.setattr(ev.TrainedRun, "chip_in_checkpoint", property(lambda self: False))
    r = _evaluate(trained, tmp_path, "--temperature", "85", "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    check = info["chip_check"]
    assert check["checked"] and check["mismatch"] <= check["allowed"] and not info["chip_restored"]
    assert info["seeds"] == 1 and len(info["results"]) == 1


def test_ctrl_c_turns_the_bench_off(trained, tmp_path, monkeypatch):
    opened = []
    real = Bench.from_yaml.__func__

    def tracked(cls, *a, **kw):
        opened.append(real(cls, *a, **kw))
        return opened[-1]

    def interrupted(self, seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(Bench, "from_yaml", classmethod(tracked))
    monkeypatch.setattr(Bench, "sleep", interrupted)
    r = _evaluate(trained, tmp_path, "--temperature", "85", "--seeds", "1")
    assert r.exit_code == 130 and "outputs switched off" in r.output and "Traceback" not in r.output
    assert opened and all(b._closed for b in opened)
    assert not (tmp_path / "evaluation_bench.json").exists()


def test_a_bench_checkpoint_keeps_the_signs_last_read_with_nothing_written_since():
    with Bench.from_yaml("sim") as bench:
        arr = BenchArray(bench, 2, 3)
        assert "signs" not in arr.state_dict()
        arr.apply_set_pulses(np.full((2, 3), 5), np.zeros((2, 3), int))
        signs = arr.read_signs()
        np.testing.assert_array_equal(arr.state_dict()["signs"], signs)
        arr.apply_set_pulses(np.zeros((2, 3), int), np.full((2, 3), 1))
        assert "signs" not in arr.state_dict()          # written since: unknown, not read here


def test_an_older_checkpoint_finds_its_bench_in_the_spec_and_warns_it_cannot_check_the_chip(trained, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(trained["run"], run)
    with np.load(run / "checkpoint.npz") as f:
        data = {k: f[k] for k in f.files if k != "syn1.signs"}
    meta = json.loads(bytes(data["meta"]).decode())
    del meta["bench"]                          # older checkpoints: the bench is found in the run's spec.yaml
    data["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(run / "checkpoint.npz", **data)
    monkeypatch.setattr(ev.TrainedRun, "chip_in_checkpoint", property(lambda self: False))
    r = cli("evaluate", run, "--after", "1h", "--data", trained["mnist"], "--out", tmp_path / "e")
    assert r.exit_code == 0, r.output
    assert "warning: cannot check that the chip" in r.output and "predates" in r.output
