"""Export check: each shipped device model exported to aihwkit and NeuroSim, and driven there
with the same pulses as labbench's Chip.

aihwkit is the real thing: aihwkit 1.2.0 built from its sdist against a CPU torch, in its own
venv (``--aihwkit-python``; bench/aihwkit_pulses.py runs there).  NeuroSim is its public C++
update equations read in Python (labbench.export.neurosim_cell).  For each model and each
noise condition (none, C2C only, D2D only, full) the devices take a SET train from their own
Gmin then a RESET train, read noise-free after each pulse, and the script prints:

* the RMSE of the mean response as a fraction of the range (goal <= 2 %);
* the ratio target / labbench of the spread across devices (C2C only, D2D only), RMS over the
  SET train and over the RESET train, with a 95 % bootstrap interval (goal: inside 0.9-1.1);
* for aihwkit, that every exported configuration builds and updates, and the retention noise
  model's median drift against labbench's retention law.

Each comparison is made twice on labbench's side: the model as shipped (``noise_at_bound:
shrink``, labbench's default: σ shrinks near a bound) and replayed with ``noise_at_bound:
clip`` (the full noise, clipped at the bound: what aihwkit and NeuroSim do).  Without C2C
noise the two are the same run (the ``none`` and ``d2d`` rows).  The clip rows say whether
the mapping itself closes once the convention is the target's.  Two more figures say what is
left: the sampling floor (two labbench replays that differ only in their seed, and two aihwkit
runs: its update noise is clock-seeded in 1.2.0 and picked from one list of 32768 normals drawn
per tile, rng.cpp, so two runs can differ by more than their devices average out) and,
for a LinearStep export with additive noise, a replay with RESET's σ as aihwkit's one
``dw_min_std`` makes it (× scale_down/scale_up).

    .venv/bin/python bench/export_check.py [--devices 2000] [--fixtures]

``--fixtures`` also writes the aihwkit responses the tests compare against
(tests/fixtures/export/*_aihwkit.json).  Results: bench/results/export_check.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from labbench.export.bound_noise import MAX_TRAIN, with_noise_at_bound
from labbench.export.cli import write_export
from labbench.export.compare import (labbench_trains, pulses_to_bottom, pulses_to_top, rmse_of_range, spread_ratio,
                                     variant)
from labbench.export.neurosim_cell import NeuroSimArray, params_from_export, params_variant
from labbench.export.neurosim_export import export_neurosim
from labbench.physics import retention
from labbench.physics.device_model import load_device_model
from labbench.physics.models import RESET, SET

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["hfox_2t2r_default", "ag_asi_neurosim", "crosssim_rram", "gong2018_hfo2_expstep", "gong2018_hfo2_softbounds"]
CONDITIONS = ("none", "c2c", "d2d", "full")
FIXTURE_READS = 400   # a fixture keeps at most this many reads per trace
NOISY = ("c2c", "full")   # the conditions with C2C noise: the only ones the convention changes


def _has(model, noise: str) -> bool:
    up = model.update
    return bool(up.c2c_abs or up.c2c_rel) if noise == "c2c" else bool(model.d2d.sigma)


def _figures(model, target: dict, ours: dict, n_set: int, g_range: float, conditions=CONDITIONS) -> dict:
    out = {}
    for cond in conditions:
        row = {"rmse_of_range": rmse_of_range(target[cond], ours[cond], g_range)}
        if cond in ("c2c", "d2d") and _has(model, cond):
            row["spread_set"] = spread_ratio(target[cond], ours[cond], slice(0, n_set + 1))
            row["spread_reset"] = spread_ratio(target[cond], ours[cond], slice(n_set, None))
        out[cond] = row
    return out


def _ours(model, devices: int, n_set: int, n_reset: int) -> tuple[dict, dict]:
    """labbench's trains per condition, as shipped (shrink) and replayed with clip (the same
    devices and normals; a condition without C2C noise is one run for both)."""
    shrink = {c: labbench_trains(model, devices, n_set, n_reset, seed=1, noise=c) for c in CONDITIONS}
    clipped = with_noise_at_bound(model, "clip")
    clip = {c: labbench_trains(clipped, devices, n_set, n_reset, seed=1, noise=c) if c in NOISY else shrink[c]
            for c in CONDITIONS}
    return shrink, clip


def _floor(model, devices: int, n_set: int, n_reset: int) -> float:
    """The mean-response RMSE (of the range) between two labbench replays (clip, C2C only) that
    differ only in their seed: how close two runs of the same device come at this many
    devices.  A target's run is another draw, so a figure near this is sampling, not mapping."""
    clipped = with_noise_at_bound(model, "clip")
    a, b = (labbench_trains(clipped, devices, n_set, n_reset, seed=s, noise="c2c") for s in (1, 2))
    return rmse_of_range(a, b, model.gmax - model.gmin)


