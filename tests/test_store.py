"""The QCoDeS-backed store: tidy rows in, the same rows out, metadata as JSON, crash-safe."""
import numpy as np
import pandas as pd
import pytest

from labbench.store import Store


def test_round_trip_rows_and_metadata(tmp_path):
    store = Store(tmp_path / "t.db")
    cells = np.repeat(np.arange(3), 4)
    pulses = np.tile(np.arange(4), 3)
    g = 1e-6 * (1 + cells + 0.1 * pulses)
    with store.run("pulse_train", index={"cell": "", "pulse": ""}, values={"conductance": "S"},
                   metadata={"bench": {"idn": "KEITHLEY,2450"}, "n_pulses": np.int64(4)}) as run:
        run.add(cell=cells[:6], pulse=pulses[:6], conductance=g[:6])
        run.add(cell=cells[6:], pulse=pulses[6:], conductance=g[6:])
        rid = run.run_id
    assert run.rows == 12
    df = store.load(rid).sort_values(["cell", "pulse"]).reset_index(drop=True)
    np.testing.assert_allclose(df["conductance"], g)
    np.testing.assert_array_equal(df["cell"], cells)
    md = store.metadata(rid)
    assert md["bench"] == {"idn": "KEITHLEY,2450"} and md["n_pulses"] == 4
    runs = store.runs()
    assert list(runs["name"]) == ["pulse_train"] and runs["rows"].iloc[0] == 12
    out = store.export_csv(rid, tmp_path / "r.csv")
    assert len(pd.read_csv(out)) == 12


def test_wrong_columns_are_named(tmp_path):
    store = Store(tmp_path / "t.db")
    with store.run("x", index={"epoch": ""}, values={"accuracy": ""}) as run:
        with pytest.raises(KeyError, match="accurcy"):
            run.add(epoch=1, accurcy=0.9)
        with pytest.raises(ValueError, match="different lengths"):
            run.add(epoch=[1, 2], accuracy=[0.5])


def test_rows_survive_an_exception_inside_the_run(tmp_path):
    store = Store(tmp_path / "t.db")
    with pytest.raises(RuntimeError):
        with store.run("crash", index={"i": ""}, values={"v": ""}) as run:
            run.add(i=np.arange(5), v=np.arange(5) * 2.0)
            rid = run.run_id
            raise RuntimeError("instrument fell over")
    assert len(store.load(rid)) == 5


def test_integer_index_columns_come_back_as_integers(tmp_path):
    store = Store(tmp_path / "t.db")
    with store.run("x", index={"cell": "", "direction": "text"}, values={"g": "S"}) as run:
        run.add(cell=[0, 1], direction=["set", "reset"], g=[1.0, 2.5])
        rid = run.run_id
    df = store.load(rid)
    assert df["cell"].dtype.kind == "i" and df["g"].dtype.kind == "f"
    assert sorted(df["direction"]) == ["reset", "set"]
