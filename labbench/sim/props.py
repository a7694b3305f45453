"""Instruments as data: one SCPI property is one row of the manual's command table.

A simulated instrument lists its settable/queryable properties as :class:`Prop` rows
(header in the manual's long/short notation, type, accepted range or values, the
``*RST`` value, unit, and how it couples to other rows).  :func:`build_handlers` turns
each row into the set and query handlers the SCPI dispatcher calls, so only behaviour
(sourcing into the chip, triggers, buffers, routing) is hand-written.

This follows PyMeasure's ``Instrument.control`` (one declaration gives get and set) and
pyvisa-sim's YAML ``properties`` (default, specs min/max/valid values); unlike
pyvisa-sim it keeps SCPI's grammar (long/short forms, optional nodes, suffixes,
MIN/MAX/DEF) and reports refusals in the error queue with the standard numbers.

Coupling between rows is declared too:

* ``sets``: rows written alongside (setting a range turns its autorange off);
* ``couple``: the name of an instrument method ``couple(ch, prop, value)`` that checks
  the value against the other rows and stores it (amplitude/offset/high/low, period/
  width): it raises ``SCPIError(-221)`` on a conflict, as the instruments do.
* ``ranges``: a value is rounded up to the instrument's next fixed range.

``index`` says which instance a row addresses: ``"suffix"`` (a numeric header suffix,
``:VOLT2:HIGH``), ``"arg"`` (a leading card-number argument, ``:BIAS 1,ON``; 0 and ALL
address every card on a set and are refused on a query where the manual says so).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .scpi import SCPIError, fmt, nargs, to_bool, to_enum, to_float, to_int, to_str

NUM, INT, BOOL, ENUM, STR = "num", "int", "bool", "enum", "str"


@dataclass(frozen=True)
class Prop:
    name: str
    header: str
    kind: str
    default: Any
    lo: float = -float("inf")
    hi: float = float("inf")
    mn: float | None = None          # what MIN means, when it is not ``lo``
    mx: float | None = None          # what MAX means, when it is not ``hi``
    choices: tuple[str, ...] = ()
    unit: str = ""
    ranges: tuple[float, ...] = ()   # fixed ranges: a value selects the next one up
    magnitude: bool = False          # the sign is ignored (a range is a magnitude)
    sets: tuple[tuple[str, Any], ...] = ()
    couple: str | None = None
    settable: bool = True
    queryable: bool = True
    index: str | None = None         # None | "suffix" | "arg"
    all_cards_query: bool = False    # "arg": whether 0/ALL is allowed in the query
    alias: bool = False              # a second header for a row declared before (same state)

    def convert(self, tok: str):
        k = self.kind
        if k == NUM:
            v = to_float(tok, self.lo, self.hi, default=self.default, mn=self.mn, mx=self.mx)
            if self.magnitude:
                v = abs(v)
            if self.ranges:
                v = next((r for r in self.ranges if v <= r * (1 + 1e-9)), self.ranges[-1])
            return v
        if k == INT:
            return to_int(tok, int(self.lo) if self.lo > -float("inf") else -(2 ** 31),
                          int(self.hi) if self.hi < float("inf") else 2 ** 31 - 1, default=self.default)
        if k == BOOL:
            return to_bool(tok)
        if k == ENUM:
            return to_enum(tok, list(self.choices))
        return to_str(tok)

    def format(self, v) -> str:
        k = self.kind
        if k == NUM:
            return fmt(v)
        if k == INT:
            return str(int(v))
        if k == BOOL:
            return "1" if v else "0"
        if k == ENUM:
            return v
        return '"' + str(v) + '"'


def _range_args(lo, hi, mn, mx):
    return {"lo": lo, "hi": hi, "mn": mn, "mx": mx}


def Num(name, header, default, lo, hi, unit="", *, mn=None, mx=None, **kw) -> Prop:
    """A number accepted in [lo, hi]; MIN/MAX mean ``mn``/``mx`` (default: lo/hi)."""
    return Prop(name, header, NUM, default, unit=unit, **_range_args(lo, hi, mn, mx), **kw)


def Int(name, header, default, lo, hi, unit="", **kw) -> Prop:
    return Prop(name, header, INT, default, lo=lo, hi=hi, unit=unit, **kw)


def Bool(name, header, default, **kw) -> Prop:
    return Prop(name, header, BOOL, default, **kw)


def Choice(name, header, default, choices, **kw) -> Prop:
    """Character data in the manual's notation (``NORMal``); stored and returned short."""
    return Prop(name, header, ENUM, default, choices=tuple(choices), **kw)


