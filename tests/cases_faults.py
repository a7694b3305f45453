"""Instrument faults mid-run (a bench file's ``sim_fault``): each fails the run with a
message naming the instrument and what it said, a true statement about the outputs, the
run recorded failed, no traceback (see badcases.py)."""
import re

from badcases import Case

from labbench.paths import BENCHES

SIM, SIM_2600 = (BENCHES / "sim.yaml").read_text(), (BENCHES / "sim_2600.yaml").read_text()


def with_fault(text: str, inst: str, kind: str, after: int) -> str:
    out, n = re.subn(rf"(\n  {inst}:\n(?:    .*\n)*?    simulated: true\n)",
                     rf"\1    sim_fault: {{kind: {kind}, after: {after}}}\n", text)
    assert n == 1, inst
    return out


def F(id, inst, kind, after, expect, procedure="pulse-train", bench=SIM, params=("cycles=1", "pulses=5")):
    argv = ["measure", procedure, "--bench", "{tmp}/b.yaml", "-p", "cells=0:2, 0:2", "--db", "{tmp}/d.db"]
    for p in params:
        argv += ["-p", p]
    return Case(id, argv, expect, files={"b.yaml": with_fault(bench, inst, kind, after)}, exit_codes=(1,))


UNCONFIRMED = r"could NOT be confirmed off.*front panel"
CASES = [
    F("fault-smu-disconnect-mid-run", "smu", "disconnect", 40,
      rf"smu \(GPIB0::24::INSTR\): the connection was lost.*{UNCONFIRMED}"),
    F("fault-smu-disconnect-at-open", "smu", "disconnect", 0, r"could not bring smu to a safe state on opening.*front panel"),
    F("fault-smu-timeout", "smu", "timeout", 40, r"smu .*did not answer within the VISA timeout.*outputs are off"),
    F("fault-smu-truncated-reply", "smu", "truncate", 40, r"smu: read .* A, beyond the .* compliance.*recorded as failed"),
    F("fault-smu-nan-reply", "smu", "nan", 40, r"smu: read nan A, not a finite number.*recorded as failed"),
    F("fault-pg-disconnect", "pg", "disconnect", 30, rf"pg \(GPIB0::10::INSTR\): the connection was lost.*{UNCONFIRMED}"),
    F("fault-matrix-garbage", "matrix", "garbage", 30, r"matrix.*garbled.*recorded as failed"),
    F("fault-error-during-retention", "smu", "error", 40, r"instrument error: smu: -200.*recorded as failed",
      procedure="retention", params=("duration=100",)),
    F("fault-tsp-disconnect", "smu", "disconnect", 60, rf"smu .*connection was lost.*{UNCONFIRMED}",
      procedure="tsp-pulse-train", bench=SIM_2600),
    F("fault-tsp-nan-reply", "smu", "nan", 85, r"smu: TSP pulse train: the 2600B answered 'NaN'.*recorded as failed",
      procedure="tsp-pulse-train", bench=SIM_2600),
    F("fault-tsp-truncated-reply", "smu", "truncate", 85, r"smu: TSP pulse train: .*(answered|beyond).*recorded as failed",
      procedure="tsp-pulse-train", bench=SIM_2600),
    Case("fault-on-a-real-instrument-refused", ["bench", "check", "{tmp}/b.yaml"],
         r"sim_fault applies to a simulated instrument only",
         files={"b.yaml": with_fault(SIM, "smu", "nan", 3).replace("    simulated: true\n    sim_fault",
                                                                    "    simulated: false\n    sim_fault")}),
]

CASES += [
    Case("fault-bench-check-says-outputs-unconfirmed", ["bench", "check", "{tmp}/b.yaml"],
         r"could NOT be confirmed off.*front panel", files={"b.yaml": with_fault(SIM, "pg", "disconnect", 25)},
         exit_codes=(1,)),
]
