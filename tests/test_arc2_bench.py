"""An ArC TWO bench: the bench file's rules, safety before anything is queued, idle states
on every close, procedures and training unchanged, and the rehearsal's pyarc2 program."""
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from labbench.array.arc2_array import Arc2BenchArray
from labbench.array.placement import BenchPlacement
from labbench.errors import InstrumentFault, LabbenchError, SafetyError
from labbench.instruments import Bench
from labbench.instruments.config import BenchConfig
from labbench.paths import BENCHES
from labbench.physics.device_model import load_device_model
from labbench.procedures import REGISTRY
from labbench.runner import run_procedure

SIM = yaml.safe_load((BENCHES / "sim_arc2.yaml").read_text())


def variant(tmp_path, edit, name="b.yaml"):
    cfg = yaml.safe_load(yaml.safe_dump(SIM))
    cfg["instruments"]["arc"]["mapper"] = str(BENCHES / "arc2_1t1r_32x32.toml")
    edit(cfg)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.fixture(scope="module")
def bench():
    with Bench.from_yaml(BENCHES / "sim_arc2.yaml") as b:
        yield b


@pytest.fixture
def fresh(bench):
    state = bench.world.chip.state_dict()
    yield bench
    bench.world.chip.load_state_dict(state)


@pytest.mark.parametrize("edit, match", [
    (lambda c: c["limits"]["arc.ch1"].update(max_voltage=10.5), r"10\.5 V is above the declared output range \(std"),
    (lambda c: (c["instruments"]["arc"].update(output_range="ext"), c["limits"]["arc.ch1"].update(max_voltage=21)),
     r"21 V is above the declared output range \(ext: ±20"),
    (lambda c: c["instruments"]["arc"].update(channel_limits={0: 12.0}), r"channel_limits\.0: 12 V is above"),
    (lambda c: c["limits"]["arc.ch1"].update(max_pulse_width=1.0), r"above pyarc2's high-speed pulse cap \(0\.5 s\)"),
    (lambda c: c["limits"].update({"arc.ch3": {"max_voltage": 1.0}}), r"limits\.arc\.ch3: no such terminal"),
    (lambda c: c["instruments"]["arc"].update(simulated=False), r"needs firmware"),
    (lambda c: c["instruments"]["arc"].pop("idle"), r"needs idle"),
    (lambda c: c["instruments"]["arc"].update(address="GPIB0::1::INSTR"), r"no VISA address"),
    (lambda c: c.update(wiring={"matrix": "arc", "inputs": {}, "lines": {}}), r"wiring: an ArC TWO bench has no"),
    (lambda c: c["operating"].update(pulse_terminal="arc.ch2"), r"operating\.pulse_terminal: on an ArC TWO"),
    (lambda c: c["limits"]["arc.hi"].update(max_compliance=1e-3), r"no compliance"),
])
def test_bench_file_rules(tmp_path, edit, match):
    with pytest.raises(ValueError, match=match):
        BenchConfig.from_yaml(variant(tmp_path, edit))


def test_ext_range_allows_up_to_20_volts(tmp_path):
    cfg = BenchConfig.from_yaml(variant(tmp_path, lambda c: (c["instruments"]["arc"].update(output_range="ext"),
                                                              c["limits"]["arc.ch1"].update(max_voltage=15.0))))
    assert cfg.limits["arc.ch1"].max_voltage == 15.0


@pytest.mark.parametrize("text, match", [
    ("SL = [0]\nBL = [16]\nBLB = [64]", r"channels\.BLB\[0\] = 64: channels are 0\.\.63"),
    ("SL = [16]\nBL = [16]\nBLB = [48]", r"channel 16 also carries SL0 \(a short\)"),
    ("SL = [0]\nBL = [16, 17]\nBLB = [48]", r"channels\.BL has 2 entries"),
    ("SL = [0]\nBL = [16]\nBLB = [48]\nXL = [3]", r"channels\.XL: lines are"),
])
def test_mapper_rules(tmp_path, text, match):
    (tmp_path / "m.toml").write_text(f"[config]\nname='t'\n[channels]\n{text}\n[selectors]\nWL = [0]\n")

    def edit(c):
        c["chip"].update(rows=1, cols=1)
        c["instruments"]["arc"]["mapper"] = "m.toml"
    with pytest.raises(ValueError, match=match):
        Bench.from_yaml(variant(tmp_path, edit))


def test_hardware_without_a_board_says_what_to_check(tmp_path):
    p = variant(tmp_path, lambda c: c["instruments"]["arc"].update(simulated=False, firmware="/opt/arc2/fw.bin"))
    with pytest.raises((InstrumentFault, LabbenchError), match=r"boards found: none|labbench\[arc2\]"):
        Bench.from_yaml(p)


def test_levels_outside_limits_or_range_are_refused_before_anything_is_queued(fresh, tmp_path):
    board = fresh.world.arc2
    n = len(board.programs)
    with pytest.raises(SafetyError, match="arc.ch1"):
        fresh.pulse_cell(0, 0, 0, "set", amplitude=3.2)
    with pytest.raises(SafetyError, match="max_pulse_width"):
        fresh.pulse_cell(0, 0, 0, "set", width=0.6)          # beyond pyarc2's cap, and the bench's limit
    with pytest.raises(SafetyError, match="arc.ch2"):
        fresh.read_cell(0, 0, 0) if False else fresh.read_current(0, 0, 0, gate=3.5)
    with pytest.raises(SafetyError, match="arc.hi"):
        fresh.read_current(0, 0, 0, voltage=float("nan"))
    assert len(board.programs) == n and not fresh.arc2.arc._fifo


