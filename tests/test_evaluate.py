"""labbench evaluate: a trained network over time; the drift seed; the validated range."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labbench.bnn import evaluate as ev
from labbench.physics import Chip, DeviceModel, load_device_model


def cli(*args):
    from labbench.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny network trained online (SimArray) and one in software, on MNIST look-alikes."""
    from tests.test_bnn_trainer import write_blocks_mnist

    tmp = tmp_path_factory.mktemp("evaluate")
    mnist = write_blocks_mnist(tmp / "mnist", 400, 100)
    out = {"mnist": mnist}
    for kind in ("sim", "ideal"):
        folder = tmp / kind
        r = cli("train", "--array", kind, "--hidden", "16", "--data", mnist, "--out", folder, "--quiet", "--no-db",
                "--batch", "20", "--lr", "0.02", "--epochs", "1")
        assert r.exit_code == 0, r.output
        out[kind] = folder
    return out


def test_durations_and_temperatures_parse():
    assert ev.parse_durations("1d, 1h,10y") == [3600.0, 86400.0, 10 * ev.YEAR]
    assert ev.parse_durations("90") == [90.0] and ev.parse_durations("2min,1mo")[1] == pytest.approx(ev.YEAR / 12)
    for bad in ("1 fortnight", "-1h", "0s", "", "1e9y"):
        with pytest.raises(ValueError, match="--after"):
            ev.parse_durations(bad)
    assert ev._celsius_list("25, 85") == [25.0, 85.0]
    with pytest.raises(ValueError, match="above absolute zero"):
        ev._celsius_list("-300")


