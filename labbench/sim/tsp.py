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
from .tsp_errors import ScriptTimeout, TSPError, lua_message as _lua_message
from .tsp_sandbox import Sandbox, _deny_attributes

# A 2600B's Lua runs roughly a million simple VM instructions per second (order of
# magnitude; the instrument's processor is far slower than a PC's)
LUA_SECONDS_PER_INSTRUCTION = 1e-6
HOOK_EVERY = 1000                  # instructions between budget checks
MAX_MEMORY = 64 * 2 ** 20          # bytes of Lua heap (the 2600B has far less)


def lua_repr(v) -> str:
    """A value a script passed, named as Lua would name it in a message: never a Python
    repr (``None``, ``True``, ``<...SMUChannel object at 0x...>``)."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return f"{v:g}"
    if isinstance(v, str):
        shown = "".join(c if " " <= c <= "~" else "?" for c in v[:40])
        return f'"{shown}"'
    name = getattr(v, "TSP_NAME", None)
    if isinstance(name, str):
        return name                      # an instrument object: its TSP name (smua, smua.source, ...)
    return "a table"


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
    TSP_NAME = "format"
    TSP_API = ("data", "byteorder", "asciiprecision", "ASCII", "REAL32", "REAL64", "REAL", "NORMAL", "BIGENDIAN",
               "NETWORK", "SWAPPED", "LITTLEENDIAN")
    TSP_SETTABLE = ("data", "byteorder", "asciiprecision")
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
    TSP_NAME, TSP_API = "errorqueue", ("count", "next", "clear")

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
    TSP_NAME, TSP_API = "timer", ("reset", "measure")

    def __init__(self, clock):
        self._clock, self._t0 = clock, 0.0
        self.measure = _TimerMeasure(self)

    def reset(self):
        self._t0 = self._clock()


class _TimerMeasure:
    __slots__ = ("_timer",)
    TSP_NAME, TSP_API = "timer.measure", ("t",)

    def __init__(self, timer):
        self._timer = timer

    def t(self):
        return self._timer._clock() - self._timer._t0


class Script:
    """A loaded script: ``name()`` or ``name.run()`` runs it; ``.source`` is its text."""

    __slots__ = ("name", "source", "_fn", "autorun")
    TSP_NAME, TSP_API, TSP_SETTABLE, TSP_CALLABLE = "script", ("name", "source", "run", "autorun", "save"), \
        ("autorun",), True

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
    TSP_NAME, TSP_API = "script", ("delete", "new", "user", "anonymous")

    def __init__(self, engine):
        self._engine = engine
        self.user = _UserScripts(engine)
        self.anonymous = None

    def delete(self, name):
        self._engine.delete_script(_str_arg(name, "script.delete"))

    def new(self, source, name=""):
        return self._engine.store_script(_str_arg(name, "script.new name"), _str_arg(source, "script.new source"))


class _UserScripts:
    __slots__ = ("_engine",)
    TSP_NAME, TSP_API = "script.user", ("scripts", "catalog")

    def __init__(self, engine):
        self._engine = engine

    @property
    def scripts(self):
        return dict(self._engine.scripts)

    def catalog(self):
        return list(self._engine.scripts)


# Safe versions of the standard library functions whose C loops no count hook can stop
# (a hook fires only between Lua instructions): pattern matching is refused when its
# backtracking could outlast any timeout, string.rep of nothing and huge table.move are
# bounded, and a metatable with __gc (finalizers run with hooks off) is refused.
_HARDEN = r"""
local string, table, math, rawget, setmetatable, getmetatable, type, tostring, error, contain = ...
local find, match, gmatch, gsub, rep, move = string.find, string.match, string.gmatch, string.gsub, string.rep, table.move
local MAXCOST = 1e9
local function check(s, p, plain)
  if plain then return end
  if type(s) == "number" then s = tostring(s) end
  if type(p) == "number" then p = tostring(p) end
  if type(s) ~= "string" or type(p) ~= "string" then return end
  local _, nb = gsub(p, "%%b", "")
  local _, nq = gsub(gsub(p, "%%.", ""), "[%*%+%-%?]", "")
  local q = nq + nb
  if (#s + 1) ^ (q + 1) * (#p + 1) > MAXCOST then
    error(contain("pattern with " .. q .. " repetitions is too costly for a " .. #s ..
                  "-character string (it could run past the timeout); outputs off"), 3)
  end
end
string.find = function(s, p, init, plain) check(s, p, plain); return find(s, p, init, plain) end
string.match = function(s, p, init) check(s, p); return match(s, p, init) end
string.gmatch = function(s, p, init) check(s, p); return gmatch(s, p, init) end
string.gsub = function(s, p, r, n) check(s, p); return gsub(s, p, r, n) end
string.rep = function(s, n, sep)
  if type(n) == "number" and n > 0 and type(s) == "string" and #s == 0 and (sep == nil or sep == "") then
    return ""
  end
  return rep(s, n, sep)
end
string.dump = nil
table.move = function(a1, f, e, t, a2)
  if type(f) == "number" and type(e) == "number" and e - f > 1e7 then
    error(contain("table.move of more than 10000000 elements; outputs off"), 2)
  end
  return move(a1, f, e, t, a2)
end
_G.setmetatable = function(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error(contain("__gc metamethods are not supported; outputs off"), 2)
  end
  return setmetatable(t, mt)
end
_G.getmetatable = function(v)
  if type(v) ~= "table" then return nil end
  return getmetatable(v)
end
"""

# The count hook: it asks the engine whether the chunk is over its budget; once it is, it
# fires on every instruction of whichever coroutine runs, so no pcall keeps a script alive.
# Two things a count hook alone misses, handled here: a new coroutine starts without a
# hook (lupa's Lua does not copy it), so coroutine.create/wrap give it one; and an error
# raised by a hook runs an xpcall message handler with hooks off, so once the chunk is
# stopped the script's handler is not called at all.
_HOOK = r"""
local sethook, tick, error, coroutine, xpcall, select, unpack = ...
local every, stopped = 1000, false
local function hook()
  if tick() then
    stopped = true
    sethook(hook, "", 1)
    error("script ran past the VISA timeout", 0)
  end
end
local create, resume, status = coroutine.create, coroutine.resume, coroutine.status
coroutine.create = function(f)
  local co = create(f)
  sethook(co, hook, "", stopped and 1 or every)
  return co
end
coroutine.wrap = function(f)
  local co = coroutine.create(f)
  local function pass(ok, ...)
    if ok then return ... end
    error((...), 0)
  end
  return function(...) return pass(resume(co, ...)) end
end
_G.xpcall = function(f, handler, ...)
  return xpcall(f, function(m)
    if stopped then return m end
    return handler(m)
  end, ...)
end
return function(n)
  every, stopped = n, false
  sethook(hook, "", n)
end
"""


class TSPEngine:
    """One instrument's Lua state and the TSP runtime around it.

    ``instrument_globals`` maps the instrument's own names (``smua``, ``localnode``,
    ``status``, ``reset``, ...) to objects whose classes list their ``TSP_API``, or to
    functions; ``clock`` returns instrument time; ``advance(dt)`` spends it;
    ``output(line: bytes)`` queues a reply.  Scripts see proxies, never Python objects
    (:mod:`labbench.sim.tsp_sandbox`).
    """

    def __init__(self, inst, instrument_globals: dict, clock: Callable[[], float],
                 advance: Callable[[float], None], output: Callable[[bytes], None]):
        self.inst = inst
        self.clock, self.advance, self.output = clock, advance, output
        self.lua = LuaRuntime(unpack_returned_tuples=True, register_eval=False, register_builtins=False,
                              max_memory=MAX_MEMORY, attribute_filter=_deny_attributes)
        g = self.lua.globals()
        self.sandbox = sb = Sandbox(self.lua, self._record_error, self._on_interrupt)
        self._set_every = self.lua.execute(_HOOK, g.debug.sethook, self._tick, g.error, g.coroutine, g.xpcall,
                                           g.select, g.table.unpack)
        self.lua.execute(_HARDEN, g.string, g.table, g.math, g.rawget, g.setmetatable, g.getmetatable, g.type,
                         g.tostring, g.error, sb.function(self._contain))
        for name in ("io", "os", "require", "dofile", "loadfile", "load", "package", "debug", "python",
                     "collectgarbage", "loadstring"):
            g[name] = None
        self.format = _Format()
        self.scripts: dict[str, Script] = {}
        self.script = _Scripts(self)
        self.timer = _Timer(clock)
        g.print = sb.function(self._print, any_value=True)
        g.printbuffer = sb.function(self._printbuffer)
        g.printnumber = sb.function(self._printnumber)
        g.format = sb.expose(self.format)
        g.errorqueue = sb.expose(_ErrorQueue(inst))
        g.delay = sb.function(self._delay)
        g.timer = sb.expose(self.timer)
        g.waitcomplete = sb.function(lambda *a: None)  # every operation completes synchronously
        g.opc = sb.function(lambda *a: None)
        g.exit = sb.function(self._exit)
        g.script = sb.expose(self.script)
        for k, v in instrument_globals.items():
            g[k] = sb.expose(v) if hasattr(type(v), "TSP_API") else sb.function(v)
        self.budget = 2.0          # s of instrument time a chunk may take (the VISA timeout)
        self._spent = 0            # Lua instructions in the running chunk
        self._start = 0.0
        self._aborted = False
        self._exiting = False
        self._running = False
        self._interrupt: BaseException | None = None
        self._error: list | None = None   # [code, message, queued] of the chunk's last error
        self._pending: list[bytes] = []
        self.loading: dict | None = None  # a loadscript in progress
        self._set_every(HOOK_EVERY)

    # -- sandbox and budget -----------------------------------------------------------------
    def _tick(self):
        """The count hook's question: is the running chunk over its budget?"""
        try:
            if not self._aborted:
                self._spent += HOOK_EVERY
                if self._elapsed() > self.budget:
                    self._aborted = True
            return self._aborted
        except BaseException as e:  # noqa: BLE001 - a signal landing in the hook stops the chunk
            self._on_interrupt(e)
            return True

    def _on_interrupt(self, e: BaseException) -> None:
        if self._interrupt is None:
            self._interrupt = e
        self._aborted = True

    def _record_error(self, code: int, message: str, queue_now: bool = False) -> None:
        """An instrument error raised inside a script.  Access violations and interlock
        refusals are queued at once (a pcall cannot hide them); others only if they end
        the chunk, as on the instrument."""
        self._error = [code, message, queue_now]
        if queue_now:
            self.inst.push_error(SCPIError(code, message))

    def _contain(self, message: str) -> str:
        """A script tried what could hang the interpreter where no hook sees it: refused,
        reported at once, outputs off (as a timeout would)."""
        self.inst.abort_outputs()
        self._record_error(-286, message, queue_now=True)
        return message

    def abort_now(self, why: str):
        """Something in the script waits for what will never come: the instrument would
        wait until the VISA timeout; so does the simulation (time included)."""
        left = self.budget - self._elapsed()
        if left > 0:
            self.advance(left)
        self._aborted = True
        raise ScriptTimeout(why)

    def _elapsed(self) -> float:
        return self.clock() - self._start + self._spent * LUA_SECONDS_PER_INSTRUCTION

    def check_alive(self) -> None:
        """Called by every instrument operation: nothing more happens after an abort."""
        if self._aborted:
            raise ScriptTimeout("script aborted")

    def check_budget(self) -> None:
        """For instrument loops that run in Python (many readings, the trigger model): no
        Lua hook sees them, so they ask here whether the chunk is past its time."""
        if self._running and self._elapsed() > self.budget:
            self.abort_now("script ran past the VISA timeout")

    # -- TSP functions ----------------------------------------------------------------------
    def _text(self, a, d: int) -> str:
        if a is None:
            return "nil"
        if isinstance(a, (bool, int, float)):
            return tsp_number(a, d)
        if isinstance(a, str):
            return a
        return str(self.sandbox._tostring(self.sandbox.to_lua(a)))

    def _print(self, *args):
        self.check_alive()
        d = self.format.asciiprecision
        self._pending.append("\t".join(self._text(a, d) for a in args).encode("ascii", "replace") + b"\n")

    def _printnumber(self, *args):
        self.check_alive()
        d = self.format.asciiprecision
        self._pending.append(", ".join(tsp_number(_finite_arg(a), d) for a in args).encode() + b"\n")

    def _printbuffer(self, start=None, end=None, *buffers):
        self.check_alive()
        if not buffers:
            raise TSPError(-109, "printbuffer needs a buffer")
        if not all(hasattr(b, "values") for b in buffers):
            raise TSPError(-222, "printbuffer takes reading buffers or their columns")
        start, end = int(_finite_arg(start)), int(_finite_arg(end))
        cols = [b.values() for b in buffers]
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

    def _delay(self, t=None):
        self.check_alive()
        t = _finite_arg(t)
        if not (0 <= t <= 1e5):
            raise TSPError(-222, f"delay({t:g}) outside 0..100000 s")
        if self._elapsed() + t > self.budget:
            self.abort_now("script ran past the VISA timeout")   # the instrument waits until then
        self.advance(t)

    def _exit(self, *args):
        self._exiting = self._aborted = True  # nothing more runs; what was printed is kept
        raise ScriptTimeout("exit")

    # -- scripts ------------------------------------------------------------------------------
    def store_script(self, name: str, source: str):
        try:
            fn = self.lua.compile(source)
        except LuaSyntaxError as e:
            raise TSPError(-285, _lua_message(e)) from None
        if name and not name.isidentifier():
            raise TSPError(-285, "a script name must be a Lua name")
        s = Script(name, source, fn)
        if name:
            self.scripts[name] = s
            self.lua.globals()[name] = self.sandbox.expose(s)
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
        queue only if it finishes.  A signal that lands while it runs stops it, switches
        the outputs off and is raised again here, whatever the script's pcalls did."""
        self._spent, self._start, self._aborted, self._exiting = 0, self.clock(), False, False
        self._running = True
        self._interrupt, self._error = None, None
        self._set_every(HOOK_EVERY)
        self._pending = []
        failure = None
        try:
            fn()
        except _Exit:
            pass
        except (TSPError, SCPIError) as e:
            failure = e
        except LuaError as e:
            failure = e
        except MemoryError:
            failure = TSPError(-286, "not enough memory")
        self._running = False
        self._finish_cpu()
        if isinstance(failure, MemoryError):   # a runaway script: stopped as a timeout is
            self._pending = []
            self.inst.abort_outputs()
            raise TSPError(-286, "script ran out of memory; outputs off") from None
        interrupt, self._interrupt = self._interrupt, None
        if interrupt is not None:
            self._pending = []
            self._aborted = False
            self.inst.abort_outputs()
            raise interrupt
        if self._exiting and not self._aborted_by_time():
            failure = None
        if self._aborted_by_time():
            self._pending = []
            self.inst.abort_outputs()
            self._aborted = False
            raise TSPError(-286, "script ran past the VISA timeout; outputs off")
        self._aborted = False
        self._flush()
        if failure is None:
            return
        if isinstance(failure, (TSPError, SCPIError)):
            raise failure
        if isinstance(failure, MemoryError):
            raise TSPError(-286, "not enough memory") from None
        text = _lua_message(failure)
        err = self._error
        if err is not None and err[1] and err[1] in text:
            if err[2]:
                return  # already in the queue (an access violation or interlock refusal)
            raise TSPError(err[0], text)
        raise TSPError(-286, text)

    def _aborted_by_time(self) -> bool:
        return self._aborted and not self._exiting

    def _finish_cpu(self) -> None:
        self.advance(self._spent * LUA_SECONDS_PER_INSTRUCTION)
        self._spent = 0

    def _flush(self) -> None:
        for line in self._pending:
            self.output(line)
        self._pending = []


def _str_arg(v, what: str) -> str:
    if not isinstance(v, str):
        raise TSPError(-222, f"{what} must be a string")
    return v


def _finite_arg(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or math.isinf(v):
        raise TSPError(-222, "expected a finite number")
    return float(v)


class _Exit(Exception):
    """``exit()``: stop the running chunk without an error."""
