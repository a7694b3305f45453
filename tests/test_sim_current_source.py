"""The simulated 2450 and 2636B source current into the chip, and read with a noise floor.

Current source: V where the level flows through transistor + cell, clamped at the voltage
limit (then in compliance: 2450 ``:SOUR:CURR:VLIM:TRIP?`` 1, 2600B
``smuX.source.compliance`` true).  Readings: offset + noise within the datasheets'
offset term per range (labbench.sim.current_source), never exactly 0.
"""
from __future__ import annotations


import numpy as np
import pytest
import yaml

from labbench.instruments.config import BenchConfig
from labbench.paths import BENCHES
from labbench.sim import SimWorld
from labbench.sim.current_source import K2450_CURRENT, K2450_VOLTAGE, K2636B_CURRENT, K2636B_VOLTAGE

from test_sim_drivers import SMALL
from test_sim_manual_behaviour import _query, _send

G_CELL = 40e-6      # S, a formed cell in its LRS
GATE = 1.8          # V on the word line


def _v_for(model, i):
    """V across the 1T1R cell that passes ``i`` through a G_CELL device at GATE: the device
    and lines (I/G') plus the transistor's V_DS in its linear region (physics.circuit)."""
    sw = model.switching
    vov, k = GATE - sw.v_gate_threshold, sw.transistor_k
    g_line = G_CELL / (1 + G_CELL * sw.on_resistance)
    return i / g_line + (vov - np.sqrt(vov * vov - i / k))


def _world(kind: str):
    if kind == "2450":
        w = BenchConfig.model_validate(SMALL).build_world()
        bl0 = "10111"                     # SMU (input 1) on BL0 = card 1 output 11
    else:
        w = BenchConfig.model_validate(yaml.safe_load((BENCHES / "sim_2600.yaml").read_text())).build_world()
        bl0 = "20101"                     # SMU channel A (input 1) on BL0 = card 2 output 1
    return w, bl0


def _route(w, bl0, gate=GATE):
    """Cell (0, 0, +) at G_CELL; the SMU on BL0, the 81160A's ch2 holding the gate on WL0, SL grounded."""
    idx = int(w.chip.flat(0, 0, 0))
    w.chip.g[idx] = G_CELL
    _send(w.instruments["matrix"], f":CLOS (@{bl0},10501,11448)")
    # high-impedance load setting: the word line (a gate) gets the level programmed
    _send(w.instruments["pg"], ":OUTP2:LOAD INF", f":APPL2:DC DEF, DEF, {gate}", ":OUTP2 ON")
    assert w.terminal_level("pg.ch2") == gate
    return idx


def _source_current(w, kind, level, vlimit):
    smu = w.instruments["smu"]
    if kind == "2450":
        _send(smu, ":SOUR:FUNC CURR", f":SOUR:CURR:VLIM {vlimit}", f":SOUR:CURR {level}", ":OUTP ON")
    else:
        _send(smu, f"smua.source.func = smua.OUTPUT_DCAMPS smua.source.limitv = {vlimit} "
                   f"smua.source.leveli = {level} smua.source.output = smua.OUTPUT_ON")


def _read_iv(w, kind) -> tuple[float, float, bool]:
    """(I, V, in compliance) as the instrument reports them."""
    smu = w.instruments["smu"]
    if kind == "2450":
        v = float(_query(smu, ":MEAS:VOLT?"))
        trip = _query(smu, ":SOUR:CURR:VLIM:TRIP?") == "1"
        i = float(_query(smu, ":MEAS:CURR?"))
        return i, v, trip
    i, v = (float(x) for x in _query(smu, "print(smua.measure.iv())").split("\t"))
    return i, v, _query(smu, "print(smua.source.compliance)") == "true"


def _errors(w):
    return {n: inst.errors.codes() for n, inst in w.instruments.items() if inst.errors.codes()}


def _v_offset(kind, v):
    table = K2450_VOLTAGE if kind == "2450" else K2636B_VOLTAGE
    r = min(r for r in table if r >= abs(v)) if abs(v) <= max(table) else max(table)
    return table[r][0]


@pytest.mark.parametrize("kind", ["2450", "2636B"])
def test_1uA_into_a_formed_cell_reads_v_equal_i_over_g(kind):
    w, bl0 = _world(kind)
    idx = _route(w, bl0)
    _source_current(w, kind, 1e-6, 2.0)
    i, v, trip = _read_iv(w, kind)
    assert not trip and _errors(w) == {}
    # transistor (its channel at this gate) + lines + cell in series, within the meter's offset
    assert v == pytest.approx(_v_for(w.chip.model, 1e-6), rel=0.02)
    # and exactly the voltage at which the chip (noise-free) passes 1 µA, within the meter's offset
    i_at_v = float(w.chip.current(idx, v, None, noisy=False, gate=GATE)[0])
    assert i_at_v == pytest.approx(1e-6, abs=G_CELL * _v_offset(kind, v))
    assert i == pytest.approx(1e-6, rel=1e-3)        # the source's own current, on the 1 µA range
    # a 26 mV read: nothing switched (its 1 ms only disturbs it, by ~1e-11 S)
    assert w.chip.g[idx] == pytest.approx(G_CELL, rel=1e-5)


