"""Bad inputs to ``labbench train``: options out of range, networks too big for memory,
broken or foreign checkpoints in the run folder, unwritable outputs, MNIST missing.

Every case must fail before any training (and, where the check does not need MNIST,
before MNIST is looked for), with a message naming the option or file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from badcases import Case

RUN = "{tmp}/run"


def _float_case(id, option, value, range_text):
    return Case(id, ["train", option, value, "--out", RUN],
                expect=rf"{option}.*{value}.*finite number in {range_text}",
                exit_codes=(2,), forbid=(RUN, "{tmp}/labbench.db"))


def real_checkpoint(tmp: Path, hidden: int = 8, **cfg) -> Path:
    """A real checkpoint in {tmp}/run, written by the trainer on fake data: one epoch of a
    784-<hidden>-10 network with the command's defaults (what ``--hidden <hidden>`` makes)."""
    from labbench.bnn.spec import TrainSpec
    from labbench.bnn.trainer import CHECKPOINT, Trainer

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (200, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 200)
    t = Trainer(TrainSpec(sizes=(784, hidden, 10), epochs=1, **cfg), out_dir=tmp / "run",
                progress=False, plots=False)
    t.fit(x, y, x[:50], y[:50])
    return tmp / "run" / CHECKPOINT


def truncated_checkpoint(tmp: Path) -> None:
    path = real_checkpoint(tmp)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    (tmp / "run" / "metrics.csv").unlink()


def foreign_checkpoint(tmp: Path) -> None:
    real_checkpoint(tmp, hidden=8)
    (tmp / "run" / "metrics.csv").unlink()


