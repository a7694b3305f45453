"""The plots of the live page, one panel per kind of run, on the static report's axes and
units (:mod:`labbench.report.figures`): I-V as |current| (A) on a log axis per gate,
conductance (µS) against pulse per cell and direction with the model's curve, the array
map as a heat map that fills in, retention against log time, training per epoch.

A panel is built from the feed's ``info`` and fed rows in order (:meth:`Panel.add`); its
curves are :class:`~labbench.live.series.Series`, so memory and render time are bounded.
"""
from __future__ import annotations

import contextlib
import logging
import math
from collections import defaultdict

import numpy as np
from bokeh.core.properties import value
from bokeh.layouts import column, gridplot, row
from bokeh.models import BasicTicker, ColorBar, ColumnDataSource, HoverTool, Legend, LegendItem, LinearColorMapper
from bokeh.palettes import Category10_10, Viridis256
from bokeh.plotting import figure

from .series import Series

log = logging.getLogger(__name__)

MAX_CURVES = 24          # per figure; rows of further cells stay in the dataset, not on the page
W, H = 520, 320


def _fig(title: str, x: str, y: str, **kw):
    f = figure(title=title, x_axis_label=x, y_axis_label=y, width=W, height=H,
               tools="pan,wheel_zoom,box_zoom,reset,save", **kw)
    f.toolbar.logo = None
    return f


def _col(rows: list[dict], key: str, scale: float = 1.0) -> np.ndarray:
    return np.array([float(r.get(key, np.nan)) * scale for r in rows], float)


class Curves:
    """Curves of one figure by key: each a line of its recent points, a colour each, at
    most ``MAX_CURVES``; the older points of all of them, decimated, as one layer of dots
    below.  A curve breaks (NaN) where a new sweep starts.

    Models are few and mostly made with the figure: a model added to a document already in
    a browser costs the run's process a serialization per property set (about 0.1 s of
    CPU per renderer), so the first ``POOL`` curves are made hidden up front and shown as
    their keys arrive."""

    POOL = 4

    def __init__(self, fig, line: bool = True, marker: bool = False, pool: int | None = None):
        self.fig, self.line, self.marker = fig, line, marker
        self.curves: dict = {}
        self.colors: dict = {}
        self.dropped: set = set()
        self.legend = Legend(items=[], location="top_left", click_policy="hide", label_text_font_size="8pt")
        fig.add_layout(self.legend)
        self.history = ColumnDataSource({"x": [], "y": [], "color": []})
        fig.scatter("x", "y", source=self.history, size=2, color="color", alpha=0.4)
        self._hist_seen: dict = {}
        self.pool = [self._make(i) for i in range(self.POOL if pool is None else pool)]
        self.legend.items = [item for _, _, _, item in self.pool]

    def _make(self, i: int):
        s = Series()
        color = Category10_10[i % 10]
        rs = []
        if self.line:
            rs.append(self.fig.line("x", "y", source=s.recent, color=color, line_width=1.2, visible=False))
        if self.marker or not self.line:
            rs.append(self.fig.scatter("x", "y", source=s.recent, size=4, color=color, visible=False))
        return s, rs, color, LegendItem(label="", renderers=rs, visible=False)

    def get(self, key, label: str) -> Series | None:
        s = self.curves.get(key)
        if s is not None:
            return s
        if len(self.curves) >= MAX_CURVES:
            self.dropped.add(key)
            return None
        i = len(self.curves)
        if i < len(self.pool):
            s, rs, color, item = self.pool[i]
        else:
            doc = self.fig.document
            with doc.models.freeze() if doc is not None else contextlib.nullcontext():
                s, rs, color, item = self._make(i)
            self.legend.items = [*self.legend.items, item]
        for r in rs:
            r.visible = True
        item.label, item.visible = value(label), True    # a bare string would name a column
        self.curves[key], self.colors[key] = s, color
        return s

    def _sync_history(self) -> None:
        """The dots layer again, when a curve's decimated history changed."""
        seen = {k: s.hist_version for k, s in self.curves.items()}
        if seen == self._hist_seen:
            return
        self._hist_seen = seen
        xs, ys, cs = [], [], []
        for k, s in self.curves.items():
            hx, hy = s.hist
            xs.append(hx)
            ys.append(hy)
            cs += [self.colors[k]] * len(hx)
        self.history.data = {"x": np.concatenate(xs) if xs else [], "y": np.concatenate(ys) if ys else [],
                             "color": cs}

    def add(self, key, label: str, x, y, breaks=None) -> None:
        """Add points to curve ``key``; ``breaks`` marks points that start a new sweep."""
        s = self.get(key, label)
        if s is None:
            return
        x, y = np.asarray(x, float), np.asarray(y, float)
        if breaks is not None:
            b = np.array(breaks, bool)
            if not len(s) and len(b):
                b[0] = False                  # nothing before it to break from
            if b.any():   # a NaN before each new sweep: one curve per cell, no zigzag between sweeps
                at = np.flatnonzero(b)
                x = np.insert(x, at, np.nan)
                y = np.insert(y, at, np.nan)
        s.add(x, y)
        self._sync_history()


