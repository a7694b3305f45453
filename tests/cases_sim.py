"""Bad inputs at the CLI for the simulated instruments' benches (see badcases.py):
a 2600B bench file with impossible limits, terminals or levels is refused with a message."""
from badcases import Case

from labbench.paths import BENCHES

SIM_2600 = (BENCHES / "sim_2600.yaml").read_text()


def bench_2600(old: str, new: str) -> str:
    assert old in SIM_2600, old
    return SIM_2600.replace(old, new)


def C(id, text, expect):
    return Case(id, ["bench", "check", "{tmp}/b.yaml"], expect, files={"b.yaml": text})


CASES = [
    Case("tsp-train-on-a-2450-bench", ["measure", "tsp-pulse-train", "-p", "cells=0, 0", "--db", "{tmp}/d.db"],
         r"does not run TSP scripts.*nothing was sent", exit_codes=(1, 2), forbid=("{tmp}/d.db",)),
    Case("tsp-train-too-many-pulses", ["measure", "tsp-pulse-train", "--bench", str(BENCHES / "sim_2600.yaml"),
                                       "-p", "cells=0, 0", "-p", "pulses=70000", "--db", "{tmp}/d.db"],
         r"pulses must be 1\.\.60000", exit_codes=(1, 2), forbid=("{tmp}/d.db",)),
    C("2600-limit-above-rating", bench_2600("smu.b:  {max_voltage: 3.0", "smu.b:  {max_voltage: 250"),
      r"smu\.b.*250.*200"),
    C("2600-no-such-terminal", bench_2600("2: smu.b ", "2: smu.c "), r"smu.*terminals.*'hi', 'b'.*'c'"),
    C("2600-nan-limit", bench_2600("smu.b:  {max_voltage: 3.0", "smu.b:  {max_voltage: .nan"),
      r"smu\.b.*(finite|nan)"),
    C("2600-compliance-above-rating", bench_2600("max_compliance: 1.0e-3}\n  smu.b", "max_compliance: 2.0}\n  smu.b"),
      r"smu\.hi.*2.*1\.5"),
    C("2600-read-voltage-outside-limits", bench_2600("read_voltage: 0.1", "read_voltage: 5.0"),
      r"read_voltage.*5.*3\.5"),
]
