"""SimArray: one physics with the Chip, counters, sense amplifier, tiling, refresh, memory."""
import numpy as np
import pytest

from labbench.array import Array2T2R, SimArray
from labbench.physics import SET, Chip, DeviceModel, load_device_model


@pytest.fixture(scope="module")
def dm():
    return load_device_model()


def random_counts(rng, shape, p=0.3, high=4):
    return np.where(rng.random(shape) < p, rng.integers(1, high, shape), 0)


def test_is_an_array2t2r_and_pulses_are_the_chips(dm):
    rng = np.random.default_rng(0)
    arr = SimArray(dm, 6, 5, seed=11)
    assert isinstance(arr, Array2T2R)
    chip = Chip(dm, 6, 5, seed=11, dtype=np.float32)      # the same chip, driven cell by cell
    for _ in range(4):
        n_plus, n_minus = random_counts(rng, (6, 5)), random_counts(rng, (6, 5))
        arr.apply_set_pulses(n_plus, n_minus)
        for (r, c), n in np.ndenumerate(n_plus):
            if n:
                chip.pulse([chip.flat(r, c, 0)], n, SET)
        for (r, c), n in np.ndenumerate(n_minus):
            if n:
                chip.pulse([chip.flat(r, c, 1)], n, SET)
    np.testing.assert_array_equal(arr.conductances(), chip.conductance())
    assert arr.counters.set_pulses > 0


def test_counters_and_signed_fast_path_agree(dm):
    rng = np.random.default_rng(1)
    a, b = SimArray(dm, 8, 7, seed=3), SimArray(dm, 8, 7, seed=3)
    total = 0
    for _ in range(5):
        k = (random_counts(rng, (8, 7)) * np.where(rng.random((8, 7)) < 0.5, 1, -1)).astype(np.int8)
        a.apply_set_pulses(np.maximum(k, 0), np.maximum(-k, 0))
        b.apply_signed_pulses(k)
        total += int(np.abs(k).sum())
    np.testing.assert_array_equal(a.conductances(), b.conductances())
    assert a.counters.set_pulses == b.counters.set_pulses == total
    a.read_signs()
    assert a.counters.sign_reads == 8 * 7
    a.read_conductances()
    assert a.counters.conductance_reads == 2 * 8 * 7


def test_cached_signs_follow_every_write(dm):
    rng = np.random.default_rng(2)
    arr = SimArray(dm, 9, 6, seed=0, sense_offset=0.02)
    for step in range(12):
        arr.read_signs_float()                          # populate the cache
        arr.apply_signed_pulses((rng.integers(-2, 3, (9, 6))).astype(np.int8))
        if step % 4 == 3:
            arr.refresh(rng.random((9, 6)) < 0.3, cap=0.5, verify=1)
        g = arr.conductances()
        expected = np.where(g[..., 0] - g[..., 1] + arr._offset >= 0, 1, -1)
        np.testing.assert_array_equal(arr.read_signs_float(), expected)
        np.testing.assert_array_equal(arr.read_signs(), expected)


def test_sense_amplifier_sets_a_bit_error_rate(dm):
    rng = np.random.default_rng(3)
    ideal = SimArray(dm, 40, 40, seed=5)
    noisy = SimArray(dm, 40, 40, seed=5, sense_noise=0.05)
    noisier = SimArray(dm, 40, 40, seed=5, sense_noise=0.2)
    k = rng.integers(-3, 4, (40, 40)).astype(np.int8)
    for arr in (ideal, noisy, noisier):
        arr.apply_signed_pulses(k)
    assert ideal.bit_error_rate() == 0.0
    assert 0 < noisy.bit_error_rate() < noisier.bit_error_rate() < 0.5
    with pytest.raises(ValueError, match="sense"):
        SimArray(dm, 2, 2, sense_noise=-0.1)


def test_tiles_cover_the_layer_with_their_own_devices(dm):
    rng = np.random.default_rng(4)
    arr = SimArray(dm, 10, 7, seed=2, tile=(4, 3))
    assert len(arr.tiles) == 3 * 3
    n_plus, n_minus = random_counts(rng, (10, 7)), random_counts(rng, (10, 7))
    g0 = arr.conductances().copy()
    arr.apply_set_pulses(n_plus, n_minus)
    moved = arr.conductances() != g0
    # each device got exactly its pulses (a pulse from Gmin may be clipped back onto it by
    # its noise, so "moved" is only a subset of "pulsed")
    events = np.empty((10, 7, 2), np.int64)
    for rs, cs, chip in arr.tiles:
        events[rs, cs] = chip.write_events.reshape(chip.rows, chip.cols, 2)
    np.testing.assert_array_equal(events[..., 0], n_plus)
    np.testing.assert_array_equal(events[..., 1], n_minus)
    assert not (moved[..., 0] & (n_plus == 0)).any() and not (moved[..., 1] & (n_minus == 0)).any()
    assert moved[..., 0][n_plus > 0].mean() > 0.7
    # tiles are distinct chips: their device-to-device draws differ
    gmax = [chip._gmax[:4] for _, _, chip in arr.tiles]
    assert not np.array_equal(gmax[0], gmax[1])
    state = arr.state_dict()
    other = SimArray(dm, 10, 7, seed=2, tile=(4, 3))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.conductances(), arr.conductances())
    assert other.counters == arr.counters
    np.testing.assert_array_equal(other.read_signs(), arr.read_signs())


