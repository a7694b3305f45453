"""An ArC TWO daughterboard's channel map: which channel or selector each chip line is on.

A TOML file in the spirit of arc2control's mappers (``[config]`` name and size, then the
lines), for labbench's chip lines: ``BL``/``BLB`` (one per column), ``SL`` (the common
source line) and ``WL`` (one per row, the access transistors' gates), each a list of
ArC TWO channels (0-63) in line order under ``[channels]``; gates driven by the
selector circuits (0-31, levels SELH/SELL) go under ``[selectors]``::

    [config]
    name = "32x32 1T1R"
    rows = 32
    cols = 16
    [channels]
    SL = [0]
    BL = [16, 17, ...]
    BLB = [48, 49, ...]
    [selectors]
    WL = [0, 1, ...]

Every mistake names its key and the fix; a file that does not fit the bench's chip, or
puts two lines on one channel, is refused when the bench opens.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

__all__ = ["MapperError", "load_mapper"]

GROUPS = ("WL", "BL", "BLB", "SL")


class MapperError(ValueError):
    """A mapper file that cannot describe the chip (the message names the key)."""


def resolve_mapper(name: str, base: Path | None) -> Path:
    """A mapper by path (relative to the bench file) or by shipped name (benches/*.toml)."""
    from labbench.paths import BENCHES

    p = Path(name)
    for cand in ([base / p] if base is not None and not p.is_absolute() else []) + [p, BENCHES / p,
                                                                                      BENCHES / f"{name}.toml"]:
        if cand.is_file():
            return cand
    shipped = sorted(f.stem for f in BENCHES.glob("*.toml"))
    raise MapperError(f"mapper {name!r}: no such file (relative to the bench file, or a shipped one: "
                      f"{', '.join(shipped)})")


def load_mapper(name: str, base: Path | None, rows: int, cols: int) -> dict[tuple[str, int], tuple[str, int]]:
    """{(kind, index): ("channel", 0..63) or ("selector", 0..31)} for a ``rows``×``cols`` chip."""
    path = resolve_mapper(name, base)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MapperError(f"mapper {path.name}: not valid TOML ({e})") from None
    unknown = sorted(set(data) - {"config", "channels", "selectors"})
    if unknown:
        raise MapperError(f"mapper {path.name}: unknown section(s) {', '.join(unknown)}; "
                          f"use [config], [channels] and [selectors]")
    want = {"WL": rows, "BL": cols, "BLB": cols, "SL": 1}
    out: dict[tuple[str, int], tuple[str, int]] = {}
    used: dict[tuple[str, int], str] = {}
    for section, kind, top in (("channels", "channel", 63), ("selectors", "selector", 31)):
        for group, values in (data.get(section) or {}).items():
            key = f"{section}.{group}"
            if group not in GROUPS or (section == "selectors" and group != "WL"):
                raise MapperError(f"mapper {path.name}: {key}: lines are {', '.join(GROUPS)} "
                                  f"(selectors drive WL only)")
            if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                        for v in values):
                raise MapperError(f"mapper {path.name}: {key}: a list of {kind} numbers")
            if len(values) != want[group]:
                raise MapperError(f"mapper {path.name}: {key} has {len(values)} entries; the bench's "
                                  f"{rows}×{cols} chip has {want[group]} {group} line(s)")
            for i, v in enumerate(values):
                if not 0 <= v <= top:
                    raise MapperError(f"mapper {path.name}: {key}[{i}] = {v}: {kind}s are 0..{top}")
                if (kind, v) in used:
                    raise MapperError(f"mapper {path.name}: {key}[{i}]: {kind} {v} also carries "
                                      f"{used[(kind, v)]} (a short); give each line its own")
                if (group, i) in out:
                    raise MapperError(f"mapper {path.name}: {group}{i} is mapped twice")
                used[(kind, v)] = f"{group}{i}"
                out[(group, i)] = (kind, v)
    for group, n in want.items():
        if not any((group, i) in out for i in range(n)):
            raise MapperError(f"mapper {path.name}: no {group} lines; add channels.{group}"
                              + (" or selectors.WL" if group == "WL" else ""))
    return out
