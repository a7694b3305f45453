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


#: the exponential, state-independent drift of schema 2 (what the tests of that form use)
OLD = {"tau": 1e5, "activation_energy": 1.1, "state_factor": 0.0, "relaxation": None}


@pytest.fixture(scope="module")
def old(dm):
    return _with(dm, retention=OLD)


def _programmed(model, rows=8, cols=8, seed=1, pulses=20):
    c = Chip(model, rows, cols, seed=seed)
    c.pulse(np.arange(c.size), pulses, SET)
    return c


def test_drift_relaxes_each_device_to_its_level_with_its_own_tau(old):
    c = _programmed(old)
    g0 = c.g.copy()
    c.advance_time(3e4)
    r = old.retention
    idx = np.arange(c.size)
    tau = ret_mod.device_taus(r, c.seed, idx)
    g_inf = c._gmin + r.level * (c._gmax - c._gmin)
    np.testing.assert_allclose(c.g, g_inf + (g0 - g_inf) * np.exp(-3e4 / tau), rtol=1e-12)
    assert (c.g < g0).all()                                      # towards the HRS
    # the D2D spread of tau: devices drift by different fractions
    frac = (g0 - c.g) / (g0 - g_inf)
    assert np.std(np.log(-np.log1p(-frac))) == pytest.approx(r.tau_d2d, rel=0.25)


def test_drift_is_markovian_and_ignores_sub_step_times(old):
    a, b = _programmed(old), _programmed(old)
    a.advance_time(1e3)
    a.advance_time(2e3)
    b.advance_time(3e3)
    np.testing.assert_allclose(a.g, b.g, rtol=1e-12)
    c = _programmed(old)
    g = c.g.copy()
    for _ in range(50):                 # 50 × 10 ms: below time_step each time, and in total
        c.advance_time(0.01)
    assert np.array_equal(c.g, g) and c.time == pytest.approx(0.5)
    c.advance_time(0.6)                 # 1.1 s since drift was last applied: all of it now
    ref = _programmed(old)
    ref.advance_time(1.1)
    np.testing.assert_allclose(c.g, ref.g, rtol=1e-12)


def test_hotter_chip_drifts_faster_by_arrhenius(old):
    hot = _with(old, retention={"temperature": 358.0})
    c_cold, c_hot = _programmed(old), _programmed(hot)
    g0 = c_cold.g.copy()
    c_cold.advance_time(1e3)
    c_hot.advance_time(1e3)
    lost_cold = np.median((g0 - c_cold.g) / g0)
    lost_hot = np.median((g0 - c_hot.g) / g0)
    r = old.retention
    accel = np.exp(r.activation_energy / ret_mod.K_B * (1 / 300.0 - 1 / 358.0))
    assert accel > 100 and lost_hot > 20 * lost_cold
    # a bake of the 300 K chip at 358 K is the hot model's idle time
    c_bake = _programmed(old)
    c_bake.advance_time(1e3, temperature=358.0)
    np.testing.assert_allclose(c_bake.g, c_hot.g, rtol=1e-12)
    with pytest.raises(ValueError, match="temperature"):
        c_bake.advance_time(1.0, temperature=-5)


