"""One physics through the ArC TWO: its twin drives the same Chip calls as the SCPI bench
and SimArray, so the same operations at the same virtual times leave bit-identical chips.

A slice read biases a whole row at once, so it is compared with the row's devices read
one by one (each device gets the one read it would get on its own), never with one read.
Levels are exact in float32 (pyarc2 carries f32): 0.125 V, 1.75 V, ... so the three paths
give the devices the same voltages to the last bit.
"""
import numpy as np
import pytest
import yaml

from labbench.array.sim_array import SimArray
from labbench.instruments import Bench
from labbench.paths import BENCHES, resolve_device_model
from labbench.physics.chip import Chip
from labbench.physics.device_model import load_device_model
from labbench.physics.models import RESET, SET
from labbench.sim.arc2.board import READ_BIAS
from test_sim_two_paths import meter_floor_siemens, smu_resolution_siemens


def smu_tolerance(i: float, v: float) -> float:
    """The 2450's reply digits and its noise floor (in the reply, not in the chip)."""
    return smu_resolution_siemens(i, v) + meter_floor_siemens(i, v)

ROWS, COLS = 6, 4
OPERATING = {"read_voltage": 0.125, "read_gate": 1.75,
             "set": {"amplitude": 1.5, "width": 1.0e-6, "gate": 1.25},
             "reset": {"amplitude": 1.75, "width": 1.0e-6, "gate": 2.5}}


def same_state(a: Chip, b: Chip) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        if k == "energy":   # summed over a row in one pass or device by device: equal to rounding
            np.testing.assert_allclose(sa[k], sb[k], rtol=1e-12)
        else:
            assert np.array_equal(sa[k], sb[k]), k


def mapper(rows: int, cols: int) -> str:
    return (f'[config]\nname = "test"\nrows = {rows}\ncols = {cols}\n[channels]\nSL = [0]\n'
            f"BL = {list(range(16, 16 + cols))}\nBLB = {list(range(48, 48 + cols))}\n"
            f"[selectors]\nWL = {list(range(rows))}\n")


def arc2_bench_file(tmp_path, model: str) -> str:
    cfg = yaml.safe_load((BENCHES / "sim_arc2.yaml").read_text())
    cfg["chip"].update(rows=ROWS, cols=COLS, device_model=model)
    cfg["instruments"]["arc"]["mapper"] = str(tmp_path / "map.toml")
    cfg["instruments"]["arc"]["board"] = 5
    cfg["operating"].update(OPERATING)
    (tmp_path / "map.toml").write_text(mapper(ROWS, COLS))
    (tmp_path / "arc2.yaml").write_text(yaml.safe_dump(cfg))
    return str(tmp_path / "arc2.yaml")


def scpi_bench_file(tmp_path, model: str) -> str:
    cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    cfg["chip"].update(rows=ROWS, cols=COLS, device_model=model)
    cfg["operating"].update(OPERATING)
    (tmp_path / "scpi.yaml").write_text(yaml.safe_dump(cfg))
    return str(tmp_path / "scpi.yaml")


@pytest.fixture(scope="module")
def quiet_model(tmp_path_factory):
    """The default model without drift at rest and without read disturb: the paths' clocks
    run at different speeds (VISA transactions against USB programs), and a read lasts
    1 ms on the SMU against 40 µs on the ArC TWO; with neither effect the operations alone
    set the state."""
    m = load_device_model(resolve_device_model("hfox_2t2r_default"))
    d = m.to_dict()
    d["retention"] = None
    d["read_disturb"] = None
    p = tmp_path_factory.mktemp("model") / "quiet.yaml"
    p.write_text(yaml.safe_dump(d))
    return str(p)


