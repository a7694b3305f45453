"""MNIST from the four standard gzip IDX files.

Where the files are looked for: the ``data`` argument (``--data``), else the
``LABBENCH_MNIST`` environment variable, else the user's cache folder
(``$XDG_CACHE_HOME/labbench/mnist``, by default ``~/.cache/labbench/mnist``).  When the
folder does not hold them, they are downloaded into it from the usual public mirrors and
checked against SHA-256 digests; offline, the error says where to put the four files.
Nothing else outside the package is read.

The IDX reader is ours (a few lines of ``struct``; torchvision/tensorflow would be a
gigabyte of dependency for it) and refuses a truncated or corrupt file by name.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import struct
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labbench.errors import LabbenchError

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# SHA-256 of the gzip files.  The train images have two accepted digests: LeCun's
# original .gz and a byte-identical re-compression (same uncompressed content) that
# some mirrors and the lab's shared copy carry.
SHA256 = {
    "train-images-idx3-ubyte.gz": {
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "71524e2cd1ad2968737f7f2f2ff69cbfc32df8ccddff51593f7cb2d4e0eb5b64",
    },
    "train-labels-idx1-ubyte.gz": {"3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
    "t10k-images-idx3-ubyte.gz": {"8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
    "t10k-labels-idx1-ubyte.gz": {"f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
ENV = "LABBENCH_MNIST"


class MnistError(LabbenchError, RuntimeError):
    """MNIST files missing, unreachable or corrupt; the message says what to do (exit 1)."""

    exit_code = 1


@dataclass
class Mnist:
    x_train: np.ndarray   # (n, 784) uint8
    y_train: np.ndarray   # (n,) uint8
    x_test: np.ndarray
    y_test: np.ndarray
    folder: Path


def read_idx(path: str | Path) -> np.ndarray:
    """One gzip IDX file as a uint8 array (images: (n, rows, cols); labels: (n,))."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise MnistError(f"{path}: not a readable gzip IDX file ({e}); delete it and fetch it again") from None
    if len(raw) < 8:
        raise MnistError(f"{path}: truncated IDX header ({len(raw)} bytes); delete it and fetch it again")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise MnistError(f"{path}: not an MNIST IDX file (magic {raw[:4].hex()}); "
                         "expected unsigned-byte images (0x00000803) or labels (0x00000801)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MnistError(f"{path}: truncated IDX header; delete it and fetch it again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise MnistError(f"{path}: truncated or padded: header says {dims} = {expected} bytes, "
                         f"file holds {len(raw) - header}; delete it and fetch it again")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _has_all(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES.values())


def default_folder() -> Path:
    """Where MNIST is cached for this user when no folder is named."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "labbench" / "mnist"


def target_folder(data: str | Path | None = None) -> Path:
    """The folder MNIST is read from (and downloaded into): see the module doc."""
    if data is not None:
        return Path(data)
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    return default_folder()


def find_folder(data: str | Path | None = None) -> Path | None:
    """The folder holding all four files (see module doc), else None."""
    folder = target_folder(data)
    return folder if _has_all(folder) else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(folder: str | Path, timeout: float = 15.0) -> Path:
    """Fetch the four files into ``folder`` (atomically, SHA-256 checked).

    Offline it fails at the first file (one attempt per mirror), and a folder it made
    for nothing is removed again."""
    folder = Path(folder)
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MnistError(f"MNIST not found, and cannot create {folder} to download it into "
                         f"({e.strerror or e}). Put the four MNIST files {sorted(FILES.values())} into a "
                         f"folder and point --data / ${ENV} at it.") from None
    try:
        _fetch_all(folder, timeout)
    except BaseException:
        for p in created:          # innermost first; only folders left empty
            try:
                p.rmdir()
            except OSError:
                break
        raise
    return folder


def _fetch_all(folder: Path, timeout: float) -> None:
    for name in FILES.values():
        dest = folder / name
        if dest.is_file() and _sha256(dest) in SHA256[name]:
            continue
        errors = []
        for mirror in MIRRORS:
            tmp = dest.with_suffix(".part")
            try:
                with urllib.request.urlopen(mirror + name, timeout=timeout) as r, open(tmp, "wb") as f:
                    f.write(r.read())
            except (OSError, ValueError, http.client.HTTPException) as e:   # URLError, timeouts, cut transfers
                errors.append(f"{mirror}: {getattr(e, 'reason', None) or e}")
                tmp.unlink(missing_ok=True)
                continue
            digest = _sha256(tmp)
            if digest not in SHA256[name]:
                errors.append(f"{mirror}: SHA-256 mismatch ({digest})")
                tmp.unlink(missing_ok=True)
                continue
            tmp.replace(dest)
            break
        else:
            raise MnistError(
                f"could not download {name} ({'; '.join(errors)}).\n"
                f"Offline, or the mirrors fail? Put the four MNIST files {sorted(FILES.values())} into {folder} "
                f"(or point --data / ${ENV} at a folder holding them).")


def load_mnist(data: str | Path | None = None, allow_download: bool = True) -> Mnist:
    """Train and test images (flattened, uint8) and labels."""
    folder = find_folder(data)
    if folder is None:
        target = target_folder(data)
        if not allow_download:
            raise MnistError(f"MNIST not found: put the four files {sorted(FILES.values())} into {target} "
                             f"(or point --data / ${ENV} at a folder holding them)")
        folder = download(target)
    arrays = {k: read_idx(folder / name) for k, name in FILES.items()}
    for split in ("train", "test"):
        n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_img != n_lab:
            raise MnistError(f"{folder}: {split} has {n_img} images but {n_lab} labels")
    return Mnist(arrays["train_images"].reshape(len(arrays["train_images"]), -1), arrays["train_labels"],
                 arrays["test_images"].reshape(len(arrays["test_images"]), -1), arrays["test_labels"], folder)


def to_inputs(images: np.ndarray, binarize: bool = False) -> np.ndarray:
    """uint8 pixels → float32 inputs in [−1, 1] (or ±1 with ``binarize``)."""
    x = images.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    if binarize:
        x = np.where(x >= 0, np.float32(1), np.float32(-1))
    return x
