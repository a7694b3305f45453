"""The embedded Bokeh server: one per live run, in a daemon thread of the run's process.

It binds to 127.0.0.1 by default.  A port in use: the next free one when the port was
the default, a clear error when the user named it.  If the server cannot start, or fails
later, the run is not touched: the measurement is primary.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading

from labbench.errors import LabbenchError

log = logging.getLogger(__name__)

DEFAULT_PORT = 5006
TRIES = 20               # ports tried upward from the default one


class LiveError(LabbenchError):
    """The live view cannot start as asked (nothing was measured yet)."""


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _any_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, app, host: str = "127.0.0.1", port: int | None = None, token: str | None = None):
        """``app``: a Bokeh app function (:func:`labbench.live.page.make_document`);
        ``port`` None: the default port or the next free one; 0: any free port."""
        self.app, self.host, self.token = app, host, token
        self.asked_port = port
        self.port: int | None = None
        self._server = self._loop = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def local(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")

    def _ports(self) -> list[int]:
        if self.asked_port == 0:
            return [_any_port(self.host)]
        if self.asked_port is not None:
            return [self.asked_port]
        return list(range(DEFAULT_PORT, DEFAULT_PORT + TRIES))

    def start(self, timeout: float = 20.0) -> str:
        """Start serving; returns the page's address (with its token)."""
        for port in self._ports():
            if not _free(self.host, port):
                continue
            self._ready.clear()
            self._error = None
            self._thread = threading.Thread(target=self._serve, args=(port,), name="labbench-live", daemon=True)
            self._thread.start()
            if not self._ready.wait(timeout):
                raise LiveError(f"the live view's server did not start within {timeout:g} s")
            if self._error is None:
                self.port = port
                return self.url
            if not (isinstance(self._error, OSError) and self._error.errno == errno.EADDRINUSE):
                raise LiveError(f"the live view's server could not start on {self.host}:{port}: {self._error}")
        if self.asked_port not in (None, 0):
            raise LiveError(f"--live-port {self.asked_port}: that port is in use on {self.host}; give another "
                            f"port, or --live-port 0 for any free one")
        raise LiveError(f"no free port for the live view on {self.host} from {DEFAULT_PORT} to "
                        f"{DEFAULT_PORT + TRIES - 1}; give --live-port 0 for any free one")

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def _serve(self, port: int) -> None:
        try:
            asyncio.set_event_loop(asyncio.new_event_loop())
            from bokeh.application import Application
            from bokeh.application.handlers.function import FunctionHandler
            from bokeh.server.server import Server
            from tornado.ioloop import IOLoop

            from .auth import TokenAuth, guard_websocket

            for name in ("bokeh", "tornado.access", "tornado.application", "tornado.general"):
                logging.getLogger(name).setLevel(logging.ERROR)   # no tracebacks at the lab user
            origins = [f"localhost:{port}", f"127.0.0.1:{port}"] if self.local else ["*"]
            kw = {"auth_provider": TokenAuth(self.token)} if self.token else {}
            self._loop = IOLoop.current()
            self._server = Server({"/": Application(FunctionHandler(self.app))}, io_loop=self._loop,
                                  address=self.host, port=port, allow_websocket_origin=origins,
                                  check_unused_sessions_milliseconds=2000,
                                  unused_session_lifetime_milliseconds=5000, **kw)
            if self.token:
                guard_websocket(self._server._tornado)
            self._server.start()
        except BaseException as e:  # noqa: BLE001 - reported to start(), never to the run
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.start()
        except Exception as e:  # noqa: BLE001 - the server died: the run goes on
            log.warning("live view stopped: %s: %s (the run goes on)", type(e).__name__, e)

    def sessions(self) -> int:
        """Browser sessions open now."""
        try:
            return sum(len(c.sessions) for c in self._server._tornado._applications.values())
        except Exception:  # noqa: BLE001
            return 0

    def stop(self, timeout: float = 5.0) -> None:
        if self._loop is None or self._server is None:
            return
        server, loop = self._server, self._loop

        def shut() -> None:
            try:
                server.stop()
            finally:
                loop.stop()

        try:
            loop.add_callback(shut)
        except RuntimeError:      # the loop is closed already
            return
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = self._loop = None
