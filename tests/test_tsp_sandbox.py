"""The simulated 2600B as a sealed box (principle 11): hostile TSP reaches the instrument's
documented behaviour and nothing of the host.

Every message here is what a PyVISA client could write.  For each: no host effect (an
audit hook watches for files, processes, code compilation and imports while the
instrument runs it), an entry in the error queue, no Python vocabulary in any reply, and
the instrument still answers afterwards.  Hangs that a Lua count hook cannot see are
stopped in bounded wall time with the outputs off.
"""
from __future__ import annotations

import re
import sys
import time

import pytest

from labbench.sim import SimWorld

_EVENTS: list[tuple[str, tuple]] = []
_WATCH = {"on": False}
_HOST_EVENTS = ("open", "os.", "subprocess.", "exec", "compile", "import", "socket.", "shutil.", "ctypes.",
                "sys._getframe", "object.__getattr__", "builtins.input", "code.__new__", "function.__new__")


def _audit(event, args):
    if _WATCH["on"] and event.startswith(_HOST_EVENTS):
        _EVENTS.append((event, args))


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one only records while _WATCH is on

# Words that only Python (never a 2600B) would say
PYTHON_WORDS = re.compile(
    r"Traceback|Error:|Exception|object has no attribute|__\w+__|\.py\b|<function|<bound|<class|"
    r"builtins|lupa|labbench|NoneType|\bself\b|_LuaTable|Python| at 0x")

GLOBALS = ["print", "printbuffer", "printnumber", "delay", "waitcomplete", "exit", "reset", "format", "errorqueue",
           "timer", "timer.measure", "timer.measure.t", "script", "script.user", "display", "beeper", "localnode",
           "status", "status.measurement.instrument.smua", "smua", "smub", "smua.source", "smua.measure",
           "smua.measure.i", "smua.nvbuffer1", "smua.nvbuffer1.readings", "smua.reset", "localnode.reset",
           "trigger", "trigger.timer", "trigger.timer[1]", "trigger.blender[1]", "trigger.blender[1].stimulus",
           "smua.trigger", "smua.trigger.source", "smua.trigger.measure", "smua.trigger.initiate", "display.trigger"]
FUNCTIONS = {"print", "printbuffer", "printnumber", "delay", "waitcomplete", "exit", "reset", "timer.measure.t",
             "smua.measure.i", "smua.reset", "localnode.reset", "smua.trigger.initiate"}
DUNDERS = ["__class__", "__func__", "__globals__", "__init__", "__dict__", "__self__", "__builtins__",
           "__getattribute__", "__reduce_ex__", "__subclasses__", "__code__", "__module__", "_inst", "_ch", "_engine",
           "inst", "world", "guard", "limits", "engine", "_fn", "fn"]

ESCAPES = [
    # the hold-out's shell command through print's function globals
    'print.__func__.__globals__["__builtins__"]["__import__"]("os").system("id > /tmp/labbench_pwned")',
    # another instrument's state through the exposed node object
    'localnode._inst.world.instruments["pg"].state[1] = 9.5',
    # replacing the instrument's safety guard
    'localnode._inst.guard = function() end',
    'smua.inst.guard = function() end',
    'smua._ch.inst.limits = {}',
    # an exception object caught by pcall is a way in if it is Python
    'local ok, e = pcall(function() smua.source.levelv = 1e9 end); print(e.__traceback__.tb_frame)',
    'local ok, e = pcall(function() smua.source.levelv = 1e9 end); '
    'print(e.__class__.__init__.__globals__["__builtins__"])',  # e is a string: string.__class__ is nil
    # lupa's own escape hatches, if they were left in
    'python.eval("__import__(\'os\')")', 'python.builtins.open("/etc/passwd")',
    'require("os")', 'os.execute("id")', 'io.open("/etc/passwd")', 'load("return 1")()',
    'dofile("/etc/passwd")', 'debug.getregistry()', 'package.loadlib("libc.so.6", "system")',
    'string.dump(print)',
    # reading upvalues of the closures that stand for host objects
    'debug.getupvalue(print, 1)',
    # metatables of the proxies
    'getmetatable(smua).__index = nil', 'setmetatable(smua, {})',
    # method table of a column and its python methods
    'smua.nvbuffer1.readings.values()', 'smua.nvbuffer1.readings.__len__()',
    # a proxy as an argument where a function is expected, a function where a value is
    'smua.source.levelv = print', 'smua.source.levelv = {}', 'display.settext(smua)',
    # read-only fields and methods overwritten
    'smua.reset = function() end', 'localnode.model = "x"', 'errorqueue.count = 0',
]


@pytest.fixture
def smu():
    w = SimWorld()
    inst = w.add("keithley2600b", "smu", "GPIB0::26::INSTR")
    w.add("keysight81160a", "pg", "GPIB0::10::INSTR")
    return inst