CASES = [
    # 1. float options: finite and in range
    _float_case("train-lr-inf", "--lr", "inf", r"\(0, 1\]"),
    _float_case("train-lr-nan", "--lr", "nan", r"\(0, 1\]"),
    _float_case("train-lr-negative", "--lr", "-1", r"\(0, 1\]"),
    _float_case("train-lr-end-nan", "--lr-end", "nan", r"\(0, 1\]"),
    _float_case("train-sense-noise-nan", "--sense-noise", "nan", r"\[0, 1\]"),
    _float_case("train-sense-offset-negative", "--sense-offset", "-1", r"\[0, 1\]"),
    _float_case("train-refresh-level-2", "--refresh-level", "2", r"\(0, 1\]"),
    _float_case("train-refresh-level-nan", "--refresh-level", "nan", r"\(0, 1\]"),
    _float_case("train-refresh-cap-nan", "--refresh-cap", "nan", r"\[0, 1\]"),
    Case("train-seed-negative", ["train", "--seed", "-1", "--out", RUN],
         expect=r"--seed.*-1", exit_codes=(2,), forbid=(RUN,)),

    # 2. layer sizes: integers >= 1, and a network that fits in memory
    Case("train-hidden-huge", ["train", "--hidden", "100000000", "--out", RUN],
         expect=r"--hidden.*device pairs.*about [\d.]+ [TPG]iB.*more than the [\d.]+ [GT]iB allowed",
         exit_codes=(2,), forbid=(RUN,)),
    Case("train-hidden-zero", ["train", "--hidden", "0", "--out", RUN],
         expect=r"--hidden.*layer size 0 must be >= 1", exit_codes=(2,), forbid=(RUN,)),
    Case("train-hidden-negative", ["train", "--hidden", "-5", "--out", RUN],
         expect=r"--hidden.*layer size -5 must be >= 1", exit_codes=(2,), forbid=(RUN,)),
    Case("train-hidden-not-a-number", ["train", "--hidden", "abc", "--out", RUN],
         expect=r"--hidden.*'abc' is not an integer", exit_codes=(2,), forbid=(RUN,)),
    Case("train-hidden-empty-entry", ["train", "--hidden", "500,,x", "--out", RUN],
         expect=r"--hidden.*500,,x.*comma-separated positive integers", exit_codes=(2,), forbid=(RUN,)),

    # 3. a corrupt checkpoint in the run folder: named, with what to do; nothing trained
    Case("train-checkpoint-empty", ["train", "--out", RUN, "--no-db"],
         files={"run/checkpoint.npz": b""},
         expect=r"checkpoint .*run/checkpoint\.npz is empty.*delete it.*--out",
         exit_codes=(2,), forbid=("{tmp}/run/metrics.csv",)),
    Case("train-checkpoint-random-bytes", ["train", "--out", RUN, "--no-db"],
         files={"run/checkpoint.npz": bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8))},
         expect=r"checkpoint .*run/checkpoint\.npz is corrupt: not a NumPy \.npz archive.*delete it.*--out",
         exit_codes=(2,), forbid=("{tmp}/run/metrics.csv",)),
    Case("train-checkpoint-truncated", ["train", "--hidden", "8", "--out", RUN, "--no-db"],
         setup=truncated_checkpoint,
         expect=r"checkpoint .*run/checkpoint\.npz is corrupt.*delete it.*--out",
         exit_codes=(2,), forbid=("{tmp}/run/metrics.csv",)),

    # 4. a checkpoint of another configuration: refused, naming what differs
    Case("train-checkpoint-other-hidden", ["train", "--hidden", "16", "--out", RUN, "--no-db"],
         setup=foreign_checkpoint,
         expect=r"different configuration.*--hidden 16 .* here vs 8 .*in the checkpoint.*another --out",
         exit_codes=(2,), forbid=("{tmp}/run/metrics.csv",)),
    Case("train-checkpoint-other-rule-and-seed",
         ["train", "--hidden", "8", "--rule", "stochastic", "--seed", "5", "--out", RUN, "--no-db"],
         setup=foreign_checkpoint,
         expect=r"different configuration.*--rule \"stochastic\" here vs \"accumulate\".*--seed 5 here vs 0",
         exit_codes=(2,), forbid=("{tmp}/run/metrics.csv",)),

    # 5. outputs that cannot be written: refused before any work
    Case("train-out-is-a-file", ["train", "--out", "{tmp}/run.txt"], files={"run.txt": "not a folder"},
         expect=r"--out.*run\.txt.*is a file", exit_codes=(2,), forbid=("{tmp}/labbench.db",)),
    Case("train-out-under-a-file", ["train", "--out", "{tmp}/blocker/run"], files={"blocker": "a file"},
         expect=r"cannot write to run folder \(--out\) .*blocker/run.*choose another folder",
         exit_codes=(1,), forbid=("{tmp}/labbench.db",)),
    Case("train-db-in-missing-folder", ["train", "--db", "{tmp}/nowhere/lab.db", "--out", RUN],
         expect=r"cannot write dataset .*nowhere/lab\.db: folder .*nowhere does not exist",
         forbid=("{tmp}/nowhere", RUN)),
    Case("train-db-not-a-dataset", ["train", "--db", "{tmp}/notes.db", "--out", RUN],
         files={"notes.db": "these are my notes, not a dataset\n"},
         expect=r"notes\.db is not a labbench dataset.*--db", forbid=(RUN,)),
    Case("train-db-and-no-db", ["train", "--db", "{tmp}/lab.db", "--no-db", "--out", RUN],
         expect=r"--db and --no-db", exit_codes=(2,), forbid=(RUN, "{tmp}/lab.db")),

    # names and combinations
    Case("train-device-model-unknown", ["train", "--device-model", "hfox_nosuch", "--out", RUN],
         expect=r"--device-model.*hfox_nosuch.*hfox_2t2r_default", exit_codes=(2,), forbid=(RUN,)),
    Case("train-device-model-in-weight-units", ["train", "--device-model", "gong2018_hfo2_softbounds",
                                                "--out", RUN],
         expect=r"gong2018_hfo2_softbounds.*negative lower bound", exit_codes=(2,), forbid=(RUN,)),
    Case("train-bench-without-array-bench", ["train", "--bench", "sim", "--out", RUN],
         expect=r"--bench is used only with --array bench", exit_codes=(2,), forbid=(RUN,)),
    Case("train-bench-unknown", ["train", "--array", "bench", "--bench", "nosuch_bench", "--out", RUN],
         expect=r"--bench.*nosuch_bench.*sim", exit_codes=(2,), forbid=(RUN,)),
    Case("train-bench-chip-too-small", ["train", "--array", "bench", "--bench", "sim", "--hidden", "100",
                                        "--out", RUN],
         expect=r"no layer of 784-100-10 fits the bench chip.*smaller --hidden", forbid=(RUN,)),
    Case("train-array-bench-without-bench", ["train", "--array", "bench", "--out", RUN],
         expect=r"--array bench needs --bench", exit_codes=(2,), forbid=(RUN,)),

    # 7. MNIST missing ($LABBENCH_MNIST is an empty folder in the tests; offline, the
    # download fails): where to put the four files, and no run folder or dataset left
    Case("train-mnist-missing",
         ["train", "--hidden", "8", "--epochs", "1", "--train-subset", "100", "--out", RUN],
         expect=r"Put the four MNIST files .*train-images-idx3-ubyte\.gz.* into .*no-mnist",
         exit_codes=(1,), forbid=(RUN, "{tmp}/no-mnist", "{tmp}/labbench.db")),
    Case("train-mnist-folder-cannot-be-made",
         ["train", "--data", "{tmp}/blocker/mnist", "--hidden", "8", "--out", RUN, "--no-db"],
         files={"blocker": "a file"},
         expect=r"MNIST not found.*blocker/mnist.*Put the four MNIST files .*t10k-labels-idx1-ubyte\.gz",
         exit_codes=(1,), forbid=(RUN,)),

    # 8. strict on-chip training: an option that adds per-synapse state is named, not ignored
    Case("train-strict-with-adam", ["train", "--mode", "strict", "--optimizer", "adam", "--out", RUN],
         expect=r"--mode strict .*--optimizer adam keeps per-synapse state.*adafactor, sgd, sign",
         exit_codes=(2,), forbid=(RUN, "{tmp}/labbench.db")),
    Case("train-strict-with-residual", ["train", "--mode", "strict", "--rule", "accumulate", "--out", RUN],
         expect=r"--rule accumulate keeps a residual per synapse", exit_codes=(2,), forbid=(RUN,)),
    Case("train-strict-with-threshold-refresh", ["train", "--mode", "strict", "--refresh", "threshold", "--out", RUN],
         expect=r"--refresh threshold: strict uses the paper-like refresh", exit_codes=(2,), forbid=(RUN,)),
    Case("train-strict-with-refresh-patience", ["train", "--mode", "strict", "--refresh-patience", "3", "--out", RUN],
         expect=r"--refresh-patience.*paper-like refresh.*fixes", exit_codes=(2,), forbid=(RUN,)),
    Case("train-strict-without-sense-noise", ["train", "--mode", "strict", "--sense-noise", "0", "--out", RUN],
         expect=r"--sense-noise 0: strict needs a real sense amplifier", exit_codes=(2,), forbid=(RUN,)),
    Case("train-optimizer-unknown", ["train", "--optimizer", "lion", "--out", RUN],
         expect=r"'lion' is not one of 'adafactor', 'adam', 'sgd', 'sign'", exit_codes=(2,), forbid=(RUN,)),
    Case("train-mode-unknown", ["train", "--mode", "relaxed", "--out", RUN],
         expect=r"'relaxed' is not one of 'mixed-precision', 'strict'", exit_codes=(2,), forbid=(RUN,)),
    _float_case("train-optimizer-threshold-nan", "--optimizer-threshold", "nan", r"\[0, 1000\]"),
    _float_case("train-idle-nan", "--idle-between-epochs", "nan", r"\[0, 1e\+09\]"),
    Case("train-idle-on-ideal", ["train", "--array", "ideal", "--idle-between-epochs", "10", "--out", RUN],
         expect=r"--idle-between-epochs needs --array sim", exit_codes=(2,), forbid=(RUN,)),
]


