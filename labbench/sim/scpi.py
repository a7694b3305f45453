"""SCPI parsing: headers in long/short form, compound messages, parameters, the error queue.

Why our own parser: PyVISA-sim matches literal strings from a YAML table, which cannot
express SCPI's grammar (optional nodes, long/short forms, numeric suffixes, relative
paths after ``;``) nor the standard error queue that drivers poll.  This module is the
grammar only; instruments declare their command tree with :func:`command`.

Header patterns use the manuals' notation: upper case is the short form, the whole
word the long form, ``[...]`` an optional node and ``#`` an optional numeric suffix
(``:SOURce#:VOLTage[:LEVel]`` matches ``SOUR:VOLT``, ``source2:voltage:level``, ...).
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

# IEEE 488.2 / SCPI-99 standard error numbers and messages
MESSAGES: dict[int, str] = {
    0: "No error",
    -100: "Command error",
    -101: "Invalid character",
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -114: "Header suffix out of range",
    -151: "Invalid string data",
    -160: "Block data error",
    -200: "Execution error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -285: "TSP Syntax error",
    -286: "TSP Runtime error",
    -350: "Queue overflow",
    -410: "Query INTERRUPTED",
    -420: "Query UNTERMINATED",
}


class SCPIError(Exception):
    """A command the instrument refuses: becomes an entry of its error queue."""

    def __init__(self, code: int, detail: str = ""):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def entry(self) -> str:
        text = MESSAGES.get(self.code, "Error")
        if self.detail:
            text = f"{text}; {self.detail}"
        # every message is ASCII: a driver decodes the reply as ASCII (PyMeasure's
        # check_errors() fails on anything else)
        text = text.replace(chr(34), chr(39)).encode("ascii", "replace").decode("ascii")
        return f'{self.code},"{text}"'


class ErrorQueue:
    """SCPI error/event queue: FIFO; on overflow the newest entry becomes −350."""

    def __init__(self, size: int = 10):
        self.size = size
        self._q: deque[SCPIError] = deque()

    def push(self, err: SCPIError) -> None:
        if len(self._q) >= self.size:
            self._q[-1] = SCPIError(-350)
            return
        self._q.append(err)

    def pop(self) -> str:
        return self._q.popleft().entry() if self._q else '0,"No error"'

    def clear(self) -> None:
        self._q.clear()

    def __len__(self) -> int:
        return len(self._q)

    def codes(self) -> list[int]:
        return [e.code for e in self._q]


# -- header patterns ------------------------------------------------------------------
_NODE = re.compile(r"(\[)?:?([A-Za-z*][A-Za-z0-9]*?)(#)?(\])?$")


def _node_regex(mnemonic: str, suffix: bool) -> str:
    short = "".join(ch for ch in mnemonic if ch.isupper() or ch.isdigit() or ch == "*")
    long_ = mnemonic.upper()
    alts = sorted({short, long_}, key=len, reverse=True)
    body = "(?:" + "|".join(re.escape(a) for a in alts) + ")"
    return body + (r"(\d*)" if suffix else "")


def compile_header(pattern: str) -> re.Pattern:
    """Compile a manual-style header pattern to a regex over upper-cased headers."""
    pattern = pattern.replace("[1]", "#")  # "SOURce[1]": the manuals' optional suffix 1
    parts = re.findall(r"\[?:?[A-Za-z*][A-Za-z0-9]*#?\]?", pattern)
    out = []
    for p in parts:
        m = _NODE.match(p)
        if not m:
            raise ValueError(f"bad header pattern {pattern!r}")
        opt, mnem, sfx = m.group(1), m.group(2), m.group(3)
        rx = ":" + _node_regex(mnem, bool(sfx))
        out.append(f"(?:{rx})?" if opt else rx)
    return re.compile("^" + "".join(out) + "$")


@dataclass
class Command:
    pattern: str
    regex: re.Pattern
    setter: Callable | None = None
    query: Callable | None = None


def command(pattern: str, query: bool = False):
    """Mark an instrument method as the handler of ``pattern`` (set form, or query)."""

    def mark(fn):
        fn.__dict__.setdefault("_scpi", []).append((pattern, query))
        return fn

    return mark


@dataclass
class CommandTable:
    commands: list[Command] = field(default_factory=list)
    _cache: dict = field(default_factory=dict)

    @classmethod
    def collect(cls, klass) -> "CommandTable":
        by_pattern: dict[str, Command] = {}
        for k in reversed(klass.__mro__):
            for member in vars(k).values():
                for fn in member if isinstance(member, tuple) else (member,):
                    for pattern, is_query in getattr(fn, "_scpi", ()):
                        c = by_pattern.get(pattern) or Command(pattern, compile_header(pattern))
                        by_pattern[pattern] = c
                        if is_query:
                            c.query = fn
                        else:
                            c.setter = fn
        return cls(list(by_pattern.values()))

    def add(self, pattern: str, setter=None, query=None) -> None:
        """Add handlers for ``pattern`` (a property row); an existing entry keeps the
        forms it already has."""
        for c in self.commands:
            if c.pattern == pattern:
                c.setter = c.setter or setter
                c.query = c.query or query
                return
        self.commands.append(Command(pattern, compile_header(pattern), setter, query))
        self._cache.clear()

    def lookup(self, header: str) -> tuple[Command, tuple[int | None, ...]]:
        """``header`` upper-cased, with a leading ':'; raises −113 if unknown."""
        hit = self._cache.get(header)
        if hit is not None:
            return hit
        for c in self.commands:
            m = c.regex.match(header)
            if m:
                sfx = tuple(int(g) if g else None for g in m.groups())
                hit = (c, sfx)
                if len(self._cache) < 4096:
                    self._cache[header] = hit
                return hit
        raise SCPIError(-113, header.lstrip(":"))


# -- program messages -----------------------------------------------------------------
def extract_blocks(data: bytes) -> tuple[bytes, list[bytes]]:
    """Cut IEEE 488.2 definite-length blocks (``#<d><len><bytes>``) out of a message.

    Each block becomes the token ``#BLOCK<k>`` and its bytes are returned apart, so the
    rest can be decoded as ASCII and split at newlines (a block may hold any byte)."""
    out, blocks, i, quote = bytearray(), [], 0, None
    n = len(data)
    while i < n:
        b = data[i]
        if quote is not None:
            out.append(b)
            if b == quote:
                quote = None
            i += 1
            continue
        if b in (34, 39):
            quote = b
        elif b == 35 and i + 1 < n and 49 <= data[i + 1] <= 57:  # '#1'..'#9'
            d = data[i + 1] - 48
            digits = data[i + 2:i + 2 + d]
            if len(digits) == d and digits.isdigit():
                length = int(digits)
                start = i + 2 + d
                if start + length > n:
                    raise SCPIError(-160, "block shorter than its header says")
                blocks.append(bytes(data[start:start + length]))
                out += f"#BLOCK{len(blocks) - 1}".encode()
                i = start + length
                continue
        out.append(b)
        i += 1
    return bytes(out), blocks


def split_units(message: str) -> list[str]:
    """Split a program message at ``;`` outside quotes; −102 on an unterminated string."""
    if '"' not in message and "'" not in message:
        return message.split(";")
    units, cur, quote = [], [], None
    for ch in message:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
            cur.append(ch)
        elif ch == ";":
            units.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if quote:
        raise SCPIError(-102, "unterminated string")
    units.append("".join(cur))
    return units


def split_params(text: str) -> list[str]:
    """Split parameters at commas outside quotes and parentheses (channel lists)."""
    text = text.strip()
    if not text:
        return []
    if '"' not in text and "'" not in text and "(" not in text:
        return [p.strip() for p in text.split(",")]
    out, cur, quote, depth = [], [], None, 0
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if depth:
        raise SCPIError(-102, "unbalanced parentheses")
    out.append("".join(cur).strip())
    return out


def parse_unit(unit: str, previous_path: list[str]) -> tuple[str, bool, list[str], list[str] | None]:
    """One program message unit -> (full header, is_query, params, new path).

    A header without a leading ':' after ``;`` is relative to the previous command's
    path (SCPI-99 §6.2.4); common commands (``*XXX``) leave the path unchanged.
    """
    unit = unit.strip()
    head, _, rest = unit.partition(" ")
    if "\t" in head:
        head, _, more = head.partition("\t")
        rest = more + " " + rest
    if not head:
        raise SCPIError(-102, "empty header")
    is_query = head.endswith("?")
    if is_query:
        head = head[:-1]
    if not re.fullmatch(r":?[A-Za-z*][A-Za-z0-9:]*", head) or "::" in head or head.endswith(":"):
        raise SCPIError(-102 if re.search(r"[^A-Za-z0-9:*?]", head) else -113, head)
    head = head.upper()
    if head.startswith("*") or head.startswith(":*"):
        return ":" + head.lstrip(":"), is_query, split_params(rest), None
    if head.startswith(":"):
        nodes = head[1:].split(":")
    else:
        nodes = previous_path + head.split(":")
    return ":" + ":".join(nodes), is_query, split_params(rest), nodes[:-1]


_UNIT_CACHE: dict = {}


def parse_unit_cached(unit: str, previous_path: list[str]):
    """:func:`parse_unit`, remembered: a measurement loop repeats the same few messages,
    and parsing them again is most of what the simulated firmware spends per message."""
    key = (unit, tuple(previous_path)) if previous_path else unit
    hit = _UNIT_CACHE.get(key)
    if hit is None:
        hit = parse_unit(unit, previous_path)
        if len(_UNIT_CACHE) >= 8192:
            _UNIT_CACHE.clear()
        _UNIT_CACHE[key] = hit
    header, q, params, path = hit
    return header, q, list(params), path


# -- parameter conversion (each raises the SCPI error a real instrument would log) ----
_SPECIAL = {"MIN": "MIN", "MINIMUM": "MIN", "MAX": "MAX", "MAXIMUM": "MAX", "DEF": "DEF", "DEFAULT": "DEF"}
_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def nargs(args: list[str], lo: int, hi: int | None = None) -> None:
    hi = lo if hi is None else hi
    if len(args) < lo or (lo and any(a == "" for a in args[:lo])):
        raise SCPIError(-109)
    if len(args) > hi:
        raise SCPIError(-108, f"expected at most {hi} parameter(s)")


def to_float(tok: str, lo: float = -float("inf"), hi: float = float("inf"),
             default: float | None = None, mn: float | None = None, mx: float | None = None) -> float:
    t = tok.strip().upper()
    if t in _SPECIAL:
        v = {"MIN": lo if mn is None else mn, "MAX": hi if mx is None else mx,
             "DEF": default}[_SPECIAL[t]]
        if v is None:
            raise SCPIError(-224, tok)
        return float(v)
    if t in ("INF", "+INF", "9.9E37"):
        v = float("inf")
    elif _NUM.match(t):
        v = float(t)
    else:
        raise SCPIError(-104, f"expected a number, got {tok!r}")
    if not (lo <= v <= hi):
        raise SCPIError(-222, f"{tok} outside [{lo:g}, {hi:g}]")
    return v


def to_int(tok: str, lo: int = -(2 ** 31), hi: int = 2 ** 31 - 1, default: int | None = None) -> int:
    v = to_float(tok, lo, hi, default)
    if v != int(v):
        raise SCPIError(-104, f"expected an integer, got {tok!r}")
    return int(v)


def to_bool(tok: str) -> bool:
    t = tok.strip().upper()
    if t in ("ON", "1"):
        return True
    if t in ("OFF", "0"):
        return False
    if _NUM.match(t):
        return round(float(t)) != 0
    raise SCPIError(-104, f"expected ON|OFF|1|0, got {tok!r}")


def to_enum(tok: str, choices: list[str]) -> str:
    """Character data in manual notation (``VOLTage``) -> its short form (``VOLT``)."""
    t = tok.strip().strip("\"'").upper()
    for c in choices:
        short = "".join(ch for ch in c if ch.isupper() or ch.isdigit())
        if t in (short, c.upper()):
            return short
    raise SCPIError(-224, f"{tok!r} not one of {', '.join(choices)}")


def to_str(tok: str) -> str:
    t = tok.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return t[1:-1]
    raise SCPIError(-104, f"expected a quoted string, got {tok!r}")


def fmt(v: float) -> str:
    if v != v:
        return "9.91000000E+37"   # NaN as SCPI's 9.91E37
    if v in (float("inf"), float("-inf")):
        return "9.90000000E+37" if v > 0 else "-9.90000000E+37"   # INFinity as SCPI's 9.9E37
    return f"{v:.9E}"
