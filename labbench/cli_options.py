"""Options shared by every ``labbench`` command: one name, one meaning, one place.

``--bench``, ``--device-model``, ``--db`` and ``--out`` are declared here once, so they
read the same on ``measure``, ``train``, ``demo``, ``runs`` and ``bench``; the live view's
``--live*`` options (:func:`live_options`) on every command that runs something.  Names resolve
through :mod:`labbench.paths` (a shipped name or a path); a wrong one lists the names that
exist.
"""
from __future__ import annotations

import click

from labbench import paths


def _resolver(fn):
    def convert(ctx, param, value):
        if value is None:
            return None
        try:
            return fn(value)
        except paths.NotFound as e:
            raise click.BadParameter(str(e), ctx=ctx, param=param) from None
    return convert


def bench_option(default: str | None = "sim", help: str = "bench file: a shipped name or a path"):
    return click.option("--bench", "bench_path", default=default, show_default=default is not None,
                        metavar="NAME|PATH", callback=_resolver(paths.resolve_bench),
                        help=f"{help} (shipped: {', '.join(paths.names(paths.BENCHES))})")


def device_model_option(default: str | None = None,
                        help: str = "device model: a shipped name or a path (default: hfox_2t2r_default)"):
    return click.option("--device-model", default=default, metavar="NAME|PATH",
                        callback=_resolver(paths.resolve_device_model),
                        help=f"{help}; shipped: {', '.join(paths.names(paths.DEVICE_MODELS))}")


def db_option(help: str = "QCoDeS dataset file (default: OUT/labbench.db)"):
    return click.option("--db", default=None, type=click.Path(dir_okay=False), help=help)


def out_option(help: str = "output folder (default: $LABBENCH_OUT, else the current folder)"):
    return click.option("--out", "out", default=None, type=click.Path(file_okay=False), help=help)


def resolve_db(db: str | None, out: str | None = None):
    """The dataset path a command uses, checked writable before any work starts
    (an :class:`~labbench.paths.OutputError` otherwise, worded by the CLI's boundary)."""
    from pathlib import Path

    return paths.ensure_writable_file(Path(db) if db else paths.default_db(out), "dataset")


def live_options():
    """``--live``, ``--live-port``, ``--live-host`` and ``--live-token``, the same on every
    command that runs something.  They are kept in the click context; the command opens
    the view with ``with labbench.live.session.from_cli() as live:`` (None without --live)."""

    def keep(ctx, param, value):
        store = ctx.meta.setdefault("labbench.live", {})
        store[param.name] = value
        from click.core import ParameterSource

        store[param.name + "_given"] = ctx.get_parameter_source(param.name) not in (ParameterSource.DEFAULT, None)
        return value

    opts = [
        click.option("--live", is_flag=True, expose_value=False, callback=keep,
                     help="show the run live in a browser (a local Bokeh server; its address is printed), "
                          "with Pause, Resume and Abort"),
        click.option("--live-port", type=click.IntRange(0, 65535), default=None, expose_value=False,
                     callback=keep, metavar="PORT",
                     help="port of the live view (default: 5006, else the next free one; 0: any free port)"),
        click.option("--live-host", default="127.0.0.1", show_default=True, expose_value=False, callback=keep,
                     metavar="HOST", help="address the live view binds to; anything but loopback needs --live-token"),
        click.option("--live-token", default=None, expose_value=False, callback=keep, metavar="TOKEN|auto",
                     help="the token the page and its controls need (default: a random one, in the printed "
                          "address); 'auto' makes a random one for --live-host"),
    ]

    def deco(fn):
        for opt in reversed(opts):
            fn = opt(fn)
        return fn

    return deco


def procedure_params(cls, pairs: tuple[str, ...]) -> dict:
    """``key=value`` pairs checked against the procedure's declared parameters."""
    known = {k: p for k, p in cls()._parameters.items()}
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise click.BadParameter(f"{pair!r}: write parameters as key=value", param_hint="-p")
        if key not in known:
            raise click.BadParameter(f"{cls.__name__} has no parameter {key!r}; it has "
                                     f"{', '.join(sorted(known))}", param_hint="-p")
        param = known[key]
        try:
            param.value = raw          # PyMeasure's parameter does the type and range check
        except ValueError as e:
            raise click.BadParameter(f"{key}={raw!r}: {e}", param_hint="-p") from None
        out[key] = param.value
    return out
