"""Program-verify: the algorithm (labbench.array.program_verify) and its SimArray face."""
from dataclasses import replace

import numpy as np
import pytest

from labbench.array import SimArray
from labbench.array import program_verify as pv
from labbench.physics import RESET, SET, circuit, load_device_model


@pytest.fixture(scope="module")
def dm():
    return load_device_model()


def spread_targets(dm, shape, seed=0, lo_frac=0.1, hi_frac=0.9):
    lo, hi = pv.reachable_range(dm)
    u = np.random.default_rng(seed).uniform(lo_frac, hi_frac, shape)
    return lo + u * (hi - lo)


def test_converges_within_tolerance_and_budget(dm):
    arr = SimArray(dm, 8, 8, seed=5)
    targets = spread_targets(dm, (8, 8, 2))
    s = pv.VerifySettings.for_model(dm, tolerance=0.05, max_pulses=50)
    r = arr.program_verify(targets, s)
    sm = r.summary()
    assert sm["cells"] == 128
    assert sm["converged_fraction"] >= 0.95
    assert (r.pulses <= 50).all() and (r.pulses[r.converged] >= 0).all()
    # converged means the last verify read is inside the tolerance
    assert (np.abs(r.final[r.converged] - r.target[r.converged]) <= 0.05 * r.target[r.converged] + 1e-15).all()
    # and the device is really there (a noiseless read), within tolerance plus read noise
    g_read = circuit.as_read(dm, arr.conductances().reshape(-1))
    ok = r.converged
    assert np.median(np.abs(g_read[ok] / r.target[ok] - 1)) < 0.05
    assert (r.energy[r.pulses > 0] > 0).all()


def test_nan_targets_leave_devices_alone(dm):
    arr = SimArray(dm, 4, 4, seed=1)
    before = arr.conductances().copy()
    t = np.full((4, 4, 2), np.nan)
    t[1, 2, 0] = spread_targets(dm, (), seed=3)
    r = arr.program_verify(t, pv.VerifySettings.for_model(dm, tolerance=0.05))
    after = arr.conductances()
    changed = np.flatnonzero((after != before).reshape(-1))
    assert set(changed) <= {(1 * 4 + 2) * 2}
    assert r.summary()["cells"] == 1 and r.pulses.sum() == r.pulses[(1 * 4 + 2) * 2]


def test_every_pulse_and_read_is_recorded(dm):
    arr = SimArray(dm, 3, 3, seed=2)
    r = arr.program_verify(spread_targets(dm, (3, 3, 2), seed=1), pv.VerifySettings.for_model(dm, tolerance=0.02))
    cols = r.trace_columns()
    for cell in range(18):
        rows = cols["cell"] == cell
        assert rows.sum() == r.pulses[cell] + 1          # one read before, one after every pulse
        assert list(cols["pulse"][rows]) == list(range(r.pulses[cell] + 1))
        assert cols["kind"][rows][0] == "read"
        assert cols["read"][rows][-1] == r.final[cell]
        np.testing.assert_allclose(cols["energy"][rows].sum(), r.energy[cell])
    assert set(cols["kind"]) <= {"read", "set", "reset"}


def test_ramp_steps_and_backs_off_at_a_turn():
    ramp = pv.Ramp(1.0, 1e-6, 1.2, amplitude_step=0.05, max_amplitude=1.2)
    amp, width, gate = ramp.at(np.arange(6))
    np.testing.assert_allclose(amp, [1.0, 1.05, 1.1, 1.15, 1.2, 1.2])
    assert ramp.levels(50) == [(a, 1e-6, 1.2) for a in (1.0, 1.05, 1.1, 1.15, 1.2)]
    w = pv.Ramp(1.5, 1e-7, None, width_factor=2.0, max_width=5e-7).at(np.arange(4))[1]
    np.testing.assert_allclose(w, [1e-7, 2e-7, 4e-7, 5e-7])
    # a fake cell: each SET pulse adds its amplitude, each RESET subtracts it; the target is
    # crossed, so the cell turns and the RESET ramp starts, then SET resumes `backoff` lower
    s = pv.VerifySettings(set=pv.Ramp(1.0, 1.0, None, amplitude_step=1.0),
                          reset=pv.Ramp(0.5, 1.0, None, amplitude_step=0.0), tolerance=0.01, max_pulses=20,
                          backoff=2)
    state = np.array([0.0])
    drives = []

    def pulse(cells, d, amp, width, gate):
        drives.append((d, amp))
        state[cells] += amp if d == SET else -amp

    pv.run(s, [7.4], lambda c: state[c].copy(), pulse, lambda c: None)
    # SET 1, 2, 3 (6) -> 4 (10, over) -> RESET 0.5 x6 (7.0, under) -> SET from step 4-2=2: 3 ...
    assert drives[:4] == [(SET, 1.0), (SET, 2.0), (SET, 3.0), (SET, 4.0)]
    assert drives[4:10] == [(RESET, 0.5)] * 6
    assert drives[10] == (SET, 3.0)


