"""Design-space sweeps: a sweep file (base configuration + grid over training options,
device-model fields and seeds), points run on Dask, one tidy results table."""
from .spec import Point, Sweep, SweepError, build_sweep, load_sweep

__all__ = ["Point", "Sweep", "SweepError", "build_sweep", "load_sweep"]
