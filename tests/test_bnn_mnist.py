"""MNIST reader: tiny IDX files written here; truncated/corrupt files and missing data fail clearly."""
import gzip
import hashlib
import io
import struct

import numpy as np
import pytest

from labbench.bnn import mnist
from labbench.bnn.mnist import FILES, MnistError, load_mnist, read_idx, to_inputs


def write_idx(path, array):
    array = np.asarray(array, np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def make_folder(folder, n_train=30, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = {"train_images": rng.integers(0, 256, (n_train, 28, 28)), "train_labels": rng.integers(0, 10, n_train),
            "test_images": rng.integers(0, 256, (n_test, 28, 28)), "test_labels": rng.integers(0, 10, n_test)}
    for key, name in FILES.items():
        write_idx(folder / name, data[key])
    return data


def test_reads_the_four_files(tmp_path):
    data = make_folder(tmp_path / "m")
    m = load_mnist(tmp_path / "m", allow_download=False)
    assert m.x_train.shape == (30, 784) and m.x_test.shape == (10, 784)
    np.testing.assert_array_equal(m.x_train, data["train_images"].reshape(30, -1))
    np.testing.assert_array_equal(m.y_test, data["test_labels"])
    x = to_inputs(m.x_train[:2])
    assert x.dtype == np.float32 and x.min() >= -1 and x.max() <= 1
    assert set(np.unique(to_inputs(m.x_train, binarize=True))) <= {-1.0, 1.0}


def test_environment_variable_names_the_folder(tmp_path, monkeypatch):
    make_folder(tmp_path / "elsewhere", n_train=5, n_test=3)
    monkeypatch.setenv(mnist.ENV, str(tmp_path / "elsewhere"))
    assert len(load_mnist(allow_download=False).y_train) == 5


def test_truncated_file_is_refused_by_name(tmp_path):
    make_folder(tmp_path / "m")
    path = tmp_path / "m" / FILES["train_images"]
    raw = gzip.decompress(path.read_bytes())
    with gzip.open(path, "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(MnistError, match="truncated.*fetch it again") as e:
        load_mnist(tmp_path / "m", allow_download=False)
    assert FILES["train_images"] in str(e.value)


def test_corrupt_gzip_and_wrong_magic_are_refused(tmp_path):
    bad = tmp_path / "x.gz"
    good = gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + bytes(10))
    bad.write_bytes(good[: len(good) // 2])                       # cut mid-stream
    with pytest.raises(MnistError, match="not a readable gzip"):
        read_idx(bad)
    bad.write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + bytes(4)))  # float32 IDX
    with pytest.raises(MnistError, match="not an MNIST IDX"):
        read_idx(bad)


def test_mismatched_counts_are_refused(tmp_path):
    make_folder(tmp_path / "m")
    write_idx(tmp_path / "m" / FILES["test_labels"], np.zeros(7))
    with pytest.raises(MnistError, match="10 images but 7 labels"):
        load_mnist(tmp_path / "m", allow_download=False)


def test_missing_offline_says_where_to_put_the_files(tmp_path):
    with pytest.raises(MnistError) as e:
        load_mnist(tmp_path / "empty", allow_download=False)
    msg = str(e.value)
    assert str(tmp_path / "empty") in msg and all(name in msg for name in FILES.values())


def test_download_checks_sha256(tmp_path, monkeypatch):
    """The download path with a fake mirror (no network): good bytes land, bad ones are refused."""
    src = tmp_path / "src"
    make_folder(src, n_train=4, n_test=2)
    blobs = {name: (src / name).read_bytes() for name in FILES.values()}
    monkeypatch.setattr(mnist, "SHA256", {n: {hashlib.sha256(b).hexdigest()} for n, b in blobs.items()})
    served = []

    def fake_urlopen(url, timeout=None):
        name = url.rsplit("/", 1)[1]
        served.append(url)
        return io.BytesIO(blobs[name])

    monkeypatch.setattr(mnist.urllib.request, "urlopen", fake_urlopen)
    m = load_mnist(tmp_path / "dl")
    assert len(m.y_train) == 4 and len(served) == 4
    monkeypatch.setattr(mnist, "SHA256", {n: {"0" * 64} for n in blobs})
    with pytest.raises(MnistError, match="(?s)SHA-256 mismatch.*Put the four MNIST files"):
        mnist.download(tmp_path / "dl2")
    assert not list((tmp_path / "dl2").glob("*.gz"))              # nothing half-written


def test_a_local_copy_is_real_mnist():
    folder = mnist.find_folder()
    if folder is None:
        pytest.skip("no local MNIST ($LABBENCH_MNIST or the user cache); nothing to check offline")
    labels = read_idx(folder / FILES["test_labels"])
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_offline_download_fails_fast_and_leaves_no_folder(tmp_path, monkeypatch):
    """No network: one attempt per mirror for the first file, a message that says where
    to put the four files, and the folder made for the download removed again."""
    import urllib.error

    tried = []

    def offline(url, timeout=None):
        tried.append(url)
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(mnist.urllib.request, "urlopen", offline)
    target = tmp_path / "new" / "mnist"
    with pytest.raises(MnistError) as e:
        load_mnist(target)
    msg = str(e.value)
    assert "Put the four MNIST files" in msg and str(target) in msg
    assert all(name in msg for name in FILES.values())
    assert len(tried) == len(mnist.MIRRORS)
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "mine"
    existing.mkdir()
    with pytest.raises(MnistError):
        load_mnist(existing)
    assert existing.is_dir()                                     # a folder the user made stays


def test_mnist_error_is_a_labbench_error_with_exit_status_1():
    from labbench.errors import LabbenchError

    assert issubclass(MnistError, LabbenchError) and MnistError.exit_code == 1