def test_overshoot_modes(dm):
    t = spread_targets(dm, (4, 4, 2), seed=7)
    base = pv.VerifySettings.for_model(dm, tolerance=0.01, max_pulses=40)
    stop = SimArray(dm, 4, 4, seed=4).program_verify(t, replace(base, overshoot="stop"))
    kinds = set(stop.trace_columns()["kind"])
    assert "reset" not in kinds
    over = stop.overshoots > 0
    assert over.any() and not stop.converged[over].any()    # an overshoot ends the cell, unconverged
    restart = SimArray(dm, 4, 4, seed=4).program_verify(t, replace(base, overshoot="restart"))
    kinds = set(restart.trace_columns()["kind"])
    assert "full_reset" in kinds and "reset" not in kinds
    corrected = SimArray(dm, 4, 4, seed=4).program_verify(t, base)
    assert "reset" in set(corrected.trace_columns()["kind"])
    assert corrected.summary()["converged_fraction"] > stop.summary()["converged_fraction"]


def test_budget_and_initial_reset(dm):
    t = spread_targets(dm, (4, 4, 2), seed=2, lo_frac=0.5)
    r = SimArray(dm, 4, 4, seed=3).program_verify(t, pv.VerifySettings.for_model(dm, tolerance=0.01, max_pulses=1))
    assert r.pulses.max() == 1 and r.pulses.min() == 1   # nobody starts inside 1 % of a mid-window target
    r = SimArray(dm, 4, 4, seed=3).program_verify(
        t, pv.VerifySettings.for_model(dm, tolerance=0.05, max_pulses=30, initial_reset=True))
    cols = r.trace_columns()
    assert (cols["kind"][cols["pulse"] == 0] == "full_reset").all()


def test_width_and_gate_steps_converge(dm):
    t = spread_targets(dm, (4, 4, 2), seed=9)
    for kw in ({"step": "width"}, {"gate_step": 0.02}):
        s = pv.VerifySettings.for_model(dm, tolerance=0.05, **kw)
        r = SimArray(dm, 4, 4, seed=6).program_verify(t, s)
        assert r.summary()["converged_fraction"] >= 0.9, kw
        cols = r.trace_columns()
        sets = cols["kind"] == "set"
        if "step" in kw:
            assert len(set(cols["width"][sets])) > 3 and len(set(cols["amplitude"][sets])) == 1
        else:
            assert len(set(cols["gate"][sets])) > 3


@pytest.mark.parametrize("change, message", [
    ({"tolerance": 0.0}, r"tolerance must be a finite fraction > 0"),
    ({"tolerance": -0.02}, r"tolerance must be a finite fraction > 0"),
    ({"tolerance": float("nan")}, r"tolerance must be a finite fraction > 0"),
    ({"tolerance": 2.0}, r"not a percentage"),
    ({"max_pulses": 0}, r"pulse budget .* from 1"),
    ({"overshoot": "maybe"}, r"overshoot must be one of"),
])
def test_bad_settings_are_refused(dm, change, message):
    s = replace(pv.VerifySettings.for_model(dm), **change)
    with pytest.raises(ValueError, match=message):
        SimArray(dm, 2, 2).program_verify(spread_targets(dm, (2, 2, 2)), s)


def test_target_outside_the_reachable_range_is_refused_with_the_range(dm):
    lo, hi = pv.reachable_range(dm)
    t = spread_targets(dm, (2, 2, 2))
    t[0, 0, 0] = 2 * hi
    with pytest.raises(ValueError, match=rf"outside the cell's reachable range {lo:.4g} S to {hi:.4g} S"):
        SimArray(dm, 2, 2).program_verify(t)
    # a SET gate that caps the current lowers the top of the range
    s = pv.VerifySettings.for_model(dm, gate_step=0.02)
    capped = replace(s, set=replace(s.set, max_gate=0.8))
    assert pv.reachable_range(dm, capped)[1] < hi