def test_refresh_restores_range_keeps_signs_and_counts_pulses(dm):
    rng = np.random.default_rng(5)
    arr = SimArray(dm, 30, 30, seed=9)
    # drive both sides high, with a clear difference
    arr.apply_set_pulses(rng.integers(30, 50, (30, 30)), rng.integers(5, 25, (30, 30)))
    g = arr.conductances()
    signs = arr.true_signs()
    mask = np.ones((30, 30), bool)
    before = arr.counters.as_dict()
    ev0 = arr.tiles[0][2].write_events.astype(np.int64)
    arr.refresh(mask, verify=2)
    after = arr.counters.as_dict()
    g2 = arr.conductances()
    span = dm.gmax - dm.gmin
    assert np.maximum(g2[..., 0], g2[..., 1]).mean() < np.maximum(g[..., 0], g[..., 1]).mean() - 0.2 * span
    assert np.mean(arr.true_signs() == signs) > 0.99                    # signs kept
    # the lower side went back to its Gmin, the difference was re-written on the larger
    # the side that was only RESET: one write event (the re-written side has more)
    new_events = (arr.tiles[0][2].write_events - ev0).reshape(30, 30, 2)
    side = np.argmin(new_events, axis=-1)[..., None]
    assert (np.take_along_axis(new_events, side, -1) == 1).all()
    low = np.take_along_axis(g2, side, -1)[..., 0]
    lo, hi = _hrs_band(arr, dm)
    lo, hi = np.take_along_axis(lo, side, -1)[..., 0], np.take_along_axis(hi, side, -1)[..., 0]
    assert np.all((low >= lo) & (low <= hi))
    diff_before, diff_after = np.abs(g[..., 0] - g[..., 1]), np.abs(g2[..., 0] - g2[..., 1])
    assert np.corrcoef(diff_before.ravel(), diff_after.ravel())[0, 1] > 0.8
    assert after["refreshes"] - before["refreshes"] == 900
    assert after["reset_ops"] - before["reset_ops"] == 1800
    spent = after["refresh_set_pulses"] - before["refresh_set_pulses"]
    assert spent >= 900 and after["set_pulses"] == before["set_pulses"]   # refresh pulses counted apart
    # capped: the re-written difference stays under the cap (plus pulse noise), fewer pulses
    capped, full = SimArray(dm, 30, 30, seed=9), SimArray(dm, 30, 30, seed=9)
    n_plus = rng.integers(30, 50, (30, 30))
    for x in (capped, full):
        x.apply_set_pulses(n_plus, np.zeros((30, 30), int))
    capped.refresh(mask, cap=0.25)
    full.refresh(mask)
    d_capped = np.abs(np.diff(capped.conductances(), axis=-1))
    assert 0.15 * span < d_capped.mean() < 0.35 * span      # open loop: noise and D2D around the cap
    assert np.abs(np.diff(full.conductances(), axis=-1)).mean() > 0.5 * span
    assert capped.counters.refresh_set_pulses < 0.7 * full.counters.refresh_set_pulses


def _hrs_band(arr, dm):
    """Where a full RESET may land: each device's own HRS for that drive (Gmin times the
    depth factor of a saturating RESET, kinetics.hrs_factor) times the ±3σ cycle-to-cycle
    factor."""
    from labbench.physics import kinetics

    chip = arr.tiles[0][2]
    depth = float(kinetics.hrs_factor(dm.switching, 1e4 / (2 * abs(dm.update.a_reset))))
    gmin = np.asarray(chip._gmin, float).reshape(chip.rows, chip.cols, 2) * depth
    f = np.exp(3 * dm.variability.hrs_c2c) * (1 + 1e-5)   # float32 rounding of the level
    return gmin / f, gmin * f


