"""Energy, wear and idle time in training metrics (the Chip's physics, read by the trainer)."""
import numpy as np
import pytest

from labbench.bnn.trainer import Trainer

from test_bnn_trainer import cfg, toy


@pytest.fixture(scope="module")
def data():
    return (*toy(3000, 0), *toy(1000, 1))


def test_each_epoch_reports_energy_wear_and_the_refresh_share(data):
    # a low level and frequent checks: refreshes in every epoch, whatever the noise draws
    t = Trainer(cfg(epochs=2, refresh_level=0.4, refresh_check_every=2), progress=False, plots=False)
    e0 = sum(a.energy()["program"] for a in t.arrays)        # the initial pulses, before epoch 1
    hist = t.fit(*data)
    for h in hist:
        assert h["pairs_refreshed"] > 0
        assert h["program_energy_J"] > 0 and h["read_energy_J"] > 0
        assert 0 < h["refresh_energy_J"] <= h["program_energy_J"]       # refresh is part of programming
        assert h["energy_per_sample_J"] == pytest.approx((h["program_energy_J"] + h["read_energy_J"]) / 3000)
    total = sum(h["program_energy_J"] for h in hist)
    assert total == pytest.approx(sum(a.energy()["program"] for a in t.arrays) - e0, rel=1e-9)
    w = hist[-1]
    events = np.concatenate([c.write_events for a in t.arrays for _, _, c in a.tiles])
    assert w["pulses_per_cell_mean"] == pytest.approx(events.mean())
    assert w["pulses_per_cell_max"] == events.max()
    assert 0 <= w["worn_fraction"] <= 1


def test_idle_time_between_epochs_drifts_the_array_before_its_test(data):
    still = Trainer(cfg(epochs=1), progress=False, plots=False)
    still.fit(*data)
    idle = Trainer(cfg(epochs=1, idle_between_epochs=86400.0), progress=False, plots=False)
    idle.fit(*data)
    g0, g1 = still.arrays[0].conductances(), idle.arrays[0].conductances()
    assert not np.array_equal(g0, g1)                      # a day at rest moved the devices
    # a day at rest: the post-program relaxation spreads each programmed device by a few % of
    # G (σ(w)·ξ, saturated after t_sat), no systematic loss (the long-term drift takes years)
    chip = idle.arrays[0].tiles[0][2]
    gmin = np.asarray(chip._gmin, float).reshape(g0.shape)
    far = g0 - gmin > 0.2 * (still.device_model.gmax - still.device_model.gmin)   # σ is of ln G: far from Gmin
    keep = (g1[far] - gmin[far]) / (g0[far] - gmin[far])
    assert keep.min() > 0.5 and keep.max() < 1.5
    assert np.median(keep) == pytest.approx(1.0, abs=0.03) and np.std(np.log(g1[far] / g0[far])) > 0.005
