"""The Series 2600B trigger model, simulated in virtual time: the subset pulse-and-measure
work uses (reference manual, "Triggering": the SMU's arm and trigger layers, timers,
event blenders, the command-interface trigger).

- ``smuX.trigger``: ``count``, ``arm.count``/``arm.stimulus``, ``source`` (``action``,
  ``stimulus``, ``limiti``/``limitv``, ``linearv``/``listv``/``logv`` and the current
  forms), ``measure`` (``action``, ``stimulus``, ``i``/``v``/``iv``/``r``/``p`` naming the
  buffers), ``endpulse`` (``action`` SOURCE_IDLE or SOURCE_HOLD, ``stimulus``),
  ``endsweep.action``, ``initiate()``, ``abort()`` and the event IDs
  (ARMED, SWEEPING, SOURCE_COMPLETE, MEASURE_COMPLETE, PULSE_COMPLETE, SWEEP_COMPLETE, IDLE).
- ``trigger.timer[1..4]``: ``count``, ``delay``, ``passthrough``, ``stimulus``,
  ``EVENT_ID``; ``trigger.blender[1..6]``: ``orenable``, ``stimulus[1..4]``, ``EVENT_ID``;
  ``trigger.EVENT_ID`` (``*TRG``); ``display.trigger.EVENT_ID`` (the TRIG key: it never
  fires in a simulation, so a sweep waiting on it times out, as an unattended instrument
  would wait).

``initiate()`` runs the whole model at once in virtual time, as a discrete-event
simulation: events are processed in time order, each level change happens at its event's
time (so a pulse is as wide as the timers make it, on the chip too), and a reading takes
its NPLC.  An event detector latches an event that happened before it waited, as the
manual describes.  Waiting on an event that can no longer happen stops the script at the
VISA timeout with the outputs off.  Every level passes the instrument's interlock (the
bench limits), when the sweep is configured and when it is applied.
"""
from __future__ import annotations

import heapq
import math

from .tsp import TSPError, lua_repr

SOURCE_IDLE, SOURCE_HOLD = 0, 1
TRIGGER_EVENT_ID, DISPLAY_TRIGGER_EVENT_ID = 1, 2
_TIMER_BASE, _BLENDER_BASE = 10, 20
_SMU_EVENTS = ("ARMED", "SWEEPING", "SOURCE_COMPLETE", "MEASURE_COMPLETE", "PULSE_COMPLETE", "SWEEP_COMPLETE",
               "IDLE")
MAX_POINTS = 60000
# A timer or blender that stimulates itself floods the model with events (exponentially when
# a timer's count is above 1).  No Lua hook sees this Python loop, so it has its own bounds:
# the chunk's time budget, the pending events, and the events processed per initiate() (a
# generous multiple of what the configured sweep needs).
MAX_PENDING, EVENTS_PER_POINT = 100_000, 40


def _num(v, what, lo=-math.inf, hi=math.inf) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise TSPError(-222, f"{what} must be a finite number in [{lo:g}, {hi:g}], got {lua_repr(v)}")
    return float(v)


def _int(v, what, lo, hi) -> int:
    v = _num(v, what, lo, hi)
    if v != int(v):
        raise TSPError(-222, f"{what} must be a whole number")
    return int(v)


def _event(v, what, valid) -> int:
    v = _int(v, what, 0, 10_000)
    if v != 0 and v not in valid():
        raise TSPError(-222, f"{what}: {v} is not an event ID of this instrument")
    return v


