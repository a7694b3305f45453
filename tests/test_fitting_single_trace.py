"""One trace per direction: intervals from the residuals, and what one trace cannot tell.

Coverage is checked the way the fitter computes it (labbench.fitting.single_trace), on 100
synthetic single traces at once (one fit unit each): NeuroSim's curves with read noise.
Measured over 1000 such traces (10 batches of 100): g_min 94 %, g_max 94 %, a_set 94 %, a_reset 93 %;
with AR(1) reads (ρ = 0.6), 85-95 %.
"""
import json

import numpy as np
import pandas as pd
import pytest

from labbench.fitting import api, build, fit_device, single_trace
from labbench.fitting.io import Trains
from labbench.fitting.trajectories import Norm, _u
from labbench.physics.models import RESET, SET

L, GMIN, GMAX, A_SET, A_RESET = 60, 1e-6, 1e-5, 0.4, -0.25
TRUTH = {"g_min": GMIN, "g_max": GMAX, "a_set": A_SET * (L - 1), "a_reset": A_RESET * (L - 1)}


def _noise(rng, units, sigma, rho):
    e = rng.standard_normal((units, 1, L))
    for k in range(1, L) if rho else ():   # AR(1) read noise: slow drift of the reads
        e[..., k] = rho * e[..., k - 1] + np.sqrt(1 - rho * rho) * e[..., k]
    return e * sigma * (GMAX - GMIN)


def _intervals(units=100, sigma=0.02, rho=0.0, seed=8):
    rng = np.random.default_rng(seed)
    p = np.broadcast_to(np.arange(L, dtype=float), (units, 1, L)).copy()
    x = np.arange(L) / (L - 1)
    curves = {SET: GMIN + (GMAX - GMIN) * _u(x, 1 / A_SET), RESET: GMAX + (GMIN - GMAX) * _u(x, -1 / A_RESET)}
    trains = {d: Trains(d, c[None, None, :] + _noise(rng, units, sigma, rho), p.copy(), np.arange(units),
                        np.zeros((units, 1), int)) for d, c in curves.items()}
    g = np.concatenate([t.g.ravel() for t in trains.values()])
    norm = Norm(float(g.min()), float(np.ptp(g)))
    main = api._fit_kind("neurosim", trains, norm, "device", {})
    params = build.combine("neurosim", main[SET], main[RESET])

    def refit(tb):
        return api._fit_kind("neurosim", tb, norm, "device", {})

    return single_trace.residual_intervals("neurosim", main, "trajectory", refit, {k: params[k] for k in TRUTH})


def _coverage(iv):
    return {k: float(np.mean((v["ci95"][:, 0] <= TRUTH[k]) & (TRUTH[k] <= v["ci95"][:, 1]))) for k, v in iv.items()}


def test_single_trace_intervals_cover_the_truth_about_95_percent():
    iv, notes, diag = _intervals()
    cov = _coverage(iv)
    assert set(cov) == set(TRUTH)
    pooled = np.mean(list(cov.values()))
    assert 0.88 <= pooled <= 0.99, cov   # 400 intervals: binomial 95 % range of a true 95 % is ~0.93-0.97
    assert min(cov.values()) >= 0.85, cov
    assert all(v["method"].startswith("residual bootstrap") for v in iv.values())
    for d in ("set", "reset"):   # independent reads: widened only where ρ exceeds its noise by chance
        assert np.mean(np.array(diag[d]["rho"]) > 0) < 0.1


def test_autocorrelated_residuals_are_said_and_widen_the_interval():
    iid, _, _ = _intervals(rho=0.0, sigma=0.02, seed=9)
    ar, notes, diag = _intervals(rho=0.6, sigma=0.02, seed=9)
    assert any("autocorrelated" in n and "effective sample size" in n for n in notes)
    assert np.median(diag["set"]["rho"]) > 0.4
    for k in TRUTH:   # same noise level, correlated: wider intervals, and still mostly covering
        w = lambda iv, k=k: np.median(iv[k]["ci95"][:, 1] - iv[k]["ci95"][:, 0])   # noqa: E731
        assert w(ar) > 1.5 * w(iid), k
    assert np.mean(list(_coverage(ar).values())) >= 0.85


def _one_trace(seed=0, write_noise=False):
    from labbench.fitting.sample import generate
    from labbench.physics import load_device_model

    if write_noise:   # the default chip: 3 % of the range per pulse, one device, one cycle
        df = generate(load_device_model(), 1, 1, cycles=1, seed=seed)
        return df[df.side == 0]
    rng = np.random.default_rng(seed)
    x = np.arange(L) / (L - 1)
    rows = []
    for name, c in (("set", GMIN + (GMAX - GMIN) * _u(x, 1 / A_SET)), ("reset", GMAX + (GMIN - GMAX) * _u(x, -1 / A_RESET))):
        rows.append(pd.DataFrame({"cell": "d", "cycle": 0, "direction": name, "pulse": np.arange(L),
                                  "conductance": c + 0.02 * (GMAX - GMIN) * rng.standard_normal(L)}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("write_noise", [False, True])
def test_a_single_trace_fit_reports_intervals_and_what_it_cannot_identify(write_noise):
    r = fit_device(_one_trace(write_noise=write_noise), model="neurosim")
    s = json.loads(json.dumps(r.summary()))
    assert r.method == ("onestep" if write_noise else "trajectory")
    unc = s["uncertainty"]
    assert {"g_max", "a_set", "a_reset"} <= set(unc)
    for k, v in unc.items():
        lo, hi = v["ci95"]
        assert lo <= v["value"] <= hi and np.isfinite(lo) and np.isfinite(hi), k
        assert v["method"].startswith("residual bootstrap (" + ("one-step" if write_noise else "residuals about"))
    assert single_trace.NOT_IDENTIFIABLE in r.notes
    assert s["d2d_sigma"] == {}
    if not write_noise:   # the synthetic truth is known here
        for k in ("g_min", "g_max", "a_reset"):
            assert unc[k]["ci95"][0] <= TRUTH[k] <= unc[k]["ci95"][1], k


def test_two_devices_are_not_called_a_single_trace():
    df = _one_trace()
    two = pd.concat([df, df.assign(cell="e", conductance=df.conductance * 1.01)], ignore_index=True)
    r = fit_device(two, model="neurosim")
    assert single_trace.NOT_IDENTIFIABLE not in r.notes
