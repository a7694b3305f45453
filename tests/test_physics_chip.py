"""The simulated chip: order-independent noise, thresholds, forming, reads, stuck cells, state."""
import numpy as np
from labbench.physics import circuit
import pytest

from labbench.physics import RESET, SET, Chip, DeviceModel, load_device_model


@pytest.fixture(scope="module")
def dm():
    return load_device_model()


def test_default_model_loads_with_literature_values(dm):
    assert dm.name == "hfox_2t2r_default"
    assert 5 <= dm.gmax / dm.gmin <= 50
    assert dm.update.pmax_set >= 64
    assert 0.02 <= dm.update.c2c_abs <= 0.04
    assert dm.d2d.sigma["g_max"] == pytest.approx(0.10)
    assert dm.references


def test_noise_does_not_depend_on_visit_order(dm):
    a, b = Chip(dm, 8, 8, seed=7), Chip(dm, 8, 8, seed=7)
    idx = np.arange(a.size)
    for _ in range(5):
        a.pulse(idx, 3, SET)                        # all at once (SimArray style)
        for i in np.random.default_rng(0).permutation(idx):
            b.pulse([i], 3, SET)                    # one by one, shuffled (bench style)
    np.testing.assert_array_equal(a.g, b.g)


def test_seed_changes_noise_and_d2d(dm):
    """Each seed draws the documented cycle-to-cycle noise (physics/models.py): one SET pulse
    in mid-range lands at the model's noise-free step plus a normal of σ = c2c_abs × range,
    clipped at ±3σ (NOISE_ROOM), unbiased; two seeds draw independent noise.  (The D2D
    draws per seed: the next test.)"""
    from labbench.physics.models import NOISE_ROOM

    d = dm.to_dict()
    d["d2d"], d["faults"] = {"sigma": {}}, {}          # identical devices: only the pulse noise differs
    model = DeviceModel.model_validate(d)
    u, span = model.update, model.gmax - model.gmin
    assert u.c2c_abs > 0 and u.c2c_rel == 0
    residuals = []
    for seed in (1, 2):
        c = Chip(model, 64, 32, seed=seed)
        idx = np.arange(c.size)
        c.pulse(idx, 20, SET)                            # to mid-range, away from the bounds' shrinking
        g0 = np.array(c.g, float)
        assert 0.3 < (g0.mean() - model.gmin) / span < 0.7
        c.pulse(idx, 1, SET)
        mean = u.pulse_once(g0, np.full(g0.shape, SET, np.int8))      # the noise-free step
        z = (np.array(c.g, float) - mean) / (u.c2c_abs * span)         # in units of σ
        n = z.size
        assert abs(z.mean()) < 4 / np.sqrt(n), seed                   # unbiased
        assert z.std() == pytest.approx(1.0, rel=0.04), seed           # σ = c2c_abs of the range (n = 4096)
        assert np.abs(z).max() <= NOISE_ROOM * (1 + 1e-9), seed        # clipped at ±3σ
        assert np.mean(np.abs(z) < 1) == pytest.approx(0.683, abs=0.03), seed   # normal, not uniform
        residuals.append(z)
    assert abs(np.corrcoef(*residuals)[0, 1]) < 0.06                  # independent draws per seed
    a, b = Chip(dm, 4, 4, seed=1), Chip(dm, 4, 4, seed=2)              # and the D2D draws differ
    assert not np.array_equal(a._gmax, b._gmax)


def test_each_seed_draws_the_documented_device_to_device_distribution():
    """Lognormal D2D, truncated at 3 sigma, around the nominal values: every seed gives the
    model's sigma of ln(Gmax) and ln(Gmin), different devices, the same statistics."""
    from labbench.physics import load_device_model

    model = load_device_model("hfox_2t2r_default")
    sig = model.d2d.sigma
    trunc = model.d2d.truncate
    for seed in (1, 2, 3):
        c = Chip(model, 64, 64, seed=seed)
        for name, per_device, nominal in (("g_max", c._gmax, model.gmax), ("g_min", c._gmin, model.gmin)):
            z = np.log(np.asarray(per_device, float) / nominal)
            # the sample sd of 8192 draws of a 3-sigma-truncated normal: 0.986 sigma, +-3 %
            assert np.std(z) == pytest.approx(0.986 * sig[name], rel=0.05), (seed, name)
            assert abs(np.mean(z)) < 0.05 * sig[name] * 4, (seed, name)
            assert np.abs(z).max() <= trunc * sig[name] * (1 + 1e-6), (seed, name)
    g1, g2 = Chip(model, 64, 64, seed=1)._gmax, Chip(model, 64, 64, seed=2)._gmax
    assert np.corrcoef(np.log(g1), np.log(g2))[0, 1] == pytest.approx(0.0, abs=0.05)   # independent draws