@pytest.mark.parametrize("kind", ["2450", "2636B"])
@pytest.mark.parametrize("how", ["relay open", "no gate", "output into nothing"])
def test_open_circuit_sits_at_the_voltage_limit_in_compliance(kind, how):
    w, bl0 = _world(kind)
    _route(w, bl0, gate=0.0 if how == "no gate" else GATE)
    if how == "relay open":
        _send(w.instruments["matrix"], f":OPEN (@{bl0})")
    if how == "output into nothing":
        w = SimWorld()
        w.add("keithley2450" if kind == "2450" else "keithley2600b", "smu", "GPIB0::24::INSTR")
    _source_current(w, kind, 1e-6, 2.0)
    i, v, trip = _read_iv(w, kind)
    assert trip, "a current source into an open circuit is in compliance"
    assert v == pytest.approx(2.0, abs=_v_offset(kind, 2.0))
    assert abs(i) < 1e-9                               # no current flows: the meter's floor only
    assert _errors(w) == {}


@pytest.mark.parametrize("kind", ["2450", "2636B"])
def test_a_negative_level_into_an_open_line_sits_at_minus_the_limit(kind):
    w, bl0 = _world(kind)
    _route(w, bl0)
    _send(w.instruments["matrix"], f":OPEN (@{bl0})")
    _source_current(w, kind, -1e-6, 1.5)
    i, v, trip = _read_iv(w, kind)
    assert trip and v == pytest.approx(-1.5, abs=_v_offset(kind, 1.5))


@pytest.mark.parametrize("kind", ["2450", "2636B"])
def test_the_device_never_sees_more_than_the_voltage_limit(kind, monkeypatch):
    """1 mA into a cell in its HRS needs far more than the 0.6 V limit: the chip sees at most
    the limit, on every call (solver and bias), and the source is in compliance."""
    w, bl0 = _world(kind)
    idx = _route(w, bl0)
    w.chip.g[idx] = w.chip._gmin[idx]
    seen = []
    for name in ("current", "dc"):
        orig = getattr(w.chip, name)

        def spy(i, voltage, *a, _orig=orig, **k):
            seen.append(abs(voltage))
            return _orig(i, voltage, *a, **k)
        monkeypatch.setattr(w.chip, name, spy)
    _source_current(w, kind, 1e-3, 0.6)
    i, v, trip = _read_iv(w, kind)
    assert trip and seen and max(seen) <= 0.6
    assert v == pytest.approx(0.6, abs=_v_offset(kind, 0.6))
    assert 0 < i < 1e-3                                # what flows at the limit, far below the level


@pytest.mark.parametrize("kind", ["2450", "2636B"])
def test_a_cell_that_switches_under_the_source_is_read_on_its_new_state(kind):
    """50 µA into the HRS needs more than V_set: the bias SETs the cell (the source is its
    compliance), and the reading is consistent with the state after it, not before."""
    w, bl0 = _world(kind)
    idx = _route(w, bl0)
    w.chip.g[idx] = w.chip._gmin[idx]
    g0 = float(w.chip.g[idx])
    assert 50e-6 / g0 > 3.0                            # the HRS would need more than the limit
    _source_current(w, kind, 50e-6, 3.0)
    smu = w.instruments["smu"]
    v = float(_query(smu, ":MEAS:VOLT?") if kind == "2450" else _query(smu, "print(smua.measure.v())"))
    trip = _query(smu, ":SOUR:CURR:VLIM:TRIP?") == "1" if kind == "2450" else \
        _query(smu, "print(smua.source.compliance)") == "true"
    assert float(w.chip.g[idx]) > 2 * g0              # it switched
    assert not trip and 0 < v < 3.0
    i_at_v = float(w.chip.current(idx, v, None, noisy=False, gate=GATE)[0])
    assert i_at_v == pytest.approx(50e-6, abs=float(w.chip.g[idx]) * _v_offset(kind, v))


@pytest.mark.parametrize("kind", ["2450", "2636B"])
def test_output_off_readings_show_the_datasheet_noise_floor(kind):
    w, _ = _world(kind)
    smu = w.instruments["smu"]
    if kind == "2450":
        _send(smu, ":SENS:CURR:RANG 1e-7")           # fixed 100 nA range
        vals = np.array([float(_query(smu, ":MEAS:CURR?")) for _ in range(50)])
        off_spec, rms = K2450_CURRENT[1e-7]           # 100 pA offset, 500 fA RMS
        v = float(_query(smu, ":MEAS:VOLT?"))
        v_spec = K2450_VOLTAGE[0.02][0]
    else:
        _send(smu, "smua.measure.rangei = 1e-7")
        vals = np.array([float(_query(smu, "print(smua.measure.i())")) for _ in range(50)])
        off_spec, rms = K2636B_CURRENT[1e-7]          # 40 pA offset, noise of order pA
        v = float(_query(smu, "print(smua.measure.v())"))
        v_spec = K2636B_VOLTAGE[0.2][0]
    assert _errors(w) == {}
    assert np.all(vals != 0.0) and np.all(np.abs(vals) <= off_spec)
    assert 0.3 * rms < vals.std() < 2 * rms            # the noise is the datasheet's, per range
    assert v != 0.0 and abs(v) <= v_spec


