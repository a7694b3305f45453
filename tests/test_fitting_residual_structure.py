"""Structured residuals: the runs test, on synthetic traces and on the shipped data sets.

False-alarm rate stated: with the right model, the decision (a direction's runs below
α/2 = 0.005, Bonferroni over the two directions, and at least 5 % short of expectation)
fires on at most 3 of 200 synthetic traces (binomially, 1 % would be 2 ± 1.4; the exact
test is conservative).  With a wrong model (NeuroSim's exponential on a power-law curve
that saturates abruptly), it fires on at least 190 of 200.
"""
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labbench.fitting import datasets, fit_device, residuals, trajectories
from labbench.fitting.trajectories import Norm, _u
from labbench.physics.models import RESET, SET

L = 64
SIGMA = 0.02  # read noise, fraction of the range


def _powstep_curve(c, gamma, d, n=L):
    """A curve NeuroSim's exponential cannot follow: linear-ish, then an abrupt bound."""
    x = np.zeros(n) if d > 0 else np.ones(n)
    for k in range(1, n):
        dist = (1 - x[k - 1]) if d > 0 else x[k - 1]
        x[k] = x[k - 1] + d * c * max(dist, 0.0) ** gamma
    return x


TRUTHS = {
    "neurosim": {SET: _u(np.arange(L) / (L - 1), 2.5), RESET: 1 - _u(np.arange(L) / (L - 1), 4.0)},
    "powstep": {SET: _powstep_curve(0.06, 0.3, 1), RESET: _powstep_curve(0.08, 0.3, -1)},
}


def test_the_runs_distribution_is_exact():
    for n_pos, n_neg in [(3, 4), (5, 5), (6, 2), (1, 7)]:
        counts = {}
        for pos in itertools.combinations(range(n_pos + n_neg), n_pos):
            s = -np.ones(n_pos + n_neg)
            s[list(pos)] = 1
            r = 1 + int(np.sum(s[1:] != s[:-1]))
            counts[r] = counts.get(r, 0) + 1
        total = sum(counts.values())
        pmf = residuals.runs_pmf(n_pos, n_neg)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
        for r, c in counts.items():
            assert pmf[r] == pytest.approx(c / total, abs=1e-12)
    # two runs in ten signs, five of each: 2 of the C(10, 5) = 252 orders
    assert residuals.runs_test(np.array([1.0] * 5 + [-1.0] * 5))["p"] == pytest.approx(2 / 252)


def test_many_traces_pool_by_the_normal_approximation_of_the_exact_sums():
    rng = np.random.default_rng(3)
    traces = [rng.standard_normal(40) for _ in range(200)]   # 8000 signs: beyond the exact convolution
    approx = residuals.runs_test(traces)
    assert not approx["exact"]
    exact_mean = sum(1 + 2 * (t > 0).sum() * (t < 0).sum() / t.size for t in traces)
    assert approx["expected"] == pytest.approx(exact_mean)
    smaller = residuals.runs_test(traces[:100])   # 4000 signs: exact
    assert smaller["exact"] and 0.01 < smaller["p"] < 0.99 and 0.01 < approx["p"] < 0.99


def _batched_fits(truth: str, kind: str, seed: int, units: int = 200):
    rng = np.random.default_rng(seed)
    p = np.broadcast_to(np.arange(L, dtype=float), (units, 1, L)).copy()
    out = {}
    for d in (SET, RESET):
        g = TRUTHS[truth][d][None, None, :] + SIGMA * rng.standard_normal((units, 1, L))
        out[d] = (trajectories.fit_neurosim(g, p, d, Norm(0.0, 1.0), L - 1, "device") if kind == "neurosim" else
                  trajectories.fit_steps(kind, g, p, d, Norm(0.0, 1.0), L - 1, "device"))
    return out


def _flagged(fits) -> int:
    res = {d: residuals.trace_residuals(f) for d, f in fits.items()}
    n = 0
    for u in range(len(res[SET])):
        dirs = {name: residuals.direction_runs([res[d][u]], residuals.ALPHA) for name, d in (("set", SET), ("reset", RESET))}
        n += residuals.verdict(dirs, residuals.ALPHA)[0]
    return n


@pytest.mark.parametrize("truth, kind, lo, hi", [
    ("neurosim", "neurosim", 0, 3),     # right model: false alarms
    ("powstep", "powstep", 0, 3),       # right model (a step law)
    ("neurosim", "powstep", 0, 3),      # a richer model that contains the truth's shape
    ("powstep", "neurosim", 190, 200),  # wrong model: detected
])
def test_the_runs_test_flags_a_wrong_model_and_rarely_the_right_one(truth, kind, lo, hi):
    assert lo <= _flagged(_batched_fits(truth, kind, seed=11)) <= hi