def _reset_sigma_ratio(device: dict) -> float | None:
    """aihwkit's RESET σ over its SET σ for an additive-noise LinearStep export (one
    ``dw_min_std`` for both directions: σ = dw_min_std·scale_down on RESET), or None."""
    if device["class"] != "LinearStepDevice" or device.get("mult_noise", True) or not device.get("dw_min_std"):
        return None
    ud = device["up_down"]
    ratio = (1 - max(ud, 0.0)) / (1 + min(ud, 0.0))
    return ratio if abs(ratio - 1) > 1e-6 else None


def _clip_with_reset_sigma(model, devices: int, n_set: int, n_reset: int, ratio: float) -> np.ndarray:
    """A diagnostic: labbench's model with clip and RESET's σ ×``ratio`` (what aihwkit's one
    dw_min_std does), C2C only, through the update model (NumPy): if the mapping closes here,
    what the clip rows leave is that σ, not the convention."""
    up_set = with_noise_at_bound(variant(model, "c2c"), "clip").update
    up_reset = dataclasses.replace(up_set, c2c_abs=up_set.c2c_abs * ratio)
    rng = np.random.default_rng(3)
    g = np.full(devices, float(up_set.gmin))
    out = [g.copy()]
    for k in range(n_set + n_reset):
        g = up_set.step(g, 1, SET, rng=rng) if k < n_set else up_reset.step(g, 1, RESET, rng=rng)
        out.append(g.copy())
    return np.array(out)


def _aihwkit_run(py: str, module: Path, devices: int, n_set: int, n_reset: int, noise: str, tmp: Path) -> np.ndarray:
    out = tmp / f"w_{noise}.npz"
    subprocess.run([py, str(ROOT / "bench" / "aihwkit_pulses.py"), str(module), "--devices", str(devices), "--set",
                    str(n_set), "--reset", str(n_reset), "--noise", noise, "--out", str(out)], check=True)
    return np.load(out)["w"]


def _noise_model_check(py: str, module: Path, model) -> dict | None:
    if model.retention is None:
        return None
    res = json.loads(subprocess.run([py, str(ROOT / "bench" / "aihwkit_pulses.py"), str(module), "--smoke"],
                                    check=True, capture_output=True, text=True).stdout)
    nm = res.pop("noise_model")
    ret = model.retention
    g0 = np.array(nm["g0_uS"]) * 1e-6
    g_inf = model.gmin + ret.level * (model.gmax - model.gmin)
    worst = 0.0
    for t, med in nm["median_uS"].items():
        u = retention.longterm((g0 - g_inf) / (model.gmax - g_inf), float(t) / retention.arrhenius(ret),
                               ret.state_factor)
        ours = g_inf + u * (model.gmax - g_inf)
        worst = max(worst, float(np.max(np.abs(np.array(med) * 1e-6 - ours)) / (model.gmax - model.gmin)))
    return {"configs": res, "median_drift_max_error_of_range": worst, "times_s": list(nm["median_uS"])}