def test_read_disturb_sets_slowly_and_scales_with_voltage(dm):
    """Read disturb is the SET kinetics at the read's device voltage and duration (issue 19):
    e-fold per kinetics.v0 in voltage, linear in time while t << tau, opposite for a negative
    read; a 100 ns array read is 1e4 times weaker than a 1 ms SMU read."""
    quiet = _with(dm, read={"noise_rel": 0.0, "voltage": 0.1, "gate": 1.8})
    c = Chip(quiet, 1, 3, seed=0)
    c.pulse([0, 1, 2], 5, SET)
    g0 = c.g.copy()
    for _ in range(1000):
        c.current([0], 0.1, duration=1e-3)
        c.current([1], 0.2, duration=1e-3)
        c.current([2], 0.1, duration=1e-7)
    step = c.g - g0
    from labbench.physics import kinetics
    m = [kinetics.read_disturb_pulses(quiet, g0[i:i + 1], v, 1.8, t)[0]
         for i, v, t in ((0, 0.1, 1e-3), (1, 0.2, 1e-3))]
    assert m[1] / m[0] == pytest.approx(np.exp(0.1 / dm.switching.set_kinetics.v0), rel=0.15)
    assert step[0] > 0 and step[1] > 2 * step[0]
    assert 0 <= step[2] < 1e-3 * step[0]                       # 100 ns: four decades shorter
    before = c.g[0]
    for _ in range(1000):
        c.current([0], -0.1, duration=1e-3)                    # a negative read RESETs, as slowly
    assert c.g[0] < before


def test_sense_reads_of_training_disturb_counted_per_read(dm):
    """SimArray's sign reads are reads: their disturb is counted per read and applied (in
    closed form) when it adds up, or when the state is looked at."""
    from labbench.array import SimArray

    loud = _with(dm, read_disturb={"model": "kinetics", "factor": 1e4})
    a, b = SimArray(loud, 4, 4, seed=1, dtype=np.float64), SimArray(loud, 4, 4, seed=1, dtype=np.float64)
    for x in (a, b):
        x.apply_set_pulses(np.full((4, 4), 3), np.full((4, 4), 1))
    g0 = b.conductances()
    for _ in range(200):
        a.read_signs()
    moved = a.conductances() - g0
    assert (moved > 0).all()
    chip = b.tiles[0][2]
    for _ in range(200):   # the same reads, each applied at once
        chip._apply_disturb(None, dm.read.voltage, dm.read.gate, chip._read_time(None), 1)
    np.testing.assert_allclose(a.conductances(), b.conductances(), rtol=1e-5)
    # with the default kinetics a sense read moves nothing measurable: deferred, not lost
    c = SimArray(dm, 4, 4, seed=1, dtype=np.float64)
    c.read_signs()
    assert sum(c.tiles[0][2]._pending_reads.values()) == 1


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


def test_simarray_idle_time_energy_and_wear_are_the_chips(old):
    a = SimArray(old, 6, 5, seed=2, dtype=np.float64)
    c = Chip(old, 6, 5, seed=2)
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


# -- the qualified-array retention of the default model (issue: retention rework) ----------
TEN_YEARS = 10 * 365.25 * 86400.0


def _window_kept(model, pulses, seconds, temperature, rows=20, cols=20, seed=4):
    c = Chip(model, rows, cols, seed=seed)
    c.pulse(np.arange(c.size), pulses, SET)
    c.advance_time(4e4)                       # past the fast relaxation (t_sat = 1e4 s)
    above = c.g - c._gmin
    c.advance_time(seconds, temperature=temperature)
    return (c.g - c._gmin) / above, above / (c._gmax - c._gmin)


def test_default_keeps_the_lrs_window_for_ten_years_at_85c_and_low_states_drift_more(dm):
    kept_lrs, w = _window_kept(dm, 200, TEN_YEARS, 358.15)
    assert np.median(w) > 0.9                                     # an LRS
    print(f"LRS window kept after 10 y at 85 °C: median {np.median(kept_lrs):.3f}, "
          f"5th percentile {np.percentile(kept_lrs, 5):.3f}")
    assert np.median(kept_lrs) >= 0.80
    assert ret_mod.kept_fraction(dm.retention, 1.0, TEN_YEARS, 358.15) == pytest.approx(0.90, abs=0.01)
    kept_low, w_low = _window_kept(dm, 4, TEN_YEARS, 358.15)
    assert np.median(w_low) < 0.3 and np.median(kept_low) < np.median(kept_lrs) - 0.1   # state dependence
    day, _ = _window_kept(dm, 200, 86400.0, 298.15)
    assert np.median(day) > 0.999                                 # a day at 25 °C: nothing visible
    # Arrhenius: the 10-year loss at 85 °C takes ~1.2e4 × longer at 27 °C
    ea = dm.retention.activation_energy
    assert ret_mod.acceleration(dm.retention, 358.15) == pytest.approx(
        np.exp(ea / ret_mod.K_B * (1 / 300 - 1 / 358.15)))


