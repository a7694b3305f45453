"""The live view without a browser: the tap -> document streaming, bounded memory, Pause /
Resume / Abort on the simulated bench, the token, the server over HTTP, bad input."""
import logging
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from bokeh.document import Document

from labbench.errors import Aborted
from labbench.instruments import Bench
from labbench.live import session as live_session
from labbench.live.control import RunControl
from labbench.live.feed import Feed
from labbench.live.page import make_document
from labbench.live.plots import PulsePanel
from labbench.live.server import LiveError, LiveServer
from labbench.live.series import Series, decimate
from labbench.paths import BENCHES
from labbench.procedures import PulseTrain
from labbench.runner import run_procedure
from labbench.store import Store
from live_helpers import http_get, wait_until

TOKEN = "t" * 24


def _all_off(world):
    return not any(i.outputs_on() for i in world.instruments.values()) and not world.instruments["matrix"].closed


def _rows(n, start=0, cell=0, direction="set", pulses=8):
    return [{"cell": cell, "direction": direction, "condition": 0, "pulse": p % (pulses + 1),
             "conductance": 1e-6 * (p + 1)} for p in range(start, start + n)]


def _tick(doc):
    """Run the page's periodic poll once, as the server would."""
    (cb,) = doc.session_callbacks
    cb.callback()


# -- tap -> document ----------------------------------------------------------------------
def test_streamed_points_arrive_in_order_and_stay_in_sync_with_the_feed():
    feed = Feed()
    feed.started({"name": "PulseTrain", "run_id": 7, "values": {"conductance": "S"}})
    doc = Document()
    make_document(feed)(doc)
    feed.rows(_rows(5, pulses=4))             # one train: pulse 0..4
    _tick(doc)
    feed.rows(_rows(4, start=5, pulses=4))    # the next train starts: pulse 0..3
    _tick(doc)
    from bokeh.models import ColumnDataSource

    src = next(s for s in doc.select({"type": ColumnDataSource}) if "y" in s.data and len(s.data["y"]))
    y = np.asarray(src.data["y"], float)
    # 9 points in µS, in the order measured, with a NaN break where the second train starts
    assert np.allclose(y[np.isfinite(y)], np.arange(1, 10))
    assert np.isnan(y).sum() == 1 and np.flatnonzero(np.isnan(y))[0] == 5
    status = doc.select_one({"name": "lb-status"}).text
    assert "run 7" in status and "9 rows" in status


def test_rollover_bounds_the_page_and_history_is_decimated_not_dropped():
    s = Series(recent=100, history=50)
    x = np.arange(10_000, dtype=float)
    y = np.sin(x / 300)
    for i in range(0, len(x), 37):          # uneven batches, as a run delivers them
        s.add(x[i:i + 37], y[i:i + 37])
    assert len(s.recent.data["x"]) <= 125                 # rollover: the window, one step longer
    hx, _ = s.hist
    assert len(hx) <= 50
    # history reaches back to the first point and up to the window: nothing in between is lost
    assert hx[0] == 0 and hx[-1] >= s.recent.data["x"][0] - 1
    # the envelope survives decimation: the extremes of the old points are kept
    hx, hy = decimate(x, y, 200)
    assert len(hx) <= 200 and hy.max() == pytest.approx(y.max()) and hy.min() == pytest.approx(y.min())


def test_a_pulse_train_page_draws_the_model_curve_and_caps_curves():
    from labbench.physics import load_device_model

    panel = PulsePanel({"name": "PulseTrain", "model": load_device_model(None),
                        "metadata": {"parameters": {"pulses": 8}}})
    for cell in range(30):
        panel.add(_rows(9, cell=cell))
    assert "set" in panel.drawn
    assert any("model" in (item.label.value or "") for item in panel.figs["set"].legend[0].items)
    assert len(panel.model_src["set"].data["y"]) == 9 and np.isfinite(panel.model_src["set"].data["y"]).all()
    assert len(panel.curves["set"].curves) == 24 and "6 more curves" in panel.note()


# -- Pause / Resume / Abort on the simulated bench --------------------------------------------
class _At:
    """A tap that presses a button once the run has recorded ``n`` rows."""

    def __init__(self, feed, n, press):
        self.feed, self.n, self.press = feed, n, press

    def __getattr__(self, attr):
        return getattr(self.feed, attr)

    def rows(self, rows):
        self.feed.rows(rows)
        if len(self.feed) == self.n:
            self.press()


