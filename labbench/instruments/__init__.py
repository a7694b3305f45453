"""Instrument roles over PyMeasure/QCoDeS drivers, and the Bench that ties them to a chip."""
from .bench import Bench
from .config import BenchConfig
from .roles import PulseGenerator, SafetyError, SourceMeter, SwitchMatrix

__all__ = ["Bench", "BenchConfig", "PulseGenerator", "SafetyError", "SourceMeter", "SwitchMatrix"]