class Timer:
    __slots__ = ("_model", "n", "_count", "_delay", "_passthrough", "_stimulus")
    TSP_NAME = "trigger.timer"
    TSP_API = ("count", "delay", "passthrough", "stimulus", "EVENT_ID", "reset", "clear")
    TSP_SETTABLE = ("count", "delay", "passthrough", "stimulus")

    def __init__(self, model, n):
        self._model, self.n = model, n
        self.reset()

    def reset(self):
        self._count, self._delay, self._passthrough, self._stimulus = 1, 10e-6, False, 0

    def clear(self):
        return None

    @property
    def EVENT_ID(self):
        return _TIMER_BASE + self.n

    count = property(lambda s: s._count, lambda s, v: setattr(s, "_count", _int(v, "timer.count", 0, 1_048_575)))
    delay = property(lambda s: s._delay, lambda s, v: setattr(s, "_delay", _num(v, "timer.delay", 1e-6, 1e5)))
    stimulus = property(lambda s: s._stimulus,
                        lambda s, v: setattr(s, "_stimulus", _event(v, "timer.stimulus", s._model.event_ids)))

    @property
    def passthrough(self):
        return self._passthrough

    @passthrough.setter
    def passthrough(self, v):
        if not isinstance(v, (bool, int)):
            raise TSPError(-222, "timer.passthrough must be true or false")
        self._passthrough = bool(v)


class _Stimuli:
    """``blender[N].stimulus[1..4]``."""

    __slots__ = ("_model", "_ids")
    TSP_NAME, TSP_API, TSP_INDEXED = "blender.stimulus", (), True

    def __init__(self, model):
        self._model, self._ids = model, [0, 0, 0, 0]

    def __len__(self):
        return 4

    def __getitem__(self, k):
        if not 1 <= k <= 4:
            raise TSPError(-222, f"blender stimulus index {k} outside 1..4")
        return self._ids[k - 1]

    def __setitem__(self, k, v):
        if not 1 <= k <= 4:
            raise TSPError(-222, f"blender stimulus index {k} outside 1..4")
        self._ids[k - 1] = _event(v, "blender.stimulus", self._model.event_ids)


class Blender:
    __slots__ = ("_model", "n", "orenable", "stimulus", "_seen")
    TSP_NAME = "trigger.blender"
    TSP_API = ("orenable", "stimulus", "EVENT_ID", "reset", "clear")
    TSP_SETTABLE = ("orenable",)

    def __init__(self, model, n):
        self._model, self.n = model, n
        self.reset()

    def reset(self):
        self.orenable, self.stimulus, self._seen = False, _Stimuli(self._model), set()

    def clear(self):
        self._seen = set()

    @property
    def EVENT_ID(self):
        return _BLENDER_BASE + self.n


class _Indexed:
    """``trigger.timer`` / ``trigger.blender``: 1-based lists of objects."""

    __slots__ = ("_items",)
    TSP_NAME, TSP_API, TSP_INDEXED = "trigger list", (), True

    def __init__(self, items):
        self._items = items

    def __len__(self):
        return len(self._items)

    def __getitem__(self, k):
        if not 1 <= k <= len(self._items):
            raise TSPError(-222, f"index {k} outside 1..{len(self._items)}")
        return self._items[k - 1]


class TriggerGlobal:
    """``trigger``: the timers, blenders and the command-interface trigger."""

    __slots__ = ("timer", "blender")
    TSP_NAME, TSP_API = "trigger", ("timer", "blender", "EVENT_ID", "clear", "wait")
    EVENT_ID = TRIGGER_EVENT_ID

    def __init__(self, model):
        self.timer = _Indexed([Timer(model, n) for n in range(1, 5)])
        self.blender = _Indexed([Blender(model, n) for n in range(1, 7)])

    def clear(self):
        return None

    def wait(self, timeout=0):
        _num(timeout, "trigger.wait timeout", 0, 1e5)
        return False      # no *TRG arrives while a script runs


class DisplayTrigger:
    __slots__ = ()
    TSP_NAME, TSP_API = "display.trigger", ("EVENT_ID", "clear", "wait")
    EVENT_ID = DISPLAY_TRIGGER_EVENT_ID

    def clear(self):
        return None

    def wait(self, timeout=0):
        return False


