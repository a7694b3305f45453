"""Bench files: bad input gives a clear error naming the key."""
import copy

import pytest
import yaml

from labbench.instruments import BenchConfig
from labbench.paths import BENCHES

BASE = yaml.safe_load((BENCHES / "sim.yaml").read_text())


def _write(tmp_path, mutate):
    cfg = copy.deepcopy(BASE)
    mutate(cfg)
    p = tmp_path / "bench.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_shipped_bench_file_is_valid():
    cfg = BenchConfig.from_yaml(BENCHES / "sim.yaml")
    pins = cfg.wiring_pins()
    assert len(pins) == 32 * 3 + 1 and len(set(pins.values())) == len(pins)
    assert cfg.chip.rows == cfg.chip.cols == 32


@pytest.mark.parametrize("mutate, words", [
    (lambda c: c["instruments"].pop("pg"), ["pulse_generator", "missing"]),
    (lambda c: c["instruments"]["pg"].update(address="GPIB0::24::INSTR"),
     ["address", "duplicate", "instruments.pg", "instruments.smu"]),
    (lambda c: c["instruments"]["pg"].update(address="gpib::24"), ["address", "duplicate", "instruments.pg"]),
    (lambda c: c["instruments"]["smu"].update(driver="acme.smu9000"), ["instruments.smu.driver", "unknown"]),
    (lambda c: c["instruments"]["smu"].update(driver="pymeasure.keysight81160a"),
     ["instruments.smu.driver", "pulse_generator"]),
    (lambda c: c["wiring"]["inputs"].update({7: "smu.hi"}), ["wiring.inputs.7", "loop"]),
    (lambda c: c["wiring"]["inputs"].update({7: "matrix.out3"}), ["wiring.inputs.7", "loop"]),
    (lambda c: c["wiring"]["inputs"].update({7: "dmm.hi"}), ["wiring.inputs.7", "dmm.hi"]),
    (lambda c: c["wiring"]["inputs"].update({7: "pg.ch9"}), ["wiring.inputs.7", "ch9"]),
    (lambda c: c["wiring"]["lines"].update(SL={"card": 2, "output": 5}), ["wiring.lines", "SL", "BL4", "short"]),
    (lambda c: c["wiring"]["lines"].update(BL={"card": 2, "first_output": 20}), ["wiring.lines.BL", "48"]),
    (lambda c: c["wiring"].update(matrix="smu"), ["wiring.matrix"]),
    (lambda c: c["limits"].update({"pg.ch7": {"max_voltage": 1}}), ["limits.pg.ch7"]),
    (lambda c: c["limits"]["smu.hi"].update(max_voltage=-1), ["limits.smu.hi.max_voltage"]),
    (lambda c: c["chip"].update(rows=0), ["chip.rows"]),
    (lambda c: c.update(colour="blue"), ["colour"]),
    (lambda c: c["wiring"]["inputs"].pop(14), ["ground"]),
])
def test_bad_bench_files_name_the_key(tmp_path, mutate, words):
    p = _write(tmp_path, mutate)
    with pytest.raises(ValueError) as e:
        BenchConfig.from_yaml(p)
    msg = str(e.value)
    assert str(p) in msg
    for w in words:
        assert w in msg, (w, msg)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(FileNotFoundError, match="bench file .* not found"):
        BenchConfig.from_yaml(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        BenchConfig.from_yaml(tmp_path / "bad.yaml")
