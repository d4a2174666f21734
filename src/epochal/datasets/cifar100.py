"""CIFAR-100 (50,000 / 10,000 32x32 colour images, 100 fine / 20 coarse classes).

Keras' loader, reading the Python-version files safely (see :mod:`epochal.datasets._cifar`).
"""

from __future__ import annotations

import os

import numpy as np

from epochal.datasets._cifar import find, to_layout

__all__ = ["load_data"]

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
_DIRNAME, _INNER = "cifar-100-python-target", "cifar-100-python"


def load_data(
    label_mode: str = "fine", path: str | os.PathLike[str] | None = None
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(n, 32, 32, 3)``, int64
    labels ``(n, 1)``, as ``keras.datasets.cifar100.load_data(label_mode)``.

    Args:
        label_mode: `"fine"` (100 classes) or `"coarse"` (20 superclasses).
        path: epochal's addition: a folder holding ``train`` and ``test`` (or their
            ``cifar-100-python`` folder), or ``cifar-100-python.tar.gz``. `None`: Keras'
            cache, downloading when needed.

    Raises:
        ValueError: for another ``label_mode``.
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(
            '`label_mode` must be one of `"fine"`, `"coarse"`. '
            f"Received: label_mode={label_mode!r}."
        )
    reader = find(path, _DIRNAME, _INNER, ORIGIN, FILE_HASH)
    x_train, y_train = reader.read("train", f"{label_mode}_labels")
    x_test, y_test = reader.read("test", f"{label_mode}_labels")
    return (to_layout(x_train), np.reshape(y_train, (len(y_train), 1))), (
        to_layout(x_test),
        np.reshape(y_test, (len(y_test), 1)),
    )
