"""The wall between a TSP script and the host: Lua sees tables and closures, never Python.

lupa hands a Python object to Lua as userdata whose attributes Lua may read, and a Python
exception raised in a callback reaches a script's ``pcall`` as such an object.  From any
of them ``__class__``/``__globals__``/``__traceback__`` lead to ``open`` and ``os.system``.
So nothing Python is ever handed to Lua here (principle 11, by construction):

- each instrument object (``smua``, ``smua.source``, ``format``, ...) is a Lua *proxy*
  table with a locked metatable whose ``__index``/``__newindex`` call one of three gateway
  functions with the Python object.  Both live only as upvalues of closures made by
  :data:`_FACTORY`, which no script can read (``debug`` is gone);
- a gateway answers only the names the object's class lists in ``TSP_API`` (its manual's
  attributes and functions), converts every value to a number, string, boolean, nil, a
  proxy or a Lua closure, and every argument back the same way (anything else is refused);
- a gateway never raises into Lua: it returns ``false, message`` and the Lua side calls
  ``error`` with that *string*, so ``pcall`` sees text.  The instrument error code is kept
  on the Python side for the error queue;
- ``KeyboardInterrupt``/``SystemExit`` (Ctrl-C, SIGTERM) caught in a gateway stop the
  script as a timeout does and are re-raised once the chunk has ended: a ``pcall`` cannot
  swallow them.

lupa's ``attribute_filter`` (every attribute refused) stays on as a second layer, should a
Python object ever slip through.
"""
from __future__ import annotations

from typing import Callable

from lupa.lua54 import LuaError, lua_type

from .scpi import SCPIError

# The closures that stand for Python objects and functions.  The gateways return
# (true, values...) or (false, message); `ret` turns the latter into a Lua error of a
# plain string at the caller's line.
_FACTORY = r"""
local get, set, call, setmt, error, select, tostring, type, unpack = ...
local owner = setmetatable({}, {__mode = "k"})
local function ret(ok, ...)
  if ok then return ... end
  error((...), 3)
end
local function proxy(obj, name, callable)
  local mt = {__metatable = false}
  mt.__index = function(_, k) return ret(get(obj, k)) end
  mt.__newindex = function(_, k, v) return ret(set(obj, k, v)) end
  mt.__tostring = function() return name end
  mt.__len = function() return ret(get(obj, "#")) end
  if callable then mt.__call = function(_, ...) return ret(call(obj, "run", ...)) end end
  local p = setmt({}, mt)
  owner[p] = obj
  return p
end
local function method(obj, name)
  return function(...) return ret(call(obj, name, ...)) end
end
local function printer(obj)
  -- print-like functions take any value: tables, functions and proxies as their tostring
  return function(...)
    local n, t = select("#", ...), {...}
    for i = 1, n do
      local ty = type(t[i])
      if ty ~= "number" and ty ~= "string" and ty ~= "boolean" and ty ~= "nil" then t[i] = tostring(t[i]) end
    end
    return ret(call(obj, "run", unpack(t, 1, n)))
  end
end
local function owner_of(t) return owner[t] end
return proxy, method, owner_of, printer
"""


def _deny_attributes(obj, name, is_setting):
    """lupa's attribute filter: a script may not touch any Python attribute."""
    raise AttributeError("not accessible")


class Interrupted(Exception):
    """Carries a KeyboardInterrupt/SystemExit out of a gateway until the chunk ends."""


