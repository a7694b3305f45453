"""The live view's server in its own process: the run's process forwards its feed, the
server process mirrors it; buttons, log records and its end cross the pipe safely."""
import io
import json
import logging
import os
import signal
import time

import numpy as np
import pytest

from labbench.live.control import RunControl
from labbench.live.feed import Feed
from labbench.live.process import Mirror, ServerProcess
from labbench.live.server import LiveError
from live_helpers import http_get, wait_until

TOKEN = "t" * 24


def _forwarded(feed: Feed, sp: ServerProcess | None = None) -> Mirror:
    """What one forwarder tick sends, applied to a fresh mirror (no process)."""
    sp = sp or ServerProcess(feed)
    mirror = Mirror(say=lambda m: None)
    mirror.apply(sp._changes())
    return mirror, sp


def test_a_tick_forwards_rows_in_order_then_only_what_is_new():
    feed = Feed()
    feed.control = RunControl()
    feed.started({"name": "PulseTrain", "run_id": 4, "values": {"conductance": "S"}})
    feed.rows([{"pulse": i, "conductance": 1e-6 * i} for i in range(5)])
    feed.extra("signs", np.ones((2, 2)))
    mirror, sp = _forwarded(feed)
    assert [r["pulse"] for r in mirror.since(0)[0]] == [0, 1, 2, 3, 4]
    assert mirror.info["run_id"] == 4 and mirror.status == "running" and mirror.extras["signs"][0] == 1
    assert mirror.control.state == "waiting"
    feed.rows([{"pulse": 5, "conductance": 5e-6}])
    feed.control.begin()
    msg = sp._changes()
    assert set(msg) == {"rows", "control"} and msg["rows"] == [{"pulse": 5, "conductance": 5e-6}]
    mirror.apply(msg)
    assert len(mirror) == 6 and mirror.control.state == "running"
    assert sp._changes() == {}                      # nothing new: nothing sent
    feed.next_run({"name": "ArrayMap"})             # a campaign's next step: all of it again, the page rebuilds
    msg = sp._changes()
    mirror.apply(msg)
    assert msg["generation"] == mirror.generation == 1 and len(mirror) == 0 and mirror.name == "ArrayMap"


def test_levels_go_as_sent_and_none_means_no_levels():
    feed = Feed()
    feed.levels = lambda: [{"instrument": "smu", "level": "+0.1 V"}]
    mirror, sp = _forwarded(feed)
    assert mirror.levels() == [{"instrument": "smu", "level": "+0.1 V"}]
    feed.levels = None
    sp._sent["levels_at"] = 0.0
    mirror.apply(sp._changes())
    assert mirror.levels is None


@pytest.mark.parametrize("request_, logged", [
    ({"op": "control", "action": "__class__", "id": 1}, "should not send"),
    ({"op": "exec", "code": "import os"}, "should not send"),
    ({"op": "control", "action": "abort"}, None),                # no id: answered as -1, acted on
])
def test_the_run_acts_on_its_own_three_buttons_only(request_, logged, caplog):
    feed = Feed()
    feed.control = RunControl()
    feed.control.begin()
    sp = ServerProcess(feed)
    with caplog.at_level(logging.WARNING, logger="labbench.live.process"):
        reply = sp._act(request_)
    if logged:
        assert reply is None and logged in caplog.text and feed.control.state == "running"
    else:
        assert reply[0] == -1 and "aborting" in reply[1] and feed.control.abort_requested


def test_requests_are_json_lines_never_pickles(caplog):
    """The server process faces the network: what it sends is parsed as JSON only."""
    import pickle

    sp = ServerProcess(Feed())
    evil = pickle.dumps(os.system)                 # would name a host function if it were unpickled
    stream = io.BytesIO(evil + b"\n" + json.dumps({"op": "sessions", "n": 2}).encode() + b"\n" + b"x" * 10_000)
    with caplog.at_level(logging.WARNING, logger="labbench.live.process"):
        sp._read(stream)
    got = []
    while not sp._requests.empty():
        got.append(sp._requests.get())
    assert got == [{"op": "sessions", "n": 2}, None]            # the pickle and the overlong line dropped
    assert "not understood" in caplog.text


