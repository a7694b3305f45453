"""Validation on the measured data sets shipped in data/devices (runs on every clone)."""
import numpy as np
import pytest




@pytest.fixture(scope="module")
def ag():
    from labbench.fitting import reference_fits

    return reference_fits.ag_asi()


def test_ag_asi_ltd_matches_neurosim_within_the_band(ag):
    r, table = ag
    ltd = r.summary()["directions"]["reset"]
    assert ltd["a_normalized"] == pytest.approx(-0.2, abs=0.1)
    assert ltd["pmax"] == pytest.approx(100.57, abs=0.01)


def test_ag_asi_ltp_is_reported_beside_the_published_value_with_the_reason(ag):
    r, table = ag
    row = table.set_index("direction").loc["set (LTP)"]
    assert row["a_normalized_published"] == 0.5
    assert np.isfinite(row["a_normalized_ours"]) and row["a_normalized_ours"] > 0
    fit = r.device_model.fit
    assert fit["published"]["a_normalized"]["set"] == 0.5
    assert "LTP" in fit["discussion"] and "least-squares" in fit["discussion"]
    # the curve itself is well described, whatever the A
    assert r.summary()["directions"]["set"]["r2"] > 0.9


@pytest.mark.parametrize("kind", ["softbounds", "expstep"])
def test_gong2018_beside_aihwkit_presets(kind):
    from labbench.fitting import reference_fits

    r, table = reference_fits.gong2018(kind)
    assert {"dw_min", "up_down", "w_min", "w_max"} <= set(table["parameter"])
    assert table["aihwkit_preset"].notna().all() and np.isfinite(table["ours"]).all()
    ours = table.set_index("parameter")["ours"]
    # the data rise from about -0.9 to +1.1 over 1000 pulses: a step of order 1e-3 per pulse
    mean_step = r.device_model.update.mean_step(np.array([0.0]), 1)[0]
    assert 3e-4 < mean_step < 1e-2
    assert ours["w_min"] < -0.5 and ours["w_max"] > 0.9
    for d in (1, -1):
        assert r.fits[(kind, d, "pooled")].r2[0] > 0.8
    # step sizes (what the trading-off parameters mean) at w = 0 within a factor of two of aihwkit's
    steps = table.set_index("parameter")
    for name in ("up_step_at_w=+0.00", "down_step_at_w=+0.00"):
        ratio = steps.loc[name, "ours"] / steps.loc[name, "aihwkit_preset"]
        assert 0.5 < ratio < 2.0, (name, ratio)


def test_crosssim_per_cycle_fits_and_c2c_statistics():
    from labbench.fitting import reference_fits

    r, stats = reference_fits.crosssim()
    by = stats.set_index(["direction", "quantity"])
    assert by.loc[("set", "range_S"), "n_cycles"] == 39
    assert by.loc[("reset", "range_S"), "n_cycles"] == 40
    # mean G per the data set's README: ~1.64 mS -> ~2.47 mS, so a ~0.83 mS swing
    assert by.loc[("set", "range_S"), "mean"] == pytest.approx(0.83e-3, rel=0.1)
    assert 0 < by.loc[("set", "range_S"), "cv"] < 0.2
    c2c = r.c2c["set"]
    assert c2c["n_steps"] > 5000 and (c2c["c2c_rel"] > 0 or c2c["c2c_abs"] > 0)
