"""PyVISA finds a backend named ``labbench`` here: ``ResourceManager("...@labbench")``.

This is the composition root of the simulated backend: importing the bench layer
registers how a bench file becomes a simulated world (the simulator itself does not read
bench files)."""
import labbench.instruments.config  # noqa: F401 - registers the bench-file loader
from labbench.sim.highlevel import WRAPPER_CLASS

__all__ = ["WRAPPER_CLASS"]
