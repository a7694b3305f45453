"""Injected faults: timeouts, disconnects, garbage replies, open switches, stuck cells."""
import time

import numpy as np
import pytest
import pyvisa

from labbench.instruments import Bench
from labbench.paths import BENCHES


@pytest.fixture
def bench():
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        yield b


def test_timeout_fails_fast_and_is_a_visa_error(bench):
    bench.world.instruments["smu"].fault = "timeout"
    t0 = time.perf_counter()
    with pytest.raises(pyvisa.errors.VisaIOError, match="TMO|Timeout"):
        bench.read_cell(0, 0, 0)
    assert time.perf_counter() - t0 < 1.0


def test_disconnect_raises_connection_lost(bench):
    bench.world.instruments["pg"].fault = "disconnect"
    with pytest.raises(pyvisa.errors.VisaIOError, match="CONN_LOST|connection"):
        bench.pulse_cell(0, 0, 0, "set", 3)


def test_garbage_reply_is_caught_by_the_driver(bench):
    bench.read_cell(1, 1, 0)
    bench.world.instruments["smu"].fault = "garbage"
    with pytest.raises(ValueError):
        bench.read_cell(1, 1, 0)


def test_open_switch_gives_no_current_and_no_update(bench):
    chip = bench.world.chip
    assert bench.read_cell(2, 3, 0) > 0
    bl3 = bench.config.wiring_pins()["BL3"]
    mx = bench.world.instruments["matrix"]
    mx.stuck_open.add((bl3[0], 1, bl3[1]))       # SMU relay onto BL3 never closes
    mx.stuck_open.add((bl3[0], 3, bl3[1]))       # nor the pulse relay
    assert bench.read_cell(2, 3, 0) == 0.0
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