def test_electrical_thresholds_gate_pulses(dm):
    c = Chip(dm, 2, 2, seed=0)
    i = c.flat(0, 0, 0)
    g0 = c.g[i]
    sw = dm.switching
    c.pulse([i], 5, SET, amplitude=sw.v_set * 0.5, width=1e-6, gate=1.5)
    c.pulse([i], 5, SET, amplitude=sw.v_set * 1.2, width=sw.min_pulse_width / 10, gate=1.5)
    c.pulse([i], 5, SET, amplitude=sw.v_set * 1.2, width=1e-6, gate=0.0)
    assert c.g[i] == g0
    nominal = sw.set_kinetics
    c.pulse([i], 5, SET, amplitude=nominal.amplitude, width=nominal.width, gate=1.5)
    assert c.g[i] > g0


def test_forming_then_programming(dm):
    c = Chip(dm, 2, 2, seed=0, formed=False)
    i = c.flat(1, 1, 1)
    assert c.g[i] == pytest.approx(dm.switching.g_pristine)
    c.pulse([i], 10, SET)
    assert c.g[i] == pytest.approx(dm.switching.g_pristine)   # pristine cells do not switch
    assert not c.form([i], dm.switching.v_form - 0.5, 1e-4).any()
    assert c.form([i], dm.switching.v_form * 1.3, 1e-4).all()   # above V_form and its spread
    assert dm.gmin <= c.g[i] <= c._gmax[i]
    c.reset_full([i])
    assert c.g[i] < c._gmin[i] * 3


def test_read_is_ohmic_through_access_transistor_and_compliance(dm):
    c = Chip(dm, 2, 2, seed=0)
    i = c.flat(0, 1, 0)
    c.pulse([i], 64, SET)
    g = c.g[i]
    i_noiseless = c.current([i], 0.1, noisy=False)[0]
    # through the transistor at the read gate and the lines: less than G·V, and exactly the circuit's
    assert i_noiseless == pytest.approx(0.1 * float(circuit.as_read(dm, g, 0.1)), rel=1e-9)
    assert i_noiseless < 0.1 * g / (1 + g * dm.switching.on_resistance)
    reads = np.array([c.read_conductance([i])[0] for _ in range(2000)])
    assert np.std(reads) / np.mean(reads) == pytest.approx(dm.read.noise_rel, rel=0.15)
    assert c.current([i], 0.1, compliance=1e-7)[0] == pytest.approx(1e-7)


def test_dc_set_is_the_pulse_model_and_reset_returns_near_gmin(dm):
    c = Chip(dm, 1, 1, seed=0)
    i = c.flat(0, 0, 0)
    c.dc([i], 0.3, 1e-3)
    # below V_set: no switching, only a read's disturb (7e-6 of the way to Gmax at 0.3 V)
    assert c.g[i] == pytest.approx(c._gmin[i], rel=1e-3) and c.g[i] >= c._gmin[i]
    c.dc([i], 1.5, 4e-6)                                # SET limited to 4 µA: G ≤ I_C / v_compliance
    assert c._gmin[i] < c.g[i] <= 4e-6 / dm.switching.v_compliance + 1e-12
    c.dc([i], 1.5, 1e-3)                                # no compliance in the way: far up
    assert c.g[i] > c._gmin[i] + 0.5 * (c._gmax[i] - c._gmin[i])
    c.dc([i], -1.5, 1e-3, gate=2.5)                     # the SMU's strong RESET
    assert c.g[i] < c._gmin[i] + 0.15 * (c._gmax[i] - c._gmin[i])