class _Layer:
    """``smuX.trigger.source`` / ``.measure`` / ``.endpulse`` / ``.arm``."""

    __slots__ = ("_t", "_kind", "_stimulus", "_action", "_count", "_values", "_func", "_limiti", "_limitv",
                 "_bufs")

    def __init__(self, t, kind):
        self._t, self._kind = t, kind
        self._stimulus, self._count, self._values, self._func = 0, 1, [], 1
        self._action = {"source": 0, "measure": 0, "endpulse": SOURCE_IDLE, "arm": 1, "endsweep": SOURCE_IDLE}[kind]
        self._limiti = self._limitv = None
        self._bufs = ("i", None, None)

    # common
    @property
    def stimulus(self):
        return self._stimulus

    @stimulus.setter
    def stimulus(self, v):
        self._stimulus = _event(v, f"trigger.{self._kind}.stimulus", self._t.model.event_ids)

    @property
    def action(self):
        return self._action

    @action.setter
    def action(self, v):
        self._action = _int(v, f"trigger.{self._kind}.action", 0, 2)

    @property
    def count(self):
        return self._count

    @count.setter
    def count(self, v):
        self._count = _int(v, "trigger.arm.count", 1, 1_048_575)

    def set(self):
        return None

    # source: the sweep
    def _sweep(self, func, values):
        if not 1 <= len(values) <= MAX_POINTS:
            raise TSPError(-222, f"a sweep has 1..{MAX_POINTS} points, got {len(values)}")
        ch = self._t.ch
        what = "levelv" if func == 1 else "leveli"
        for v in values:       # the interlock refuses the configuration, before anything is sourced
            ch.inst.guard(ch.term, what, v)
        self._values, self._func = values, func

    def _linear(self, func, start, stop, points):
        n = _int(points, "points", 1, MAX_POINTS)
        a, b = _num(start, "start"), _num(stop, "stop")
        self._sweep(func, [a + (b - a) * k / (n - 1) if n > 1 else a for k in range(n)])

    def linearv(self, start, stop, points):
        self._linear(1, start, stop, points)

    def lineari(self, start, stop, points):
        self._linear(0, start, stop, points)

    def logv(self, start, stop, points, asymptote=0):
        self._sweep(1, self._log(start, stop, points, asymptote))

    def logi(self, start, stop, points, asymptote=0):
        self._sweep(0, self._log(start, stop, points, asymptote))

    @staticmethod
    def _log(start, stop, points, asymptote):
        n = _int(points, "points", 1, MAX_POINTS)
        a, b, c = _num(start, "start") - asymptote, _num(stop, "stop") - asymptote, _num(asymptote, "asymptote")
        if a * b <= 0:
            raise TSPError(-222, "a log sweep's start and stop must be on one side of the asymptote")
        return [c + a * (b / a) ** (k / (n - 1)) if n > 1 else c + a for k in range(n)]

    def listv(self, values):
        self._sweep(1, [_num(v, "listv value") for v in _as_list(values)])

    def listi(self, values):
        self._sweep(0, [_num(v, "listi value") for v in _as_list(values)])

    @property
    def limiti(self):
        return self._limiti

    @limiti.setter
    def limiti(self, v):
        self._limiti = self._guarded("limiti", v, 100e-12, 1.5)

    @property
    def limitv(self):
        return self._limitv

    @limitv.setter
    def limitv(self, v):
        self._limitv = self._guarded("limitv", v, 20e-3, 200.0)

    def _guarded(self, what: str, v, lo: float, hi: float) -> float:
        """A sweep's source limit: in the instrument's range and inside the interlock."""
        ch = self._t.ch
        v = _num(v, f"trigger.source.{what}", lo, hi)
        ch.inst.guard(ch.term, what, v)
        return v

    # measure: what each point reads, into which buffers
    def i(self, buf=None):
        self._bufs = ("i", _buffer(buf), None)

    def v(self, buf=None):
        self._bufs = ("v", _buffer(buf), None)

    def r(self, buf=None):
        self._bufs = ("r", _buffer(buf), None)

    def p(self, buf=None):
        self._bufs = ("p", _buffer(buf), None)

    def iv(self, ibuf=None, vbuf=None):
        self._bufs = ("iv", _buffer(ibuf), _buffer(vbuf))