def test_longterm_flow_composes_and_reduces_to_the_exponential():
    u0 = np.array([1.0, 0.5, 0.1, -0.01])
    one = ret_mod.longterm(u0, 0.7, 9.0)
    two = ret_mod.longterm(ret_mod.longterm(u0, 0.3, 9.0), 0.4, 9.0)
    np.testing.assert_allclose(one, two, rtol=1e-12)
    np.testing.assert_allclose(ret_mod.longterm(u0, 0.7, 0.0), u0 * np.exp(-0.7), rtol=1e-15)
    # the implicit solution holds: ln u + β u = ln u0 + β u0 − kt
    pos = u0 > 0
    np.testing.assert_allclose(np.log(one[pos]) + 9 * one[pos], np.log(u0[pos]) + 9 * u0[pos] - 0.7, rtol=1e-12)


def _sigma_after(model, pulses, times, seed=2):
    c = Chip(model, 30, 30, seed=seed)
    c.pulse(np.arange(c.size), pulses, SET)
    g0 = c.g.copy()
    out = []
    for t in times:
        c.advance_time(t - c.time)
        out.append(float(np.std(np.log(c.g / g0))))
    return np.array(out), np.median((g0 - dm_gmin(model)) / (model.gmax - model.gmin))


def dm_gmin(model):
    return model.gmin


def test_fast_relaxation_spreads_with_log_time_saturates_and_is_larger_for_low_states(dm):
    times = [1.0, 60.0, 3600.0, 1e4, 1e5]
    mid, w_mid = _sigma_after(dm, 12, times)
    lrs, w_lrs = _sigma_after(dm, 200, times)
    print(f"relaxation σ(ln G), state w = {w_mid:.2f}: 1 s {mid[0]:.4f}, 1 min {mid[1]:.4f}, 1 h {mid[2]:.4f}, "
          f"saturated {mid[4]:.4f}; LRS w = {w_lrs:.2f}: {lrs[0]:.4f}, {lrs[1]:.4f}, {lrs[2]:.4f}, {lrs[4]:.4f}")
    assert mid[0] < mid[1] < mid[2] < mid[3]
    assert mid[4] == pytest.approx(mid[3], rel=1e-3)                     # saturated after t_sat
    rel = dm.retention.relaxation
    f = ret_mod.relax_shape(rel, np.array(times))
    sig = ret_mod.relax_sigma(rel, w_mid)
    np.testing.assert_allclose(mid, sig * f, rtol=0.1)                  # σ(w)·f(t), 900 devices
    assert (np.diff(f[:3]) / np.diff(np.log(times[:3])) == pytest.approx(1 / np.log1p(rel.t_sat / rel.t0), rel=0.05))
    assert lrs[4] < 0.6 * mid[4]                                        # the LRS relaxes less
    # zero mean: no systematic shift from the relaxation itself
    c = Chip(dm, 30, 30, seed=3)
    c.pulse(np.arange(c.size), 12, SET)
    g0 = c.g.copy()
    c.advance_time(1e5)
    assert abs(np.mean(np.log(c.g / g0))) < 4 * mid[4] / 30


def test_relaxation_restarts_at_each_program_and_only_there(dm):
    c = Chip(dm, 4, 4, seed=1)
    idx = np.arange(c.size)
    c.pulse(idx, 12, SET)
    c.advance_time(2e4)                     # settled
    assert not c._relax_code.any()
    g = c.g.copy()
    c.pulse([0, 5], 1, SET)                 # two devices programmed again
    moved_by_pulse = c.g.copy()
    c.advance_time(3600.0)
    changed = ~np.isclose(c.g, moved_by_pulse, rtol=1e-7, atol=0)
    assert set(np.flatnonzero(changed)) == {0, 5}
    assert np.allclose(c.g[changed == 0], g[changed == 0], rtol=1e-7)
    assert c._relax_code[[0, 5]].all() and c._relax_code.sum() == 2 * c._relax_code[0]


