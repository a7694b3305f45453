"""TSP (Keithley's Test Script Processor) for simulated instruments: a real Lua interpreter.

Chunks run in Lua through lupa (principle 8: never a hand-made parser for a subset of
Lua).  The engine gives a sandbox with what a Series 2600B offers around the instrument
objects: ``print`` and ``printbuffer`` (TSP number formatting, ``format.data`` ASCII or
REAL32/REAL64 with ``format.byteorder``), ``errorqueue``, ``delay``, ``timer``,
``waitcomplete``, ``exit``, and script management (``loadscript``/``loadandrunscript``
... ``endscript``, named and anonymous scripts, ``script.delete``).  Host libraries that
reach outside the instrument (``io``, ``os``, ``require``, ``load``, ``debug``, lupa's
``python``) are removed.

Instrument time: Lua work is charged at ``LUA_SECONDS_PER_INSTRUCTION`` when a chunk
ends (not in the middle, so a ``delay()`` between two level changes is the pulse width
exactly).  A chunk whose instrument time passes the VISA timeout is stopped with
-286, its outputs are switched off by the instrument's ``abort_outputs`` hook, and
nothing it printed is kept: the driver's read times out, the bench stays usable.
"""
from __future__ import annotations

import math
import struct
from typing import Callable

from lupa.lua54 import LuaError, LuaRuntime, LuaSyntaxError

from .scpi import SCPIError

# A 2600B's Lua runs roughly a million simple VM instructions per second (order of
# magnitude; the instrument's processor is far slower than a PC's)
LUA_SECONDS_PER_INSTRUCTION = 1e-6
HOOK_EVERY = 1000                  # instructions between budget checks
MAX_MEMORY = 64 * 2 ** 20          # bytes of Lua heap (the 2600B has far less)


class TSPError(Exception):
    """An error the instrument reports in its queue (code, message)."""

    def __init__(self, code: int, message: str):
        super().__init__(code, message)
        self.code, self.message = code, message


class ScriptTimeout(Exception):
    """A chunk ran past its budget of instrument time."""


def tsp_number(x: float, digits: int = 6) -> str:
    """A number as TSP prints it (``format.asciiprecision`` significant digits)."""
    if isinstance(x, bool):
        return "true" if x else "false"
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{max(1, digits) - 1}e}"


class _Format:
    """The ``format`` table: how print/printbuffer write numbers."""

    __slots__ = ("_data", "_byteorder", "_asciiprecision")
    ASCII, REAL32, REAL64, REAL = 1, 4, 8, 8
    NORMAL, BIGENDIAN, NETWORK, SWAPPED, LITTLEENDIAN = 0, 0, 0, 1, 1

    def __init__(self):
        self._data, self._byteorder, self._asciiprecision = 1, 0, 6

    @property
    def data(self):
        return self._data

    @data.setter
    def data(self, v):
        if v not in (1, 4, 8):
            raise TSPError(-222, "format.data must be format.ASCII, format.REAL32 or format.REAL64")
        self._data = int(v)

    @property
    def byteorder(self):
        return self._byteorder

    @byteorder.setter
    def byteorder(self, v):
        if v not in (0, 1):
            raise TSPError(-222, "format.byteorder must be format.NORMAL or format.SWAPPED")
        self._byteorder = int(v)

    @property
    def asciiprecision(self):
        return self._asciiprecision

    @asciiprecision.setter
    def asciiprecision(self, v):
        if not (isinstance(v, (int, float)) and 1 <= v <= 16):
            raise TSPError(-222, "format.asciiprecision must be 1..16")
        self._asciiprecision = int(v)


class _ErrorQueue:
    """``errorqueue``: count, next(), clear() over the instrument's error queue."""

    __slots__ = ("_inst",)

    def __init__(self, inst):
        self._inst = inst

    @property
    def count(self):
        return len(self._inst.errors)

    def next(self):
        q = self._inst.errors._q
        if not q:
            return 0, "Queue Is Empty", 0, 0
        e = q.popleft()
        return e.code, e.entry().split(",", 1)[1].strip('"'), 2, 1

    def clear(self):
        self._inst.errors.clear()


class _Timer:
    __slots__ = ("_clock", "_t0", "measure")

    def __init__(self, clock):
        self._clock, self._t0 = clock, 0.0
        self.measure = _TimerMeasure(self)

    def reset(self):
        self._t0 = self._clock()


class _TimerMeasure:
    __slots__ = ("_timer",)

    def __init__(self, timer):
        self._timer = timer

    def t(self):
        return self._timer._clock() - self._timer._t0


