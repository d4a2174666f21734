"""MNIST loading: the real test split, IDX parsing (gz and plain), npz, errors."""

from __future__ import annotations

import functools
import gzip
import shutil
import struct

import numpy as np
import pytest

from epochal.datasets import mnist
from epochal.datasets.mnist import load_data, read_idx

# Per-class counts of the real MNIST test split.
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def write_idx(path, array: np.ndarray, code: int = 0x08, compress: bool = False) -> None:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    data = header + big_endian.tobytes()
    if compress:
        data = gzip.compress(data)
    path.write_bytes(data)


@functools.lru_cache(maxsize=1)
def _load_real(folder: str):
    return load_data(folder)


@pytest.fixture
def real_mnist(mnist_dir):
    return _load_real(str(mnist_dir))


# ---------------------------------------------------------------- the real test split


def test_real_test_split_shapes_and_dtypes(real_mnist):
    (x_train, y_train), (x_test, y_test) = real_mnist
    assert x_test.shape == (10000, 28, 28)
    assert x_test.dtype == np.uint8
    assert y_test.shape == (10000,)
    assert y_test.dtype == np.int64
    # Only the test split is on disk: the train split is empty, with the right shapes.
    assert x_train.shape == (0, 28, 28)
    assert x_train.dtype == np.uint8
    assert y_train.shape == (0,)
    assert y_train.dtype == np.int64


def test_real_test_split_labels(real_mnist):
    _, (_, y_test) = real_mnist
    assert y_test.min() == 0
    assert y_test.max() == 9
    assert np.bincount(y_test, minlength=10).tolist() == TEST_COUNTS
    assert y_test[:5].tolist() == [7, 2, 1, 0, 4]


def test_real_test_split_pixels(real_mnist):
    _, (x_test, _) = real_mnist
    assert x_test.min() == 0
    assert x_test.max() == 255
    # Digits are drawn in the centre; the border rows are blank.
    assert x_test[:, 0, :].max() == 0
    assert 0.1 < (x_test > 0).mean() < 0.3


def test_read_idx_gz_and_plain_copies_agree(mnist_dir, tmp_path):
    source = mnist_dir / "t10k-labels-idx1-ubyte.gz"
    gz_copy = tmp_path / "labels-idx1-ubyte.gz"
    shutil.copyfile(source, gz_copy)
    plain = tmp_path / "labels-idx1-ubyte"
    plain.write_bytes(gzip.decompress(source.read_bytes()))
    from_gz, from_plain = read_idx(gz_copy), read_idx(plain)
    assert from_gz.dtype == np.uint8
    assert from_gz.shape == (10000,)
    assert np.array_equal(from_gz, from_plain)
    assert from_gz[0] == 7


