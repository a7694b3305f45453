"""Export to aihwkit and NeuroSim, and import back.

The exports are compared with the real aihwkit 1.2.0 through fixtures that
``bench/export_check.py --fixtures`` recorded from it (tests/fixtures/export/), always; and
with aihwkit itself where it is importable.  NeuroSim is compared through its update
equations read from its C++ (labbench.export.neurosim_cell).
"""
from __future__ import annotations

import json
import math
import py_compile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from labbench.cli import main
from labbench.export import export_aihwkit, export_neurosim
from labbench.export.aihwkit_device import weight_units
from labbench.export.compare import labbench_trains, rmse_of_range, spread_ratio
from labbench.export.from_aihwkit import import_aihwkit
from labbench.export.neurosim_cell import NeuroSimArray, get_param_a, params_from_export, params_variant, table_index
from labbench.export.neurosim_export import emitted_label
from labbench.physics.device_model import load_device_model
from labbench.physics.models import RESET, SET
from labbench.physics.nonlinearity import normalized_a_from_nl

FIXTURES = Path(__file__).parent / "fixtures" / "export"


def _fixture(name):
    return json.loads((FIXTURES / f"{name}_aihwkit.json").read_text())


def _linear_step_train(cfg: dict, w0: float, n_set: int, n_reset: int) -> np.ndarray:
    """aihwkit's LinearStep update (rpu_linearstep_device.cpp), one nominal device, no noise."""
    ud, dw = cfg["up_down"], cfg["dw_min"]
    s_up, s_down = (1 + min(ud, 0)) * dw, (1 - max(ud, 0)) * dw
    slope_up, slope_down = -cfg["gamma_up"] * s_up / cfg["w_max"], -cfg["gamma_down"] * s_down / cfg["w_min"]
    w, out = w0, [w0]
    for k in range(n_set + n_reset):
        w = w + slope_up * w + s_up if k < n_set else w - (slope_down * w + s_down)
        w = min(max(w, cfg["w_min"]), cfg["w_max"])
        out.append(w)
    return np.array(out)


@pytest.mark.parametrize("name", ["hfox_2t2r_default", "ag_asi_neurosim"])
def test_neurosim_model_is_linear_step_pulse_by_pulse(name):
    model = load_device_model(name)
    cfg, _ = export_aihwkit(model)
    units = weight_units(model.update)
    up = model.update
    n_set, n_reset = round(up.pmax_set), round(up.pmax_reset)
    g, ours = np.array([up.gmin]), [float(up.gmin)]
    for k in range(n_set + n_reset):
        g = up.advance(g, np.ones(1, np.int64), SET if k < n_set else RESET)
        ours.append(float(g[0]))
    theirs = units.ref + units.scale * _linear_step_train(cfg["device"], -1.0, n_set, n_reset)
    assert cfg["device"]["class"] == "LinearStepDevice"
    assert np.max(np.abs(theirs - np.array(ours))) < 1e-9 * (up.gmax - up.gmin) * 1e3


@pytest.mark.parametrize("name", ["hfox_2t2r_default", "ag_asi_neurosim", "crosssim_rram", "gong2018_hfo2_expstep",
                                  "gong2018_hfo2_softbounds"])
def test_export_matches_the_fixture_aihwkit_ran(name):
    """The export is still the config aihwkit ran, and labbench's noise-free chip follows
    aihwkit's recorded mean response (the update mapping is exact)."""
    fix = _fixture(name)
    model = load_device_model(name)
    cfg, _ = export_aihwkit(model)
    for key, value in fix["device"].items():
        ours = cfg["device"][key]
        if isinstance(value, float):
            assert ours == pytest.approx(value, rel=1e-6, abs=1e-12), key
        else:
            assert ours == value, key
    n = min(fix["n_set"] + fix["n_reset"], 600)
    step = fix["read_step"]
    n_set = fix["n_set"]
    ours = labbench_trains(model, 2, n_set, n - n_set, noise="none")[::step]
    theirs = np.array(fix["mean_S"]["none"])[: len(ours)]
    assert rmse_of_range(theirs, ours, model.gmax - model.gmin) < 1e-4


def test_c2c_spread_matches_aihwkit_fixture_on_set():
    """The additive C2C (SET) of the default chip, as aihwkit spread it over 2000 devices."""
    fix = _fixture("hfox_2t2r_default")
    model = load_device_model("hfox_2t2r_default")
    n_set = fix["n_set"]
    ours = labbench_trains(model, 600, n_set, 0, seed=3, noise="c2c")
    theirs = np.array(fix["spread_S"]["c2c"])[: n_set + 1]
    ratio = math.sqrt(np.mean(theirs[1:] ** 2) / np.mean(np.var(ours[1:], axis=1, ddof=1)))
    assert 0.9 < ratio < 1.1


