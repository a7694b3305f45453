"""The pulse generator's output load is a declared, verified safety setting: the bench
file states each channel's load, opening sets it and reads it back, and every level is a
voltage at the cell (a 50 ohm setting into a high-impedance cell delivers twice the
programmed level, so labbench programs half of it and checks the limit on the cell's)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import yaml

from labbench.errors import InstrumentFault
from labbench.instruments import Bench, BenchConfig
from labbench.paths import BENCHES

pytestmark = pytest.mark.filterwarnings("ignore")


def _bench_file(tmp_path, load) -> str:
    raw = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    raw["instruments"]["pg"]["output_load"] = {"ch1": load, "ch2": load}
    p = tmp_path / f"b_{load}.yaml"
    p.write_text(yaml.safe_dump(raw))
    return str(p)


def _watch_levels(bench) -> list[float]:
    """Every level the simulated pulse generator put on the chip's lines (pulses)."""
    seen = []
    w = bench.world
    real = w.wiring.pulse

    def pulse(world, term, level, width, count):
        seen.append(level)
        return real(world, term, level, width, count)

    w.wiring.pulse = pulse
    return seen


def test_the_shipped_benches_declare_high_impedance_and_opening_sets_it():
    for name in ("sim", "sim_2600", "hardware_example"):
        cfg = BenchConfig.from_yaml(name)
        assert cfg.instruments["pg"].output_load == {"ch1": "high_z", "ch2": "high_z"}, name
    with Bench.from_yaml("sim") as b:
        assert b.world.instruments["pg"].state[1]["load"] == float("inf")
        assert b.snapshot()["instruments"]["pg"]["settings"]["ch1"]["load"] == "high_z"


def test_a_level_means_the_voltage_at_the_cell_whatever_the_load_setting(tmp_path):
    """The same pulses through a 50 ohm and a high-impedance setting: the chip ends in the
    same state, and the 50 ohm bench programmed half the level."""
    chips = {}
    for load in ("high_z", 50.0):
        with Bench.from_yaml(_bench_file(tmp_path, load)) as b:
            seen = _watch_levels(b)
            for c in range(4):
                b.pulse_cell(0, c, 0, "set", 3)
                b.pulse_cell(1, c, 1, "reset", 2)
            programmed = b.world.instruments["pg"].state[1]["high"]
            assert set(np.round(seen, 12)) <= {1.5, 1.8}          # what the cell got
            chips[load] = (b.world.chip.state_dict(), programmed)
    assert chips[50.0][1] == pytest.approx(chips["high_z"][1] / 2)
    for k, v in chips["high_z"][0].items():
        assert np.array_equal(v, chips[50.0][0][k]), k


def test_a_limit_holds_at_the_cell_with_a_50_ohm_setting(tmp_path):
    """Before: 3 V programmed into a 50 ohm setting put 6 V on a 3 V-limited cell."""
    with Bench.from_yaml(_bench_file(tmp_path, 50.0)) as b:
        seen = _watch_levels(b)
        b.pulse_cell(0, 0, 0, "set", 1, amplitude=3.0)
        assert max(seen) == pytest.approx(3.0)
        from labbench.instruments.roles import SafetyError

        with pytest.raises(SafetyError, match="exceeds limits"):
            b.pulse_cell(0, 0, 0, "set", 1, amplitude=3.1)


def test_a_load_that_does_not_read_back_as_declared_stops_before_any_level(tmp_path, monkeypatch):
    from labbench.instruments.drivers import PyMeasureKeysight81160A

    monkeypatch.setattr(PyMeasureKeysight81160A, "set_load", lambda self, ch, ohms: None)   # a front panel that wins
    with warnings.catch_warnings(), pytest.raises(InstrumentFault,
                                                  match=r"pg\.ch1: output load reads back 50 ohm, the bench file "
                                                        r"declares high_z; .* factor 2\b.*nothing else was sent"):
        Bench.from_yaml("sim")


def test_a_pulse_generator_without_a_declared_load_is_refused(tmp_path):
    raw = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    del raw["instruments"]["pg"]["output_load"]
    p = tmp_path / "b.yaml"
    p.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=r"a pulse generator needs output_load.*ch1: high_z, ch2: high_z"):
        BenchConfig.from_yaml(p)
