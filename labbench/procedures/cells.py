"""Cell selections as lab users type them: ``"0:4, 0:2"`` = rows 0..3 × cols 0..1."""
from __future__ import annotations

SIDES = {"+": 0, "-": 1}


def _span(text: str, limit: int, what: str) -> range:
    text = text.strip()
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            r = range(int(a or 0), int(b) if b.strip() else limit)
        else:
            r = range(int(text), int(text) + 1)
    except ValueError:
        raise ValueError(f"{what} selection {text!r} is not a number or a span like 0:4") from None
    if not r:
        raise ValueError(f"{what} selection {text!r} is empty (a span START:STOP needs START < STOP)")
    if r.start < 0 or r.stop > limit:
        raise ValueError(f"{what} selection {text!r} is outside 0..{limit - 1}")
    return r


def parse_cells(spec: str, sides: str, rows: int, cols: int) -> list[tuple[int, int, int]]:
    """``spec`` = "ROWS, COLS" with Python-slice-like spans; ``sides`` a subset of "+-"."""
    try:
        r_text, c_text = spec.split(",")
    except ValueError:
        raise ValueError(f"cells must look like 'ROWS, COLS' (e.g. '0:4, 0:2'), got {spec!r}") from None
    bad = set(sides) - set(SIDES)
    if bad or not sides:
        raise ValueError(f"sides must be made of '+' and '-', got {sides!r}")
    return [(r, c, SIDES[s]) for r in _span(r_text, rows, "row") for c in _span(c_text, cols, "column")
            for s in sides]
