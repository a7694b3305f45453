"""Errors are the instrument's: malformed, unsupported and random messages to every
simulated instrument get entries from its documented error list in its own words, and no
reply or error entry ever carries Python vocabulary (exception names, reprs, paths)."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labbench.sim import SimWorld
from tests.test_tsp_sandbox import PYTHON_WORDS

# What only Python says, beyond the sandbox corpus's words: exception class names, reprs
# of None and booleans, object addresses, dunders, file paths
MORE_PYTHON = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*(?:Error|Exception)\b|\bNone\b|\bTrue\b|\bFalse\b|"
                         r"0x[0-9a-fA-F]{4,}|__\w+|\.py\b|object at|Lua table|\bdict\b|\btuple\b")


def _python_words(reply: str, script: str = "") -> list[str]:
    """Python words in a reply that the script did not write itself."""
    found = [m.group() for rx in (PYTHON_WORDS, MORE_PYTHON) for m in rx.finditer(reply)]
    return [w for w in found if w not in script]

MODELS = {"keithley2450": "GPIB0::24::INSTR", "keysight81160a": "GPIB0::10::INSTR",
          "keysight_b220x": "GPIB0::22::INSTR", "keithley2600b": "GPIB0::26::INSTR"}

MALFORMED = [
    ":SOUR:VOLT abc", ":SOUR:VOLT 1e999", ":SOUR:VOLT nan", ":SOUR:VOLT", ":SOUR:VOLT 1,2,3", ":SOUR:VOLT #H1G",
    ":SENS:CURR:NPLC -1", ":NOSUCH:COMMAND 1", "*IDN? extra", ":VOLT1:HIGH 1e308", ":PULS:WIDT1 -1",
    ":OUTP1:LOAD 5e9", ":CLOS (@99999)", ":CLOS (@1010", ":CONN:RULE 9,XX", "::::", ";;;", ":SOUR:VOLT 1;:SOUR:",
    "\x7f\x01", "*RST;*IDN?;:SYST:ERR?", ":DATA:DAC VOLATILE, #3123abc", ":APPL1:PULS 1e9, 99, 99",
    # TSP on the 2600B: unsupported fields, bad types, syntax
    "smua.source.nosuch = 1", "smua.source.levelv = 'x'", "smua.source.levelv = {}", "print(", "smua.trigger.initiate()",
    "error(nil)", "error({})", "error(setmetatable({}, {__tostring = function() return 'x' end}))",
    "printbuffer(1, 2)", "printbuffer('a', 'b', smua.nvbuffer1)", "delay('x')", "script.new(1, 2)",
]


def _replies_and_errors(inst, message: str) -> list[str]:
    inst.write(message.encode("latin-1", "replace") + b"\n")
    out = []
    while (r := inst.read()) is not None:
        out.append(r.decode("ascii", "replace"))
    while len(inst.errors):
        out.append(inst.errors.pop())
    return out


@pytest.mark.parametrize("model", sorted(MODELS))
def test_malformed_messages_get_the_instruments_own_words(model):
    inst = SimWorld().add(model, "x", MODELS[model])
    for message in MALFORMED:
        for line in _replies_and_errors(inst, message):
            assert not _python_words(line, message), (model, message, line)


@pytest.mark.parametrize("model", sorted(MODELS))
@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60))
def test_random_messages_never_answer_in_python(model, message):
    inst = SimWorld().add(model, "x", MODELS[model])
    for line in _replies_and_errors(inst, message):
        assert not _python_words(line, message), (model, message, line)


# -- every field and function of the 2600B, with every kind of wrong value ------------------
BAD_VALUES = ["nil", "'x'", "{}", "{1, 2}", "smua", "smua.source", "smua.nvbuffer1", "print", "true", "0/0", "1e999",
              "-1e999", "trigger.timer[1]"]


def _tsp_surface(inst):
    """(path, 'set' | 'call') for every field a script can set and every function it can
    call on the simulated 2600B, walked from its globals through the classes' TSP_API."""
    out, seen = [], set()

    def walk(obj, path):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        cls = type(obj)
        if getattr(cls, "TSP_INDEXED", False) and hasattr(cls, "__len__") and not hasattr(obj, "add") \
                and len(obj) and hasattr(type(obj[1]), "TSP_API"):
            walk(obj[1], f"{path}[1]")
        settable = getattr(cls, "TSP_SETTABLE", ())
        for name in cls.TSP_API:
            try:
                value = getattr(obj, name)
            except Exception:  # noqa: BLE001 - a field that only exists on the instrument side
                continue
            if hasattr(type(value), "TSP_API"):
                walk(value, f"{path}.{name}")
            elif callable(value):
                out.append((f"{path}.{name}", "call"))
            elif name in settable:
                out.append((f"{path}.{name}", "set"))

    for name, obj in inst.tsp_globals.items():
        if hasattr(type(obj), "TSP_API"):
            walk(obj, name)
        else:
            out.append((name, "call"))
    engine = inst.engine
    for name, obj in (("format", engine.format), ("timer", engine.timer), ("script", engine.script)):
        walk(obj, name)
    return out


