"""Pause, resume and abort for one run, from the live page.

The page only *asks* (any thread); the run's own thread acts, at its next step
(:meth:`RunControl.checkpoint`, called by the runner after each recorded row and by the
trainer after each batch).  So every instrument transaction stays on the run's thread,
and the page never talks to an instrument.

- **Pause** finishes the current step, then switches every output off (the ``on_pause``
  hooks: :meth:`Bench.outputs_off`) and waits, the run still open.
- **Resume** re-checks the limits (the ``on_resume`` hooks: the procedure's plan
  against the bench's limits, the SMU's compliance and the generator's loads set again)
  and continues; a refused check keeps the run paused and says why.
- **Abort** raises :class:`~labbench.errors.Aborted`, a KeyboardInterrupt, in the run's
  thread: Ctrl-C's own path (outputs off, the run recorded as aborted, rows kept).  It
  also cuts short a long wait on hardware (``Bench.waiter``).

Ctrl-C and SIGTERM still work while paused.  A closed browser tab does nothing: only a
button press changes the run.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from labbench.errors import Aborted, LabbenchError, RunFailed

log = logging.getLogger(__name__)

SLICE_S = 0.2      # a paused run wakes this often, so a signal (Ctrl-C) is acted on at once


class RunControl:
    def __init__(self, pausable: bool = True) -> None:
        self.pausable = pausable          # a sweep cannot pause its workers; it can abort
        self._wake = threading.Event()
        self._abort = self._pause = self._resume = False
        self.state = "waiting"          # waiting, running, pausing, paused, aborting, ended
        self.message = ""
        self.on_pause: list[Callable[[], object]] = []
        self.on_resume: list[Callable[[], object]] = []

    # -- the run's side ------------------------------------------------------------------
    def begin(self, on_pause=None, on_resume=None) -> None:
        """The run starts; hooks given here replace those set before."""
        if on_pause is not None:
            self.on_pause = list(on_pause)
        if on_resume is not None:
            self.on_resume = list(on_resume)
        self.state = "running"

    def end(self) -> None:
        """The run is over: buttons pressed from now on change nothing."""
        self.state = "ended"
        self._wake.set()

    def checkpoint(self) -> None:
        """Act on a request; called by the run's thread between steps."""
        if self._abort:
            self.state = "aborting"
            raise Aborted()
        if self._pause:
            self._paused()

    def wait(self, seconds: float) -> None:
        """A wait on hardware (``Bench.waiter``) that Abort cuts short."""
        if self._wake.wait(seconds) and self._abort:
            self.state = "aborting"
            raise Aborted()

    def _paused(self) -> None:
        self._pause = False
        for fn in self.on_pause:
            fn()                       # outputs off; a failure here fails the run, as it should
        self.state, self.message = "paused", "paused: outputs are off, the run is open"
        log.info("run paused from the live view")
        while True:
            self._wake.wait(SLICE_S)   # in slices: a signal reaches the main thread meanwhile
            self._wake.clear()
            if self._abort:
                self.state = "aborting"
                raise Aborted()
            if self._resume:
                self._resume = False
                try:
                    for fn in self.on_resume:
                        fn()
                except RunFailed:
                    raise                  # an instrument fault: the run fails, outputs go off
                except (ValueError, LabbenchError) as e:   # SafetyError, PlanError: stay paused
                    self.message = f"resume refused, still paused: {e}"
                    log.warning("%s", self.message)
                    continue
                self.state, self.message = "running", "resumed: limits re-checked"
                log.info("run resumed from the live view")
                return

    # -- the page's side (any thread) ----------------------------------------------------
    def pause(self) -> str:
        if not self.pausable:
            return "a sweep cannot pause: Abort keeps every finished point, and running it again resumes"
        if self.state != "running":
            return f"cannot pause: the run is {self.state}"
        self._pause = True
        self.state = "pausing"
        return "pausing after the current step"

    def resume(self) -> str:
        if self.state not in ("paused", "pausing"):
            return f"cannot resume: the run is {self.state}"
        # pressed before the pause took effect: the pause still happens (outputs off), then
        # the resume with its checks, so the two threads never disagree about the state
        self._resume = True
        self._wake.set()
        return "resuming: re-checking the limits"

    def abort(self) -> str:
        if self.state in ("ended", "waiting", "aborting"):
            return f"cannot abort: the run is {self.state}"
        self._abort = True
        self.state = "aborting"
        self._wake.set()
        return "aborting after the current step: outputs off, rows kept"

    @property
    def abort_requested(self) -> bool:
        return self._abort


def pause_outputs(bench) -> None:
    """Every output off and every relay open, or the run fails saying which could not."""
    failed = bench.outputs_off()
    if failed:
        from labbench.errors import InstrumentFault, outputs_state

        raise InstrumentFault(f"pause: {outputs_state(failed)}")


def recheck_limits(bench, procedure=None) -> None:
    """Before a paused run goes on: its whole plan against the bench's limits again, and
    the instruments' own guards (the SMU's compliance, the generator's loads, read back)
    set again, in case someone touched the front panel meanwhile."""
    check = getattr(procedure, "check_plan", None)
    if check is not None:
        check(bench)
    op = bench.config.operating
    bench.source_meter.configure(op.compliance, op.nplc)
    bench.pulse_generator.apply_loads()


class StopFile:
    """A sweep point's control in its worker process: Abort on the sweep's page creates
    ``path``; the point stops at its next batch (looked for at most every ``every`` s)."""

    def __init__(self, path, every: float = 0.5):
        from pathlib import Path

        self.path, self.every = Path(path), every
        self._next = 0.0

    def begin(self, *args, **kw) -> None:
        pass

    def end(self) -> None:
        pass

    def checkpoint(self) -> None:
        import time

        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.every
            if self.path.exists():
                raise Aborted()
