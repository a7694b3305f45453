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

# YAML that reads differently to the parser than to a person (bench files here; sweep files
# and device models in cases_sweep.py / cases_train.py)
_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))
CASES += [
    C("yaml-merge-key", bench_2600("limits:", "x_base: {max_voltage: 3.5}\nlimits:").replace(
        "smu.b:  {max_voltage: 3.0, max_compliance: 1.0e-3}", "smu.b:\n    <<: {max_voltage: 3.0}"),
      r"merge keys \(<<:\) are not accepted"),
    C("yaml-alias", bench_2600("smu.b:  {max_voltage: 3.0, max_compliance: 1.0e-3}", "smu.b: *lim").replace(
        "smu.hi: {max_voltage", "smu.hi: &lim {max_voltage"), r"anchors and aliases .* are not accepted"),
    C("yaml-alias-bomb", _BOMB + SIM_2600, r"anchors and aliases .* are not accepted"),
    C("yaml-alias-bomb-as-key", "? &k [a, b]\n: 1\n" + SIM_2600, r"anchors and aliases .* are not accepted"),
    C("yaml-octal", bench_2600("seed: 0", "seed: 010"), r"ambiguous number '010'.*octal"),
    C("yaml-sexagesimal", bench_2600("max_voltage: 3.5,", "max_voltage: 3:30,"), r"ambiguous number '3:30'.*base-60"),
]

CASES += [
    Case("tsp-train-longer-than-the-visa-timeout", ["measure", "tsp-pulse-train", "--bench", str(BENCHES / "sim_2600.yaml"),
                                                    "-p", "cells=0, 0", "-p", "pulses=20000", "--db", "{tmp}/d.db"],
         r"20000 pulses .* longer than the VISA timeout \(2 s\).*nothing was sent", exit_codes=(1, 2),
         forbid=("{tmp}/d.db",)),
    Case("tsp-trigger-train-longer-than-the-visa-timeout",
         ["measure", "tsp-trigger-pulse-train", "--bench", str(BENCHES / "sim_2600.yaml"), "-p", "cells=0, 0",
          "-p", "pulses=20000", "--db", "{tmp}/d.db"],
         r"20000 pulses take .* on the rehearsal, longer than the VISA timeout \(2 s\).*nothing was sent",
         exit_codes=(1, 2), forbid=("{tmp}/d.db",)),
    Case("tsp-trigger-train-on-a-2450-bench", ["measure", "tsp-trigger-pulse-train", "-p", "cells=0, 0",
                                               "--db", "{tmp}/d.db"],
         r"does not run TSP scripts.*nothing was sent", exit_codes=(1, 2), forbid=("{tmp}/d.db",)),
    C("smu-terminal-without-compliance", bench_2600("smu.b:  {max_voltage: 3.0, max_compliance: 1.0e-3}",
                                                    "smu.b:  {max_voltage: 3.0}"),
      r"limits\.smu\.b: a source-meter terminal needs max_compliance"),
]
