"""Read disturb, measured and fitted: stress reads on the simulated bench climb as the chip's
kinetics say, the fit recovers the factor the chip was given (1 and 4), a campaign with a
read-disturb step fits the block from its run, and the closure test compares the climb."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from labbench.cli import main as cli
from labbench.closure import campaign_observables
from labbench.fitting.read_disturb import fit_read_disturb
from labbench.instruments import Bench
from labbench.paths import resolve_bench
from labbench.physics.device_model import load_device_model
from labbench.procedures import REGISTRY
from labbench.procedures.read_disturb import checkpoints
from labbench.runner import run_procedure

CELLS = "0:8, 0"    # 8 cells x 2 sides: 16 devices


def _bench_with_factor(tmp_path, factor: float):
    """The shipped simulated bench on a copy of its model whose read disturb is ``factor``."""
    model = load_device_model(None)
    model = model.model_copy(update={"read_disturb": model.read_disturb.model_copy(update={"factor": factor})})
    mf = tmp_path / f"model_{factor:g}.yaml"
    model.to_yaml(mf)
    raw = yaml.safe_load(resolve_bench("sim").read_text())
    raw["chip"] = {**raw["chip"], "device_model": str(mf)}
    bf = tmp_path / f"bench_{factor:g}.yaml"
    bf.write_text(yaml.safe_dump(raw))
    return bf, model


def _stress(bench_file, reads=200):
    proc = REGISTRY["read-disturb"](cells=CELLS, sides="+-", stress_voltage=0.25, stress_reads=reads, points=6)
    with Bench.from_yaml(bench_file) as b:
        return run_procedure(proc, b, None, progress=False).data


def test_checkpoints_start_at_zero_and_end_at_the_stress():
    n = checkpoints(300, 8)
    assert n[0] == 0 and n[-1] == 300 and np.all(np.diff(n) > 0) and len(n) == 8
    assert checkpoints(1, 5).tolist() == [0, 1]


@pytest.mark.parametrize("factor", [1.0, 4.0])
def test_the_fit_recovers_the_chips_read_disturb_factor(tmp_path, factor):
    bf, truth = _bench_with_factor(tmp_path, factor)
    df = _stress(bf)
    assert len(df) == 16 * 6 and set(df.checkpoint) == set(range(6))
    climb = df.sort_values("stress_reads").groupby("cell")["conductance"].agg(lambda g: g.iloc[-1] / g.iloc[0])
    assert climb.median() > 1.2                                   # the stress moved every device up
    assert (df[df.stress_reads > 0].stress_current > 0).all()     # each stress read's current is recorded
    fit = fit_read_disturb(df, truth, source="test")
    lo, hi = fit.factor["ci95"]
    assert fit.factor["resolved"] and lo <= factor <= hi, fit.factor
    assert hi / lo < 1.6                                          # 16 devices pin it to about +-20 %
    assert fit.device_model.read_disturb.factor == pytest.approx(fit.factor["value"])
    assert fit.device_model.provenance["read_disturb"].startswith("fitted from test")


def test_a_stronger_disturb_climbs_further_and_fits_apart(tmp_path):
    weak = _stress(_bench_with_factor(tmp_path, 1.0)[0], reads=100)
    strong = _stress(_bench_with_factor(tmp_path, 4.0)[0], reads=100)
    base = load_device_model(None)
    f1, f4 = fit_read_disturb(weak, base).factor, fit_read_disturb(strong, base).factor
    assert f1["ci95"][1] < f4["ci95"][0]                          # the intervals do not overlap
    obs1 = campaign_observables({"read-disturb": [weak]})["read_disturb_climb"]
    obs4 = campaign_observables({"read-disturb": [strong]})["read_disturb_climb"]
    assert len(obs1) == 16 and np.median(obs4) > np.median(obs1)


def test_labbench_fit_reads_a_read_disturb_csv(tmp_path):
    df = _stress(resolve_bench("sim"), reads=100)
    csv = tmp_path / "rd.csv"
    df.to_csv(csv, index=False)
    out, png = tmp_path / "m.yaml", tmp_path / "m.png"
    r = CliRunner().invoke(cli, ["fit", str(csv), "-o", str(out), "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert "model: read disturb" in r.output and "factor =" in r.output
    m = load_device_model(out)
    assert m.read_disturb.model == "kinetics" and 0.5 < m.read_disturb.factor < 2
    assert png.stat().st_size > 10_000


def test_a_campaign_fits_read_disturb_from_its_own_run(tmp_path):
    from labbench.characterize import load_plan, run_campaign
    from labbench.characterize.fit import fit_campaign, write_report

    plan = {"name": "rd", "fit": {"model": "neurosim"}, "steps": [
        {"name": "trains", "procedure": "pulse-train",
         "params": {"cells": "0:4, 0:2", "sides": "+-", "cycles": 2, "pulses": 64}},
        {"name": "stress", "procedure": "read-disturb",
         "params": {"cells": "25, 0:8", "sides": "+-", "stress_reads": 150, "points": 5}}]}
    pf = tmp_path / "plan.yaml"
    pf.write_text(yaml.safe_dump(plan, sort_keys=False))
    out = tmp_path / "out"
    res = run_campaign(load_plan(pf), resolve_bench("sim"), out, out / "labbench.db", progress=False,
                       echo=lambda *_: None)
    fit = fit_campaign(res, load_device_model(None), name="rd", model="neurosim")
    prov = fit.device_model.provenance["read_disturb"]
    assert prov.startswith("fitted from campaign 'rd' runs 2"), prov
    lo, hi = fit.read_disturb.factor["ci95"]
    # the pulse-only fit's kinetics are the base model's (no sweep), so the factor is the chip's 1
    assert lo <= 1.0 <= hi
    write_report(fit, res, res.out)
    text = (res.out / "report.md").read_text()
    assert "## Read disturb" in text and (res.out / "fit_read_disturb.png").exists()
    assert "read_disturb: inherited" not in text


# -- the I-V shape (read and energy) from the sub-threshold ramps of an I-V sweep ----------
def _iv(bench_file):
    proc = REGISTRY["iv-sweep"](cells="20, 0:4", sides="+-", gates="1.0, 1.5", points=30, cycles=1)
    with Bench.from_yaml(bench_file) as b:
        return run_procedure(proc, b, None, progress=False).data


@pytest.mark.parametrize("truth", ["linear", 0.25])
def test_the_iv_shape_fit_tells_linear_from_sinh(tmp_path, truth):
    from labbench.fitting.iv_shape import fit_iv_shape

    bench_file = resolve_bench("sim")
    if truth != "linear":
        model = load_device_model(None)
        model = model.model_copy(update={"read": model.read.model_copy(update={"iv": "sinh", "v0": truth})})
        mf = tmp_path / "sinh.yaml"
        model.to_yaml(mf)
        raw = yaml.safe_load(resolve_bench("sim").read_text())
        raw["chip"] = {**raw["chip"], "device_model": str(mf)}
        bench_file = tmp_path / "b.yaml"
        bench_file.write_text(yaml.safe_dump(raw))
    fit = fit_iv_shape(_iv(bench_file), load_device_model(None), source="t")
    dm = fit.device_model
    if truth == "linear":
        assert fit.iv == "linear" and dm.read.iv == "linear" and dm.energy.iv == "linear"
        assert "is ruled out" in dm.provenance["energy"]
    else:
        assert fit.iv == "sinh" and dm.read.iv == "sinh" and dm.energy.iv == "sinh"
        # within 5 %: the ramp's own read disturb (~1 % over the ramp) reads as a little curvature
        assert fit.v0 == pytest.approx(truth, rel=0.05)
        assert dm.energy.v0 == dm.read.v0 == fit.v0
