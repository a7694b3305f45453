"""Bad inputs to ``labbench sweep`` and ``labbench report``: sweep files with an unknown
field, a repeated key, an empty list, NaN or a value out of range, an unknown device-model
parameter; a scheduler that does not answer; outputs that cannot be written; a report path
that is none of the known kinds.  Each fails before any point runs, naming the field."""
from __future__ import annotations

from badcases import Case

OUT = "{tmp}/out"
BASE = """name: bad
data: {kind: synthetic, train: 100, test: 50}
train: {sizes: [16, 4, 4], epochs: 1, batch: 50}
"""


def _sweep_case(id, body, expect, exit_codes=(2,), argv_extra=(), base=BASE):
    return Case(id, ["sweep", "{tmp}/s.yaml", "--out", OUT, "--threads", *argv_extra],
                files={"s.yaml": base + body}, expect=expect, exit_codes=exit_codes,
                forbid=(OUT, "{tmp}/out/results.parquet"))


CASES = [
    _sweep_case("sweep-grid-too-big", "grid: {" + ", ".join(f"{k}: {list(range(1, 21))}" for k in
                                                             ("nl_set", "pmax_set", "batch")) + "}\nseeds: "
                + str(list(range(60))) + "\n", r"480,000 points.*at most 100,000", argv_extra=("--dry-run",)),
    # YAML that reads differently to the parser than to a person, refused even with --dry-run
    _sweep_case("sweep-yaml-alias-bomb", "x: &a [1, 1, 1, 1, 1, 1, 1, 1]\ny: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
                "z: [*b, *b, *b, *b, *b, *b, *b, *b]\ngrid: {nl_set: [1, 2]}\n", r"anchors and aliases",
                argv_extra=("--dry-run",)),
    _sweep_case("sweep-yaml-merge-key", "grid:\n  <<: {nl_set: [1, 2]}\n", r"merge keys"),
    _sweep_case("sweep-yaml-octal-seed", "grid: {nl_set: [1, 2]}\nseeds: [010]\n", r"ambiguous number '010'"),
    # fields that do not exist: named, with the nearest names
    _sweep_case("sweep-unknown-field", "grid: {nl_sett: [1, 2]}\n",
                r"grid: unknown field 'nl_sett' \(did you mean nl_set.*\).*Sweepable"),
    _sweep_case("sweep-unknown-train-option",
                "train: {sizes: [16, 4, 4], learning_rate: 0.1}\ngrid: {rule: [accumulate]}\nseeds: [0, 1]\n",
                r"train: unknown field 'learning_rate'",
                base=BASE.replace("train: {sizes: [16, 4, 4], epochs: 1, batch: 50}\n", "")),
    _sweep_case("sweep-unknown-top-key", "gird: {nl_set: [1, 2]}\n", r"unknown key 'gird' \(did you mean grid\?\)"),
    _sweep_case("sweep-unknown-d2d-parameter", "grid: {d2d.g_maxx: [0.1, 0.2]}\n",
                r"d2d.*g_maxx.*cannot vary.*allowed.*g_max"),
    _sweep_case("sweep-unknown-device-section", "grid: {device.update.a_sett: [10, 20]}\n",
                r"device model.*a_sett"),
    # a key given twice: YAML refuses, naming both lines
    _sweep_case("sweep-duplicate-key", "grid:\n  nl_set: [1, 2]\n  nl_set: [3]\n",
                r"key 'nl_set' first given on line 5.*repeated on line 6"),
    # empty lists and nothing to sweep
    _sweep_case("sweep-empty-grid-list", "grid: {nl_set: []}\n", r"grid: nl_set: the list of values is empty"),
    _sweep_case("sweep-empty-seeds", "grid: {nl_set: [1, 2]}\nseeds: []\n", r"seeds: the list is empty"),
    _sweep_case("sweep-nothing-to-sweep", "grid: {}\n", r"nothing to sweep"),
    # values: NaN, out of range, wrong type
    _sweep_case("sweep-nan-value", "grid: {lr: [0.01, .nan]}\n", r"lr.*nan.*(finite|range)"),
    _sweep_case("sweep-lr-out-of-range", "grid: {lr: [0.01, 5]}\n", r"point 1 \(lr=5.*lr must be a finite number in \(0, 1\]"),
    _sweep_case("sweep-nl-out-of-range", "grid: {nl_set: [2.4, 20]}\n", r"nl_set=20.*beyond the model's range"),
    _sweep_case("sweep-nl-wrong-sign", "grid: {nl_set: [2.4, -1]}\n", r"nl_set.*must be > 0"),
    _sweep_case("sweep-d2d-out-of-range", "grid: {d2d: [0.1, 5]}\n", r"d2d=5.*sigma.*between 0 and 2"),
    _sweep_case("sweep-c2c-out-of-range", "grid: {c2c: [0.01, 3]}\n", r"c2c=3.*c2c_abs.*between 0 and 1"),
    _sweep_case("sweep-stuck-out-of-range", "grid: {stuck_at_gmin: [0.1, 1.5]}\n",
                r"stuck_at_gmin=1.5.*faults.stuck_at_gmin"),
    _sweep_case("sweep-levels-not-whole", "grid: {levels: [32, 40.5]}\n", r"levels.*whole number"),
    _sweep_case("sweep-unknown-rule", "grid: {rule: [accumulate, nosuch]}\n", r"rule=nosuch.*unknown update rule"),
    _sweep_case("sweep-unknown-refresh", "grid: {refresh: [threshold, sometimes]}\n",
                r"refresh=sometimes.*unknown refresh policy"),
    _sweep_case("sweep-seed-negative", "grid: {nl_set: [1, 2]}\nseeds: [0, -1]\n", r"seeds: -1 is not a whole number"),
    _sweep_case("sweep-duplicate-value", "grid: {nl_set: [1, 1]}\n", r"nl_set: a value is listed twice"),
    _sweep_case("sweep-unknown-device-model", "device_model: hfox_nosuch\ngrid: {nl_set: [1, 2]}\n",
                r"device_model.*hfox_nosuch.*hfox_2t2r_default"),
    _sweep_case("sweep-bad-data-kind", "grid: {nl_set: [1, 2]}\n", r"data: give \{kind: mnist\}",
                base=BASE.replace("kind: synthetic, train: 100, test: 50", "kind: cifar")),
    _sweep_case("sweep-plot-unknown-field", "grid: {nl_set: [1, 2]}\nplots: [{x: nl, by: seed}]\n",
                r"plots\[0\]: x: 'nl' is not a swept field"),
    _sweep_case("sweep-mnist-sizes", "grid: {nl_set: [1, 2]}\n", r"sizes \[16, 4, 4\]: MNIST needs 784 inputs",
                base=BASE.replace("kind: synthetic, train: 100, test: 50", "kind: mnist")),
    _sweep_case("sweep-plot-option-unknown-field", "grid: {nl_set: [1, 2]}\n",
                r"--plot.*'nl' is not a swept field.*swept: nl_set, seed", argv_extra=("--plot", "nl:seed")),
    Case("sweep-file-missing", ["sweep", "{tmp}/nosuch.yaml", "--out", OUT], expect=r"sweep file not found",
         exit_codes=(2,), forbid=(OUT,)),
    Case("sweep-file-not-yaml", ["sweep", "{tmp}/s.yaml", "--out", OUT], files={"s.yaml": "grid: [nl_set: {\n"},
         expect=r"not valid YAML", exit_codes=(2,), forbid=(OUT,)),
    # MNIST missing ($LABBENCH_MNIST is an empty folder in the tests): where to put it
    _sweep_case("sweep-mnist-missing", "train: {sizes: [784, 4, 10], epochs: 1}\ngrid: {nl_set: [1, 2]}\n",
                r"MNIST not found: put the four MNIST .gz files into .*no-mnist", exit_codes=(1,),
                base="data: {kind: mnist}\n"),
    # a scheduler that does not answer: an error within the connect timeout
    Case("sweep-scheduler-no-answer",
         ["sweep", "{tmp}/s.yaml", "--out", OUT, "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "1",
          "--no-db"],
         files={"s.yaml": BASE + "grid: {nl_set: [1, 2]}\n"},
         expect=r"--scheduler tcp://127.0.0.1:9: no Dask scheduler answered within 1 s", exit_codes=(2,),
         forbid=(OUT,)),
    Case("sweep-workers-and-scheduler",
         ["sweep", "{tmp}/s.yaml", "--workers", "2", "--scheduler", "tcp://127.0.0.1:9"],
         files={"s.yaml": BASE + "grid: {nl_set: [1, 2]}\n"}, expect=r"--workers.*--scheduler.*one of them",
         exit_codes=(2,)),
    # outputs that cannot be written: nothing half-made
    Case("sweep-out-under-a-file", ["sweep", "{tmp}/s.yaml", "--out", "{tmp}/blocker/out", "--threads"],
         files={"s.yaml": BASE + "grid: {nl_set: [1, 2]}\n", "blocker": "a file"},
         expect=r"cannot write to sweep folder \(--out\) .*blocker/out", exit_codes=(1,),
         forbid=("{tmp}/blocker/out",)),
    Case("sweep-db-not-a-dataset", ["sweep", "{tmp}/s.yaml", "--out", OUT, "--db", "{tmp}/notes.db", "--threads"],
         files={"s.yaml": BASE + "grid: {nl_set: [1, 2]}\n", "notes.db": "my notes\n"},
         expect=r"notes\.db is not a labbench dataset", forbid=(OUT,)),

    Case("sweep-folder-of-another-sweep", ["sweep", "{tmp}/s.yaml", "--out", OUT, "--threads"],
         files={"s.yaml": BASE + "grid: {nl_set: [1, 2]}\n", "out/sweep.yaml": "name: other\n"},
         expect=r"out holds the results of sweep 'other', not 'bad'.*another --out",
         forbid=("{tmp}/out/results.parquet",)),

    # a spec section in train: with a field that has no flat name
    _sweep_case("sweep-train-section-unknown-field", "train: {sizes: [16, 4, 4], refresh: {levle: 0.5}}\n"
                "grid: {nl_set: [1, 2]}\n", r"train: refresh\.levle is not a setting.*refresh_level",
                base=BASE.replace("train: {sizes: [16, 4, 4], epochs: 1, batch: 50}\n", "")),
    # a table whose finished rows ran other settings than this labbench makes of them
    Case("sweep-resume-other-settings", ["sweep", "{tmp}/s.yaml", "--out", OUT, "--threads", "--no-db"],
         files={"s.yaml": BASE + "grid: {nl_set: [1, 2]}\n"}, setup=lambda t: _finished_elsewhere(t),
         expect=r"point 0 \(nl_set=1, seed=0\) finished with other settings.*refresh_level \(0\.5 there, 0\.9 now\)"
                r".*another --out", forbid=("{tmp}/out/points",)),

    # report: a path that is none of the kinds says what it accepts
    Case("report-path-missing", ["report", "{tmp}/nosuch"],
         expect=r"no such folder, and not a run id.*training run folder.*sweep folder.*demo folder.*run id",
         exit_codes=(2,)),
    Case("report-empty-folder", ["report", "{tmp}/empty"], setup=lambda t: (t / "empty").mkdir(),
         expect=r"empty is a folder but none of the kinds.*metrics\.csv.*results\.parquet.*summary\.json",
         exit_codes=(2,), forbid=("{tmp}/empty/report.html",)),
    Case("report-a-file", ["report", "{tmp}/notes.txt"], files={"notes.txt": "hello"},
         expect=r"notes\.txt is a file; labbench report takes", exit_codes=(2,)),
    Case("report-run-id-without-dataset", ["report", "3", "--db", "{tmp}/nosuch.db"],
         expect=r"no dataset at .*nosuch\.db", exit_codes=(1, 2)),
    Case("report-output-in-missing-folder", ["report", "{tmp}/run", "-o", "{tmp}/nowhere/r.html"],
         files={"run/metrics.csv": "epoch,test_acc,train_acc\n1,0.5,0.5\n"},
         expect=r"cannot write report .*nowhere/r\.html: folder .*nowhere does not exist",
         forbid=("{tmp}/nowhere",)),
]


def _finished_elsewhere(tmp) -> None:
    """{tmp}/out: the sweep's folder with a table whose finished rows another labbench wrote
    (its refresh level default 0.5)."""
    import json

    import pandas as pd

    from labbench.sweep.runner import _yaml, point_row
    from labbench.sweep.spec import load_sweep

    sw = load_sweep(tmp / "s.yaml")
    out = tmp / "out"
    out.mkdir()
    (out / "sweep.yaml").write_text(_yaml(sw.raw))
    rows = []
    for p in sw.points:
        config = {**p.spec().flat(), "refresh_level": 0.5}
        rows.append(point_row(sw, p, {"status": "finished", "config": json.dumps(config)}, "0.old", out))
    pd.DataFrame(rows).to_parquet(out / "results.parquet", index=False)