def test_a_button_on_the_mirror_waits_for_the_runs_answer():
    sent = []
    mirror = Mirror(say=sent.append)
    import threading

    def answer():
        while not sent:
            time.sleep(0.01)
        mirror.apply({"replies": [[sent[0]["id"], "pausing after the current step"]]})

    threading.Thread(target=answer, daemon=True).start()
    assert mirror.control.pause() == "pausing after the current step"
    assert sent[0]["op"] == "control" and sent[0]["action"] == "pause"


# -- with the real process ------------------------------------------------------------------------
@pytest.fixture
def served():
    feed = Feed()
    feed.control = RunControl()
    feed.started({"name": "ArrayMap", "run_id": 3, "values": {"conductance": "S"}})
    sp = ServerProcess(feed, port=0, token=TOKEN)
    sp.start()
    yield feed, sp
    sp.stop()


def test_the_server_is_another_process_and_its_refusals_are_logged_here(served, caplog):
    feed, sp = served
    assert sp.pid != os.getpid()
    with caplog.at_level(logging.WARNING):
        assert http_get(f"http://127.0.0.1:{sp.port}/?token=" + "x" * 24)[0] == 403
        wait_until(lambda: "wrong token" in caplog.text, timeout=10)
    assert "refused a request from 127.0.0.1" in caplog.text
    assert http_get(sp.url)[0] == 200
    wait_until(lambda: sp.sessions() >= 1, timeout=10)            # the page's session, as the server process says


def test_ctrl_c_is_the_runs_and_the_server_outlives_it(served):
    feed, sp = served
    os.kill(sp.pid, signal.SIGINT)                # the terminal's Ctrl-C reaches the whole process group
    time.sleep(0.5)
    assert sp._proc.poll() is None and http_get(sp.url)[0] == 200


def test_the_server_process_ends_when_the_runs_process_is_gone():
    sp = ServerProcess(Feed(), port=0, token=TOKEN)
    sp.start()
    proc = sp._proc
    sp._stop.set()
    proc.stdin.close()                            # as when the run's process dies: its end of the pipe closes
    assert proc.wait(15) == 0
    sp._proc = None


def test_a_port_in_use_is_said_by_the_run(monkeypatch):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LiveError, match=f"--live-port {port}: that port is in use"):
            ServerProcess(Feed(), port=port, token=TOKEN).start()


def test_where_no_second_python_starts_the_view_is_served_from_the_run(monkeypatch, caplog):
    import sys

    from labbench.live import session

    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with caplog.at_level(logging.WARNING, logger="labbench.live.session"):
        live = session.start(port=0, token=TOKEN, say=lambda m: None)
    try:
        assert "could not start" in caplog.text and "serving the live view from this process" in caplog.text
        assert http_get(live.url)[0] == 200
    finally:
        live.close(linger=0)


def test_a_failing_levels_reader_blanks_the_bench_panel_not_the_rows(caplog):
    feed = Feed()

    def broken():
        raise RuntimeError("no such role")

    feed.levels = broken
    feed.rows([{"pulse": 0}])
    with caplog.at_level(logging.WARNING, logger="labbench.live.process"):
        mirror, sp = _forwarded(feed)
    assert len(mirror) == 1 and mirror.levels is None and "levels could not be read" in caplog.text


def test_two_live_runs_at_once_get_two_ports():
    a, b = ServerProcess(Feed(), token=TOKEN), ServerProcess(Feed(), token=TOKEN)
    try:
        a.start(), b.start()
        assert a.port != b.port and 5006 <= min(a.port, b.port)
        assert http_get(a.url)[0] == 200 and http_get(b.url)[0] == 200
    finally:
        a.stop(), b.stop()
