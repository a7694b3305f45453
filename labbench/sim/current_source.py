"""An SMU sourcing current into the chip, and the noise floor of its readings.

**Current source.**  A current source settles at the voltage V where the current out of
its terminal equals the programmed level, unless that needs more than the voltage
limit: then the output sits at the limit, the current is whatever flows there and the
source is in compliance (2450 Reference Manual 2450-901-01, ":SOURce[1]:<function>:
<x>LIMit[:LEVel]:TRIPped?": the limit was reached; Series 2600B Reference Manual
2600BS-901-01, "smuX.source.compliance": true when the limit function is in control of
the source).  For a fixed device state the current out of the terminal is monotonic in V
(each cell conducts more with more voltage across it, on whichever side the terminal
drives it), so V is found by bisection on the noise-free ``Chip.current`` summed as
:meth:`Wiring.measure` sums it, sign included.  The bias then acts on the cells for the
reading's duration through the same path as voltage mode (``Wiring.measure`` ->
``Chip.dc``, which can SET/RESET/form); if a cell switched, V is solved once more on
the new state and the reading is taken there without a second bias.  |V| never exceeds
the voltage limit, so a cell never sees more than the limit from this source.  No cell
connected (a floating line, an open relay, no chip): V sits at the limit, no current.

**Noise floor.**  A reading is the true value plus an offset (fixed per instrument,
range and function, drawn once) plus noise (drawn per reading), both from the
datasheets' 1-year accuracy offset term and RMS noise (tables below), from a seeded
generator per instrument (``chip seed``, instrument name): deterministic for a bench,
and only in what the instrument reports, never in the chip's state.  The offset is
drawn within ±``OFFSET_FRACTION`` of the specified offset and the noise is truncated at
3 sigma, so a reading of nothing is never 0 and never beyond the specified offset.
"""
from __future__ import annotations

import math
import zlib

import numpy as np

#: fraction of the datasheet's offset term a particular instrument shows (a zeroed unit
#: sits well inside its 1-year specification)
OFFSET_FRACTION = 0.25
_TRUNCATE = 3.0
#: relative precision of the bisection on V (of the voltage limit)
_V_TOL = 1e-12
_SWITCHED = 1e-3   # relative change of the noise-free current that counts as "the cell switched"

# 2450 datasheet (SPEC-2450 Rev. A, July 2013, "Current specifications" and "Voltage
# specifications"): range -> (measure accuracy offset, noise RMS < 10 Hz)
K2450_CURRENT = {1e-8: (50e-12, 500e-15), 1e-7: (100e-12, 500e-15), 1e-6: (300e-12, 5e-12),
                 1e-5: (700e-12, 40e-12), 1e-4: (6e-9, 400e-12), 1e-3: (60e-9, 5e-9),
                 1e-2: (600e-9, 40e-9), 1e-1: (6e-6, 100e-9), 1.0: (500e-6, 3e-6)}
K2450_VOLTAGE = {0.02: (150e-6, 1e-6), 0.2: (200e-6, 1e-6), 2.0: (300e-6, 10e-6), 20.0: (1e-3, 100e-6),
                 200.0: (10e-3, 1e-3)}


def _tenth(table):
    """(offset, offset/10): where a datasheet gives no per-range RMS noise, a tenth of
    the offset term (about the ratio of the 2450's, 1 µA-1 mA ranges)."""
    return {r: (off, off / 10) for r, off in table.items()}


# 2636B datasheet (Series 2600B, "Meter specifications (2634B, 2635B, 2636B)", current and
# voltage measurement accuracy, 1 year, 23 °C ± 5 °C): range -> offset term
K2636B_CURRENT = _tenth({1e-9: 240e-15, 1e-8: 3e-12, 1e-7: 40e-12, 1e-6: 400e-12, 1e-5: 1.5e-9,
                         1e-4: 25e-9, 1e-3: 200e-9, 1e-2: 2.5e-6, 1e-1: 20e-6, 1.0: 1.5e-3,
                         1.5: 3.5e-3})
K2636B_VOLTAGE = _tenth({0.2: 225e-6, 2.0: 350e-6, 20.0: 5e-3, 200.0: 50e-3})


def auto_range(value: float, ranges, low: float | None = None) -> float:
    """The range autorange picks for ``value``: the smallest holding it (not below ``low``)."""
    a = abs(value)
    for r in ranges:
        if (low is None or r >= low * (1 - 1e-9)) and a <= r:
            return r
    return ranges[-1]


