"""The chip's compiled loops (physics.kernels): the same physics as the NumPy models, the
same numbers whichever way a device is reached, and a normal that is a normal."""
import numpy as np
import pytest
from scipy import stats

from labbench.physics import Chip, energy, load_device_model, kernels
from labbench.physics.models import RESET, SET
from labbench.physics.noise import counter_normal, stream_base
from pulse_reference import numpy_burst


@pytest.fixture(scope="module")
def dm():
    return load_device_model()


# -- the normal ---------------------------------------------------------------------------
def test_counter_normals_are_standard_normal_with_the_right_tails():
    z = counter_normal(3, np.arange(2_000_000), 1, 1)
    assert abs(z.mean()) < 3 / np.sqrt(z.size) * 1.5 and abs(z.std() - 1) < 2e-3
    assert stats.kstest(z, "norm").pvalue > 1e-3
    for t in (2.0, 3.0, 3.6541528853610088, 4.0):      # 3.654: where the ziggurat's tail begins
        expected = 2 * stats.norm.sf(t)
        assert abs(np.mean(np.abs(z) > t) - expected) < 5 * np.sqrt(expected / z.size), t
    # consecutive events of one device are independent draws
    seq = counter_normal(3, 7, np.arange(200_000, dtype=np.uint64), 1)
    assert abs(np.corrcoef(seq[:-1], seq[1:])[0, 1]) < 0.01


def test_a_draw_does_not_depend_on_the_call_it_is_in():
    """Chunked, vectorized, scalar: one device alone gets the numbers it gets among many (a
    vectorized log rounding differently from the scalar remainder would break this)."""
    dev = np.arange(5000, dtype=np.uint64) * 7919
    cnt = np.arange(5000, dtype=np.uint64) % 13
    whole = counter_normal(9, dev, cnt, 2)
    base = stream_base(9, 2)
    scalar = np.array([kernels.normal_at(base, d, c) for d, c in zip(dev, cnt)])
    np.testing.assert_array_equal(whole, scalar)
    np.testing.assert_array_equal(whole[1234:1239], counter_normal(9, dev[1234:1239], cnt[1234:1239], 2))
    # a float32 chip sees the float64 chip's numbers, rounded
    np.testing.assert_array_equal(counter_normal(9, dev, cnt, 2, dtype=np.float32), whole.astype(np.float32))


# -- pulses -------------------------------------------------------------------------------
@pytest.mark.parametrize("c2c_rel", [0.0, 0.2])
@pytest.mark.parametrize("direction", [SET, RESET])
def test_the_compiled_pulse_is_the_neurosim_model(dm, direction, c2c_rel):
    """A burst through the compiled loop equals the NumPy model's pulse-by-pulse step with the
    same normals, per device (D2D), to float32 rounding."""
    model = type(dm).model_validate({**dm.to_dict(), "update": {**dm.update.to_dict(), "c2c_rel": c2c_rel}})
    chip = Chip(model, 8, 8, seed=4, dtype=np.float32, initial="gmin" if direction == SET else "gmax")
    idx = np.arange(0, chip.size, 3)
    n = (idx % 4) + 1
    g = numpy_burst(chip, idx, n, direction)
    chip.pulse(idx, n, direction)
    np.testing.assert_allclose(chip.g[idx], g, rtol=2e-5, atol=1e-12)
    assert (chip.write_events[idx] == n).all()


def test_pulse_pairs_equal_the_same_pulses_sent_one_by_one(dm):
    """SimArray's update (signed counts, one compiled pass) and Chip.pulse device by device
    leave the same chip, bit for bit."""
    a, b = (Chip(dm, 12, 9, seed=2, dtype=np.float32) for _ in range(2))
    rng = np.random.default_rng(1)
    for _ in range(5):
        k = (rng.integers(-3, 4, a.rows * a.cols) * (rng.random(a.rows * a.cols) < 0.3)).astype(np.int8)
        syn, diff, sent = a.pulse_pairs(k)
        np.testing.assert_array_equal(syn, np.flatnonzero(k))
        assert sent == np.abs(k.astype(int)).sum()
        for s in syn:
            b.pulse([2 * s + (k[s] < 0)], abs(int(k[s])), SET)
        np.testing.assert_array_equal(a.g, b.g)
        np.testing.assert_array_equal(diff, a.g[2 * syn] - a.g[2 * syn + 1])
    np.testing.assert_array_equal(a.write_events, b.write_events)
    assert a.program_energy == pytest.approx(b.program_energy, rel=1e-6)


