"""aihwkit-style update models: exact reduction to aihwkit's rules, conductance units, files."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labbench.physics import Chip, DeviceModel, ExpStepModel, PowStepModel, SoftBoundsModel
from labbench.physics.aihwkit_models import split_scales
from labbench.physics.models import RESET, SET

W = np.linspace(-0.7, 1.2, 9)


@pytest.mark.parametrize("up_down", [-0.3, 0.0, 0.26])
def test_softbounds_is_aihwkits_rule_when_zero_is_inside(up_down):
    m = SoftBoundsModel(dw_min=0.002, up_down=up_down, w_min=-0.75, w_max=1.25)
    # rpu_pulsed_device.cpp populate() and rpu_softbounds_reference_device.cpp update_once
    up_bias = up_down if up_down < 0 else 0.0
    down_bias = -up_down if up_down > 0 else 0.0
    scale_up, scale_down = (1 + up_bias) * 0.002, (1 + down_bias) * 0.002
    np.testing.assert_allclose(m.mean_step(W, SET), scale_up * (1 - W / 1.25), rtol=1e-12)
    np.testing.assert_allclose(m.mean_step(W, RESET), -scale_down * (1 - W / -0.75), rtol=1e-12)


def test_up_down_positive_shrinks_the_down_step():
    m = SoftBoundsModel(dw_min=0.01, up_down=0.4, w_min=-1, w_max=1)
    assert m.mean_step(0.0, SET) == pytest.approx(0.01)
    assert -m.mean_step(0.0, RESET) == pytest.approx(0.006)


def test_expstep_matches_aihwkit_preset_formula():
    p = dict(dw_min=0.00135, up_down=0.259359, w_min=-1.0, w_max=1.0, a=-0.5, b=-0.5,
             gamma_up=5.0, gamma_down=5.0, A_up=-1.18445, A_down=-0.081404)
    m = ExpStepModel(**p)
    w = np.linspace(-1, 1, 11)
    z = 2 * p["a"] * w / (p["w_max"] - p["w_min"]) + p["b"]  # rpu_expstep_device.cpp
    up = (1.0) * p["dw_min"] * np.maximum(1 - p["A_up"] * np.exp(p["gamma_up"] * z), 0)
    down = (1 - p["up_down"]) * p["dw_min"] * np.maximum(1 - p["A_down"] * np.exp(-p["gamma_down"] * z), 0)
    np.testing.assert_allclose(m.mean_step(w, SET), up, rtol=1e-12)
    np.testing.assert_allclose(m.mean_step(w, RESET), -down, rtol=1e-12)


def test_powstep_formula_and_gamma_split():
    m = PowStepModel(dw_min=0.01, up_down=0.0, w_min=-1.0, w_max=1.0, pow_gamma=2.0, pow_up_down=0.25)
    w = np.linspace(-1, 1, 7)
    # rpu_powstep_device.cpp: gamma_down = (1 - up_down) * gamma when up_down > 0
    np.testing.assert_allclose(m.mean_step(w, SET), 0.01 * ((1 - w) / 2) ** 2.0)
    np.testing.assert_allclose(m.mean_step(w, RESET), -0.01 * ((w + 1) / 2) ** 1.5)


@pytest.mark.parametrize("cls,extra", [
    (SoftBoundsModel, {}),
    (ExpStepModel, dict(A_up=0.2, A_down=0.3, gamma_up=3.0, gamma_down=2.0)),
    (PowStepModel, dict(pow_gamma=1.7, pow_up_down=-0.2)),
])
def test_conductance_units_are_well_defined(cls, extra):
    m = cls(dw_min=8e-7, up_down=0.1, w_min=2e-6, w_max=4e-5, **extra)
    g = np.linspace(2e-6, 4e-5, 50)
    up, down = m.mean_step(g, SET), m.mean_step(g, RESET)
    assert np.isfinite(up).all() and np.isfinite(down).all()
    assert (up >= 0).all() and (down <= 0).all()
    final = m.advance(np.full(3, 2e-6), np.array([0, 10, 5000]), SET)
    assert final[0] == 2e-6 and 2e-6 < final[1] <= final[2] <= 4e-5


@pytest.mark.parametrize("cls,extra", [
    (SoftBoundsModel, {}),
    (ExpStepModel, dict(A_up=0.2, A_down=0.3, gamma_up=3.0, gamma_down=2.0)),
    (PowStepModel, dict(pow_gamma=1.7, pow_up_down=-0.2)),
])
def test_to_aihwkit_maps_the_same_dynamics(cls, extra):
    """The model in siemens and its aihwkit weight-unit twin move the same way."""
    m = cls(dw_min=8e-7, up_down=0.1, w_min=2e-6, w_max=4e-5, **extra)
    ref = float(m.reference) if m.uses_reference else 0.0
    kw = m.to_aihwkit(scale=1e-5)
    kw.pop("dw_min_std")
    w_model = cls(**kw)
    g = np.linspace(2.5e-6, 3.9e-5, 7)
    for d in (SET, RESET):
        g_next = m.advance(g, np.full(7, 5), d)
        w_next = w_model.advance((g - ref) / 1e-5, np.full(7, 5), d)
        np.testing.assert_allclose((g_next - ref) / 1e-5, w_next, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("bad,msg", [
    (dict(w_min=1.0, w_max=0.5), "w_max"),
    (dict(dw_min=0.0), "dw_min"),
    (dict(up_down=1.0), "up_down"),
    (dict(w_ref=5.0), "w_ref"),
])
def test_invalid_parameters_name_the_parameter(bad, msg):
    kw = dict(dw_min=0.01, w_min=-1.0, w_max=1.0) | bad
    with pytest.raises(ValueError, match=msg):
        SoftBoundsModel(**kw)


def test_powstep_rejects_non_positive_gamma():
    with pytest.raises(ValueError, match="pow_gamma"):
        PowStepModel(dw_min=0.01, w_min=-1, w_max=1, pow_gamma=0.0)


@given(st.floats(1e-4, 1.0), st.floats(-0.95, 0.95))
@settings(max_examples=40, deadline=None)
def test_split_scales_inverts_aihwkits_scales(dw_min, up_down):
    m = SoftBoundsModel(dw_min=dw_min, up_down=up_down, w_min=-1, w_max=1)
    d, u = split_scales(m.scale_up, m.scale_down)
    assert d == pytest.approx(dw_min, rel=1e-9)
    assert u == pytest.approx(up_down, abs=1e-9)


@pytest.mark.parametrize("update,d2d", [
    (dict(kind="softbounds", dw_min=1e-6, up_down=0.2, w_min=2e-6, w_max=4e-5, c2c_rel=0.1), {"dw_min": 0.1}),
    (dict(kind="expstep", dw_min=1e-6, w_min=2e-6, w_max=4e-5, A_up=0.1, A_down=0.2, gamma_up=2.0,
          gamma_down=2.0), {"w_max": 0.05}),
    (dict(kind="powstep", dw_min=1e-6, w_min=2e-6, w_max=4e-5, pow_gamma=1.5), {"pow_gamma": 0.1}),
])
def test_yaml_round_trip_and_chip(tmp_path, update, d2d):
    dm = DeviceModel(name="t", update=update, d2d={"sigma": d2d})
    path = tmp_path / "m.yaml"
    dm.to_yaml(path)
    back = DeviceModel.from_yaml(path)
    assert back.update == dm.update
    chip = Chip(back, 2, 2, seed=3)
    idx = np.arange(chip.size)
    g0 = chip.g.copy()
    chip.pulse(idx, 20, SET)
    assert (chip.g > g0).all() and (chip.g <= chip._gmax + 1e-18).all()
    name = next(iter(d2d))
    assert np.ptp(np.asarray(getattr(chip.devices, name))) > 0  # D2D reached the devices


def test_unknown_d2d_parameter_is_rejected():
    with pytest.raises(ValueError, match="A_up"):
        DeviceModel(name="t", update=dict(kind="expstep", dw_min=1e-6, w_min=2e-6, w_max=4e-5, A_up=0.1,
                                          A_down=0.2, gamma_up=2.0, gamma_down=2.0), d2d={"sigma": {"A_up": 0.1}})
