"""One curve on the live page, bounded whatever the run's length.

The newest points stream into ``recent`` (``ColumnDataSource.stream`` with rollover);
the points that roll out are kept server-side and decimated to an envelope (each
bucket's lowest and highest point) in ``hist``, which the figure shows as dots.  The page's memory and render
time stay bounded; the dataset keeps every point.
"""
from __future__ import annotations

import math

import numpy as np
from bokeh.models import ColumnDataSource

RECENT = 1000       # points at full resolution per curve (what the browser redraws at each poll)
HISTORY = 600       # decimated older points per curve


def decimate(x: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``n`` points of (x, y): per bucket, the points with the lowest and the
    highest y (in order), so peaks and dips survive; NaN breaks are dropped."""
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) <= n:
        return x, y
    size = math.ceil(len(x) / max(1, n // 2))
    buckets = math.ceil(len(x) / size)        # so the last bucket holds at least one point
    pad = buckets * size - len(x)
    yp = np.concatenate([y, np.full(pad, np.nan)]).reshape(buckets, size)
    base = np.arange(buckets) * size
    lo = base + np.nanargmin(yp, axis=1)
    hi = base + np.nanargmax(yp, axis=1)
    idx = np.unique(np.concatenate([lo, hi]))
    return x[idx], y[idx]


class Series:
    def __init__(self, recent: int = RECENT, history: int = HISTORY, extra: tuple[str, ...] = ()):
        self.keep, self.hist_points = recent, history
        self.step = max(1, recent // 4)
        cols = ("x", "y", *extra)
        # numpy columns: streamed as binary buffers, NaN (a curve's break) included
        self.recent = ColumnDataSource({c: np.empty(0, float) for c in cols})
        self.hist: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        self.hist_version = 0
        self._chunks: list[tuple[np.ndarray, np.ndarray]] = []   # every point, 16 B each
        self._n = 0
        self._hist_n = 0
        self.extra = extra

    def __len__(self) -> int:
        return self._n

    def add(self, xs, ys, **extra) -> None:
        if not len(xs):
            return
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        self._chunks.append((xs, ys))
        self._n += len(xs)
        # the recent window is one step longer than `keep`, so the history (rebuilt every
        # `step` points) always reaches the window: no gap between them
        self.recent.stream({"x": xs, "y": ys, **{k: np.asarray(v, float) for k, v in extra.items()}},
                           rollover=self.keep + self.step)
        old = self._n - self.keep
        if old - self._hist_n >= self.step:
            x = np.concatenate([c[0] for c in self._chunks])
            y = np.concatenate([c[1] for c in self._chunks])
            self._chunks = [(x, y)]
            self.hist = decimate(x[:old], y[:old], self.hist_points)
            self.hist_version += 1
            self._hist_n = old
