"""Update rules: ΔW (in pulses) → SET pulses on the + or − device."""
import numpy as np
import pytest

from labbench.bnn.update_rules import make_rule, uniform16


def test_stochastic_rounding_is_unbiased_where_rounding_stalls():
    rng = np.random.default_rng(0)
    x = np.full(200_000, 0.3, np.float32)
    det = make_rule("deterministic").signed(x.copy(), rng)
    sto = make_rule("stochastic").signed(x.copy(), rng)
    assert not det.any()                                   # below half a pulse: nothing written
    assert sto.mean() == pytest.approx(0.3, abs=0.005)
    neg = make_rule("stochastic").signed(np.full(100_000, -1.7, np.float32), rng)
    assert set(np.unique(neg)) == {-2, -1} and neg.mean() == pytest.approx(-1.7, abs=0.01)


def test_pulses_go_to_the_side_of_the_sign():
    rng = np.random.default_rng(1)
    x = np.array([[2.2, -0.9], [0.0, -3.0]], np.float32)
    n_plus, n_minus = make_rule("deterministic").pulses(x.copy(), rng)
    np.testing.assert_array_equal(n_plus, [[2, 0], [0, 0]])
    np.testing.assert_array_equal(n_minus, [[0, 1], [0, 3]])
    n_plus, n_minus = make_rule("threshold", threshold=1.0).pulses(x.copy(), rng)
    np.testing.assert_array_equal(n_plus, [[1, 0], [0, 0]])
    np.testing.assert_array_equal(n_minus, [[0, 0], [0, 1]])
    assert (n_plus >= 0).all() and (n_minus >= 0).all()


def test_counts_are_bounded_and_uniforms_uniform():
    rng = np.random.default_rng(2)
    k = make_rule("stochastic").signed(np.array([1e6, -1e6], np.float32), rng)
    assert k.tolist() == [127, -127]
    u = uniform16(rng, (300, 301))
    assert u.shape == (300, 301) and 0 < u.min() and u.max() < 1
    assert u.mean() == pytest.approx(0.5, abs=0.005)


def test_unknown_rule_and_bad_threshold():
    with pytest.raises(ValueError, match="unknown update rule"):
        make_rule("sgd")
    with pytest.raises(ValueError, match="threshold"):
        make_rule("threshold", threshold=0)


def test_accumulate_writes_whole_pulses_of_the_net_change():
    rng = np.random.default_rng(3)
    rule = make_rule("accumulate")
    jitter = np.array([0.4, -0.4, 0.4, -0.4, 0.4], np.float32)      # zero net change
    drift = np.full(5, 0.3, np.float32)
    k_jitter = [rule.signed(np.array([j, 0.3], np.float32), rng) for j in jitter]
    k = np.array(k_jitter)
    assert not k[:, 0].any()                                       # jitter cancels digitally
    assert k[:, 1].sum() == int(drift.sum())                       # 1.5 → one whole pulse so far
    assert rule.residual[1] == pytest.approx(0.5, abs=1e-6)
    state = rule.state_dict()
    other = make_rule("accumulate")
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.residual, rule.residual)
    sto = make_rule("stochastic")
    pulses = sum(np.abs(sto.signed(np.full(1000, j, np.float32), rng)).sum() for j in jitter)
    assert pulses > 1000                                           # rounding turns jitter into pulses


@pytest.mark.parametrize("name", ["accumulate", "stochastic", "threshold", "deterministic", "noise_aware"])
def test_the_compiled_pass_equals_the_numpy_form(name):
    """signed_scaled (one compiled pass: scale, round, clip) gives what signed() gives on the
    scaled array, bit for bit, with the same random draws and the same residual."""
    data = np.random.default_rng(1)
    fused, plain = make_rule(name), make_rule(name)
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    scale = np.float32(1 / 0.0125)
    for _ in range(4):
        dw = (data.standard_normal((60, 40)) * 0.05).astype(np.float32)
        dw[0, :5] = [0.0, -0.0, 1e6, -1e6, 3.0 / scale]        # zeros, clipping, a tie
        k1 = fused.signed_scaled(dw.copy(), scale, r1)
        x = dw.copy()
        x *= scale
        np.testing.assert_array_equal(k1, plain.signed(x, r2))
    if name == "accumulate":
        np.testing.assert_array_equal(fused.residual, plain.residual)


