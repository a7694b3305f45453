"""The TSP path's two safety layers (docs/tsp-safety.md), each tested against the
hold-out's bypass patterns on its own:

1. what labbench sends: generated, self-contained chunks that check every level they
   compute against limits written into them, so they are safe on a real 2600B, which
   has no idea of the bench file;
2. the simulated 2600B's interlock: the bench file's limits held on the instrument path
   itself, whatever a client's script does (pcall, globals, branches, reset()).
"""
from __future__ import annotations

import warnings

import pytest

from labbench.instruments import Bench
from labbench.instruments.keithley2600 import TspPulseTrain, call_chunk
from labbench.paths import BENCHES
from labbench.sim import SimWorld
from tests.test_sim_keithley2600b import bench2600  # noqa: F401 - fixture

pytestmark = pytest.mark.filterwarnings("ignore:It is not known whether this device support")
VMAX_A, VMAX_B, IMAX = 3.5, 3.0, 1e-3   # benches/sim_2600.yaml: smu.hi, smu.b


@pytest.fixture
def bench(bench2600):  # noqa: F811 - the imported fixture
    return bench2600


def _watch(smu) -> dict[str, float]:
    """Largest |level| each channel put on its line (pulses held, and DC biases read)."""
    seen = {"hi": 0.0, "b": 0.0}
    held, current_at = smu.held, smu.current_at

    def on_held(ch, level):
        if level is not None:
            seen[ch.term] = max(seen[ch.term], abs(level))
        return held(ch, level)

    def on_read(ch, v, limit, *more):
        seen[ch.term] = max(seen[ch.term], abs(v))
        return current_at(ch, v, limit, *more)

    smu.held, smu.current_at = on_held, on_read
    return seen


def _errors(smu) -> list[str]:
    out = []
    while len(smu.errors):
        out.append(smu.errors.pop())
    return out


# what a client (another tool, a colleague's script) writes straight to the instrument
BYPASSES = {
    "global state across chunks": ["x_lb = 50", "smua.source.output = 1; if x_lb then smua.source.levelv = x_lb end"],
    "data-dependent branch": ["smua.source.output = 1; smua.source.levelv = 0.1; "
                              "if smua.measure.i() >= 0 then smua.source.levelv = 50 end"],
    "time-dependent branch": ["timer.reset(); smua.source.output = 1; delay(2e-3); "
                              "if timer.measure.t() > 1e-3 then smua.source.levelv = 50 end"],
    "inside pcall": ["smua.source.output = 1; pcall(function() smua.source.levelv = 50 end)"],
    "replacing the guard": ["localnode._inst.guard = function() end",
                            "smua.source.output = 1; smua.source.levelv = 50"],
    "current mode voltage limit": ["smua.source.func = smua.OUTPUT_DCAMPS; smua.source.limitv = 200; "
                                   "smua.source.leveli = 1e-4; smua.source.output = 1"],
    "current mode with the default limitv": ["smub.source.func = smub.OUTPUT_DCAMPS; smub.source.leveli = 1e-4; "
                                             "smub.source.output = 1"],
    "compliance above the bench": ["smua.source.limiti = 0.1"],
    "gate channel": ["smub.source.output = 1; smub.source.levelv = 3.2"],
    "redefined labbench names": ["function labbench_pulse() smua.source.levelv = 10 end; "
                                 "function pulse() smua.source.levelv = 10 end; "
                                 "function within(v) return v end; function setup() end"],
}


@pytest.mark.parametrize("messages", BYPASSES.values(), ids=BYPASSES.keys())
def test_the_simulated_2600b_holds_the_bench_limits_whatever_a_script_does(bench, messages):
    smu = bench.world.instruments["smu"]
    seen = _watch(smu)
    for m in messages:
        smu.write(m.encode() + b"\n")
    smu.write(b"smua.source.levelv = 0; smub.source.levelv = 0")
    assert seen["hi"] <= VMAX_A and seen["b"] <= VMAX_B, seen
    assert smu.smua.source.limiti <= IMAX and smu.smub.source.limiti <= IMAX
    assert smu.smua.source.limitv <= VMAX_A and smu.smub.source.limitv <= VMAX_B
    # and what labbench sends afterwards is unaffected by what the client left behind
    g = TspPulseTrain(bench).run(0, 0, 0, 4)
    assert g.shape == (4,) and (g > 0).all()
    assert seen["hi"] <= VMAX_A and seen["b"] <= VMAX_B, seen
    assert smu.outputs_on() == []


