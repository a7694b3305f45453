"""The README's main command on the shipped sample, and the fit outputs."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labbench.cli import main
from labbench.fitting.sample import SAMPLE_PATH, generate
from labbench.physics import DeviceModel


@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    res = CliRunner().invoke(main, ["fit", str(SAMPLE_PATH), "--model", "neurosim", "--json",
                                    "-o", str(out / "m.yaml"), "--plot", str(out / "fit.png")])
    return res, out


def test_sample_is_small_and_tidy():
    assert SAMPLE_PATH.stat().st_size < 300_000
    df = pd.read_csv(SAMPLE_PATH)
    assert list(df.columns) == ["row", "col", "side", "cycle", "direction", "pulse", "conductance"]
    assert set(df.direction) == {"set", "reset"} and (df.conductance > 0).all()


def test_json_has_the_neurosim_keys(json_run):
    res, _ = json_run
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["model"] == "neurosim"
    for d in ("set", "reset"):
        assert {"gmin", "gmax", "pmax", "a", "a_normalized", "nl", "c2c_sigma"} <= set(out["directions"][d])
    assert out["directions"]["set"]["a"] > 0 > out["directions"]["reset"]["a"]
    assert {"aic", "bic", "rmse", "r2"} <= set(out["metrics"])
    # the default chip's values come back (3 % C2C, NL 2.4 / -4.88)
    assert out["directions"]["set"]["c2c_sigma"] == pytest.approx(0.03, rel=0.2)
    assert out["directions"]["reset"]["nl"] == pytest.approx(-4.88, abs=0.6)


def test_outputs_are_a_valid_model_and_a_png(json_run):
    _, out = json_run
    dm = DeviceModel.from_yaml(out / "m.yaml")
    assert dm.update.kind == "neurosim" and dm.fit["model"] == "neurosim"
    assert (out / "fit.png").read_bytes()[:4] == b"\x89PNG"


def test_auto_ranks_all_models_and_picks_the_lowest_bic():
    from labbench.fitting import fit_device

    df = generate(rows=2, cols=2, cycles=3, seed=7)
    r = fit_device(df)
    assert set(r.ranking["model"]) == {"neurosim", "softbounds", "expstep", "powstep", "piecewise"}
    assert r.kind == r.ranking.iloc[0]["model"]
    assert np.all(np.diff(r.ranking["bic"]) >= 0)
    assert {"model", "direction", "scope", "rmse_S", "r2"} <= set(r.report.columns)


def test_main_command_prints_the_model():
    res = CliRunner().invoke(main, ["fit", str(SAMPLE_PATH), "--model", "softbounds"])
    assert res.exit_code == 0, res.output
    assert "kind: softbounds" in res.output and "model: softbounds" in res.output
