"""MNIST from the standard IDX files (gzipped or not) or Keras' ``mnist.npz``.

The real 10,000-image MNIST *test* split ships inside the package (1.6 MB of IDX ``.gz``
files), so examples and tests run offline: :func:`bundled_path` is its folder and
:func:`load_bundled` reads it. ``load_data()`` keeps Keras' meaning (the full 60,000 / 10,000
dataset, downloaded when no ``path`` is given).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["bundled_path", "load_bundled", "load_data", "read_idx"]

MNIST_NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

Split = tuple[np.ndarray, np.ndarray]


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Reads one IDX file (``.gz`` or plain).

    Raises:
        ValueError: when the file is not IDX or is truncated.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number).")
    dtype = np.dtype(_DTYPES[data[2]])
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = data[4 + 4 * ndim :]
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(body) != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: {len(body)} bytes of data, expected {expected}."
        )
    return np.frombuffer(body, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (folder / name).exists():
            return folder / name
    return None


def _load_split(folder: Path, split: str) -> Split | None:
    images, labels = (_find(folder, stem) for stem in _FILES[split])
    if images is None or labels is None:
        return None
    x, y = read_idx(images), read_idx(labels).astype(np.int64)
    if len(x) != len(y):
        raise ValueError(f"{folder}: {len(x)} {split} images but {len(y)} labels.")
    return x, y


def _empty() -> Split:
    return np.zeros((0, 28, 28), dtype=np.uint8), np.zeros((0,), dtype=np.int64)


def _download(cache_dir: Path) -> Path:
    target = cache_dir / "mnist.npz"
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".part")
        try:
            urllib.request.urlretrieve(MNIST_NPZ_URL, tmp)
        except OSError as exc:
            raise OSError(
                f"Could not download MNIST from {MNIST_NPZ_URL} ({exc}). Pass `path=` to a folder "
                "with the IDX files or to mnist.npz."
            ) from exc
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        if digest != MNIST_NPZ_SHA256:
            tmp.unlink()
            raise OSError(f"Downloaded MNIST has sha256 {digest}, expected {MNIST_NPZ_SHA256}.")
        os.replace(tmp, target)
    return target


def load_data(path: str | os.PathLike[str] | None = None) -> tuple[Split, Split]:
    """Returns ``(x_train, y_train), (x_test, y_test)`` as uint8 images and int64 labels.

    ``path`` is a folder holding the IDX files (``train-images-idx3-ubyte[.gz]`` ...,
    ``t10k-...``) or an ``mnist.npz``. A folder with only one split gives empty arrays for the
    other. Without ``path`` the npz is downloaded to ``~/.epochal/datasets`` and verified.

    Raises:
        FileNotFoundError: when the folder holds neither split.
        ValueError: for a corrupt file.
    """
    source = Path(path) if path is not None else _download(Path.home() / ".epochal" / "datasets")
    if source.is_file():
        with np.load(source, allow_pickle=False) as npz:
            return (npz["x_train"], npz["y_train"].astype(np.int64)), (
                npz["x_test"],
                npz["y_test"].astype(np.int64),
            )
    train, test = _load_split(source, "train"), _load_split(source, "test")
    if train is None and test is None:
        raise FileNotFoundError(
            f"No MNIST IDX files in {source} (expected train-images-idx3-ubyte[.gz] and/or "
            "t10k-images-idx3-ubyte[.gz] with their label files)."
        )
    return train or _empty(), test or _empty()


def bundled_path() -> Path:
    """Folder of the MNIST test split shipped with epochal (``t10k-*-ubyte.gz``).

    Pass it to :func:`load_data` (``load_data(path=bundled_path())`` gives empty training
    arrays and the 10,000 test images) or read it with :func:`load_bundled`.
    """
    return Path(str(resources.files("epochal.datasets").joinpath("data").joinpath("mnist")))


def load_bundled() -> Split:
    """The shipped MNIST test split: ``(x, y)``, 10,000 uint8 images ``(28, 28)``, int64 labels.

    It is the real MNIST test set (Y. LeCun, C. Cortes, C. J. C. Burges), read offline;
    split it yourself for training and validation.

    Example:
        >>> x, y = load_bundled()
        >>> x.shape, x.dtype, y[:5].tolist()
        ((10000, 28, 28), dtype('uint8'), [7, 2, 1, 0, 4])
    """
    split = _load_split(bundled_path(), "test")
    if split is None:  # a broken install
        raise FileNotFoundError(f"The bundled MNIST test split is missing from {bundled_path()}.")
    return split