def test_verified_refresh_keeps_signs_and_lands_on_its_targets(dm):
    arr = SimArray(dm, 10, 10, seed=8, dtype=np.float64)
    rng = np.random.default_rng(4)
    arr.apply_set_pulses(rng.integers(0, 40, (10, 10)), rng.integers(0, 40, (10, 10)))
    signs = arr.true_signs()
    g = circuit.as_read(dm, arr.conductances())
    diff = np.abs(g[..., 0] - g[..., 1])
    mask = diff > 0.05 * (g.max() - g.min())   # pairs whose sign a noisy read gets right
    s = pv.VerifySettings.for_model(dm, tolerance=0.02)
    r = arr.refresh_verified(mask, s, margin=0.1)
    assert arr.counters.refreshes == mask.sum()
    assert (arr.true_signs()[mask] == signs[mask]).mean() >= 0.98
    after = circuit.as_read(dm, arr.conductances())
    new_diff = np.abs(after[..., 0] - after[..., 1])
    lo, hi = pv.reachable_range(dm, s)
    assert (new_diff[mask] >= 0.1 * (hi - lo) * 0.8).mean() >= 0.95   # the margin, within tolerance
    assert r.summary()["cells"] == mask.sum() and r.summary()["converged_fraction"] >= 0.9
    assert not r.trace                       # a whole array's refresh keeps no per-pulse record


def test_refresh_policy_rewrites_with_program_verify(dm):
    from labbench.bnn.refresh import make_policy

    s = pv.VerifySettings.for_model(dm, tolerance=0.05)
    policy = make_policy("periodic", dm, every=1, cap=0.5, program=s)
    assert policy.describe()["program_verify"] == {"tolerance": 0.05, "max_pulses": 50}
    arr = SimArray(dm, 4, 4, seed=1)
    arr.apply_set_pulses(np.full((4, 4), 20), np.zeros((4, 4), int))
    assert policy(arr, 1) == 16
    assert arr.counters.refreshes == 16 and arr.counters.refresh_set_pulses > 0
    assert (arr.true_signs() == 1).all()
    with pytest.raises(ValueError, match="tolerance"):
        make_policy("periodic", dm, program=replace(s, tolerance=0))


def test_bench_array_runs_the_same_algorithm_cell_by_cell(dm):
    from labbench.array.bench_array import BenchArray
    from labbench.instruments import Bench
    from labbench.paths import BENCHES

    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        arr = BenchArray(b, 2, 2, row0=3, col0=4)
        t = np.full((2, 2, 2), np.nan)
        t[0, 1, 0], t[1, 0, 1] = spread_targets(dm, (2,), seed=5)
        r = arr.program_verify(t, pv.bench_settings(b, tolerance=0.05))
        assert r.summary()["cells"] == 2 and r.converged[[2, 5]].all()
        chip = b.world.chip
        g = circuit.as_read(dm, chip.conductance()[[3, 4], [5, 4], [0, 1]])
        np.testing.assert_allclose(g, t[[0, 1], [1, 0], [0, 1]], rtol=0.1)
        assert (r.energy[[2, 5]] > 0).all()        # estimated from the reads
        # a level beyond the bench's limits is refused before the first pulse
        s = pv.bench_settings(b)
        hot = replace(s, set=replace(s.set, max_amplitude=5.0, amplitude_step=0.5))
        events = chip.write_events.copy()
        with pytest.raises(ValueError, match="max_voltage"):
            arr.program_verify(t, hot)
        np.testing.assert_array_equal(chip.write_events, events)


