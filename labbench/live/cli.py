"""``labbench view RUN_ID``: a recorded run on the live page, in its final state (or
followed while another process is still writing it).  Read-only: no controls, since the
run is not this process's."""
from __future__ import annotations

import time

import click

from labbench.cli_options import db_option, out_option


@click.command("view")
@click.argument("run_id", type=click.IntRange(1))
@db_option("QCoDeS dataset file (default: OUT/labbench.db)")
@out_option()
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="port (default: 5006, else the next free one; 0: any free port)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind; not loopback needs --token")
@click.option("--token", default=None, metavar="TOKEN|auto", help="the token the page needs (default: a random one)")
@click.option("--seconds", type=click.FloatRange(0, min_open=True), default=None,
              help="serve this long, then exit (default: until Ctrl-C)")
def view(run_id, db, out, port, host, token, seconds):
    """Show run RUN_ID of the dataset on the live page."""
    from pathlib import Path

    from labbench.paths import default_db
    from labbench.store import Store

    from . import session
    from .replay import feed_from_run

    token = session.check_host(host, token, ("--host", "--token"))   # refused before anything is read
    store = Store.existing(Path(db) if db else default_db(out))
    feed = feed_from_run(store, run_id)
    live = session.start(host, port, token, say=lambda m: click.echo(m), controls=False, feed=feed)
    click.echo(f"run {run_id} ({feed.name}, {feed.status}, {len(feed)} rows); "
               + (f"serving for {seconds:g} s" if seconds else "Ctrl-C to stop"))
    t0 = time.monotonic()
    try:
        while seconds is None or time.monotonic() - t0 < seconds:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass                      # the way to stop a viewer: not an error
    finally:
        stop = getattr(feed, "stop_following", None)
        if stop is not None:
            stop()
        live.server.stop()
