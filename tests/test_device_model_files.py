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
    # C2C: finite, relative σ in [0, 100], additive σ in [0, 1] of the range
    (BASE.replace("a_reset: -10}", "a_reset: -10, c2c_rel: .nan}"), "update.c2c_rel: must be a finite number"),
    (BASE.replace("a_reset: -10}", "a_reset: -10, c2c_abs: -0.1}"), "update.c2c_abs: must be between 0 and 1"),
    (BASE.replace("a_reset: -10}", "a_reset: -10, c2c_rel: 1.0e6}"), "update.c2c_rel: must be between 0 and 100"),
    (BASE.replace("a_reset: -10}", "a_reset: -10, c2c_abs: 0.1.2}"), "update.c2c_abs: must be a number"),
    # update parameters: present, numbers, finite
    (BASE.replace("g_max: 1.0e-5, ", ""), "update.g_max: missing"),
    (BASE.replace("g_max: 1.0e-5", "g_max: high"), "update.g_max: must be a number"),
    (BASE.replace("g_max: 1.0e-5", "g_max: [1, 2]"), "update.g_max: must be a number, got a list"),
    (BASE.replace("g_max: 1.0e-5", "g_max: true"), "update.g_max: must be a number, got bool"),
    (BASE.replace("a_set: 30", "a_set: .inf"), "update.a_set: must be a finite number"),
    (BASE.replace("pmax_set: 64", "pmax_set: .nan"), "update.pmax_set: must be a finite number"),
    ("name: t\nupdate: {kind: piecewise, g_nodes: [1.0e-6, .nan], step_up: [1.0e-7, 1.0e-7], "
     "step_down: [1.0e-7, 1.0e-7]}\n", "update.g_nodes: must hold finite numbers"),
    ("name: t\nupdate: {kind: piecewise, g_nodes: 1.0e-6, step_up: [1.0e-7], step_down: [1.0e-7]}\n",
     "update.g_nodes: must be a list of numbers"),
    ("name: t\nupdate: {kind: softbounds, dw_min: small, w_min: 0.0, w_max: 1.0}\n", "update.dw_min"),
    # D2D: a lognormal σ in [0, 2], finite, a number; sigma a mapping
    (BASE + "d2d: {sigma: {g_max: -0.1}}\n", "d2d.sigma.g_max: must be between 0 and 2"),
    (BASE + "d2d: {sigma: {g_max: 5}}\n", "d2d.sigma.g_max: must be between 0 and 2"),
    (BASE + "d2d: {sigma: {g_max: .nan}}\n", "d2d.sigma.g_max"),
    (BASE + "d2d: {sigma: {g_max: wide}}\n", "d2d.sigma.g_max"),
    (BASE + "d2d: {sigma: {g_max: yes}}\n", "d2d.sigma.g_max: must be a number"),
    (BASE + "d2d: {sigma: [0.1, 0.2]}\n", "d2d.sigma"),
    (BASE + "d2d: {truncate: .inf}\n", "d2d.truncate"),
    # read noise and the switching times/voltages
    (BASE + "read: {noise_rel: .nan}\n", "read.noise_rel"),
    (BASE + "read: {noise_rel: 3}\n", "read.noise_rel"),
    (BASE + "switching: {min_pulse_width: -1.0e-8}\n", "switching.min_pulse_width"),
    (BASE + "switching: {v_set: .inf}\n", "switching.v_set"),
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


def test_bad_values_are_one_line_each_not_an_array_dump(tmp_path):
    text = BASE.replace("a_reset: -10}", "a_reset: -10, c2c_rel: .nan, c2c_abs: -1}") + "d2d: {sigma: {g_max: 9}}\n"
    with pytest.raises(ValueError) as e:
        DeviceModel.from_yaml(_write(tmp_path, text))
    msg = str(e.value)
    assert "update.c2c_rel" in msg and "update.c2c_abs" in msg
    assert "array(" not in msg and "Traceback" not in msg


def test_numbers_pyyaml_reads_as_text_are_numbers(tmp_path):
    # PyYAML reads 1e-5 (no dot) as a string; it is still a number in a device model
    dm = DeviceModel.from_yaml(_write(tmp_path, BASE.replace("g_max: 1.0e-5", "g_max: 1e-5")))
    assert dm.gmax == 1e-5 and isinstance(dm.update.g_max, float)


def test_a_model_built_in_code_is_checked_too():
    from labbench.physics.models import NeuroSimModel

    upd = NeuroSimModel(g_min=1e-6, g_max=1e-5, pmax_set=64, a_set=30, pmax_reset=64, a_reset=-10, c2c_rel=float("nan"))
    with pytest.raises(ValueError, match="update.c2c_rel"):
        DeviceModel(name="t", update=upd)


def test_device_model_files_carry_a_schema_version_and_older_files_migrate(tmp_path):
    import warnings

    from labbench.paths import DEVICE_MODELS
    from labbench.physics.device_model import SCHEMA_VERSION, DeviceModel, MigrationWarning

    for path in sorted(DEVICE_MODELS.glob("*.yaml")):        # shipped: current, no migration
        with warnings.catch_warnings():
            warnings.simplefilter("error", MigrationWarning)
            assert DeviceModel.from_yaml(path).schema_version == SCHEMA_VERSION, path.name
    old = tmp_path / "old.yaml"                               # a file from before versions
    old.write_text((DEVICE_MODELS / "hfox_2t2r_default.yaml").read_text().replace(
        f"schema_version: {SCHEMA_VERSION}\n", ""))
    with pytest.warns(MigrationWarning, match=r"old\.yaml: .*migrated on loading: schema 1 -> 2: .*"
                                              r"schema 2 -> 3: the access transistor is now solved .*save it again"):
        m = DeviceModel.from_yaml(old)
    assert m.schema_version == SCHEMA_VERSION
    m.to_yaml(tmp_path / "saved.yaml")                        # saved again: the version is recorded
    assert (tmp_path / "saved.yaml").read_text().startswith(f"schema_version: {SCHEMA_VERSION}\n")
    newer = tmp_path / "newer.yaml"
    newer.write_text(old.read_text().replace("name:", f"schema_version: {SCHEMA_VERSION + 1}\nname:", 1))
    with pytest.raises(ValueError, match=rf"schema_version {SCHEMA_VERSION + 1} is newer than this labbench reads "
                                         rf"\({SCHEMA_VERSION}\); upgrade"):
        DeviceModel.from_yaml(newer)
    bad = tmp_path / "bad.yaml"
    bad.write_text(old.read_text().replace("name:", "schema_version: two\nname:", 1))
    with pytest.raises(ValueError, match=r"schema_version: 'two' is not a version"):
        DeviceModel.from_yaml(bad)
