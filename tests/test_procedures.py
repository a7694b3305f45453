"""Characterization procedures on the simulated bench: the physics shows through the instruments."""
import time

import numpy as np
import pytest
import yaml

from labbench.instruments import Bench
from labbench.paths import BENCHES
from labbench.runner import run_procedure
from labbench.store import Store
from labbench.procedures import ArrayMap, Endurance, Forming, IVSweep, PulseTrain, Retention
from labbench.procedures.cells import parse_cells


@pytest.fixture(scope="module")
def bench():
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        yield b


def test_pulse_train_is_tidy_and_follows_the_device(bench, tmp_path):
    store = Store(tmp_path / "d.db")
    res = run_procedure(PulseTrain(cells="0:4, 3:5", cycles=2, pulses=24), bench, store, progress=False)
    df = res.data
    assert res.status == "finished"
    assert len(df) == 4 * 2 * 2 * 2 * 2 * 25   # rows × cols × sides × cycles × directions × (pulses + 1)
    assert {"cell", "cycle", "direction", "pulse", "conductance"} <= set(df.columns)
    mean = df.groupby(["direction", "pulse"]).conductance.mean()
    assert mean["set"].iloc[-1] > 3 * mean["set"].iloc[0]          # gradual SET raises G
    assert mean["reset"].iloc[-1] < 0.5 * mean["reset"].iloc[0]     # gradual RESET lowers it
    # and nonlinearly: the first 8 pulses raise G more than the last 8 (the default model's
    # steps shrink as e^(−k/A), A ≈ 32: 1.65× nominal; 32 traces of 3 % noise per pulse
    # leave the ratio within about ±0.2)
    g = mean["set"].to_numpy()
    assert g[8] - g[0] > 1.3 * (g[24] - g[16])
    assert len(store.load(res.run_id)) == len(df)


def test_iv_sweep_shows_set_and_reset_hysteresis(bench):
    proc = IVSweep(cells="5,5", sides="+", v_max=1.5, v_min=-1.5, points=16)
    df = run_procedure(proc, bench, None, progress=False).data
    v, i = df.voltage.to_numpy(), df.current.to_numpy()
    n = proc.points
    up, back = i[5], i[2 * n - 2 - 5]          # same positive voltage, before and after SET
    assert v[5] == pytest.approx(v[2 * n - 2 - 5])
    assert back > 2 * up
    assert i[-3] > -abs(back)                   # after RESET the negative branch conducts less
    assert np.all(np.abs(i) <= bench.config.operating.compliance * 1.0001)


def test_retention_runs_in_virtual_time(bench):
    t0 = time.perf_counter()
    df = run_procedure(Retention(cells="2,2", sides="+", duration=1e5, points=12), bench, None,
                       progress=False).data
    assert df.time.max() == pytest.approx(1e5, rel=1e-6)
    assert time.perf_counter() - t0 < 10


def test_endurance_and_map(bench):
    df = run_procedure(Endurance(cells="1,1", sides="-", cycles=3), bench, None, progress=False).data
    assert (df.g_lrs > 5 * df.g_hrs).all()
    m = run_procedure(ArrayMap(cells="0:3, 0:3"), bench, None, progress=False).data
    assert len(m) == 18 and (m.conductance > 0).all()


def test_forming_a_pristine_chip(tmp_path):
    cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    cfg["chip"]["formed"] = False
    path = tmp_path / "pristine.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with Bench.from_yaml(path) as b:
        before = b.read_cell(0, 0, 0)
        df = run_procedure(Forming(cells="0,0", sides="+"), b, None, progress=False).data
        # a DC step lasts switching.dc_time ≫ the 1 µs at which V_form is given: the
        # voltage-time trade-off forms the cell below V_form, but not far below
        v_form = b.world.chip.model.switching.v_form
        assert df.formed.iloc[-1] == 1 and v_form - 1.0 <= df.voltage.iloc[-1] < v_form
        res = run_procedure(PulseTrain(cells="0,0", sides="+", cycles=1, pulses=8), b, None, progress=False)
        assert res.data.conductance.max() > 100 * before   # formed devices now switch


def test_forming_by_pulses_forms_below_the_dc_ramp_limit(tmp_path):
    """Forming by pulses: a 100 µs pulse ramp forms each cell, at a voltage set by the
    same kinetics as DC forming (below the 1 µs V_form, within the pulse channel's 3 V)."""
    cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    cfg["chip"]["formed"] = False
    path = tmp_path / "pristine.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with Bench.from_yaml(path) as b:
        df = run_procedure(Forming(cells="0:2,0", sides="+", mode="pulse", v_start=1.5, v_stop=3.0, v_step=0.05),
                           b, None, progress=False).data
        assert b.world.chip.formed[[b.world.chip.flat(r, 0, 0) for r in (0, 1)]].all()
    last = df.groupby("row").last()
    assert (last.formed == 1).all() and (last.voltage < b.world.chip.model.switching.v_form).all()


def test_cell_selection_errors():
    assert parse_cells("0:2, 1", "+-", 4, 4) == [(0, 1, 0), (0, 1, 1), (1, 1, 0), (1, 1, 1)]
    with pytest.raises(ValueError, match="column"):
        parse_cells("0, 0:9", "+", 4, 4)
    with pytest.raises(ValueError, match="ROWS, COLS"):
        parse_cells("0:2", "+", 4, 4)
    with pytest.raises(ValueError, match="sides"):
        parse_cells("0, 0", "x", 4, 4)


def test_retention_on_the_simulated_bench_sees_the_drift(bench):
    df = run_procedure(Retention(cells="1:3,2", sides="+-", duration=3e5, points=10), bench, None,
                       progress=False).data
    chip = bench.world.chip
    rel = chip.model.retention.relaxation
    first = df[df.read == 0].set_index("cell").conductance
    last = df[df.read == df.read.max()].set_index("cell").conductance
    # the post-program relaxation: each cell moved by a few % (σ(ln G) up to σ_hrs at
    # saturation), some up, some down; read noise alone is 1 %
    moved = np.log(last / first)
    assert (np.abs(moved) < 5 * rel.sigma_hrs).all() and np.abs(moved).max() > 0.005
    assert df.time.max() == pytest.approx(3e5, rel=1e-6) and not chip._relax_code.any()   # settled


def test_endurance_on_the_simulated_bench_wears_a_cell_out(tmp_path):
    from labbench.physics import load_device_model

    dm = load_device_model().to_dict()
    dm["endurance"] = {"median": 400, "sigma": 0.0, "stuck_at": "gmin"}
    (tmp_path / "short_lived.yaml").write_text(yaml.safe_dump(dm))
    cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    cfg["chip"]["device_model"] = str(tmp_path / "short_lived.yaml")
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(cfg))
    with Bench.from_yaml(tmp_path / "bench.yaml") as b:
        df = run_procedure(Endurance(cells="0,0", sides="+", cycles=10, set_pulses=64), b, None,
                           progress=False).data
        chip = b.world.chip
        assert chip.wear()["worn_fraction"] > 0
    window = (df.g_lrs / df.g_hrs).to_numpy()
    # 65 write events a cycle: the 400th falls in cycle 6; after it the window is closed
    assert (window[:5] > 5).all() and (window[7:] < 1.5).all()
