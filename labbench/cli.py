"""The ``labbench`` command.  Subcommands live beside the code they drive and load lazily
(importing QCoDeS or SciPy costs seconds; ``labbench --help`` should not).

Every subcommand runs inside one error boundary (:meth:`LazyGroup.invoke`): a user's
mistake, an instrument fault, a full disk or a signal ends in one clear message and a
non-zero exit, never a traceback (``LABBENCH_DEBUG=1`` shows it).  Outputs are already off
by then: the code that opened a bench switched them off on its way out.
"""
from __future__ import annotations

import errno
import importlib
import os
import sqlite3

import click

from labbench.errors import Aborted, LabbenchError, Terminated, install_signal_handlers

# name -> "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "bench": "labbench.instruments.cli:bench",
    "characterize": "labbench.characterize.cli:characterize",
    "demo": "labbench.demo:demo",
    "evaluate": "labbench.bnn.evaluate:evaluate",
    "export": "labbench.export.cli:export",
    "fit": "labbench.fitting.cli:fit",
    "import": "labbench.export.cli:import_",
    "measure": "labbench.measure_cli:measure",
    "report": "labbench.report.cli:report",
    "runs": "labbench.measure_cli:runs",
    "sweep": "labbench.sweep.cli:sweep",
    "train": "labbench.bnn.cli:train",
    "view": "labbench.live.cli:view",
}

EXIT_SIGINT, EXIT_SIGTERM, EXIT_INTERNAL = 130, 143, 70


class Failure(click.ClickException):
    """A ClickException with the exit status of its cause."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def describe(e: BaseException) -> tuple[str, int]:
    """One line for the user, and the exit status, for an exception that ended a command."""
    if isinstance(e, LabbenchError):
        return str(e), e.exit_code
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return f"disk full: {e}; free space (or choose another --out) and run again", 1
    if isinstance(e, sqlite3.DatabaseError):
        hint = ("free space and run again" if "full" in str(e) else
                "another process may hold it: wait and run again" if "locked" in str(e) else
                "is it a labbench dataset? choose another --db")
        return f"dataset error: {e}; {hint}", 1
    if isinstance(e, (OSError, ValueError, KeyError, IndexError)):
        text = str(e) if not isinstance(e, KeyError) else str(e.args[0] if e.args else e)
        return f"{text}", 1 if isinstance(e, OSError) else 2
    return (f"internal error ({type(e).__name__}: {e}); this is a labbench bug: please report it "
            f"with the command line (LABBENCH_DEBUG=1 shows the traceback)", EXIT_INTERNAL)


def _outputs(e: BaseException) -> str:
    from labbench.runner import outputs_state

    state = outputs_state(getattr(e, "outputs_unconfirmed", None) or [])
    return "outputs switched off" if state == "outputs are off" else state


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        return self._load(target)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name is not None and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=2, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise click.UsageError(f"No such command {name!r}.{hint} (`labbench --help` lists them)", ctx)
        return super().resolve_command(ctx, args)

    @staticmethod
    def _load(target: str):
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Aborted as e:
            click.echo(f"{e}: {_outputs(e)}, measured data saved", err=True)
            ctx.exit(EXIT_SIGINT)
        except Terminated as e:
            click.echo(f"stopped by {e}: {_outputs(e)}, measured data saved", err=True)
            ctx.exit(EXIT_SIGTERM)
        except KeyboardInterrupt as e:
            click.echo(f"interrupted (Ctrl-C): {_outputs(e)}, measured data saved", err=True)
            ctx.exit(EXIT_SIGINT)
        except Exception as e:
            if os.environ.get("LABBENCH_DEBUG"):
                raise
            message, code = describe(e)
            raise Failure(message, code) from None


@click.group(cls=LazyGroup)
@click.version_option(package_name="labbench")
def main():
    """labbench: characterize, fit and train RRAM 2T2R arrays, on real or simulated instruments."""
    install_signal_handlers()
    _one_line_warnings()


def _one_line_warnings() -> None:
    """labbench's own warnings (a migrated device-model file, ...) as one line for the user,
    not Python's 'file:line: Category:' form; other libraries' warnings as before."""
    import warnings

    from labbench.physics.device_model import MigrationWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, MigrationWarning):
            click.echo(f"note: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


if __name__ == "__main__":
    main()
