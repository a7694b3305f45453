"""Device models to the simulators people already use, and back: IBM aihwkit and NeuroSim.

``labbench export aihwkit|neurosim MODEL`` writes an importable configuration for the
target and a summary of what maps exactly, what is approximated (with its size) and what
is dropped; ``labbench import aihwkit CONFIG`` turns an aihwkit device config into a
labbench device model.  See docs/export.md.
"""
from .aihwkit_export import AIHWKIT_VERSION, TESTED_VERSIONS, export_aihwkit
from .neurosim_export import NEUROSIM_VERSIONS, export_neurosim
from .summary import Summary

__all__ = ["AIHWKIT_VERSION", "TESTED_VERSIONS", "NEUROSIM_VERSIONS", "export_aihwkit", "export_neurosim", "Summary"]