def test_drift_with_relaxation_does_not_depend_on_how_often_the_clock_is_read(dm):
    a, b = Chip(dm, 6, 6, seed=7), Chip(dm, 6, 6, seed=7)
    for c in (a, b):
        c.pulse(np.arange(c.size), 10, SET)
    for t in np.geomspace(1.0, 5e4, 60):   # polled 60 times ...
        a.advance_to(t)
    b.advance_to(5e4)                      # ... or once
    np.testing.assert_allclose(a.g, b.g, rtol=1e-9)
    # a program between clock readings relaxes from the reading before it
    for c in (a, b):
        c.advance_to(6e4)
        c.pulse([3, 4], 2, SET)
    for t in np.linspace(6e4 + 1, 7e4, 40):
        a.advance_to(t)
    b.advance_to(7e4)
    np.testing.assert_allclose(a.g, b.g, rtol=1e-9)


def test_relaxation_state_is_lazy_one_byte_each_and_round_trips_through_checkpoints(dm):
    c = Chip(dm, 8, 8, seed=5)
    c.pulse(np.arange(c.size), 8, SET)
    assert c._relax_code is None and c.state_dict()["relax_code"].size == 0   # no clock: nothing kept
    c.advance_time(30.0)                   # mid-relaxation
    assert c._relax_code.dtype == np.uint8 and c._relax_events.dtype == np.uint8
    twin = Chip(dm, 8, 8, seed=5)
    twin.load_state_dict(c.state_dict())
    for x in (c, twin):
        x.pulse([1, 2], 1, SET)
        x.advance_time(500.0)
        x.advance_time(1e4, temperature=358.0)
    for k, v in c.state_dict().items():
        assert np.array_equal(v, twin.state_dict()[k]), k
    # a checkpoint from before relaxation existed loads; its devices count as settled
    legacy = {k: v for k, v in c.state_dict().items() if not k.startswith("relax") and k != "age_clock"}
    old_chip = Chip(dm, 8, 8, seed=5)
    old_chip.load_state_dict(legacy)
    g = old_chip.g.copy()
    old_chip.advance_time(3600.0)
    np.testing.assert_allclose(old_chip.g, g, rtol=1e-6)
    with pytest.raises(ValueError, match="relaxation state"):
        Chip(dm, 2, 2).load_state_dict({**c.state_dict(), **{k: v for k, v in Chip(dm, 2, 2).state_dict().items()
                                                             if k in ("g", "formed", "stuck", "write_events",
                                                                      "read_events")}})


def test_a_volatile_retention_is_refused_unless_marked_volatile(dm, tmp_path):
    import yaml

    from labbench.physics import load_device_model

    d = dm.to_dict()
    d["retention"] = {**d["retention"], "tau": 3000.0, "activation_energy": 1.0}
    p = tmp_path / "leaky.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ValueError) as e:
        load_device_model(p)
    msg = str(e.value)
    for key in ("retention.tau", "retention.activation_energy", "retention.t_ref_temperature",
                "retention.volatile: true", "one day at 25 °C"):
        assert key in msg, key
    d["retention"]["volatile"] = True
    p.write_text(yaml.safe_dump(d))
    assert load_device_model(p).retention.volatile
    # a model that keeps its window passes, and the shipped ones all do
    from labbench.paths import resolve_device_model

    for name in ("hfox_2t2r_default", "ag_asi_neurosim", "crosssim_rram", "gong2018_hfo2_expstep",
                 "gong2018_hfo2_softbounds"):
        load_device_model(resolve_device_model(name))
