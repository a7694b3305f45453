"""The sweep package's error (its own module: the spec and the data both raise it)."""
from __future__ import annotations

from labbench.errors import LabbenchError


class SweepError(LabbenchError, ValueError):
    """A sweep file that cannot run; the message names the file and the field."""
