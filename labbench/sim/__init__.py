"""Simulated instruments behind a PyVISA backend, wired to a simulated 2T2R chip.

``pyvisa.ResourceManager(LabbenchVisaLibrary.for_world(world))`` or, by name,
``pyvisa.ResourceManager("<key or bench.yaml>@labbench")`` (the ``pyvisa_labbench``
package re-exports the library class).  Unchanged PyMeasure and QCoDeS drivers talk
to the simulated Keithley 2450, Keithley 2600B (TSP), Keysight 81160A and Keysight B220x
as to hardware.

- ``props``: an SCPI instrument is its manual's command table (``Prop`` rows: header,
  type, range, *RST value, unit, coupling); ``scpi``: the grammar and error queue;
- ``keithley2450``, ``keysight81160a``, ``keysight_b220x``: the tables plus behaviour;
- ``tsp`` + ``keithley2600b``: TSP in a real Lua interpreter (lupa); ``tsp_attributes``:
  the 2600B's attributes as rows of its manual's attribute table (``Attr``);
- ``transport``: what a VISA transaction costs per interface; the ``world``'s virtual
  clock charges it, with integration, delays and pulse widths ("instrument time").
"""
from .highlevel import LabbenchVisaLibrary
from .scpi import SCPIError
from .world import SimWorld, VirtualClock

__all__ = ["LabbenchVisaLibrary", "SCPIError", "SimWorld", "VirtualClock"]