FACTORY = ["SweepVLinMeasureI", "SweepVLogMeasureI", "SweepVListMeasureI", "SweepILinMeasureV", "SweepILogMeasureV",
           "SweepIListMeasureV", "PulseVMeasureI", "PulseIMeasureV", "ConfigPulseVMeasureI", "ConfigPulseIMeasureV",
           "ConfigPulseVMeasureISweepLin", "ConfigPulseIMeasureVSweepLin", "ConfigPulseVMeasureISweepLog",
           "ConfigPulseIMeasureVSweepLog", "InitiatePulseTest", "QueryPulseConfig"]


def test_every_field_and_function_answers_wrong_values_in_the_instruments_words():
    """Each settable field set to, and each function called with, each kind of wrong value
    (nil, strings, tables, instrument objects, functions, booleans, NaN, infinities): the
    replies and error queue hold the instrument's words, never a Python repr or class name."""
    inst = SimWorld().add("keithley2600b", "x", MODELS["keithley2600b"])
    inst.visa_timeout = 0.05
    surface = _tsp_surface(inst)
    assert len([p for p, k in surface if k == "set"]) > 60 and len([p for p, k in surface if k == "call"]) > 30
    messages = []
    for path, kind in surface:
        for bad in BAD_VALUES:
            messages.append(f"{path} = {bad}" if kind == "set" else f"{path}({bad})")
        if kind == "call":
            messages.append(f"{path}(smua, {BAD_VALUES[1]}, {{}}, print)")
    for fn in FACTORY:
        messages += [f"{fn}({bad})" for bad in BAD_VALUES]
        messages += [f"{fn}(smua, {bad}, {bad}, {bad}, {bad}, {bad}, {bad}, {bad}, {bad})" for bad in BAD_VALUES]
        messages.append(f"{fn}(smub, 0, 1, 1e-3, 1e-3, 1e-3, 2, smub.nvbuffer1, 'tag')")
    errors = 0
    for message in messages:
        for line in _replies_and_errors(inst, message):
            errors += line.startswith("-")
            assert not _python_words(line, message), (message, line)
    assert errors > len(messages) // 2       # most of them are refused, in words
    assert _replies_and_errors(inst, "print(localnode.model)") == ["2636B\n"]


SCPI_BAD = ["abc", "1e999", "nan", "", "#H1G", "(@99999)", "'x", "\"x", "1,2,3,4,5,6,7,8", "-1e308", "ON,OFF",
            "MAX,MIN", "#B102", "1 V", "9.9E37", "-0", "DEF,1"]


def _concrete(pattern: str) -> str:
    """A header of the table in its long form: optional parts dropped, suffixes 1."""
    while "[" in pattern:
        i = pattern.rindex("[")
        pattern = pattern[:i] + pattern[pattern.index("]", i) + 1:]
    return pattern.replace("#", "1")


@pytest.mark.parametrize("model", ["keithley2450", "keysight81160a", "keysight_b220x"])
def test_every_scpi_header_answers_wrong_values_in_the_instruments_words(model):
    """Each header of the instrument's command table, set and queried with each kind of
    wrong value: the instrument's error list in its own words, never Python."""
    inst = SimWorld().add(model, "x", MODELS[model])
    commands = inst._table.commands
    assert len(commands) > 20
    sent = refused = 0
    for c in commands:
        h = _concrete(c.pattern)
        for bad in SCPI_BAD:
            for message in ([f"{h} {bad}"] if c.setter else []) + ([f"{h}? {bad}"] if c.query else []):
                sent += 1
                lines = _replies_and_errors(inst, message)
                refused += any(line.startswith("-") for line in lines)
                for line in lines:
                    assert not _python_words(line, message), (message, line)
    assert refused > sent // 2
    assert _replies_and_errors(inst, "*IDN?")[0].count(",") == 3
