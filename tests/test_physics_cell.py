"""The 1T1R cell, second pass (issue 19): a RESET never raises G, the noise has no bias at
the bounds, the HRS follows the RESET drive, and one circuit (transistor in series, both
regions) serves pulses, DC, reads and energy on every path."""
import dataclasses

import numpy as np
import pytest

from labbench.physics import circuit, kinetics
from labbench.physics.chip import Chip
from labbench.physics.device_model import DeviceModel, load_device_model
from labbench.physics.models import RESET, SET


@pytest.fixture(scope="module")
def dm():
    return load_device_model()


def _quiet(dm):
    """The default model with no per-pulse noise and no level spreads."""
    upd = dataclasses.replace(dm.update, c2c_abs=0.0, c2c_rel=0.0)
    var = dm.variability.model_copy(update={"hrs_c2c": 0.0, "lrs_c2c": 0.0})
    return dm.model_copy(update={"update": upd, "variability": var})


def test_without_noise_reset_never_raises_and_set_never_lowers_from_any_state(dm):
    m = _quiet(dm)
    c = Chip(m, 16, 16, seed=3)
    idx = np.arange(c.size)
    rng = np.random.default_rng(0)
    c.g[:] = rng.uniform(0.3, 1.3, c.size) * np.asarray(c._gmax)   # below Gmin, inside, above Gmax
    c.g[:40] = 0.5 * np.asarray(c._gmin)[:40]
    for drive in ({}, {"amplitude": 1.8, "width": 1e-6, "gate": 2.5}, {"amplitude": 1.2, "width": 1e-5, "gate": 1.0}):
        g0 = c.g.copy()
        c.pulse(idx, 1, RESET, **drive)
        assert np.all(c.g <= g0), drive
        g0 = c.g.copy()
        c.pulse(idx, 1, SET, **{**drive, "amplitude": 1.5, "gate": 1.2} if drive else {})
        assert np.all(c.g >= g0), drive
    # after a strong RESET that drew a deep HRS, the next RESET leaves it there (no snap to Gmin)
    c.reset_full(idx)
    g0 = c.g.copy()
    c.pulse(idx, 1, RESET)
    assert np.all(c.g <= g0)


def test_with_noise_a_reset_from_the_hrs_rarely_raises_g_and_trains_end_at_gmin(dm):
    c = Chip(dm, 32, 32, seed=4)
    idx = np.arange(c.size)
    c.reset_full(idx)
    sigma = dm.update.c2c_abs * (dm.gmax - dm.gmin)
    raised = []
    for _ in range(10):
        g0 = c.g.copy()
        c.pulse(idx, 1, RESET)
        raised.append(np.mean(c.g - g0 > 2 * sigma))
    assert np.mean(raised) <= 0.05                 # issue 19: 34 % raised it before
    # a RESET train from the LRS: unbiased noise ends it at Gmin, not at 1.7-1.8 x Gmin
    c.pulse(idx, 64, SET)
    c.pulse(idx, 200, RESET)
    assert np.median(c.g / np.asarray(c._gmin)) < 1.1


def test_noise_near_gmin_has_no_bias(dm):
    """Mean step of one SET pulse from Gmin equals the noise-free step (no clipping bias)."""
    c, q = Chip(dm, 64, 64, seed=6), Chip(_quiet(dm), 64, 64, seed=6)
    idx = np.arange(c.size)
    for x in (c, q):
        x.g[:] = np.asarray(x._gmin)
        x.pulse(idx, 1, SET)
    step_noisy = np.mean(c.g - np.asarray(c._gmin))
    step_clean = np.mean(q.g - np.asarray(q._gmin))
    assert step_noisy == pytest.approx(step_clean, rel=0.1)


def test_hrs_depends_on_the_reset_drive_deeper_for_stronger_and_saturating(dm):
    levels = []
    for v in (1.3, 1.6, 2.0, 2.4):
        c = Chip(dm, 16, 16, seed=7)
        idx = np.arange(c.size)
        c.pulse(idx, 64, SET)
        c.dc(idx, -v, compliance=1e-3, gate=2.5)
        levels.append(np.median(c.g / np.asarray(c._gmin)))
    assert levels[0] > levels[1] > levels[2] > levels[3] >= 0.9   # deeper, towards Gmin
    assert levels[0] - levels[1] > levels[2] - levels[3]          # and saturating


