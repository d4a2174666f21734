"""CIFAR-10 (50,000 / 10,000 32x32 colour images, 10 classes): Keras' loader.

Reads the Python-version batches safely (see :mod:`epochal.datasets._cifar`): from
``path``, Keras' cache, or a sha256-verified download of Keras' archive.
"""

from __future__ import annotations

import os

import numpy as np

from epochal.datasets._cifar import find, to_layout

__all__ = ["load_data"]

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
_DIRNAME, _INNER = "cifar-10-batches-py-target", "cifar-10-batches-py"


def load_data(
    path: str | os.PathLike[str] | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(n, 32, 32, 3)``, uint8
    labels ``(n, 1)``, as ``keras.datasets.cifar10.load_data()``.

    Args:
        path: epochal's addition (Keras' loader takes none): a folder holding
            ``data_batch_1`` ... ``data_batch_5`` and ``test_batch`` (or their
            ``cifar-10-batches-py`` folder), or ``cifar-10-python.tar.gz``. `None`: Keras'
            cache, downloading when needed.
    """
    reader = find(path, _DIRNAME, _INNER, ORIGIN, FILE_HASH)
    parts = [reader.read(f"data_batch_{i}", "labels") for i in range(1, 6)]
    x_train = np.concatenate([x for x, _ in parts]).astype("uint8")
    y_train = np.concatenate([np.asarray(y, dtype="uint8") for _, y in parts])
    x_test, labels = reader.read("test_batch", "labels")
    y_test = np.asarray(labels).astype(y_train.dtype)
    return (to_layout(x_train), y_train.reshape(-1, 1)), (
        to_layout(x_test.astype(x_train.dtype)),
        y_test.reshape(-1, 1),
    )
