"""2T2R synapse arrays behind one small protocol (see :class:`Array2T2R`)."""
from .protocol import Array2T2R, ArrayCounters

__all__ = ["Array2T2R", "ArrayCounters"]
