"""Piecewise model: interpolated steps, bounds, validation, files, device-to-device gain."""
import numpy as np
import pytest

from labbench.physics import Chip, DeviceModel, PiecewiseModel
from labbench.physics.models import RESET, SET

NODES = [1e-6, 2e-6, 3e-6]


def model(**kw):
    return PiecewiseModel(g_nodes=NODES, step_up=[2e-7, 1e-7, 0.0], step_down=[0.0, 1e-7, 3e-7], **kw)


def test_steps_interpolate_linearly_between_nodes():
    m = model()
    assert m.mean_step(1.5e-6, SET) == pytest.approx(1.5e-7)
    assert m.mean_step(2.5e-6, RESET) == pytest.approx(-2e-7)
    assert m.mean_step(3e-6, SET) == 0.0


def test_trains_stay_within_the_nodes_and_saturate():
    m = model()
    g = m.advance(np.array([1e-6]), np.array([500]), SET)
    assert 2.9e-6 < g[0] <= 3e-6
    g = m.advance(np.array([3e-6]), np.array([500]), RESET)
    assert 1e-6 <= g[0] < 1.1e-6


@pytest.mark.parametrize("kw,msg", [
    (dict(g_nodes=[1e-6], step_up=[1e-7], step_down=[1e-7]), "at least 2"),
    (dict(g_nodes=[2e-6, 1e-6], step_up=[1e-7, 1e-7], step_down=[1e-7, 1e-7]), "increasing"),
    (dict(g_nodes=NODES, step_up=[1e-7], step_down=[1e-7, 1e-7, 1e-7]), "one value per node"),
    (dict(g_nodes=NODES, step_up=[-1e-7, 0, 0], step_down=[0, 0, 0]), "magnitudes"),
])
def test_invalid_tables_are_rejected(kw, msg):
    with pytest.raises(ValueError, match=msg):
        PiecewiseModel(**kw)


def test_yaml_round_trip_and_step_scale_spread(tmp_path):
    dm = DeviceModel(name="pw", update=model(c2c_rel=0.05).to_dict(), d2d={"sigma": {"step_scale": 0.2}})
    dm.to_yaml(tmp_path / "pw.yaml")
    back = DeviceModel.from_yaml(tmp_path / "pw.yaml")
    assert back.update == dm.update
    chip = Chip(back, 4, 4, seed=1)
    scales = np.asarray(chip.devices.step_scale)
    assert scales.shape == (32,) and scales.std() > 0.05
    idx = np.arange(chip.size)
    chip.pulse(idx, 3, SET)
    assert (chip.g > 1e-6).all() and (chip.g <= 3e-6).all()
