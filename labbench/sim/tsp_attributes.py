"""Instruments as data, for TSP: one attribute of a TSP object is one row of its manual's
attribute table.

The TSP counterpart of :mod:`labbench.sim.props` (SCPI ``Prop`` rows).  A Series 2600B
attribute (``smua.source.levelv``, ``smua.measure.nplc``, ...) is an :class:`Attr` row:
its name, what it accepts, its value after ``reset()``, its unit, and how it couples:

* ``interlock``: the bench's interlock (the instrument's ``guard``) sees the finite value
  before the instrument's own range check, so a limit above the bench file's trips it
  (outputs off) even where the 2600B itself would accept it;
* ``line``: the write can change what the output line sees, so it goes through the
  channel's ``change`` (the level held so far is applied to the chip first);
* ``sets``: attributes written alongside (a fixed range turns its autorange off);
* ``hook``: a named function for what is more than a check and a store (a level's
  autorange and interlock, the output's state guard); it stores the value itself.

:func:`tsp_attributes` turns the rows into the class's properties (stored in slots named
``_<attribute>``, which behaviour code reads directly) and its ``TSP_API``/``TSP_SETTABLE``.
A refused value is ``TSPError(-222)`` ("parameter data out of range", the 2600B's code for
a bad attribute value), with the message naming the attribute as a script wrote it.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable

from .tsp import lua_repr
from .tsp_errors import TSPError

NUM, INT, ONE_OF, RANGE, DELAY, READ = "number", "integer", "one of", "fixed range", "delay", "read-only"
DELAY_AUTO, DELAY_MAX = -1.0, 1e4


# -- the checks (each raises the instrument's -222 with the attribute's TSP name) ---------
def finite(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or math.isinf(v):
        raise TSPError(-222, f"{what} must be a finite number, got {lua_repr(v)}")
    return float(v)


def within(v, what, lo, hi) -> float:
    v = finite(v, what)
    if not lo <= v <= hi:
        raise TSPError(-222, f"{what} = {v:g} outside {lo:g}..{hi:g}")
    return v


def one_of(v, what: str, allowed: tuple, _=None) -> int:
    if v not in allowed:
        raise TSPError(-222, f"{what} must be one of {', '.join(str(a) for a in allowed)}, got {lua_repr(v)}")
    return int(v)


def range_for(v, what, ranges, _=None) -> float:
    """The smallest fixed range holding |v| (the instrument rounds a range up)."""
    v = abs(finite(v, what))
    for r in ranges:
        if v <= r * 1.0000001:
            return r
    raise TSPError(-222, f"{what} = {v:g} above the largest range {ranges[-1]:g}")


def _integer(v, what, lo, hi) -> int:
    v = within(v, what, lo, hi)
    if v != int(v):
        raise TSPError(-222, f"{what} must be an integer")
    return int(v)


def _delay(v, what, _=None, __=None) -> float:
    v = finite(v, what)
    if v != DELAY_AUTO and not 0 <= v <= DELAY_MAX:
        raise TSPError(-222, f"{what} must be DELAY_AUTO (-1), DELAY_OFF (0) or 0..10000 s")
    return v


# -- rows -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attr:
    """One attribute of a TSP object: what it accepts (``kind`` with ``lo``/``hi``,
    ``choices`` or ``ranges``), its value after ``reset()``, its unit, its coupling."""

    name: str
    kind: str
    default: Any = None
    lo: float = -math.inf
    hi: float = math.inf
    choices: tuple = ()            # ONE_OF: the accepted values (the manual's constants)
    ranges: tuple = ()             # RANGE: the fixed ranges a value selects
    unit: str = ""
    labels: str = ""               # ONE_OF: the constants' names, for the table in the docs
    interlock: bool = False
    line: bool = False
    sets: tuple[tuple[str, Any], ...] = ()
    hook: Callable | None = None   # hook(obj, checked value); READ: the getter hook(obj)

    @property
    def settable(self) -> bool:
        return self.kind != READ

    def checker(self) -> tuple[Callable, Any, Any]:
        """(check, a, b): ``check(v, what, a, b)`` is the value as stored, or TSPError(-222)
        naming ``what``.  Every check takes the same four arguments: a setter runs on every
        attribute write of a script, and a fixed-arity call is the cheap one."""
        k = self.kind
        if k == NUM:
            return within, self.lo, self.hi
        if k == ONE_OF:
            return one_of, self.choices, None
        if k == RANGE:
            return range_for, self.ranges, None
        if k == INT:
            return _integer, self.lo, self.hi
        if k == DELAY:
            return _delay, None, None
        raise ValueError(f"{self.name}: a {k} attribute has no check")

    def describe(self) -> str:
        """The row as the manual's attribute table reads."""
        if self.kind == NUM or self.kind == INT:
            spec = f"{self.lo:g}..{self.hi:g}"
        elif self.kind == ONE_OF:
            spec = " | ".join(f"{c}" for c in self.choices) + (f"  ({self.labels})" if self.labels else "")
        elif self.kind == RANGE:
            spec = ", ".join(f"{r:g}" for r in self.ranges)
        elif self.kind == DELAY:
            spec = "-1 (auto) | 0 (off) | 0..10000"
        else:
            spec = ""
        coupling = ", ".join(x for x in (
            "interlock" if self.interlock else "", "line" if self.line else "",
            *(f"sets {k}={v}" for k, v in self.sets), f"hook {self.hook.__name__}" if self.hook else "") if x)
        default = "" if self.default is None else f"{self.default:g}"
        return f"{self.name:12s} {self.kind:12s} {spec:52s} {default:8s} {self.unit:4s} {coupling}"


