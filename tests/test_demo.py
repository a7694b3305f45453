"""The README's main job, end to end at toy size: characterize -> fit -> train -> closed loop.
Training always runs here, on a small learnable MNIST look-alike (no download, no shared
data), so the test cannot pass without it."""
import json

import pytest

from labbench.demo import run_demo


@pytest.fixture
def blocks_mnist(tmp_path):
    """3,000 training and 500 test images of the learnable block set, as MNIST IDX files."""
    from tests.test_bnn_trainer import write_blocks_mnist

    return write_blocks_mnist(tmp_path / "mnist", 3000, 500)


def test_demo_runs_end_to_end(tmp_path, blocks_mnist, monkeypatch):
    monkeypatch.setenv("LABBENCH_MNIST", str(blocks_mnist))
    out = tmp_path / "demo"
    summary = run_demo(out, cells="0, 0:2", cycles=2, pulses=32, hidden=32, epochs=1,
                       train_subset=3000, loop_steps=3, progress=False,
                       download=False)   # tests never touch the network
    assert summary["reads"] == 2 * 2 * 2 * 2 * 33
    assert (out / "demo_fitted.yaml").exists() and (out / "fit.png").exists()
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["closed_loop_sign_agreement"] > 0.8
    # the blocks are learnable: both runs learn them, the device one in the fitted model
    assert summary["test_accuracy_device"] > 0.5 and summary["test_accuracy_ideal"] > 0.5
    assert (out / "train_device" / "metrics.csv").exists() and (out / "report.html").exists()


def test_demo_live_shows_the_device_training_beside_the_ideal_one(tmp_path, blocks_mnist, monkeypatch):
    """`labbench demo --live`: one page follows the pulse trains, then the device training,
    then the ideal one with the device run's accuracy kept beside it (issue 20)."""
    from labbench.live import session

    monkeypatch.setenv("LABBENCH_MNIST", str(blocks_mnist))
    live = session.start(port=0, say=lambda _: None)
    try:
        run_demo(tmp_path / "demo", cells="0, 0:2", cycles=1, pulses=8, hidden=16, epochs=2, train_subset=1000,
                 loop_steps=0, progress=False, download=False, live=live)
    finally:
        live.close(linger=0)
    feed = live.feed
    assert feed.name == "bnn_training" and feed.status == "finished"
    assert (feed.info["metadata"]["config"]["mode"]) == "ideal"
    (ref,) = feed.references                     # the device run, kept when the ideal one started
    assert ref["label"].startswith("device (run ") and ref["epoch"] == [1, 2]
    assert all(0 <= a <= 1 for a in ref["test_acc"])
