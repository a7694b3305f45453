"""A live view for one run, as the commands open it (``--live``): a feed, a control and a
server (in a process of its own: :mod:`.process`), and the one line that tells the user
where to look."""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .auth import MIN_TOKEN, new_token
from .control import RunControl
from .feed import Feed
from .process import NoServerProcess, ServerProcess
from .server import LiveError, LiveServer

log = logging.getLogger(__name__)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, token: str | None, options: tuple[str, str] = ("--live-host", "--live-token")) -> str:
    """The token to use: a remote bind needs one given explicitly (``auto`` makes one);
    on loopback one is made when none is given.  Raises LiveError naming the fix, in the
    words of the command's ``options`` (host, token)."""
    host_opt, token_opt = options
    if token is not None and token != "auto" and len(token) < MIN_TOKEN:
        raise LiveError(f"{token_opt}: give at least {MIN_TOKEN} characters, or 'auto' for a random one")
    if not _loopback(host) and token is None:
        raise LiveError(f"{host_opt} {host}: the page and its Abort button would be open to the network; "
                        f"give {token_opt} auto (a random token, printed once) or {token_opt} TOKEN")
    return new_token() if token in (None, "auto") else token


@dataclass
class Live:
    feed: Feed
    control: RunControl
    server: ServerProcess | LiveServer
    url: str
    closers: list[Callable[[], object]] = field(default_factory=list)

    def follow_bench(self, bench) -> None:
        """Show ``bench``'s levels (as its roles last sent them) in the bench panel."""
        from .bench_panel import levels

        self.feed.levels = lambda: levels(bench)

    def close(self, linger: float = 0.6) -> None:
        """Stop serving; open pages first get the run's final state (one more poll)."""
        if self.server.sessions():
            time.sleep(linger)
        self.feed.levels = None
        self.server.stop()


def start(host: str = "127.0.0.1", port: int | None = None, token: str | None = None,
          say: Callable[[str], object] = print, controls: bool = True, feed: Feed | None = None,
          in_process: bool = False) -> Live:
    """Start a live view; ``say`` prints its address (once: it holds the token).

    The server runs in its own process (:mod:`.process`) so a page open on the run does
    not slow it; ``in_process`` serves from a thread of this process instead, as happens
    (with a warning) where no second Python process can start."""
    token = check_host(host, token)
    feed = feed if feed is not None else Feed()     # an empty Feed is falsy (len 0)
    control = RunControl() if controls else None
    feed.control = control
    server = None
    if not in_process:
        try:
            server = ServerProcess(feed, host=host, port=port, token=token)
            url = server.start()
        except NoServerProcess as e:      # an embedded or frozen Python: the view still works, from here
            log.warning("%s; serving the live view from this process instead (a page open then costs the run "
                        "some speed)", e)
            server = None
    if server is None:
        from .page import make_document

        server = LiveServer(make_document(feed), host=host, port=port, token=token)
        url = server.start()
    if _loopback(host):
        say(f"live view: {url}")
    else:
        say(f"live view on {host}:{server.port}, open to the network with its token (printed only here): "
            f"http://<this machine>:{server.port}/?token={token}")
    return Live(feed, control, server, url)


def check_cli() -> dict:
    """The command's ``--live*`` options, checked before anything long starts (a command
    that loads data first calls this first): raises click.UsageError or LiveError."""
    import click

    opts = click.get_current_context().meta.get("labbench.live", {})
    if not opts.get("live"):
        for name in ("live_host", "live_token", "live_port"):
            if opts.get(name + "_given"):
                raise click.UsageError(f"--{name.replace('_', '-')} is used only with --live")
    else:
        check_host(opts.get("live_host") or "127.0.0.1", opts.get("live_token"))
    return opts


@contextlib.contextmanager
def from_cli(say: Callable[[str], object] | None = None) -> Iterator[Live | None]:
    """The live view the command's ``--live*`` options ask for (None without ``--live``);
    see :func:`labbench.cli_options.live_options`."""
    import click

    opts = check_cli()
    if not opts.get("live"):
        yield None
        return
    live = start(opts.get("live_host") or "127.0.0.1", opts.get("live_port"), opts.get("live_token"),
                 say=say or (lambda m: click.echo(m, err=True)))
    try:
        yield live
    finally:
        live.close()