def test_a_refused_attempt_is_in_the_queue_even_under_pcall(bench):
    smu = bench.world.instruments["smu"]
    _errors(smu)
    smu.write(b"pcall(function() smua.source.levelv = 50 end)\n")
    errors = _errors(smu)
    assert len(errors) == 1 and "outside the bench limit" in errors[0]


def test_reset_brings_the_compliance_inside_the_bench_limits(bench):
    smu = bench.world.instruments["smu"]
    for text in (b"reset()", b"smua.reset(); smub.reset()", b"*RST", b"localnode.reset()"):
        smu.write(text + b"\n")
        for ch in (smu.smua, smu.smub):
            assert ch.source.limiti <= IMAX, (text, ch.name)
            assert ch.source.limitv <= (VMAX_A if ch.term == "hi" else VMAX_B), (text, ch.name)


def test_generated_chunks_are_self_contained_and_set_limits_before_outputs_go_on(bench):
    limits = bench.config.interlock_limits("smu", ("hi", "b"))
    for fn, args in (("train", (4, 1.5, 1e-6, 1.2, 0.1, 1.8, 1e-4, 0.01)),
                     ("program", (8, 1e-6, 1.5, 1e-6, 1.2, 0.1, 1.8, 1e-4, 0.01))):
        chunk = call_chunk(fn, args, limits)
        assert chunk.startswith("loadandrunscript\n") and chunk.endswith("\nendscript")
        body = chunk.split("\n", 1)[1]
        # every function is a local of this chunk: nothing global is defined or relied on
        assert "\nfunction " not in "\n" + body and "local function " + fn in body
        on = body.index("A.output = 1 B.output = 1")
        assert "local A, B, M = smua.source, smub.source, smua.measure" in body
        for setting in ("A.limitv = VA", "B.limitv = VB", "A.limiti = il", "B.limiti = IB"):
            assert body.index(setting) < on, setting
        assert "local VA, IA, VB, IB = 3.5, 0.001, 3.0, 0.001" in body


@pytest.mark.parametrize("args, what", [
    ((4, 3.6, 1e-6, 1.2, 0.1, 1.8, 1e-4, 0.01), "amplitude"),
    ((4, 1.5, 1e-6, 3.2, 0.1, 1.8, 1e-4, 0.01), "gate"),
    ((4, 1.5, 1e-6, 1.2, 0.1, 1.8, 1e-2, 0.01), "compliance"),
    ((4, 1.5, 1e-6, 1.2, float("nan"), 1.8, 1e-4, 0.01), "read voltage"),
])
def test_a_generated_chunk_holds_its_limits_on_an_instrument_without_an_interlock(args, what):
    """A real 2600B knows nothing of the bench file: the chunk's own checks are what hold.
    Here the chunk is sent with a bad value on purpose, to an instrument without limits."""
    w = SimWorld()
    smu = w.add("keithley2600b", "smu", "GPIB0::26::INSTR")
    seen = _watch(smu)
    limits = {"hi": (VMAX_A, IMAX), "b": (VMAX_B, IMAX)}
    text = call_chunk("train", args, limits).replace("nan", "0/0")
    smu.write(text.encode() + b"\n")
    errors = _errors(smu)
    assert len(errors) == 1 and f"labbench: {what} outside the bench limit" in errors[0], errors
    assert seen == {"hi": 0.0, "b": 0.0}      # every level is checked before anything is sourced
    assert smu.outputs_on() == []


def test_outputs_are_off_after_a_tsp_run_and_when_the_bench_closes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = Bench.from_yaml(BENCHES / "sim_2600.yaml")
    smu = b.world.instruments["smu"]
    train = TspPulseTrain(b)
    train.run(0, 0, 0, 8)
    assert smu.outputs_on() == []
    train.program(0, 1, 0, 1e-6, 4)
    assert smu.outputs_on() == []
    smu.write(b"smua.source.output = 1; smub.source.output = 1\n")   # a client left them on
    b.close()
    assert smu.outputs_on() == []