def test_stuck_cells_never_move():
    dm = load_device_model()
    faulty = DeviceModel.model_validate({**dm.to_dict(), "faults": {"stuck_at_gmin": 0.2, "stuck_at_gmax": 0.1}})
    c = Chip(faulty, 32, 32, seed=3)
    low, high = c.stuck == -1, c.stuck == 1
    assert 0.15 < low.mean() < 0.25 and 0.06 < high.mean() < 0.14
    before = c.g.copy()
    c.pulse(np.arange(c.size), 10, SET)
    np.testing.assert_array_equal(c.g[low | high], before[low | high])
    np.testing.assert_allclose(c.g[high], c._gmax[high])


def test_state_dict_round_trip(dm):
    a = Chip(dm, 4, 4, seed=5)
    a.pulse(np.arange(a.size), 4, SET)
    b = Chip(dm, 4, 4, seed=5)
    b.load_state_dict(a.state_dict())
    a.pulse(np.arange(a.size), 2, RESET)
    b.pulse(np.arange(b.size), 2, RESET)
    np.testing.assert_array_equal(a.g, b.g)
    with pytest.raises(ValueError, match="shape"):
        Chip(dm, 2, 2).load_state_dict(a.state_dict())


def test_addressing_errors(dm):
    c = Chip(dm, 2, 3)
    assert c.flat(1, 2, 1) == c.size - 1
    with pytest.raises(IndexError):
        c.flat(2, 0, 0)
    with pytest.raises(IndexError):
        c.flat(0, 0, 2)
    with pytest.raises(ValueError):
        Chip(dm, 0, 3)


def test_small_and_vectorized_noise_paths_give_the_same_numbers():
    from labbench.physics.noise import counter_normal

    dev = np.arange(3000, dtype=np.uint64)
    cnt = dev * 7 + 3
    for dtype in (np.float64, np.float32):
        whole = counter_normal(9, dev, cnt, 1, dtype=dtype)
        one_by_one = np.concatenate([counter_normal(9, dev[i:i + 1], cnt[i:i + 1], 1, dtype=dtype)
                                     for i in range(dev.size)])
        np.testing.assert_array_equal(whole, one_by_one)
    assert abs(whole.mean()) < 0.1 and abs(whole.std() - 1) < 0.05


@pytest.mark.parametrize("call, match", [
    (lambda c: c.pulse(0, 1, "set", amplitude=float("nan"), width=1e-6, gate=1.2), r"amplitude nan V"),
    (lambda c: c.pulse(0, 1, "set", amplitude=1.5, width=float("inf"), gate=1.2), r"width inf s must be a finite number > 0"),
    (lambda c: c.pulse(0, 1, "set", amplitude=1.5, width=-1e-6, gate=1.2), r"width -1e-06 s"),
    (lambda c: c.pulse(0, 1, "set", amplitude=1.5, width=1e-6, gate=float("nan")), r"gate nan"),
    (lambda c: c.pulse(0, -3, "set", amplitude=1.5, width=1e-6, gate=1.2), r"pulse count -3 must be >= 0"),
    (lambda c: c.pulse(0, 2.5, "set"), r"pulse count 2.5 must be a whole number"),
    (lambda c: c.current([0], float("inf")), r"voltage inf V"),
    (lambda c: c.current([0], 0.1, compliance=-1e-4), r"compliance -0.0001 A must be a finite number > 0"),
    (lambda c: c.dc([0], 1.0, compliance=float("nan")), r"compliance nan"),
    (lambda c: c.dc([0], 1.0, compliance=1e-4, duration=-1.0), r"duration -1.0 s"),
    (lambda c: c.form([0], float("nan")), r"voltage nan"),
    (lambda c: c.advance_time(float("inf")), r"not a finite time"),
    (lambda c: c.advance_to(float("nan")), r"not a finite number"),
])
def test_the_chip_refuses_values_no_instrument_could_apply(call, match):
    """Defence in depth behind the bench's limits: NaN, inf and impossible values are
    refused by the physics itself, and the chip is left as it was."""
    from labbench.physics import load_device_model

    chip = Chip(load_device_model("hfox_2t2r_default"), 2, 2, seed=0)
    before = {k: v.copy() for k, v in chip.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        call(chip)
    for k, v in chip.state_dict().items():
        assert np.array_equal(v, before[k], equal_nan=True), k