def test_online_run_drifts_flips_and_refreshes(runs, tmp_path):
    out = tmp_path / "e"
    r = cli("evaluate", runs["sim"], "--after", "1h,10y", "--temperature", "25,125", "--seeds", "2",
            "--data", runs["mnist"], "--out", out, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["kind"] == "sim" and info["temperatures_C"] == [25.0, 125.0]
    # 125 °C is beyond the default model's validated 0-85 °C: a warning stating the range and its source
    assert "125 °C (398.15 K) is beyond the validated range" in r.stderr and "0 to 85 °C" in r.stderr
    assert "set, not measured" in r.stderr and r.stderr.count("warning:") == 1    # 25 °C is inside
    rows = pd.read_csv(out / "evaluation.csv")
    trained = pd.read_csv(runs["sim"] / "metrics.csv")["test_acc"].iloc[-1]
    assert (rows[rows.time == 0].accuracy == trained).all()          # the network as it was trained
    last = rows.groupby(["temperature_C", "time"]).flipped.mean()
    assert last[(125.0, 10 * ev.YEAR)] > last[(25.0, 3600.0)] > 0    # hotter and longer flips more
    assert (rows[rows.time > 0].refreshed_pairs > 0).all()
    # seed 0 is the chip as trained; another seed draws the drift anew
    hot = rows[(rows.temperature_C == 125.0) & (rows.time > 0)]
    assert not np.array_equal(hot[hot.seed == 0].flipped.to_numpy(), hot[hot.seed == 1].flipped.to_numpy())
    assert {"evaluation.csv", "evaluation.json", "evaluation.png"} <= {p.name for p in out.iterdir()}
    cli("evaluate", runs["sim"], "--after", "1h,10y", "--temperature", "25,125", "--seeds", "2",
                "--data", runs["mnist"], "--out", tmp_path / "f", "--json", "--no-refresh")
    rows2 = pd.read_csv(tmp_path / "f" / "evaluation.csv")
    np.testing.assert_array_equal(rows2.flipped, rows.flipped)       # reproducible; refresh leaves the drift alone


def test_software_run_is_programmed_then_drifts(runs, tmp_path):
    r = cli("evaluate", runs["ideal"], "--after", "1d", "--temperature", "85", "--seeds", "1",
            "--data", runs["mnist"], "--out", tmp_path, "--json", "--no-refresh")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["kind"] == "ideal" and info["device_model"] == "hfox_2t2r_default"
    assert all(layer["converged_fraction"] > 0.9 for layer in info["programmed"])
    rows = pd.read_csv(tmp_path / "evaluation.csv")
    trained = pd.read_csv(runs["ideal"] / "metrics.csv")["test_acc"].iloc[-1]
    assert abs(rows.accuracy.iloc[0] - trained) <= 0.02                 # programmed signs are the trained ones
    assert "beyond" not in r.stderr                                   # 85 °C is inside the validated range


def test_drift_seed_redraws_the_drift_and_none_is_the_chip_as_before():
    dm = load_device_model()
    chips = [Chip(dm, 6, 6, seed=3) for _ in range(3)]
    for chip in chips:
        chip.pulse(np.arange(chip.size), 10, 1)
    chips[2].drift_seed = 12345
    chips[1].drift_seed = None
    for chip in chips:
        chip.advance_time(3.15e8, 398.15)
    np.testing.assert_array_equal(chips[0].g, chips[1].g)
    assert not np.allclose(chips[0].g, chips[2].g)


def test_validated_temperature_schema(tmp_path):
    dm = load_device_model()
    assert dm.retention.validated_temperature == (273.15, 358.15)
    assert "retention.validated_temperature" in dm.provenance
    d = dm.to_dict()
    d["retention"]["validated_temperature"] = [400.0, 300.0]
    with pytest.raises(ValueError, match="0 < low < high"):
        DeviceModel(**d)
    assert ev.temperature_warning(dm, 300.0) is None
    assert "beyond the validated range" in ev.temperature_warning(dm, 400.0)
    d["retention"].pop("validated_temperature")
    assert "states no validated temperature range" in ev.temperature_warning(DeviceModel(**d), 300.0)
    # a schema-3 file (before the key existed) loads as it was, silently
    import warnings

    text = (tmp_path / "m.yaml")
    src = dm.to_yaml().replace("schema_version: 4", "schema_version: 3")
    text.write_text("\n".join(line for line in src.splitlines() if "validated_temperature" not in line
                              and not line.startswith("  - 273.15") and not line.startswith("  - 358.15")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = DeviceModel.from_yaml(text)
    assert m.schema_version == 4 and m.retention.validated_temperature is None


def test_a_folder_that_is_not_a_trained_network_says_what_it_is(runs, tmp_path):
    import shutil

    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "results.parquet").write_bytes(b"x")
    with pytest.raises(ev.NotATrainedNetwork, match=r"is a sweep folder \(labbench sweep\)"):
        ev.load_run(tmp_path / "sweep")
    (tmp_path / "lost").mkdir()                     # a checkpoint without the physics it trained on
    shutil.copy(runs["sim"] / "checkpoint.npz", tmp_path / "lost")
    with pytest.raises(ev.NotATrainedNetwork, match=r"trained on devices but no device_model\.yaml"):
        ev.load_run(tmp_path / "lost")
    with pytest.raises(ValueError, match=r"--device-model chooses the devices of a software-trained"):
        ev.load_run(runs["sim"], device_model="hfox_2t2r_default")


def test_training_report_shows_accuracy_against_time(runs, tmp_path):
    import shutil

    from labbench.report.build import build

    run = tmp_path / "run"
    shutil.copytree(runs["sim"], run)
    r = cli("evaluate", run, "--after", "1h", "--seeds", "1", "--no-refresh", "--data", runs["mnist"])
    assert r.exit_code == 0, r.output
    assert (run / "evaluation.csv").exists()                       # by default next to the checkpoint
    captions = [f["caption"] for s in build(str(run))["sections"] for f in s.figures]
    assert any("accuracy against time at rest" in c for c in captions)


def test_a_refresh_before_storage_keeps_more_signs(runs):
    from labbench.bnn.mnist import load_mnist

    m = load_mnist(runs["mnist"])
    flipped = {}
    for first in (False, True):
        e = ev.Evaluation(ev.load_run(runs["sim"]), m.x_test, m.y_test, refresh_first=first)
        rows = e.run_through([86400.0], 298.15, seed=0, refresh=False)
        flipped[first] = rows[-1]["flipped"]
        if first:
            assert e.stored["pairs"] > 0 and 0 <= e.stored["accuracy_before"] <= 1
    assert flipped[True] < flipped[False]
