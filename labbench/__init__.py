"""labbench: RRAM device-lab suite (instruments, characterization, fitting, simulated bench, 2T2R BNN training)."""
import os as _os
import sys as _sys

__version__ = "0.1.0"
__all__ = ["__version__"]   # the API lives in the subpackages (docs/architecture.md)


def _numba_cache_dir() -> str:
    """The user's cache folder for the chip's compiled loops: never the installed package
    (site-packages may be shared or read-only, and a cache does not belong there)."""
    base = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    if _os.name == "nt":
        base = _os.environ.get("LOCALAPPDATA") or base
    return _os.path.join(base, "labbench", "numba")


# OpenBLAS's idle workers spin ~0.1 s (2^28 cycles) after each call, on the core the chip's
# helper thread pulses on between matmuls (labbench.physics.overlap): 2^20 cycles (~0.3 ms)
# still spans back-to-back matmuls.  Read when OpenBLAS loads: where numpy was imported
# first, set it in the environment (docs/training.md, Speed).
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "20")

# before any of our modules imports numba (it reads the variable once, at import)
_os.environ.setdefault("NUMBA_CACHE_DIR", _numba_cache_dir())
if "numba" in _sys.modules:          # imported before labbench: set its config directly
    from numba.core import config as _config

    if not _config.CACHE_DIR:
        _config.CACHE_DIR = _os.environ["NUMBA_CACHE_DIR"]
