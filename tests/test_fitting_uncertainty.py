"""Fits with uncertainty (issue 14): parameter intervals, D2D resolution, convergence."""
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from labbench.fitting import fit_device
from labbench.fitting.cli import fit as fit_cmd
from labbench.fitting.sample import SAMPLE_PATH, generate
from labbench.physics import Chip, load_device_model

TRUE_D2D = {"g_max": 0.10, "a_set": 0.10, "g_min": 0.15, "a_reset": 0.0}   # the default chip's


@pytest.fixture(scope="module")
def repeated():
    """The issue's case: 16 devices × 2 cycles of the default chip, fitted for 12 seeds."""
    m = load_device_model()
    out = []
    for seed in range(12):
        r = fit_device(generate(rows=4, cols=2, cycles=2, seed=seed), model="neurosim")
        drawn = Chip(m, 4, 2, seed=seed).devices
        medians = {k: float(np.median(np.asarray(getattr(drawn, k)))) for k in ("g_min", "g_max", "a_set")}
        medians["a_reset"] = m.update.a_reset
        out.append((r, medians))
    return out


def test_parameter_intervals_hold_the_drawn_median_device_about_95_percent(repeated):
    hits = [v["ci95"][0] <= med[k] <= v["ci95"][1]
            for r, med in repeated for k, v in r.uncertainty.items() if k in med]
    assert len(hits) == 48 and np.mean(hits) >= 0.85, np.mean(hits)
    r = repeated[0][0]
    assert all(v["method"].startswith("median over devices") and v["ci95"][0] < v["value"] < v["ci95"][1]
               for k, v in r.uncertainty.items() if k != "read.noise_rel")
    # the read noise's interval is over devices too (a device's trains share its fit)
    assert r.uncertainty["read.noise_rel"]["method"].endswith("t interval over devices")


def test_a_d2d_sigma_is_a_number_only_when_resolved_and_then_holds_the_truth(repeated):
    resolved_hits, unresolved = [], 0
    for r, _ in repeated:
        for k, v in r.d2d.items():
            if v["resolved"]:
                resolved_hits.append(v["ci95"][0] <= TRUE_D2D[k] <= v["ci95"][1])
                if v["sigma"] >= 0.005:
                    assert r.device_model.d2d.sigma[k] == pytest.approx(v["sigma"], abs=1e-6)
            else:
                unresolved += 1
                assert k not in r.device_model.d2d.sigma
                note = next(n for n in r.notes if n.startswith(f"d2d {k}: not resolved"))
                # all 16 devices, less any whose curve shows no bend (its A is not identified)
                used = int(re.search(r"not resolved by (\d+) devices × 2 cycles", note).group(1))
                assert 12 <= used <= 16 and "would be resolved by about" in note
    # never the 1.15 for A_set: either not resolved, or an interval well below it that
    # holds 0.10 (a 95 % interval may miss in one of the 12 seeds)
    a_set = [r.d2d["a_set"] for r, _ in repeated if r.d2d["a_set"]["resolved"]]
    assert all(v["ci95"][1] < 1.0 for v in a_set)
    assert sum(not v["ci95"][0] <= 0.10 <= v["ci95"][1] for v in a_set) <= 1, a_set
    assert unresolved >= 12 and len(resolved_hits) >= 12 and np.mean(resolved_hits) >= 0.8, resolved_hits


def test_fit_json_carries_intervals_resolution_and_convergence(tmp_path):
    out = tmp_path / "m.yaml"
    res = CliRunner().invoke(fit_cmd, [str(SAMPLE_PATH), "--model", "neurosim", "--json", "-o", str(out)])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output.strip().splitlines()[-1])
    assert set(s["uncertainty"]) == {"g_min", "g_max", "a_set", "a_reset", "read.noise_rel"}
    assert all(len(v["ci95"]) == 2 for v in s["uncertainty"].values())
    assert all("resolved" in v and len(v["ci95"]) == 2 for v in s["d2d"].values())
    assert s["convergence"]["set"]["converged"] == s["convergence"]["set"]["units"] == 16
    assert any(n.startswith("solver (set)") for n in s["notes"])
    for d in ("set", "reset"):   # C2C: 3 % of the range per pulse in the sample's chip
        lo, hi = s["directions"][d]["c2c_sigma_ci95"]
        assert lo < s["directions"][d]["c2c_sigma"] < hi and lo <= 0.03 <= hi
    fit = load_device_model(out).fit
    assert fit["uncertainty"]["a_set"]["ci95"] and fit["convergence"]["reset"]["units"] == 16
    assert all("resolved" in v for v in fit["d2d"].values())


def test_an_unconverged_pulse_train_fit_exits_nonzero_unless_allowed(tmp_path, monkeypatch):
    from labbench.fitting import api

    real = api._convergence

    def not_converged(main):
        out = real(main)
        out["set"] = {**out["set"], "solver": "batched Levenberg-Marquardt", "converged": 3, "units": 16}
        return out

    monkeypatch.setattr(api, "_convergence", not_converged)
    out = tmp_path / "m.yaml"
    res = CliRunner().invoke(fit_cmd, [str(SAMPLE_PATH), "--model", "softbounds", "-o", str(out)])
    assert res.exit_code == 2 and "did not converge" in res.output and "3/16" in res.output and not out.exists()
    res = CliRunner().invoke(fit_cmd, [str(SAMPLE_PATH), "--model", "softbounds", "-o", str(out),
                                       "--allow-unconverged"])
    assert res.exit_code == 0 and out.exists()


def test_one_device_gets_intervals_by_bootstrap_over_cycles():
    df = generate(rows=1, cols=1, cycles=8, seed=4)
    r = fit_device(df[df.side == 0], model="neurosim")
    assert r.uncertainty and all(v["method"].startswith("bootstrap over cycles") and v["n"] == 8
                                 for k, v in r.uncertainty.items() if k != "read.noise_rel")
    assert r.uncertainty["read.noise_rel"]["method"].endswith("t interval over trains")
    assert all(v["ci95"][0] <= v["value"] <= v["ci95"][1] for v in r.uncertainty.values())


def test_a_device_whose_curve_shows_no_bend_says_nothing_about_the_spread_of_A():
    """Its A is clamped at the linear limit (pmax / MIN_CURVATURE): left out of the D2D
    estimate of A, so one flat device cannot turn into a "resolved" σ of 1.7 (seen with
    16 devices × 2 cycles), while the other parameters keep every device."""
    from types import SimpleNamespace

    from labbench.fitting import build, variation

    rng = np.random.default_rng(0)
    a = 30 * np.exp(0.1 * rng.standard_normal(16))
    a[0] = 64 / build.MIN_CURVATURE                      # the flat device
    params = {"a_set": a, "pmax_set": 64, "g_max": 4e-5 * np.exp(0.1 * rng.standard_normal(16))}
    values = build.per_device_values("neurosim", params, SimpleNamespace(variable_params=("a_set", "g_max")))
    assert np.isnan(values["a_set"][0]) and np.isfinite(values["a_set"][1:]).all()
    halves = [{k: v * np.exp(0.01 * rng.standard_normal(16)) for k, v in values.items()} for _ in range(2)]
    d2d = variation.d2d_estimate(values, halves)
    assert d2d["a_set"]["n_devices"] == 15 and d2d["g_max"]["n_devices"] == 16
    assert d2d["a_set"]["ci95"][0] < 0.1 < d2d["a_set"]["ci95"][1] < 0.5