def test_three_paths_same_chip(tmp_path, quiet_model):
    """The same pulses and reads through the ArC TWO twin, the SCPI bench (2450, 81160A,
    B2200) and SimArray's chip leave the three chips bit-identical."""
    rng = np.random.default_rng(7)
    with Bench.from_yaml(arc2_bench_file(tmp_path, quiet_model)) as arc, \
            Bench.from_yaml(scpi_bench_file(tmp_path, quiet_model)) as scpi:
        model = arc.world.chip.model
        sa = SimArray(model, ROWS, COLS, seed=0, dtype=np.float64)
        direct = sa.tiles[0][2]
        same_state(arc.world.chip, direct)
        same_state(scpi.world.chip, direct)
        op = arc.config.operating
        rows_read = 0
        for _ in range(80):
            r, c, s = (int(x) for x in rng.integers(0, [ROWS, COLS, 2]))
            kind = rng.choice(["set", "reset", "read", "row"], p=[0.45, 0.2, 0.2, 0.15])
            idx = direct.flat(r, c, s)
            if kind in ("set", "reset"):
                n = int(rng.integers(1, 5))
                spec = op.set if kind == "set" else op.reset
                arc.pulse_cell(r, c, s, kind, n)
                scpi.pulse_cell(r, c, s, kind, n)
                direct.pulse(idx, n, SET if kind == "set" else RESET, amplitude=spec.amplitude, width=spec.width,
                             gate=spec.gate)
            elif kind == "read":
                g_arc = arc.read_cell(r, c, s)
                g_scpi = scpi.read_cell(r, c, s)
                i = float(direct.current(idx, op.read_voltage, None, gate=op.read_gate, duration=READ_BIAS)[0])
                assert g_arc == pytest.approx(i / op.read_voltage, rel=1e-6)     # float32 on the way back
                assert g_scpi == pytest.approx(i / op.read_voltage, rel=0, abs=smu_tolerance(i, op.read_voltage))
            else:   # a row in one ArC TWO read; on the SCPI bench each device of the row in turn
                g_row = arc.read_row(r)
                g_cells = np.array([[scpi.read_cell(r, cc, side) for side in (0, 1)] for cc in range(COLS)])
                i = np.array([[float(direct.current(direct.flat(r, cc, side), op.read_voltage, None,
                                                    gate=op.read_gate, duration=READ_BIAS)[0])
                               for side in (0, 1)] for cc in range(COLS)])
                np.testing.assert_allclose(g_row, i / op.read_voltage, rtol=1e-6)
                for got, want in zip(g_cells.ravel(), i.ravel()):
                    assert got == pytest.approx(want / op.read_voltage, rel=0, abs=smu_tolerance(want, op.read_voltage))
                rows_read += 1
        same_state(arc.world.chip, direct)
        same_state(scpi.world.chip, direct)
        assert rows_read >= 3 and (direct.write_events > 0).sum() > 10


def test_arc2_path_equals_direct_chip_calls_with_drift_and_read_disturb():
    """With the default model (drift at rest, read disturb): each ArC TWO operation is the
    Chip call it stands for, at the virtual time the board reached it."""
    with Bench.from_yaml(BENCHES / "sim_arc2.yaml") as b:
        chip, op = b.world.chip, b.config.operating
        assert chip.model.retention is not None and chip.model.read_disturb is not None
        twin = Chip(chip.model, chip.rows, chip.cols, seed=b.config.chip.seed)
        twin.load_state_dict(chip.state_dict())
        f32 = np.float32

        def gate_at(gate, low):   # SELH is carried in f32 relative to the lower line
            return float(f32(gate + low)) - low

        for k, (r, c, s) in enumerate([(0, 0, 0), (1, 2, 1), (3, 1, 0), (0, 0, 0)]):
            b.pulse_cell(r, c, s, "set", 1)
            twin.advance_to(chip.time)
            half = float(f32(op.set.amplitude)) / 2
            twin.pulse(twin.flat(r, c, s), 1, SET, amplitude=2 * half, width=round(op.set.width * 1e9) / 1e9,
                       gate=gate_at(op.set.gate, -half))
            b.sleep(3e3 * (k + 1))
            g = b.read_cell(r, c, s)
            twin.advance_to(chip.time)
            v = float(f32(op.read_voltage))
            i = float(twin.current(twin.flat(r, c, s), v, None, gate=gate_at(op.read_gate, -v), duration=READ_BIAS)[0])
            assert g == pytest.approx(i / op.read_voltage, rel=1e-6)
        row = b.read_row(2)
        twin.advance_to(chip.time)
        v = float(f32(op.read_voltage))
        for cc in range(chip.cols):
            for side in (0, 1):
                i = float(twin.current(twin.flat(2, cc, side), v, None, gate=gate_at(op.read_gate, -v),
                                       duration=READ_BIAS)[0])
                assert row[cc, side] == pytest.approx(i / op.read_voltage, rel=1e-6)
        same_state(chip, twin)
        assert chip._drift_time >= 3e3