def test_a_bursts_energy_is_the_sum_of_its_pulses_and_the_read_sum_stays_true(dm):
    chip = Chip(dm, 6, 6, seed=1, dtype=np.float32)
    twin = Chip(dm, 6, 6, seed=1, dtype=np.float32)
    chip.charge_array_read()                        # starts tracking Σ I_read
    idx = np.arange(0, chip.size, 2)
    chip.pulse(idx, 5, SET)
    for _ in range(5):                              # the same pulses one at a time
        twin.pulse(idx, 1, SET)
    np.testing.assert_array_equal(chip.g, twin.g)
    assert chip.program_energy == pytest.approx(twin.program_energy, rel=1e-6) and chip.program_energy > 0
    recount = float(energy.cell_current(dm, chip.g, dm.read.voltage, dm.read.gate).sum(dtype=np.float64))
    assert chip._read_i_sum == pytest.approx(recount, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_vectorized_cell_currents_are_the_scalar_ones_bit_for_bit(dtype):
    """kernels.cell_currents (a chunk at once, branches hoisted, a select) against
    kernels.cell_current device by device: every bias kind (ungated, gated SET saturated or
    not, gated RESET above and below V_ov, gate off), conductances from 0 to beyond Gmax."""
    rng = np.random.default_rng(0)
    g = np.concatenate([rng.uniform(0, 6e-5, 3000), rng.lognormal(np.log(2e-5), 1.5, 3000),
                        [0.0, 1e-12, 4e-5, 1e-3]]).astype(dtype)
    for v in (0.1, 1.5, 3.0):
        for gate in (None, 0.3, 0.6, 1.2, 2.5):
            for reset in (False, True):
                c = np.array([v, max((gate or 0.0) - 0.4, 0.0), 5e-5, 100.0, float(reset),
                              float(gate is not None), 1.37])
                out = np.empty(g.size)
                kernels.cell_currents(g, g.size, c, out)
                ref = np.array([kernels.cell_current(float(x), c) for x in g])
                np.testing.assert_array_equal(out, ref)
                assert (out > 0).any() or gate == 0.3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_numpy_cell_current_is_numpys_bit_for_bit(dm, dtype):
    """energy.cell_current_compiled (one pass, the NumPy form's operations in its order and
    precision) against energy.cell_current: every bias kind, a sinh I-V, no line
    resistance; the float64 sum a sense read charges is the same number too."""
    sinh = type(dm).model_validate({**dm.to_dict(), "energy": {**dm.energy.model_dump(), "iv": "sinh", "v0": 0.3}})
    no_rs = type(dm).model_validate({**dm.to_dict(), "switching": {**dm.switching.model_dump(), "on_resistance": 0.0}})
    rng = np.random.default_rng(1)
    g = np.concatenate([rng.uniform(0, 6e-5, 2000), rng.lognormal(np.log(2e-5), 1.5, 2000), [0.0, 4e-5]]).astype(dtype)
    for model in (dm, sinh, no_rs):
        for v in (0.1, 1.5, 3.0):
            for gate in (None, 0.3, 1.2, 2.5):
                for reset in (False, True):
                    ref = energy.cell_current(model, g, v, gate, reset)
                    got = energy.cell_current_compiled(model, g, v, gate, reset)
                    assert got.dtype == ref.dtype
                    np.testing.assert_array_equal(got, ref)
                    assert got.sum(dtype=np.float64) == ref.sum(dtype=np.float64)


def test_nonzero_scan_matches_numpy():
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 8, 9, 64, 1001, 392000):
        for density in (0.0, 0.02, 0.5, 1.0):
            k = np.where(rng.random(n) < density, rng.integers(-127, 128, n), 0).astype(np.int8)
            got = kernels.nonzero_int8(k, k[:k.size - k.size % 8].view(np.uint64))
            np.testing.assert_array_equal(got, np.flatnonzero(k))


