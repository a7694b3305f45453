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


def test_resolution_widens_the_criteria_to_what_a_small_sample_can_see_and_no_further():
    rng = np.random.default_rng(1)
    # two chips of the same population, 12 devices each, 20 % spread: their medians differ by
    # several % by chance, which the fixed 5 % criterion calls a misfit
    chips = [{"x": rng.normal(10, 2, 12)} for _ in range(200)]
    same = [closure.compare(chips[i], chips[i + 1]).iloc[0] for i in range(0, 200, 2)]
    assert np.mean([r.ok for r in same]) >= 0.95                     # its false alarms: <= alpha-ish
    assert np.mean([r.ok_strict for r in same]) < 0.6                 # the fixed criteria fail the truth
    # a replay 40 % off is still refused
    far = closure.compare({"x": rng.normal(10, 2, 12)}, {"x": rng.normal(14, 2, 12)}).iloc[0]
    assert not far.ok and far.median_tol < 0.4
    # a large sample is held to 5 % / 0.8-1.25
    big = closure.compare({"x": rng.normal(10, 1, 2000)}, {"x": rng.normal(10.8, 1, 2000)}).iloc[0]
    assert big.median_tol == 0.05 and big.sd_band == 1.25 and not big.ok


def test_campaign_observables_are_one_per_device():
    rows = [{"cell": c, "side": 0, "condition": 0, "cycle": k, "direction": d, "pulse": p, "conductance": g + k}
            for c in range(3) for k in range(3) for d, gs in (("set", [1, 2, 3, 4]), ("reset", [4, 3, 2]))
            for p, g in enumerate(gs)]
    ends = pd.DataFrame([{"cell": c, "side": 1, "cycle": k, "g_lrs": 10.0 + k, "g_hrs": 1.0} for c in range(2)
                         for k in range(4)])
    obs = closure.campaign_observables({"pulse-train": [pd.DataFrame(rows)], "endurance": [ends]})
    assert obs["hrs"].tolist() == [2.0, 2.0, 2.0]                      # the mean of 1, 2, 3 over cycles
    assert obs["endurance_lrs"].tolist() == [11.5, 11.5]
    assert "retention_kept" not in obs                                 # not measured: not compared