def test_noise_aware_rounding_is_stochastic_rounding_with_a_noise_dead_zone():
    """The pulse probability is the N-update MSE optimum: 0 below (1 + σ²)/(2N) pulses,
    unbiased stochastic rounding in the limit N → ∞, the MSE threshold (1 + σ²)/2 at N = 1;
    the sign of ΔW picks the side; whole pulses are always written."""
    from labbench.bnn.update_rules import NoiseAwareRounding

    rng = np.random.default_rng(0)
    r = NoiseAwareRounding(sigma=2.0, horizon=5)
    dead = (1 + 4.0) / (2 * 5)
    assert r.probability(dead - 0.01) == 0 and r.probability(dead + 0.05) > 0
    for f in (0.6, 0.8, 0.95):   # the formula, and what the compiled pass draws
        want = np.clip((2 * 5 * f - 5.0) / 8, 0, 1)
        assert float(r.probability(f)) == pytest.approx(want, abs=1e-6)
        k = r.signed(np.full(200_000, -(3 + f), np.float32), rng)
        assert set(np.unique(k)) <= {-3, -4}
        assert -k.mean() - 3 == pytest.approx(want, abs=0.005)
    wide = NoiseAwareRounding(sigma=2.0, horizon=1e5)
    x = np.full(200_000, 0.3, np.float32)
    assert wide.signed(x, rng).mean() == pytest.approx(0.3, abs=0.005)   # → stochastic rounding
    one = NoiseAwareRounding(sigma=1.0, horizon=1)
    assert one.signed(np.array([0.99, 1.01 - 0.02, 1.5], np.float32), rng).tolist() == [0, 0, 1]
    for bad in ({"sigma": -1}, {"sigma": float("nan")}, {"horizon": 0.5}, {"horizon": float("inf")}):
        with pytest.raises(ValueError, match="sigma|horizon"):
            NoiseAwareRounding(**bad)


def test_noise_aware_rule_takes_sigma_from_the_device_model():
    """A TrainSpec's noise_aware rule gets σ from the model (c2c_abs · Pmax steps): the default
    model's 3 % of the range at Pmax 64 is 1.92 pulses; a quieter model, a narrower dead zone;
    strict mode allows the rule (no state)."""
    from labbench.bnn.spec import TrainSpec
    from labbench.bnn.update_rules import c2c_sigma_pulses, rule_for
    from labbench.physics import DeviceModel, load_device_model

    dm = load_device_model()
    assert c2c_sigma_pulses(dm) == pytest.approx(np.hypot(dm.update.c2c_abs * dm.update.pmax_set, dm.update.c2c_rel))
    d = dm.to_dict()
    d["update"] = {**d["update"], "c2c_abs": dm.update.c2c_abs / 4}
    quiet = DeviceModel.model_validate(d)
    spec = TrainSpec(precision="strict", optimizer={"name": "adafactor"}, rule={"name": "noise_aware", "horizon": 4},
                     network={"binarize_input": True}, refresh={"policy": "paper"}, sense={"offset": 0.01, "noise": 0.01})
    loud, soft = rule_for(spec.rule, dm), rule_for(spec.rule, quiet)
    assert loud.sigma > soft.sigma and float(loud.offset) > float(soft.offset)
    assert spec.flat()["rule_horizon"] == 4
    with pytest.raises(ValueError, match="rule_horizon"):
        TrainSpec(rule={"name": "noise_aware", "horizon": 0.5})