def _single_trace_csv(truth="powstep", seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for d, name in ((SET, "set"), (RESET, "reset")):
        g = 1e-6 + 9e-6 * (TRUTHS[truth][d] + SIGMA * rng.standard_normal(L))
        rows.append(pd.DataFrame({"cell": "c0", "cycle": 0, "direction": name, "pulse": np.arange(L), "conductance": g}))
    return pd.concat(rows, ignore_index=True)


def test_a_fit_with_the_wrong_model_says_so_and_names_the_models_that_fit():
    r = fit_device(_single_trace_csv("powstep"), model="neurosim")
    s = r.summary()["residual_structure"]
    assert s["structured"] and s["model"] == "neurosim"
    assert s["directions"]["set"]["runs"] < 0.7 * s["directions"]["set"]["expected"]
    # read noise only, but the misfit made the fitter choose one-step fits, whose innovations show
    # little: the candidates' curves were fitted too, and the power law's leaves no structure
    assert r.method == "onestep" and "fitted curves" in s["why"]
    cands = {c["model"]: c for c in s["candidates"]}
    assert {"neurosim", "softbounds", "expstep", "powstep"} <= set(cands)
    assert "powstep" in s["remove_structure"] and cands["powstep"]["delta_bic"] < 0
    note = next(n for n in r.notes if n.startswith("residuals of the neurosim fit are structured"))
    assert "powstep" in note and "runs" in note
    assert json.loads(json.dumps(r.summary()))["residual_structure"]["structured"] is True
    # asked for every model, the fit picks one whose residuals are not structured
    auto = fit_device(_single_trace_csv("powstep"), model="auto")
    assert not auto.residual_structure["structured"]
    assert not any(n.startswith("residuals of") for n in auto.notes)


def test_labbench_fit_prints_the_structure(tmp_path):
    from labbench.cli import main

    path = tmp_path / "trace.csv"
    _single_trace_csv("powstep").to_csv(path, index=False)
    res = CliRunner().invoke(main, ["fit", str(path), "--model", "neurosim"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if x.startswith("residuals:"))
    assert "STRUCTURED" in line and "powstep" in line
    assert "NeuroSim NL (set, NeuroSim's normalization)" in res.output
    ok = CliRunner().invoke(main, ["fit", str(path), "--model", "powstep"])
    assert ok.exit_code == 0 and "residuals: no structure" in ok.output


# --- the shipped data sets ------------------------------------------------------------------
def test_ag_asi_residuals_are_structured_for_every_candidate():
    """Both Ag:a-Si curves: the sign runs are far too few for every model (LTP ~20 in 91)."""
    r = fit_device(datasets.ag_asi(), model="auto")
    s = r.residual_structure
    assert s["structured"] and not s["remove_structure"]
    ltp = s["directions"]["set"]
    assert ltp["n"] == 91 and ltp["runs"] < 0.65 * ltp["expected"] and ltp["p"] < 1e-4
    assert all(c["structured"] for c in s["candidates"])
    assert any("no candidate model removes it" in n for n in r.notes)


def test_crosssim_ramps_are_structured_for_the_exponential_models_only():
    r = fit_device(datasets.crosssim(), model="auto")
    s = r.residual_structure
    assert s["residuals"] == "onestep" and r.kind == "piecewise" and not s["structured"]
    cands = {c["model"]: c for c in s["candidates"]}
    assert all(cands[k]["structured"] for k in ("neurosim", "softbounds", "powstep", "expstep"))
    assert s["directions"]["set"]["traces"] == 39 and s["directions"]["reset"]["traces"] == 40


def test_the_shipped_sample_shows_no_structure():
    """The sample is the default chip through the NeuroSim model it was made with."""
    r = fit_device(datasets.MEASURED_DEVICES.parent / "sample_pulse_trains.csv", model="neurosim")
    s = r.residual_structure
    assert not s["structured"]
    for v in s["directions"].values():
        assert v["traces"] == 64 and v["traces_flagged"] <= 3


def test_noise_free_data_leave_nothing_to_call_structure():
    """Residuals at the fit's arithmetic (~1e-8 of the range) carry no sign: not structure."""
    df = _single_trace_csv("neurosim")
    df.loc[df.direction == "set", "conductance"] = 1e-6 + 9e-6 * TRUTHS["neurosim"][SET]
    df.loc[df.direction == "reset", "conductance"] = 1e-6 + 9e-6 * TRUTHS["neurosim"][RESET]
    r = fit_device(df, model="neurosim")
    assert not r.residual_structure["structured"]
    assert len(r.residual_structure["candidates"]) == 1   # no other model fitted to explain anything
