"""The README's main job, end to end at toy size: characterize -> fit -> train -> closed loop."""
import json

from labbench.demo import run_demo


def test_demo_runs_end_to_end(tmp_path):
    summary = run_demo(tmp_path, cells="0, 0:2", cycles=2, pulses=32, hidden=32, epochs=1,
                       train_subset=3000, loop_steps=3, progress=False,
                       download=False)   # tests never touch the network
    assert summary["reads"] == 2 * 2 * 2 * 2 * 33
    assert (tmp_path / "demo_fitted.yaml").exists() and (tmp_path / "fit.png").exists()
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["closed_loop_sign_agreement"] > 0.8
    if summary["test_accuracy_device"] is not None:   # MNIST present (shared data)
        assert summary["test_accuracy_device"] > 0.5 and summary["test_accuracy_ideal"] > 0.5
