"""The temperature role: a Lake Shore 335 on a heated chuck, wired to the chip's retention.

Set points are limit-checked before they are sent, the heater goes off with every other
output, the chuck heats and cools as a thermal mass in virtual time, a bake ages the chip as
its Arrhenius law says, and bakes at three temperatures measured on the bench fit the
activation energy the chip was given.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from labbench.instruments import Bench
from labbench.instruments.config import BenchConfig
from labbench.instruments.roles import SafetyError
from labbench.paths import resolve_bench
from labbench.physics.chip import Chip
from labbench.physics.device_model import load_device_model
from labbench.procedures import REGISTRY
from labbench.procedures.base import PlanError
from labbench.runner import run_procedure
from labbench.sim.lakeshore335 import LakeShore335Sim


@pytest.fixture
def bench():
    with Bench.from_yaml("sim") as b:
        yield b


def _sim_bench_dict():
    return yaml.safe_load(resolve_bench("sim").read_text())


def _config(tmp_path, edit):
    d = _sim_bench_dict()
    edit(d)
    p = tmp_path / "b.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_chuck_heats_settles_and_cools_in_virtual_time(bench):
    tc = bench.temperature_controller
    room = tc.temperature()
    assert abs(room - 300.0) < 0.1                      # the model's operating temperature
    tc.set_temperature(473.15, ramp=20.0)
    waited = tc.settle(bench, 473.15)
    # 173 K at 20 K/min is 520 s of ramp, then the approach and a minute's hold
    assert 520 < waited < 1200
    assert abs(tc.temperature() - 473.15) < 0.2
    assert bench.world.chip.temperature == pytest.approx(473.15, abs=0.3)
    bench.outputs_off()                                 # heater off: passive cooling, slower than heating
    bench.sleep(300)
    mid = tc.temperature()
    assert 300 < mid < 473.15 - 50
    bench.sleep(5000)
    assert abs(tc.temperature() - room) < 0.5
    assert bench.world.chip.temperature is None         # back at the room: the model's own


def test_set_point_beyond_the_limit_or_a_fast_ramp_is_refused_before_sending(bench):
    tc = bench.temperature_controller
    sim = bench.world.instruments["chuck"]
    for kelvin, ramp in ((600.0, None), (float("nan"), None), (-5.0, None), (450.0, 100.0), (math.inf, None)):
        with pytest.raises(SafetyError, match="nothing was sent"):
            tc.set_temperature(kelvin, ramp)
    assert sim.chuck.heater == 0 and sim.chuck.target == pytest.approx(300.0)


def test_heater_goes_off_with_the_outputs_and_at_close():
    with Bench.from_yaml("sim") as b:
        b.temperature_controller.set_temperature(400.0)
        sim = b.world.instruments["chuck"]
        assert sim.outputs_on() == ["loop1"]
        b.outputs_off()
        assert sim.outputs_on() == []
        b.temperature_controller.set_temperature(400.0)
    assert sim.outputs_on() == []                       # closing the bench switched it off


@pytest.mark.parametrize("edit, words", [
    (lambda d: d["instruments"]["chuck"].pop("chuck_rating"), "chuck_rating"),
    (lambda d: d["limits"]["chuck.loop1"].update(max_temperature=600.0), "above the chuck's rating"),
    (lambda d: (d["instruments"]["chuck"].update(chuck_rating=900.0),
                d["limits"]["chuck.loop1"].update(max_temperature=850.0)), "instrument's own rating"),
    (lambda d: d["limits"].pop("chuck.loop1"), "needs limits"),
    (lambda d: d["limits"]["chuck.loop1"].update(max_voltage=3.0), "takes max_temperature"),
    (lambda d: d["limits"]["smu.hi"].update(max_temperature=400.0), "temperature controller's loop only"),
    (lambda d: d["limits"]["chuck.loop1"].update(max_temperature=float("inf")), "finite"),
    (lambda d: d["instruments"]["smu"].update(chuck_rating=500.0), "temperature controller only"),
])
def test_bench_file_temperature_mistakes_name_the_key(tmp_path, edit, words):
    p = _config(tmp_path, edit)
    with pytest.raises(Exception) as e:
        BenchConfig.from_yaml(p)
    assert words in str(e.value), str(e.value)


def test_chip_set_temperature_ages_each_stretch_at_its_own_temperature():
    model = load_device_model(None)
    a, b = (Chip(model, 2, 4, seed=3) for _ in range(2))
    for c in (a, b):
        c.pulse(np.arange(c.size), 40, "set")
    # a: 100 s at the room, 200 s at 480 K, through set_temperature and the clock
    a.advance_to(100.0)
    a.set_temperature(480.0)
    a.advance_to(300.0)
    a.set_temperature(None)
    a.advance_to(300.0 + 1e-9)
    # b: the same history through advance_time's bake
    b.advance_time(100.0)
    b.advance_time(200.0, temperature=480.0)
    np.testing.assert_allclose(a.g, b.g, rtol=1e-5)
    fresh = Chip(model, 2, 4, seed=3)
    fresh.pulse(np.arange(fresh.size), 40, "set")
    fresh.advance_time(300.0)
    assert (a.g < fresh.g).mean() > 0.9                 # the bake aged it more than the room did
    with pytest.raises(ValueError, match="temperature"):
        a.set_temperature(-1.0)


def test_bake_without_a_chuck_or_beyond_its_limit_is_refused_before_the_run(tmp_path):
    def no_chuck(d):
        d["instruments"].pop("chuck")
        d["limits"].pop("chuck.loop1")

    with Bench.from_yaml(_config(tmp_path, no_chuck)) as b:
        with pytest.raises(PlanError, match="needs a temperature_controller"):
            run_procedure(REGISTRY["retention"](cells="0, 0", temperature=450.0), b, None, progress=False)
    with Bench.from_yaml("sim") as b:
        with pytest.raises(PlanError, match="max_temperature"):
            run_procedure(REGISTRY["retention"](cells="0, 0", temperature=560.0), b, None, progress=False)
        assert b.world.instruments["chuck"].chuck.heater == 0


def test_bakes_on_the_bench_fit_the_activation_energy_the_chip_has(tmp_path):
    from labbench.fitting.retention import fit_retention

    frames = []
    with Bench.from_yaml("sim") as b:
        for k, kelvin in enumerate((473.15, 498.15, 523.15)):
            p = REGISTRY["retention"](cells=f"{k}, 0:8", sides="+-", temperature=kelvin, duration=1e4,
                                      points=12, levels=4)
            res = run_procedure(p, b, None, progress=False)
            assert res.status == "finished"
            assert (res.data["temperature"] == kelvin).all()
            assert np.all(np.abs(res.data["chuck_temperature"] - kelvin) < 1.0)
            frames.append(res.data)
        assert b.world.instruments["chuck"].chuck.heater == 0   # each bake ends with the heater off
    import pandas as pd

    path = tmp_path / "bakes.csv"
    pd.concat(frames).to_csv(path, index=False)
    truth = load_device_model(None).retention
    fit = fit_retention(path, load_device_model(None))
    lo, hi = fit.params["activation_energy"]["ci95"]
    assert lo < truth.activation_energy < hi and hi - lo < 0.8, (lo, hi)   # 16 devices a bake
    tlo, thi = fit.params["tau"]["ci95"]
    assert tlo < truth.tau < thi


def test_one_bake_is_fitted_at_the_temperature_it_recorded(tmp_path):
    from labbench.fitting.io import DataError
    from labbench.fitting.retention import fit_retention

    with Bench.from_yaml("sim") as b:
        res = run_procedure(REGISTRY["retention"](cells="0, 0:6", temperature=498.15, duration=1e4, points=12,
                                                  levels=3), b, None, progress=False)
    path = tmp_path / "bake.csv"
    res.data.to_csv(path, index=False)
    fit = fit_retention(path, load_device_model(None))
    assert fit.temperature == pytest.approx(498.15)
    with pytest.raises(DataError, match="contradicts"):
        fit_retention(path, load_device_model(None), temperature=300.0)


def test_lakeshore_answers_in_its_own_words():
    sim = LakeShore335Sim(None, "ls", "GPIB0::12::INSTR")

    def ask(msg):
        sim.write(msg.encode())
        out, sim._out = sim._out, b""
        return out

    assert ask("*IDN?").startswith(b"LSCI,MODEL335")
    assert ask("KRDG? A").endswith(b"\r\n")
    for bad in ("SETP 1,abc", "RANGE 1,7", "KRDG? Z", "FOO 1", "SETP? 9", "RAMP 1,1"):
        ask(bad)
    esr = int(ask("*ESR?"))
    assert esr & (1 << 5)                             # command error, as the 335 reports it
    assert ask("SETP? 1").strip() != b""
    assert sim.chuck.heater == 0                      # nothing of the garbage switched it on


def test_bakes_state_the_temperatures_the_law_was_measured_over(tmp_path):
    import pandas as pd

    from labbench.fitting.retention import fit_retention

    frames = []
    with Bench.from_yaml("sim") as b:
        for k, kelvin in enumerate((473.15, 523.15)):
            p = REGISTRY["retention"](cells=f"{k}, 0:4", temperature=kelvin, duration=1e4, points=10, levels=2)
            frames.append(run_procedure(p, b, None, progress=False).data)
    path = tmp_path / "bakes.csv"
    pd.concat(frames).to_csv(path, index=False)
    dm = fit_retention(path, load_device_model(None)).device_model
    assert dm.retention.validated_temperature == pytest.approx((473.15, 523.15))
    assert "473.15-523.15 K" in dm.provenance["retention.validated_temperature"]
