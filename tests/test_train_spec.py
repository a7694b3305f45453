"""TrainSpec and TrainRun: one description of a training run, checked whole before any
work, and the same numbers as the code path it replaced."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from labbench.bnn.data import synthetic
from labbench.bnn.run import TrainRun
from labbench.bnn.spec import FLAT_KEYS, SECTIONS, TrainSpec, TrainSpecError, flatten, preset_spec

PIN = json.loads((Path(__file__).parent / "data" / "train_pin.json").read_text())
SKIP = {"seconds", "samples_per_s"}


def digest(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(a, np.float64)).tobytes()).hexdigest()


# -- behaviour pinned against the pre-TrainSpec code path --------------------------------------
@pytest.mark.parametrize("name", sorted(PIN))
def test_trainrun_reproduces_the_old_trainconfig_trainer_path_bit_for_bit(name):
    """tests/data/train_pin.json holds runs of ``TrainConfig(**flat) -> Trainer -> fit`` at
    commit 848162b, before TrainSpec (tests/data/make_train_pin.py); the same flat settings
    through TrainSpec and TrainRun give the same history and the same conductances."""
    pin = PIN[name]
    spec = TrainSpec(**pin["flat"], data={"kind": "synthetic"})
    flat = spec.flat()
    assert {k: flat[k] for k in pin["flat"]} == pin["flat"]     # the flat keys round-trip exactly
    newer = {k: v for k, v in flat.items() if k not in pin["flat"]}
    assert newer == {k: v for k, v in TrainSpec().flat().items() if k in newer}   # settings added since: defaults
    run = TrainRun(spec, progress=False)
    hist = run.run(synthetic(16, 4, 200, 60, 1.0))
    got = json.loads(json.dumps([{k: v for k, v in h.items() if k not in SKIP} for h in hist], default=float))
    # counts, accuracies and signs exactly; the device path's floats (energies, mean
    # conductance) to 1e-6: they differ in the last bits between CPUs (on an AVX2 machine,
    # up to 1.1e-7 relative against these pins; the ideal path matches them exactly).  Bit
    # for bit in one process: test_trainrun_is_the_old_trainer_construction
    assert [set(h) for h in got] == [set(h) for h in pin["history"]]
    for mine, old in zip(got, pin["history"]):
        for k, v in old.items():
            if isinstance(v, float) and not isinstance(mine[k], (int, bool)) and k not in ("test_acc", "train_acc"):
                assert mine[k] == pytest.approx(v, rel=1e-6, abs=1e-300), k
            else:
                assert mine[k] == v, k
    assert [digest(s.signs()) for s in run.trainer.synapses] == pin["signs"]
    if spec.mode == "ideal":                 # no device path: the same conductances bit for bit
        assert [digest(a.conductances()) for a in run.trainer.arrays] == pin["conductances"]


def test_trainrun_is_the_old_trainer_construction():
    """TrainRun builds the Trainer the old CLI built by hand (same spec, model, data):
    the two give the same numbers in one process, on a spec away from every default."""
    from labbench.bnn.trainer import Trainer

    spec = TrainSpec(**PIN["every_field"]["flat"], data={"kind": "synthetic"})
    data = synthetic(16, 4, 200, 60, 1.0)
    by_hand = Trainer(spec, spec.load_device_model(), progress=False, plots=False)
    a = by_hand.fit(*data)
    run = TrainRun(spec, progress=False)
    b = run.run(data)
    assert [{k: v for k, v in h.items() if k not in SKIP} for h in a] == \
           [{k: v for k, v in h.items() if k not in SKIP} for h in b]
    for x, y in zip(by_hand.arrays, run.trainer.arrays):
        np.testing.assert_array_equal(x.conductances(), y.conductances())


# -- the spec ---------------------------------------------------------------------------------
def test_every_leaf_of_the_training_sections_has_a_flat_name():
    """FLAT_KEYS is the map from the old flat names: every setting of the sections that
    decide the result has one (a new field must be added there: then it is sweepable)."""
    named = {v for v in FLAT_KEYS.values()}
    for section in ("network", "optimizer", "rule", "refresh", "sense"):
        for field in type(getattr(TrainSpec(), section)).model_fields:
            assert (section, field) in named, f"{section}.{field} has no flat name in FLAT_KEYS"
    assert len(FLAT_KEYS) == 28            # the old TrainConfig's 26 fields, each kept, refresh_program, rule_horizon


def test_flat_and_nested_forms_are_one_spec():
    flat = TrainSpec(refresh="periodic", refresh_every=7, refresh_cap=None, lr=0.01, optimizer="sgd",
                     sense_noise=0.02, mode="ideal", sizes=[20, 8, 4], train_subset=100)
    nested = TrainSpec(refresh={"policy": "periodic", "every": 7, "cap": None},
                       optimizer={"name": "sgd", "lr": 0.01}, sense={"noise": 0.02}, array={"kind": "ideal"},
                       network={"sizes": (20, 8, 4)}, data={"subset": 100})
    assert flat == nested and flat.flat() == nested.flat()
    assert flat.refresh.every == 7 and flat.mode == "ideal" and flat.sizes == (20, 8, 4)
    assert TrainSpec(**flat.flat()) == flat                       # flat() round-trips
    assert flatten(nested.model_dump(include=set(SECTIONS) - {"data", "output", "array"})) == {
        k: v for k, v in flat.flat().items()
        if FLAT_KEYS[k][0] in {"network", "optimizer", "rule", "refresh", "sense"}} | {"sizes": (20, 8, 4)}


def test_replace_changes_one_setting_and_keeps_the_section():
    s = TrainSpec(refresh="threshold", refresh_level=0.8, refresh_cap=0.3)
    t = s.replace(refresh="periodic", epochs=3)
    assert (t.refresh.policy, t.refresh.level, t.refresh.cap, t.epochs) == ("periodic", 0.8, 0.3, 3)
    assert s.refresh.policy == "threshold"            # a spec is a value: never edited in place
    with pytest.raises(Exception):
        s.epochs = 5


@pytest.mark.parametrize("settings, message", [
    ({"optimizer": "lion"}, r"unknown optimizer 'lion'; choose one of \['adafactor', 'adam', 'sgd', 'sign'\]"),
    ({"rule": "nosuch"}, r"unknown update rule 'nosuch'"),
    ({"refresh": "sometimes"}, r"unknown refresh policy 'sometimes'"),
    ({"precision": "relaxed"}, r"unknown precision mode 'relaxed'"),
    ({"lr": float("nan")}, r"^lr must be a finite number in \(0, 1\], got nan$"),
    ({"refresh_level": 2}, r"^refresh_level must be a finite number in \(0, 1\]"),
    ({"epochs": 0}, r"^epochs: Input should be greater than or equal to 1"),
    ({"refresh_check_every": 0}, r"^refresh_check_every: Input should be greater than or equal to 1"),
    ({"sizes": [784]}, r"sizes must be >= 2 positive layer widths"),
    ({"seed": -1}, r"^seed: "),
    ({"learning_rate": 0.1}, r"learning_rate: unknown field"),
    ({"refresh": {"levle": 0.5}}, r"refresh\.levle: unknown field"),
    ({"lr": 0.1, "optimizer": {"lr": 0.2}}, r"lr is given twice, flat and as optimizer\.lr"),
    ({"mode": "ideal", "array": {"kind": "bench", "bench": "sim"}}, r"mode 'ideal' and array kind 'bench' contradict"),
    ({"array": {"kind": "bench"}}, r"--array bench needs --bench"),
    ({"array": {"kind": "ideal"}, "idle_between_epochs": 10}, r"--idle-between-epochs needs --array sim"),
    ({"data": {"kind": "mnist", "train": 100}}, r"data: unknown key 'train' for kind mnist"),
    ({"precision": "strict", "optimizer": "adam", "rule": "threshold", "refresh": "paper", "binarize_input": True,
      "sense_offset": 0.01, "sense_noise": 0.01}, r"--mode strict .*--optimizer adam keeps per-synapse state"),
])
def test_a_bad_setting_is_refused_naming_it(settings, message):
    with pytest.raises(TrainSpecError, match=message) as e:
        TrainSpec(**settings)
    assert "validation error" not in str(e.value) and "pydantic" not in str(e.value)


def test_the_error_names_its_flat_key_for_the_cli_to_map_to_an_option():
    with pytest.raises(TrainSpecError) as e:
        TrainSpec(refresh={"level": 3.0})
    assert e.value.field == "refresh_level"


def test_presets_are_the_precision_tables_exactly():
    from labbench.bnn.precision import PRESETS

    for name, preset in PRESETS.items():
        spec = preset_spec(name, sizes=(784, 100, 10))
        assert {k: spec.flat()[k] for k in preset} == preset
        rest = {k: v for k, v in spec.flat().items() if k not in preset and k != "sizes"}
        assert rest == {k: v for k, v in TrainSpec().flat().items() if k in rest}   # the rest: defaults


# -- check(): what needs files, no array built --------------------------------------------------
def test_check_builds_no_array_and_no_chip(monkeypatch):
    """The old checks built a throw-away Trainer, SimArray and Chip; check() builds none."""
    import labbench.array.sim_array as SA
    import labbench.physics.chip as C

    def refuse(*a, **k):
        raise AssertionError("check() built an array")

    monkeypatch.setattr(C.Chip, "__init__", refuse)
    monkeypatch.setattr(SA.SimArray, "__init__", refuse)
    dm = TrainSpec(sizes=(784, 100, 10), refresh="threshold").check()
    assert dm.name == "hfox_2t2r_default"


@pytest.mark.parametrize("settings, field, message", [
    ({"sizes": (784, 100_000_000, 10)}, "sizes", r"device pairs.*more than the .* allowed"),
    ({"sizes": (16, 4, 4)}, "sizes", r"MNIST needs 784 inputs and 10 outputs"),
    ({"device_model": "hfox_nosuch"}, "device_model", r"hfox_nosuch.*hfox_2t2r_default"),
    ({"device_model": "gong2018_hfo2_softbounds"}, "device_model", r"negative lower bound"),
    ({"refresh": "threshold", "refresh_level": 1.0}, "refresh", r"refresh level is a fraction of the range in \(0, 1\)"),
    ({"array": {"kind": "bench", "bench": "sim"}, "sizes": (784, 100, 10)}, "sizes",
     r"no layer of 784-100-10 fits the bench chip"),
])
def test_check_refuses_what_only_files_or_factories_know(settings, field, message):
    with pytest.raises(TrainSpecError, match=message) as e:
        TrainSpec(**settings).check()
    assert e.value.field == field


def test_memory_estimate_grows_with_the_pairs_and_is_smaller_ideal():
    pairs, need = TrainSpec(sizes=(784, 500, 10)).memory()
    assert pairs == 784 * 500 + 500 * 10
    _, ideal = TrainSpec(sizes=(784, 500, 10), mode="ideal").memory()
    assert 0 < ideal < need and need / pairs > 50


# -- files --------------------------------------------------------------------------------------
def test_a_spec_round_trips_through_yaml(tmp_path):
    spec = TrainSpec(sizes=(16, 8, 4), epochs=2, refresh={"policy": "periodic", "every": 9},
                     data={"kind": "synthetic", "train": 120, "test": 40})
    spec.to_yaml(tmp_path / "s.yaml")
    assert TrainSpec.from_yaml(tmp_path / "s.yaml") == spec


def test_a_spec_file_resolves_its_device_model_next_to_it(tmp_path):
    from labbench.paths import DEVICE_MODELS

    (tmp_path / "m.yaml").write_text((DEVICE_MODELS / "hfox_2t2r_default.yaml").read_text())
    (tmp_path / "s.yaml").write_text("device_model: m.yaml\nnetwork: {sizes: [784, 8, 10]}\n")
    assert TrainSpec.from_yaml(tmp_path / "s.yaml").check().name == "hfox_2t2r_default"


def test_a_bad_spec_file_names_the_key(tmp_path):
    (tmp_path / "s.yaml").write_text("refresh: {policy: threshold, levle: 0.5}\n")
    with pytest.raises(TrainSpecError, match=r"(?s)s\.yaml: invalid training spec.*refresh\.levle: unknown field"):
        TrainSpec.from_yaml(tmp_path / "s.yaml")


# -- TrainRun: prepare leaves nothing behind, run records ------------------------------------------
def test_a_run_records_its_spec_and_resumes_only_the_same_one(tmp_path):
    from labbench.bnn.trainer import CheckpointError

    data = synthetic(16, 4, 200, 60, 1.0)
    spec = TrainSpec(sizes=(16, 8, 4), epochs=1, batch=20, data={"kind": "synthetic"},
                     output={"dir": str(tmp_path / "run"), "plots": False})
    TrainRun(spec, progress=False).run(data)
    assert TrainSpec.from_yaml(tmp_path / "run" / "spec.yaml") == spec
    again = TrainRun(spec.replace(epochs=2), progress=False)
    again.run(data)
    assert again.resumed_from_epoch == 1 and len(again.trainer.history) == 2
    with pytest.raises(CheckpointError, match=r"--refresh-level 0.5 here vs 0.9"):
        TrainRun(spec.replace(refresh_level=0.5), progress=False).prepare(data)


def test_a_run_refused_in_prepare_leaves_no_folder_and_no_lock(tmp_path):
    data = synthetic(16, 4, 50, 20, 1.0)
    spec = TrainSpec(sizes=(16, 8, 4), epochs=1, batch=100, data={"kind": "synthetic"},
                     output={"dir": str(tmp_path / "a" / "run")})
    with pytest.raises(TrainSpecError, match=r"batch 100 is larger than the training set \(50 samples\)") as e:
        TrainRun(spec, progress=False).prepare(data)
    assert e.value.field == "batch" and not (tmp_path / "a").exists()
    TrainRun(spec.replace(batch=10), progress=False).run(data)       # the folder is free again


# -- labbench train --spec -------------------------------------------------------------------
def test_train_cli_runs_a_spec_file_and_its_run_folder_spec_reproduces_it(tmp_path):
    """`labbench train --spec FILE` runs the file's spec; the run folder's spec.yaml is that
    spec (with its folder), so `--spec RUN/spec.yaml` resumes the same run; an option typed
    beside it changes that setting (and a changed setting is a different configuration)."""
    from click.testing import CliRunner

    from labbench.cli import main

    (tmp_path / "s.yaml").write_text(
        "network: {sizes: [784, 8, 10]}\nepochs: 1\nbatch: 50\nrefresh: {policy: periodic, every: 3}\n"
        "data: {kind: synthetic, train: 200, test: 50}\n")
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--spec", str(tmp_path / "s.yaml"), "--out", str(out), "--no-db",
                                  "--quiet", "--json"])
    assert r.exit_code == 0, r.output
    final = json.loads(r.stdout[r.stdout.index("{"):])
    assert final["config"]["refresh"] == "periodic" and final["config"]["refresh_every"] == 3
    recorded = TrainSpec.from_yaml(out / "spec.yaml")
    assert recorded.refresh.every == 3 and recorded.output.dir == str(out)
    r = CliRunner().invoke(main, ["train", "--spec", str(out / "spec.yaml"), "--epochs", "2", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "after 2 epochs" in r.output
    r = CliRunner().invoke(main, ["train", "--spec", str(out / "spec.yaml"), "--refresh-every", "5", "--quiet"])
    assert r.exit_code == 2 and "--refresh-every 5 here vs 3" in r.output
    r = CliRunner().invoke(main, ["train", "--spec", str(out / "spec.yaml"), "--mode", "strict"])
    assert r.exit_code == 2 and "--mode and --spec" in r.output


def test_the_docs_examples_are_a_valid_spec_and_sweep_file():
    """docs/training.md's spec file and sweep file, as printed, load and check."""
    import re

    import yaml

    from labbench.sweep import build_sweep

    text = (Path(__file__).parents[1] / "docs" / "training.md").read_text()
    spec_yaml, sweep_yaml = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)[:2]
    spec = TrainSpec(**yaml.safe_load(spec_yaml))
    assert spec.flat() == TrainSpec(output=spec.output).flat()      # "the defaults"
    assert spec.check().name == "hfox_2t2r_default"
    sw = build_sweep(yaml.safe_load(sweep_yaml))
    assert len(sw.points) == 3 * 2 * 2
    assert {p.spec().refresh.check_every for p in sw.points} == {20}
    assert sorted({p.spec().refresh.level for p in sw.points}) == [0.7, 0.8, 0.9]