def _groups(rows: list[dict], keys: tuple[str, ...]):
    out = defaultdict(list)
    for r in rows:
        out[tuple(r.get(k) for k in keys)].append(r)
    return out.items()


class Panel:
    """A kind of run's figures; ``layout`` goes on the page."""

    title = "measurement"

    def __init__(self, info: dict):
        self.info = info
        self.layout = column()

    def add(self, rows: list[dict]) -> None:
        raise NotImplementedError

    def refresh(self, feed) -> None:
        """Pictures that are not rows (the sign map); called every tick."""

    def note(self) -> str:
        dropped = sum(len(c.dropped) for c in getattr(self, "_curves", []))
        return f" · {dropped} more curves in the dataset only" if dropped else ""


class IVPanel(Panel):
    """|I| against V on a log axis, one colour per gate (a curve breaks at each new sweep)."""

    def __init__(self, info, key: str = "gate", title: str = "I-V loops (log)"):
        super().__init__(info)
        self.key = key
        self.fig = _fig(title, "voltage (V)", "|current| (A)", y_axis_type="log")
        self.curves = Curves(self.fig)
        self._curves = [self.curves]
        self.layout = column(self.fig)

    def add(self, rows):
        for (k,), g in _groups(rows, (self.key,)):
            label = f"gate {k:g} V" if self.key == "gate" else f"cell {k}"
            start = [r.get("step", 1) == 0 for r in g]
            self.curves.add(k, label, _col(g, "voltage"), np.abs(_col(g, "current")) + 1e-15, start)


class FormingPanel(IVPanel):
    def __init__(self, info):
        super().__init__(info, key="cell", title="forming ramps (log)")


class PulsePanel(Panel):
    """Conductance against pulse, SET and RESET trains side by side, a curve per cell
    (and condition), with the bench's device model's mean curve dashed."""

    def __init__(self, info):
        super().__init__(info)
        self.figs = {d: _fig(f"{d.upper()} trains", "pulse", "conductance (µS)") for d in ("set", "reset")}
        self.curves = {d: Curves(f) for d, f in self.figs.items()}
        self._curves = list(self.curves.values())
        self.model_src = {d: ColumnDataSource({"x": [], "y": []}) for d in self.figs}
        self.model_line = {d: f.line("x", "y", source=self.model_src[d], color="black", line_dash="dashed",
                                     line_width=2) for d, f in self.figs.items()}
        self.first: dict[str, list[float]] = {"set": [], "reset": []}
        self.drawn: set[str] = set()
        self.layout = row(*self.figs.values())

    def add(self, rows):
        for (d, cell, cond), g in _groups(rows, ("direction", "cell", "condition")):
            if d not in self.curves:
                continue
            label = f"cell {cell}" + (f" c{cond}" if cond else "")
            pulse = _col(g, "pulse")
            self.curves[d].add((cell, cond), label, pulse, _col(g, "conductance", 1e6), pulse == 0)
            if d not in self.drawn:
                self.first[d] += [float(r["conductance"]) for r in g if r.get("pulse") == 0]
                if (pulse > 0).any() and self.first[d]:
                    self._draw_model(d, int(self.info.get("metadata", {}).get("parameters", {}).get("pulses", 64)))

    def _draw_model(self, d: str, pulses: int) -> None:
        """The model's mean curve from the first trains' mean start (the bench snapshot's
        model: the run has started by now, so the page knows it)."""
        self.drawn.add(d)
        if not hasattr(self, "model"):
            self.model = _model(self.info)
        if self.model is None:
            return
        import pandas as pd

        from labbench.report.figures import _model_curve

        mean = pd.Series(float(np.mean(self.first[d])), index=np.arange(pulses + 1))
        curve = _model_curve(self.model, d, mean)
        if curve is not None:
            self.model_src[d].data = {"x": np.arange(pulses + 1, dtype=float), "y": np.asarray(curve, float) * 1e6}
            legend = self.curves[d].legend
            legend.items = [LegendItem(label=f"model ({self.model.update.kind})", renderers=[self.model_line[d]]),
                            *legend.items]


def _model(info: dict):
    """The bench's device model from the run's bench snapshot (None if it cannot be read)."""
    d = info.get("model") or (info.get("metadata", {}).get("bench", {}) or {}).get("chip", {}).get("model")
    if d is None or not isinstance(d, dict):
        return d
    try:
        from labbench.physics.device_model import DeviceModel

        return DeviceModel.model_validate(d)
    except Exception:  # noqa: BLE001 - no model curve, the data still shows
        return None


