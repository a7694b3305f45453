"""Drift at rest, read disturb, endurance and energy of the simulated Chip (issue 14)."""
import numpy as np
from labbench.physics import circuit
import pytest

from labbench.array.sim_array import SimArray
from labbench.physics import load_device_model
from labbench.physics import retention as ret_mod
from labbench.physics.chip import WORN, Chip
from labbench.physics.models import RESET, SET


@pytest.fixture(scope="module")
def dm():
    return load_device_model()


def _with(dm, **blocks):
    """The default model with some blocks replaced (None removes one)."""
    d = dm.to_dict()
    for k, v in blocks.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = {**d.get(k, {}), **v}
    return type(dm).model_validate(d)


def _programmed(model, rows=8, cols=8, seed=1, pulses=20):
    c = Chip(model, rows, cols, seed=seed)
    c.pulse(np.arange(c.size), pulses, SET)
    return c


def test_drift_relaxes_each_device_to_its_level_with_its_own_tau(dm):
    c = _programmed(dm)
    g0 = c.g.copy()
    c.advance_time(3e4)
    r = dm.retention
    idx = np.arange(c.size)
    tau = ret_mod.device_taus(r, c.seed, idx)
    g_inf = c._gmin + r.level * (c._gmax - c._gmin)
    np.testing.assert_allclose(c.g, g_inf + (g0 - g_inf) * np.exp(-3e4 / tau), rtol=1e-12)
    assert (c.g < g0).all()                                      # towards the HRS
    # the D2D spread of tau: devices drift by different fractions
    frac = (g0 - c.g) / (g0 - g_inf)
    assert np.std(np.log(-np.log1p(-frac))) == pytest.approx(r.tau_d2d, rel=0.25)


def test_drift_is_markovian_and_ignores_sub_step_times(dm):
    a, b = _programmed(dm), _programmed(dm)
    a.advance_time(1e3)
    a.advance_time(2e3)
    b.advance_time(3e3)
    np.testing.assert_allclose(a.g, b.g, rtol=1e-12)
    c = _programmed(dm)
    g = c.g.copy()
    for _ in range(50):                 # 50 × 10 ms: below time_step each time, and in total
        c.advance_time(0.01)
    assert np.array_equal(c.g, g) and c.time == pytest.approx(0.5)
    c.advance_time(0.6)                 # 1.1 s since drift was last applied: all of it now
    ref = _programmed(dm)
    ref.advance_time(1.1)
    np.testing.assert_allclose(c.g, ref.g, rtol=1e-12)


def test_hotter_chip_drifts_faster_by_arrhenius(dm):
    hot = _with(dm, retention={"temperature": 358.0})
    c_cold, c_hot = _programmed(dm), _programmed(hot)
    g0 = c_cold.g.copy()
    c_cold.advance_time(1e3)
    c_hot.advance_time(1e3)
    lost_cold = np.median((g0 - c_cold.g) / g0)
    lost_hot = np.median((g0 - c_hot.g) / g0)
    r = dm.retention
    accel = np.exp(r.activation_energy / ret_mod.K_B * (1 / 300.0 - 1 / 358.0))
    assert accel > 100 and lost_hot > 20 * lost_cold
    # a bake of the 300 K chip at 358 K is the hot model's idle time
    c_bake = _programmed(dm)
    c_bake.advance_time(1e3, temperature=358.0)
    np.testing.assert_allclose(c_bake.g, c_hot.g, rtol=1e-12)
    with pytest.raises(ValueError, match="temperature"):
        c_bake.advance_time(1.0, temperature=-5)


def test_read_disturb_sets_slowly_and_scales_with_voltage(dm):
    quiet = _with(dm, read={"noise_rel": 0.0})
    c = Chip(quiet, 1, 2, seed=0)
    g0 = c.g.copy()
    for _ in range(1000):
        c.read_conductance([0], 0.1)
        c.read_conductance([1], 0.2)
    f1 = dm.read_disturb.shift
    f2 = f1 * np.exp(0.1 / dm.read_disturb.v0)
    for i, f in ((0, f1), (1, f2)):
        expect = c._gmax[i] - (c._gmax[i] - g0[i]) * (1 - f) ** 1000
        assert c.g[i] == pytest.approx(expect, rel=1e-9)
    assert c.g[1] - g0[1] > 2 * (c.g[0] - g0[0]) > 0
    before = c.g[0]
    c.current([0], -0.1)                                       # a negative read RESETs, as slowly
    assert c.g[0] < before