def Number(name, lo, hi, default, unit="", **kw) -> Attr:
    """A number accepted in [lo, hi]."""
    return Attr(name, NUM, default, lo=lo, hi=hi, unit=unit, **kw)


def Integer(name, lo, hi, default, **kw) -> Attr:
    """A whole number in [lo, hi] (a number with a fraction is refused)."""
    return Attr(name, INT, default, lo=lo, hi=hi, **kw)


def OneOf(name, choices, default, labels="", **kw) -> Attr:
    """One of a few values: the manual's constants (``smua.OUTPUT_ON`` is 1)."""
    return Attr(name, ONE_OF, default, choices=tuple(choices), labels=labels, **kw)


def FixedRange(name, ranges, default, unit="", **kw) -> Attr:
    """A range: |value| selects the smallest fixed range holding it."""
    return Attr(name, RANGE, default, ranges=tuple(ranges), unit=unit, **kw)


def Delay(name, default=DELAY_AUTO) -> Attr:
    """DELAY_AUTO (-1), DELAY_OFF (0) or a delay in seconds up to 10000."""
    return Attr(name, DELAY, default, unit="s")


def ReadOnly(name, getter: Callable, unit="") -> Attr:
    """A value behaviour code keeps (``getter(obj)``); a script cannot set it."""
    return Attr(name, READ, unit=unit, hook=getter)


# -- rows -> properties ---------------------------------------------------------------------
def storage(rows) -> tuple[str, ...]:
    """The slots the rows store their values in (``_levelv`` for ``levelv``)."""
    return tuple("_" + r.name for r in rows if r.settable)


def defaults(obj, rows) -> None:
    """Every row's value after ``reset()``."""
    for r in rows:
        if r.settable:
            setattr(obj, "_" + r.name, r.default)


def _setter(row: Attr, node: str | None):
    """The property setter of one row: check, then the coupling the row declares.  Built per
    row with only the steps it declares (a setter runs on every attribute write of a script)."""
    name, slot, hook, interlock = row.name, "_" + row.name, row.hook, row.interlock
    sets = tuple(("_" + k, x) for k, x in row.sets)
    check, a, b = row.checker()
    static = f"{node}.{name}" if node is not None else None
    if hook is None and row.line:
        def hook(obj, v):
            obj._ch.change(lambda: setattr(obj, slot, v))

    if static is not None and not interlock and not sets:
        if hook is None:
            def fset(obj, v):           # the common row: check and store
                setattr(obj, slot, check(v, static, a, b))
        else:
            def fset(obj, v):
                hook(obj, check(v, static, a, b))
        return fset

    def fset(obj, v):
        what = static or f"{obj.TSP_NAME}.{name}"
        if interlock:
            obj._guard(name, finite(v, what))
        v = check(v, what, a, b)
        if hook is not None:
            hook(obj, v)
        else:
            setattr(obj, slot, v)
        for k, x in sets:
            setattr(obj, k, x)

    return fset


def attribute(row: Attr, node: str | None) -> property:
    """The property of one row of object ``node`` (None: the object's own ``TSP_NAME``)."""
    if not row.settable:
        return property(row.hook, doc=row.hook.__doc__)
    return property(operator.attrgetter("_" + row.name), _setter(row, node), doc=row.describe())


def tsp_attributes(rows, methods: tuple[str, ...] = ()):
    """Class decorator: the rows as properties, plus ``TSP_API`` (the rows, then ``methods``)
    and ``TSP_SETTABLE`` where the class does not list its own."""
    def install(cls):
        node = cls.__dict__.get("TSP_NAME")
        node = node if isinstance(node, str) else None
        missing = [s for s in storage(rows) if not hasattr(cls, s)]
        if missing:
            raise TypeError(f"{cls.__name__} has no slot for {missing}")
        for r in rows:
            setattr(cls, r.name, attribute(r, node))
        if "TSP_API" not in cls.__dict__:
            cls.TSP_API = tuple(r.name for r in rows) + tuple(methods)
        if "TSP_SETTABLE" not in cls.__dict__:
            cls.TSP_SETTABLE = tuple(r.name for r in rows if r.settable)
        cls.TSP_ATTRIBUTES = tuple(rows)
        return cls
    return install
