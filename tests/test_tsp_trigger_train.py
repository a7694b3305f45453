"""The trigger-model pulse train (TspTriggerPulseTrain, ``tsp-trigger-pulse-train``): each
pulse timed by the 2600B's trigger model, each reading with its timestamp; the same chip
as the loop-based TSP train and as direct Chip calls; every limit, width and the train's
duration checked before anything is sent."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from labbench.instruments import Bench
from labbench.instruments.keithley2600 import TspPulseTrain, TspTriggerPulseTrain, call_chunk
from labbench.instruments.roles import SafetyError
from labbench.paths import BENCHES
from labbench.physics.chip import Chip
from labbench.physics.models import SET
from labbench.sim import SimWorld

pytestmark = pytest.mark.filterwarnings("ignore")


def _bench():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Bench.from_yaml(BENCHES / "sim_2600.yaml")


@pytest.fixture
def two():
    a, b = _bench(), _bench()
    yield a, b
    a.close()
    b.close()


def _widths(smu) -> list:
    seen = []
    real = smu.held

    def spy(ch, level):
        if level and ch.term == "hi":
            seen.append((level, round(smu.now() - ch._seg_start, 12)))
        return real(ch, level)

    smu.held = spy
    return seen


def test_the_trigger_model_train_and_the_loop_train_leave_identical_chips(two):
    """Same seed, same cells, same pulses: the trigger-model path, the loop-based path and
    direct Chip calls read the same conductances and leave bit-identical chips."""
    loop_bench, trig_bench = two
    chip = trig_bench.world.chip
    op = trig_bench.config.operating
    twin = Chip(chip.model, chip.rows, chip.cols, seed=trig_bench.config.chip.seed)
    twin.load_state_dict(chip.state_dict())
    loop, trig = TspPulseTrain(loop_bench), TspTriggerPulseTrain(trig_bench)
    widths = _widths(trig_bench.world.instruments["smu"])
    for r, c, s in [(5, 7, 0), (2, 3, 1), (5, 7, 0)]:
        g_loop = loop.run(r, c, s, 12)
        g_trig, t = trig.run_timed(r, c, s, 12)
        idx = twin.flat(r, c, s)
        g_chip = []
        for _ in range(12):
            twin.pulse(idx, 1, SET, amplitude=op.set.amplitude, width=op.set.width, gate=op.set.gate)
            g_chip.append(float(twin.current(idx, op.read_voltage, op.compliance,
                                             duration=chip.model.switching.dc_time)[0]) / op.read_voltage)
        assert np.array_equal(g_trig, g_loop) and np.allclose(g_trig, g_chip, rtol=1e-9)
        assert t[0] == 0 and np.all(np.diff(t) > 0)
    assert widths == [(op.set.amplitude, op.set.width)] * 36     # every pulse as wide as the timer
    for k, v in chip.state_dict().items():
        assert np.array_equal(v, loop_bench.world.chip.state_dict()[k]), k
        assert np.array_equal(v, twin.state_dict()[k]), k
    assert trig_bench.source_meter.adapter.errors() == [] and trig_bench.world.instruments["smu"].outputs_on() == []


def test_readings_are_timed_by_the_instrument_and_the_rehearsal_predicts_the_train(two):
    _, b = two
    trig = TspTriggerPulseTrain(b)
    op = b.config.operating
    trig.run(0, 0, 0, 2)                          # route once
    planned = trig.plan(64)
    n0, t0, bus0 = b.world.transactions, b.world.clock.now(), b.world.transport_time
    g, t = trig.run_timed(0, 0, 0, 64)
    spent = b.world.clock.now() - t0 - (b.world.transport_time - bus0)
    assert b.world.transactions - n0 == 2         # one call, one reply
    # a reading every pulse width + integration (NPLC at the 2636B's 50 Hz); the script's own
    # steps are charged when the chunk ends, not between the timestamps
    assert np.allclose(np.diff(t), op.set.width + op.nplc / 50, rtol=1e-9, atol=0)
    assert planned == pytest.approx(spent, rel=0.05)  # the rehearsal's duration is the train's (less the bus)


@pytest.mark.parametrize("kwargs, words", [
    ({"width": 2e-3}, "outside 1e-06..0.001 s"),           # above the bench's pulse-width limit (pg.ch1)
    ({"width": 5e-7}, "outside 1e-06..0.001 s"),           # below the timer's resolution
    ({"amplitude": 3.6}, "outside the limit"),
    ({"gate": 3.1}, "outside the limit"),
    ({"amplitude": float("nan")}, "finite"),
])
def test_a_trigger_train_outside_the_bench_limits_is_refused_before_it_is_sent(two, kwargs, words):
    _, b = two
    smu = b.world.instruments["smu"]
    smu.log = []
    with pytest.raises(SafetyError, match=f"{words}.*nothing was sent"):
        TspTriggerPulseTrain(b).run(0, 0, 0, 4, **kwargs)
    assert smu.log == []


def test_counts_times_widths_past_the_visa_timeout_are_refused_by_the_rehearsal(two):
    _, b = two
    smu = b.world.instruments["smu"]
    trig = TspTriggerPulseTrain(b)
    per = trig.plan(2, width=1e-3) - trig.plan(1, width=1e-3)
    assert per > 1e-3                             # each pulse's width and reading, as rehearsed
    n = int(0.8 * 2.0 / per) + 10                 # the session's VISA timeout is 2 s
    smu.log = []
    with pytest.raises(SafetyError, match=rf"{n} pulses take .* on the rehearsal, longer than the VISA timeout"):
        trig.run(0, 0, 0, n, width=1e-3)
    assert smu.log == []
    assert trig.plan(n - 20, width=1e-3) < 1.6  # a little shorter passes


def test_the_chunk_holds_its_width_limit_on_an_instrument_without_an_interlock():
    """A real 2600B knows nothing of the bench: the chunk's own check refuses a width the
    bench does not allow, before anything is sourced."""
    smu = SimWorld().add("keithley2600b", "smu", "GPIB0::26::INSTR")
    limits = {"hi": (3.5, 1e-3), "b": (3.0, 1e-3)}
    seen = _widths(smu)
    smu.write(call_chunk("ttrain", (4, 1.5, 5e-3, 1.2, 0.1, 1.8, 1e-4, 0.01), limits, 1e-3).encode() + b"\n")
    errors = []
    while len(smu.errors):
        errors.append(smu.errors.pop())
    assert len(errors) == 1 and "labbench: pulse width outside the bench limit" in errors[0]
    assert seen == [] and smu.outputs_on() == []


def test_the_procedure_records_timed_rows(tmp_path):
    from click.testing import CliRunner

    from labbench.cli import main

    db = tmp_path / "d.db"
    r = CliRunner().invoke(main, ["measure", "tsp-trigger-pulse-train", "--bench", "sim_2600", "-p", "cells=0, 0:2",
                                  "-p", "sides=+", "-p", "cycles=1", "-p", "pulses=8", "--db", str(db),
                                  "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "finished, 18 rows" in r.output
    r = CliRunner().invoke(main, ["measure", "tsp-trigger-pulse-train", "--bench", "sim_2600", "-p", "cells=0, 0",
                                  "-p", "pulses=20000", "--db", str(tmp_path / "e.db"), "--out", str(tmp_path)])
    assert r.exit_code != 0 and "longer than the VISA timeout" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "e.db").exists()