class MapPanel(Panel):
    """The array read map: one square per (row, col), per side, coloured by conductance (µS)."""

    def __init__(self, info):
        super().__init__(info)
        self.mapper = LinearColorMapper(palette=Viridis256)
        self.sources, figs = {}, []
        for side, name in ((0, "+ (BL)"), (1, "− (BLB)")):
            f = _fig(f"conductance map, side {name}", "col", "row", match_aspect=True)
            f.y_range.flipped = True
            src = self.sources[side] = ColumnDataSource({k: np.empty(0, float) for k in ("col", "row", "g")})
            f.rect("col", "row", 1, 1, source=src, fill_color={"field": "g", "transform": self.mapper},
                   line_color=None)
            f.add_tools(HoverTool(tooltips=[("row", "@row"), ("col", "@col"), ("G (µS)", "@g{0.00}")]))
            figs.append(f)
        figs[-1].add_layout(ColorBar(color_mapper=self.mapper, title="µS"), "right")
        self.lo, self.hi = math.inf, -math.inf
        self.layout = row(*figs)

    def add(self, rows):
        for (side,), g in _groups(rows, ("side",)):
            src = self.sources.get(side)
            if src is None:
                continue
            gs = _col(g, "conductance", 1e6)
            src.stream({"col": _col(g, "col"), "row": _col(g, "row"), "g": gs})
            finite = gs[np.isfinite(gs)]
            if len(finite):
                self.lo, self.hi = min(self.lo, finite.min()), max(self.hi, finite.max())
                self.mapper.low, self.mapper.high = float(self.lo), float(max(self.hi, self.lo * 1.0001 + 1e-9))


class RetentionPanel(Panel):
    def __init__(self, info):
        super().__init__(info)
        self.fig = _fig("retention", "time since programming (s)", "conductance (µS)", x_axis_type="log")
        self.curves = Curves(self.fig, marker=True)
        self._curves = [self.curves]
        self.layout = column(self.fig)

    def add(self, rows):
        for (cell,), g in _groups(rows, ("cell",)):
            t = _col(g, "time")
            t[t <= 0] = np.nan                # a log axis has no 0: the first read stays in the dataset
            self.curves.add(cell, f"cell {cell}", t, _col(g, "conductance", 1e6))


class EndurancePanel(Panel):
    def __init__(self, info):
        super().__init__(info)
        self.fig = _fig("endurance", "cycle", "conductance (µS)", y_axis_type="log")
        self.curves = Curves(self.fig, marker=True)
        self._curves = [self.curves]
        self.layout = column(self.fig)

    def add(self, rows):
        for (cell,), g in _groups(rows, ("cell",)):
            for col, name in (("g_lrs", "LRS"), ("g_hrs", "HRS")):
                self.curves.add((cell, col), f"cell {cell} {name}", _col(g, "cycle"), _col(g, col, 1e6))


class GenericPanel(Panel):
    """Any other run: each numeric value column against the row number."""

    def __init__(self, info):
        super().__init__(info)
        units = info.get("values", {})
        self.cols = [c for c, u in units.items() if u != "text"][:6]
        self.figs = {c: _fig(c, "row", f"{c} ({units[c]})" if units[c] else c) for c in self.cols}
        self.curves = {c: Curves(f, marker=True) for c, f in self.figs.items()}
        self._curves = list(self.curves.values())
        self.n = 0
        self.layout = gridplot(list(self.figs.values()), ncols=2) if self.figs else column()

    def add(self, rows):
        x = np.arange(self.n, self.n + len(rows), dtype=float)
        self.n += len(rows)
        for c in self.cols:
            self.curves[c].add(c, c, x, _col(rows, c))


REFERENCE_COLORS = ("#7f7f7f", "#bcbd22", "#17becf", "#8c564b")