def Text(name, header, default="", **kw) -> Prop:
    return Prop(name, header, STR, default, **kw)


def Query(name, header, kind=NUM, **kw) -> Prop:
    """A read-only row whose value behaviour code keeps up to date."""
    return Prop(name, header, kind, kw.pop("default", 0), settable=False, **kw)


# -- handlers ---------------------------------------------------------------------------
def _suffix_channel(inst, sfx):
    for s in sfx:
        if s is not None:
            if s not in inst.state:
                raise SCPIError(-114, f"channel {s} (1..{len(inst.state)})")
            return s
    return inst.DEFAULT_INDEX


def _card_args(inst, tok: str, query: bool, all_ok: bool) -> list[int]:
    t = tok.strip().upper()
    if t == "ALL":
        if query and not all_ok:
            raise SCPIError(-224, "ALL is not available for a query")
        return list(inst.state)
    c = to_int(tok, 0, max(inst.state))
    if c == 0:  # card 0: the matrix in Auto configuration mode (every module at once)
        return list(inst.state) if not query else [inst.DEFAULT_INDEX]
    return [c]


def build_handlers(prop: Prop, cls=None) -> tuple[Callable | None, Callable | None]:
    """The (setter, query) SCPI handlers of one row of instrument class ``cls``."""
    name, convert, form = prop.name, prop.convert, prop.format
    sets, couple = prop.sets, prop.couple
    setter = query = None

    if prop.index == "arg":
        def setter(inst, args, sfx):
            nargs(args, 2)
            v = convert(args[1])
            for ch in _card_args(inst, args[0], False, True):
                _store(inst, ch, v)

        def query(inst, args, sfx):
            nargs(args, 1)
            ch = _card_args(inst, args[0], True, prop.all_cards_query)[0]
            return form(inst.state[ch][name])
    else:
        def setter(inst, args, sfx):
            if len(args) != 1:
                nargs(args, 1)
            ch = inst.DEFAULT_INDEX
            for s in sfx:  # inlined _suffix_channel: this runs on every property write
                if s is not None:
                    ch = _suffix_channel(inst, sfx)
                    break
            _store(inst, ch, convert(args[0]))

        def query(inst, args, sfx):
            if args:
                nargs(args, 0)
            ch = inst.DEFAULT_INDEX
            for s in sfx:
                if s is not None:
                    ch = _suffix_channel(inst, sfx)
                    break
            return form(inst.state[ch][name])

    if couple:
        fn = getattr(cls, couple) if cls is not None else None  # bound once, per class

        def _store(inst, ch, v):
            (fn or getattr(type(inst), couple))(inst, ch, prop, v)
            for k, x in sets:
                inst.state[ch][k] = x
    else:
        def _store(inst, ch, v):
            st = inst.state[ch]
            st[name] = v
            for k, x in sets:
                st[k] = x

    return (setter if prop.settable else None), (query if prop.queryable else None)


@dataclass
class PropTable:
    """The rows of one instrument, by name (for ``*RST`` and for documentation)."""

    rows: list[Prop] = field(default_factory=list)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.rows}

    def describe(self) -> list[str]:
        """The table as the manual prints it: header, type, range/values, *RST, unit."""
        out = []
        for p in self.rows:
            if p.kind == ENUM:
                spec = "|".join(p.choices)
            elif p.kind in (NUM, INT):
                spec = f"{p.lo:g}..{p.hi:g}"
            else:
                spec = p.kind
            out.append(f"{p.header:50s} {spec:40s} *RST {p.default!s:10s} {p.unit}")
        return out
