"""The bench as the live page shows it: instruments, output states, the present levels
against their limits.  Levels are the values the roles last *sent* (``last_sent``), read
from memory: the page never queries an instrument, because a second VISA transaction in
the middle of the run's own would corrupt it."""
from __future__ import annotations

COLUMNS = ("instrument", "terminal", "output", "level", "limit", "detail")


def _fmt(v, unit: str) -> str:
    return "—" if v is None else f"{v:+.4g} {unit}"


def levels(bench) -> list[dict]:
    """One row per terminal: what was last sent to it, and its limit."""
    out = []
    sm = getattr(bench, "source_meter", None)
    if sm is not None:
        s, lim = dict(sm.last_sent), sm.limits
        comp = s.get("compliance")
        out.append({"instrument": sm.name, "terminal": sm.terminal, "output": "ON" if s["output"] else "off",
                    "level": _fmt(s["level"], "V"),
                    "limit": f"±{lim.max_voltage:g} V" if lim else "no limits",
                    "detail": (f"compliance {comp:g} A" if comp else "")
                    + (f" (max {lim.max_compliance:g} A)" if lim and lim.max_compliance else "")})
    pg = getattr(bench, "pulse_generator", None)
    if pg is not None:
        for ch, s in sorted(dict(pg.last_sent).items()):
            term = f"{pg.name}.ch{ch}"
            lim = pg.limits.get(term)
            s = dict(s)
            width = s.get("width")
            out.append({"instrument": pg.name, "terminal": term, "output": "ON" if s["output"] else "off",
                        "level": _fmt(s["level"], "V") + (" pulse" if s.get("mode") == "pulse" else " dc"),
                        "limit": f"±{lim.max_voltage:g} V" if lim else "no limits",
                        "detail": (f"width {width:.3g} s" if width else "")
                        + (f" (max {lim.max_pulse_width:g} s)" if width and lim and lim.max_pulse_width else "")})
    sw = getattr(bench, "switch_matrix", None)
    if sw is not None:
        closed = dict(sw.last_sent).get("closed", 0)
        out.append({"instrument": sw.name, "terminal": "relays", "output": f"{closed} closed",
                    "level": "", "limit": "", "detail": ""})
    tc = getattr(bench, "temperature_controller", None)
    if tc is not None:
        s, lim = dict(tc.last_sent), tc.limits
        sp = s.get("setpoint")
        out.append({"instrument": tc.name, "terminal": tc.terminal, "output": "heater ON" if s["heater"] else "off",
                    "level": "—" if sp is None else f"{sp:.2f} K set",
                    "limit": f"{lim.max_temperature:g} K" if lim and lim.max_temperature else "no limits",
                    "detail": f"ramp {s['ramp']:g} K/min" if s.get("ramp") else ""})
    return out


def instruments(metadata: dict) -> list[dict]:
    """Instruments from the run's bench snapshot (a re-opened run has no live levels)."""
    bench = (metadata or {}).get("bench") or {}
    out = []
    for name, entry in (bench.get("instruments") or {}).items():
        if not isinstance(entry, dict):
            continue
        out.append({"instrument": name, "terminal": entry.get("role", ""),
                    "output": "simulated" if entry.get("simulated") else "",
                    "level": "", "limit": "", "detail": f"{entry.get('driver', '')} at {entry.get('address', '')}"})
    return out
