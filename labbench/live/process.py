"""The live view's server in a process of its own, so that a page open on the run costs
the run nothing.

Why: streaming to a browser (Bokeh's document diffs, their JSON, the websocket writes)
took about a fifth of a core at 1,000 rows/s.  In a thread of the run's process that
fifth came out of the run (``bench/live_bench.py``: 0.80 of the pulse-then-read rate
with a page open).  Here the run's process keeps only the :class:`~.feed.Feed` (lists it
appends to) and one *forwarder* thread that, every ``FORWARD_S``, sends what is new (rows,
status, pictures, the bench's levels, the control's state) down a pipe in one message.
The server process mirrors it into a :class:`Mirror`, a Feed the unchanged page reads.

The buttons cross back the other way as small JSON requests, not pickles: the server
process faces the network, so nothing it sends can become a Python object in the run's
process; only ``pause``, ``resume`` and ``abort`` of this run's own control are
understood.  The run's :class:`~.control.RunControl` answers as before, and its thread
still acts between two steps.  The server process's log records (a refused token) come
back the same way and are logged by the run's process.

The server process ignores Ctrl-C (the run's to act on: the page then shows the run
``aborted``), and ends when the run closes the view or when the run's process is gone
(the pipe closes).  If it fails, the run goes on, as with the thread before.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from .feed import Feed
from .server import LiveError

log = logging.getLogger(__name__)

FORWARD_S = 0.2          # what is new goes to the server this often (the page polls every 0.5 s)
LEVELS_S = 0.5           # the bench's levels (as last sent) are read this often
REPLY_S = 3.0            # a button waits this long for the run's answer
MAX_REQUEST = 4096       # bytes: a request from the server process is a few dozen
ACTIONS = ("pause", "resume", "abort")


class NoServerProcess(LiveError):
    """The server process itself did not start (not: it could not bind its port)."""


# -- the run's process ------------------------------------------------------------------------
class ServerProcess:
    """:class:`~.server.LiveServer`'s interface (``start``, ``url``, ``port``,
    ``sessions``, ``stop``) with the server in a child process fed from ``feed``.

    A plain ``python -m labbench.live.process`` on pipes, not :mod:`multiprocessing`:
    its spawn re-runs the user's main script in the child (a script without the
    ``if __name__ == "__main__"`` guard would start its run twice), and fork would copy
    the run's threads mid-state.  The token goes down the pipe, never on the command
    line, where another user's ``ps`` would see it."""

    def __init__(self, feed, host: str = "127.0.0.1", port: int | None = None, token: str | None = None,
                 forward_s: float = FORWARD_S):
        self.feed, self.host, self.asked_port, self.token = feed, host, port, token
        self.forward_s = forward_s
        self.port: int | None = None
        self.url = ""
        self._proc: subprocess.Popen | None = None
        self._requests: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._sessions = 0
        self._sent: dict = {}

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 60.0) -> str:
        # the same labbench as this process's, installed or not (bench scripts put the checkout on sys.path)
        home = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")]))}
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=None, env=env)
        except OSError as e:
            raise NoServerProcess(f"the live view's server process could not start ({sys.executable}: {e})") from None
        threading.Thread(target=self._read, args=(self._proc.stdout,), name="labbench-live-requests",
                         daemon=True).start()
        try:
            self._send({"host": self.host, "port": self.asked_port, "token": self.token,
                        "controls": self.feed.control is not None})
            hello = self._requests.get(timeout=timeout)
        except (OSError, queue.Empty):
            hello = None
        if not isinstance(hello, dict) or hello.get("op") != "ready":
            self._kill()
            if isinstance(hello, dict) and hello.get("op") == "error":
                raise LiveError(str(hello.get("message")))
            raise NoServerProcess(f"the live view's server process did not start within {timeout:g} s"
                                  if hello is None else "the live view's server process ended before it served")
        self.port, self.url = int(hello["port"]), str(hello["url"])
        self._thread = threading.Thread(target=self._forward, name="labbench-live-forward", daemon=True)
        self._thread.start()
        return self.url

    def sessions(self) -> int:
        """Browser sessions open now (as the server process last said)."""
        return self._sessions

    def stop(self, timeout: float = 5.0) -> None:
        """The last records go out, then the server process ends (killed if it does not)."""
        if self._proc is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self._send({"stop": True})
            self._proc.stdin.close()
            self._proc.wait(timeout)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)

    def _send(self, msg: dict) -> None:
        data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
        self._proc.stdin.write(struct.pack("<Q", len(data)) + data)
        self._proc.stdin.flush()

    def _read(self, stream) -> None:
        """The server process's requests, one JSON line each, into the queue; None at its end."""
        try:
            for raw in iter(lambda: stream.readline(MAX_REQUEST), b""):
                try:
                    msg = json.loads(raw)
                except ValueError:
                    log.warning("live view: a request from its server process was not understood; ignored")
                    continue
                if isinstance(msg, dict):
                    self._requests.put(msg)
        except (OSError, ValueError):
            pass
        self._requests.put(None)

    # -- the forwarder thread -------------------------------------------------------------------
    def _forward(self) -> None:
        last = False
        while not last:
            last = self._stop.wait(self.forward_s)
            try:
                self._tick()
            except (OSError, EOFError, ValueError) as e:  # the server process is gone: the run goes on
                if not self._stop.is_set():
                    log.warning("live view stopped: its server process is gone (%s); the run goes on and its "
                                "records are complete in the dataset", e or type(e).__name__)
                return
            except Exception as e:  # noqa: BLE001 - the view must never stop a measurement
                log.warning("live view stopped following this run (%s: %s); the run goes on", type(e).__name__, e)
                return

    def _tick(self) -> None:
        replies = []
        while True:
            try:
                req = self._requests.get_nowait()
            except queue.Empty:
                break
            if req is None:
                raise EOFError("it ended")
            reply = self._act(req)
            if reply is not None:
                replies.append(reply)
        msg = self._changes()
        if replies:
            msg["replies"] = replies
        if msg:
            self._send(msg)

    def _act(self, req: dict):
        op = req.get("op")
        if op == "sessions":
            n = req.get("n")
            self._sessions = n if isinstance(n, int) and n >= 0 else 0
        elif op == "log":
            level = req.get("level")
            level = level if level in (logging.INFO, logging.WARNING, logging.ERROR) else logging.WARNING
            logging.getLogger("labbench.live.server_process").log(level, "%s", str(req.get("message", ""))[:1000])
        elif op == "control" and req.get("action") in ACTIONS:
            control = self.feed.control
            text = getattr(control, req["action"])() if control is not None else "this run has no controls"
            return [req.get("id") if isinstance(req.get("id"), int) else -1, text]
        else:
            log.warning("live view: a request its server process should not send was ignored: %.80s", req)
        return None

    def _changes(self) -> dict:
        """What changed in the feed since the last message (rows by cursor, the rest by value)."""
        f, sent, msg = self.feed, self._sent, {}
        if sent.get("generation") != f.generation:            # a campaign's next run: all of it again
            sent.clear()
            sent.update(generation=f.generation, cursor=0, extras={})
            msg["generation"] = f.generation
        if f.info is not sent.get("info"):
            msg["info"] = sent["info"] = f.info
        rows, sent["cursor"] = f.since(sent["cursor"])
        if rows:
            msg["rows"] = rows
        for key in ("status", "reason", "percent"):
            value = getattr(f, key)
            if sent.get(key, ...) != value:
                msg[key] = sent[key] = value
        extras = {k: v for k, v in list(f.extras.items()) if sent["extras"].get(k) != v[0]}
        if extras:
            msg["extras"] = extras
            sent["extras"].update({k: v[0] for k, v in extras.items()})
        if f.references is not sent.get("references"):
            msg["references"] = sent["references"] = f.references
        now = time.monotonic()
        if now >= sent.get("levels_at", 0.0):
            sent["levels_at"] = now + LEVELS_S
            levels = None
            if f.levels is not None:
                try:
                    levels = f.levels()
                except Exception as e:  # noqa: BLE001 - the bench panel goes blank; the rows keep coming
                    log.warning("live view: the bench's levels could not be read (%s: %s); not shown",
                                type(e).__name__, e)
                    f.levels = None
            if sent.get("levels", ...) != levels:
                msg["levels"] = sent["levels"] = levels
        c = f.control
        if c is not None:
            state = (c.state, c.message, c.pausable, c.abort_requested)
            if sent.get("control") != state:
                msg["control"] = sent["control"] = state
        return msg


