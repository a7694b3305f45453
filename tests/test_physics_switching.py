"""The 1T1R cell as a device engineer knows it (issue 13): gate-limited current, pulse
amplitude and width, one switching model, bursts that equal their pulses, spreads."""
import dataclasses

import numpy as np
import pytest
from scipy import stats

from labbench.array.sim_array import SimArray
from labbench.instruments import Bench
from labbench.paths import BENCHES
from labbench.physics import RESET, SET, Chip, DeviceModel, kinetics, load_device_model
from labbench.procedures import IVSweep
from labbench.runner import run_procedure


@pytest.fixture(scope="module")
def dm():
    return load_device_model()


def _first_step(dm, **pulse):
    c = Chip(dm, 16, 16, seed=1)
    idx = np.arange(c.size)
    c.reset_full(idx)
    g0 = c.g.copy()
    c.pulse(idx, 1, SET, **pulse)
    return float(np.mean(c.g - g0))


def test_iv_at_three_gates_shows_three_compliance_plateaus():
    """Through the instruments: the SMU's compliance is 100 µA, the transistor's is k(V_G − V_T)²."""
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        df = run_procedure(IVSweep(cells="3,3", sides="+", v_max=1.5, v_min=-1.5, points=16, gates="0.7, 0.8, 0.9"),
                           b, None, progress=False).data
        sw = b.world.chip.model.switching
    plateaus = []
    for gate, sweep in df.groupby("gate"):
        top = sweep[(sweep.voltage >= 1.2) & (sweep.step < 16)].current.to_numpy()   # SET branch, going up
        i_sat = kinetics.saturation_current(sw, gate)
        # flat at the transistor's limit, with the read's 1 % noise on top
        assert np.allclose(top, i_sat, rtol=0.035), (gate, top, i_sat)
        plateaus.append(top.mean())
    assert np.all(np.diff(plateaus) > 2e-6)                                 # three distinct plateaus
    assert max(plateaus) < 0.2 * 1e-4                                       # none is the SMU's compliance


def test_lower_gate_gives_a_smaller_step_and_a_lower_reachable_lrs(dm):
    steps = [_first_step(dm, amplitude=1.5, width=1e-6, gate=g) for g in (0.7, 0.8, 1.2)]
    assert steps[0] < 0.5 * steps[2] and steps[0] < steps[1] < steps[2]
    c = Chip(dm, 8, 8, seed=2)
    idx = np.arange(c.size)
    # a low gate also leaves the device less voltage (the transistor's channel in series),
    # so longer pulses reach the ceiling
    c.pulse(idx, 200, SET, amplitude=1.5, width=1e-4, gate=0.8)
    ceiling = kinetics.set_ceiling(dm.switching, gate=0.8)
    assert c.g.max() <= ceiling * (1 + 1e-9) and np.median(c.g) > 0.8 * ceiling


@pytest.mark.parametrize("what, values", [("amplitude", (1.3, 1.5, 1.7)), ("width", (1e-7, 1e-6, 1e-5))])
def test_three_amplitudes_or_widths_give_three_step_sizes(dm, what, values):
    pulse = dict(amplitude=1.5, width=1e-6, gate=1.2)
    steps = [_first_step(dm, **{**pulse, what: v}) for v in values]
    assert steps[0] < 0.5 * steps[1] < 0.5 * 0.5 * steps[2]


def test_nominal_pulse_is_the_update_model(dm):
    """At its nominal pulse the fitted model is unchanged: the electrical path is SimArray's."""
    a, b = Chip(dm, 8, 8, seed=3), Chip(dm, 8, 8, seed=3)
    idx = np.arange(a.size)
    kin = dm.switching.set_kinetics
    a.pulse(idx, 7, SET)
    b.pulse(idx, 7, SET, amplitude=kin.amplitude, width=kin.width, gate=1.2)
    np.testing.assert_array_equal(a.g, b.g)


def test_dc_and_pulses_are_one_model(dm):
    """A DC reading of dc_time at V is the pulse of that width: a weak DC bias barely moves
    a cell, a 1 ms pulse at 3 V saturates it (the two were unrelated models)."""
    sw = dm.switching
    c = Chip(dm, 4, 4, seed=4)
    i = np.arange(c.size)
    c.dc(i, 0.8, 1e-3, gate=1.8)                          # 1 ms at 0.8 V: about one nominal pulse
    assert np.all(c.g - c._gmin < 0.15 * (c._gmax - c._gmin))
    m_dc = kinetics.pulse_drive(sw, np.array([2e-6]), SET, 0.8, sw.dc_time, None)[0]
    assert 0.3 < float(m_dc[0]) < 3
    c.pulse(i, 1, SET, amplitude=3.0, width=1e-3, gate=1.8)
    np.testing.assert_allclose(c.g, c._gmax, rtol=1e-5)   # saturated to each device's own Gmax


