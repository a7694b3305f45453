"""Bad inputs for an ArC TWO bench (see badcases.py): limits beyond the declared output
range or pyarc2's pulse cap, a channel outside 0-63 in the map, a short, a level above the
limits, a hardware ArC TWO that is not there, all refused with a message naming the fix."""
from badcases import Case

from labbench.paths import BENCHES

SIM = (BENCHES / "sim_arc2.yaml").read_text().replace("mapper: arc2_1t1r_32x32", "mapper: m.toml")
MAP = (BENCHES / "arc2_1t1r_32x32.toml").read_text()


def arc2(old: str, new: str, mapper: str = MAP) -> dict:
    assert old in SIM, old
    return {"b.yaml": SIM.replace(old, new), "m.toml": mapper}


def C(id, files, expect):
    return Case(id, ["bench", "check", "{tmp}/b.yaml"], expect, files=files)


CASES = [
    C("arc2-limit-above-std-range", arc2("arc.ch1: {max_voltage: 3.0", "arc.ch1: {max_voltage: 12.0"),
      r"arc\.ch1\.max_voltage: 12 V is above the declared output range \(std: ±10 V\)"),
    C("arc2-limit-above-ext-range", {"b.yaml": SIM.replace("output_range: std", "output_range: ext").replace(
        "arc.hi:  {max_voltage: 3.5}", "arc.hi:  {max_voltage: 25.0}"), "m.toml": MAP},
      r"25 V is above the declared output range \(ext: ±20 V\)"),
    C("arc2-channel-limit-above-range", arc2("idle: ground", "idle: ground\n    channel_limits: {16: 11.0}"),
      r"channel_limits\.16: 11 V is above the declared output range"),
    C("arc2-pulse-width-above-pyarc2-cap", arc2("max_pulse_width: 1.0e-3", "max_pulse_width: 2.0"),
      r"above pyarc2's high-speed pulse cap \(0\.5 s\)"),
    C("arc2-mapper-channel-64", arc2("board: 0", "board: 0", MAP.replace("BL = [16,", "BL = [64,")),
      r"channels\.BL\[0\] = 64: channels are 0\.\.63"),
    C("arc2-mapper-short", arc2("board: 0", "board: 0", MAP.replace("SL = [0]", "SL = [16]")),
      r"channel 16 also carries SL0 \(a short\)"),
    C("arc2-mapper-selector-32", arc2("board: 0", "board: 0", MAP.replace("WL = [0,", "WL = [32,")),
      r"selectors\.WL\[0\] = 32: selectors are 0\.\.31"),
    C("arc2-hardware-without-firmware", arc2("simulated: true\n  chuck", "simulated: false\n  chuck"),
      r"a hardware ArC TWO needs firmware"),
    C("arc2-with-a-switch-matrix-wiring", arc2("limits:", "wiring: {matrix: arc, inputs: {}, lines: {}}\nlimits:"),
      r"wiring: an ArC TWO bench has no switch matrix"),
    Case("arc2-hardware-not-attached", ["bench", "check", "{tmp}/b.yaml"],
         r"(boards found: none.*check the USB cable|pip install 'labbench\[arc2\]')",
         files=arc2("simulated: true\n  chuck", "simulated: false\n    firmware: /opt/arc2/fw.bin\n  chuck")),
    Case("arc2-pulse-above-limit", ["measure", "pulse-train", "--bench", str(BENCHES / "sim_arc2.yaml"),
                                    "-p", "cells=0, 0", "-p", "amplitudes=3.2", "--db", "{tmp}/d.db"],
         r"arc\.ch1: 3\.2 V exceeds limits\.arc\.ch1\.max_voltage = 3 V; nothing was sent", forbid=("{tmp}/d.db",)),
    Case("arc2-pulse-longer-than-the-cap", ["measure", "pulse-train", "--bench", str(BENCHES / "sim_arc2.yaml"),
                                            "-p", "cells=0, 0", "-p", "widths=0.6", "--db", "{tmp}/d.db"],
         r"pulse width 0\.6 s outside \(0, 0\.001\]", forbid=("{tmp}/d.db",)),
    Case("arc2-gate-above-limit", ["measure", "pulse-train", "--bench", str(BENCHES / "sim_arc2.yaml"),
                                   "-p", "cells=0, 0", "-p", "gates=3.5", "--db", "{tmp}/d.db"],
         r"arc\.ch2: 3\.5 V exceeds", forbid=("{tmp}/d.db",)),
]
