"""BenchArray: the Array2T2R protocol through the (simulated) instruments."""
import numpy as np
from labbench.physics import circuit
import pytest

from labbench.array.bench_array import BenchArray
from labbench.array.protocol import Array2T2R
from labbench.instruments import Bench
from labbench.paths import BENCHES


@pytest.fixture(scope="module")
def bench():
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        yield b


@pytest.fixture
def fresh(bench):
    chip = bench.world.chip
    state = chip.state_dict()
    yield bench
    chip.load_state_dict(state)


def test_is_an_array2t2r_and_checks_its_tile(fresh):
    arr = BenchArray(fresh, 3, 4, row0=2, col0=5)
    assert isinstance(arr, Array2T2R) and (arr.rows, arr.cols) == (3, 4)
    with pytest.raises(ValueError, match="does not fit"):
        BenchArray(fresh, 8, 8, row0=30)
    with pytest.raises(ValueError, match="shape"):
        arr.apply_set_pulses(np.zeros((2, 2), int), np.zeros((3, 4), int))


def test_set_pulses_match_the_chip_model_and_signs_follow(fresh):
    chip = fresh.world.chip
    arr = BenchArray(fresh, 3, 4, row0=2, col0=5)
    twin_g, twin_events = chip.g.copy(), chip.write_events.astype(np.int64)
    n_plus = np.array([[3, 0, 0, 5], [0, 0, 2, 0], [1, 0, 0, 0]])
    n_minus = np.array([[0, 4, 0, 0], [6, 0, 0, 0], [0, 0, 0, 2]])
    arr.apply_set_pulses(n_plus, n_minus)
    g = chip.conductance()[2:5, 5:9]
    moved = g != twin_g.reshape(chip.rows, chip.cols, 2)[2:5, 5:9]
    events = (chip.write_events - twin_events).reshape(chip.rows, chip.cols, 2)[2:5, 5:9]
    # each device got its pulses (one from Gmin may be clipped back onto it by its noise)
    assert np.array_equal(events[..., 0], n_plus) and np.array_equal(events[..., 1], n_minus)
    assert not (moved[..., 0] & (n_plus == 0)).any() and not (moved[..., 1] & (n_minus == 0)).any()
    assert arr.counters.set_pulses == n_plus.sum() + n_minus.sum()
    signs = arr.read_signs()
    clear = np.abs(g[..., 0] - g[..., 1]) > 0.05 * g.max(axis=-1)  # ties read noise, as on hardware
    assert np.array_equal(signs[clear], np.where(g[..., 0] >= g[..., 1], 1, -1)[clear])
    read = arr.read_conductances()
    assert np.allclose(read, circuit.as_read(chip.model, g), rtol=0.05)


def test_reset_returns_both_devices_near_gmin(fresh):
    chip = fresh.world.chip
    arr = BenchArray(fresh, 2, 2)
    arr.apply_set_pulses(np.full((2, 2), 20), np.full((2, 2), 20))
    mask = np.array([[True, False], [False, True]])
    arr.reset(mask)
    g = chip.conductance()[:2, :2]
    gmin = chip._gmin.reshape(chip.rows, chip.cols, 2)[:2, :2]
    assert np.all(g[mask] < gmin[mask] + 0.1 * (chip.model.gmax - chip.model.gmin))
    assert np.all(g[~mask] > gmin[~mask] + 0.2 * (chip.model.gmax - chip.model.gmin))
    assert arr.counters.reset_ops == 4


@pytest.mark.parametrize("mode", ["model", "verify"])
def test_refresh_keeps_the_sign_and_rewrites_the_difference(fresh, mode):
    chip = fresh.world.chip
    arr = BenchArray(fresh, 2, 3, row0=10, col0=10, refresh_mode=mode)
    n_plus = np.array([[25, 5, 0], [12, 0, 14]])
    n_minus = np.array([[10, 20, 8], [0, 25, 6]])
    arr.apply_set_pulses(n_plus, n_minus)
    before = arr.read_conductances()
    signs = arr.read_signs()
    arr.refresh(np.ones((2, 3), bool))
    after = arr.read_conductances()
    assert np.array_equal(arr.read_signs(), signs)
    d_before = np.abs(before[..., 0] - before[..., 1])
    d_after = np.abs(after[..., 0] - after[..., 1])
    span = chip.model.gmax - chip.model.gmin
    # open loop (model inverse) vs closed loop (read-verify): the latter is tighter
    assert np.all(np.abs(d_after - d_before) < (0.35 if mode == "model" else 0.15) * span)
    smaller = np.where(signs > 0, after[..., 1], after[..., 0])
    assert np.all(smaller < chip.model.gmin + 0.1 * span)  # the other side was RESET
    assert arr.counters.refreshes == 6 and arr.counters.reset_ops == 12
    assert arr.counters.refresh_set_pulses > 0


def test_refresh_caps_the_rewritten_difference_and_verifies_the_sign(fresh):
    """The trainer's default refresh (cap 0.5, one verify round) runs on the bench, as on
    SimArray: a pair far from zero comes back with at most the cap of the range (plus a
    pulse's worth of noise), a small one with its own difference; every sign is kept."""
    chip = fresh.world.chip
    arr = BenchArray(fresh, 1, 3, row0=12, col0=0)
    arr.apply_set_pulses(np.array([[60, 4, 0]]), np.array([[0, 0, 50]]))
    before = arr.read_conductances()
    signs = arr.read_signs()
    arr.refresh(np.ones((1, 3), bool), cap=0.2, verify=2)
    after = arr.read_conductances()
    assert np.array_equal(arr.read_signs(), signs)
    span = arr._read_span()
    d_before, d_after = (np.abs(x[..., 0] - x[..., 1])[0] for x in (before, after))
    assert d_before[0] > 0.5 * span and d_before[2] > 0.5 * span
    assert np.all(d_after[[0, 2]] < 0.2 * span + 0.08 * span)          # capped
    assert abs(d_after[1] - d_before[1]) < 0.1 * span                  # below the cap: its own difference
    assert arr.counters.refreshes == 3 and arr.counters.sign_reads >= 3 + 3   # verify read each pair back
    assert chip.model.gmax > chip.model.gmin


def test_same_updates_as_simarray_on_the_same_chip(fresh):
    """DESIGN principle 1 at the protocol level: BenchArray (SCPI through PyVISA) and
    SimArray (Chip directly) given the same pulse counts leave the same conductances."""
    sim_array = pytest.importorskip("labbench.array.sim_array")
    cfg = fresh.config.chip
    sim = sim_array.SimArray(fresh.world.chip.model, cfg.rows, cfg.cols, seed=cfg.seed, dtype=np.float64)
    sim.tiles[0][2].load_state_dict(fresh.world.chip.state_dict())
    arr = BenchArray(fresh, 4, 5)
    rng = np.random.default_rng(5)
    for _ in range(3):
        n_plus = rng.integers(0, 4, (4, 5)) * (rng.random((4, 5)) < 0.5)
        n_minus = rng.integers(0, 4, (4, 5)) * (rng.random((4, 5)) < 0.5)
        arr.apply_set_pulses(n_plus, n_minus)
        full_p = np.zeros((cfg.rows, cfg.cols), int)
        full_m = np.zeros((cfg.rows, cfg.cols), int)
        full_p[:4, :5], full_m[:4, :5] = n_plus, n_minus
        sim.apply_set_pulses(full_p, full_m)
    assert np.array_equal(sim.conductances(), fresh.world.chip.conductance())
