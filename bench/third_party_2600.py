"""A 2600B driver we did not write, run unchanged against the simulated 2636B.

labmcp-keithley-smu 0.1.2 (PyPI, Apache-2.0) drives a Series 2600B over TSP with
``print(...)`` queries; it is not a test dependency (it pulls in an MCP server stack), so
install it beside the venv first:

    .venv/bin/pip install --target /tmp/lm "labmcp-keithley-smu==0.1.2"
    .venv/bin/python bench/third_party_2600.py --lib /tmp/lm

Prints each call with its result and the count that passed (results in
bench/results/third_party_2600.txt).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def labmcp_calls(smu) -> list:
    """(name, call) for the 13 calls of labmcp-keithley-smu's driver that a session makes
    (tests/test_third_party_2600.py runs the same list)."""
    return [
        ("identify", lambda: smu.identify()),
        ("output_state", lambda: smu.output_state()),
        ("configure voltage source, 1 mA compliance", lambda: smu.configure("voltage", 0.5, 1e-3)),
        ("set_level", lambda: smu.set_level("voltage", 0.2)),
        ("set_output on", lambda: smu.set_output(True)),
        ("read (measure.iv, source.compliance)", lambda: smu.read("voltage")),
        ("status", lambda: smu.status()),
        ("error_list", lambda: smu.error_list()),
        ("set_remote_sense", lambda: smu.set_remote_sense(True)),
        ("configure current source, 2 V compliance", lambda: smu.configure("current", 1e-6, 2.0)),
        ("read in current mode", lambda: smu.read("current")),
        ("set_output off", lambda: smu.set_output(False)),
        ("status, output off", lambda: smu.status()),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lib", default="/tmp/lm", help="the folder labmcp-keithley-smu was installed into (--target)")
    args = ap.parse_args()
    sys.path.append(args.lib)
    try:
        from labmcp.transports.visa import VisaTransport
        from labmcp_keithley_smu.driver import open_smu
    except ImportError:
        sys.exit(f"labmcp-keithley-smu is not installed in {args.lib}: see this script's docstring")
    from labbench.sim import SimWorld

    w = SimWorld()
    w.add("keithley2600b", "smu", "GPIB0::26::INSTR")
    key = w.register()
    smu = open_smu(VisaTransport("GPIB0::26::INSTR", backend=f"{key}@labbench"), channel="a")
    calls = labmcp_calls(smu)
    ok = 0
    for name, fn in calls:
        try:
            r = fn()
            ok += 1
            print(f"  ok    {name}: {repr(r)[:90]}")
        except Exception as e:  # noqa: BLE001 - a benchmark counts failures
            print(f"  FAIL  {name}: {type(e).__name__}: {str(e)[:120]}")
    print(f"labmcp-keithley-smu 0.1.2, Keithley2600 driver on the simulated 2636B: {ok} of {len(calls)} calls passed")


if __name__ == "__main__":
    main()