class TrainingPanel(Panel):
    """Per epoch: accuracy, update and refresh pulses, energy, the fraction of pairs near
    saturation; and layer 0's sign map (sign of G+ − G−), redrawn each epoch."""

    LOG = ("pulses per epoch", "energy per epoch (J)")     # log axes, as the report's
    METRICS = {
        "accuracy (%)": [("test_acc", "test", 100), ("train_acc", "train", 100)],
        "pulses per epoch": [("set_pulses", "update SET pulses", 1), ("refresh_set_pulses", "refresh SET pulses", 1)],
        "energy per epoch (J)": [("program_energy_J", "program", 1), ("read_energy_J", "read", 1),
                                 ("refresh_energy_J", "refresh", 1)],
        "pairs near saturation (fraction)": [("saturated_frac", "saturated", 1)],
    }

    def __init__(self, info):
        super().__init__(info)
        self.curves, figs = {}, []
        for title, series in self.METRICS.items():
            f = _fig(title, "epoch", title.split(" (")[-1].rstrip(")") if "(" in title else "count",
                     y_axis_type="log" if title in self.LOG else "linear")
            f.xaxis.ticker = BasicTicker(min_interval=1)     # whole epochs
            f.width, f.height = 420, 260
            self.curves[title] = Curves(f, marker=True, pool=len(series))
            figs.append(f)
        self._curves = list(self.curves.values())
        self.signs = ColumnDataSource({"image": [np.zeros((1, 1), np.float32)], "dw": [1], "dh": [1]})
        sf = figure(title="layer 0 sign map (+1 / −1, block means)", width=420, height=260,
                    x_axis_label="output neuron", y_axis_label="input", tools="pan,wheel_zoom,reset,save")
        sf.toolbar.logo = None
        mapper = LinearColorMapper(palette="RdBu11", low=-1, high=1)
        sf.image(image="image", x=0, y=0, dw="dw", dh="dh", source=self.signs, color_mapper=mapper)
        sf.add_layout(ColorBar(color_mapper=mapper, width=8), "right")
        self._signs_version = 0
        # earlier runs on this page (the demo's device run beside its ideal twin), dashed
        self.references = ColumnDataSource({"xs": [], "ys": [], "label": [], "color": []})
        acc = figs[0]
        acc.multi_line(xs="xs", ys="ys", source=self.references, line_dash="dashed", line_width=2,
                       color="color", legend_field="label")
        self._refs_seen = 0
        self.layout = gridplot([*figs, sf], ncols=3)

    def add(self, rows):
        x = _col(rows, "epoch")
        for title, series in self.METRICS.items():
            for key, label, scale in series:
                y = _col(rows, key, scale)
                if title in self.LOG:
                    y[y <= 0] = np.nan          # a log axis has no 0 (no refresh yet)
                if np.isfinite(y).any():
                    self.curves[title].add(key, label, x, y)

    def refresh(self, feed):
        refs = getattr(feed, "references", [])
        if len(refs) != self._refs_seen:
            self._refs_seen = len(refs)
            self.references.data = {"xs": [list(r["epoch"]) for r in refs],
                                    "ys": [[100 * a for a in r["test_acc"]] for r in refs],
                                    "label": [f"{r['label']}: test" for r in refs],
                                    "color": [REFERENCE_COLORS[i % len(REFERENCE_COLORS)] for i in range(len(refs))]}
        version, signs = feed.extras.get("signs", (0, None))
        if signs is not None and version != self._signs_version:
            self._signs_version = version
            img = np.asarray(signs, np.float32)
            self.signs.data = {"image": [img], "dw": [img.shape[1]], "dh": [img.shape[0]]}


class SweepPanel(Panel):
    """A sweep: test accuracy per epoch, a curve per point, and the points' table."""

    COLUMNS = ("point", "values", "status", "epochs", "test_acc")

    def __init__(self, info):
        super().__init__(info)
        self.fig = _fig("test accuracy per epoch, one curve per point", "epoch", "accuracy (%)")
        self.fig.xaxis.ticker = BasicTicker(min_interval=1)
        self.fig.width = 700
        self.curves = Curves(self.fig, marker=True)
        self._curves = [self.curves]
        self.table_src = ColumnDataSource({c: [] for c in self.COLUMNS})
        from bokeh.models import DataTable, NumberFormatter, TableColumn

        fmt = {"test_acc": NumberFormatter(format="0.0000")}
        table = DataTable(source=self.table_src, width=700, height=260, index_position=None, name="lb-points",
                          columns=[TableColumn(field=c, title=c, width=300 if c == "values" else 80,
                                               **({"formatter": fmt[c]} if c in fmt else {})) for c in self.COLUMNS])
        self._version = 0
        self.layout = row(self.fig, table)

    def add(self, rows):
        for (pid,), g in _groups(rows, ("point_id",)):
            self.curves.add(pid, f"{g[0]['point']}: {g[0]['label']}", _col(g, "epoch"), _col(g, "test_acc", 100))

    def refresh(self, feed):
        version, table = feed.extras.get("points", (0, None))
        if table is not None and version != self._version:
            self._version = version
            self.table_src.data = {c: [r.get(c) for r in table] for c in self.COLUMNS}


PANELS = {"IVSweep": IVPanel, "Forming": FormingPanel, "PulseTrain": PulsePanel, "TspPulseTrain": PulsePanel,
          "ArrayMap": MapPanel, "Retention": RetentionPanel, "Endurance": EndurancePanel,
          "bnn_training": TrainingPanel, "sweep": SweepPanel}


def panel_for(info: dict) -> Panel:
    return PANELS.get(str(info.get("name", "")), GenericPanel)(info)

