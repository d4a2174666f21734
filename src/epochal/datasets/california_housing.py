"""California housing prices (20,640 block groups, 8 features): Keras' loader."""

from __future__ import annotations

import os

import numpy as np

from epochal.datasets._files import KERAS_ORIGIN, check_split, locate, shuffle_split

__all__ = ["load_data"]

ORIGIN = KERAS_ORIGIN + "california_housing.npz"
FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(
    version: str = "large",
    path: str | os.PathLike[str] = "california_housing.npz",
    test_split: float = 0.2,
    seed: int = 113,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``, as ``keras.datasets.california_housing``.

    Args:
        version: `"large"` (all rows) or `"small"` (the first 600, before the shuffle).
        path: File name in Keras' cache, or a path to a copy of the file.
        test_split: Fraction held out, in ``[0, 1)``.
        seed: Seed of the shuffle.

    Raises:
        ValueError: for another ``version`` or a ``test_split`` outside ``[0, 1)``.
    """
    test_split = check_split(test_split)
    if version not in ("large", "small"):
        raise ValueError(
            f"Argument `version` must be one of 'small', 'large'. Received: version={version!r}"
        )
    with np.load(locate(path, ORIGIN, FILE_HASH), allow_pickle=False) as data:
        x, y = data["x"], data["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    return shuffle_split(x, y, test_split, seed)
