"""The errors a TSP chunk can end with, shared by the interpreter (tsp.py) and the sandbox
(tsp_sandbox.py) without either importing the other."""
from __future__ import annotations


class TSPError(Exception):
    """An error the instrument reports in its queue (code, message).  ``interlock``: a
    refusal of the bench's safety limits, queued even when a script's pcall catches it."""

    def __init__(self, code: int, message: str, interlock: bool = False):
        super().__init__(code, message)
        self.code, self.message, self.interlock = code, message, interlock


class ScriptTimeout(Exception):
    """A chunk ran past its budget of instrument time."""


def lua_message(e: Exception) -> str:
    """The first line of a Lua error, without lupa's chunk name, in ASCII."""
    msg = str(e).splitlines()[0] if str(e) else "Lua error"
    msg = msg.replace('[string "<python>"]:', "line ").replace("error loading code: ", "")
    return msg.encode("ascii", "replace").decode()