def test_d2d_spread_matches_aihwkit_fixture_on_set():
    fix = _fixture("hfox_2t2r_default")
    model = load_device_model("hfox_2t2r_default")
    n_set = fix["n_set"]
    ours = labbench_trains(model, 600, n_set, 0, seed=3, noise="d2d")
    theirs = np.array(fix["spread_S"]["d2d"])[: n_set + 1]
    ratio = math.sqrt(np.mean(theirs ** 2) / np.mean(np.var(ours, axis=1, ddof=1)))
    assert 0.85 < ratio < 1.15


# -- NeuroSim ----------------------------------------------------------------------------------
def test_get_param_a_indexes_the_table_as_c_does():
    assert int(table_index(2.4)) == 239            # (int)(2.4*100) - 1
    assert int(table_index(0.29)) == 27            # 0.29*100 = 28.999...: C truncates to 28
    assert emitted_label(0.29) == pytest.approx(0.291)   # so the export writes a form that lands on 0.29
    assert int(table_index(emitted_label(0.29))) == 28
    assert float(get_param_a(-4.88)) == pytest.approx(-normalized_a_from_nl(4.88), rel=1e-12)
    assert float(get_param_a(2.449)) == float(get_param_a(2.44))   # rounded down to the table's step


def test_neurosim_reproduction_follows_labbench_curve():
    model = load_device_model("hfox_2t2r_default")
    export, summary = export_neurosim(model)
    p = params_from_export(export["mlp_v3_cell"])
    assert (p.NL_LTP, p.NL_LTD, p.maxNumLevelLTP) == (2.4, -4.88, 64)
    ns = NeuroSimArray(params_variant(p, "none"), 1).train(64, 64)
    ours = labbench_trains(model, 2, 64, 64, noise="none")
    assert rmse_of_range(ns, ours, model.gmax - model.gmin) < 1e-4
    assert export["mean_train_rmse_of_range"] < 1e-4
    assert any(e.what == "update.c2c_abs" and e.target == "sigmaCtoC" for e in summary.exact)


def test_neurosim_c2c_and_d2d_spreads_on_set():
    model = load_device_model("hfox_2t2r_default")
    export, _ = export_neurosim(model)
    p = params_from_export(export["mlp_v3_cell"])
    for noise in ("c2c", "d2d"):
        ns = NeuroSimArray(params_variant(p, noise), 800, seed=4).train(64, 0)
        ours = labbench_trains(model, 800, 64, 0, seed=5, noise=noise)
        r = spread_ratio(ns, ours, n_boot=100)
        assert 0.85 < r["ratio"] < 1.15, (noise, r)


def test_neurosim_labels_are_the_fitters():
    """The label exported is the one fitting.neurosim_nl reports for the model's own curve."""
    model = load_device_model("ag_asi_neurosim")
    export, _ = export_neurosim(model)
    assert export["labels"]["ltp"]["nl"] == pytest.approx(model.fit["directions"]["set"]["nl"], abs=0.02)
    assert export["mlp_v3_cell"]["NL_LTP"] == pytest.approx(0.52)