class Sandbox:
    """Proxies for one Lua runtime.  ``record_error(code, message)`` is called with each
    instrument error a gateway raises; ``check_alive()`` raises once a chunk is aborted."""

    def __init__(self, lua, record_error: Callable[[int, str, bool], None], on_interrupt: Callable[[BaseException], None]):
        self.lua = lua
        self._record = record_error
        self._interrupt = on_interrupt
        g = lua.globals()
        self._tostring = g.tostring
        self._proxy, self._method, self._owner_of, self._printer = lua.execute(
            _FACTORY, self._get, self._set, self._call, g.setmetatable, g.error, g.select, g.tostring, g.type,
            g.table.unpack)
        self._proxies: dict[int, tuple[object, object]] = {}
        self._methods: dict[tuple[int, str], tuple[object, object]] = {}

    # -- Python -> Lua ------------------------------------------------------------------------
    def expose(self, obj):
        """The proxy of an instrument object (its class lists ``TSP_API``)."""
        hit = self._proxies.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        api = getattr(type(obj), "TSP_API", None)
        if api is None:
            raise TypeError(f"{type(obj).__name__} has no TSP_API")
        name = getattr(obj, "TSP_NAME", None) or "userdata"
        p = self._proxy(obj, name, bool(getattr(type(obj), "TSP_CALLABLE", False)))
        if len(self._proxies) > 100_000:  # reset() makes new objects; old proxies keep working
            self._proxies.clear()
            self._methods.clear()
        self._proxies[id(obj)] = (obj, p)
        return p

    def function(self, fn: Callable, any_value: bool = False):
        """A Lua closure that calls ``fn`` through the gateway (arguments converted;
        ``any_value``: values that are not numbers, strings or booleans as their tostring)."""
        return (self._printer if any_value else self._method)(_Function(fn), "run")

    def to_lua(self, v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if lua_type(v) is not None:          # already a Lua value (a table we built)
            return v
        if isinstance(v, (list, tuple)):
            return self.lua.table_from([self.to_lua(x) for x in v])
        if isinstance(v, dict):
            return self.lua.table_from({k: self.to_lua(x) for k, x in v.items() if isinstance(k, (str, int))})
        if hasattr(type(v), "TSP_API"):
            return self.expose(v)
        raise _Refused(-286, "value cannot be passed to a script")

    # -- Lua -> Python ------------------------------------------------------------------------
    def from_lua(self, v, what: str):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        kind = lua_type(v)
        if kind == "table":
            obj = self._owner_of(v)
            if obj is not None:
                return obj
            return self._number_list(v, what)
        raise _Refused(-222, f"{what}: a {kind or 'value of this type'} is not accepted here")

    @staticmethod
    def _number_list(table, what: str) -> list:
        """A Lua sequence of numbers (a list sweep's values) as a Python list; any other
        table is refused.  Read raw (no metamethods run), at most 60000 entries."""
        if len(table) > 60000:
            raise _Refused(-222, f"{what}: at most 60000 values")
        items = list(table.items())
        if len(items) > 60000:
            raise _Refused(-222, f"{what}: at most 60000 values")
        values = dict(items)
        if set(values) != set(range(1, len(values) + 1)) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in values.values()):
            raise _Refused(-222, f"{what}: only a list of numbers is accepted here")
        return [values[k] for k in range(1, len(values) + 1)]

    # -- the gateways (called from Lua; they never raise) -------------------------------------
    def _get(self, obj, key):
        try:
            if key == "#":
                if not hasattr(type(obj), "__len__"):
                    raise _Refused(-286, "attempt to get length of an instrument object")
                return True, len(obj)
            if isinstance(key, (int, float)) and not isinstance(key, bool):
                if not getattr(type(obj), "TSP_INDEXED", False):
                    raise _Refused(-286, f"attempt to index {self._name(obj)} with a number")
                if key != int(key):
                    raise _Refused(-222, f"{self._name(obj)} index {key:g} is not an integer")
                return True, self.to_lua(obj[int(key)])
            name = self._check_name(obj, key)
            value = getattr(obj, name)
            if callable(value) and not hasattr(type(value), "TSP_API"):
                return True, self._bound(obj, name)
            return True, self.to_lua(value)
        except BaseException as e:  # noqa: BLE001 - nothing may cross into Lua as an exception
            return self._failed(e)

    def _set(self, obj, key, value):
        try:
            if isinstance(key, (int, float)) and not isinstance(key, bool):
                if not (getattr(type(obj), "TSP_INDEXED", False) and hasattr(type(obj), "__setitem__")):
                    raise _Refused(-286, f"{self._name(obj)} cannot be assigned by index")
                if key != int(key):
                    raise _Refused(-222, f"{self._name(obj)} index {key:g} is not an integer")
                obj[int(key)] = self.from_lua(value, f"{self._name(obj)}[{int(key)}]")
                return (True,)
            name = self._check_name(obj, key)
            if name not in getattr(type(obj), "TSP_SETTABLE", ()):
                raise _Refused(-286, f"{self._name(obj)}.{name} is read-only")
            setattr(obj, name, self.from_lua(value, f"{self._name(obj)}.{name}"))
            return (True,)
        except BaseException as e:  # noqa: BLE001
            return self._failed(e)

    def _call(self, obj, name, *args):
        try:
            if isinstance(obj, _Function):
                fn = obj.fn
            else:
                fn = getattr(obj, self._check_name(obj, name))
            args = [self.from_lua(a, f"argument {i + 1}") for i, a in enumerate(args)]
            out = fn(*args)
            if isinstance(out, tuple):
                return (True, *[self.to_lua(x) for x in out])
            return True, self.to_lua(out)
        except BaseException as e:  # noqa: BLE001
            return self._failed(e)

    # -- helpers ------------------------------------------------------------------------------
    def _bound(self, obj, name: str):
        key = (id(obj), name)
        hit = self._methods.get(key)
        if hit is not None and hit[0] is obj:
            return hit[1]
        m = self._method(obj, name)
        self._methods[key] = (obj, m)
        return m

    @staticmethod
    def _name(obj) -> str:
        return getattr(obj, "TSP_NAME", None) or "instrument object"

    def _check_name(self, obj, key) -> str:
        api = getattr(type(obj), "TSP_API", ())
        if not isinstance(key, str) or key not in api:
            shown = key if isinstance(key, str) and key.isidentifier() and len(key) < 40 else "?"
            raise _Refused(-286, f"{self._name(obj)} has no field '{shown}'")
        return key

    def _failed(self, e: BaseException):
        """(False, message) for Lua; the instrument error code goes to the engine."""
        from .tsp_errors import ScriptTimeout, TSPError

        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            self._interrupt(e)
            return False, "interrupted"
        if isinstance(e, ScriptTimeout):
            return False, str(e)
        if isinstance(e, (_Refused, TSPError)):
            # access violations and interlock refusals go to the queue even if a pcall
            # catches them: the instrument saw the attempt
            self._record(e.code, e.message, isinstance(e, _Refused) or e.interlock)
            return False, e.message
        if isinstance(e, SCPIError):
            self._record(e.code, e.detail)
            return False, e.detail or "instrument error"
        if isinstance(e, LuaError):          # a script run from a script: its message as it is
            from .tsp_errors import lua_message as _lua_message

            return False, _lua_message(e)
        if isinstance(e, MemoryError):
            return False, "not enough memory"
        # a Python error from an instrument object: a bad argument, in instrument words
        self._record(-222, "bad argument")
        return False, "bad argument"


class _Function:
    """A host function a script may call (``print``, ``delay``, ...), as a gateway target."""

    __slots__ = ("fn",)
    TSP_API = ("run",)

    def __init__(self, fn):
        self.fn = fn


class _Refused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(code, message)
        self.code, self.message = code, message
