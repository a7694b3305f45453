"""The live page: a Bokeh document per browser session, fed by polling the run's feed.

Each session reads the feed by cursor every ``POLL_MS`` (the rows since its last look,
streamed in one batch), so the run's thread only appends to a list and many viewers cost
the run nothing more.  The buttons only *ask* the run's :class:`RunControl`; the run acts
at its next step.
"""
from __future__ import annotations

import html
import logging

from bokeh.layouts import column, row
from bokeh.models import Button, ColumnDataSource, DataTable, Div, TableColumn

from . import bench_panel
from .plots import panel_for

log = logging.getLogger(__name__)

SHOWN = {"bnn_training": "training"}     # a run's record name, as the page says it

POLL_MS = 500            # a point reaches the page within about this (plus the network and drawing);
                         # each poll that brings rows redraws the plots in the browser, which costs
                         # the machine's CPU: twice a second keeps a local browser from slowing the run
BENCH_EVERY = 3          # ticks between bench-panel refreshes (levels change at every pulse: not every poll)


def _status_line(feed) -> str:
    info = feed.info
    control = feed.control
    status = feed.status
    if control is not None and status == "running" and control.state in ("pausing", "paused", "aborting"):
        status = control.state
    parts = [f"run {info['run_id']}" if info.get("run_id") is not None else "run (no dataset)",
             html.escape(SHOWN.get(feed.name, feed.name) or "waiting for the run to start"), f"<b>{status}</b>",
             f"{len(feed)} rows"]
    if feed.percent is not None and status not in ("finished",):
        parts.append(f"{feed.percent:.0f} %")
    if info.get("db"):
        parts.append(html.escape(str(info["db"])))
    line = " · ".join(parts)
    if feed.reason:
        line += f"<br>{html.escape(feed.reason)}"
    return line


def make_document(feed, poll_ms: int = POLL_MS):
    """A Bokeh app function (``doc -> None``) showing ``feed``; with ``feed.control``
    the page has Pause, Resume and Abort."""

    def modify(doc) -> None:
        control = feed.control
        # fixed sizes: a new text then redraws the text alone, not the whole page's layout
        status = Div(text=_status_line(feed), name="lb-status", width=1000, height=36)
        message = Div(text="", name="lb-message", width=1000, height=20)
        plots = column(name="lb-plots")
        bench_src = ColumnDataSource({c: [] for c in bench_panel.COLUMNS})
        widths = {"detail": 300, "level": 140}
        table = DataTable(source=bench_src, columns=[TableColumn(field=c, title=c, width=widths.get(c, 110))
                                                     for c in bench_panel.COLUMNS],
                          width=1100, height=140, index_position=None, name="lb-bench")
        buttons = []
        if control is not None:
            pause = Button(label="Pause", button_type="warning", name="lb-pause")
            resume = Button(label="Resume", button_type="success", name="lb-resume")
            abort = Button(label="Abort", button_type="danger", name="lb-abort")

            def press(fn):
                def on_click() -> None:
                    message.text = html.escape(fn())
                return on_click

            pause.on_click(press(control.pause))
            resume.on_click(press(control.resume))
            abort.on_click(press(control.abort))
            buttons = [pause, resume, abort]
        header = [Div(text="<h3 style='margin:4px 0'>labbench live</h3>"), status]
        bench_title = Div(text="<b>bench</b>")
        doc.add_root(column(*header, row(*buttons), message, plots, bench_title, table, sizing_mode="stretch_width"))
        state = {"panel": None, "cursor": 0, "tick": 0, "failed": False, "bench": None}

        def tick() -> None:
            doc.hold("combine")        # the tick's changes go to the browser as one message
            try:
                _tick()
            except Exception as e:  # noqa: BLE001 - a broken page must not spam, nor touch the run
                if not state["failed"]:
                    state["failed"] = True
                    log.warning("live page: %s: %s (the run goes on)", type(e).__name__, e)
            finally:
                doc.unhold()

        def _tick() -> None:
            if state.get("gen", 0) != feed.generation:      # the next run of a campaign: start over
                state.update(panel=None, cursor=0, gen=feed.generation)
                plots.children = []
            panel = state["panel"]
            if panel is None and feed.info.get("name"):
                panel = state["panel"] = panel_for(feed.info)
                plots.children = [panel.layout]
            if panel is not None:
                panel.info = feed.info          # the run's record, once it has started
                rows, state["cursor"] = feed.since(state["cursor"])
                if rows:
                    panel.add(rows)
                panel.refresh(feed)
            # Bokeh sends a property only when its value changes
            status.text = _status_line(feed) + (panel.note() if panel is not None else "")
            doc.title = f"labbench live · {feed.name} · {feed.status}"
            if control is not None:
                s = control.state
                pause.disabled = s != "running" or not control.pausable
                resume.disabled = s not in ("paused", "pausing") or not control.pausable
                abort.disabled = s not in ("running", "pausing", "paused")
                if control.message and s in ("paused", "running"):
                    message.text = html.escape(control.message)
            if state["tick"] % BENCH_EVERY == 0:
                rows = feed.levels() if feed.levels is not None else \
                    bench_panel.instruments(feed.info.get("metadata", {}))
                data = {c: [r.get(c, "") for r in rows] for c in bench_panel.COLUMNS}
                if data != state["bench"]:
                    bench_src.data = state["bench"] = data
                table.visible = bool(rows)
                bench_title.text = ("<b>bench</b> (levels as last sent, never queried)" if feed.levels else
                                    "<b>bench</b> (from the run's record)" if rows else
                                    "<b>bench</b>: none (simulated arrays, no instruments)")
            state["tick"] += 1

        tick()           # the rows so far go out with the document itself, not as a stream
        doc.add_periodic_callback(tick, poll_ms)

    return modify