class ReadingNoise:
    """Offset + noise of one instrument's readings, per function and range."""

    def __init__(self, tables: dict[str, dict[float, tuple[float, float]]], world, name: str):
        chip = getattr(world, "chip", None) if world is not None else None
        seed = int(chip.seed) if chip is not None else 0
        self.tables = tables
        self.rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(name.encode())])
        self._offsets: dict[tuple[str, float], float] = {}

    def spec(self, kind: str, rng: float) -> tuple[float, float]:
        """(offset, noise RMS) of function ``kind`` ('i' or 'v') on range ``rng``."""
        table = self.tables[kind]
        r = min(table, key=lambda k: abs(math.log(k / rng)))
        return table[r]

    def add(self, kind: str, value: float, rng: float) -> float:
        off_spec, rms = self.spec(kind, rng)
        key = (kind, rng)
        off = self._offsets.get(key)
        if off is None:
            off = self._offsets[key] = float(self.rng.uniform(-OFFSET_FRACTION, OFFSET_FRACTION)) * off_spec
        z = float(np.clip(self.rng.standard_normal(), -_TRUNCATE, _TRUNCATE))
        return float(value) + off + rms * z


# -- the current source -----------------------------------------------------------------------
def _cells(world, terminal: str):
    """[(idx, a, b, gate)]: the cells ``terminal`` drives, each with V_device = a·V + b
    (a = +1 on a bit line, -1 on the source line) and the current out of the terminal
    a·I(V_device)."""
    wiring, chip = world.wiring, world.chip
    if wiring is None or chip is None:
        return []
    levels, drivers = wiring.levels(world, {terminal: 0.0})
    out = []
    for idx, vdev, vg, a in wiring.driven(world, levels, drivers, terminal):
        out.append((idx, a, vdev, vg))     # at V = 0, V_device = b
    return out


def _current_out(chip, cells, v: float) -> float:
    total = 0.0
    for idx, a, b, vg in cells:
        total += a * float(chip.current(idx, a * v + b, None, noisy=False, gate=vg)[0])
    return total


def solve(world, terminal: str, level: float, vlimit: float) -> tuple[float, bool]:
    """(V, in compliance): the terminal voltage at which ``level`` A flows out of
    ``terminal`` with the chip as it is now (no state change), |V| <= ``vlimit``."""
    vlimit = abs(vlimit)
    cells = _cells(world, terminal)
    if level == 0.0:
        if not cells:
            return 0.0, False
    if not cells:
        return math.copysign(vlimit, level), True
    chip = world.chip
    hi_i = _current_out(chip, cells, vlimit)
    lo_i = _current_out(chip, cells, -vlimit)
    if level >= hi_i:
        return vlimit, level > hi_i
    if level <= lo_i:
        return -vlimit, level < lo_i
    lo, hi = -vlimit, vlimit
    while hi - lo > _V_TOL * vlimit:
        mid = 0.5 * (lo + hi)
        if _current_out(chip, cells, mid) < level:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi), False


def source_current(world, terminal: str, level: float, vlimit: float, duration: float | None = None,
                   bias: bool = True) -> tuple[float, float, bool]:
    """Source ``level`` A out of ``terminal`` with voltage limit ``vlimit`` for one reading
    -> (V at the terminal, current that flowed, in compliance).  ``bias``/``duration``
    as in :meth:`Wiring.measure` (the bias may switch a cell)."""
    if not (math.isfinite(level) and math.isfinite(vlimit)):
        raise ValueError(f"current source: level {level!r} A / limit {vlimit!r} V must be finite")
    if world is None or world.wiring is None or world.chip is None:
        return (math.copysign(abs(vlimit), level), 0.0, True) if level else (0.0, 0.0, False)
    world.chip_to_now()
    v, tripped = solve(world, terminal, level, vlimit)
    # the current source is the compliance of a SET while it sources (a cell cannot draw more)
    compliance = max(abs(level), 1e-12)
    if tripped and not _cells(world, terminal):
        return v, 0.0, True
    before = _current_out(world.chip, _cells(world, terminal), v)
    i = world.wiring.measure(world, terminal, v, compliance, duration=duration, bias=bias)
    if bias:
        after = _current_out(world.chip, _cells(world, terminal), v)
        if abs(after - before) > _SWITCHED * max(abs(before), abs(level), 1e-15):
            v, tripped = solve(world, terminal, level, vlimit)   # the cell switched: read on its new state
            i = world.wiring.measure(world, terminal, v, compliance, duration=duration, bias=False)
    return v, (i if tripped else level), tripped
