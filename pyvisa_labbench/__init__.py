"""PyVISA finds a backend named ``labbench`` here: ``ResourceManager("...@labbench")``."""
from labbench.sim.highlevel import WRAPPER_CLASS

__all__ = ["WRAPPER_CLASS"]
