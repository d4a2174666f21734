"""What the Keras-format loaders share: finding the file, and reading pickles safely.

**Where a file comes from.** ``path`` as Keras names it (a bare file name such as
``"imdb.npz"``) is looked up in Keras' cache (``$KERAS_HOME/datasets`` or
``~/.keras/datasets``) through :func:`epochal.utils.get_file`: a cached file whose sha256
is not Keras' is downloaded again, and a download is verified before it is kept. A
``path`` with folders in it is *your* file: it is read as it is, without a checksum (Keras
3 refuses such paths; accepting them is how tests and offline copies load), and downloaded
there, verified, only when it does not exist.

**No code runs while loading.** Keras' imdb/reuters ``.npz`` hold ragged ``dtype=object``
arrays (numpy writes those as pickles) and its cifar batches are Python pickles. Nothing is
ever loaded with ``allow_pickle=True`` or ``pickle.load``: :class:`SafeUnpickler` resolves
exactly three globals — ``numpy.ndarray``, ``numpy.dtype`` and numpy's ``_reconstruct``
(both the numpy 1 and 2 spellings), which rebuild an array from its bytes — and refuses any
other, so a tampered file raises ``pickle.UnpicklingError`` instead of executing code.
Lists, dicts, ints and bytes need no global at all.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from typing import Any

import numpy as np

from epochal.utils.file_utils import get_file

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

_ALLOWED = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays, lists, dicts and scalars, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"Refusing to load `{module}.{name}` from a dataset file: only numpy arrays, "
            "lists, dicts and numbers may be stored there. The file is corrupt or malicious."
        )


def safe_unpickle(handle: Any, encoding: str = "ASCII") -> Any:
    """Reads one pickle from ``handle`` with :class:`SafeUnpickler`."""
    return SafeUnpickler(handle, encoding=encoding).load()


def _read_npy(buffer: io.BytesIO) -> np.ndarray:
    try:
        return np.lib.format.read_array(buffer, allow_pickle=False)
    except ValueError:  # an object array: its data is a pickle after the header
        buffer.seek(0)
        version = np.lib.format.read_magic(buffer)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(buffer)
        elif version in ((2, 0), (3, 0)):  # 3.0 differs only in the header's text encoding
            np.lib.format.read_array_header_2_0(buffer)
        else:
            raise ValueError(f"Unsupported .npy format version {version}.") from None
        array = safe_unpickle(buffer, encoding="latin1")
        if not isinstance(array, np.ndarray):
            raise ValueError("An object member of the .npz does not hold an array.") from None
        return array


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``, object arrays read with :class:`SafeUnpickler`."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                arrays[member[:-4]] = _read_npy(io.BytesIO(archive.read(member)))
    return arrays


def locate(
    path: str | os.PathLike[str], origin: str, file_hash: str | None, cache_subdir: str = "datasets"
) -> str:
    """The local file for ``path`` (see the module's docstring), downloading it if needed."""
    text = os.fspath(path)
    if os.sep in text or (os.altsep and os.altsep in text):
        text = os.path.expanduser(text)
        if os.path.exists(text):
            return text
        folder, name = os.path.split(os.path.abspath(text))
        return get_file(name, origin, file_hash=file_hash, cache_dir=folder, cache_subdir="")
    return get_file(text, origin, file_hash=file_hash, cache_subdir=cache_subdir)


def check_split(test_split: Any) -> float:
    if isinstance(test_split, bool) or not isinstance(test_split, int | float):
        raise TypeError(f"`test_split` must be a float in [0, 1). Received: {test_split!r}")
    if not 0 <= test_split < 1:
        raise ValueError(
            f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 "
            "(exclusive of 1)."
        )
    return float(test_split)


def shuffle_split(
    x: np.ndarray, y: np.ndarray, test_split: float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Keras' housing split: a ``RandomState(seed)`` shuffle, then the head for training."""
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))
