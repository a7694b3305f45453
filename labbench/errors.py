"""What can go wrong, as a lab user sees it.

The ``labbench`` command turns these (and the standard OS errors) into one clear line and
a non-zero exit; a traceback is shown only with ``LABBENCH_DEBUG=1``.  Signals that end a
job (SIGTERM from a scheduler or ``timeout``, SIGHUP from a closed terminal) arrive as
:class:`Terminated`, a ``KeyboardInterrupt``, so every ``finally`` that switches outputs
off on Ctrl-C does the same for them.
"""
from __future__ import annotations

import contextlib
import signal
import threading


class LabbenchError(Exception):
    """A mistake the user can fix; the message says how.  Exit status 2."""

    exit_code = 2


class RunFailed(LabbenchError):
    """A run that started and then failed (instrument error, disk full, limit hit).

    What was measured before the failure is saved; the message says how much.
    Exit status 1."""

    exit_code = 1


class InstrumentFault(RunFailed):
    """An instrument stopped answering, answered nonsense, or gave a reading that cannot
    be right (beyond its compliance, not a number).  The message names the instrument and
    what it said.  Exit status 1."""


class SafetyError(ValueError):
    """A value outside the bench file's ``limits`` (nothing was sent).  Here, not with the
    roles, so anything that checks a value (roles, the 2600B's TSP paths, procedures) can
    raise it without importing the instruments package."""


def outputs_state(unconfirmed: list[str]) -> str:
    """What labbench can truthfully say about the outputs after switching them off."""
    if not unconfirmed:
        return "outputs are off"
    return (f"the outputs of {', '.join(unconfirmed)} could NOT be confirmed off (no valid answer): switch "
            f"{'them' if len(unconfirmed) > 1 else 'it'} off at the front panel (OUTPUT key) before touching "
            f"the probes, then check the connection")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: handled like Ctrl-C (outputs off, run recorded as aborted)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Aborted(KeyboardInterrupt):
    """A run stopped with the live view's Abort button.  A KeyboardInterrupt, raised in the
    run's own thread at its next step, so it takes exactly Ctrl-C's path: outputs off, the
    run recorded as aborted, every row measured so far kept."""

    def __init__(self, how: str = "aborted from the live view"):
        super().__init__(how)


def interrupt_reason(e: KeyboardInterrupt) -> str:
    """The run record's reason for an interrupt: Ctrl-C, a signal's name, or the abort."""
    if isinstance(e, Aborted):
        return str(e)
    return f"interrupted ({e})" if str(e) else "interrupted (Ctrl-C)"


def _raise_terminated(signum, frame):
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP raise :class:`Terminated` in the main thread, and SIGINT raises
    KeyboardInterrupt even where the parent ignored it (a shell starts `&` jobs with SIGINT
    ignored, so `kill -INT` would otherwise do nothing and leave the run going)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, _raise_terminated)


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, then act on the first one.

    For the few steps that must not be cut in half (rows handed to the dataset and counted,
    a flush): a signal in the middle would leave the record disagreeing with the file.
    Outside the main thread (where handlers cannot be set) the block runs unprotected."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    sigs = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if caught:
            handler = old[caught[0]]
            if callable(handler):
                handler(caught[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(caught[0])
