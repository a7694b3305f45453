"""Program-verify as one generated TSP script per cell (issue 24): it converges as the cell-
by-cell face does in a tenth of the instrument time, its rows have the same form, it is safe
by construction on an instrument that knows no bench file, and what it cannot do (a full
RESET between pulses) is refused before anything is sent."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from labbench.array import program_verify as pv
from labbench.instruments import Bench
from labbench.instruments.keithley2600 import call_chunk
from labbench.instruments.tsp_program_verify import VERIFY_LUA, TspProgramVerify
from labbench.paths import BENCHES
from labbench.procedures import REGISTRY
from labbench.procedures.base import PlanError
from labbench.runner import run_procedure
from labbench.sim import SimWorld

pytestmark = pytest.mark.filterwarnings("ignore:It is not known whether this device support")
TARGETS = "5e-6, 1e-5, 1.5e-5, 2e-5"


@pytest.fixture
def bench():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = Bench.from_yaml(BENCHES / "sim_2600.yaml")
    yield b
    b.close()


def _run(bench, name, cells="0:2, 0:4", **params):
    proc = REGISTRY[name](cells=cells, sides="+-", targets=TARGETS, **params)
    return run_procedure(proc, bench, None, progress=False).data


def test_the_tsp_face_converges_like_the_cell_by_cell_face_in_less_instrument_time(bench):
    t0 = bench.now()
    tsp = _run(bench, "tsp-program-verify")
    t_tsp = bench.now() - t0
    t0 = bench.now()
    scpi = _run(bench, "program-verify", cells="2:4, 0:4")      # fresh cells: these start where tsp's did
    t_scpi = bench.now() - t0
    for df in (tsp, scpi):
        last = df.groupby("cell").tail(1)
        assert len(last) == 16 and last.converged.mean() >= 0.9
        assert (df.groupby("cell").pulse.apply(lambda p: (np.diff(p) == 1).all())).all()   # every op a row
        assert set(df.kind) <= {"read", "set", "reset"} and (df.groupby("cell").head(1).kind == "read").all()
        conv = last[last.converged == 1]
        assert (abs(conv.conductance - conv.target) <= 0.02 * conv.target + 1e-15).all()
    assert list(tsp.columns) == list(scpi.columns)
    assert t_tsp < 0.3 * t_scpi                    # one message per cell instead of a round trip per pulse
    assert (tsp.groupby("cell").energy.apply(lambda e: (np.diff(e) >= 0).all())).all()
    assert bench.world.instruments["smu"].outputs_on() == []


def test_overshoot_stop_ends_at_the_first_overshoot(bench):
    df = _run(bench, "tsp-program-verify", overshoot="stop")
    assert "reset" not in set(df.kind)             # stop never turns round


@pytest.mark.parametrize("params, words", [
    ({"overshoot": "restart"}, "needs the SMU's full RESET"),
    ({"initial_reset": 1}, "initial_reset needs the SMU's full RESET"),
])
def test_what_needs_a_full_reset_is_refused_before_anything_is_sent(bench, params, words):
    proc = REGISTRY["tsp-program-verify"](cells="0, 0", targets="1e-5", **params)
    with pytest.raises(PlanError, match=words):
        proc.check_plan(bench)


def test_a_bench_without_a_2600b_is_told_so():
    with Bench.from_yaml("sim") as b:
        proc = REGISTRY["tsp-program-verify"](cells="0, 0", targets="1e-5")
        with pytest.raises(PlanError, match="does not run TSP scripts"):
            proc.check_plan(b)


def _verify_args(bench, **change):
    settings = pv.bench_settings(bench)
    args = list(TspProgramVerify(bench)._args(settings, 1e-5))
    names = ["target", "tol", "back", "stop", "sa", "sas", "sam", "sw", "swf", "swm", "sg", "sgs", "sgm",
             "ra", "ras", "ram", "rw", "rwf", "rwm", "rg", "rgs", "rgm", "vr", "gr", "il", "nplc"]
    for k, v in change.items():
        args[names.index(k)] = v
    return (10, *args)


@pytest.mark.parametrize("change, what", [
    ({"sam": 3.6}, "amplitude outside the bench limit"),            # the SET ramp's top beyond 3.5 V
    ({"ram": 3.6}, "RESET amplitude outside the bench limit"),
    ({"sas": 1.0, "sam": 9.0}, "outside the bench limit"),           # a ramp that would climb past it
    ({"rgm": 3.2}, "RESET gate outside the bench limit"),
    ({"swm": 1.0}, "pulse width outside the bench limit"),
    ({"tol": 0.0}, "settings outside their range"),
])
def test_the_verify_chunk_holds_its_limits_on_an_instrument_without_an_interlock(bench, change, what):
    """A real 2600B knows nothing of the bench file: the chunk's own checks hold, before any
    level is sourced, whatever arguments it is called with."""
    limits = bench.config.interlock_limits("smu", ("hi", "b"))
    args = _verify_args(bench, **change)
    w = SimWorld()
    smu = w.add("keithley2600b", "smu", "GPIB0::26::INSTR")     # no limits set: no interlock
    seen = []
    held = smu.held
    smu.held = lambda ch, level: (seen.append(abs(level or 0.0)), held(ch, level))[1]
    smu.write(call_chunk("verify", args, limits, 1e-3, body=VERIFY_LUA).encode() + b"\n")
    errors = []
    while len(smu.errors):
        errors.append(smu.errors.pop())
    assert len(errors) == 1 and what in errors[0], errors
    assert max(seen, default=0.0) <= 3.5 and smu.outputs_on() == []
