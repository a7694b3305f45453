"""labbench sweep: fields found generically, device changes applied as meant, points run on
Dask (in-process cluster here) into one table, re-runs skip finished points, a failed
point is recorded and does not stop the others, Ctrl-C keeps what finished, an external
`dask scheduler` + worker runs a sweep too.  Tiny synthetic data: no MNIST, no network."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labbench.sweep import build_sweep
from labbench.sweep import runner as R
from labbench.sweep.spec import classify, train_fields

TINY = {"name": "tiny", "data": {"kind": "synthetic", "train": 120, "test": 60},
        "train": {"sizes": [16, 6, 4], "epochs": 1, "batch": 40}}


def tiny(**extra) -> dict:
    return {**TINY, **extra}


def run(sw, out, **kw):
    return R.run_sweep(sw, out, workers=1, processes=False, progress=False, say=lambda m: None, **kw)


# -- the sweep file ------------------------------------------------------------------------
def test_every_trainspec_setting_is_sweepable_by_its_flat_name():
    from labbench.bnn.spec import FLAT_KEYS

    assert set(FLAT_KEYS) == set(train_fields())
    assert all(classify(n) == "train" for n in FLAT_KEYS)


def test_a_setting_added_to_the_flat_keys_is_sweepable(monkeypatch):
    """A TrainSpec setting the sweep code has never heard of: named in FLAT_KEYS, it is a
    sweep field at once (here the refresh section's ``every``, under a new flat name)."""
    import labbench.bnn.spec as S

    monkeypatch.setitem(S.FLAT_KEYS, "refresh_period", ("refresh", "every"))
    monkeypatch.delitem(S.FLAT_KEYS, "refresh_every")
    monkeypatch.setattr(S, "_NESTED_NAME", {v: k for k, v in S.FLAT_KEYS.items() if v[0] is not None})
    sw = build_sweep(tiny(grid={"refresh_period": [3, 7]}, train={**TINY["train"], "refresh": "periodic"}))
    assert [p.values["refresh_period"] for p in sw.points] == [3, 7]
    assert sw.points[1].spec().refresh.every == 7


def test_a_sweep_file_may_write_the_spec_sections_out():
    """``train:`` with TrainSpec sections is the same sweep as with flat keys: same points, same ids."""
    flat = tiny(grid={"nl_set": [2.4]}, train={**TINY["train"], "refresh": "threshold", "refresh_level": 0.8,
                                               "lr": 0.01})
    nested = tiny(grid={"nl_set": [2.4]}, train={**TINY["train"], "refresh": {"policy": "threshold", "level": 0.8},
                                                 "optimizer": {"lr": 0.01}})
    a, b = build_sweep(flat).points[0], build_sweep(nested).points[0]
    assert a.id == b.id and a.spec().flat() == b.spec().flat()
    assert a.spec().refresh.level == 0.8 and a.spec().optimizer.lr == 0.01


def test_device_shortcuts_change_the_model_as_meant():
    from labbench.physics.nonlinearity import normalized_a_from_nl

    sw = build_sweep(tiny(grid={"nl_set": [6.0]}, device={"levels": 32, "d2d": 0.2, "c2c": 0.01,
                                                          "stuck_fraction": 0.1, "read_noise": 0.02},
                          seeds=[0, 1]))
    dm = sw.points[0].model()
    assert dm.update.pmax_set == 32 and dm.update.pmax_reset == 32
    assert dm.update.a_set == pytest.approx(normalized_a_from_nl(6.0) * 32)
    assert dm.update.a_reset / 32 == pytest.approx(-12.8194 / 64)     # levels keep the RESET NL
    assert {"g_max", "a_set"} <= set(dm.d2d.sigma) and set(dm.d2d.sigma.values()) == {0.2}
    assert dm.update.c2c_abs == 0.01 and dm.read.noise_rel == 0.02
    assert dm.faults.stuck_at_gmin == dm.faults.stuck_at_gmax == 0.05
    assert [p.values["seed"] for p in sw.points] == [0, 1]
    assert sw.points[0].spec().seed == 0 and sw.points[1].spec().seed == 1


def test_grid_times_points_times_seeds_and_stable_ids():
    raw = tiny(grid={"nl_set": [1, 2], "refresh": ["none", "threshold"]},
               points=[{"lr": 0.01}, {"lr": 0.02}], seeds=[0, 1, 2], hidden=None)
    raw.pop("hidden")
    sw = build_sweep(raw)
    assert len(sw.points) == 2 * 2 * 2 * 3
    assert sw.fields == ["nl_set", "refresh", "lr", "seed"]
    assert len({p.id for p in sw.points}) == len(sw.points)
    assert [p.id for p in build_sweep(raw).points] == [p.id for p in sw.points]


def test_hidden_and_device_model_are_sweepable():
    sw = build_sweep({**tiny(), "data": {"kind": "mnist"}, "train": {"epochs": 1},
                      "grid": {"hidden": [8, [8, 4]], "device_model": ["hfox_2t2r_default", "ag_asi_neurosim"]}})
    assert sw.points[0].train["sizes"] == [784, 8, 10]
    assert sw.points[2].train["sizes"] == [784, 8, 4, 10]
    assert sw.points[1].device["name"] == "ag_asi_neurosim"


# -- running -------------------------------------------------------------------------------
def test_points_run_into_one_table_and_a_rerun_skips_them(tmp_path):
    sw = build_sweep(tiny(grid={"nl_set": [2.4, 6]}, seeds=[0, 1]))
    db = tmp_path / "lab.db"
    table, info = run(sw, tmp_path, db=db)
    assert len(table) == 4 and set(table["status"]) == {"finished"}
    for col in ("nl_set", "seed", "test_acc", "seconds", "code_version", "config", "device",
                "refresh_per_update_pulse", "set_pulses"):
        assert col in table, col
    assert table["code_version"].str.startswith("0.").all()
    cfg = json.loads(table.iloc[0]["config"])
    assert cfg["sizes"] == [16, 6, 4]
    # the point's configuration is the one that ran
    row = table[(table["nl_set"] == 6) & (table["seed"] == 1)].iloc[0]
    assert json.loads(row["device"])["update"]["a_set"] == pytest.approx(
        sw.points[0].device["update"]["pmax_set"] * __import__(
            "labbench.physics.nonlinearity", fromlist=["x"]).normalized_a_from_nl(6.0))
    assert json.loads(row["config"])["seed"] == 1
    # CSV beside it, same rows
    assert len(pd.read_csv(tmp_path / "results.csv")) == 4
    # per-epoch metrics in the dataset: one finished bnn_training run per point
    from labbench.store import Store

    runs = Store(db).runs()
    assert (runs["name"] == "bnn_training").sum() == 4 and set(runs["status"]) == {"finished"}
    # again: nothing runs
    table2, info2 = run(sw, tmp_path, db=db)
    assert info2.skipped == 4 and info2.ran == 0 and len(table2) == 4
    assert (Store(db).runs()["name"] == "bnn_training").sum() == 4
    # plots
    paths = R.make_plots(sw, table2, tmp_path)
    assert paths and all(p.stat().st_size > 1000 for p in paths)


def test_a_failed_point_is_recorded_and_the_others_finish(tmp_path, monkeypatch):
    import labbench.bnn.trainer as T

    real_fit = T.Trainer.fit

    def fit(self, *a, **k):
        if self.spec.seed == 1:
            raise RuntimeError("simulated failure of seed 1")
        return real_fit(self, *a, **k)

    monkeypatch.setattr(T.Trainer, "fit", fit)
    sw = build_sweep(tiny(grid={"nl_set": [2.4]}, seeds=[0, 1, 2]))
    table, info = run(sw, tmp_path)
    assert info.failed == 1 and info.finished == 2
    bad = table[table["status"] == "failed"].iloc[0]
    assert bad["seed"] == 1 and "simulated failure of seed 1" in bad["error"]
    # the next run retries only the failed point
    monkeypatch.setattr(T.Trainer, "fit", real_fit)
    table, info = run(sw, tmp_path)
    assert info.skipped == 2 and info.ran == 1 and set(table["status"]) == {"finished"}


def test_ctrl_c_keeps_the_finished_points(tmp_path, monkeypatch):
    sw = build_sweep(tiny(grid={"nl_set": [1, 2, 3, 4]}))
    real = R.write_table
    calls = {"n": 0}

    def write_then_interrupt(*a, **k):
        out = real(*a, **k)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(R, "write_table", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(sw, tmp_path)
    table = R.read_table(tmp_path)
    assert len(table) == 2 and set(table["status"]) == {"finished"}
    assert json.loads((tmp_path / "run.json").read_text())["interrupted"] is True
    monkeypatch.setattr(R, "write_table", real)
    table, info = run(sw, tmp_path)
    assert info.skipped == 2 and info.ran == 2 and len(table) == 4


def test_aggregate_mean_and_sd_over_seeds():
    from labbench.sweep.plots import aggregate

    t = pd.DataFrame({"x": [1, 1, 2, 2], "seed": [0, 1, 0, 1], "status": "finished",
                      "test_acc": [0.9, 0.8, 0.7, 0.7]})
    a = aggregate(t, ["x"])
    assert a["mean"].tolist() == pytest.approx([0.85, 0.7])
    assert a["sd"].tolist() == pytest.approx([np.std([0.9, 0.8], ddof=1), 0.0])
    assert a["n"].tolist() == [2, 2]


def test_cli_runs_a_sweep_file(tmp_path):
    from labbench.cli import main

    f = tmp_path / "s.yaml"
    f.write_text("name: cli\ndata: {kind: synthetic, train: 120, test: 60}\n"
                 "train: {sizes: [16, 6, 4], epochs: 1, batch: 40}\ngrid: {rule: [accumulate, stochastic]}\n")
    r = CliRunner().invoke(main, ["sweep", str(f), "--out", str(tmp_path / "o"), "--threads", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "2 of 2 points finished, 0 failed" in r.output
    assert (tmp_path / "o" / "results.parquet").exists() and (tmp_path / "o" / "labbench.db").exists()
    assert list((tmp_path / "o" / "plots").glob("*.png"))
    r = CliRunner().invoke(main, ["sweep", str(f), "--dry-run"])
    assert r.exit_code == 0 and "2 point(s) over rule, seed" in r.output


def test_a_sweep_file_changed_since_its_folder_was_made_is_refused(tmp_path):
    """Resuming after editing the file mixed both configurations in one table ('8 of 4
    points'): it is refused, naming what changed; the unchanged file still resumes."""
    from labbench.cli import main

    f = tmp_path / "s.yaml"
    body = "name: cli\ndata: {kind: synthetic, train: 120, test: 60}\ntrain: {sizes: [16, 6, 4], epochs: 1, batch: 40}\n"
    f.write_text(body + "grid: {rule: [accumulate, stochastic]}\n")
    args = ["sweep", str(f), "--out", str(tmp_path / "o"), "--threads", "--quiet", "--no-db"]
    assert CliRunner().invoke(main, args).exit_code == 0
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "2 of 2 points already finished" in r.output
    f.write_text(body + "grid: {lr: [0.01, 0.02]}\n")
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert "different version of its file (changed: grid)" in r.output and "results.parquet" in r.output
    assert len(pd.read_parquet(tmp_path / "o" / "results.parquet")) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process handling")
def test_a_separately_started_scheduler_and_worker_run_a_sweep(tmp_path):
    """`dask scheduler` and `dask worker` as their own processes; the sweep connects to it."""
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                       "--nthreads", "1", "--nworkers", "1", "--no-nanny", "--no-dashboard"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        from distributed import Client

        with Client(address, timeout=30) as c:
            c.wait_for_workers(1, timeout=60)
        sw = build_sweep(tiny(grid={"nl_set": [2.4, 6]}))
        table, info = R.run_sweep(sw, tmp_path / "out", scheduler=address, progress=False, say=lambda m: None)
        assert info.scheduler == address and info.workers == 1
        assert len(table) == 2 and set(table["status"]) == {"finished"}
        assert set(table["pid"]) != {os.getpid()}           # ran in the worker process
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def test_a_point_cut_short_resumes_from_its_checkpoint(tmp_path):
    """A point whose run folder holds a checkpoint (killed mid-point) goes on from there."""
    from labbench.bnn.run import TrainRun

    sw = build_sweep({**tiny(), "train": {**TINY["train"], "epochs": 2}, "grid": {"nl_set": [2.4]}})
    p = sw.points[0]
    TrainRun(p.spec(out_dir=str(tmp_path / "points" / p.id)).replace(epochs=1), progress=False).run()
    table, info = run(sw, tmp_path)
    row = table.iloc[0]
    assert row["status"] == "finished" and row["resumed_from_epoch"] == 1 and row["epochs_done"] == 2


def _rewrite_table(folder, change):
    """Apply ``change(row)`` to every row of the sweep table (what another labbench wrote)."""
    t = pd.read_parquet(folder / R.TABLE)
    rows = t.to_dict("records")
    for r in rows:
        change(r)
    pd.DataFrame(rows).to_parquet(folder / R.TABLE, index=False)


def test_a_resumed_sweep_never_mixes_two_configurations(tmp_path):
    """Finished rows are skipped only if they ran what this labbench makes of their point:
    a table written before a setting existed still resumes (the setting counts as its
    default), one whose rows ran other settings or another device model is refused."""
    sw = build_sweep(tiny(grid={"rule": ["accumulate", "stochastic"]}))
    run(sw, tmp_path, db=None)

    def older_table(row):            # a table from before init_pulses was recorded
        cfg = json.loads(row["config"])
        cfg.pop("init_pulses")
        row["config"] = json.dumps(cfg, sort_keys=True)
    _rewrite_table(tmp_path, older_table)
    table, info = run(sw, tmp_path, db=None)
    assert info.skipped == 2 and info.ran == 0

    def other_default(row):          # a labbench whose refresh level default was 0.8
        row["config"] = json.dumps({**json.loads(row["config"]), "refresh_level": 0.8}, sort_keys=True)
    _rewrite_table(tmp_path, other_default)
    with pytest.raises(R.SweepError, match=r"point 0 \(rule=accumulate, seed=0\) finished with other settings.*"
                                           r"refresh_level \(0\.8 there, 0\.9 now\).*mix two configurations"):
        run(sw, tmp_path, db=None)


def test_a_resumed_sweep_refuses_rows_of_an_edited_device_model(tmp_path):
    sw = build_sweep(tiny(grid={"rule": ["accumulate"]}, seeds=[0, 1]))
    run(sw, tmp_path, db=None)

    def edited(row):
        dev = json.loads(row["device"])
        dev["update"]["c2c_abs"] = 0.5
        row["device"] = json.dumps(dev, sort_keys=True)
    _rewrite_table(tmp_path, edited)
    with pytest.raises(R.SweepError, match=r"the device model \(update differ\).*another --out"):
        run(sw, tmp_path, db=None)


def test_dry_run_estimates_the_time_and_a_budget_refuses_a_longer_sweep(tmp_path):
    """Issue 26: a sweep beyond --budget says so before anything starts; --dry-run prints the
    estimate (a short probe of each network on this machine)."""
    from labbench.cli import main
    from labbench.sweep.estimate import estimate
    from labbench.sweep.spec import load_sweep

    f = tmp_path / "s.yaml"
    f.write_text("name: est\ndata: {kind: synthetic, train: 400, test: 100}\n"
                 "train: {sizes: [16, 6, 4], epochs: 3, batch: 40}\ngrid: {rule: [accumulate, stochastic]}\n")
    r = CliRunner().invoke(main, ["sweep", str(f), "--dry-run", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "estimate: 2 point(s)" in r.output and "on 1 worker(s)" in r.output and "16-6-4" in r.output
    est = estimate(load_sweep(f), 1)
    # 3 epochs x (400 + 100/3) samples per point, at the probe's rate, two points on one worker
    rate = next(iter(est.rates.values()))
    assert est.seconds >= 2 * 3 * (400 + 100 / 3) / rate and len(est.point_seconds) == 2
    two = estimate(load_sweep(f), 2)          # its own probe: the points share the two workers
    assert two.workers == 2 and two.seconds == pytest.approx(sum(two.point_seconds) / 2)
    out = tmp_path / "o"
    r = CliRunner().invoke(main, ["sweep", str(f), "--out", str(out), "--threads", "--quiet", "--budget", "1e-6s"])
    assert r.exit_code == 2 and "more than --budget 1e-6s" in r.output and "nothing was started" in r.output
    assert not out.exists()
    r = CliRunner().invoke(main, ["sweep", str(f), "--budget", "soon"])
    assert r.exit_code == 2 and "give one duration" in r.output