def _run(inst, text: str) -> tuple[list[str], list[str]]:
    """Write ``text``; the replies and the error queue it left."""
    _EVENTS.clear()
    _WATCH["on"] = True
    try:
        inst.write(text.encode() + b"\n")
    finally:
        _WATCH["on"] = False
    replies = []
    while (r := inst.read()) is not None:
        replies.append(r.decode("ascii", "replace"))
    errors = []
    while len(inst.errors):
        errors.append(inst.errors.pop())
    return replies, errors


def _python_words(reply: str, script: str = "") -> list[str]:
    """Python words in a reply that the script did not write itself (Lua quotes a field
    name the script used: that is the instrument's answer, not the host's)."""
    return [m.group() for m in PYTHON_WORDS.finditer(reply) if m.group() not in script]


def _sealed(inst, text: str) -> None:
    replies, errors = _run(inst, text)
    assert _EVENTS == [], f"host effect from {text!r}: {_EVENTS}"
    assert errors, f"{text!r} left no instrument error (replies {replies})"
    for line in replies + errors:
        assert not _python_words(line, text), f"{text!r} answered with Python: {line!r}"
    assert _run(inst, "print(localnode.model)") == (["2636B\n"], [])


@pytest.mark.parametrize("text", ESCAPES)
def test_known_escapes_reach_nothing_of_the_host(smu, text, tmp_path):
    _sealed(smu, text)
    _sealed(smu, f"local ok, e = pcall(function() {text} end); if not ok then error(e) end")
    import os

    assert not os.path.exists("/tmp/labbench_pwned")
    assert smu.world.instruments["pg"].outputs_on() == []


@pytest.mark.parametrize("name", GLOBALS)
def test_no_exposed_global_has_python_attributes(smu, name):
    for attr in DUNDERS:
        _sealed(smu, f"x = {name}.{attr}")
        _sealed(smu, f'x = {name}["{attr}"]')
        # caught by a pcall, the attempt is still in the queue, and the error is a string
        replies, errors = _run(smu, f'local ok, e = pcall(function() return {name}.{attr} end); print(ok, type(e))')
        assert replies == ["false\tstring\n"], (name, attr, replies)
        # a proxy reports the attempt even when it is caught; a function is a Lua value
        # (indexing it is a plain Lua error, which a pcall may keep to itself)
        assert errors or name in FUNCTIONS, (name, attr)


@pytest.mark.parametrize("name", GLOBALS)
def test_what_a_script_can_print_of_a_global_is_instrument_words(smu, name):
    replies, errors = _run(smu, f"print({name}, type({name}), tostring({name}))")
    assert errors == []
    assert not _python_words(replies[0]), replies


def test_the_documented_api_still_works_through_the_proxies(smu):
    replies, errors = _run(smu, "smua.source.func = smua.OUTPUT_DCVOLTS; smua.source.levelv = 0.5; "
                                "smua.source.limiti = 1e-4; smua.nvbuffer1.clear(); smua.measure.count = 3; "
                                "smua.measure.i(smua.nvbuffer1); print(smua.nvbuffer1.n, #smua.nvbuffer1.readings, "
                                "smua.nvbuffer1.readings[1], smua.source.levelv, smua.OUTPUT_ON, localnode.model); "
                                "printbuffer(1, 3, smua.nvbuffer1.readings); printbuffer(1, 1, smua.nvbuffer1)")
    assert errors == []
    assert replies[0].split("\t")[:2] == ["3.00000e+00", "3.00000e+00"] and "2636B" in replies[0]
    assert len(replies) == 3
    # errorqueue.next() gives back the code and message of a refused value
    replies, errors = _run(smu, "smua.source.levelv = 500")
    assert errors and errors[0].startswith("-222")


