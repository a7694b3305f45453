"""Bad pulse-train input: a clear error naming the column/row, non-zero exit, nothing written."""
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labbench.cli import main
from labbench.fitting import DataError, load_pulse_trains
from labbench.physics import DeviceModel

GOOD = """cell,cycle,direction,pulse,conductance
a,0,set,0,1.0e-06
a,0,set,1,2.0e-06
a,0,set,2,2.5e-06
a,0,reset,0,2.5e-06
a,0,reset,1,1.5e-06
a,0,reset,2,1.1e-06
"""


def _lines():
    return GOOD.strip().splitlines()


CASES = {
    "missing column": ("\n".join(line.rsplit(",", 1)[0] for line in _lines()), ["conductance"]),
    "misspelled column": (GOOD.replace("conductance", "conductence"), ["conductance", "conductence"]),
    "missing cell": (GOOD.replace("cell,", "sample,"), ["cell"]),
    "non-numeric": (GOOD.replace("2.0e-06", "2.0uS"), ["conductance", "row 1", "line 3"]),
    "nan": (GOOD.replace("2.0e-06", "nan"), ["conductance", "row 1"]),
    "single point": ("\n".join(_lines()[:2] + _lines()[4:]) + "\n", ["single point"]),
    "unordered pulse": (GOOD.replace("a,0,set,2,", "a,0,set,0,"), ["pulse", "row 2", "increasing"]),
    "negative conductance": (GOOD.replace("1.5e-06", "-1.5e-06"), ["conductance", "negative", "row 4"]),
    "bad direction": (GOOD.replace("a,0,reset,1", "a,0,rest,1"), ["direction", "row 4"]),
    "empty file": ("", ["empty"]),
    "header only": ("cell,cycle,direction,pulse,conductance\n", ["no rows"]),
    "truncated file": (GOOD + "a,1,set,0", ["missing values", "truncated"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_rejects_bad_input(tmp_path, case):
    text, words = CASES[case]
    data = tmp_path / "data.csv"
    data.write_text(text)
    out, png = tmp_path / "model.yaml", tmp_path / "fit.png"
    res = CliRunner().invoke(main, ["fit", str(data), "--model", "neurosim", "-o", str(out), "--plot", str(png)])
    assert res.exit_code != 0
    msg = res.output + (res.stderr if hasattr(res, "stderr") else "")
    for w in words:
        assert w.lower() in msg.lower(), (case, msg)
    assert not out.exists() and not png.exists()
    assert not list(tmp_path.glob("*.tmp*"))


def test_missing_file_is_an_error(tmp_path):
    res = CliRunner().invoke(main, ["fit", str(tmp_path / "nope.csv")])
    assert res.exit_code != 0 and "not found" in res.output


def test_dataframe_errors_name_the_row():
    df = pd.read_csv(pd.io.common.StringIO(GOOD))
    df.loc[3, "conductance"] = np.nan
    with pytest.raises(DataError, match="row 3"):
        load_pulse_trains(df)


def test_row_col_side_identify_devices():
    df = pd.read_csv(pd.io.common.StringIO(GOOD)).drop(columns="cell")
    df["row"], df["col"], df["side"] = 0, 1, 0
    out = load_pulse_trains(df)
    assert out["device"].nunique() == 1 and out["device_label"].iloc[0] == "0,1,0"
    df2 = df.drop(columns="side")
    with pytest.raises(DataError, match="side"):
        load_pulse_trains(df2)


def test_only_one_direction_cannot_make_a_device_model():
    from labbench.fitting import fit_device

    df = pd.read_csv(pd.io.common.StringIO(GOOD))
    with pytest.raises(DataError, match="both set and reset"):
        fit_device(df[df.direction == "set"], model="neurosim")


# -- absurd values, overflow markers, poor fits (see also tests/cases_fit.py) -----------------
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import cases_fit  # noqa: E402


def _fit(tmp_path, text, *extra):
    data = tmp_path / "d.csv"
    data.write_bytes(text) if isinstance(text, bytes) else data.write_text(text)
    out = tmp_path / "m.yaml"
    res = CliRunner().invoke(main, ["fit", str(data), "-o", str(out), *extra])
    return res, out


def test_the_cases_good_data_fit(tmp_path):
    res, out = _fit(tmp_path, cases_fit.csv(cases_fit.good_rows()))
    assert res.exit_code == 0, res.output
    assert "warning" not in res.output
    DeviceModel.from_yaml(out)


@pytest.mark.parametrize("marker", ["9.9e37", "9.91e37", "-9.9e37", "+9.90E+37"])
def test_overflow_markers_are_dropped_with_a_warning(tmp_path, marker):
    res, out = _fit(tmp_path, cases_fit.with_value(marker, line=7))
    assert res.exit_code == 0, res.output
    assert re.search(r"warning: .*dropped 1 instrument overflow reading .*row 5 \(line 7\)", res.output), res.output
    dm = DeviceModel.from_yaml(out)
    assert any("overflow" in n for n in dm.fit["notes"])   # the model records what was dropped


def test_two_overflow_markers_are_counted(tmp_path):
    rows = cases_fit.good_rows()
    for line in (4, 20):
        rows[line - 2] = ",".join(rows[line - 2].split(",")[:-1] + ["9.9e37"])
    res, _ = _fit(tmp_path, cases_fit.csv(rows), "--json")
    assert res.exit_code == 0, res.output
    assert "dropped 2 instrument overflow readings" in res.output and "line 4" in res.output \
        and "line 20" in res.output


def test_allow_poor_fit_writes_the_model_with_a_warning(tmp_path):
    res, out = _fit(tmp_path, cases_fit._spiky(), "--model", "neurosim")
    assert res.exit_code == 2 and not out.exists()
    # flat trains with a spike leave the one-step curvature free (its solver runs out of
    # iterations): that is reported too, and allowed separately
    res, out = _fit(tmp_path, cases_fit._spiky(), "--model", "neurosim", "--allow-poor-fit", "--allow-unconverged")
    assert res.exit_code == 0, res.output
    assert "warning: poor fit written" in res.output
    DeviceModel.from_yaml(out)


def test_tiny_conductances_and_open_cells_still_load():
    # Ag:a-Si reads ~1e-9 S; an open cell reads exactly 0 S
    rows = [r.rsplit(",", 1) for r in cases_fit.good_rows()]
    df = pd.read_csv(pd.io.common.StringIO(cases_fit.csv([f"{h},{float(g) * 1e-3:.6e}" for h, g in rows])))
    df.loc[0, "conductance"] = 0.0
    out = load_pulse_trains(df)
    assert out["conductance"].max() < 1e-7 and out["conductance"].min() == 0.0


def test_weight_units_allow_negative_but_not_absurd():
    df = pd.read_csv(pd.io.common.StringIO(GOOD))
    df["conductance"] = df["conductance"] * 1e6 - 2.0       # -1 .. 0.5, no unit
    assert len(load_pulse_trains(df, allow_negative=True)) == len(df)
    df.loc[2, "conductance"] = 1e300
    with pytest.raises(DataError, match=r"weight units.*row 2"):
        load_pulse_trains(df, allow_negative=True)


def test_utf8_with_bom_loads(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert len(load_pulse_trains(p)) == 6


def test_swapped_directions_are_a_fit_failure_not_a_parameter_error():
    from labbench.fitting import fit_device
    from labbench.fitting.api import FitFailed

    df = pd.read_csv(pd.io.common.StringIO(cases_fit._wrong_way()))
    with pytest.raises(FitFailed, match="direction"):
        fit_device(df, model="neurosim")
