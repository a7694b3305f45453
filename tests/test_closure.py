"""The closure test, small (issue 18): measured, fitted and replayed pulse trains agree on the
update curve's observables; the full size runs in bench/closure.py."""
import numpy as np
import pandas as pd
import pytest

from labbench import closure


@pytest.fixture(scope="module")
def result():
    return closure.run("sim", cells="0:8, 0:2", cycles=2, pulses=64)


def test_the_table_states_its_test_and_every_observable(result):
    t = result.table
    assert list(t["observable"]) == list(closure.OBSERVABLES) and (t["n"] == 64).all()
    text = result.text()
    assert "two-sample KS" in text and "Bonferroni" in text and "0.8-1.25" in text


def test_the_replay_follows_the_chip_on_the_update_curve(result):
    """The fitted update curve, de-embedded from reads through the transistor, replays the
    chip's SET curve (first step, mid-train level, saturated level) within the criteria."""
    t = result.table.set_index("observable")
    for k in ("first_set_step", "mid_set", "saturated"):
        assert t.loc[k, "ok"], t.loc[k].to_dict()
    u = result.fitted_model.update
    assert u.g_max == pytest.approx(40e-6, rel=0.05) and u.g_min == pytest.approx(2e-6, rel=0.05)
    # the read noise of what the instrument saw (1 %), not its de-embedded amplification
    assert result.fitted_model.read.noise_rel == pytest.approx(0.01, rel=0.3)


def test_compare_flags_a_shifted_or_wider_replay():
    rng = np.random.default_rng(0)
    a = {k: rng.normal(10, 1, 200) for k in closure.OBSERVABLES}
    same = {k: rng.normal(10, 1, 200) for k in closure.OBSERVABLES}
    shifted = {**same, "saturated": rng.normal(11, 1, 200), "hrs": rng.normal(10, 2, 200)}
    assert closure.compare(a, same)["ok"].all()
    bad = closure.compare(a, shifted).set_index("observable")["ok"]
    assert not bad["saturated"] and not bad["hrs"] and bad["mid_set"]


def test_observables_come_one_per_device_and_cycle():
    rows = [{"cell": "0:0", "side": 0, "cycle": c, "direction": d, "pulse": p, "conductance": g}
            for c in range(2) for d, gs in (("set", [1, 2, 3, 4]), ("reset", [4, 3, 2])) for p, g in enumerate(gs)]
    obs = closure.observables(pd.DataFrame(rows))
    assert obs["hrs"].tolist() == [1, 1] and obs["first_set_step"].tolist() == [1, 1]
    assert obs["saturated"].tolist() == [4, 4] and obs["end_reset"].tolist() == [2, 2]
