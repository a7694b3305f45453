"""Reading an instrument's error queue, bounded and checked (every adapter's ``errors()``)."""
from __future__ import annotations

MAX_ERRORS = 64   # more than any of these instruments' queues holds


def drain_error_queue(ask) -> list[str]:
    """Read an instrument's error queue until it says ``0,...``: at most MAX_ERRORS
    entries, and every answer must look like an entry (``<code>,"text"``).  A garbled
    connection never answers 0: without these bounds labbench asked forever."""
    out: list[str] = []
    for _ in range(MAX_ERRORS):
        e = str(ask()).strip()
        code = e.split(",", 1)[0].split("\t", 1)[0].strip()
        try:
            value = float(code)
        except ValueError:
            value = float("nan")
        if not (value == value and value == int(value)):
            raise ConnectionError(f"answered the error query with {e[:40]!r}, not an error entry: the replies are "
                                  f"garbled (a loose cable, wrong termination or baud rate?)")
        if int(value) == 0:
            return out
        out.append(e)
    out.append(f"(more than {MAX_ERRORS} errors; the rest are still in the queue)")
    return out