def _buffer(b):
    """A reading buffer (``smua.nvbuffer1``), or nil for none: refused when configured,
    not when the sweep runs."""
    if b is None or getattr(b, "TSP_NAME", None) == "nvbuffer":
        return b
    raise TSPError(-222, f"a reading buffer is expected (smua.nvbuffer1 ...), got {lua_repr(b)}")


_LAYER_API = {
    "arm": ("count", "stimulus", "set"),
    "source": ("action", "stimulus", "set", "linearv", "lineari", "logv", "logi", "listv", "listi", "limiti", "limitv"),
    "measure": ("action", "stimulus", "set", "i", "v", "r", "p", "iv"),
    "endpulse": ("action", "stimulus", "set"),
    "endsweep": ("action",),
}


def _layer_class(kind):
    api = _LAYER_API[kind]
    settable = tuple(n for n in api if n in ("count", "stimulus", "action", "limiti", "limitv"))
    return type(f"Trigger{kind.title()}", (_Layer,), {"__slots__": (), "TSP_NAME": f"trigger.{kind}",
                                                      "TSP_API": api, "TSP_SETTABLE": settable})


_LAYERS = {k: _layer_class(k) for k in _LAYER_API}


def _as_list(values) -> list:
    if isinstance(values, list):
        return values
    raise TSPError(-222, "a list sweep takes a table of numbers, e.g. {0, 1.5, 0}")


class SMUTrigger:
    """``smuX.trigger``."""

    __slots__ = ("ch", "model", "arm", "source", "measure", "endpulse", "endsweep", "_count")
    TSP_NAME = "smu.trigger"
    TSP_API = ("count", "arm", "source", "measure", "endpulse", "endsweep", "initiate", "abort",
               *(f"{e}_EVENT_ID" for e in _SMU_EVENTS))
    TSP_SETTABLE = ("count",)

    def __init__(self, ch, model):
        self.ch, self.model = ch, model
        self.arm, self.source, self.measure = _LAYERS["arm"](self, "arm"), _LAYERS["source"](self, "source"), \
            _LAYERS["measure"](self, "measure")
        self.endpulse, self.endsweep = _LAYERS["endpulse"](self, "endpulse"), _LAYERS["endsweep"](self, "endsweep")
        self._count = 1

    def __getattr__(self, name):      # the event IDs: smua 101.., smub 111..
        if name.endswith("_EVENT_ID") and name[:-9] in _SMU_EVENTS:
            return self.model.smu_event(self.ch, name[:-9])
        raise AttributeError(name)

    @property
    def count(self):
        return self._count

    @count.setter
    def count(self, v):
        self._count = _int(v, "trigger.count", 0, MAX_POINTS)

    def abort(self):
        return None

    def initiate(self):
        self.model.run(self)


