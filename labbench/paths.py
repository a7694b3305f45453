"""Where labbench finds what it ships, and where it writes what it makes.

Shipped data (device models, bench files, sample and measured data sets) is package data,
read through :mod:`importlib.resources`, so a checkout, an editable install and a wheel in
an empty folder behave the same.  The repository keeps its top-level data folders
(``device_models/``, ``benches/``, ``data/``); ``pyproject.toml`` maps them into the
``labbench`` namespace.  (Procedures are code and live in ``labbench/procedures``;
the top-level ``procedures`` is a link to it.)

Outputs (the dataset, run folders, the demo, plots) never go into the installed package:
they go to the folder a command is given (``--out``), else ``$LABBENCH_OUT``, else the
current folder.  Nothing outside the package is read unless an option or an environment
variable names it (``--data``/``$LABBENCH_MNIST`` for MNIST).
"""
from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path

OUT_ENV = "LABBENCH_OUT"


def _package_folder(package: str) -> Path:
    # labbench installs unzipped (wheel, `pip install .`, `pip install -e .`), so the
    # resource root is a real folder; zipapp installs are not supported.
    return Path(str(resources.files(package)))


DEVICE_MODELS = _package_folder("labbench.device_models")
BENCHES = _package_folder("labbench.benches")
DATA = _package_folder("labbench.data")
MEASURED_DEVICES = DATA / "devices"   # measured pulse-response sets (README inside: provenance, licenses)


class NotFound(FileNotFoundError):
    """A name that is neither a file nor a shipped resource; the message lists the names."""


def names(folder: Path, suffix: str = ".yaml") -> list[str]:
    return sorted(p.stem for p in folder.glob(f"*{suffix}"))


def _resolve(what: str, folder: Path, name_or_path: str | os.PathLike, base: Path | None,
             option: str) -> Path:
    p = Path(name_or_path)
    candidates = [p]
    if base is not None and not p.is_absolute():
        candidates.append(base / p)
    if not p.suffix and p.parent == Path("."):
        candidates.append(folder / f"{p.name}.yaml")
    for c in candidates:
        if c.is_file():
            return c
    raise NotFound(f"{what} {str(name_or_path)!r} not found: not a file, and not a shipped name. "
                   f"Shipped {what}s: {', '.join(names(folder)) or '(none)'}; "
                   f"give one of these names or a path ({option})")


def resolve_device_model(name_or_path: str | os.PathLike, base: Path | None = None) -> Path:
    """A device-model file by path (relative to ``base`` too) or by shipped name."""
    return _resolve("device model", DEVICE_MODELS, name_or_path, base, "--device-model")


def resolve_bench(name_or_path: str | os.PathLike) -> Path:
    """A bench file by path or by shipped name (``sim``, ``hardware_example``, ...)."""
    return _resolve("bench file", BENCHES, name_or_path, None, "--bench")


def bench_reference(name_or_path: str | os.PathLike) -> str:
    """How a run records the bench it used: a shipped bench by its name (the installed
    package's folder changes between installs), any other file by its absolute path (the
    run may be evaluated from another folder).  A name that does not resolve is kept as given."""
    try:
        path = resolve_bench(name_or_path)
    except NotFound:
        return str(name_or_path)
    if path.resolve().parent == BENCHES.resolve():
        return path.stem
    return str(path.resolve())


def output_dir(out: str | os.PathLike | None = None) -> Path:
    """The folder outputs go to: ``out``, else ``$LABBENCH_OUT``, else the current folder."""
    return Path(out) if out else Path(os.environ.get(OUT_ENV) or ".")


def default_db(out: str | os.PathLike | None = None) -> Path:
    return output_dir(out) / "labbench.db"


class OutputError(OSError):
    """An output location that cannot be written; raised before any work starts."""


def ensure_writable_dir(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``folder`` if needed and prove it writable with a throw-away file."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".labbench-probe-"):
            pass
    except OSError as e:
        raise OutputError(f"cannot write to {what} {folder}: {e.strerror or e}; "
                          f"choose another folder (--out) or fix its permissions") from None
    return folder


def ensure_writable_file(path: str | os.PathLike, what: str = "output file") -> Path:
    """The parent folder of ``path`` must exist and be writable (not created: a typo in a
    folder name should not silently make new folders); ``path`` must not be a folder."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {what} {path}: folder {parent} does not exist; create it first")
    if path.is_dir():
        raise OutputError(f"cannot write {what} {path}: it is a folder; give a file name")
    ensure_writable_dir(parent, f"the folder of {what} {path}")
    return path


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, innermost first (what a command
    about to create ``folder`` must remove again if it fails before doing any work)."""
    return [p for p in (folder, *folder.parents) if not p.exists()]


def remove_if_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) while they are empty; stop at the first that is not."""
    for p in folders:
        try:
            p.rmdir()
        except OSError:
            break
