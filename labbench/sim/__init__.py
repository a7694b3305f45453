"""Simulated instruments behind a PyVISA backend, wired to a simulated 2T2R chip.

``pyvisa.ResourceManager(LabbenchVisaLibrary.for_world(world))`` or, by name,
``pyvisa.ResourceManager("<key or bench.yaml>@labbench")`` (the ``pyvisa_labbench``
package re-exports the library class).  Unchanged PyMeasure and QCoDeS drivers talk
to the simulated Keithley 2450, Keysight 81160A and Keysight B220x as to hardware.
"""
from .highlevel import LabbenchVisaLibrary
from .scpi import SCPIError
from .world import SimWorld, VirtualClock

__all__ = ["LabbenchVisaLibrary", "SCPIError", "SimWorld", "VirtualClock"]
