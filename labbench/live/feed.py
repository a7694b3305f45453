"""The live view's feed: what a run records, as the record path hands it over.

The runner (and the trainer) call a *tap* at the points where rows go to the dataset:
``started`` once the run exists, ``rows`` with each block of rows exactly as they are
handed to the dataset, ``progress``, ``extra`` (a picture that is not a row, e.g. the
array's sign map once an epoch) and ``ended`` with the status the run record got.
:class:`Feed` is that tap.  It only appends to lists: the run's thread never waits for
the page, and the page's sessions read by cursor whenever they like.

:func:`guarded` wraps any tap so that a failing tap is logged once and then ignored:
the measurement is primary, the view is not.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)


class Tap(Protocol):
    def started(self, info: dict) -> None: ...
    def rows(self, rows: list[dict]) -> None: ...
    def progress(self, percent: float) -> None: ...
    def extra(self, name: str, value: Any) -> None: ...
    def ended(self, status: str, reason: str = "") -> None: ...


class Feed:
    """A run's records for the page: every row (the dicts the run itself keeps, not
    copies), the run's identity and status, its progress and its latest pictures.

    ``info`` holds ``name`` (the procedure's class name or ``bnn_training``), ``index``
    and ``values`` (column -> unit), ``run_id``, ``db`` and ``metadata`` (the bench
    snapshot, the parameters).  ``levels`` is an optional callable returning the bench's
    present levels from the values its roles last sent (:func:`labbench.live.bench_panel.levels`)."""

    def __init__(self) -> None:
        self.info: dict = {}
        self._rows: list[dict] = []
        self.arrived: list[tuple[int, float]] = []   # (rows so far, monotonic time) per block
        self.status = "starting"
        self.reason = ""
        self.percent: float | None = None
        self.extras: dict[str, tuple[int, Any]] = {}   # name -> (version, value)
        self.levels: Callable[[], list[dict]] | None = None
        self.control = None                           # a RunControl, when the page may steer
        # earlier training runs on this page (device beside ideal): label, epochs, test accuracy
        self.references: list[dict] = []

    generation = 0    # bumped by next_run: a page rebuilds its plots for the new run

    def next_run(self, info: dict) -> None:
        """A new run on the same page (``labbench characterize``'s next step): the rows and
        state of the last one go, the page rebuilds for this one.  New objects, not cleared
        ones: a page thread reading the old list sees it whole.  A finished training run's
        accuracy stays on the page as a reference beside the next (:meth:`keep_reference`)."""
        self.keep_reference()
        self._rows, self.arrived, self.extras = [], [], {}
        self.status, self.reason, self.percent = "starting", "", None
        self.info = dict(info)
        self.generation += 1

    def keep_reference(self) -> None:
        """Keep this run's test accuracy per epoch, when it is a training run (the demo's
        device run, then its ideal twin: the page draws them side by side)."""
        if self.name != "bnn_training":
            return
        rows = [r for r in self._rows if "epoch" in r and r.get("test_acc") is not None]
        if not rows:
            return
        cfg = (self.info.get("metadata") or {}).get("config") or {}
        label = str(cfg.get("mode", "run"))
        if self.info.get("run_id") is not None:
            label += f" (run {self.info['run_id']})"
        self.references = [*self.references, {"label": label, "epoch": [r["epoch"] for r in rows],
                                              "test_acc": [r["test_acc"] for r in rows]}]

    def expect(self, info: dict) -> None:
        """What the run will be, before it starts (the procedure's name), so a page opened
        early is built before the run, not in the middle of it."""
        self.info = {**self.info, **info}

    # -- the tap (the run's thread) ------------------------------------------------------
    def started(self, info: dict) -> None:
        self.info = {**self.info, **info}
        self.status = "running"

    def rows(self, rows: list[dict]) -> None:
        self._rows.extend(rows)       # one C-level call: atomic under the GIL, no lock needed
        self.arrived.append((len(self._rows), time.monotonic()))

    def progress(self, percent: float) -> None:
        self.percent = float(percent)

    def extra(self, name: str, value: Any) -> None:
        version = self.extras.get(name, (0, None))[0] + 1
        self.extras[name] = (version, value)

    def ended(self, status: str, reason: str = "") -> None:
        self.status, self.reason = status, reason

    # -- the page (server threads) ---------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    def since(self, cursor: int) -> tuple[list[dict], int]:
        """The rows recorded after ``cursor`` and the new cursor."""
        n = len(self._rows)
        return self._rows[cursor:n], n

    @property
    def name(self) -> str:
        return str(self.info.get("name", ""))


class _Guarded:
    """A tap whose failures never reach the run: the first is logged, then it is dropped."""

    def __init__(self, tap: Tap):
        self._tap = tap
        self.failed: BaseException | None = None

    def __getattr__(self, attr):
        fn = getattr(self._tap, attr)

        def call(*args, **kw):
            if self.failed is not None:
                return None
            try:
                return fn(*args, **kw)
            except Exception as e:  # noqa: BLE001 - the view must never stop a measurement
                self.failed = e
                log.warning("live view stopped following this run (%s: %s); the run goes on and its "
                            "records are complete in the dataset", type(e).__name__, e)
                return None

        return call


def guarded(tap: Tap | None):
    """``tap`` wrapped so a failure in it never reaches the run; None stays None."""
    if tap is None or isinstance(tap, _Guarded):
        return tap
    return _Guarded(tap)