def test_an_inline_device_model_that_does_not_validate_is_named_by_its_key():
    from labbench.physics import load_device_model

    d = load_device_model().to_dict()
    d["update"]["c2c_abs"] = 5
    with pytest.raises(TrainSpecError, match=r"^device_model: update\.c2c_abs: must be between 0 and 1"):
        TrainSpec(device_model=d)
    assert TrainSpec(lr=0.01, optimizer={"lr": 0.01}).optimizer.lr == 0.01     # the same value twice is one


def test_a_bench_run_puts_a_layer_on_the_bench_and_closes_it():
    """array.kind bench: the first layer that fits the (simulated) bench chip goes through the
    instruments, the rest on SimArrays; the bench is closed (outputs off) when the run ends."""
    spec = TrainSpec(sizes=(20, 4, 3), epochs=1, batch=10, array={"kind": "bench", "bench": "sim"},
                     data={"kind": "synthetic", "train": 20, "test": 10}, output={"plots": False})
    run = TrainRun(spec, progress=False)
    closed = []
    run.prepare()
    real_close = run.bench.close
    run.bench.close = lambda: (closed.append(True), real_close())
    run.run()
    assert run.result()["layers_on_bench"] == [0] and closed == [True] and run.bench is None
    assert type(run.trainer.arrays[0]).__name__ == "BenchArray" and type(run.trainer.arrays[1]).__name__ == "SimArray"
