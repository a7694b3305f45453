"""Writes tests/data/train_pin.json: small training runs of the pre-TrainSpec code path
(``TrainConfig(**flat)`` -> ``Trainer`` -> ``fit``), at commit 848162b, before issue 25's
refactor.  tests/test_train_spec.py replays the same flat settings through TrainSpec and
TrainRun and asserts the same history and the same final conductances, bit for bit.

Kept as the record of how the file was made; it imports the old API, so it no longer runs
(regenerating it from the new code would pin nothing).
"""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from labbench.bnn.trainer import Trainer, TrainConfig, preset_config
from labbench.sweep.data import synthetic

SMALL = {"sizes": [16, 8, 4], "epochs": 2, "batch": 20}
CASES = {
    "mixed_default": {**SMALL, "seed": 3},
    "strict_preset": preset_config("strict", **SMALL, seed=1).to_dict() | {"batch": 20},
    "ideal_sgd": {**SMALL, "mode": "ideal", "optimizer": "sgd", "lr": 0.01, "lr_end": 0.001, "seed": 2},
    # every field away from its default, so a field the new code maps wrongly shows
    "every_field": {"sizes": [16, 8, 4], "epochs": 2, "batch": 16, "lr": 0.02, "lr_end": 0.004,
                    "optimizer": "sign", "optimizer_threshold": 0.2, "rule": "threshold", "rule_threshold": 0.3,
                    "refresh": "threshold", "refresh_level": 0.5, "refresh_check_every": 3, "refresh_every": 7,
                    "refresh_cap": 0.3, "refresh_verify": 2, "refresh_patience": 2, "sense_offset": 0.02,
                    "sense_noise": 0.01, "binarize_input": True, "idle_between_epochs": 100.0, "init_pulses": 2,
                    "pulse_step": 0.05, "train_subset": 160, "seed": 5},
    "periodic_two_hidden": {"sizes": [16, 6, 5, 4], "epochs": 2, "batch": 20, "optimizer": "adafactor",
                            "rule": "stochastic", "refresh": "periodic", "refresh_every": 4, "refresh_cap": None,
                            "seed": 7},
}
SKIP = {"seconds", "samples_per_s"}      # wall-clock


def digest(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(a, np.float64)).tobytes()).hexdigest()


def main(out: Path) -> None:
    x_tr, y_tr, x_te, y_te = synthetic(16, 4, 200, 60, 1.0)
    record = {}
    for name, flat in CASES.items():
        cfg = TrainConfig(**flat)
        tr = Trainer(cfg, "hfox_2t2r_default", progress=False, plots=False)
        hist = tr.fit(x_tr, y_tr, x_te, y_te)
        record[name] = {"flat": cfg.to_dict(),
                        "history": [{k: v for k, v in h.items() if k not in SKIP} for h in hist],
                        "conductances": [digest(a.conductances()) for a in tr.arrays],
                        "signs": [digest(s.signs()) for s in tr.synapses]}
    out.write_text(json.dumps(record, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("train_pin.json"))
