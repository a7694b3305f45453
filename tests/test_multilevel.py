"""Multi-level states: targets, decoding, error rates, bits per cell; the procedure and the
SimArray study agree on what they measure."""
import numpy as np
import pandas as pd
import pytest

from labbench.array import multilevel as ml
from labbench.physics import load_device_model


def test_targets_thresholds_and_assignment():
    t = ml.level_targets(1.0, 11.0, 6)
    np.testing.assert_allclose(t, np.linspace(1.5, 10.5, 6))
    np.testing.assert_allclose(ml.thresholds(t), 0.5 * (t[1:] + t[:-1]))
    tl = ml.level_targets(1.0, 11.0, 4, spacing="log")
    np.testing.assert_allclose(np.diff(np.log(tl)), np.log(tl[1] / tl[0]))
    np.testing.assert_allclose(ml.thresholds(tl, "log"), np.sqrt(tl[1:] * tl[:-1]))
    n, level = ml.assign(48, [2, 4, 8])
    for count in (2, 4, 8):
        m = n == count
        assert m.sum() == 16 and set(level[m]) == set(range(count))
        assert np.bincount(level[m]).min() == 16 // count          # every level as often
    with pytest.raises(ValueError, match="at least 2 levels"):
        ml.level_targets(1, 2, 1)


def synthetic(n_levels, misplaced):
    """Two reads of 4 cells per level; at read 1, ``misplaced`` cells sit on the next level."""
    targets = ml.level_targets(1e-6, 3e-5, n_levels)
    rows = []
    for read in (0, 1):
        for lev, t in enumerate(targets):
            for k in range(4):
                g = t
                if read == 1 and lev * 4 + k < misplaced:
                    g = targets[min(lev + 1, n_levels - 1)] if lev + 1 < n_levels else targets[lev - 1]
                rows.append({"levels": n_levels, "level": lev, "target": t, "read": read, "time": 10.0 ** (4 * read),
                             "conductance": g})
    return pd.DataFrame(rows)


def test_error_table_counts_misdecoded_reads_and_bits_per_cell():
    df = pd.concat([synthetic(2, 0), synthetic(4, 0), synthetic(8, 3)])
    tab = ml.error_table(df)
    row = tab.set_index(["levels", "read"])
    assert row.loc[(8, 0), "errors"] == 0 and row.loc[(8, 1), "errors"] == 3
    assert row.loc[(8, 1), "level_error_rate"] == pytest.approx(3 / 32)
    assert row.loc[(8, 1), "bit_error_rate"] == pytest.approx(3 / 32 / 3)
    assert row.loc[(8, 1), "worst_level_error"] == pytest.approx(3 / 4)
    assert ml.bits_per_cell(tab, 0.01, 1.0) == 3.0       # before the drift all 8 levels hold
    assert ml.bits_per_cell(tab, 0.01, 1e4) == 2.0       # after it only 4 do
    assert ml.bits_per_cell(tab, 0.1, 1e4) == 3.0        # unless 9 % level errors are acceptable


def test_simulated_levels_spread_with_time_and_temperature():
    dm = load_device_model()
    df = ml.simulate(dm, [2, 8], [0, 3.156e8], temperature=358.15, pairs=12, seed=1)
    assert set(df.columns) >= {"levels", "level", "target", "read", "time", "conductance", "converged", "pulses"}
    tab = ml.error_table(df).set_index(["levels", "read"])
    # right after programming almost every cell decodes to its level; ten years at 85 °C
    # pull the states towards the HRS, and eight levels lose far more than two
    assert tab.loc[(8, 0), "level_error_rate"] < 0.1
    assert tab.loc[(8, 1), "level_error_rate"] > 3 * tab.loc[(8, 0), "level_error_rate"]
    assert tab.loc[(2, 1), "level_error_rate"] < tab.loc[(8, 1), "level_error_rate"]
    g0 = df[df.read == 0].conductance.to_numpy()
    g1 = df[df.read == 1].conductance.to_numpy()
    assert np.median(g1 / g0) < 0.97                        # drift lowers conductance


def test_multilevel_procedure_on_the_simulated_bench(tmp_path):
    from labbench.instruments import Bench
    from labbench.paths import BENCHES
    from labbench.procedures import REGISTRY
    from labbench.runner import run_procedure

    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        proc = REGISTRY["multilevel"](cells="0:2, 0:6", levels="2, 4", delays="3600, 0", temperature=358.15)
        res = run_procedure(proc, b, None, progress=False)
    assert res.status == "finished"
    df = res.data
    assert len(df) == 24 * 2 and sorted(df.read.unique()) == [0, 1]
    assert df[df.read == 1].time.min() >= 3600 and df[df.read == 0].time.max() < 60
    assert (df.temperature == 358.15).all() and (df.chuck_temperature.sub(358.15).abs() < 1).all()
    first = df[df.read == 0]
    for n in (2, 4):
        assert set(first[first.levels == n].level) == set(range(n))
    ok = first[first.converged == 1]
    # read 0 comes after the chuck ramped to 85 °C and settled (minutes in which the fast
    # post-program relaxation runs, accelerated): close to the targets, not on them
    assert len(ok) >= 20 and np.median(np.abs(ok.conductance / ok.target - 1)) < 0.05
    tab = ml.error_table(df)
    assert set(tab.levels) == {2, 4}
    ml.plot_distributions(df, 4, tmp_path / "d.png")
    ml.plot_error_map(tab, tmp_path / "m.png")
    assert (tmp_path / "d.png").stat().st_size > 1000 and (tmp_path / "m.png").stat().st_size > 1000


def test_reports_show_convergence_levels_and_bits(tmp_path):
    from labbench.instruments import Bench
    from labbench.paths import BENCHES
    from labbench.procedures import REGISTRY
    from labbench.report.build import build
    from labbench.runner import run_procedure
    from labbench.store import Store

    db = tmp_path / "d.db"
    store = Store(db)
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        pv_run = run_procedure(REGISTRY["program-verify"](cells="0, 0:3", tolerance=0.05), b, store, progress=False)
        ml_run = run_procedure(REGISTRY["multilevel"](cells="1:3, 0:4", levels="2, 4", delays="0, 60"), b, store,
                               progress=False)
    ctx = build(str(pv_run.run_id), str(db))
    sec = {s.title: s for s in ctx["sections"]}
    assert "Program-verify" in sec and len(sec["Program-verify"].figures) == 1
    assert "Array map" not in sec                     # the generic map of every read is not this run's story
    conv = [r for r in ctx["summary"] if r["key"] == "converged_fraction"][0]
    assert float(conv["value"]) == pytest.approx((pv_run.data.groupby("cell").tail(1).converged > 0).mean())
    ctx = build(str(ml_run.run_id), str(db))
    sec = {s.title: s for s in ctx["sections"]}
    assert len(sec["Multi-level states"].figures) == 2
    bits = [r for r in ctx["summary"] if r["key"] == "bits_per_cell_0.01"][0]
    tab = ml.error_table(ml_run.data)
    assert float(bits["value"]) == ml.bits_per_cell(tab, 0.01, float(tab.time.max()))