@pytest.fixture
def bench():
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        yield b


def _train():
    return PulseTrain(cells="0, 0", sides="+", cycles=2, pulses=8)   # 2 x 2 x 9 = 36 rows


def test_abort_takes_ctrl_c_path_outputs_off_run_aborted_rows_kept(tmp_path, bench):
    store, feed, control = Store(tmp_path / "d.db"), Feed(), RunControl()
    with pytest.raises(Aborted) as e:
        run_procedure(_train(), bench, store, progress=False, tap=_At(feed, 10, control.abort), control=control)
    assert e.value.result.status == "aborted" and len(e.value.result.data) == 10
    assert _all_off(bench.world)
    runs = store.runs()
    assert runs.status.tolist() == ["aborted"] and runs.reason[0] == "aborted from the live view"
    assert runs.rows[0] == 10 and len(store.load(int(runs.run_id[0]))) == 10
    assert feed.status == "aborted" and control.abort() .startswith("cannot")   # the run is over


def _run_in_thread(fn):
    out = {}

    def go():
        try:
            out["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, out


def test_pause_switches_outputs_off_keeps_the_run_open_and_resume_rechecks_limits(tmp_path, bench):
    store, feed, control = Store(tmp_path / "d.db"), Feed(), RunControl()
    t, out = _run_in_thread(lambda: run_procedure(_train(), bench, store, progress=False,
                                                  tap=_At(feed, 12, control.pause), control=control))
    wait_until(lambda: control.state == "paused")
    assert _all_off(bench.world)                      # outputs off while paused
    n = len(feed)
    time.sleep(0.3)
    assert len(feed) == n == 12 and t.is_alive()      # nothing measured, the run still open
    assert store.runs().status.tolist() == ["incomplete"]   # recorded as running, not ended

    # a limit tightened while paused: Resume refuses, nothing is sent, the run stays paused
    term = "pg.ch1"
    lim = bench.pulse_generator.limits[term]
    bench.pulse_generator.limits[term] = lim.model_copy(update={"max_voltage": 0.5})
    assert control.resume().startswith("resuming")
    wait_until(lambda: "refused" in control.message)
    assert control.state == "paused" and "0.5" in control.message and _all_off(bench.world)
    assert len(feed) == 12

    bench.pulse_generator.limits[term] = lim
    control.resume()
    t.join(30)
    assert out["result"].status == "finished" and len(out["result"].data) == 36
    assert store.runs().status.tolist() == ["finished"]


def test_abort_while_paused_and_a_closed_page_changes_nothing(tmp_path, bench):
    store, feed, control = Store(tmp_path / "d.db"), Feed(), RunControl()
    t, out = _run_in_thread(lambda: run_procedure(_train(), bench, store, progress=False,
                                                  tap=_At(feed, 5, control.pause), control=control))
    wait_until(lambda: control.state == "paused")
    control.abort()
    t.join(30)
    assert isinstance(out["error"], Aborted) and out["error"].result.status == "aborted"
    assert store.runs().rows.tolist() == [5] and _all_off(bench.world)


def test_a_failing_tap_never_stops_the_run(tmp_path, bench, caplog):
    class Broken(Feed):
        def rows(self, rows):
            raise RuntimeError("page went away")

    store = Store(tmp_path / "d.db")
    with caplog.at_level(logging.WARNING):
        res = run_procedure(_train(), bench, store, progress=False, tap=Broken())
    assert res.status == "finished" and len(store.load(res.run_id)) == 36
    assert "live view stopped following" in caplog.text


# -- the server, the token, ports ----------------------------------------------------------------
@pytest.fixture
def served():
    feed = Feed()
    feed.started({"name": "ArrayMap", "run_id": 3, "values": {"conductance": "S"}})
    feed.rows([{"cell": 0, "row": 0, "col": 0, "side": 0, "conductance": 2e-5}])
    server = LiveServer(make_document(feed), port=0, token=TOKEN)
    server.start()
    yield server
    server.stop()


def test_the_page_is_served_over_http_with_its_token_and_only_with_it(served, caplog):
    base = f"http://127.0.0.1:{served.port}/"
    code, body = http_get(served.url)
    assert code == 200 and "bokeh" in body.lower()
    for url in (base, base + "?token=" + "x" * 24):
        with caplog.at_level(logging.WARNING, logger="labbench.live.auth"):
            code, body = http_get(url)
        assert code == 403 and "bokeh" not in body.lower()
    assert "refused a request from 127.0.0.1" in caplog.text and "wrong token" in caplog.text
    # the websocket (the data and the buttons) is refused without the token too
    assert _websocket(served.port, cookie=None) == "refused"
    assert _websocket(served.port, cookie="x" * 24) == "refused"
    assert _websocket(served.port, cookie=TOKEN) == "open"


def _websocket(port, cookie):
    import asyncio

    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    async def go():
        headers = {"Origin": f"http://127.0.0.1:{port}"}
        if cookie:
            headers["Cookie"] = f"labbench_live={cookie}"
        try:
            ws = await websocket_connect(HTTPRequest(f"ws://127.0.0.1:{port}/ws", headers=headers,
                                                     follow_redirects=False))
        except HTTPClientError:
            return "refused"
        ws.close()
        return "open"

    return asyncio.run(go())


def test_a_port_in_use_gives_the_next_free_one_or_a_clear_error(monkeypatch):
    from labbench.live import server as srv

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LiveError, match=f"--live-port {port}: that port is in use.*--live-port 0"):
            LiveServer(lambda doc: None, port=port, token=TOKEN).start()
        monkeypatch.setattr(srv, "DEFAULT_PORT", port)
        a, b = LiveServer(lambda doc: None, token=TOKEN), LiveServer(lambda doc: None, token=TOKEN)
        try:
            a.start(), b.start()
            assert port < a.port < b.port                 # two live runs: two ports, both serving
            assert http_get(a.url)[0] == 200 and http_get(b.url)[0] == 200
        finally:
            a.stop(), b.stop()