class TriggerModel:
    """The instrument-wide trigger state and the discrete-event run of one SMU's model."""

    def __init__(self, inst):
        self.inst = inst
        self.trigger = TriggerGlobal(self)
        self.display_trigger = DisplayTrigger()

    def smu_event(self, ch, name: str) -> int:
        return (100 if ch.name == "smua" else 110) + _SMU_EVENTS.index(name) + 1

    def event_ids(self) -> set[int]:
        ids = {TRIGGER_EVENT_ID, DISPLAY_TRIGGER_EVENT_ID}
        ids |= {_TIMER_BASE + n for n in range(1, 5)} | {_BLENDER_BASE + n for n in range(1, 7)}
        ids |= {b + k for b in (100, 110) for k in range(1, len(_SMU_EVENTS) + 1)}
        return ids

    # -- the run ------------------------------------------------------------------------------
    def run(self, trig: SMUTrigger) -> None:  # noqa: C901 - the manual's trigger-model flow chart, one branch per layer and event
        inst, ch = self.inst, trig.ch
        inst.engine_alive()
        src, meas, endp = trig.source, trig.measure, trig.endpulse
        if src.action and not src._values:
            raise TSPError(-222, "trigger.source.action is enabled but no sweep was configured "
                                 "(linearv, listv, logv ...)")
        queue: list[tuple[float, int, int]] = []
        latched: dict[int, int] = {}
        seq = [0]
        timers = self.trigger.timer._items
        blenders = self.trigger.blender._items

        def push(t, eid):
            seq[0] += 1
            heapq.heappush(queue, (t, seq[0], eid))

        def fire(eid):
            """``eid`` happens now: latch it for the detectors, start the timers and blenders
            it stimulates."""
            latched[eid] = latched.get(eid, 0) + 1
            now = inst.now()
            for tm in timers:
                if tm._stimulus == eid and eid != 0:
                    if tm._passthrough:
                        push(now, tm.EVENT_ID)
                    for k in range(1, tm._count + 1):
                        push(now + k * tm._delay, tm.EVENT_ID)
            for bl in blenders:
                ids = [s for s in bl.stimulus._ids if s]
                if eid in ids:
                    bl._seen.add(eid)
                    if bl.orenable or bl._seen >= set(ids):
                        bl._seen = set()
                        push(now, bl.EVENT_ID)

        processed = [0]
        max_processed = EVENTS_PER_POINT * max(trig._count, 1) * trig.arm._count + 10_000

        def wait(eid):
            """Until ``eid`` has happened (0: at once); time advances event by event."""
            if eid == 0:
                return
            engine = inst.engine
            while not latched.get(eid):
                if not queue:
                    engine.abort_now("the trigger model waits for an event that can no longer happen")
                processed[0] += 1
                if len(queue) > MAX_PENDING or processed[0] > max_processed:
                    engine.abort_now("trigger overrun: the timers and blenders drive each other without end")
                t, _, e = heapq.heappop(queue)
                if t > inst.now():
                    inst.advance(t - inst.now())
                engine.check_budget()
                inst.engine_alive()
                fire(e)
            latched[eid] -= 1

        def apply(level):
            what = "levelv" if src._func == 1 else "leveli"
            inst.guard(ch.term, what, level)
            s = ch.source
            ch.change(lambda: (setattr(s, "_func", src._func),
                               setattr(s, "_levelv" if src._func == 1 else "_leveli", level)))

        idle = (ch.source._func, ch.source._levelv, ch.source._leveli)
        limit = ch.source._limiti

        def to_idle():      # SOURCE_IDLE: back to the level the source held before initiate()
            s = ch.source
            ch.change(lambda: (setattr(s, "_func", idle[0]), setattr(s, "_levelv", idle[1]),
                               setattr(s, "_leveli", idle[2])))

        try:
            if src._limiti is not None:
                ch.source._limiti = src._limiti
            for _ in range(trig.arm._count):
                wait(trig.arm._stimulus)
                fire(self.smu_event(ch, "ARMED"))
                fire(self.smu_event(ch, "SWEEPING"))
                for k in range(trig._count):
                    wait(src._stimulus)
                    if src._action:
                        apply(src._values[k % len(src._values)])
                    fire(self.smu_event(ch, "SOURCE_COMPLETE"))
                    wait(meas._stimulus)
                    if meas._action:
                        kind, b1, b2 = meas._bufs
                        ch.measure._take(kind, b1, b2, bias=False)   # the pulse's width is applied when it ends
                    fire(self.smu_event(ch, "MEASURE_COMPLETE"))
                    wait(endp._stimulus)
                    if endp._action == SOURCE_IDLE:
                        to_idle()
                    fire(self.smu_event(ch, "PULSE_COMPLETE"))
                fire(self.smu_event(ch, "SWEEP_COMPLETE"))
                if trig.endsweep._action == SOURCE_IDLE:
                    to_idle()
            fire(self.smu_event(ch, "IDLE"))
        finally:
            ch.source._limiti = limit