# -- CLI ---------------------------------------------------------------------------------------
def test_cli_writes_importable_files(tmp_path):
    r = CliRunner().invoke(main, ["export", "aihwkit", "hfox_2t2r_default", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    py = tmp_path / "hfox_2t2r_default_aihwkit.py"
    py_compile.compile(str(py), doraise=True)
    cfg = json.loads((tmp_path / "hfox_2t2r_default_aihwkit.json").read_text())
    assert cfg["aihwkit_version"] == "1.2.0"
    assert cfg["two_t2r"]["class"] == "OneSidedUnitCell" and cfg["mixed_precision"]["class"] == "MixedPrecisionCompound"
    assert cfg["noise_model"]["class"] == "LabbenchRetentionNoise"
    text = (tmp_path / "hfox_2t2r_default_aihwkit_summary.md").read_text()
    assert "## Maps exactly" in text and "## Approximated" in text and "## Dropped" in text
    assert "warning: aihwkit cannot express the model's 'endurance' block" in r.output
    r = CliRunner().invoke(main, ["export", "neurosim", "ag_asi_neurosim", "-o", str(tmp_path), "--strict"])
    assert r.exit_code == 0, r.output
    cpp = (tmp_path / "ag_asi_neurosim_neurosim_Cell.cpp.txt").read_text()
    assert "NL_LTP = 0.52;" in cpp and "--nonlinearityLTD -4.31" in cpp


# -- import ------------------------------------------------------------------------------------
def _spec_file(tmp_path, device: dict) -> str:
    p = tmp_path / "dev.json"
    p.write_text(json.dumps({"aihwkit_version": "1.2.0", "device": device}))
    return str(p)


def test_import_inverts_the_export(tmp_path):
    model = load_device_model("hfox_2t2r_default")
    cfg, _ = export_aihwkit(model)
    back, notes = import_aihwkit(_spec_file(tmp_path, cfg["device"]), g_min=model.gmin, g_max=model.gmax)
    for key in ("g_min", "g_max", "a_set", "a_reset", "pmax_set", "pmax_reset", "c2c_abs"):
        assert getattr(back.update, key) == pytest.approx(getattr(model.update, key), rel=1e-9), key
    assert back.provenance["read"].startswith("inherited from base model")


def test_import_piecewise_and_soft_bounds(tmp_path):
    back, _ = import_aihwkit(_spec_file(tmp_path, {"class": "PiecewiseStepDevice", "dw_min": 0.01, "w_min": -1,
                                                   "w_max": 1, "piecewise_up": [1, 0.5, 0.2],
                                                   "piecewise_down": [0.2, 0.5, 1], "dw_min_std": 0.1}),
                             g_min=2e-6, g_max=4e-5)
    assert back.update.kind == "piecewise" and len(back.update.g_nodes) == 3
    assert back.update.step_up[0] == pytest.approx(0.01 * 1.9e-5)    # dw_min in w units × S per w unit
    assert back.update.c2c_rel == 0.1
    back, _ = import_aihwkit(_spec_file(tmp_path, {"class": "SoftBoundsDevice", "dw_min": 0.02, "w_min": -1,
                                                   "w_max": 1, "up_down": 0.1}), g_min=2e-6, g_max=4e-5)
    up = back.update
    g = np.array([up.w_ref])   # at w = 0 the soft-bounds step is dw_min (up: (1 − 0)·scale_up)
    assert float(up.mean_step(g, SET)[0]) == pytest.approx(0.02 * 1.9e-5)


@pytest.mark.skipif(__import__("importlib").util.find_spec("aihwkit") is not None, reason="aihwkit is installed")
def test_preset_name_needs_aihwkit():
    with pytest.raises(ValueError, match="needs aihwkit installed"):
        import_aihwkit("ReRamESPresetDevice")


# -- against aihwkit itself, where importable ---------------------------------------------------
def test_against_aihwkit_when_importable(tmp_path):
    pytest.importorskip("aihwkit")
    import importlib.util

    import torch
    from aihwkit.simulator.configs import SingleRPUConfig
    from aihwkit.simulator.tiles.analog import AnalogTile

    from labbench.export.cli import write_export

    model = load_device_model("hfox_2t2r_default")
    files, _ = write_export("aihwkit", model, tmp_path)
    spec = importlib.util.spec_from_file_location("exported", next(f for f in files if f.suffix == ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    dev = dict(mod.CONFIG["device"])
    dev.update({k: 0.0 for k in dev if k.endswith("_dtod")}, dw_min_std=0.0)
    cfg = SingleRPUConfig(device=mod._build(dev))
    cfg.update.desired_bl, cfg.update.update_bl_management, cfg.update.update_management = 1, False, False
    tile = AnalogTile(2, 1, cfg)
    tile.set_learning_rate(1e3)
    tile.set_weights(torch.full((2, 1), -1e6))
    w = [tile.get_weights()[0][0, 0].item()]
    for k in range(128):
        tile.update(torch.ones(1) * (1 if k < 64 else -1), -torch.ones(2))
        w.append(tile.get_weights()[0][0, 0].item())
    units = mod.CONFIG["units"]
    theirs = units["ref_S"] + units["scale_S"] * np.array(w)
    ours = labbench_trains(model, 2, 64, 64, noise="none")
    assert rmse_of_range(theirs, ours, model.gmax - model.gmin) < 1e-5
    assert mod.noise_model() is not None and mod.two_t2r_rpu_config() is not None


def test_symmetric_soft_bounds_is_soft_bounds_pmax_and_imports_back(tmp_path):
    """The soft-bounds case SoftBoundsPmaxDevice can hold (up_down = 1 + 2·w_min/(w_max − w_min))
    is exported as one, and aihwkit's own as_bindings conversion brings back the same device."""
    from labbench.physics.aihwkit_models import SoftBoundsModel

    base = load_device_model("gong2018_hfo2_softbounds")
    w_min, w_max = -1.0, 3.0
    up = SoftBoundsModel(dw_min=0.01, up_down=1 + 2 * w_min / (w_max - w_min), w_min=w_min, w_max=w_max, w_ref=0.0)
    model = base.model_copy(update={"update": up})
    cfg, summary = export_aihwkit(model)
    dev = cfg["device"]
    assert dev["class"] == "SoftBoundsPmaxDevice"
    assert dev["range_min"] == w_min and dev["alpha"] == pytest.approx(0.01 / (w_max - w_min))
    back, _ = import_aihwkit(_spec_file(tmp_path, dev), g_min=2e-6, g_max=4e-5)
    g = np.linspace(back.update.gmin, back.update.gmax, 7)
    w = (g - back.update.reference) / (4e-5 - 2e-6) * (w_max - w_min)
    for d in (SET, RESET):
        theirs = back.update.mean_step(g, d) / (4e-5 - 2e-6) * (w_max - w_min)
        assert np.allclose(theirs, up.mean_step(w, d), rtol=1e-9, atol=1e-15)
