"""TrainSpec and TrainRun: one description of a training run, checked whole before any
work, and the same numbers as the code path it replaced."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from labbench.bnn.data import synthetic
from labbench.bnn.run import TrainRun
from labbench.bnn.spec import TrainSpec

PIN = json.loads((Path(__file__).parent / "data" / "train_pin.json").read_text())
SKIP = {"seconds", "samples_per_s"}


def digest(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(a, np.float64)).tobytes()).hexdigest()


# -- behaviour pinned against the pre-TrainSpec code path --------------------------------------
@pytest.mark.parametrize("name", sorted(PIN))
def test_trainrun_reproduces_the_old_trainconfig_trainer_path_bit_for_bit(name):
    """tests/data/train_pin.json holds runs of ``TrainConfig(**flat) -> Trainer -> fit`` at
    commit 848162b, before TrainSpec (tests/data/make_train_pin.py); the same flat settings
    through TrainSpec and TrainRun give the same history and the same conductances."""
    pin = PIN[name]
    spec = TrainSpec(**pin["flat"], data={"kind": "synthetic"})
    assert spec.flat() == pin["flat"]            # the flat keys round-trip exactly
    run = TrainRun(spec, progress=False)
    hist = run.run(synthetic(16, 4, 200, 60, 1.0))
    got = [{k: v for k, v in h.items() if k not in SKIP} for h in hist]
    assert json.loads(json.dumps(got, default=float)) == pin["history"]
    assert [digest(a.conductances()) for a in run.trainer.arrays] == pin["conductances"]
    assert [digest(s.signs()) for s in run.trainer.synapses] == pin["signs"]
