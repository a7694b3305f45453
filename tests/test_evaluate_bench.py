"""`labbench evaluate --bench`: one layer of a trained network programmed onto the simulated
bench with program-verify through the instruments, baked on the chuck in virtual time and
re-read cell by cell (issue 24's bench face)."""
from __future__ import annotations

import numpy as np
import pytest

from labbench.bnn.data import synthetic
from labbench.bnn.evaluate import load_run
from labbench.bnn.evaluate_bench import BenchLayerError, evaluate_layer_on_bench
from labbench.bnn.run import TrainRun
from labbench.bnn.spec import TrainSpec
from labbench.instruments import Bench

DATA = synthetic(16, 4, 400, 200, 1.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    spec = TrainSpec(sizes=(16, 8, 4), epochs=3, batch=20, mode="ideal", data={"kind": "synthetic"},
                     output={"dir": str(out)})
    TrainRun(spec, progress=False).run(DATA)
    return out


def test_a_layer_programmed_on_the_bench_keeps_its_signs_and_accuracy_then_drifts(trained):
    run = load_run(trained)
    x, y = DATA[2], DATA[3]
    software = run.trainer.evaluate(x, y)
    with Bench.from_yaml("sim") as b:
        out = evaluate_layer_on_bench(run, b, 1, [3600.0, 3.15e8], x, y, kelvin=358.15)
        assert b.temperature_controller.temperature() == pytest.approx(358.15, abs=1.0)
    assert out["pairs"] == 8 * 4 and out["programmed"]["converged_fraction"] >= 0.9
    t0, hour, decade = out["rows"]
    assert t0["miswritten"] == 0.0 and t0["accuracy"] == pytest.approx(software)   # written and read back right
    assert [r["time"] for r in out["rows"]] == [0.0, 3600.0, 3.15e8]
    assert 0 <= hour["flipped"] <= decade["flipped"] <= 1
    assert out["accuracy_software"] == pytest.approx(software)      # the network itself is left as it was


def test_a_layer_that_does_not_fit_or_a_bake_without_a_chuck_is_refused(trained):
    run = load_run(trained)
    x, y = DATA[2], DATA[3]
    with Bench.from_yaml("sim") as b:
        with pytest.raises(BenchLayerError, match="layers 0..1"):
            evaluate_layer_on_bench(run, b, 2, [60.0], x, y)
        with pytest.raises(ValueError, match="max_temperature"):
            evaluate_layer_on_bench(run, b, 1, [60.0], x, y, kelvin=900.0)
    with Bench.from_yaml("sim_2600") as b:
        if b.temperature_controller is None:
            with pytest.raises(BenchLayerError, match="needs a temperature_controller"):
                evaluate_layer_on_bench(run, b, 1, [60.0], x, y, kelvin=358.15)
    assert np.isfinite(run.trainer.evaluate(x, y))


def test_labbench_evaluate_bench_programs_bakes_and_rereads_a_layer(tmp_path):
    """The CLI face: a 784-16-10 network trained in software; its 16 × 10 output layer on the
    simulated 32 × 32 bench; the 784 × 16 input layer is refused naming the ones that fit."""
    import json

    from click.testing import CliRunner

    from labbench.cli import main as cli
    from tests.test_bnn_trainer import write_blocks_mnist

    mnist = write_blocks_mnist(tmp_path / "mnist", 1000, 200)
    run = tmp_path / "run"
    spec = TrainSpec(sizes=(784, 16, 10), epochs=1, mode="ideal", data={"path": str(mnist)}, output={"dir": str(run)})
    TrainRun(spec, progress=False).run()
    args = ["evaluate", str(run), "--after", "1h,10y", "--temperature", "85", "--data", str(mnist), "--test-subset",
            "200", "--bench", "sim"]
    r = CliRunner().invoke(cli, args + ["--bench-layer", "1"])
    assert r.exit_code == 0, r.output
    info = json.loads((run / "evaluation_bench.json").read_text())
    (res,) = info["results"]
    assert res["pairs"] == 160 and res["temperature_C"] == 85 and len(res["rows"]) == 3
    assert "layer 1 on sim (160 pairs" in r.output
    r = CliRunner().invoke(cli, args + ["--bench-layer", "0"])
    assert r.exit_code != 0 and "does not fit" in r.output and "layers that fit: [1]" in r.output
    assert "Traceback" not in r.output
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and "--bench and --bench-layer go together" in r.output
