"""Where the project's data folders are (the repository checkout, installed editable)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEVICE_MODELS = ROOT / "device_models"
DATA = ROOT / "data"
BENCHES = ROOT / "benches"


def shared_data() -> Path | None:
    """The lab's shared measured data (``../shared/data``), or None when absent.

    ``LABBENCH_SHARED_DATA`` overrides the location.
    """
    env = os.environ.get("LABBENCH_SHARED_DATA")
    candidates = [Path(env)] if env else [ROOT.parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None
