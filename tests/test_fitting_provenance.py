"""A fitted device model is a complete replay: every block fitted or inherited and said so
(issue 18, complete fitted models with provenance)."""
import warnings

import pytest

from labbench.fitting import sample
from labbench.fitting.api import fit_device
from labbench.fitting.provenance import MEASURED_BY, inherited_blocks
from labbench.physics.device_model import DeviceModel, load_device_model


@pytest.fixture(scope="module")
def fitted():
    dm = load_device_model()
    df = sample.generate(dm, rows=2, cols=2, cycles=3, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dm, fit_device(df, model="neurosim", base=dm, source="trains.csv")


def test_every_block_a_replay_needs_is_there_and_its_origin_said(fitted):
    base, res = fitted
    m = res.device_model
    for block in ("retention", "read_disturb", "endurance", "energy"):
        assert getattr(m, block) == getattr(base, block), block           # inherited, not dropped
    assert m.variability.hrs_c2c == base.variability.hrs_c2c > 0          # never silently 0
    prov = m.provenance
    assert prov["update"].startswith("fitted from trains.csv")
    assert prov["read.noise_rel"].startswith("fitted from trains.csv")
    for block in ("switching", "variability", "retention", "read_disturb", "endurance", "energy", "faults"):
        assert f"inherited from {base.name}: not measured" in prov[block], block
        assert MEASURED_BY[block] in prov[block]                          # and how to measure it
    assert set(inherited_blocks(m)) >= {"energy", "retention", "switching"}
    assert any(n.startswith("energy: inherited") for n in res.notes)
    assert any("HRS at the start of SET trains" in n for n in res.notes)


def test_the_provenance_survives_the_file(fitted, tmp_path):
    _, res = fitted
    res.device_model.to_yaml(tmp_path / "m.yaml")
    again = DeviceModel.from_yaml(tmp_path / "m.yaml")
    assert again.provenance == res.device_model.provenance


def test_without_a_base_absent_blocks_are_said_absent():
    from labbench.fitting.provenance import complete

    kw, prov = complete(None, {}, "x.csv", {"update": "curves"})
    assert "retention" not in kw and "absent" in prov["retention"] and "labbench measure retention" in prov["retention"]


def test_a_training_report_labels_inherited_energy(fitted, tmp_path):
    """A run trained on a fitted model: its energy figure says the block was not measured."""
    import pandas as pd

    from labbench.report.build import Summary, _inherited, _train_summary

    _, res = fitted
    run = tmp_path / "train-sim-s0"
    run.mkdir()
    res.device_model.to_yaml(run / "device_model.yaml")
    h = pd.DataFrame({"epoch": [1], "test_acc": [0.9], "set_pulses": [10], "refresh_set_pulses": [1],
                      "program_energy_J": [1e-9], "read_energy_J": [1e-12]})
    s = Summary()
    _train_summary(s, {"train-sim-s0": h}, _inherited({"train-sim-s0": run}))
    label = next(r["label"] for r in s.rows if r["key"].endswith("program_energy_J"))
    assert "inherited, not measured" in label


def test_labbench_fit_takes_the_default_chip_as_base(tmp_path):
    """From the command line too: without --device-model the default chip is the base, so
    the written model is complete and its provenance says what was inherited."""
    from click.testing import CliRunner

    from labbench.fitting.cli import fit as fit_cmd

    sample.generate(load_device_model(), rows=2, cols=2, cycles=3, seed=5).to_csv(tmp_path / "t.csv", index=False)
    res = CliRunner().invoke(fit_cmd, [str(tmp_path / "t.csv"), "--model", "neurosim", "-o", str(tmp_path / "m.yaml")])
    assert res.exit_code == 0, res.output
    m = DeviceModel.from_yaml(tmp_path / "m.yaml")
    assert m.energy is not None and m.retention is not None
    assert "inherited from hfox_2t2r_default" in m.provenance["energy"]