@pytest.mark.parametrize("kind", ["2450", "2636B"])
def test_the_noise_floor_is_deterministic_per_bench(kind):
    def readings():
        w, _ = _world(kind)
        smu = w.instruments["smu"]
        q = ":MEAS:CURR?" if kind == "2450" else "print(smua.measure.i())"
        return [_query(smu, q) for _ in range(5)]

    assert readings() == readings()


# -- refused before the chip ------------------------------------------------------------------
@pytest.mark.parametrize("level", ["NAN", "INF", "-INF", "2", "-1.5", "1e3"])
def test_2450_refuses_a_bad_current_level(level):
    w, bl0 = _world("2450")
    _route(w, bl0)
    smu = w.instruments["smu"]
    _send(smu, ":SOUR:FUNC CURR", ":SOUR:CURR 1e-6", f":SOUR:CURR {level}")
    assert smu.errors.codes() in ([-104], [-222])
    assert float(_query(smu, ":SOUR:CURR?")) == 1e-6  # the level before stays


@pytest.mark.parametrize("limit", ["NAN", "INF", "300", "0.001", "-5"])
def test_2450_refuses_a_bad_voltage_limit(limit):
    smu = SimWorld().add("keithley2450", "smu", "GPIB0::24::INSTR")
    _send(smu, ":SOUR:FUNC CURR", f":SOUR:CURR:VLIM {limit}")
    assert smu.errors.codes() in ([-104], [-222])
    assert float(_query(smu, ":SOUR:CURR:VLIM?")) == 21.0


@pytest.mark.parametrize("script, word", [
    ("smua.source.leveli = 0/0", "finite"),
    ("smua.source.leveli = 1/0", "finite"),
    ("smua.source.leveli = -1/0", "finite"),
    ("smua.source.leveli = 2", "outside"),                # beyond the 1.5 A range
    ("smua.source.leveli = 2e-3", "bench limit"),         # beyond the bench's max_compliance 1 mA
    ("smua.source.limitv = 5", "bench limit"),            # beyond the bench's 3.5 V
    ("smua.source.limitv = 0/0", "finite"),
])
def test_2636b_refuses_a_bad_current_level_or_limit_before_the_chip(script, word, monkeypatch):
    w, bl0 = _world("2636B")
    idx = _route(w, bl0)
    calls = []
    monkeypatch.setattr(w.chip, "dc", lambda *a, **k: calls.append(a) or np.zeros(1))
    smu = w.instruments["smu"]
    _send(smu, "smua.source.func = smua.OUTPUT_DCAMPS smua.source.limitv = 1 smua.source.leveli = 1e-6")
    _send(smu, script + " smua.source.output = 1 print(smua.measure.v())")
    assert smu.errors.codes()[:1] == [-222]
    assert word in smu.errors.pop()
    assert calls == [] and w.chip.g[idx] == G_CELL     # nothing of it reached the chip
    assert _query(smu, "print(smua.source.leveli, smua.source.limitv)") == "1.00000e-06\t1.00000e+00"


# -- the SourceMeter role (drivers: PyMeasure 2450 and 2600), through the simulated benches ---
@pytest.mark.parametrize("bench_file", ["sim.yaml", "sim_2600.yaml"])
def test_source_meter_role_sources_current_and_reads_voltage(bench_file):
    import warnings

    from labbench.instruments import Bench

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        bench = Bench.from_yaml(BENCHES / bench_file)
    with bench as b:
        chip = b.world.chip
        idx = int(chip.flat(0, 0, 0))
        chip.g[idx] = G_CELL
        b._route_smu(0, 0, 0, "read")
        b._set_gate(GATE)
        sm = b.source_meter
        sm.source_current(1e-6, 2.0)
        sm.output(True)
        v, trip = sm.measure_voltage()
        assert not trip and v == pytest.approx(_v_for(chip.model, 1e-6), rel=0.02)
        b.switch_matrix.off()                          # every relay open: the SMU's line floats
        v, trip = sm.measure_voltage()
        assert trip and v == pytest.approx(2.0, abs=5e-3)
        sm.off()
        assert b.world.instruments["smu"].outputs_on() == []


@pytest.mark.parametrize("level, vlim, word", [
    (float("nan"), 1.0, "finite"), (float("inf"), 1.0, "finite"), (2e-3, 1.0, "max_compliance"),
    (-2e-3, 1.0, "max_compliance"), (1e-6, 5.0, "max_voltage"), (1e-6, float("nan"), "finite"),
    (1e-6, 0.0, "voltage limit")])
def test_source_meter_role_refuses_a_bad_current_before_sending(level, vlim, word, monkeypatch):
    from labbench.instruments import Bench
    from labbench.instruments.roles import SafetyError

    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        sent = []
        monkeypatch.setattr(b.source_meter.adapter, "source_current", lambda *a: sent.append(a))
        with pytest.raises(SafetyError, match=word):
            b.source_meter.source_current(level, vlim)
        assert sent == []
