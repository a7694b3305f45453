"""Names shared by the bench file and the simulator: VISA addresses and chip lines.

Both :mod:`labbench.instruments.config` and :mod:`labbench.sim` use these, so neither
imports the other for them.
"""
from __future__ import annotations

import re

from pyvisa import rname

_LINE = re.compile(r"^(WL|BL|BLB|SL)(\d*)$")


def canonical_address(address: str) -> str:
    """One spelling per resource: 'gpib0::24::instr', 'GPIB::24' -> 'GPIB0::24::INSTR'.

    VISA resource names are case-insensitive, but PyVISA's parser only recognises an
    upper-case resource class; compare upper-cased (this name is for identity, the
    instrument is still opened with the address as written)."""
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"not a VISA resource name: {address!r}")
    try:
        return str(rname.parse_resource_name(address.strip().upper()))
    except rname.InvalidResourceName as e:
        raise ValueError(f"not a VISA resource name: {address!r} ({e})") from None


def parse_line(name: str) -> tuple[str, int]:
    """'WL3' -> ('WL', 3); 'SL' -> ('SL', 0)."""
    m = _LINE.match(name.strip().upper())
    if not m:
        raise ValueError(f"chip line {name!r} is not WL<r>, BL<c>, BLB<c> or SL")
    kind, num = m.groups()
    if kind == "SL":
        return "SL", int(num or 0)
    if not num:
        raise ValueError(f"chip line {name!r} needs an index")
    return kind, int(num)