def test_reset_and_mask_errors(dm):
    arr = SimArray(dm, 3, 3, seed=0)
    arr.apply_set_pulses(np.full((3, 3), 10), np.full((3, 3), 10))
    mask = np.eye(3, dtype=bool)
    arr.reset(mask)
    g = arr.conductances()
    lo, hi = _hrs_band(arr, dm)
    assert np.all((g[mask] >= lo[mask]) & (g[mask] <= hi[mask]))   # its own HRS, this cycle's draw
    assert np.all(g[~mask] > dm.gmin * 2)
    assert arr.counters.reset_ops == 6
    with pytest.raises(ValueError, match="shape"):
        arr.reset(np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="shape"):
        arr.apply_set_pulses(np.zeros((3, 2), int), np.zeros((3, 3), int))
    with pytest.raises(ValueError, match=">= 0"):
        arr.apply_set_pulses(-np.ones((3, 3), int), np.zeros((3, 3), int))


def test_stuck_cells_do_not_move(dm):
    faulty = DeviceModel.model_validate({**dm.to_dict(), "faults": {"stuck_at_gmin": 0.1, "stuck_at_gmax": 0.05}})
    arr = SimArray(faulty, 20, 20, seed=1)
    stuck = arr.tiles[0][2].stuck.reshape(20, 20, 2) != 0
    g0 = arr.conductances().copy()
    arr.apply_set_pulses(np.full((20, 20), 20), np.full((20, 20), 20))
    np.testing.assert_array_equal(arr.conductances()[stuck], g0[stuck])
    assert np.mean(arr.conductances()[~stuck] > g0[~stuck]) > 0.99


def test_a_model_that_cannot_hold_a_weight_is_refused(dm, tmp_path):
    bad = dm.to_dict()
    bad["update"] = {**bad["update"], "g_max": bad["update"]["g_min"]}
    path = tmp_path / "bad.yaml"
    import yaml

    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="g_max"):
        load_device_model(path)
    # a model object that slipped past validation is refused by the array itself
    broken = dm.model_copy(update={"update": dm.update.__class__.__new__(dm.update.__class__)})
    object.__setattr__(broken.update, "__dict__", {**dm.update.__dict__, "g_max": dm.update.g_min / 2})
    with pytest.raises(ValueError, match="cannot represent a weight"):
        SimArray(broken, 2, 2)


def test_memory_of_a_784_by_1000_layer(dm):
    arr = SimArray(dm, 784, 1000, seed=0)
    arr.apply_signed_pulses(np.ones((784, 1000), np.int8))   # materialize per-device caches
    assert arr.nbytes() < 50e6
    assert arr.nbytes() > 784 * 1000 * 2 * 4 * 3   # counts conductance, Gmax and A per device at least


def test_one_physics_end_to_end_bench_and_simarray_train_to_the_same_conductances(dm, tmp_path):
    """The same training through BenchArray (SCPI to the simulated instruments, cell by
    cell) and through SimArray leaves the same chip, for the same seed (DESIGN principle 1)."""
    pytest.importorskip("labbench.array.bench_array")
    import yaml

    from labbench.array.bench_array import BenchArray
    from labbench.bnn.spec import TrainSpec
    from labbench.bnn.trainer import Trainer
    from labbench.instruments.bench import Bench
    from labbench.paths import BENCHES

    quiet = dm.to_dict()
    quiet["read"] = {**quiet["read"], "noise_rel": 0.0}     # noiseless reads: a tie is the only sign ambiguity
    # the bench spends instrument time (drift) and reads cells with the SMU (read disturb);
    # SimArray's sense amplifier is no chip read: compare the update physics without them
    quiet.pop("retention", None), quiet.pop("read_disturb", None)
    (tmp_path / "quiet.yaml").write_text(yaml.safe_dump(quiet))
    bench_cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    bench_cfg["chip"] = {**bench_cfg["chip"], "rows": 16, "cols": 4, "seed": 5,
                         "device_model": str(tmp_path / "quiet.yaml")}
    (tmp_path / "bench.yaml").write_text(yaml.safe_dump(bench_cfg))
    model = load_device_model(tmp_path / "quiet.yaml")

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (240, 16)).astype(np.float32)
    y = (x[:, :4] * np.array([1, -1, 1, -1])).argmax(1)
    cfg = TrainSpec(sizes=(16, 4), epochs=1, batch=2, lr=0.05, refresh="none", seed=1)   # 120 steps

    bench = Bench.from_yaml(tmp_path / "bench.yaml")
    try:
        Trainer(cfg, model, progress=False, array_factory=lambda r, c, i: BenchArray(bench, r, c)).fit(x, y, x, y)
        g_bench = bench.world.chip.conductance().copy()
    finally:
        bench.close()
    sim = Trainer(cfg, model, progress=False,
                  array_factory=lambda r, c, i: SimArray(model, r, c, seed=5, dtype=np.float64))
    sim.fit(x, y, x, y)
    assert sim.arrays[0].counters.set_pulses > 100
    np.testing.assert_allclose(sim.arrays[0].conductances(), g_bench, rtol=1e-12, atol=0)