def _model_with(old: str, new: str):
    def setup(tmp: Path) -> None:
        from labbench.paths import DEVICE_MODELS

        text = (DEVICE_MODELS / "hfox_2t2r_default.yaml").read_text()
        assert old in text, old
        (tmp / "m.yaml").write_text(text.replace(old, new, 1))
    return setup


CASES += [
    Case("train-device-model-yaml-alias", ["train", "--device-model", "{tmp}/m.yaml", "--out", RUN],
         expect=r"anchors and aliases .* are not accepted", exit_codes=(2,), forbid=(RUN,),
         setup=_model_with("\nname:", "\nx: &a 1\ny: *a\nname:")),
    Case("train-device-model-yaml-octal", ["train", "--device-model", "{tmp}/m.yaml", "--out", RUN],
         expect=r"ambiguous number '064'", exit_codes=(2,), forbid=(RUN,),
         setup=_model_with("pmax_set: 64", "pmax_set: 064")),
]

# 9. a training spec file (--spec): named keys, contradictions, nothing made
CASES += [
    Case("train-spec-missing", ["train", "--spec", "{tmp}/nosuch.yaml", "--out", RUN],
         expect=r"training spec not found: .*nosuch\.yaml", forbid=(RUN,)),
    Case("train-spec-unknown-key", ["train", "--spec", "{tmp}/s.yaml", "--out", RUN],
         files={"s.yaml": "refresh: {policy: threshold, levle: 0.5}\n"},
         expect=r"s\.yaml: invalid training spec.*refresh\.levle: unknown field", exit_codes=(2,), forbid=(RUN,)),
    Case("train-spec-given-twice", ["train", "--spec", "{tmp}/s.yaml", "--out", RUN],
         files={"s.yaml": "lr: 0.01\noptimizer: {name: adam, lr: 0.02}\n"},
         expect=r"lr is given twice, flat and as optimizer\.lr", exit_codes=(2,), forbid=(RUN,)),
    Case("train-spec-not-strict", ["train", "--spec", "{tmp}/s.yaml", "--out", RUN],
         files={"s.yaml": "precision: strict\n"},
         expect=r"--mode strict .*--optimizer adam keeps per-synapse state", exit_codes=(2,), forbid=(RUN,)),
    Case("train-spec-and-mode", ["train", "--spec", "{tmp}/s.yaml", "--mode", "strict", "--out", RUN],
         files={"s.yaml": "epochs: 1\n"}, expect=r"--mode and --spec", exit_codes=(2,), forbid=(RUN,)),
    Case("train-spec-mnist-sizes", ["train", "--spec", "{tmp}/s.yaml", "--out", RUN],
         files={"s.yaml": "network: {sizes: [16, 4, 4]}\n"},
         expect=r"sizes \[16, 4, 4\]: MNIST needs 784 inputs and 10 outputs", exit_codes=(2,), forbid=(RUN,)),
]