@pytest.mark.parametrize("host, token, words", [
    ("0.0.0.0", None, ["open to the network", "--live-token auto"]),
    ("127.0.0.1", "short", ["at least 16"]),
])
def test_an_open_bind_without_a_token_is_refused(host, token, words):
    with pytest.raises(LiveError) as e:
        live_session.check_host(host, token)
    for w in words:
        assert w in str(e.value)
    assert len(live_session.check_host("0.0.0.0", "auto")) >= 16


@pytest.mark.parametrize("args, words", [
    (["--live", "--live-host", "0.0.0.0"], ["--live-host 0.0.0.0", "--live-token"]),
    (["--live-host", "0.0.0.0"], ["used only with --live"]),
])
def test_measure_live_bad_options_get_one_line(tmp_path, args, words):
    from click.testing import CliRunner

    from labbench.cli import main

    r = CliRunner().invoke(main, ["measure", "array-map", "--out", str(tmp_path), *args])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in r.output
    assert not (tmp_path / "labbench.db").exists() or Store(tmp_path / "labbench.db").runs().empty


def test_measure_live_serves_and_records_the_run(tmp_path):
    from click.testing import CliRunner

    from labbench.cli import main

    r = CliRunner().invoke(main, ["measure", "array-map", "-p", "cells=0:2, 0:2", "--out", str(tmp_path),
                                  "--live", "--live-port", "0"])
    assert r.exit_code == 0, r.output
    assert "live view: http://127.0.0.1:" in r.output and "?token=" in r.output
    assert Store(tmp_path / "labbench.db").runs().status.tolist() == ["finished"]


# -- a recorded run: labbench view, and a run still being written -----------------------------
def test_view_follows_a_run_still_being_written_then_shows_its_end(tmp_path):
    from labbench.live.replay import load_into

    store = Store(tmp_path / "d.db")
    with store.run("ArrayMap", {"cell": "", "row": "", "col": "", "side": ""}, {"conductance": "S"}) as w:
        w.add(cell=[0, 1], row=[0, 0], col=[0, 0], side=[0, 1], conductance=[1e-5, 2e-5])
        w.flush()
        feed = Feed()
        assert load_into(feed, store, w.run_id) is True          # still running: keep following
        assert feed.status == "running" and len(feed) == 2 and feed.name == "ArrayMap"
        w.add(cell=[2], row=[0], col=[1], side=[0], conductance=[3e-5])
        w.flush()
        assert load_into(feed, store, w.run_id) is True and len(feed) == 3
    assert load_into(feed, store, w.run_id) is False
    assert feed.status == "finished" and [r["conductance"] for r in feed.since(0)[0]] == [1e-5, 2e-5, 3e-5]
    doc = Document()
    make_document(feed)(doc)                                     # the same page, in its final state
    assert "finished" in doc.select_one({"name": "lb-status"}).text
    assert doc.select_one({"name": "lb-pause"}) is None          # not this process's run: no controls


