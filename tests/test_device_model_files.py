"""Device-model YAML files: every shipped file validates; bad files give errors naming the key."""
from pathlib import Path

import pytest

from labbench.paths import DEVICE_MODELS
from labbench.physics import DeviceModel, load_device_model


@pytest.mark.parametrize("path", sorted(DEVICE_MODELS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_model_validates_and_round_trips(path, tmp_path):
    dm = DeviceModel.from_yaml(path)
    assert dm.gmax > dm.gmin   # (aihwkit weight-unit models may have gmin < 0)
    out = tmp_path / "again.yaml"
    dm.to_yaml(out)
    assert DeviceModel.from_yaml(out) == dm


def test_load_by_bare_name():
    assert load_device_model("hfox_2t2r_default").name == "hfox_2t2r_default"


def _write(tmp_path, text) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text(text)
    return p


BASE = """
name: t
update: {kind: neurosim, g_min: 1.0e-6, g_max: 1.0e-5, pmax_set: 64, a_set: 30, pmax_reset: 64, a_reset: -10}
"""


@pytest.mark.parametrize("text,names", [
    (BASE + "read: {noise_rell: 0.1}\n", "read.noise_rell"),
    (BASE + "d2d: {sigma: {pmax_set: 0.1}}\n", "pmax_set"),
    (BASE.replace("g_max: 1.0e-5", "g_max: 1.0e-7"), "g_max"),
    (BASE.replace("neurosim", "neurosimm"), "neurosimm"),
    (BASE + "faults: {stuck_at_gmin: 1.5}\n", "faults.stuck_at_gmin"),
    ("name: [unclosed\n", "not valid YAML"),
    ("- a list\n", "mapping"),
])
def test_bad_files_name_the_problem(tmp_path, text, names):
    with pytest.raises(ValueError) as e:
        DeviceModel.from_yaml(_write(tmp_path, text))
    assert names in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        DeviceModel.from_yaml(tmp_path / "nope.yaml")


def test_a_chip_refuses_a_weight_unit_model():
    from labbench.physics import Chip

    dm = DeviceModel.model_validate({"name": "w", "update": {
        "kind": "neurosim", "g_min": 1e-6, "g_max": 1e-5, "pmax_set": 64, "a_set": 30,
        "pmax_reset": 64, "a_reset": -10}})
    Chip(dm, 2, 2)   # conductance units: fine
    weights = [p for p in sorted(DEVICE_MODELS.glob("*.yaml")) if DeviceModel.from_yaml(p).gmin < 0]
    for p in weights:
        with pytest.raises(ValueError, match="conductance"):
            Chip(DeviceModel.from_yaml(p), 2, 2)