def test_endurance_wears_a_device_out_and_a_burst_equals_single_pulses(dm):
    short = _with(dm, endurance={"median": 12, "sigma": 0.0, "stuck_at": "gmax"})
    a, b = Chip(short, 2, 2, seed=3), Chip(short, 2, 2, seed=3)
    a.pulse([0, 1], [20, 5], SET)
    for _ in range(20):
        b.pulse([0], 1, SET)
    for _ in range(5):
        b.pulse([1], 1, SET)
    for k, v in a.state_dict().items():
        if k != "energy":
            assert np.array_equal(v, b.state_dict()[k]), k
    assert a.write_events[0] == 12 and a.stuck[0] == WORN and a.g[0] == a._gmax[0]
    assert a.stuck[1] == 0 and a.wear()["worn_fraction"] == pytest.approx(1 / 8)
    a.pulse([0], 3, RESET)                                     # stuck: nothing moves it
    assert a.g[0] == a._gmax[0] and a.write_events[0] == 12
    spread = _with(dm, endurance={"median": 1e4, "sigma": 0.5})
    e = Chip(spread, 50, 50).endurance_of(np.arange(5000))
    assert np.std(np.log(e)) == pytest.approx(0.5, rel=0.1) and np.median(e) == pytest.approx(1e4, rel=0.1)


def test_pulse_and_read_energy_is_v_times_i_of_g_times_t(dm):
    c = Chip(dm, 1, 1, seed=0, dtype=np.float64)
    g0 = float(c.g[0])
    c.pulse([0], 1, SET)
    g1 = float(c.g[0])
    kin = dm.switching.set_kinetics
    # the nominal pulse at its own gate, through the transistor (physics.circuit)
    i = [float(circuit.cell_current(dm.switching, np.array([g]), kin.amplitude, kin.gate)[0]) for g in (g0, g1)]
    assert c.program_energy == pytest.approx(kin.amplitude * kin.width * (i[0] + i[1]) / 2, rel=1e-12)
    assert 1e-12 < c.program_energy < 1e-10                    # tens of pJ for a µA-scale SET
    cur = float(c.current([0], 0.1)[0])
    assert c.read_energy == pytest.approx(0.1 * cur * dm.energy.read_time, rel=1e-12)
    assert c.read_energy < c.program_energy / 100
    e, g0 = c.program_energy, float(c.g[0])
    c.reset_full([0])      # a strong RESET: the nominal RESET pulse for a saturating train's time
    rk = dm.switching.reset_kinetics
    t_full = 2 * abs(dm.update.a_reset) * rk.width
    i = [float(circuit.cell_current(dm.switching, np.array([g]), rk.amplitude, rk.gate, reset=True)[0])
         for g in (g0, float(c.g[0]))]
    assert c.program_energy - e == pytest.approx(rk.amplitude * t_full * (i[0] + i[1]) / 2, rel=1e-12)
    none = Chip(_with(dm, energy=None), 1, 1)
    none.pulse([0], 1, SET)
    assert none.energy() == {"program": 0.0, "read": 0.0}


def test_simarray_idle_time_energy_and_wear_are_the_chips(dm):
    a = SimArray(dm, 6, 5, seed=2, dtype=np.float64)
    c = Chip(dm, 6, 5, seed=2)
    k = np.random.default_rng(0).integers(-3, 4, (6, 5))
    a.apply_signed_pulses(k)
    syn = np.flatnonzero(k.ravel())
    c.pulse(syn * 2 + (k.ravel()[syn] < 0), np.abs(k.ravel()[syn]), SET)
    a.advance_time(5e3)
    c.advance_time(5e3)
    assert np.array_equal(a.conductances().reshape(-1), c.g)
    assert a.energy()["program"] == pytest.approx(c.program_energy, rel=1e-12) and c.program_energy > 0
    w = a.wear()
    assert w["pulses_max"] == 3 and w["pulses_mean"] == pytest.approx(np.abs(k).sum() / 60)
    assert sum(w["hist_counts"]) == 60 and w["worn_fraction"] == 0.0
    a.read_signs_float()
    a.advance_time(1e7)                  # a long idle: every device back at its own HRS
    gmin = c._gmin.reshape(6, 5, 2)
    np.testing.assert_allclose(a.conductances(), gmin, rtol=1e-6)
    # the cached signs were dropped: the sense amplifier now sees the HRS mismatch
    assert np.array_equal(a.read_signs_float(), np.where(gmin[..., 0] >= gmin[..., 1], 1.0, -1.0))


def test_a_sign_read_charges_one_read_of_every_device_kept_up_to_date_by_pulses(dm):
    a = SimArray(dm, 5, 4, seed=1, dtype=np.float64)
    chip = a.tiles[0][2]

    def full_read():
        g = chip.g
        return dm.read.voltage ** 2 * dm.energy.read_time * float(np.sum(circuit.as_read(dm, g)))

    e0 = a.energy()["read"]
    a.read_signs_float()
    assert a.energy()["read"] - e0 == pytest.approx(full_read(), rel=1e-12)
    a.apply_signed_pulses(np.random.default_rng(1).integers(-2, 3, (5, 4)))   # incremental Σ I
    e1 = a.energy()["read"]
    a.read_signs()
    assert a.energy()["read"] - e1 == pytest.approx(full_read(), rel=1e-9)
    a.advance_time(1e4)                                                        # drift: recomputed
    e2 = a.energy()["read"]
    a.read_signs_float()
    assert a.energy()["read"] - e2 == pytest.approx(full_read(), rel=1e-12)