# -- the server process ---------------------------------------------------------------------
def main() -> None:
    """The server process (``python -m labbench.live.process``): a LiveServer on a
    :class:`Mirror` of the run's feed, read from stdin; requests go out on stdout."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the run's; the page shows it end aborted
    source = sys.stdin.buffer
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())   # a stray print must not break the requests' stream
    lock = threading.Lock()

    def say(msg: dict) -> None:
        with lock:                                   # the page's thread and this one both send
            out.write(json.dumps(msg).encode() + b"\n")
            out.flush()

    root = logging.getLogger("labbench")
    root.addHandler(_Forwarded(say))
    root.setLevel(logging.INFO)
    root.propagate = False
    try:
        opts = _frame(source)
    except (EOFError, OSError, pickle.UnpicklingError):
        return
    from .page import make_document
    from .server import LiveServer

    mirror = Mirror(say if opts["controls"] else None)
    server = LiveServer(make_document(mirror), host=opts["host"], port=opts["port"], token=opts["token"])
    try:
        url = server.start()
    except Exception as e:  # noqa: BLE001 - reported to the run's process, which raises it there
        say({"op": "error", "message": str(e)})
        return
    say({"op": "ready", "port": server.port, "url": url})
    done = threading.Event()
    threading.Thread(target=_count_sessions, args=(server, say, done), daemon=True).start()
    try:
        while True:
            msg = _frame(source)
            if msg.get("stop"):
                break
            mirror.apply(msg)
    except (EOFError, OSError):
        pass                                         # the run's process is gone
    finally:
        done.set()
        server.stop()


def _frame(source) -> dict:
    """One message from the run's process: its length, then its pickle (the run's process
    is the authority here; nothing goes the other way as a pickle)."""
    head = source.read(8)
    if len(head) < 8:
        raise EOFError
    (n,) = struct.unpack("<Q", head)
    data = source.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


def _count_sessions(server, say, done: threading.Event) -> None:
    seen = 0
    while not done.wait(0.25):
        n = server.sessions()
        if n != seen:
            seen = n
            try:
                say({"op": "sessions", "n": n})
            except OSError:
                return


class _Forwarded(logging.Handler):
    """The server process's log records, sent to the run's process to be logged there."""

    def __init__(self, say):
        super().__init__(logging.INFO)
        self.say = say

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.say({"op": "log", "level": record.levelno, "message": record.getMessage()})
        except Exception:  # noqa: BLE001 - the run's process is gone: nobody to tell
            pass


class _MirrorControl:
    """The run's control as the server process sees it: its state as last forwarded; a
    button sends a request and shows the run's answer."""

    def __init__(self, say):
        self._say = say
        self.state, self.message, self.pausable, self.abort_requested = "waiting", "", True, False
        self._next = 0
        self._answers: dict[int, str] = {}
        self._answered = threading.Condition()

    def _ask(self, action: str) -> str:
        with self._answered:
            self._next += 1
            key = self._next
        self._say({"op": "control", "id": key, "action": action})
        with self._answered:
            self._answered.wait_for(lambda: key in self._answers, REPLY_S)
            return self._answers.pop(key, f"asked the run to {action}; it has not answered yet "
                                          f"(it acts between two steps)")

    def pause(self) -> str:
        return self._ask("pause")

    def resume(self) -> str:
        return self._ask("resume")

    def abort(self) -> str:
        return self._ask("abort")

    def answer(self, replies) -> None:
        with self._answered:
            for key, text in replies:
                self._answers[key] = text
            self._answered.notify_all()


class Mirror(Feed):
    """The run's feed as forwarded: the page reads it exactly as it read the Feed."""

    def __init__(self, say=None):
        super().__init__()
        self.control = _MirrorControl(say) if say is not None else None
        self._levels = None

    def apply(self, msg: dict) -> None:
        if "generation" in msg:
            # new objects, not cleared ones: a page thread reading the old list sees it whole
            self._rows, self.arrived, self.extras = [], [], {}
            self.generation = msg["generation"]
        if "info" in msg:
            self.info = msg["info"]
        if "rows" in msg:
            self._rows.extend(msg["rows"])
            self.arrived.append((len(self._rows), time.monotonic()))
        for key in ("status", "reason", "percent", "references"):
            if key in msg:
                setattr(self, key, msg[key])
        if "extras" in msg:
            self.extras = {**self.extras, **msg["extras"]}
        if "levels" in msg:
            self._levels = msg["levels"]
            self.levels = (lambda: self._levels) if self._levels is not None else None
        if self.control is not None:
            if "control" in msg:
                c = self.control
                c.state, c.message, c.pausable, c.abort_requested = msg["control"]
            if "replies" in msg:
                self.control.answer(msg["replies"])


if __name__ == "__main__":
    main()
