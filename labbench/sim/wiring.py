"""From closed switches to chip physics: which voltage reaches which cell.

The bench file says which instrument terminal feeds which matrix input, and which
matrix output is which chip line (``WL<r>``, ``BL<c>``, ``BLB<c>``, ``SL``).  Here the
matrix's conducting paths become line levels (None = floating), and an SMU reading or
a pulse becomes :class:`~labbench.physics.chip.Chip` calls on the devices whose gate
(WL) is on and whose bit line and source line are both driven:

* reading at V on a bit line: I = Σ ``Chip.dc`` over those devices (forming, SET/RESET
  through the one switching model for the reading's duration, limited by the SMU's
  compliance and the word line's saturation current, else the read current), clipped by
  the compliance;
* a pulse of amplitude V on BL/BLB with SL low is a SET, on SL with the bit line low a
  RESET: ``Chip.pulse(idx, n, direction, amplitude, width, gate)``.

A floating or mis-routed line gives no current and no update, never an exception.
Before each, the chip is brought to the world's virtual clock (``SimWorld.chip_to_now``), so
drift at rest reaches every instrument path (SCPI and the 2600B's TSP) in one place.
"""
from __future__ import annotations

from dataclasses import dataclass

from labbench.addressing import parse_line
from labbench.physics.models import RESET, SET


@dataclass
class Wiring:
    """``inputs``: matrix input port -> 'inst.terminal' or 'ground'.
    ``lines``: chip line name -> (card, output) on ``matrix``."""

    matrix: str
    inputs: dict[int, str]
    lines: dict[str, tuple[int, int]]

    def __post_init__(self):
        self._out_to_line = {tuple(v): parse_line(k) for k, v in self.lines.items()}

    def levels(self, world, override: dict[str, float] | None = None):
        """-> ({line: volts}, {line: terminal}) for every driven chip line."""
        m = world.instruments.get(self.matrix)
        levels: dict[tuple[str, int], float] = {}
        drivers: dict[tuple[str, int], str] = {}
        if m is None:
            return levels, drivers
        for card, inp, out in m.conducting():
            line = self._out_to_line.get((card, out))
            src = self.inputs.get(inp)
            if line is None or src is None:
                continue
            v = override[src] if override and src in override else world.terminal_level(src)
            if v is None:
                continue
            if line in levels and levels[line] != v:
                continue  # two sources fight on one line: the first keeps it (hardware: damage)
            levels[line] = v
            drivers[line] = src
        return levels, drivers

    def _devices(self, world, levels):
        """(idx, v_device, gate) of every device with gate, bit line and source line driven."""
        return gated_devices(world.chip, levels)

    def measure(self, world, terminal: str, v: float, compliance: float, duration: float | None = None,
                bias: bool = True) -> float:
        """Current out of ``terminal`` sourcing ``v`` (A), clipped to ±compliance.

        ``duration``: how long the bias acts on the cells (s); None is the device model's
        ``switching.dc_time``.  ``bias=False``: a measurement only (the level is applied
        as a pulse elsewhere, e.g. a trigger-model pulse read during its width)."""
        levels, drivers = self.levels(world, {terminal: v})
        chip = world.chip
        total = 0.0
        if chip is None:
            return 0.0
        world.chip_to_now()   # drift at rest up to now (physics.retention), at the chuck's temperature
        # below every switching threshold (spreads included) Chip.dc is Chip.current
        for idx, vdev, vg, sign in self.driven(world, levels, drivers, terminal):
            total += sign * bias_current(chip, idx, vdev, vg, compliance, duration, bias)
        c = abs(compliance)
        return max(-c, min(c, total))

    def driven(self, world, levels, drivers, terminal: str):
        """(idx, v_device, gate, sign) of every cell ``terminal`` drives with its gate on:
        sign +1 where it drives the bit line (the cell's current flows out of the
        terminal), -1 where it drives the source line."""
        chip = world.chip
        if chip is None:
            return []
        vth = chip.model.switching.v_gate_threshold
        out = []
        for idx, vdev, vg, lines in self._devices(world, levels):
            bit_driven = drivers.get(lines[1]) == terminal
            sl_driven = drivers.get(("SL", 0)) == terminal
            if not (bit_driven or sl_driven) or vg < vth or bit_driven == sl_driven:
                continue
            out.append((idx, vdev, vg, 1 if bit_driven else -1))
        return out

    def pulse(self, world, terminal: str, high: float, width: float, n: int) -> None:
        """``n`` pulses of level ``high`` for ``width`` s on ``terminal``."""
        levels, drivers = self.levels(world, {terminal: high})
        chip = world.chip
        if chip is not None:
            world.chip_to_now()
        for idx, vdev, vg, lines in self._devices(world, levels):
            touched = terminal in (drivers.get(lines[0]), drivers.get(lines[1]), drivers.get(("SL", 0)))
            if not touched or vdev == 0.0:
                continue
            chip.pulse(idx, n, SET if vdev > 0 else RESET, amplitude=abs(vdev), width=width, gate=vg)


def gated_devices(chip, levels):
    """(idx, v_device, gate, (word line, bit line)) of every device whose word line, bit
    line and source line are driven (``levels``: {(kind, index): volts}).  The one rule
    every simulated instrument path uses, the switch matrix's and the ArC TWO's alike."""
    sl = levels.get(("SL", 0))
    if chip is None or sl is None:
        return []
    # word lines and bit lines apart first (in the levels' order): a pass over each, not
    # over every pair of lines
    words = [(r, vg) for (kind, r), vg in levels.items() if kind == "WL" and r < chip.rows]
    bits = [(bk, c, vb) for (bk, c), vb in levels.items() if bk in ("BL", "BLB") and c < chip.cols]
    out = []
    for r, vg in words:
        for bk, c, vb in bits:
            side = 0 if bk == "BL" else 1
            # the gate counts from the lower of the two lines (the transistor's source
            # side when nothing flows): physics.circuit solves the rest
            out.append(((r * chip.cols + c) * 2 + side, vb - sl, vg - min(vb, sl), (("WL", r), (bk, c))))
    return out


def bias_current(chip, idx, vdev: float, gate: float, compliance, duration, bias: bool = True) -> float:
    """Current (A) of device ``idx`` biased at ``vdev`` for ``duration`` s (None: the model's
    ``switching.dc_time``): below every switching threshold a read (its duration sets its
    read disturb), above it a DC bias through the one switching model (``Chip.dc``)."""
    if abs(vdev) < chip.quiet_voltage() or not bias:
        return float(chip.current(idx, vdev, compliance, gate=gate,
                                  duration=chip.model.switching.dc_time if duration is None else duration)[0])
    return float(chip.dc(idx, vdev, compliance, gate=gate, duration=duration)[0])
