"""Injected faults: timeouts, disconnects, garbage replies, open switches, stuck cells."""
import time

import numpy as np
import pytest
import pyvisa  # noqa: F401

from labbench.errors import InstrumentFault

from labbench.instruments import Bench
from labbench.paths import BENCHES


@pytest.fixture
def bench():
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        yield b


def test_timeout_fails_fast_and_names_the_instrument(bench):
    bench.world.instruments["smu"].fault = "timeout"
    t0 = time.perf_counter()
    with pytest.raises(InstrumentFault, match=r"smu \(GPIB0::24::INSTR\): it did not answer within the VISA timeout"):
        bench.read_cell(0, 0, 0)
    assert time.perf_counter() - t0 < 1.0


def test_disconnect_names_the_instrument_and_what_to_check(bench):
    bench.world.instruments["pg"].fault = "disconnect"
    with pytest.raises(InstrumentFault, match=r"pg \(GPIB0::10::INSTR\): the connection was lost.*check its cable"):
        bench.pulse_cell(0, 0, 0, "set", 3)


def test_garbage_reply_is_caught(bench):
    bench.read_cell(1, 1, 0)
    bench.world.instruments["smu"].fault = "garbage"
    with pytest.raises(InstrumentFault, match="smu"):
        bench.read_cell(1, 1, 0)


@pytest.mark.parametrize("fault, message", [("truncate", r"beyond the .* compliance|not a valid reply"),
                                            ("nan", r"not a finite number")])
def test_a_reading_that_cannot_be_right_is_never_returned(bench, fault, message):
    """A truncated reply ('1.23456E-05' read as '1.234' A) or NaN: refused, not recorded."""
    bench.read_cell(1, 1, 0)
    bench.world.instruments["smu"].fault = fault
    with pytest.raises(InstrumentFault, match=message):
        bench.read_cell(1, 1, 0)


@pytest.mark.parametrize("name", ["smu", "pg", "matrix"])
def test_a_garbled_error_queue_is_read_a_bounded_number_of_times(bench, name):
    """A garbled bus never answers '0,No error': labbench asked :SYST:ERR? forever."""
    inst = bench.world.instruments[name]
    inst.fault = "garbage"
    inst.log = []
    lines = bench.instrument_errors()
    assert any(line.startswith(f"{name}: could not read its error queue") and "garbled" in line for line in lines)
    assert sum("ERR" in m.upper() for m in inst.log) <= 1


def test_a_scheduled_fault_switches_on_after_n_transactions():
    from labbench.sim import SimWorld

    w = SimWorld()
    smu = w.add("keithley2450", "smu", "GPIB0::24::INSTR")
    smu.schedule_fault("disconnect", 3)
    smu.write(b"*IDN?\n")
    assert smu.read().startswith(b"KEITHLEY")
    with pytest.raises(ConnectionError):
        smu.write(b"*IDN?\n")


def test_open_switch_gives_no_current_and_no_update(bench):
    chip = bench.world.chip
    assert bench.read_cell(2, 3, 0) > 0
    bl3 = bench.config.wiring_pins()["BL3"]
    mx = bench.world.instruments["matrix"]
    mx.stuck_open.add((bl3[0], 1, bl3[1]))       # SMU relay onto BL3 never closes
    mx.stuck_open.add((bl3[0], 3, bl3[1]))       # nor the pulse relay
    # no current, only the 2450's floor (10 nA range offset 50 pA) over the read voltage
    assert abs(bench.read_cell(2, 3, 0)) <= 50e-12 / bench.config.operating.read_voltage
    g = chip.g.copy()
    bench.pulse_cell(2, 3, 0, "set", 5)
    assert np.array_equal(chip.g, g)


def test_stuck_cells_come_from_the_device_model(tmp_path):
    import yaml

    from labbench.physics.device_model import load_device_model

    model = load_device_model().to_dict()
    model["faults"] = {"stuck_at_gmin": 0.5, "stuck_at_gmax": 0.0}
    (tmp_path / "stuck.yaml").write_text(yaml.safe_dump(model))
    cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    cfg["chip"]["device_model"] = str(tmp_path / "stuck.yaml")
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(cfg))
    with Bench.from_yaml(tmp_path / "bench.yaml") as b:
        chip = b.world.chip
        stuck = np.flatnonzero(chip.stuck[:64] < 0)
        ok = np.flatnonzero(chip.stuck[:64] == 0)
        for idx in (stuck[0], ok[0]):
            row, rest = divmod(int(idx), chip.cols * 2)
            col, side = divmod(rest, 2)
            g0 = chip.g[idx]
            b.pulse_cell(row, col, side, "set", 10)
            assert (chip.g[idx] == g0) == (idx in stuck)


def test_pristine_cell_reads_low_until_formed(tmp_path):
    import yaml

    cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    cfg["chip"]["formed"] = False
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(cfg))
    with Bench.from_yaml(tmp_path / "bench.yaml") as b:
        chip = b.world.chip
        assert b.read_cell(0, 0, 0) < 1e-8
        b.pulse_cell(0, 0, 0, "set", 5)               # no effect on a pristine cell
        assert b.read_cell(0, 0, 0) < 1e-8
        b.read_current(0, 0, 0, voltage=3.2)          # forming at the SMU, compliance-limited
        assert chip.formed[chip.flat(0, 0, 0)]
        assert b.read_cell(0, 0, 0) > 1e-6
