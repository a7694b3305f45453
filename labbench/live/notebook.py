"""The live plots in Jupyter, for a procedure started from Python.

The run goes on a background thread so the notebook's own event loop stays free to push
points into the output cell; Pause, Resume and Abort work there as on the page::

    from labbench.instruments import Bench
    from labbench.procedures import PulseTrain
    from labbench.store import Store
    from labbench.live.notebook import run_live

    bench = Bench.from_yaml("sim")
    run = run_live(PulseTrain(cycles=5, pulses=32), bench, Store("labbench.db"))
    # ... the plots fill in below the cell ...
    result = run.result()          # waits for the end; raises as run_procedure would
    bench.close()
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .control import RunControl
from .feed import Feed


def show(feed: Feed, notebook_url: str = "localhost:8888") -> None:
    """Render the live page of ``feed`` in the current notebook cell."""
    from bokeh.io import output_notebook
    from bokeh.io import show as bokeh_show

    from .page import make_document

    output_notebook(hide_banner=True)
    bokeh_show(make_document(feed), notebook_url=notebook_url)


@dataclass
class LiveRun:
    feed: Feed
    control: RunControl
    thread: threading.Thread
    _out: dict = field(default_factory=dict)

    def result(self, timeout: float | None = None):
        """The run's :class:`~labbench.runner.ProcedureResult` once it ends (its
        exception, an abort included, is raised here)."""
        self.thread.join(timeout)
        if "error" in self._out:
            raise self._out["error"]
        return self._out.get("result")


def run_live(procedure, bench, store=None, *, display: bool = True, notebook_url: str = "localhost:8888") -> LiveRun:
    """Run ``procedure`` on ``bench`` in a background thread with the live plots shown."""
    from labbench.runner import run_procedure

    from .bench_panel import levels

    feed, control = Feed(), RunControl()
    feed.control = control
    feed.levels = lambda: levels(bench)
    out: dict = {}

    def go() -> None:
        try:
            out["result"] = run_procedure(procedure, bench, store, progress=False, tap=feed, control=control)
        except BaseException as e:  # noqa: BLE001 - handed to result()
            out["error"] = e

    if display:
        show(feed, notebook_url)
    thread = threading.Thread(target=go, name="labbench-run", daemon=True)
    thread.start()
    return LiveRun(feed, control, thread, out)
