"""Bad pulse-train input: a clear error naming the column/row, non-zero exit, nothing written."""
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labbench.cli import main
from labbench.fitting import DataError, load_pulse_trains

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
    "missing column": ("\n".join(l.rsplit(",", 1)[0] for l in _lines()), ["conductance"]),
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
