"""Atomic file writes: a reader (or a crash) never sees half a file.

Write to a temporary file in the same folder, fsync it, then ``os.replace`` it over the
target (atomic on POSIX and Windows for one filesystem).  On any failure the temporary
file is removed, so a full disk or a read-only folder leaves no ``.tmp`` litter behind.
Every writer in labbench (device models, CSV exports, plots, checkpoints, metrics) goes
through :func:`atomic_path`.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it replaces ``path``.

    ``with atomic_path("m.yaml") as tmp: tmp.write_text(...)``.  The temporary name keeps
    the suffix (``.m.yaml.<random>.tmp.yaml``) so writers that pick a format from it
    (matplotlib, pandas) still do.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # make the bytes durable before the rename publishes them
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