def check_aihwkit(name: str, py: str, devices: int, tmp: Path, fixtures: Path | None) -> dict:
    model = load_device_model(name)
    files, summary = write_export("aihwkit", model, tmp)
    module = next(f for f in files if f.suffix == ".py")
    cfg = json.loads(next(f for f in files if f.suffix == ".json").read_text())
    ref, scale = cfg["units"]["ref_S"], cfg["units"]["scale_S"]
    n_set, n_reset = pulses_to_top(model, MAX_TRAIN), pulses_to_bottom(model, MAX_TRAIN)
    target = {c: ref + scale * _aihwkit_run(py, module, devices, n_set, n_reset, c, tmp) for c in CONDITIONS}
    ours, ours_clip = _ours(model, devices, n_set, n_reset)
    g_range = model.gmax - model.gmin
    out = {"device": cfg["device"]["class"], "n_set": n_set, "n_reset": n_reset,
           "figures": _figures(model, target, ours, n_set, g_range),
           "figures_clip": _figures(model, target, ours_clip, n_set, g_range),
           "noise_model": _noise_model_check(py, module, model)}
    if _has(model, "c2c"):
        out["sampling_floor_c2c"] = _floor(model, devices, n_set, n_reset)
        again = ref + scale * _aihwkit_run(py, module, devices, n_set, n_reset, "c2c", tmp)
        out["aihwkit_run_to_run_c2c"] = rmse_of_range(again, target["c2c"], g_range)
    ratio = _reset_sigma_ratio(cfg["device"])
    if ratio is not None:
        diag = _clip_with_reset_sigma(model, devices, n_set, n_reset, ratio)
        out["clip_reset_sigma"] = {"ratio": ratio, "c2c": _figures(model, {"c2c": target["c2c"]}, {"c2c": diag},
                                                                   n_set, g_range, ("c2c",))["c2c"]}
    if fixtures is not None:
        step = max(1, (n_set + n_reset + 1) // FIXTURE_READS)
        fixtures.mkdir(parents=True, exist_ok=True)
        fix = {"model": name, "aihwkit_version": cfg["aihwkit_version"], "devices": devices, "n_set": n_set,
               "n_reset": n_reset, "read_step": step, "device": cfg["device"],
               "mean_S": {c: target[c].mean(axis=1)[::step].tolist() for c in CONDITIONS},
               "spread_S": {c: target[c].std(axis=1, ddof=1)[::step].tolist() for c in ("c2c", "d2d")}}
        (fixtures / f"{name}_aihwkit.json").write_text(json.dumps(fix) + "\n")
    return out


def check_neurosim(name: str, devices: int) -> dict | None:
    model = load_device_model(name)
    if model.gmin < 0:
        return None
    export, _ = export_neurosim(model)
    p = params_from_export(export["mlp_v3_cell"])
    n_set, n_reset = p.maxNumLevelLTP, p.maxNumLevelLTD
    target = {c: NeuroSimArray(params_variant(p, c), devices, seed=2).train(n_set, n_reset) for c in CONDITIONS}
    ours, ours_clip = _ours(model, devices, n_set, n_reset)
    g_range = model.gmax - model.gmin
    out = {"NL_LTP": p.NL_LTP, "NL_LTD": p.NL_LTD, "n_set": n_set, "n_reset": n_reset,
           "figures": _figures(model, target, ours, n_set, g_range),
           "figures_clip": _figures(model, target, ours_clip, n_set, g_range)}
    if _has(model, "c2c"):
        out["sampling_floor_c2c"] = _floor(model, devices, n_set, n_reset)
    return out


def _fmt(fig: dict, only=CONDITIONS) -> str:
    parts = []
    for cond, row in fig.items():
        if cond not in only:
            continue
        s = f"{cond}: mean {row['rmse_of_range']:.2%}"
        for k in ("spread_set", "spread_reset"):
            if k in row:
                r = row[k]
                ok = "ok" if 0.9 <= r["ci95"][0] and r["ci95"][1] <= 1.1 else "OUT"
                s += f", {k[7:]} {r['ratio']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] {ok}"
        parts.append(s)
    return "\n      ".join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--aihwkit-python", default=os.environ.get("LABBENCH_AIHWKIT_PYTHON", "/work/aihwkit-venv/bin/python"))
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--fixtures", action="store_true", help="write tests/fixtures/export/*_aihwkit.json")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "export_check.json"))
    a = ap.parse_args(argv)
    if a.devices < 1000:
        ap.error("--devices must be >= 1000 (the spreads' intervals need them)")
    version = subprocess.run([a.aihwkit_python, "-c", "import aihwkit, torch; print(aihwkit.__version__, torch.__version__)"],
                             capture_output=True, text=True)
    if version.returncode:
        print(f"no aihwkit at {a.aihwkit_python}: {version.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return 2
    aihwkit_v, torch_v = version.stdout.split()
    print(f"aihwkit {aihwkit_v} (torch {torch_v}, CPU); {a.devices} devices per run; figures: RMSE of the mean "
          f"response / range, spread ratio target/labbench [95 % CI]")
    results = {"aihwkit": aihwkit_v, "torch": torch_v, "devices": a.devices, "models": {}}
    fixtures = ROOT / "tests" / "fixtures" / "export" if a.fixtures else None
    t0 = time.time()
    for name in a.models:
        with tempfile.TemporaryDirectory() as tmp:
            ai = check_aihwkit(name, a.aihwkit_python, a.devices, Path(tmp), fixtures)
        ns = check_neurosim(name, a.devices)
        results["models"][name] = {"aihwkit": ai, "neurosim": ns}
        print(f"\n{name}\n  aihwkit {ai['device']} ({ai['n_set']} SET + {ai['n_reset']} RESET pulses)\n"
              f"      {_fmt(ai['figures'])}")
        if _has(load_device_model(name), "c2c"):
            print(f"    labbench replayed with noise_at_bound: clip\n      {_fmt(ai['figures_clip'], NOISY)}\n"
                  f"      sampling floor (c2c): labbench vs itself (another seed) mean {ai['sampling_floor_c2c']:.2%}; "
                  f"aihwkit vs itself (another run) {ai['aihwkit_run_to_run_c2c']:.2%}")
        if "clip_reset_sigma" in ai:
            d = ai["clip_reset_sigma"]
            print(f"    diagnostic: clip and RESET σ ×{d['ratio']:.3g} (aihwkit's one dw_min_std; NumPy path)\n"
                  f"      {_fmt({'c2c': d['c2c']})}")
        if ai["noise_model"]:
            nm = ai["noise_model"]
            print(f"      configs build and update: {nm['configs']}; retention noise model median drift vs labbench "
                  f"(t = {', '.join(nm['times_s'])} s): max error {nm['median_drift_max_error_of_range']:.2%} of the range")
        if ns:
            print(f"  NeuroSim (NL {ns['NL_LTP']:+g} / {ns['NL_LTD']:+g}, {ns['n_set']} + {ns['n_reset']} levels)\n"
                  f"      {_fmt(ns['figures'])}")
            if _has(load_device_model(name), "c2c"):
                print(f"    labbench replayed with noise_at_bound: clip\n      {_fmt(ns['figures_clip'], NOISY)}\n"
                      f"      sampling floor (labbench vs itself, another seed, c2c): mean "
                      f"{ns['sampling_floor_c2c']:.2%}")
    results["seconds"] = round(time.time() - t0, 1)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{results['seconds']} s; saved {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