# -- reads --------------------------------------------------------------------------------
def test_a_whole_array_read_equals_reading_each_device(dm):
    """The fused read (noise, disturb and energy in one pass) against the same devices read
    one at a time through the general path."""
    a, b = (Chip(dm, 5, 7, seed=6, dtype=np.float32) for _ in range(2))
    for c in (a, b):
        c.pulse(np.arange(0, c.size, 2), 9, SET)
    whole = a.current(None, dm.read.voltage)
    single = np.concatenate([b.current([i], dm.read.voltage) for i in range(b.size)])
    np.testing.assert_array_equal(whole, single)
    # the same disturb (the whole-array read's is counted and applied when looked at)
    np.testing.assert_array_equal(a.conductance().reshape(-1), b.g)
    np.testing.assert_array_equal(a.read_events, b.read_events)
    assert a.read_energy == pytest.approx(b.read_energy, rel=1e-6)


def test_the_compiled_threshold_check_is_the_numpy_rule(dm):
    """Above the level at the larger device, with the patience counter: the one-pass check
    against the NumPy formulation, on the same reads, over consecutive checks."""
    from labbench.bnn.refresh import ThresholdRefresh

    class Recorder:
        rows, cols = 30, 20

        def __init__(self, reads):
            self.reads, self.masks = iter(reads), []

        def read_conductances(self):
            return next(self.reads)

        def refresh(self, mask, cap=None, verify=0):
            self.masks.append(mask.copy())

    rng = np.random.default_rng(2)
    lo, hi = dm.gmin / (1 + dm.gmin * 1e3), dm.gmax / (1 + dm.gmax * 1e3)
    reads = [(lo + (hi - lo) * rng.random((30, 20, 2))).astype(np.float32) for _ in range(4)]
    reads[2][:3] = np.float32(hi)                           # some pairs stay above
    policy = ThresholdRefresh(dm, level=0.6, check_every=1, patience=2)
    array = Recorder(reads)
    counts = [policy(array, k) for k in range(1, 5)]
    strikes = np.zeros((30, 20), int)
    for g, mask, n in zip(reads, array.masks, counts):
        above = np.maximum(g[..., 0], g[..., 1]) >= np.float32(policy.threshold)
        strikes = np.where(above, strikes + 1, 0)
        np.testing.assert_array_equal(mask, above & (strikes <= 2))
        assert n == mask.sum()
    np.testing.assert_array_equal(policy.state(array), strikes)


# -- compilation happens before a run, with signals held ----------------------------------
def _signatures():
    """Compiled signatures of every loop: a new one means numba compiled during the run,
    where a SIGTERM would be raised inside a C callback and dropped."""
    from numba.core.registry import CPUDispatcher

    import labbench.array.sim_array as sim_array
    import labbench.bnn.refresh as refresh
    import labbench.bnn.update_rules as rules

    return {f"{m.__name__}.{n}": len(f.signatures) for m in (kernels, rules, refresh, sim_array)
            for n, f in vars(m).items() if isinstance(f, CPUDispatcher)}


def test_training_compiles_nothing_after_its_warm_up():
    from labbench.bnn.trainer import Trainer

    from test_bnn_trainer import cfg, toy

    t = Trainer(cfg(epochs=2, refresh_level=0.4, refresh_check_every=2, idle_between_epochs=10.0),
                progress=False, plots=False)
    t._compile_device_loops()
    before = _signatures()
    t.fit(*toy(3000, 0), *toy(500, 1))
    assert sum(h["pairs_refreshed"] for h in t.history) > 0      # the refresh path ran too
    assert _signatures() == before


def test_a_simulated_bench_compiles_its_loops_when_it_opens():
    from labbench.instruments import Bench
    from labbench.paths import BENCHES
    from labbench.procedures import PulseTrain
    from labbench.runner import run_procedure

    with Bench.from_yaml(BENCHES / "sim.yaml") as bench:
        before = _signatures()
        run_procedure(PulseTrain(cells="0:2, 0:2", cycles=1, pulses=4), bench, None, progress=False)
        bench.read_cell(0, 0, 0)
        bench.reset_cell(0, 0, 0)
    assert _signatures() == before
