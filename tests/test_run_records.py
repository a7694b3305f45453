"""Honest records and safe starts: a full disk fails the run and says what was saved; a
bench left on by a killed process is made safe on the next open; two writers share a
dataset; `labbench runs` counts rows, not cells."""
import sqlite3

import pytest
import yaml
from click.testing import CliRunner

from labbench.cli import main
from labbench.instruments import Bench, BenchConfig
from labbench.paths import BENCHES
from labbench.store import RunWriter, Store


def test_disk_full_fails_the_run_and_says_how_many_rows_were_saved(tmp_path, monkeypatch):
    real_flush = RunWriter.flush

    def flush(self):
        # the disk fills once 512 rows are on it: counted in rows, not flush calls (a loaded
        # machine adds time-based flushes, which made a count of calls flaky)
        if self.saved_rows >= 512:
            raise sqlite3.OperationalError("database or disk is full")
        real_flush(self)

    monkeypatch.setattr(RunWriter, "flush", flush)
    db = tmp_path / "d.db"
    r = CliRunner().invoke(main, ["measure", "pulse-train", "-p", "cells=0:2, 0:2", "-p", "cycles=2",
                                  "-p", "pulses=20", "--db", str(db), "--csv", str(tmp_path / "all.csv")])
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    assert "database or disk is full" in r.output and "512 of" in r.output and "rows saved" in r.output
    monkeypatch.setattr(RunWriter, "flush", real_flush)
    runs = Store(db).runs()
    assert runs.status.tolist() == ["failed"] and "disk is full" in runs.reason[0]
    assert len(Store(db).load(int(runs.run_id[0]))) >= 512       # (the fake disk frees up at close)
    # everything measured before the failure is still written to the CSV asked for
    assert (tmp_path / "all.csv").exists()


def test_a_write_qcodes_swallows_fails_the_run_with_the_record_and_the_table_agreeing(tmp_path, monkeypatch):
    """The real failure point: QCoDeS's own flush catches a full disk, logs "Could not
    commit to database" and keeps the rows for later.  The run must fail, and the row
    count it records must be what the table holds, also after the file is closed."""
    from qcodes.dataset.data_set import DataSet

    real_add, calls = DataSet.add_results, {"n": 0}

    def add_results(self, results):
        calls["n"] += 1
        if calls["n"] > 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real_add(self, results)

    monkeypatch.setattr(DataSet, "add_results", add_results)
    db = tmp_path / "d.db"
    r = CliRunner().invoke(main, ["measure", "pulse-train", "-p", "cells=0:2, 0:2", "-p", "cycles=2",
                                  "-p", "pulses=20", "--db", str(db)])
    monkeypatch.setattr(DataSet, "add_results", real_add)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and "disk is full" in r.output
    runs = Store(db).runs()
    assert runs.status.tolist() == ["failed"] and "disk is full" in runs.reason[0]
    table = len(Store(db).load(int(runs.run_id[0])))
    assert int(runs.rows[0]) == table == 512


def _left_on_world():
    """A simulated bench as a killed process left it: SMU on at 2 V, both pulse channels on,
    relays closed."""
    world = BenchConfig.from_yaml("sim").build_world()
    smu, pg, mx = (world.instruments[n] for n in ("smu", "pg", "matrix"))
    smu.execute(":SOUR:VOLT:LEV 2")
    smu.execute(":OUTP ON")
    pg.execute("OUTP1 ON")
    pg.execute("OUTP2 ON")
    mx.execute(":CLOS (@10101,10548)")
    assert smu.outputs_on() and pg.outputs_on() and mx.closed
    return world


def test_opening_a_bench_first_brings_every_instrument_to_a_safe_state():
    world = _left_on_world()
    key = world.register()
    try:
        cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
        for inst in cfg["instruments"].values():
            inst["simulated"] = False                  # "real" instruments: the left-on world
        cfg["visa_library"] = f"{key}@labbench"
        with Bench(BenchConfig.model_validate(cfg)):
            assert world.instruments["smu"].outputs_on() == []
            assert world.instruments["pg"].outputs_on() == []
            assert world.instruments["matrix"].closed == set()
    finally:
        world.unregister()


WRITER = """
import sys
from labbench.store import Store
k = int(sys.argv[2])
with Store(sys.argv[1]).run(f"w{k}", {"i": ""}, {"v": ""}) as w:
    for i in range(20):
        w.add(i=i, v=float(k))
        w.flush()
"""


def test_several_processes_write_one_dataset(tmp_path):
    """Separate processes (as two terminals would) creating runs in one file at once: the
    SQLite lock is waited for with backoff, no writer fails."""
    import subprocess
    import sys

    db = tmp_path / "d.db"
    Store(db)._conn().close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(k)], stderr=subprocess.PIPE, text=True)
             for k in range(6)]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert not any("Traceback" in e for e in errs), errs
    runs = Store(db).runs()
    assert len(runs) == 6 and set(runs.status) == {"finished"} and set(runs.rows) == {20}, runs.to_string()


