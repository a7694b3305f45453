"""The simulated 2600B's declared TSP attribute rows (labbench.sim.tsp_attributes): every
row, driven through a script, refuses what it must refuse with the instrument's -222 and
keeps its value, and round-trips what it accepts; the coupling rows keep the interlock and
the line behaviour (principle 11)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from labbench.sim.keithley2600b import (CHANNEL_ATTRIBUTES, MEASURE_ATTRIBUTES, SOURCE_ATTRIBUTES, Keithley2600BSim,
                                        Measure, SMUChannel, Source)
from labbench.sim.tsp_attributes import DELAY, INT, NUM, ONE_OF, RANGE, READ, Attr

TABLES = [("smua.source", "source", SOURCE_ATTRIBUTES), ("smua.measure", "measure", MEASURE_ATTRIBUTES),
          ("smua", "smua", CHANNEL_ATTRIBUTES)]
ROWS = [(path, what, row) for path, what, rows in TABLES for row in rows]
IDS = [f"{path}.{row.name}" for path, _, row in ROWS]
# what a hook stores for an accepted value, where that is not the value: HIGH_Z is off here
STORED = {"smua.source.output": {2: 0}}


@pytest.fixture
def smu():
    return Keithley2600BSim(None, "smu", "GPIB0::26::INSTR")


def _run(smu, chunk: str) -> list[str]:
    smu.write(chunk.encode() + b"\n")
    out = []
    while len(smu.errors):
        out.append(smu.errors.pop())
    return out


def _value(smu, ref: str) -> float:
    smu.write(f"print({ref})\n".encode())
    reply = smu.read().decode().strip()
    return {"true": 1.0, "false": 0.0}.get(reply, None) if reply in ("true", "false") else float(reply)


def _bad(row: Attr) -> list:
    """Values the row must refuse, from what it declares (plus a string: never a number)."""
    out = ["'x'", "0/0"]
    if row.kind in (NUM, INT):
        out += [repr(row.hi + abs(row.hi) / 2 + 1), repr(row.lo - abs(row.lo) / 2 - 1)]
        if row.kind == INT:
            out.append(repr(row.lo + 0.5))
    elif row.kind == ONE_OF:
        out += [repr(max(row.choices) + 1), repr(min(row.choices) - 1), repr(row.choices[0] + 0.5)]
    elif row.kind == RANGE:
        out.append(repr(row.ranges[-1] * 2))
    elif row.kind == DELAY:
        out += ["-2", "2e4"]
    return out


def _good(row: Attr) -> list[tuple[float, float]]:
    """(value written, value read back) pairs the row must accept."""
    if row.kind == NUM:
        # the ends are in; a level's ends (the top range's 1 % over-range) only on a fixed range
        ends = (0.02, 0.98) if row.hook else (0.0, 1.0)
        return [(row.lo + (row.hi - row.lo) * f, row.lo + (row.hi - row.lo) * f) for f in (ends[0], 0.37, ends[1])]
    if row.kind == INT:
        return [(v, v) for v in (row.lo, round(row.lo + (row.hi - row.lo) * 0.37), row.hi)]
    if row.kind == ONE_OF:
        return [(c, c) for c in row.choices]
    if row.kind == RANGE:       # a value selects the smallest range holding it
        return [(r * 0.7, r) for r in row.ranges] + [(-row.ranges[0], row.ranges[0])]
    if row.kind == DELAY:
        return [(-1, -1), (0, 0), (0.25, 0.25), (1e4, 1e4)]
    return []


def test_every_attribute_is_declared_once_and_the_api_is_the_manuals():
    assert Source.TSP_API == ("levelv", "leveli", "limitv", "limiti", "rangev", "rangei", "autorangev", "autorangei",
                              "lowrangev", "lowrangei", "func", "output", "offmode", "offlimiti", "delay", "settling",
                              "compliance", "highc")
    assert Source.TSP_SETTABLE == tuple(n for n in Source.TSP_API if n != "compliance")
    assert Measure.TSP_SETTABLE == ("nplc", "rangev", "rangei", "autorangev", "autorangei", "lowrangev",
                                    "lowrangei", "count", "delay", "interval", "autozero")
    assert Measure.TSP_API == Measure.TSP_SETTABLE + ("i", "v", "r", "p", "iv")
    assert "sense" in SMUChannel.TSP_SETTABLE
    for _, _, rows in TABLES:
        names = [r.name for r in rows]
        assert len(names) == len(set(names))
    for path, _, row in ROWS:      # every settable row has a finite check (no row accepts anything)
        if row.kind in (NUM, INT):
            assert math.isfinite(row.lo) and math.isfinite(row.hi), f"{path}.{row.name}"
        assert row.kind != ONE_OF or row.choices
        assert row.kind != RANGE or row.ranges


@pytest.mark.parametrize("path, what, row", ROWS, ids=IDS)
def test_each_row_refuses_what_it_must_and_keeps_its_value(smu, path, what, row):
    ref = f"{path}.{row.name}"
    if row.kind == READ:
        errors = _run(smu, f"{ref} = 1")
        assert len(errors) == 1 and errors[0].startswith("-286") and "read-only" in errors[0]
        return
    before = _value(smu, ref)
    for bad in _bad(row):
        errors = _run(smu, f"{ref} = {bad}")
        assert len(errors) == 1, (bad, errors)
        assert errors[0].startswith("-222,") and f"{what}.{row.name}" in errors[0], (bad, errors)
        assert _value(smu, ref) == before, bad


@pytest.mark.parametrize("path, what, row", [r for r in ROWS if r[2].kind != READ], ids=[
    i for i, r in zip(IDS, ROWS) if r[2].kind != READ])
def test_each_row_round_trips_what_it_accepts(smu, path, what, row):
    ref = f"{path}.{row.name}"
    for value, expected in _good(row):
        expected = STORED.get(ref, {}).get(value, expected)
        assert _run(smu, f"{ref} = {value!r}") == [], value
        assert _value(smu, ref) == pytest.approx(expected, rel=1e-5, abs=1e-30), value
        for other, x in row.sets:       # a fixed range turns its autorange off
            assert _value(smu, f"{path}.{other}") == x
    smu.reset()
    if row.default is not None:        # reset() restores the row's default (before the interlock)
        assert _value(smu, ref) == pytest.approx(row.default, rel=1e-5)


def test_the_interlocked_attributes_are_refused_outside_the_bench_limits(smu):
    """Principle 11: every level and limit a script can set is held to the bench file, on the
    instrument path itself.  A row that lost its coupling fails here."""
    held = {r.name for r in SOURCE_ATTRIBUTES if r.interlock or (r.hook and r.hook.__name__ in
                                                                     ("_set_levelv", "_set_leveli"))}
    assert held == {"levelv", "leveli", "limitv", "limiti"}
    smu.set_limits({"hi": (1.0, 1e-3), "b": (1.0, 1e-3)})
    for name, inside, outside in (("levelv", 0.5, 1.5), ("leveli", 5e-4, 2e-3), ("limitv", 0.5, 1.5),
                                  ("limiti", 5e-4, 2e-3)):
        assert _run(smu, f"smua.source.levelv = 0 smua.source.output = 1 smua.source.{name} = {inside}") == []
        errors = _run(smu, f"smua.source.{name} = {outside}")
        assert len(errors) == 1 and errors[0].startswith("-222,") and "bench limit" in errors[0], errors
        assert smu.outputs_on() == []                    # an interlock trip switches the outputs off
        assert _value(smu, f"smua.source.{name}") == pytest.approx(inside)


def test_the_line_coupled_attributes_go_through_change(smu, monkeypatch):
    """A write that can change what the output line sees applies the level held so far
    first (SMUChannel.change); the others do not touch the line."""
    calls = []
    real = SMUChannel.change
    monkeypatch.setattr(SMUChannel, "change", lambda ch, apply, reset=False: (calls.append(1),
                                                                              real(ch, apply, reset)))
    through = set()
    for path, _, row in ROWS:
        good = _good(row)
        if not good:
            continue
        calls.clear()
        assert _run(smu, f"{path}.{row.name} = {good[-1][0]!r}") == []
        if calls:
            through.add(f"{path}.{row.name}")
        smu.reset()
    assert through == {"smua.source.levelv", "smua.source.leveli", "smua.source.func", "smua.source.output",
                       "smua.source.offmode"}


def test_the_docs_table_lists_every_row():
    text = (Path(__file__).resolve().parents[1] / "docs" / "simulated-instruments.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| `smuX")]
    for path, _, row in ROWS:
        node = path.replace("smua", "smuX")
        assert any(f"`{node}.{row.name}`" in line or (f"`{node}." in line and f"`{row.name}`" in line)
                   for line in table), f"{node}.{row.name} is not in docs/simulated-instruments.md"