def test_burst_equals_its_pulses_bit_for_bit_and_in_distribution(dm):
    """From Gmin, 64 pulses as one burst and as 64 single calls: the same chip, and
    against an independent chip the same distribution, at Gmax too (issue 13's case)."""
    burst, singles = SimArray(dm, 64, 64, seed=11), SimArray(dm, 64, 64, seed=11)
    other = SimArray(dm, 64, 64, seed=12)
    burst.apply_set_pulses(np.full((64, 64), 64), np.full((64, 64), 64))
    for _ in range(64):
        singles.apply_set_pulses(np.ones((64, 64), int), np.ones((64, 64), int))
        other.apply_set_pulses(np.ones((64, 64), int), np.ones((64, 64), int))
    np.testing.assert_array_equal(burst.conductances(), singles.conductances())
    chip_b, chip_o = burst.tiles[0][2], other.tiles[0][2]
    x_b = (chip_b.g - chip_b._gmin) / (chip_b._gmax - chip_b._gmin)
    x_o = (chip_o.g - chip_o._gmin) / (chip_o._gmax - chip_o._gmin)
    assert stats.ks_2samp(x_b, x_o).pvalue > 0.001
    # the noise shrinks to nothing at Gmax (models.toward: unbiased, no clipping), so a
    # device that reached its Gmax stays there until a RESET: the same share on both
    at_top_b, at_top_o = np.mean(x_b >= 1 - 1e-6), np.mean(x_o >= 1 - 1e-6)
    assert abs(at_top_b - at_top_o) < 0.03
    assert np.std(x_b) == pytest.approx(np.std(x_o), rel=0.1)


def test_hrs_varies_cycle_to_cycle_and_device_to_device(dm):
    c = Chip(dm, 16, 16, seed=5)
    idx = np.arange(c.size)
    hrs = []
    for _ in range(40):
        c.pulse(idx, 64, SET)
        c.reset_full(idx)
        hrs.append(c.g.copy())
    ln = np.log(np.array(hrs))                      # (cycles, devices)
    c2c = np.median(ln.std(axis=0))
    d2d = np.std(np.median(ln, axis=0))
    assert c2c == pytest.approx(dm.variability.hrs_c2c, rel=0.2)
    assert d2d == pytest.approx(dm.d2d.sigma["g_min"], rel=0.25)


def test_forming_voltage_spreads_and_forming_by_pulses(dm):
    c = Chip(dm, 16, 16, seed=6, formed=False)
    idx = np.arange(c.size)
    v_formed = np.full(c.size, np.nan)
    for v in np.arange(2.0, 3.6, 0.02):            # a pulsed ramp at the nominal width
        c.pulse(idx, 1, SET, amplitude=float(v), width=1e-6, gate=1.2)
        v_formed[np.isnan(v_formed) & c.formed] = v
    assert c.formed.all()
    spread = np.std(np.log(v_formed))
    var = dm.variability.v_form
    assert spread == pytest.approx(np.hypot(var.d2d, var.c2c), rel=0.3)
    # each pulse of the ramp is a fresh C2C draw: the first success comes a little early
    assert 0.9 * dm.switching.v_form < np.median(v_formed) <= dm.switching.v_form
    # formed to the current-limited LRS, I_C / v_compliance, here above every Gmax: at Gmax
    assert kinetics.set_ceiling(dm.switching, gate=1.2) > c._gmax.max()
    np.testing.assert_allclose(c.g, c._gmax)
    low = Chip(dm, 4, 4, seed=6, formed=False)      # a low gate forms to a lower LRS
    low.form(np.arange(low.size), 3.5, None, gate=0.7)
    ceiling = kinetics.set_ceiling(dm.switching, gate=0.7)
    assert np.median(low.g) == pytest.approx(ceiling, rel=3 * dm.variability.lrs_c2c)


def test_set_threshold_spreads(dm):
    """A pulse near V_set moves some devices and not others (D2D and C2C on V_set)."""
    sw = dm.switching
    c = Chip(dm, 16, 16, seed=7)
    idx = np.arange(c.size)
    g0 = c.g.copy()
    c.pulse(idx, 1, SET, amplitude=sw.v_set * 1.01, width=1e-3, gate=1.8)   # long: a visible step where it acts
    moved = np.mean(c.g != g0)
    assert 0.2 < moved < 0.95


@pytest.mark.parametrize("noise, down_at_saturation", [("c2c_abs", (0.1, 0.5)), ("c2c_rel", (0.0, 0.0))])
def test_noise_additive_or_scaled_with_the_step(dm, noise, down_at_saturation):
    """Additive noise (NeuroSim) scatters a device whose steps have become small (a SET
    pulse then lowers it as often as the noise beats the step); noise scaled with the step
    (aihwkit's dw_min_std) vanishes with it.  Neither crosses Gmax (models.toward)."""
    upd = dataclasses.replace(dm.update, c2c_abs=0.03 if noise == "c2c_abs" else 0.0,
                              c2c_rel=0.3 if noise == "c2c_rel" else 0.0)
    m = dm.model_copy(update={"update": upd})
    c = Chip(m, 16, 16, seed=8)
    idx = np.arange(c.size)
    c.pulse(idx, 40, SET)                           # steps small against the noise, not at Gmax
    g = [c.g.copy()]
    for _ in range(20):
        c.pulse(idx, 1, SET)
        g.append(c.g.copy())
    down = np.mean(np.diff(np.array(g), axis=0) < 0)
    lo, hi = down_at_saturation
    assert lo <= down <= hi


def test_reset_gate_limits_the_reset(dm):
    """In RESET the transistor caps the device voltage at I_sat/G: a low gate resets less."""
    out = []
    for gate in (0.9, 2.5):
        c = Chip(dm, 8, 8, seed=9)
        idx = np.arange(c.size)
        c.pulse(idx, 64, SET)
        g0 = c.g.copy()
        c.pulse(idx, 1, RESET, amplitude=1.8, width=1e-6, gate=gate)
        out.append(np.mean(g0 - c.g))
    assert out[0] < 0.5 * out[1]


def test_new_model_fields_round_trip(dm):
    again = DeviceModel.model_validate(dm.to_dict())
    assert again.switching == dm.switching and again.variability == dm.variability
