"""Errors are the instrument's: malformed, unsupported and random messages to every
simulated instrument get entries from its documented error list in its own words, and no
reply or error entry ever carries Python vocabulary (exception names, reprs, paths)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labbench.sim import SimWorld
from tests.test_tsp_sandbox import _python_words

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
