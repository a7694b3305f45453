"""A recorded run on the live page (``labbench view RUN_ID``): the same page, fed from
the dataset instead of the record path.  A run still being written by another process
(its status ``running``) is followed: new rows are read every ``POLL_S`` until it ends."""
from __future__ import annotations

import logging
import threading

from .feed import Feed

log = logging.getLogger(__name__)

POLL_S = 1.0


def _info(store, run_id: int) -> dict:
    runs = store.runs()
    hit = runs[runs.run_id == run_id]
    if hit.empty:
        from labbench.errors import LabbenchError

        raise LabbenchError(f"no run {run_id} in {store.path}; `labbench runs --db {store.path}` lists them")
    md = store.metadata(run_id)
    return {"name": str(hit.name.iloc[0]), "run_id": run_id, "db": str(store.path), "metadata": md,
            "status": md.get("status", "unknown"), "reason": md.get("reason", "")}


def load_into(feed: Feed, store, run_id: int) -> bool:
    """Add the run's rows not yet in ``feed``, and its status; True while it is still
    being written (status ``running`` in its record)."""
    info = _info(store, run_id)
    if not feed.info:
        feed.started({k: info[k] for k in ("name", "run_id", "db", "metadata")})
    df = store.load(run_id)
    if len(df) > len(feed):
        rows = df.iloc[len(feed):].to_dict("records")
        feed.rows(rows)
    if info["status"] == "running":
        feed.status, feed.reason = "running", "being written by another process: following it"
        return True
    feed.ended(info["status"], info["reason"])
    feed.percent = None
    return False


def feed_from_run(store, run_id: int, follow: bool = True) -> Feed:
    """A feed holding run ``run_id``; with ``follow``, a daemon thread keeps reading a
    run that is still being written."""
    feed = Feed()
    running = load_into(feed, store, run_id)
    if follow and running:
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(POLL_S):
                try:
                    if not load_into(feed, store, run_id):
                        return
                except Exception as e:  # noqa: BLE001 - the writer holds the file a moment: retry
                    log.debug("re-reading run %s: %s", run_id, e)

        threading.Thread(target=poll, name="labbench-view", daemon=True).start()
        feed.stop_following = stop.set
    return feed
