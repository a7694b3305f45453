"""Refresh policies: which pairs, when, and what it costs."""
import numpy as np
from labbench.physics import circuit
import pytest

from labbench.array import Array2T2R, ArrayCounters, SimArray
from labbench.bnn.refresh import NoRefresh, PeriodicRefresh, ThresholdRefresh, make_policy
from labbench.physics import load_device_model


@pytest.fixture(scope="module")
def dm():
    return load_device_model()


def high_and_low(dm, seed=0):
    """An array where a known set of pairs is saturated (64 pulses) and the rest low (2)."""
    rng = np.random.default_rng(seed)
    arr = SimArray(dm, 12, 10, seed=seed)
    high = rng.random((12, 10)) < 0.3
    arr.apply_set_pulses(np.where(high, 64, 2), np.where(high, 10, 0))
    return arr, high


def test_threshold_refreshes_exactly_the_saturated_pairs(dm):
    arr, high = high_and_low(dm)
    signs = arr.true_signs()
    policy = ThresholdRefresh(dm, level=0.8, check_every=3, cap=0.5, verify=1)
    g = arr.conductances()
    top = circuit.as_read(dm, np.maximum(g[..., 0], g[..., 1]))   # as read, through the transistor
    above, below = top > 1.05 * policy.threshold, top < 0.95 * policy.threshold         # 1 % read noise
    assert above.sum() > 5 and below.sum() > 50
    assert policy(arr, 1) == 0 and arr.counters.conductance_reads == 0   # not a check step
    n = policy(arr, 3)
    assert above.sum() <= n <= (~below).sum()
    assert arr.counters.refreshes == n and arr.counters.reset_ops == 2 * n
    assert arr.counters.refresh_set_pulses >= n
    g2 = arr.conductances()
    # untouched by refresh: only the check's read disturb moves them (a few 1e-5 relative)
    np.testing.assert_allclose(g2[below], g[below], rtol=1e-3)
    assert np.maximum(g2[..., 0], g2[..., 1])[above].mean() < dm.gmin + 0.7 * (dm.gmax - dm.gmin)
    np.testing.assert_array_equal(arr.true_signs(), signs)                # signs kept


def test_periodic_and_none(dm):
    arr, _ = high_and_low(dm, seed=1)
    periodic = PeriodicRefresh(every=4, cap=None, verify=0)
    assert [periodic(arr, s) for s in range(1, 9)] == [0, 0, 0, 120, 0, 0, 0, 120]
    assert arr.counters.refreshes == 240
    assert NoRefresh()(arr, 100) == 0


def test_arrays_without_cap_or_verify_get_a_clear_error(dm):
    class Minimal(Array2T2R):
        rows = cols = 2
        counters = ArrayCounters()

        def read_signs(self): ...
        def read_conductances(self): return np.full((2, 2, 2), dm.gmax)
        def apply_set_pulses(self, n_plus, n_minus): ...
        def reset(self, mask): ...
        def refresh(self, mask, cap=None, verify=0):
            self._refuse_unsupported(cap, verify)
            self.refreshed = mask

    arr = Minimal()
    with pytest.raises(ValueError, match="does not support cap"):
        ThresholdRefresh(dm, cap=0.5, verify=0)(arr, 1)
    assert ThresholdRefresh(dm, cap=None, verify=0)(arr, 1) == 4 and arr.refreshed.all()


def test_bad_parameters(dm):
    with pytest.raises(ValueError, match="level"):
        ThresholdRefresh(dm, level=1.2)
    with pytest.raises(ValueError, match="cap"):
        PeriodicRefresh(cap=0.0)
    with pytest.raises(ValueError, match="period"):
        PeriodicRefresh(every=0)
    with pytest.raises(ValueError, match="unknown refresh policy"):
        make_policy("sometimes", dm)


def test_threshold_gives_up_on_pairs_that_do_not_respond():
    """A pair stuck at Gmax stays above the level after every refresh: after ``patience``
    consecutive checks it is left alone, while pairs that respond keep being refreshed."""
    base = load_device_model()
    stuck_model = type(base).model_validate({**base.to_dict(), "faults": {"stuck_at_gmax": 0.1}})
    arr = SimArray(stuck_model, 20, 20, seed=3)
    # level well below any stuck device's Gmax (D2D ≤ 3σ = 30 %), so read noise cannot blur it
    policy = ThresholdRefresh(stuck_model, level=0.6, check_every=1, cap=0.5, verify=1, patience=2)
    chip = arr.tiles[0][2]
    stuck_high = (chip.stuck.reshape(20, 20, 2) > 0).any(axis=-1)
    stuck_pairs = int(stuck_high.sum())
    assert stuck_pairs > 40                        # ~19 % of pairs have a stuck-high device
    counts = [policy(arr, k) for k in range(1, 6)]
    assert counts[0] == counts[1] == stuck_pairs   # tried twice (patience) ...
    assert counts[2:] == [0, 0, 0]                 # ... then left alone
    assert policy.unresponsive(arr) == stuck_pairs
    # patience=None keeps the old behaviour: refresh whatever is above, every time
    always = ThresholdRefresh(stuck_model, level=0.6, check_every=1, cap=0.5, verify=1, patience=None)
    assert [always(arr, k) for k in range(1, 4)] == [stuck_pairs] * 3
    # a healthy pair pushed to saturation is still refreshed
    healthy = np.argwhere(~stuck_high & (chip.stuck.reshape(20, 20, 2) == 0).all(axis=-1))[0]
    n_plus = np.zeros((20, 20), np.int64)
    n_plus[tuple(healthy)] = 64
    arr.apply_set_pulses(n_plus, np.zeros_like(n_plus))
    assert policy(arr, 6) == 1
