"""Bad inputs to ``labbench fit`` (and bad device-model files, through ``labbench train``):
absurd conductances, instrument overflow markers, poor fits, unwritable outputs, data files
that are not CSV text.

Every case must end in a message naming the problem (column and line, option or key), a
non-zero exit and no output file: the model (-o) and the plot (--plot) are written only
after the data passed and the fit is usable, and outputs are checked before any work."""
from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

from badcases import Case

OUT, PNG = "{tmp}/out.yaml", "{tmp}/fit.png"
HEADER = "cell,cycle,direction,pulse,conductance"


def good_rows(cells: int = 3, pulses: int = 9) -> list[str]:
    """A clean tidy data set: ``cells`` devices, one cycle, NeuroSim-like SET and RESET
    trains of ``pulses`` reads between 2 and 40 µS (lines 2.. of the CSV)."""
    rows = []
    for c in range(cells):
        gmin, gmax = 2e-6 * (1 + 0.05 * c), 4e-5 * (1 - 0.03 * c)
        for p in range(pulses):
            g = gmin + (gmax - gmin) * (1 - math.exp(-p / 3)) / (1 - math.exp(-(pulses - 1) / 3))
            rows.append(f"c{c},0,set,{p},{g:.6e}")
        for p in range(pulses):
            g = gmax - (gmax - gmin) * (1 - math.exp(-p / 2)) / (1 - math.exp(-(pulses - 1) / 2))
            rows.append(f"c{c},0,reset,{p},{g:.6e}")
    return rows


def csv(rows: list[str]) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def with_value(value: str, line: int = 7) -> str:
    """The good data with the conductance on file line ``line`` replaced by ``value``."""
    rows = good_rows()
    parts = rows[line - 2].split(",")
    parts[-1] = value
    rows[line - 2] = ",".join(parts)
    return csv(rows)


def _scaled(factor: float) -> str:
    rows = []
    for r in good_rows():
        *head, g = r.split(",")
        rows.append(",".join([*head, f"{float(g) * factor:.6g}"]))
    return csv(rows)


def _spiky() -> str:
    """Flat trains with one spike each: no update model explains them (R² < 0)."""
    rows = []
    for d in ("set", "reset"):
        rows += [f"a,0,{d},{p},{(6e-6 if p == 3 else 1e-6):.6e}" for p in range(8)]
    return csv(rows)


def _wrong_way() -> str:
    """SET trains that fall and RESET trains that rise (direction labels swapped)."""
    rows = []
    for d in ("set", "reset"):
        rows += [f"a,0,{d},{p},{1e-6 * ((2 - p / 8) if d == 'set' else (1 + p / 8)):.6e}" for p in range(8)]
    return csv(rows)


def _read_only_folder(tmp: Path) -> None:
    """{tmp}/ro: a folder without write permission; root ignores permissions, so there it is
    a link to /sys (a read-only mount, on Linux)."""
    ro = tmp / "ro"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        try:
            tempfile.NamedTemporaryFile(dir="/sys").close()
        except OSError:
            ro.symlink_to("/sys")
            return
        if "pytest" in sys.modules:
            import pytest

            pytest.skip("root writes into read-only folders, and /sys is writable here")
    ro.mkdir()
    ro.chmod(0o555)


def _fit(id, data, expect, extra=(), files=None, **kw) -> Case:
    """``labbench fit {tmp}/d.csv -o out.yaml --plot fit.png``: refused, nothing written."""
    return Case(id, ["fit", "{tmp}/d.csv", "-o", OUT, "--plot", PNG, *extra], expect=expect,
                files={"d.csv": data, **(files or {})}, exit_codes=kw.pop("exit_codes", (2,)),
                forbid=(OUT, PNG, *kw.pop("forbid", ())), **kw)


# -- device models: a bad file is refused by `train` before MNIST or the run folder -------
DM_BASE = ("name: t\nupdate: {kind: neurosim, g_min: 1.0e-6, g_max: 1.0e-5, pmax_set: 64, a_set: 30, "
           "pmax_reset: 64, a_reset: -10%s}\n%s")
RUN = "{tmp}/run"


def _model(id, update_extra, rest, expect, g_max="g_max: 1.0e-5, ") -> Case:
    text = (DM_BASE % (update_extra, rest)).replace("g_max: 1.0e-5, ", g_max)
    return Case(id, ["train", "--device-model", "{tmp}/bad.yaml", "--epochs", "1", "--train-subset", "100",
                     "--out", RUN, "--no-db"],
                expect=expect, files={"bad.yaml": text}, exit_codes=(2,), forbid=(RUN, "{tmp}/labbench.db"))