# ---------------------------------------------------------------- read_idx on small files


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_small_uint8_file(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("images.gz" if compress else "images")
    write_idx(path, images, compress=compress)
    out = read_idx(path)
    assert out.dtype == np.uint8
    assert np.array_equal(out, images)


@pytest.mark.parametrize(
    ("code", "dtype"), [(0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)]
)
def test_read_idx_big_endian_types_come_back_in_native_order(tmp_path, code, dtype):
    values = np.array([[1, -2, 300], [70000 if dtype != np.int16 else 7000, 5, -6]], dtype=dtype)
    write_idx(tmp_path / "values", values, code=code)
    out = read_idx(tmp_path / "values")
    assert out.dtype.isnative
    assert out.dtype == np.dtype(dtype)
    assert np.array_equal(out, values)


def test_read_idx_truncated_file_is_a_value_error(tmp_path):
    path = tmp_path / "images"
    write_idx(path, np.zeros((4, 2, 2), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_read_idx_truncated_gz_copy_of_real_labels(mnist_dir, tmp_path):
    data = gzip.decompress((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(data[:5000]))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


@pytest.mark.parametrize("payload", [b"", b"\x00", b"PK\x03\x04rest", b"\x00\x00\x07\x01abcd"])
def test_read_idx_bad_magic_is_a_value_error(tmp_path, payload):
    path = tmp_path / "junk"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match="IDX"):
        read_idx(path)


# ---------------------------------------------------------------- load_data layouts


def _write_split(folder, prefix: str, n: int, compress: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=(n,), dtype=np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", x, compress=compress)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", y, compress=compress)
    return x, y


@pytest.mark.parametrize("compress", [False, True])
def test_load_data_full_four_file_layout(tmp_path, compress):
    x_train, y_train = _write_split(tmp_path, "train", 5, compress, seed=1)
    x_test, y_test = _write_split(tmp_path, "t10k", 3, compress, seed=2)
    (a, b), (c, d) = load_data(tmp_path)
    assert np.array_equal(a, x_train)
    assert np.array_equal(b, y_train)
    assert b.dtype == np.int64
    assert np.array_equal(c, x_test)
    assert np.array_equal(d, y_test)


def test_load_data_accepts_dotted_idx_names(tmp_path):
    x = np.ones((2, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "t10k-images.idx3-ubyte", x)
    write_idx(tmp_path / "t10k-labels.idx1-ubyte", np.array([3, 4], dtype=np.uint8))
    _, (x_test, y_test) = load_data(str(tmp_path))
    assert x_test.shape == (2, 28, 28)
    assert y_test.tolist() == [3, 4]


def test_load_data_mismatched_counts_is_a_value_error(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros((2,), dtype=np.uint8))
    with pytest.raises(ValueError, match="labels"):
        load_data(tmp_path)


def test_load_data_missing_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_data(tmp_path / "nowhere")


def test_load_data_empty_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_data(tmp_path)


def test_load_data_images_without_labels_is_file_not_found(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((1, 28, 28), dtype=np.uint8))
    with pytest.raises(FileNotFoundError):
        load_data(tmp_path)


def test_load_data_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8),
        "y_train": np.array([1, 2, 3, 4], dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(2, 28, 28), dtype=np.uint8),
        "y_test": np.array([9, 0], dtype=np.uint8),
    }
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    (x_train, y_train), (x_test, y_test) = load_data(path)
    assert np.array_equal(x_train, arrays["x_train"])
    assert x_train.dtype == np.uint8
    assert y_train.tolist() == [1, 2, 3, 4]
    assert y_train.dtype == np.int64
    assert np.array_equal(x_test, arrays["x_test"])
    assert y_test.tolist() == [9, 0]
    assert y_test.dtype == np.int64


def test_download_rejects_a_bad_checksum_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))

    def fake_retrieve(url, target):
        assert url == mnist.MNIST_NPZ_URL
        with open(target, "wb") as handle:
            handle.write(b"not the real file")

    monkeypatch.setattr(mnist.urllib.request, "urlretrieve", fake_retrieve)
    with pytest.raises(OSError, match="sha256"):
        load_data()
    cache = tmp_path / ".epochal" / "datasets"
    assert list(cache.iterdir()) == []


def test_download_failure_explains_how_to_pass_a_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))

    def offline(url, target):
        raise OSError("network unreachable")

    monkeypatch.setattr(mnist.urllib.request, "urlretrieve", offline)
    with pytest.raises(OSError, match="path="):
        load_data()


# ---------------------------------------------------------------- the bundled split
def test_bundled_split_is_the_real_test_set():
    """The test split ships inside the package: a bare clone or a wheel reads it offline."""
    x, y = mnist.load_bundled()
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == TEST_COUNTS
    (x_train, _), (x_test, y_test) = load_data(path=mnist.bundled_path())
    assert len(x_train) == 0
    np.testing.assert_array_equal(x_test, x)
    np.testing.assert_array_equal(y_test, y)


def test_examples_and_tests_read_the_bundled_copy(monkeypatch):
    import importlib.util
    from pathlib import Path

    from conftest import MNIST_DIR, REPO

    assert mnist.bundled_path() == MNIST_DIR
    assert REPO in MNIST_DIR.resolve().parents or "site-packages" in str(MNIST_DIR)
    monkeypatch.delenv("EPOCHAL_MNIST_PATH", raising=False)
    spec = importlib.util.spec_from_file_location("_data", REPO / "examples" / "_data.py")
    data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(data)
    assert Path(data.mnist_path()) == mnist.bundled_path()
