"""A sweep on the live page: per-epoch metrics from each point's records, point statuses,
and Abort (pending points cancelled, running ones stopped, finished ones kept)."""
import threading
import time

import pytest

from labbench.errors import Aborted
from labbench.live import session
from labbench.live.sweep_watch import SweepWatch
from labbench.sweep import runner as R
from labbench.sweep import build_sweep


def _sweep(tmp_path, epochs, seeds, train=120):
    return build_sweep({"name": "tiny", "data": {"kind": "synthetic", "train": train, "test": 60},
                            "train": {"sizes": [16, 6, 4], "epochs": epochs, "batch": 40}, "seeds": seeds})


@pytest.fixture
def live():
    lv = session.start(port=0, say=lambda m: None)
    lv.control.pausable = False
    yield lv
    lv.close(linger=0)


def test_sweep_points_stream_their_epochs_and_statuses(tmp_path, live):
    sw = _sweep(tmp_path, epochs=2, seeds=[0, 1])
    watch = SweepWatch(live, sw, tmp_path)
    table, info = R.run_sweep(sw, tmp_path, workers=1, progress=False, processes=False, say=lambda m: None,
                              watch=watch)
    watch.close("finished")
    rows = live.feed.since(0)[0]
    assert sorted((r["point_id"], r["epoch"]) for r in rows) == sorted((p.id, e) for p in sw.points for e in (1, 2))
    _, points = live.feed.extras["points"]
    assert [p["status"] for p in points] == ["finished", "finished"] and all(p["epochs"] == 2 for p in points)
    assert live.feed.status == "finished" and live.feed.percent == 100
    assert live.control.pause().startswith("a sweep cannot pause")


def test_abort_cancels_pending_points_stops_the_running_one_and_keeps_finished(tmp_path, live):
    sw = _sweep(tmp_path, epochs=400, seeds=[0, 1, 2], train=400)
    watch = SweepWatch(live, sw, tmp_path)

    def press():                       # Abort once the first point has recorded an epoch
        t0 = time.monotonic()
        while len(live.feed) == 0 and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        live.control.abort()

    threading.Thread(target=press, daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(Aborted):
        R.run_sweep(sw, tmp_path, workers=1, progress=False, processes=False, say=lambda m: None, watch=watch)
    watch.close("aborted", "aborted from the live view")
    assert time.monotonic() - t0 < 60
    table = R.read_table(tmp_path)
    assert table["status"].tolist() == ["aborted"]          # the running point; the others never started
    first = table["point_id"].iloc[0]
    import pandas as pd

    kept = pd.read_csv(tmp_path / "points" / first / "metrics.csv")
    assert 1 <= len(kept) < 400                              # its finished epochs are kept
    assert (tmp_path / "points" / first / "checkpoint.npz").exists()   # and it resumes from there
    assert not any((tmp_path / "points" / p.id).exists() for p in sw.points if p.id != first)
    assert not (tmp_path / "STOP").exists()
    _, points = live.feed.extras["points"]
    assert sorted(p["status"] for p in points) == ["aborted", "pending", "pending"]
    assert live.feed.status == "aborted"
