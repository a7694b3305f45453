"""One run per output folder: a second training or sweep into a folder in use is refused.

Two ``labbench train --out X`` started together both wrote X's checkpoint and metrics,
both exited 0, and one result was lost.  The folder is locked with ``flock`` on a file
inside it: the lock dies with its process (``kill -9`` included), so a crashed run never
leaves a stale lock, and the file names the holder's pid for the message.  The file is
removed when the run ends.  (No lock on platforms without ``fcntl``.)
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import LabbenchError

LOCK_NAME = ".labbench.lock"


class FolderBusy(LabbenchError):
    """The folder is in use by another labbench run."""


class FolderLock:
    def __init__(self, folder: str | os.PathLike, what: str, option: str = "--out"):
        self.path = Path(folder) / LOCK_NAME
        self.what, self.option = what, option
        self._file = None

    def acquire(self) -> "FolderLock":
        try:
            import fcntl
        except ImportError:     # Windows: no advisory locks here
            return self
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise FolderBusy(f"{self.path.parent} is in use by another labbench {self.what} (pid {holder}); "
                             f"wait for it to finish, or give another {self.option}") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()     # while still held: nobody can take a lock on it meanwhile
            self._file.close()
            self._file = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
