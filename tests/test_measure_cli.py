"""`labbench measure` and `labbench runs`: a lab user's path from bench to CSV."""
import pandas as pd
from click.testing import CliRunner

from labbench.cli import main


def test_measure_then_export(tmp_path):
    db, csv = tmp_path / "d.db", tmp_path / "out.csv"
    r = CliRunner().invoke(main, ["measure", "pulse-train", "-p", "cells=0, 1", "-p", "sides=+",
                                  "-p", "cycles=1", "-p", "pulses=6", "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "finished, 14 rows" in r.output
    r = CliRunner().invoke(main, ["runs", "--db", str(db)])
    assert r.exit_code == 0 and "PulseTrain" in r.output
    r = CliRunner().invoke(main, ["runs", "--db", str(db), "export", "1", str(csv), "--metadata"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(csv)
    assert len(df) == 14 and set(df.direction) == {"set", "reset"} and df["pulse"].dtype.kind == "i"
    assert csv.with_suffix(".json").exists()


def test_bad_parameters_are_named_and_nothing_runs(tmp_path):
    db = tmp_path / "d.db"
    r = CliRunner().invoke(main, ["measure", "pulse-train", "-p", "cyclez=2", "--db", str(db)])
    assert r.exit_code != 0 and "cyclez" in r.output and "cycles" in r.output
    r = CliRunner().invoke(main, ["measure", "pulse-train", "-p", "cycles=many", "--db", str(db)])
    assert r.exit_code != 0 and "cycles" in r.output
    assert not db.exists()


def test_missing_bench_file(tmp_path):
    r = CliRunner().invoke(main, ["measure", "array-map", "--bench", str(tmp_path / "nope.yaml"),
                                  "--db", str(tmp_path / "d.db")])
    assert r.exit_code != 0 and "nope.yaml" in r.output
