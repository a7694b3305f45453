"""The simulated 2600B's trigger model (timers, blenders, the SMU's arm/trigger layers),
scripted as Keithley's application notes script a pulsed sweep: exact pulse widths on the
chip, timed readings, the bench's limits held, and a wait on a trigger that never comes
ending at the VISA timeout with the outputs off."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from labbench.instruments import Bench
from labbench.instruments.keithley2600 import TspPulseTrain
from labbench.paths import BENCHES
from labbench.physics.chip import Chip
from labbench.physics.models import SET

pytestmark = pytest.mark.filterwarnings("ignore")

PULSED = """
smub.source.func = 1 smub.source.limiti = 1e-3 smub.source.levelv = 1.2 smub.source.output = 1
smua.source.func = 1 smua.source.limiti = 1e-4 smua.source.levelv = 0 smua.measure.nplc = 0.01
smua.nvbuffer1.clear() smua.nvbuffer1.collecttimestamps = 1
trigger.timer[1].count = {n1} trigger.timer[1].delay = {period} trigger.timer[1].passthrough = true
trigger.timer[1].stimulus = {start}
trigger.timer[2].count = 1 trigger.timer[2].delay = {mdelay} trigger.timer[2].stimulus = trigger.timer[1].EVENT_ID
trigger.timer[3].count = 1 trigger.timer[3].delay = {width} trigger.timer[3].stimulus = trigger.timer[1].EVENT_ID
smua.trigger.source.{sweep}
smua.trigger.source.limiti = 1e-4
smua.trigger.measure.action = smua.ENABLE smua.trigger.measure.i(smua.nvbuffer1)
smua.trigger.endpulse.action = smua.SOURCE_IDLE
smua.trigger.count = {n}
smua.trigger.source.stimulus = trigger.timer[1].EVENT_ID
smua.trigger.measure.stimulus = trigger.timer[2].EVENT_ID
smua.trigger.endpulse.stimulus = trigger.timer[3].EVENT_ID
smua.trigger.source.action = smua.ENABLE
smua.source.output = 1
smua.trigger.initiate()
waitcomplete()
smua.source.output = 0 smub.source.output = 0
printbuffer(1, smua.nvbuffer1.n, smua.nvbuffer1.readings)
printbuffer(1, smua.nvbuffer1.n, smua.nvbuffer1.timestamps)
"""


@pytest.fixture
def bench():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Bench.from_yaml(BENCHES / "sim_2600.yaml") as b:
            TspPulseTrain(b).route(0, 0, 0)          # channel A on BL0, channel B on WL0
            yield b


def _run(smu, script: str):
    smu.write(("loadandrunscript\n" + script + "\nendscript\n").encode())
    replies = []
    while (r := smu.read()) is not None:
        replies.append(r.decode().strip())
    errors = []
    while len(smu.errors):
        errors.append(smu.errors.pop())
    return replies, errors


def _pulses(smu) -> list:
    seen = []
    real = smu.held

    def spy(ch, level):
        if level and ch.term == "hi":
            seen.append((level, round(smu.now() - ch._seg_start, 12)))
        return real(ch, level)

    smu.held = spy
    return seen


def test_a_timer_driven_pulsed_sweep_gives_exact_widths_and_timed_readings(bench):
    smu = bench.world.instruments["smu"]
    chip = bench.world.chip
    twin = Chip(chip.model, chip.rows, chip.cols, seed=chip.seed, formed=True)
    twin.load_state_dict(chip.state_dict())
    seen = _pulses(smu)
    n, period, width = 6, 1e-3, 8e-4
    replies, errors = _run(smu, PULSED.format(n1=n - 1, period=period, mdelay=5e-4, width=width, n=n,
                                             start="smua.trigger.ARMED_EVENT_ID",
                                             sweep="listv({" + ", ".join(["1.5"] * n) + "})"))
    assert errors == []
    readings = [float(x) for x in replies[0].split(",")]
    stamps = np.array([float(x) for x in replies[1].split(",")])
    assert len(readings) == n and np.allclose(np.diff(stamps), period)
    assert seen == [(1.5, width)] * n                       # each pulse as wide as timer 3 makes it
    idx = chip.flat(0, 0, 0)
    for _ in range(n):
        twin.pulse(idx, 1, SET, amplitude=1.5, width=width, gate=1.2)
    assert chip.g[idx] == twin.g[idx]                       # the same physics as n direct pulses
    assert smu.outputs_on() == []


def test_a_linear_staircase_is_measured_at_each_step(bench):
    smu = bench.world.instruments["smu"]
    script = ("smub.source.limiti = 1e-3 smub.source.levelv = 1.8 smub.source.output = 1 "
              "smua.source.limiti = 1e-4 smua.measure.nplc = 0.01 smua.nvbuffer1.clear() "
              "smua.trigger.source.linearv(0.02, 0.1, 5) smua.trigger.source.action = smua.ENABLE "
              "smua.trigger.measure.v(smua.nvbuffer1) smua.trigger.measure.action = smua.ENABLE "
              "smua.trigger.endpulse.action = smua.SOURCE_HOLD smua.trigger.count = 5 smua.source.output = 1 "
              "smua.trigger.initiate() smua.source.output = 0 smub.source.output = 0 "
              "printbuffer(1, 5, smua.nvbuffer1)")
    replies, errors = _run(smu, script)
    assert errors == []
    # measured voltages: the level within the 200 mV range's offset (2636B datasheet: 225 µV)
    assert np.allclose([float(x) for x in replies[0].split(",")], [0.02, 0.04, 0.06, 0.08, 0.1], rtol=0,
                       atol=225e-6)


def test_a_sweep_beyond_the_bench_limits_is_refused_when_it_is_configured(bench):
    smu = bench.world.instruments["smu"]
    seen = _pulses(smu)
    replies, errors = _run(smu, PULSED.format(n1=2, period=1e-3, mdelay=5e-4, width=8e-4, n=3,
                                             start="smua.trigger.ARMED_EVENT_ID", sweep="listv({1.5, 5.0, 1.5})"))
    assert errors and "outside the bench limit" in errors[0]
    assert all(level <= 3.5 for level, _ in seen)
    assert smu.outputs_on() == []


def test_a_sweep_waiting_on_a_trigger_that_never_comes_stops_at_the_visa_timeout(bench):
    smu = bench.world.instruments["smu"]
    t0 = smu.now()
    replies, errors = _run(smu, PULSED.format(n1=2, period=1e-3, mdelay=5e-4, width=8e-4, n=3,
                                             start="display.trigger.EVENT_ID", sweep="listv({1.5, 1.5, 1.5})"))
    assert replies == [] and errors and errors[0].startswith("-286")
    assert smu.now() - t0 >= smu.visa_timeout * 0.99        # it waited, as the instrument would
    assert smu.outputs_on() == []


def test_a_blender_fires_on_either_of_its_stimuli(bench):
    smu = bench.world.instruments["smu"]
    script = ("smua.source.limiti = 1e-4 smua.nvbuffer1.clear() smua.nvbuffer1.collecttimestamps = 1 "
              "trigger.timer[1].delay = 1e-3 trigger.timer[1].count = 1 trigger.timer[1].stimulus = smua.trigger.ARMED_EVENT_ID "
              "trigger.timer[2].delay = 3e-3 trigger.timer[2].count = 1 trigger.timer[2].stimulus = smua.trigger.ARMED_EVENT_ID "
              "trigger.blender[1].orenable = true trigger.blender[1].stimulus[1] = trigger.timer[1].EVENT_ID "
              "trigger.blender[1].stimulus[2] = trigger.timer[2].EVENT_ID "
              "smua.trigger.source.listv({0.05, 0.05}) smua.trigger.source.action = smua.ENABLE "
              "smua.trigger.source.stimulus = trigger.blender[1].EVENT_ID smua.trigger.measure.i(smua.nvbuffer1) "
              "smua.trigger.measure.action = smua.ENABLE smua.trigger.count = 2 smua.source.output = 1 "
              "smua.trigger.initiate() smua.source.output = 0 printbuffer(1, 2, smua.nvbuffer1.timestamps)")
    replies, errors = _run(smu, script)
    assert errors == []
    t = [float(x) for x in replies[0].split(",")]
    assert t[1] - t[0] == pytest.approx(2e-3, abs=1e-4)     # the second point waits for timer 2


def test_kisweep_factory_sweeps_fill_the_buffer_with_readings_sources_and_times(bench):
    smu = bench.world.instruments["smu"]
    _run(smu, "smub.source.limiti = 1e-3 smub.source.levelv = 1.8 smub.source.output = 1 "
              "smua.source.limiti = 1e-4 smua.measure.nplc = 0.01")
    replies, errors = _run(smu, "SweepVLinMeasureI(smua, 0, 0.1, 1e-3, 5) "
                                "printbuffer(1, smua.nvbuffer1.n, smua.nvbuffer1.sourcevalues) "
                                "printbuffer(1, smua.nvbuffer1.n, smua.nvbuffer1) print(smua.source.output)")
    assert errors == []
    assert np.allclose([float(x) for x in replies[0].split(",")], [0, 0.025, 0.05, 0.075, 0.1])
    currents = [float(x) for x in replies[1].split(",")]
    # at 0 V the meter reads its floor (10 nA range, lowrangei: 2636B offset 3 pA), then a resistor-like cell
    assert abs(currents[0]) <= 3e-12 and all(b > a for a, b in zip(currents, currents[1:]))
    assert replies[2] == "0.00000e+00"                                                 # output off after
    replies, errors = _run(smu, "SweepVListMeasureI(smua, {0.1, 0.05}, 0, 2) printbuffer(1, 2, smua.nvbuffer1)")
    assert errors == [] and len(replies[0].split(",")) == 2
    _, errors = _run(smu, "SweepVLinMeasureI(smua)")
    assert errors and "startv is missing" in errors[0]


def test_kipulse_gives_timed_pulses_measured_at_their_end(bench):
    smu = bench.world.instruments["smu"]
    seen = _pulses(smu)
    _run(smu, "smub.source.limiti = 1e-3 smub.source.levelv = 1.2 smub.source.output = 1 "
              "smua.source.limiti = 1e-4 smua.measure.nplc = 0.01")
    replies, errors = _run(smu, "PulseVMeasureI(smua, 0, 1.5, 1e-3, 4e-3, 3) "
                                "printbuffer(1, smua.nvbuffer1.n, smua.nvbuffer1.timestamps) "
                                "smua.source.output = 0 smub.source.output = 0")
    assert errors == []
    stamps = [float(x) for x in replies[0].split(",")]
    assert np.allclose(np.diff(stamps), 5e-3) and seen == [(1.5, 1e-3)] * 3


def test_factory_sweeps_beyond_the_bench_limits_are_refused(bench):
    smu = bench.world.instruments["smu"]
    seen = _pulses(smu)
    _, errors = _run(smu, "SweepVLinMeasureI(smua, 0, 5, 0, 3)")
    assert errors and "outside the bench limit" in errors[0]
    _, errors = _run(smu, "PulseVMeasureI(smua, 0, 9, 1e-3, 1e-3, 2)")
    assert errors and "outside the bench limit" in errors[0]
    assert all(level <= 3.5 for level, _ in seen) and smu.outputs_on() == []


# -- KIPulse's configured trains -----------------------------------------------------------
def _setup(smu):
    _run(smu, "smub.source.limiti = 1e-3 smub.source.levelv = 1.2 smub.source.output = 1 "
              "smua.source.limiti = 1e-4 smua.measure.nplc = 0.01 smua.nvbuffer1.clear() "
              "smua.nvbuffer1.collecttimestamps = 1 smua.nvbuffer1.collectsourcevalues = 1")


def test_config_pulse_v_measure_i_then_initiate_gives_the_configured_train(bench):
    smu = bench.world.instruments["smu"]
    chip = bench.world.chip
    twin = Chip(chip.model, chip.rows, chip.cols, seed=chip.seed, formed=True)
    twin.load_state_dict(chip.state_dict())
    _setup(smu)
    seen = _pulses(smu)
    replies, errors = _run(smu, "f1, m1 = ConfigPulseVMeasureI(smua, 0, 1.5, 1e-4, 1e-3, 4e-3, 4, smua.nvbuffer1, 7) "
                                "print(f1, m1) print(QueryPulseConfig(7).tostring()) "
                                "f2, m2 = InitiatePulseTest(7) print(f2, m2) "
                                "printbuffer(1, smua.nvbuffer1.n, smua.nvbuffer1.timestamps) "
                                "printbuffer(1, smua.nvbuffer1.n, smua.nvbuffer1.sourcevalues) "
                                "print(smua.source.output, smua.source.levelv, smua.source.limiti) "
                                "smua.source.output = 0 smub.source.output = 0")
    assert errors == []
    assert replies[0].startswith("true\t")
    assert "type = pulse" in replies[1] and "time on = 0.001" in replies[1] and "{ 1.5, 1.5, 1.5, 1.5 }" in replies[1]
    assert replies[-4].startswith("true\t")
    stamps = [float(x) for x in replies[-3].split(",")]
    assert len(stamps) == 4 and np.allclose(np.diff(stamps), 5e-3)        # ton + toff apart, one reading per pulse
    assert np.allclose([float(x) for x in replies[-2].split(",")], 1.5)   # each measured at its pulse's level
    assert replies[-1].split("\t") == ["1.00000e+00", "0.00000e+00", "1.00000e-04"]   # on, at the bias, the limit
    assert seen == [(1.5, 1e-3)] * 4                                      # exact widths on the chip
    idx = chip.flat(0, 0, 0)
    for _ in range(4):
        twin.pulse(idx, 1, SET, amplitude=1.5, width=1e-3, gate=1.2)
    assert chip.g[idx] == twin.g[idx]


def test_configured_sweeps_step_their_levels_linearly_and_logarithmically(bench):
    smu = bench.world.instruments["smu"]
    _setup(smu)
    replies, errors = _run(smu, "ConfigPulseVMeasureISweepLin(smua, 0, 0.02, 0.1, 1e-4, 1e-3, 1e-3, 5, smua.nvbuffer1, 1) "
                                "InitiatePulseTest(1) printbuffer(1, 5, smua.nvbuffer1.sourcevalues) "
                                "smua.nvbuffer1.clear() "
                                "ConfigPulseVMeasureISweepLog(smua, 0, 0.01, 1, 1e-4, 1e-3, 1e-3, 3, smua.nvbuffer1, 2) "
                                "InitiatePulseTest(2) printbuffer(1, 3, smua.nvbuffer1.sourcevalues) "
                                "smua.source.output = 0 smub.source.output = 0")
    assert errors == []
    assert np.allclose([float(x) for x in replies[0].split(",")], [0.02, 0.04, 0.06, 0.08, 0.1])
    assert np.allclose([float(x) for x in replies[1].split(",")], [0.01, 0.1, 1.0])


@pytest.mark.parametrize("call, words", [
    ("ConfigPulseVMeasureI(smua, 0, 1.5, 1e-4, 1e-3, 1e-3, 4, smua.nvbuffer1)", "tag is missing"),
    ("ConfigPulseVMeasureI(smua, 0, 1.5, 1e-4, 1e-3, 1e-3, 0, smua.nvbuffer1, 1)", "points must be"),
    ("ConfigPulseVMeasureI(smua, 0, 1.5, 1e-4, 1e-7, 1e-3, 4, nil, 1)", "ton must be"),
    ("ConfigPulseVMeasureI(smua, 0, 1.5, 1e-4, 1e-5, 1e-3, 4, smua.nvbuffer1, 1)", "shorter than one measurement"),
    ("ConfigPulseVMeasureI(smua, 0, 1.5, 5, 1e-3, 1e-3, 4, nil, 1)", "limit must be"),
    ("ConfigPulseVMeasureI(smua, 0, 1.5, 1e-4, 1e-3, 1e-3, 4, {}, 1)", "reading buffer"),
    ("ConfigPulseVMeasureI(smua, 0, 150, 1, 1e-3, 1e-3, 4, nil, 1)", "operating area"),
    ("ConfigPulseIMeasureVSweepLog(smua, 0, -1e-3, 1e-3, 1, 1e-3, 1e-3, 4, nil, 1)", "one sign"),
    ("ConfigPulseVMeasureI(smua, 0, 1.5, 1e-4, 1e-3, 1e-3, 4, nil, 1, 99)", "digital I/O line"),
    ("InitiatePulseTest(42)", "no pulse train is configured with tag 42"),
])
def test_pulse_dimensions_that_cannot_be_achieved_are_refused_with_a_message(bench, call, words):
    smu = bench.world.instruments["smu"]
    seen = _pulses(smu)
    replies, errors = _run(smu, f"smua.measure.nplc = 1 f, m = {call} print(f, m)")
    assert errors == [] and replies[0].startswith("false\t") and words in replies[0], replies
    assert seen == []


def test_a_configured_train_beyond_the_bench_limits_is_refused_before_any_level_is_sourced(bench):
    smu = bench.world.instruments["smu"]
    _setup(smu)
    seen = _pulses(smu)
    replies, errors = _run(smu, "print(ConfigPulseVMeasureISweepLin(smua, 0, 1, 9, 1e-4, 1e-3, 1e-3, 3, nil, 1)) "
                                "InitiatePulseTest(1)")
    assert replies[0].startswith("true")           # within the instrument's ranges: configured
    assert errors and "outside the bench limit" in errors[0]
    assert seen == [] and smu.outputs_on() == []


def test_a_train_waiting_on_a_sync_in_trigger_that_never_comes_stops_at_the_visa_timeout(bench):
    smu = bench.world.instruments["smu"]
    _setup(smu)
    seen = _pulses(smu)
    t0 = smu.now()
    replies, errors = _run(smu, "ConfigPulseVMeasureI(smua, 0, 1.5, 1e-4, 1e-3, 1e-3, 4, smua.nvbuffer1, 1, 2, 0, 60) "
                                "print(InitiatePulseTest(1))")
    assert replies == [] and errors and errors[0].startswith("-286") and "VISA timeout" in errors[0]
    assert smu.now() - t0 >= smu.visa_timeout * 0.99
    assert seen == [] and smu.outputs_on() == []
    replies, _ = _run(smu, "ConfigPulseVMeasureI(smua, 0, 1.5, 1e-4, 1e-3, 1e-3, 4, nil, 2, 2, 0, 0.1, true) "
                           "print(InitiatePulseTest(2))")
    assert replies[0].startswith("false\t") and "timer timeout" in replies[0]
