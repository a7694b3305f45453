"""NeuroSim update model: closed form, pulse additivity, bounds, noise, D2D sampling."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labbench.physics import RESET, SET, NeuroSimModel
from labbench.physics.models import UpdateModel, model_class, parse_direction


def model(**kw):
    base = dict(g_min=2e-6, g_max=4e-5, pmax_set=64, a_set=32.0, pmax_reset=64, a_reset=-12.8)
    base.update(kw)
    return NeuroSimModel(**base)


def test_set_curve_is_neurosim_equation():
    m = model()
    p = np.arange(0, 65)
    b = (m.g_max - m.g_min) / (1 - np.exp(-m.pmax_set / m.a_set))
    expected = b * (1 - np.exp(-p / m.a_set)) + m.g_min
    np.testing.assert_allclose(m.curve(p, SET), expected, rtol=1e-9)
    assert m.curve([64], SET)[0] == pytest.approx(m.g_max)


def test_reset_curve_falls_from_gmax_steep_first():
    m = model()
    g = m.curve(np.arange(0, 65), RESET)
    assert g[0] == pytest.approx(m.g_max) and g[-1] == pytest.approx(m.g_min)
    steps = -np.diff(g)
    assert np.all(steps > 0) and steps[0] > 5 * steps[-1]  # nonlinear: big first steps


@settings(max_examples=40, deadline=None)
@given(n1=st.integers(0, 40), n2=st.integers(0, 40), a=st.floats(2.0, 500.0))
def test_pulses_add_in_position_space(n1, n2, a):
    m = model(a_set=a)
    g0 = np.array([m.g_min])
    once = m.advance(g0, np.array([n1 + n2]), SET)
    twice = m.advance(m.advance(g0, np.array([n1]), SET), np.array([n2]), SET)
    np.testing.assert_allclose(once, twice, rtol=1e-6, atol=1e-12)


def test_mixed_directions_and_float32():
    m = model()
    g = np.full(4, 2.1e-5, np.float32)
    d = np.array([SET, RESET, SET, RESET])
    out = m.step(g, np.array([3, 3, 0, 0]), d)
    assert out.dtype == np.float32
    assert out[0] > g[0] and out[1] < g[1] and out[2] == g[2] and out[3] == g[3]


def test_noise_scales_with_sqrt_n_and_is_clipped():
    m = model(c2c_abs=0.03)
    rng = np.random.default_rng(0)
    g = np.full(20000, 2.1e-5)
    d1 = m.step(g, 1, SET, rng) - m.advance(g, np.ones_like(g, int), SET)
    d9 = m.step(g, 9, SET, rng) - m.advance(g, np.full(g.shape, 9), SET)
    span = m.g_max - m.g_min
    assert np.std(d1) / span == pytest.approx(0.03, rel=0.05)
    # a burst is 9 pulses, each with its own noise: √9 less the contraction of the
    # NeuroSim map between pulses (each earlier error shrinks by e^(−1/A) per pulse)
    shrink = np.exp(-1.0 / m.a_set)
    assert np.std(d9) / np.std(d1) == pytest.approx(np.sqrt(np.sum(shrink ** (2 * np.arange(9)))), rel=0.05)
    near_top = m.step(np.full(1000, m.g_max), 1, SET, rng)
    assert near_top.max() <= m.g_max


def test_zero_pulses_never_move():
    m = model(c2c_abs=0.05)
    g = np.linspace(m.g_min, m.g_max, 11)
    np.testing.assert_array_equal(m.step(g, 0, SET, np.random.default_rng(1)), g)


def test_d2d_sampling_is_lognormal_and_truncated():
    m = model()
    dev = m.sample_devices((50000,), {"g_max": 0.1}, np.random.default_rng(2), truncate=3.0)
    ratio = np.log(dev.g_max / m.g_max)
    assert np.std(ratio) == pytest.approx(0.1, rel=0.05)
    assert np.abs(ratio).max() <= 0.3 + 1e-12
    # per-device parameters broadcast through step
    g = np.full(50000, m.g_min)
    out = dev.step(g, 64, SET)
    np.testing.assert_allclose(out, dev.g_max, rtol=1e-6)


def test_d2d_on_unknown_parameter_is_refused():
    with pytest.raises(ValueError, match="pmax_set"):
        model().sample_devices((3,), {"pmax_set": 0.1}, np.random.default_rng(0))


@pytest.mark.parametrize("bad,match", [
    (dict(g_max=1e-6), "g_max"),
    (dict(a_set=-3.0), "a_set"),
    (dict(a_reset=3.0), "a_reset"),
    (dict(pmax_set=0), "pmax"),
])
def test_invalid_parameters_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        model(**bad)


def test_serialisation_round_trip_and_registry():
    m = model(c2c_abs=0.02)
    again = UpdateModel.from_dict(m.to_dict())
    assert again == m and model_class("neurosim") is NeuroSimModel
    with pytest.raises(ValueError, match="unknown parameter"):
        UpdateModel.from_dict({**m.to_dict(), "a_sett": 3})
    with pytest.raises(ValueError, match="unknown update model kind"):
        model_class("nope")
    assert dataclasses.is_dataclass(m)


def test_from_nonlinearity_labels():
    m = NeuroSimModel.from_nonlinearity(1e-6, 1e-5, 2.4, -4.88, 97, 100)
    assert m.a_set_normalized == pytest.approx(0.4992, rel=1e-3)
    assert m.a_reset_normalized == pytest.approx(-0.2003, rel=1e-3)


def test_direction_parsing():
    assert parse_direction("set") == SET and parse_direction("LTD") == RESET
    with pytest.raises(ValueError):
        parse_direction("sideways")
    with pytest.raises(ValueError):
        parse_direction(np.array([1, 0]))


def test_a_subset_of_devices_gets_the_constants_the_whole_chip_would_give_it():
    """A model restricted to some devices (Chip.devices.index: a refresh's read disturb)
    computes A and B for its own devices when the parent has not: the parent's numbers,
    slice for slice, without computing the parent's (10⁶ expm1 for a few thousand)."""
    rng = np.random.default_rng(3)
    n = 5000
    whole = model(g_min=2e-6 * rng.lognormal(0, 0.15, n), g_max=4e-5 * rng.lognormal(0, 0.1, n),
                  a_set=32.0 * rng.lognormal(0, 0.1, n))
    idx = np.sort(rng.choice(n, 777, replace=False))
    for up in (True, False):
        for dt in (np.float32, np.float64):
            sub = whole.index(idx)
            a, b = sub._constants(up, dt)
            assert (up, np.dtype(dt).str) not in whole.__dict__.get("_consts", {})   # the parent's not made
            ref_a, ref_b = whole._constants(up, dt)
            np.testing.assert_array_equal(b, ref_b[idx])
            np.testing.assert_array_equal(a, ref_a[idx] if np.ndim(ref_a) else ref_a)
            # with the parent's now cached, a subset slices it: the same numbers again
            np.testing.assert_array_equal(whole.index(idx)._constants(up, dt)[1], b)
