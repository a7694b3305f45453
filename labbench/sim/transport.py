"""What a VISA transaction costs in instrument time, per interface.

The virtual clock charges each write and each read its interface's latency plus its
bytes, so "instrument time" estimates how long a run takes on a real bench, and a path
that needs fewer round trips (a TSP script on the instrument) shows its gain.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Transport:
    """What one VISA transaction costs on an interface: a fixed latency (controller,
    bus handshake, the instrument's message handling) plus a time per byte."""

    latency: float   # s per write or read
    per_byte: float  # s per byte moved


# Typical figures, order of magnitude (replace with your bench's own measurement):
# - GPIB: IEEE 488.1 handshake ~1 MB/s (non-HS488); a write or read through a
#   USB/PCI GPIB controller costs a few hundred microseconds (NI GPIB-USB-HS and
#   PCI-GPIB performance notes: ~0.3-1 ms per small message).
# - USB-TMC: USB 2.0 high speed schedules bulk transfers in 125 us microframes; a
#   small message takes one or two (vendor USBTMC notes: ~0.2-0.3 ms per message).
# - LAN VXI-11: one ONC RPC over TCP per write or read; instrument-side RPC handling
#   dominates the LAN round trip (Keysight "LAN vs GPIB" application notes: ~1 ms per
#   VXI-11 transaction; raw sockets/HiSLIP are faster and are not modelled here).
# - Serial (ASRL): 9600 baud, ~1 ms per byte.
TRANSPORTS: dict[str, Transport] = {
    "GPIB": Transport(latency=5e-4, per_byte=1e-6),
    "USB": Transport(latency=2.5e-4, per_byte=3e-8),
    "TCPIP": Transport(latency=1e-3, per_byte=1e-7),
    "ASRL": Transport(latency=1e-3, per_byte=1e-3),
}


def transport_for(address: str) -> Transport:
    """The interface of a canonical VISA address ('GPIB0::24::INSTR' -> GPIB)."""
    return TRANSPORTS.get(address.split("::")[0].rstrip("0123456789"), TRANSPORTS["GPIB"])
