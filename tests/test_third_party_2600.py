"""labmcp-keithley-smu 0.1.2's 2600B driver (PyPI, Apache-2.0), a driver we did not write,
unchanged against the simulated 2636B: its 13 calls, each asserting what it returned.

It is not a test dependency: it pulls in an MCP server stack (fastmcp and ~70 packages),
so the test runs where it is importable, or installed with ``pip install --target DIR
"labmcp-keithley-smu==0.1.2"`` and DIR given as ``LABBENCH_LABMCP``; elsewhere it skips
and says why.  bench/third_party_2600.py runs the same calls and prints them."""
from __future__ import annotations

import os
import sys

import pytest

from labbench.sim import SimWorld


@pytest.fixture
def labmcp():
    folder = os.environ.get("LABBENCH_LABMCP")
    if folder and folder not in sys.path:
        sys.path.append(folder)
    try:
        from labmcp.transports.visa import VisaTransport
        from labmcp_keithley_smu.driver import open_smu
    except ImportError:
        pytest.skip("labmcp-keithley-smu 0.1.2 is not installed (not a test dependency: it pulls in an MCP "
                    "server stack); pip install --target DIR it and set LABBENCH_LABMCP=DIR")
    return VisaTransport, open_smu


def test_labmcp_keithley_smu_drives_the_simulated_2636b(labmcp):
    from bench.third_party_2600 import labmcp_calls

    VisaTransport, open_smu = labmcp
    w = SimWorld()
    w.add("keithley2600b", "smu", "GPIB0::26::INSTR")
    key = w.register()
    try:
        smu = open_smu(VisaTransport("GPIB0::26::INSTR", backend=f"{key}@labbench"), channel="a")
        results = {name: fn() for name, fn in labmcp_calls(smu)}
        assert len(results) == 13
        assert results["identify"]["model"] == "2636B"
        assert results["output_state"] is False
        on = results["status"]
        assert on.output_on and on.source == "voltage" and on.level == pytest.approx(0.2) \
            and on.compliance == pytest.approx(1e-3)
        reading = results["read (measure.iv, source.compliance)"]
        # nothing connected: the level within the 2 V range's offset, the meter's floor in current
        assert reading.voltage_v == pytest.approx(0.2, abs=350e-6) and abs(reading.current_a) < 1e-9
        assert results["error_list"] == []
        # a current into nothing: the voltage goes to its 2 V limit, in compliance
        cur = results["read in current mode"]
        assert cur.voltage_v == pytest.approx(2.0, abs=5e-3) and cur.in_compliance
        off = results["status, output off"]
        assert not off.output_on and off.source == "current" and off.compliance == pytest.approx(2.0)
        assert w.instruments["smu"].outputs_on() == []
    finally:
        w.unregister()