class Script:
    """A loaded script: ``name()`` or ``name.run()`` runs it; ``.source`` is its text."""

    __slots__ = ("name", "source", "_fn", "autorun")

    def __init__(self, name: str, source: str, fn):
        self.name, self.source, self._fn, self.autorun = name, source, fn, "no"

    def run(self):
        return self._fn()

    def __call__(self):
        return self._fn()

    def save(self, *args):
        return None  # non-volatile storage: scripts are kept for the session anyway


class _Scripts:
    """``script``: the user scripts, ``script.delete(name)``, ``script.anonymous``."""

    __slots__ = ("_engine", "user", "anonymous")

    def __init__(self, engine):
        self._engine = engine
        self.user = _UserScripts(engine)
        self.anonymous = None

    def delete(self, name):
        self._engine.delete_script(str(name))

    def new(self, source, name=""):
        return self._engine.store_script(str(name), str(source))


class _UserScripts:
    __slots__ = ("_engine",)

    def __init__(self, engine):
        self._engine = engine

    @property
    def scripts(self):
        return self._engine.lua.table_from(dict(self._engine.scripts))

    def catalog(self):
        return self._engine.lua.table_from(list(self._engine.scripts))


class TSPEngine:
    """One instrument's Lua state and the TSP runtime around it.

    ``instrument_globals`` maps the instrument's own names (``smua``, ``localnode``,
    ``status``, ``reset``, ...) to Python objects; ``clock`` returns instrument time;
    ``advance(dt)`` spends it; ``output(line: bytes)`` queues a reply.
    """

    def __init__(self, inst, instrument_globals: dict, clock: Callable[[], float],
                 advance: Callable[[float], None], output: Callable[[bytes], None]):
        self.inst = inst
        self.clock, self.advance, self.output = clock, advance, output
        self.lua = LuaRuntime(unpack_returned_tuples=True, register_eval=False, register_builtins=False,
                              max_memory=MAX_MEMORY)
        g = self.lua.globals()
        self._install_hook(g)
        for name in ("io", "os", "require", "dofile", "loadfile", "load", "package", "debug", "python",
                     "collectgarbage"):
            g[name] = None
        self.format = _Format()
        self.scripts: dict[str, Script] = {}
        self.script = _Scripts(self)
        self.timer = _Timer(clock)
        g.print = self._print
        g.printbuffer = self._printbuffer
        g.printnumber = self._printnumber
        g.format = self.format
        g.errorqueue = _ErrorQueue(inst)
        g.delay = self._delay
        g.timer = self.timer
        g.waitcomplete = lambda *a: None  # every operation completes synchronously
        g.opc = lambda: None
        g.exit = self._exit
        g.script = self.script
        for k, v in instrument_globals.items():
            g[k] = v
        self.budget = 2.0          # s of instrument time a chunk may take (the VISA timeout)
        self._spent = 0            # Lua instructions in the running chunk
        self._start = 0.0
        self._aborted = False
        self._pending: list[bytes] = []
        self.loading: dict | None = None  # a loadscript in progress

    # -- sandbox and budget -----------------------------------------------------------------
    def _install_hook(self, g) -> None:
        # the count hook is the budget check; once a chunk is aborted it fires on every
        # instruction, so a pcall() in the script cannot keep it running
        self._every = HOOK_EVERY
        self._set_every = self.lua.eval(
            "function(sethook, f) return function(n) sethook(function() f() end, '', n) end end"
        )(g.debug.sethook, self._hook)
        self._set_every(HOOK_EVERY)

    def _hook(self):
        self._spent += self._every
        if self._aborted or self._elapsed() > self.budget:
            if not self._aborted:
                self._aborted = True
                self._every = 1
                self._set_every(1)
            raise ScriptTimeout("script ran past the VISA timeout")

    def _elapsed(self) -> float:
        return self.clock() - self._start + self._spent * LUA_SECONDS_PER_INSTRUCTION

    def check_alive(self) -> None:
        """Called by every instrument operation: nothing more happens after an abort."""
        if self._aborted:
            raise ScriptTimeout("script aborted")

    # -- TSP functions ----------------------------------------------------------------------
    def _print(self, *args):
        self.check_alive()
        d = self.format.asciiprecision
        parts = []
        for a in args:
            if a is None:
                parts.append("nil")
            elif isinstance(a, (bool, int, float)):
                parts.append(tsp_number(a, d))
            else:
                parts.append(str(a))
        self._pending.append("\t".join(parts).encode("ascii", "replace") + b"\n")

    def _printnumber(self, *args):
        self.check_alive()
        d = self.format.asciiprecision
        self._pending.append(", ".join(tsp_number(float(a), d) for a in args).encode() + b"\n")

    def _printbuffer(self, start, end, *buffers):
        self.check_alive()
        if not buffers:
            raise TSPError(-109, "printbuffer needs a buffer")
        start, end = int(start), int(end)
        cols = [b.values() if hasattr(b, "values") else list(b) for b in buffers]
        n = min(len(c) for c in cols)
        if not (1 <= start <= end <= n):
            raise TSPError(-222, f"printbuffer index {start}..{end} outside 1..{n}")
        vals = [c[i] for i in range(start - 1, end) for c in cols]
        fmt = self.format
        if fmt.data == 1:
            d = fmt.asciiprecision
            self._pending.append(", ".join(tsp_number(v, d) for v in vals).encode() + b"\n")
        else:
            code = "f" if fmt.data == 4 else "d"
            order = "<" if fmt.byteorder == 1 else ">"
            self._pending.append(b"#0" + struct.pack(f"{order}{len(vals)}{code}", *vals) + b"\n")

    def _delay(self, t):
        self.check_alive()
        t = float(t)
        if not (0 <= t <= 1e5) or math.isnan(t):
            raise TSPError(-222, f"delay({t}) outside 0..100000 s")
        if self._elapsed() + t > self.budget:
            self._aborted = True
            raise ScriptTimeout("script ran past the VISA timeout")
        self.advance(t)

    def _exit(self):
        raise _Exit()

    # -- scripts ------------------------------------------------------------------------------
    def store_script(self, name: str, source: str):
        try:
            fn = self.lua.compile(source)
        except LuaSyntaxError as e:
            raise TSPError(-285, _lua_message(e)) from None
        s = Script(name, source, fn)
        if name:
            self.scripts[name] = s
            self.lua.globals()[name] = s
        else:
            self.script.anonymous = s
        return s

    def delete_script(self, name: str) -> None:
        if name not in self.scripts:
            raise TSPError(-286, f"no script named {name}")
        del self.scripts[name]
        self.lua.globals()[name] = None

    # -- running chunks -----------------------------------------------------------------------
    def message(self, line: str) -> None:
        """One program message: a loadscript keyword, a line of a script being loaded, or
        a chunk of Lua to run now."""
        words = line.strip().split()
        if self.loading is not None:
            if words[:1] == ["endscript"]:
                loading, self.loading = self.loading, None
                source = "\n".join(loading["lines"])
                s = self.store_script(loading["name"], source)
                if loading["run"]:
                    self.run(s.run)
            else:
                self.loading["lines"].append(line)
            return
        if words and words[0] in ("loadscript", "loadandrunscript"):
            if len(words) > 2:
                raise TSPError(-285, f"{words[0]} takes one script name")
            self.loading = {"name": words[1] if len(words) > 1 else "", "lines": [],
                            "run": words[0] == "loadandrunscript"}
            return
        if words[:1] == ["endscript"]:
            raise TSPError(-285, "endscript without loadscript")
        if not line.strip():
            return
        try:
            fn = self.lua.compile(line)
        except LuaSyntaxError as e:
            raise TSPError(-285, _lua_message(e)) from None
        self.run(fn)

    def run(self, fn) -> None:
        """Run a compiled chunk inside the budget; its printed lines reach the output
        queue only if it finishes."""
        self._spent, self._start, self._aborted = 0, self.clock(), False
        if self._every != HOOK_EVERY:
            self._every = HOOK_EVERY
            self._set_every(HOOK_EVERY)
        self._pending = []
        try:
            fn()
        except _Exit:
            pass
        except ScriptTimeout:
            self._finish_cpu()
            self._pending = []
            self.inst.abort_outputs()
            self._aborted = False
            raise TSPError(-286, "script ran past the VISA timeout; outputs off")
        except (TSPError, SCPIError):
            self._finish_cpu()
            self._flush()
            raise
        except LuaError as e:
            self._finish_cpu()
            self._flush()
            raise TSPError(-286, _lua_message(e)) from None
        except MemoryError:
            self._finish_cpu()
            self._pending = []
            raise TSPError(-286, "not enough memory") from None
        except Exception as e:  # noqa: BLE001 - a Python error from an instrument object
            self._finish_cpu()
            self._flush()
            raise TSPError(-286, f"{type(e).__name__}: {e}") from None
        self._finish_cpu()
        self._flush()

    def _finish_cpu(self) -> None:
        self.advance(self._spent * LUA_SECONDS_PER_INSTRUCTION)
        self._spent = 0

    def _flush(self) -> None:
        for line in self._pending:
            self.output(line)
        self._pending = []


class _Exit(Exception):
    """``exit()``: stop the running chunk without an error."""


def _lua_message(e: Exception) -> str:
    """The first line of a Lua error, without lupa's chunk name, in ASCII."""
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    msg = msg.replace('[string "<python>"]:', "line ").replace("error loading code: ", "")
    return msg.encode("ascii", "replace").decode()
