"""Boston housing prices (506 samples, 13 features): Keras' loader (``boston_housing.npz``)."""

from __future__ import annotations

import os

import numpy as np

from epochal.datasets._files import KERAS_ORIGIN, check_split, locate, shuffle_split

__all__ = ["load_data"]

ORIGIN = KERAS_ORIGIN + "boston_housing.npz"
FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(
    path: str | os.PathLike[str] = "boston_housing.npz", test_split: float = 0.2, seed: int = 113
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)`` as float64 arrays, shuffled with
    ``RandomState(seed)`` and split at ``int(n * (1 - test_split))``, as Keras.

    Args:
        path: File name in Keras' cache, or a path to a copy of the file.
        test_split: Fraction held out, in ``[0, 1)``.
        seed: Seed of the shuffle.

    Raises:
        ValueError: for ``test_split`` outside ``[0, 1)``.
    """
    test_split = check_split(test_split)
    with np.load(locate(path, ORIGIN, FILE_HASH), allow_pickle=False) as data:
        x, y = data["x"], data["y"]
    return shuffle_split(x, y, test_split, seed)
