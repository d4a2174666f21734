"""Fashion-MNIST (60,000 / 10,000 28x28 grey images of clothes, 10 classes): Keras' loader.

The four gzipped IDX files Keras caches in ``~/.keras/datasets/fashion-mnist``, read from
``path``, that cache, or downloaded from Keras' origin (Keras gives no checksum for them).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from epochal.datasets._files import KERAS_ORIGIN
from epochal.datasets.mnist import read_idx
from epochal.utils.file_utils import get_file

__all__ = ["load_data"]

ORIGIN = KERAS_ORIGIN
FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)


def load_data(
    path: str | os.PathLike[str] | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(n, 28, 28)``, uint8 labels.

    Args:
        path: epochal's addition (Keras' loader takes none): a folder holding the four
            ``*-ubyte.gz`` files. `None`: Keras' cache, downloading the missing files.

    Raises:
        FileNotFoundError: when ``path`` lacks one of the files.
        ValueError: for a file that is not IDX, or images and labels that disagree.
    """
    if path is not None:
        folder = Path(path).expanduser()
        paths = [folder / name for name in FILES]
        for file in paths:
            if not file.is_file():
                raise FileNotFoundError(f"Fashion-MNIST file {file.name} is missing from {folder}.")
    else:
        subdir = os.path.join("datasets", "fashion-mnist")
        paths = [Path(get_file(name, ORIGIN + name, cache_subdir=subdir)) for name in FILES]
    y_train, x_train, y_test, x_test = (read_idx(p) for p in paths)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise ValueError(f"Fashion-MNIST {split}: {len(x)} images but {len(y)} labels.")
    return (x_train, y_train), (x_test, y_test)