def test_runs_counts_rows_not_cells(tmp_path):
    db = tmp_path / "d.db"
    r = CliRunner().invoke(main, ["measure", "pulse-train", "-p", "cells=0, 0", "-p", "sides=+", "-p", "cycles=1",
                                  "-p", "pulses=4", "--db", str(db)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["runs", "--db", str(db)])
    assert r.exit_code == 0 and "finished" in r.output
    runs = Store(db).runs()
    assert runs.rows.tolist() == [10]                  # 2 directions × (4 pulses + the read before)


@pytest.mark.parametrize("name", ["hardware_example", "hardware_2600"])
def test_hardware_example_benches_are_valid_and_conservative(name):
    cfg = BenchConfig.from_yaml(name)
    assert not any(i.simulated for i in cfg.instruments.values())
    assert all(lim.max_voltage <= 2.0 for lim in cfg.limits.values())
    assert all(lim.max_compliance is None or lim.max_compliance <= 1e-4 for lim in cfg.limits.values())


def test_the_2600b_hardware_bench_rehearses_its_tsp_path(tmp_path):
    save = tmp_path / "stream.json"
    r = CliRunner().invoke(main, ["bench", "rehearse", "hardware_2600", "tsp-pulse-train", "-p", "cells=0, 0",
                                  "-p", "pulses=4", "-p", "cycles=1", "--save", str(save)])
    assert r.exit_code == 0, r.output
    import json

    inst = json.loads(save.read_text())["instruments"]
    smu = "\n".join(inst["smu"]["commands"])
    assert "loadandrunscript" in smu and "local VA, IA, VB, IB = 2.0, 0.0001, 2.0, 0.0001" in smu
    assert ":OUTP1:LOAD INF" in inst["pg"]["commands"]


def test_rehearsal_prints_the_command_stream_of_a_hardware_bench(tmp_path):
    save = tmp_path / "stream.json"
    r = CliRunner().invoke(main, ["bench", "rehearse", "hardware_example", "pulse-train", "-p", "cells=0, 0",
                                  "-p", "sides=+", "-p", "cycles=1", "-p", "pulses=2", "--save", str(save)])
    assert r.exit_code == 0, r.output
    import json

    s = json.loads(save.read_text())
    smu, pg = s["instruments"]["smu"]["commands"], s["instruments"]["pg"]["commands"]
    assert s["status"].startswith("pulse-train: finished")
    assert any(c.startswith(":SOUR:VOLT:LEV") for c in smu) and smu[:2] == [":SOUR:VOLT:LEV 0", "OUTPUT OFF"]
    assert any("VOLT1:HIGH" in c for c in pg) and "TCPIP0::192.168.0.10::inst0::INSTR" in r.output


@pytest.mark.parametrize("exc", [KeyboardInterrupt, ValueError])
def test_a_run_ended_by_an_exception_prints_no_traceback_but_keeps_it_in_the_dataset(tmp_path, capfd, exc):
    from labbench.store import Store

    store = Store(tmp_path / "d.db")
    with pytest.raises(exc):
        with store.run("r", index={"i": ""}, values={"v": ""}) as w:
            w.add(i=0, v=1.0)
            raise exc("stop")
    err = capfd.readouterr().err
    assert "Traceback" not in err and "An exception occurred" not in err, err
    run_id = int(store.runs()["run_id"].iloc[0])
    assert store.runs()["status"].iloc[0] == ("aborted" if exc is KeyboardInterrupt else "failed")
    from qcodes.dataset import load_by_id
    from qcodes.dataset.sqlite.database import connect

    conn = connect(str(tmp_path / "d.db"))
    try:
        assert "Traceback" in load_by_id(run_id, conn=conn).metadata.get("measurement_exception", "")
    finally:
        conn.close()


def test_an_aborted_measurement_still_writes_its_csv(tmp_path, monkeypatch):
    """Ctrl-C mid-run: the run is aborted, and the rows measured so far are in --csv too."""
    from labbench.store import RunWriter

    real_add, calls = RunWriter.add, {"n": 0}

    def add(self, **row):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_add(self, **row)

    monkeypatch.setattr(RunWriter, "add", add)
    db, csv = tmp_path / "d.db", tmp_path / "rows.csv"
    r = CliRunner().invoke(main, ["measure", "pulse-train", "-p", "cells=0:2, 0:2", "-p", "cycles=2",
                                  "-p", "pulses=20", "--db", str(db), "--csv", str(csv)])
    assert r.exit_code != 0
    assert Store(db).runs().status.tolist() == ["aborted"]
    assert csv.exists() and len(csv.read_text().splitlines()) > 256
