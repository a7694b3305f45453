"""Retention fits (issue 14): drift measured on the simulated bench, recovered with intervals."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labbench.fitting import retention as fr
from labbench.fitting import uncertainty
from labbench.fitting.cli import fit as fit_cmd
from labbench.fitting.io import DataError
from labbench.instruments import Bench
from labbench.paths import BENCHES
from labbench.physics import load_device_model
from labbench.procedures import Retention
from labbench.runner import run_procedure


#: the exponential, state-independent drift of schema 2 (the form these fits recover)
OLD = {"tau": 1e5, "activation_energy": 1.1, "state_factor": 0.0, "relaxation": None}


def old_model():
    d = load_device_model().to_dict()
    d["retention"] = {**d["retention"], **OLD}
    return type(load_device_model()).model_validate(d)


def _bench_with(tmp, model):
    import yaml

    (tmp / "model.yaml").write_text(yaml.safe_dump(model.to_dict()))
    cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    cfg["chip"]["device_model"] = str(tmp / "model.yaml")
    (tmp / "bench.yaml").write_text(yaml.safe_dump(cfg))
    return tmp / "bench.yaml", tmp / "model.yaml"


@pytest.fixture(scope="module")
def run_csv(tmp_path_factory):
    """18 devices, reads log-spaced over 10⁶ s (10 τ), on the simulated SCPI bench (the
    exponential model)."""
    tmp = tmp_path_factory.mktemp("ret")
    bench, model = _bench_with(tmp, old_model())
    with Bench.from_yaml(bench) as b:
        df = run_procedure(Retention(cells="0:3,0:3", sides="+-", duration=1e6, points=20), b, None,
                           progress=False).data
    path = tmp / "retention.csv"
    df.to_csv(path, index=False)
    return path, model


def test_the_retention_procedure_measures_the_drift(run_csv):
    df = pd.read_csv(run_csv[0])
    first = df[df.read == 0].set_index("cell").conductance
    last = df[df.read == df.read.max()].set_index("cell").conductance
    assert (last < 0.3 * first).all()        # 10 τ: nearly back at the HRS


def test_labbench_fit_recovers_the_models_drift_within_its_intervals(run_csv, tmp_path):
    run_csv, model = run_csv
    truth = load_device_model(model).retention
    out = tmp_path / "fitted.yaml"
    r = CliRunner().invoke(fit_cmd, [str(run_csv), "--json", "-o", str(out), "--plot", str(tmp_path / "r.png"),
                                     "--device-model", str(model)])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output.strip().splitlines()[-1])
    assert s["model"] == "retention" and s["convergence"]["converged"] == s["convergence"]["devices"] == 18
    tau, d2d, level = s["params"]["tau"], s["params"]["tau_d2d"], s["params"]["level"]
    # stated tolerances: τ inside its 95 % interval and within 30 %; σ(ln τ) resolved, its
    # interval holding the truth, within 0.15; the level within 0.02 of the window
    assert tau["ci95"][0] <= truth.tau <= tau["ci95"][1] and tau["value"] == pytest.approx(truth.tau, rel=0.3)
    assert d2d["resolved"] and d2d["ci95"][0] <= truth.tau_d2d <= d2d["ci95"][1]
    assert abs(d2d["value"] - truth.tau_d2d) < 0.15
    assert abs(level["value"] - truth.level) < 0.02
    fitted = load_device_model(out)
    assert fitted.retention.tau == pytest.approx(tau["value"]) and fitted.fit["params"]["tau"]["ci95"]
    assert (tmp_path / "r.png").stat().st_size > 10_000


def _synthetic(rng, tau, n_devices=1, sigma=0.0, noise=0.01, t_max=1e6, points=20):
    t = np.concatenate([[0.0], np.logspace(0, math.log10(t_max), points - 1)])
    rows = []
    for d in range(n_devices):
        tau_d = tau * math.exp(sigma * rng.standard_normal())
        g0, ginf = 3e-5 * (1 + 0.1 * rng.standard_normal()), 2e-6
        g = (ginf + (g0 - ginf) * np.exp(-t / tau_d)) * (1 + noise * rng.standard_normal(t.size))
        rows += [{"cell": d, "time": ti, "conductance": gi} for ti, gi in zip(t, g)]
    return pd.DataFrame(rows)


def test_jacobian_intervals_hold_the_truth_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    hits, n = 0, 200
    for _ in range(n):
        df = _synthetic(rng, 1e5, points=12)
        f = fr.fit_device_retention(df.time.to_numpy(), df.conductance.to_numpy())
        lo, hi = uncertainty.t_interval(f.log_tau, f.se[2], f.dof)
        hits += lo <= math.log(1e5) <= hi
    assert 0.90 <= hits / n <= 0.99, hits / n


def test_d2d_sigma_intervals_hold_the_truth_95_percent_of_the_time():
    rng = np.random.default_rng(5)
    hits, n, sigma, fit_sd = 0, 2000, 0.3, 0.2
    for _ in range(n):   # per-device estimates: true spread plus each fit's own noise
        x = sigma * rng.standard_normal(12) + fit_sd * rng.standard_normal(12)
        lo, hi = uncertainty.sigma_interval(x, fit_sd ** 2)["ci95"]
        hits += lo <= sigma <= hi
    assert 0.93 <= hits / n <= 0.97, hits / n


def test_an_unresolved_spread_says_so_and_what_would_resolve_it():
    rng = np.random.default_rng(2)
    df = _synthetic(rng, 1e5, n_devices=4, sigma=0.0, noise=0.03, t_max=1e4, points=8)  # short run: τ ≫ data
    res = fr.fit_retention(df, old_model())
    d = res.params["tau_d2d"]
    assert d["resolved"] is False and d["n_devices"] == 4 and "not resolved by 4 devices" in d["note"]
    assert "would be resolved by about" in d["note"]
    assert res.device_model.retention.tau_d2d == old_model().retention.tau_d2d   # kept, not invented
    # more devices resolve a spread the fits' noise would hide
    assert uncertainty.devices_to_resolve(0.1, 0.2 ** 2) > uncertainty.devices_to_resolve(0.1, 0.05 ** 2) >= 3


def test_a_retention_csv_without_time_stamps_is_refused_with_what_is_needed(tmp_path):
    p = tmp_path / "r.csv"
    pd.DataFrame({"cell": [0, 0, 0, 0], "read": [0, 1, 2, 3],
                  "conductance": [3e-5, 2.9e-5, 2.8e-5, 2.7e-5]}).to_csv(p, index=False)
    assert fr.is_retention(p)
    with pytest.raises(DataError, match=r"time stamps.*'time'.*since programming"):
        fr.load_retention(p)
    r = CliRunner().invoke(fit_cmd, [str(p)])
    assert r.exit_code == 2 and "time stamps" in r.output


def test_an_unconverged_fit_exits_nonzero_unless_allowed(run_csv, tmp_path, monkeypatch):
    run_csv, model = run_csv
    real = fr.fit_device_retention

    def stuck(t, g):
        f = real(t, g)
        f.converged, f.message = False, "The maximum number of function evaluations is exceeded."
        return f

    monkeypatch.setattr(fr, "fit_device_retention", stuck)
    out = tmp_path / "m.yaml"
    r = CliRunner().invoke(fit_cmd, [str(run_csv), "-o", str(out), "--device-model", str(model)])
    assert r.exit_code == 2 and "did not converge" in r.output and not out.exists()
    r = CliRunner().invoke(fit_cmd, [str(run_csv), "-o", str(out), "--allow-unconverged", "--device-model", str(model)])
    assert r.exit_code == 0 and out.exists() and "unconverged" in r.output


def _baked(model, temperature, seed, rows=3, cols=3, points=14):
    """Retention reads of a chip programmed and then baked at ``temperature`` (direct Chip calls)."""
    from labbench.physics.chip import Chip
    from labbench.physics.models import SET

    c = Chip(model, rows, cols, seed=seed)
    idx = np.arange(c.size)
    c.pulse(idx, 30, SET)
    tau = fr.physics_retention.arrhenius(model.retention, temperature)
    times = np.concatenate([[0.0], np.logspace(math.log10(tau / 100), math.log10(tau * 10), points - 1)])
    rows_out, t_prev = [], 0.0
    for t in times:
        c.advance_time(t - t_prev, temperature=temperature)
        t_prev = t
        g = c.read_conductance(idx)
        rows_out += [{"cell": f"s{seed}d{i}", "time": t, "conductance": gi, "temperature": temperature}
                     for i, gi in enumerate(g)]
    return rows_out


def test_bakes_at_several_temperatures_recover_the_activation_energy():
    m = old_model()
    truth = m.retention
    # 50 devices per temperature: each group's mean ln τ carries the D2D sampling error
    # σ/√n (σ = 0.5), which is what the E_a interval is made of
    df = pd.DataFrame(_baked(m, 300.0, 1, 5, 5) + _baked(m, 330.0, 2, 5, 5) + _baked(m, 360.0, 3, 5, 5))
    r = fr.fit_retention(df, m)
    ea, tau = r.params["activation_energy"], r.params["tau"]
    # stated tolerances: E_a within its 95 % interval and 0.1 eV; τ at 300 K within its interval and 30 %
    assert ea["ci95"][0] <= truth.activation_energy <= ea["ci95"][1] and abs(ea["value"] - truth.activation_energy) < 0.1
    assert tau["ci95"][0] <= truth.tau <= tau["ci95"][1] and tau["value"] == pytest.approx(truth.tau, rel=0.3)
    assert r.device_model.retention.activation_energy == pytest.approx(ea["value"])
    assert len(r.params["tau_per_temperature"]) == 3 and r.params["tau_d2d"]["resolved"]


def test_the_relaxation_of_the_default_chip_is_recovered_within_its_intervals(tmp_path):
    """The default chip's post-program relaxation, measured with the retention procedure on
    the simulated bench (3 programmed levels, reads over 10⁵ s), fitted back."""
    truth = load_device_model().retention.relaxation
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        df = run_procedure(Retention(cells="0:5,0:3", sides="+-", duration=1e5, points=24, levels=3,
                                     set_pulses=48), b, None, progress=False).data
    path = tmp_path / "relax.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "fitted.yaml"
    r = CliRunner().invoke(fit_cmd, [str(path), "--json", "-o", str(out), "--plot", str(tmp_path / "r.png")])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output.strip().splitlines()[-1])
    rel = s["params"]["relaxation"]
    print({k: (v["value"], v["ci95"]) for k, v in rel.items() if isinstance(v, dict)})
    # stated tolerances: each parameter inside its 95 % interval; t0 and t_sat within ×3, the
    # σ_hrs within 0.05 (extrapolated from states w >~ 0.3), σ_lrs within 0.02 (48 devices)
    for k in ("t0", "t_sat", "sigma_hrs", "sigma_lrs"):
        assert rel[k]["ci95"][0] <= getattr(truth, k) <= rel[k]["ci95"][1], k
    assert truth.t0 / 3 < rel["t0"]["value"] < truth.t0 * 3 and truth.t_sat / 3 < rel["t_sat"]["value"] < truth.t_sat * 3
    assert abs(rel["sigma_hrs"]["value"] - truth.sigma_hrs) < 0.05 and abs(rel["sigma_lrs"]["value"] - truth.sigma_lrs) < 0.02
    fitted = load_device_model(out)
    assert fitted.retention.relaxation.t_sat == pytest.approx(rel["t_sat"]["value"])
    assert fitted.retention.tau == load_device_model().retention.tau          # long-term kept, and said
    assert any("long-term drift not fitted" in n for n in s["notes"])
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_bakes_at_three_temperatures_give_back_the_state_factor_ea_and_tau():
    """The default chip's long-term drift (state factor β, E_a, τ) from bakes at 200-250 °C,
    read through the read transistor as the procedure records it (issue 19: fittable)."""
    import warnings

    from labbench.physics.chip import Chip
    from labbench.physics.device_model import load_device_model

    dm = load_device_model()
    ret = dm.retention
    rows = []
    for k, temp in enumerate((473.0, 498.0, 523.0)):
        c = Chip(dm, 4, 2, seed=10 + k)
        idx = np.arange(c.size)
        c.pulse(idx, np.repeat([12, 24, 40, 64], 4), "set")
        tau = ret.tau * np.exp(-ret.activation_energy / 8.617333262e-5 * (1 / ret.t_ref_temperature - 1 / temp))
        last = 0.0
        for t in np.concatenate([[0.0], np.logspace(np.log10(tau / 30), np.log10(tau * 300), 15)]):
            c.advance_time(t - last, temperature=temp)
            last = t
            g = c.read_conductance(idx)
            rows += [{"cell": f"{temp}:{i}", "time": t, "conductance": float(g[i]), "temperature": temp,
                      "read_voltage": dm.read.voltage, "read_gate": dm.read.gate} for i in idx]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fr.fit_retention(pd.DataFrame(rows), dm)
    beta = fit.params["state_factor"]
    assert beta["resolved"] and beta["ci95"][0] <= ret.state_factor <= beta["ci95"][1]
    assert beta["ci95"][1] - beta["ci95"][0] < 0.5 * ret.state_factor
    ea = fit.params["activation_energy"]
    assert ea["ci95"][0] <= ret.activation_energy <= ea["ci95"][1] and ea["ci95"][1] - ea["ci95"][0] < 0.4
    lo, hi = fit.params["tau"]["ci95"]
    assert lo <= ret.tau <= hi
    assert fit.device_model.retention.state_factor == pytest.approx(beta["value"])