# what each does: "stopped" (by the time budget or refused before it could hang: an
# error, outputs off), "error" (a plain Lua error), "harmless" (made to finish at once)
HANGS = {
    "gc finalizer loop": ("setmetatable({}, {__gc = function() while true do end end}); collectgarbage()", "stopped"),
    "gc field set later": ("local mt = {__gc = false}; setmetatable({}, mt); mt.__gc = function() "
                           "while true do end end", "stopped"),
    "coroutine loop": ("while true do local co = coroutine.wrap(function() while true do end end); pcall(co) end",
                       "stopped"),
    "coroutine that swallows": ("local co = coroutine.create(function() while true do pcall(function() "
                                "while true do end end) end end); while true do coroutine.resume(co) end", "stopped"),
    "xpcall handler loop": ("while true do xpcall(function() error('x') end, function() while true do end end) end",
                            "stopped"),
    "pcall loop": ("while true do pcall(function() while true do end end) end", "stopped"),
    "pattern backtracking": ("string.find(string.rep('a', 100000), '.-.-.-.-.-.-.-.-.-b')", "stopped"),
    "pattern, method call": ("local s = string.rep('a', 30000); s:match('(.-)(.-)(.-)x')", "stopped"),
    "pattern in pcall": ("pcall(string.gsub, string.rep('a', 50000), '.*.*.*b', '')", "stopped"),
    "gsub backtracking": ("string.gsub(string.rep('a', 50000), '.*.*.*b', '')", "stopped"),
    "rep of nothing": ("string.rep('', 1e15)", "harmless"),
    "rep of nothing, method": ("x = (''):rep(1e15, '')", "harmless"),
    "table.move": ("table.move({}, 1, 1e15, 2)", "stopped"),
    "to-be-closed loop": ("do local x <close> = setmetatable({}, {__close = function() while true do end end}) end",
                          "stopped"),
    "tostring loop": ("print(setmetatable({}, {__tostring = function() while true do end end}))", "stopped"),
    "error object loop": ("error(setmetatable({}, {__tostring = function() while true do end end}))", "error"),
    "index loop": ("local t = setmetatable({}, {__index = function(t, k) while true do end end}); return t.x",
                   "stopped"),
    "memory": ("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end", "stopped"),
    "sort loop": ("local t = {} for i = 1, 100 do t[i] = i end; table.sort(t, function(a, b) while true do end end)",
                  "stopped"),
    "exit caught": ("while true do pcall(exit) end", "harmless"),
    "readings past the timeout": ("smua.measure.nplc = 25 smua.measure.count = 60000 smua.measure.i()", "stopped"),
    # the trigger model's own loop (Python, no Lua hook): timers and blenders that drive each other
    "trigger storm": ("trigger.blender[1].orenable = true trigger.blender[1].stimulus[1] = smua.trigger.ARMED_EVENT_ID "
                      "trigger.blender[1].stimulus[2] = trigger.timer[1].EVENT_ID trigger.timer[1].delay = 1e-6 "
                      "trigger.timer[1].count = 2 trigger.timer[1].stimulus = trigger.blender[1].EVENT_ID "
                      "smua.trigger.source.stimulus = display.trigger.EVENT_ID smua.trigger.source.listv({0.1}) "
                      "smua.trigger.source.action = 1 smua.trigger.initiate()", "stopped"),
    "trigger self-loop": ("trigger.blender[1].orenable = true trigger.blender[1].stimulus[1] = smua.trigger.ARMED_EVENT_ID "
                          "trigger.blender[1].stimulus[2] = trigger.timer[1].EVENT_ID trigger.timer[1].delay = 1e-6 "
                          "trigger.timer[1].stimulus = trigger.blender[1].EVENT_ID "
                          "smua.trigger.source.stimulus = display.trigger.EVENT_ID smua.trigger.source.listv({0.1}) "
                          "smua.trigger.source.action = 1 smua.trigger.initiate()", "stopped"),
}


@pytest.mark.parametrize("text, outcome", HANGS.values(), ids=HANGS.keys())
def test_scripts_that_never_yield_stop_in_bounded_time_with_outputs_off(smu, text, outcome):
    smu.write(b"smua.source.output = 1; smub.source.output = 1")
    assert smu.outputs_on() == ["hi", "b"]
    t0 = time.perf_counter()
    replies, errors = _run(smu, text)
    assert time.perf_counter() - t0 < 10, text
    assert _EVENTS == []
    if outcome == "stopped":
        assert errors and errors[0].startswith("-286"), errors
        assert smu.outputs_on() == [], text
    elif outcome == "error":
        assert errors
    else:
        assert errors == []
    for line in replies + errors:
        assert not _python_words(line, text), line
    assert _run(smu, "print(1 + 1)") == (["2.00000e+00\n"], [])


def test_a_signal_inside_a_script_is_not_swallowed_by_pcall(smu):
    """Ctrl-C/SIGTERM while a script runs: the script's pcall does not catch it; the
    outputs go off and the interrupt reaches the caller."""
    calls = {"n": 0}
    real = smu.now

    def now():
        calls["n"] += 1
        if calls["n"] == 50:
            raise KeyboardInterrupt
        return real()

    smu.write(b"smua.source.output = 1")
    smu.engine.clock = now
    with pytest.raises(KeyboardInterrupt):
        smu.write(b"while true do pcall(function() timer.measure.t() end) end\n")
    smu.engine.clock = real
    assert smu.outputs_on() == []


def test_reasonable_patterns_still_work(smu):
    replies, errors = _run(smu, "print(string.find('smua.source.levelv', '%.(%w+)%.'), "
                                "(string.gsub(string.rep('ab,', 2000), ',', ';')):sub(1, 6), "
                                "('x = 1.5'):match('=%s*([%d%.]+)'))")
    assert errors == []
    assert replies == ["5.00000e+00\tab;ab;\t1.5\n"]  # a call inside the list gives one value