def test_channel_limits_refuse_a_level_before_queueing(tmp_path):
    p = variant(tmp_path, lambda c: c["instruments"]["arc"].update(channel_limits={0: 0.05}, board=7))
    with Bench.from_yaml(p) as b:
        n = len(b.world.arc2.programs)
        with pytest.raises(SafetyError, match=r"channel 0 exceeds instruments\.arc\.channel_limits\.0"):
            b.read_cell(0, 0, 0)
        assert len(b.world.arc2.programs) == n


def test_a_channel_outside_0_63_is_refused_before_execute(fresh):
    """A script's own pyarc2 call with channel 64: refused at the call, as pyarc2 does (a
    panic in libarc2), before anything runs."""
    from labbench.sim import arc2 as pa

    arc = fresh.arc2.instrument
    n = len(fresh.world.arc2.programs)
    with pytest.raises(pa.PanicException):
        arc.pulse_one(0, 64, 1.0, 1000)
    assert len(fresh.world.arc2.programs) == n


@pytest.mark.parametrize("idle, level", [("ground", 0.0), ("float", None)])
def test_a_queued_program_never_executed_never_runs_and_channels_end_idle(tmp_path, idle, level):
    p = variant(tmp_path, lambda c: c["instruments"]["arc"].update(idle=idle, board=9))
    b = Bench.from_yaml(p)
    board, chip = b.world.arc2, b.world.chip
    g0 = chip.g.copy()
    arc = b.arc2.instrument
    arc.config_aux_channels([]).config_selectors(list(range(32))).pulse_slice(0, 2.5, 100_000)   # never executed
    b.close()
    assert np.array_equal(chip.g, g0)
    assert not any(c.name == "pulse_slice" for prog in board.programs for c in prog)
    assert set(board.idle_state().values()) == {level} and not board.selectors


def test_an_interrupted_program_is_discarded_at_close(tmp_path):
    p = variant(tmp_path, lambda c: c["instruments"]["arc"].update(board=10))
    b = Bench.from_yaml(p)
    chip, arc = b.world.chip, b.arc2.arc
    g0 = chip.g.copy()

    def interrupted(*a):
        raise KeyboardInterrupt
    arc.pulse_one = interrupted          # Ctrl-C between queueing the gates and the pulse
    with pytest.raises(KeyboardInterrupt):
        b.pulse_cell(0, 0, 0, "set", 1)
    b.close()
    assert np.array_equal(chip.g, g0)
    assert set(b.world.arc2.idle_state().values()) == {0.0}


@pytest.mark.parametrize("name, params", [
    ("array-map", {"cells": "0:2, 0:16"}),
    ("pulse-train", {"cells": "0, 0:2", "cycles": 2, "pulses": 8}),
    ("forming", {"cells": "1, 0"}),
    ("retention", {"cells": "0, 0:2", "points": 4, "duration": 100.0}),
    ("program-verify", {"cells": "0, 0:2", "targets": "2e-5"}),
])
def test_procedures_run_unchanged(fresh, name, params):
    res = run_procedure(REGISTRY[name](**params), fresh, None, progress=False)
    assert res.status == "finished" and len(res.data)


def test_pulse_train_moves_the_conductance_both_ways(fresh):
    res = run_procedure(REGISTRY["pulse-train"](cells="2, 3", sides="+", cycles=1, pulses=16), fresh, None,
                        progress=False)
    d = res.data
    s, r = d[d.direction == "set"].conductance.to_numpy(), d[d.direction == "reset"].conductance.to_numpy()
    assert s[-1] > 1.5 * s[0] and r[-1] < 0.8 * r[0]


def test_a_layer_on_the_arc2_reads_a_row_per_call(fresh):
    model = load_device_model(fresh.config.chip.device_model)
    placement = BenchPlacement(fresh, model)
    arr = placement(4, 8, 0)
    assert isinstance(arr, Arc2BenchArray) and placement.on_bench == [0]
    board = fresh.world.arc2
    n = len(board.programs)
    g = arr.read_conductances()
    assert len(board.programs) - n == 4                      # one program per row
    cells = np.array([[[fresh.read_cell(r, c, s) for s in (0, 1)] for c in range(8)] for r in range(4)])
    np.testing.assert_allclose(g, cells, rtol=0.05)          # read noise apart
    before = arr.read_signs()
    arr.apply_set_pulses(np.where(before < 0, 30, 0), np.where(before > 0, 30, 0))
    assert (arr.read_signs() != before).mean() > 0.5


def test_rehearse_prints_the_pyarc2_calls_step_by_step():
    from labbench.cli import main

    out = CliRunner().invoke(main, ["bench", "rehearse", "sim_arc2", "pulse-train", "-p", "cells=0, 0",
                                    "-p", "cycles=1", "-p", "pulses=3", "--limit", "0"])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "arc (pyarc2 at board 0)" in text and "step 1: execute()" in text
    assert "pulse_one(" in text and "read_slice_open(" in text and "config_selectors([0])" in text
    assert "generate_ramp(" not in text      # one pulse per step in a pulse train


def test_snapshot_and_idn(fresh):
    snap = fresh.snapshot()
    assert snap["wiring"] is None and "ArC TWO" in snap["instruments"]["arc"]["idn"]
    assert snap["instruments"]["arc"]["settings"]["lines"]["WL3"] == "selector 3"