def test_view_cli_serves_a_run_and_names_a_missing_one(tmp_path):
    from click.testing import CliRunner

    from labbench.cli import main

    store = Store(tmp_path / "labbench.db")
    with store.run("Retention", {"cell": "", "read": ""}, {"time": "s", "conductance": "S"}) as w:
        w.add(cell=[0, 0], read=[0, 1], time=[0.0, 1.0], conductance=[1e-5, 0.9e-5])
    r = CliRunner().invoke(main, ["view", str(w.run_id), "--out", str(tmp_path), "--port", "0", "--seconds", "0.2"])
    assert r.exit_code == 0, r.output
    assert "live view: http://127.0.0.1:" in r.output and "Retention, finished, 2 rows" in r.output
    r = CliRunner().invoke(main, ["view", "9", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no run 9" in r.output and "Traceback" not in r.output


def test_notebook_run_goes_on_a_thread_with_controls(tmp_path, bench):
    from labbench.live.notebook import run_live

    run = run_live(_train(), bench, Store(tmp_path / "d.db"), display=False)
    res = run.result(60)
    assert res.status == "finished" and len(run.feed) == 36 and run.feed.status == "finished"
    assert run.control.pause().startswith("cannot")          # over: the buttons change nothing


def test_a_dying_server_leaves_the_run_and_its_records_whole(tmp_path, bench):
    live = live_session.start(port=0, say=lambda m: None)
    store = Store(tmp_path / "d.db")
    res = run_procedure(_train(), bench, store, progress=False, tap=_At(live.feed, 5, live.server.stop),
                        control=live.control)
    assert res.status == "finished" and len(store.load(res.run_id)) == 36
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(live.url, timeout=5)          # the page is gone, the run was not


def test_training_abort_from_the_page_records_the_epochs_so_far(tmp_path):
    from labbench.bnn.spec import TrainSpec
    from labbench.bnn.trainer import Trainer
    from labbench.bnn.data import synthetic

    x, y, xt, yt = synthetic(16, 4, n_train=200, n_test=50)
    feed, control = Feed(), RunControl()
    store = Store(tmp_path / "d.db")
    tr = Trainer(TrainSpec(sizes=(16, 8, 4), epochs=5, batch=20), progress=False, plots=False, store=store,
                 tap=_At(feed, 2, control.abort), control=control)
    with pytest.raises(Aborted):
        tr.fit(x, y, xt, yt)
    runs = store.runs()
    assert runs.status.tolist() == ["aborted"] and runs.reason[0] == "aborted from the live view"
    assert runs.rows[0] == 2 and len(feed) == 2 and feed.status == "aborted"
    version, signs = feed.extras["signs"]
    assert version == 2 and signs.shape == (16, 8) and set(np.unique(signs)) <= {-1.0, 1.0}


def test_a_finished_training_stays_on_the_page_beside_the_next_one():
    """The demo trains on the device, then the same network ideal: the page shows the first
    run's test accuracy, dashed, beside the second's."""
    feed = Feed()
    doc = Document()
    make_document(feed)(doc)
    feed.started({"name": "bnn_training", "run_id": 3, "metadata": {"config": {"mode": "device"}}})
    feed.rows([{"epoch": e, "test_acc": a, "train_acc": a} for e, a in ((1, 0.90), (2, 0.93))])
    _tick(doc)
    feed.ended("finished")
    feed.next_run({"name": "bnn_training", "metadata": {"config": {"mode": "ideal"}}})
    feed.started({"run_id": 4})
    feed.rows([{"epoch": 1, "test_acc": 0.94, "train_acc": 0.95}])
    _tick(doc)
    from bokeh.models import ColumnDataSource

    refs = next(s for s in doc.select({"type": ColumnDataSource}) if "xs" in s.data)
    assert refs.data["label"] == ["device (run 3): test"]
    assert refs.data["xs"] == [[1, 2]] and np.allclose(refs.data["ys"][0], [90.0, 93.0])
    assert len(feed) == 1                                   # the new run's rows only
    feed.next_run({"name": "PulseTrain"})                   # a measurement is never a reference
    assert [r["label"] for r in feed.references] == ["device (run 3)", "ideal (run 4)"]