def test_reads_go_through_the_transistor_and_deembed_back(dm):
    c = Chip(dm, 2, 2, seed=0)
    g = np.array([2e-6, 1e-5, 4e-5])
    c.g[:3] = g
    i = c.current(np.arange(3), 0.1, noisy=False)
    np.testing.assert_allclose(i, circuit.as_read(dm, g) * 0.1, rtol=1e-12)
    assert i[2] / 0.1 < 0.85 * g[2]                 # 7 kOhm of channel at the 1.8 V gate
    np.testing.assert_allclose(circuit.from_read(dm, i / 0.1), g, rtol=1e-9)
    # a higher read gate: less channel resistance, a read closer to G
    assert c.current([2], 0.1, noisy=False, gate=3.3)[0] > i[2]


def test_reset_needs_a_reset_gate_source_degeneration(dm):
    """With a SET gate on the word line the transistor's source rides on the device in
    RESET and a -1.5 V sweep cannot reset it; the RESET gate can."""
    out = {}
    for gate in (0.9, 2.5):
        c = Chip(dm, 8, 8, seed=2)
        idx = np.arange(c.size)
        c.pulse(idx, 64, SET)
        g0 = c.g.copy()
        for v in np.linspace(-0.2, -1.5, 14):
            c.dc(idx, v, compliance=1e-3, gate=gate)
        out[gate] = np.median(c.g / g0)
    assert out[0.9] > 0.9 and out[2.5] < 0.3
    v_low = circuit.device_voltage(dm.switching, np.array([4e-5]), 1.5, 0.9, reset=True)[0]
    assert v_low < dm.switching.v_reset


def test_set_sees_the_transistor_voltage_drop(dm):
    sw = dm.switching
    v = circuit.device_voltage(sw, np.array([2e-6, 4e-5]), 1.5, 1.2)
    assert v[0] > 1.4 and 0.7 < v[1] < 0.9       # the 0.79 V at 40 µS


def test_one_gate_cap_on_both_paths_same_g_and_same_energy(dm):
    """The SimArray path (nominal pulses, no electrical values) and the instrument path (the
    same pulse given as amplitude, width and gate) leave the same G and charge the same energy."""
    a, b = Chip(dm, 8, 8, seed=1), Chip(dm, 8, 8, seed=1)
    idx = np.arange(a.size)
    kin = dm.switching.set_kinetics
    for _ in range(16):
        a.pulse(idx, 1, SET)
        b.pulse(idx, 1, SET, amplitude=kin.amplitude, width=kin.width, gate=kin.gate)
    np.testing.assert_array_equal(a.g, b.g)
    assert a.program_energy == pytest.approx(b.program_energy, rel=1e-9) and a.program_energy > 0
    rk = dm.switching.reset_kinetics
    for _ in range(4):
        a.pulse(idx, 1, RESET)
        b.pulse(idx, 1, RESET, amplitude=rk.amplitude, width=rk.width, gate=rk.gate)
    np.testing.assert_array_equal(a.g, b.g)
    assert a.program_energy == pytest.approx(b.program_energy, rel=1e-9)


def test_hrs_factor_is_one_for_old_models_and_deepens_with_drive(dm):
    assert kinetics.hrs_factor(dm.switching.model_copy(update={"hrs_excess": 0.0}), 1.0) == 1.0
    f = kinetics.hrs_factor(dm.switching, np.array([1.0, 10.0, 1e4]))
    assert f[0] == pytest.approx(np.exp(0.7)) and f[0] > f[1] > f[2] > 1.0


@pytest.mark.parametrize("change, keys", [
    ({"v_reset": 1.5}, ("switching.v_reset", "switching.reset_kinetics")),
    ({"reset_kinetics": {"amplitude": 1.8, "width": 1e-6, "tau": 1e-3, "v0": 0.2, "gate": 1.0}},
     ("switching.v_reset", "switching.reset_kinetics")),
    ({"set_kinetics": {"amplitude": 1.5, "width": 1e-6, "tau": 1e-4, "v0": 0.1, "gate": 0.3}},
     ("switching.set_kinetics.gate", "switching.v_gate_threshold")),
])
def test_contradicting_blocks_are_refused_naming_both_keys(dm, change, keys):
    data = dm.to_dict()
    data["switching"] = {**data["switching"], **change}
    with pytest.raises(ValueError) as e:
        DeviceModel(**{**data, "update": data["update"]})
    for k in keys:
        assert k in str(e.value)