@pytest.mark.parametrize("bench_name", ["sim", "sim_2600"])
def test_procedure_programs_cell_by_cell_and_records_every_pulse(bench_name, tmp_path):
    from labbench.instruments import Bench
    from labbench.paths import BENCHES
    from labbench.procedures import REGISTRY
    from labbench.runner import run_procedure

    proc_cls = REGISTRY["program-verify"]
    with Bench.from_yaml(BENCHES / f"{bench_name}.yaml") as b:
        proc = proc_cls(cells="2:4, 6", sides="+-", targets="6e-6, 1.2e-5, 2e-5", tolerance=0.03)
        res = run_procedure(proc, b, None, progress=False)
        g_true = b.world.chip.conductance()
    assert res.status == "finished"
    df = res.data
    last = df.groupby("cell").tail(1)
    assert len(last) == 4
    assert list(last.target) == [6e-6, 1.2e-5, 2e-5, 6e-6]          # targets given in turn
    assert (last.converged == 1).all() and (last.error.abs() <= 0.03).all()
    assert (last.pulse <= 50).all()
    for cell, rows in df.groupby("cell"):
        assert list(rows.pulse) == list(range(len(rows)))          # every pulse and its read
        assert rows.kind.iloc[0] == "read" and set(rows.kind.iloc[1:]) <= {"set", "reset"}
        assert rows.energy.is_monotonic_increasing
    dm = load_device_model()
    for _, row in last.iterrows():
        g = circuit.as_read(dm, g_true[int(row.row), int(row.col), int(row.side)])
        assert abs(g / row.target - 1) < 0.06                      # the device is really there


def test_feedback_forming_stops_each_cell_at_its_forming_pulse(tmp_path):
    import yaml

    from labbench.instruments import Bench
    from labbench.paths import BENCHES
    from labbench.procedures import REGISTRY
    from labbench.runner import run_procedure

    cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    cfg["chip"]["formed"] = False
    (tmp_path / "pristine.yaml").write_text(yaml.safe_dump(cfg))
    with Bench.from_yaml(tmp_path / "pristine.yaml") as b:
        proc = REGISTRY["feedback-forming"](cells="0:3, 0", sides="+", gate=0.8, gate_step=0.01)
        df = run_procedure(proc, b, None, progress=False).data
        chip = b.world.chip
        assert chip.formed[[chip.flat(r, 0, 0) for r in range(3)]].all()
        assert not chip.formed[chip.flat(3, 0, 0)] and not chip.formed[chip.flat(0, 0, 1)]   # others untouched
        g_after = chip.conductance()[:3, 0, 0]
    for cell, rows in df.groupby("cell"):
        assert rows.step.tolist() == list(range(len(rows)))
        assert (rows.formed.iloc[:-1] == 0).all() and rows.formed.iloc[-1] == 1   # no pulse after it formed
        assert rows.current.iloc[-1] >= 1e-6 > rows.current.iloc[:-1].max()
        assert rows.voltage.iloc[1:].is_monotonic_increasing and rows.gate.iloc[1:].is_monotonic_increasing
    assert df["yield"].dropna().tolist() == [1.0, 1.0, 1.0]
    assert (g_after < 1e-5).all()                                       # formed, then RESET


def test_a_low_resistance_device_fitted_without_a_base_can_be_programmed():
    """CrossSim's 400-600 Ohm ramps fitted without a base model: the schema's 1 kOhm lines would
    have left 38 % of each pulse on the device, below its thresholds (program-verify converged 3 %
    of cells); the fit lowers them, says so, and the model programs."""
    from labbench.fitting.reference_fits import crosssim

    r, _ = crosssim()
    dm = r.device_model
    assert dm.switching.on_resistance < 1000 and "on_resistance lowered" in dm.provenance["switching"]
    assert any("on_resistance lowered" in n for n in r.notes)
    settings = pv.VerifySettings.for_model(dm, tolerance=0.02)
    lo, hi = pv.reachable_range(dm, settings)
    arr = SimArray(dm, 8, 8, seed=3, dtype=np.float64)
    u = np.random.default_rng(1).uniform(0.1, 0.9, (8, 8, 2))
    res = arr.program_verify(lo + u * (hi - lo), settings, keep_trace=False)
    assert res.converged.mean() >= 0.95


def test_program_verify_runs_unchanged_on_the_arc_two_twin():
    """The third face (issue 24 after issue 22): the same procedure through the ArC TWO's roles."""
    from labbench.instruments import Bench
    from labbench.procedures import REGISTRY
    from labbench.runner import run_procedure

    with Bench.from_yaml("sim_arc2") as b:
        proc = REGISTRY["program-verify"](cells="0:2, 0:2", sides="+-", targets="5e-6, 1e-5, 2e-5")
        df = run_procedure(proc, b, None, progress=False).data
    last = df.groupby("cell").tail(1)
    assert len(last) == 8 and last.converged.mean() >= 0.85
    conv = last[last.converged == 1]
    assert (abs(conv.conductance - conv.target) <= 0.02 * conv.target + 1e-15).all()
