"""2T2R synapse arrays behind one small protocol (see :class:`Array2T2R`)."""
from .protocol import Array2T2R, ArrayCounters
from .sim_array import SimArray

__all__ = ["Array2T2R", "ArrayCounters", "SimArray"]