CASES = [
    # issue 14: a retention run (reads against time) without its time stamps
    Case("fit-retention-without-time", ["fit", "{tmp}/d.csv", "-o", OUT],
         expect=r"time stamps.*'time'.*since programming", exit_codes=(2,), forbid=(OUT,),
         files={"d.csv": "cell,read,conductance\n" + "".join(f"a,{k},{3e-5 - 1e-7 * k:.6e}\n" for k in range(6))}),
    # 1. conductances: absurd values refused (column and line named), overflow markers dropped
    _fit("fit-g-1e300", with_value("1e300"), r"conductance.*above 1 S.*line 7.*1e\+300"),
    _fit("fit-g-1e-300", with_value("1e-300"), r"conductance.*below 1e-15 S.*line 7"),
    _fit("fit-g-9.9e38-not-a-marker", with_value("9.9e38"), r"conductance.*above 1 S.*line 7"),
    _fit("fit-g-inf", with_value("inf"), r"conductance.*infinite.*line 7"),
    _fit("fit-g-negative", with_value("-2e-6", line=12), r"conductance.*negative.*line 12"),
    _fit("fit-g-in-microsiemens", _scaled(1e6), r"conductance.*above 1 S.*line 2.*convert µS"),
    _fit("fit-g-only-overflow-markers", csv([",".join([*r.split(",")[:-1], "9.9e37"]) for r in good_rows()]),
         r"only instrument overflow markers"),
    _fit("fit-overflow-marker-leaves-one-read",
         csv(["a,0,set,0,1e-6", "a,0,set,1,9.91e37", "a,0,reset,0,2e-6", "a,0,reset,1,1e-6"]),
         r"single point.*line 2.*after dropping the overflow marker at row 1 \(line 3\)"),
    # 1b. fits that ran but are no model: refused unless --allow-poor-fit
    _fit("fit-poor-r2", _spiky(), r"fit is poor.*R² = -.*--allow-poor-fit", extra=["--model", "neurosim"]),
    _fit("fit-directions-swapped", _wrong_way(), r"no valid device model.*g_max.*direction",
         extra=["--model", "neurosim"]),
    # 2. outputs checked before any work
    _fit("fit-out-missing-folder", csv(good_rows()), r"device model.*folder .*nope does not exist",
         extra=["-o", "{tmp}/nope/m.yaml"], exit_codes=(1,), forbid=("{tmp}/nope",)),
    _fit("fit-plot-missing-folder", csv(good_rows()), r"plot.*folder .*nope does not exist",
         extra=["--plot", "{tmp}/nope/fit.png"], exit_codes=(1,), forbid=("{tmp}/nope",)),
    _fit("fit-out-read-only-folder", csv(good_rows()), r"cannot write to the folder of device model",
         extra=["-o", "{tmp}/ro/m.yaml"], setup=_read_only_folder, exit_codes=(1,), forbid=("{tmp}/ro/m.yaml",)),
    _fit("fit-out-is-a-folder", csv(good_rows()), r"--output.*adir.*is a directory",
         extra=["-o", "{tmp}/adir"], files={"adir/keep.txt": "x"}),
    _fit("fit-out-is-the-data", csv(good_rows()), r"-o .*d\.csv is the data file itself",
         extra=["-o", "{tmp}/d.csv"], exit_codes=(1,)),
    # 2b. data files that are no CSV text
    Case("fit-data-is-a-folder", ["fit", "{tmp}/data", "-o", OUT], expect=r"data.*(directory|folder)",
         files={"data/x.csv": csv(good_rows())}, exit_codes=(2,), forbid=(OUT,)),
    _fit("fit-data-empty", "", r"d\.csv.*empty"),
    _fit("fit-data-binary", bytes(range(256)) * 8, r"d\.csv.*binary file"),
    _fit("fit-data-latin1", csv(good_rows()).replace("c0,", "cé,").encode("latin-1"),
         r"d\.csv.*not UTF-8.*0xe9"),
    _fit("fit-data-utf16", csv(good_rows()).encode("utf-16"), r"d\.csv.*UTF-16.*save the CSV as UTF-8"),
    # 3. device models: physical bounds and types, each error names its key
    _model("model-c2c-nan", ", c2c_abs: .nan", "", r"update\.c2c_abs: must be a finite number"),
    _model("model-c2c-negative", ", c2c_abs: -0.1", "", r"update\.c2c_abs: must be between 0 and 1"),
    _model("model-c2c-1e6", ", c2c_rel: 1.0e6", "", r"update\.c2c_rel: must be between 0 and 100"),
    _model("model-gmax-missing", "", "", r"update\.g_max: missing", g_max=""),
    _model("model-gmax-string", "", "", r"update\.g_max: must be a number.*'high'", g_max="g_max: high, "),
    _model("model-d2d-negative", "", "d2d: {sigma: {g_max: -0.1}}\n", r"d2d\.sigma\.g_max: must be between 0 and 2"),
    _model("model-d2d-nan", "", "d2d: {sigma: {a_set: .nan}}\n", r"d2d\.sigma\.a_set: .*finite"),
    _model("model-d2d-list", "", "d2d: {sigma: {g_max: [0.1, 0.2]}}\n", r"d2d\.sigma\.g_max: .*valid number"),
]

# read-disturb runs (reads against stress reads): what is missing or cannot be fitted is said
_RD_HEAD = "cell,stress_reads,conductance,stress_voltage\n"
CASES += [
    Case("fit-read-disturb-nan-voltage", ["fit", "{tmp}/d.csv", "-o", OUT], expect=r"'stress_voltage' is not a finite",
         exit_codes=(2,), forbid=(OUT,),
         files={"d.csv": _RD_HEAD + "".join(f"a,{n},2e-6,{'nan' if n == 3 else 0.25}\n" for n in (0, 1, 3))}),
    Case("fit-read-disturb-no-climb", ["fit", "{tmp}/d.csv", "-o", OUT], expect=r"climbed measurably.*stress longer",
         exit_codes=(2,), forbid=(OUT,),
         files={"d.csv": _RD_HEAD + "".join(f"{c},{n},2e-6,0.25\n" for c in "abcd" for n in (0, 10, 100))}),
    Case("fit-read-disturb-one-checkpoint", ["fit", "{tmp}/d.csv", "-o", OUT], expect=r">= 2 stress counts",
         exit_codes=(2,), forbid=(OUT,), files={"d.csv": _RD_HEAD + "a,0,2e-6,0.25\nb,0,2e-6,0.25\n"}),
]
