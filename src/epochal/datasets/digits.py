"""The 8x8 handwritten digits (1,797 images, UCI), shipped inside the package.

The file is the copy that scikit-learn bundles (``digits.csv.gz``: 64 pixel values 0-16 and
the label per row), so ``load_data()`` needs no network.
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

__all__ = ["load_data"]


def load_data(
    test_split: float = 0.2, seed: int = 113
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Returns ``(x_train, y_train), (x_test, y_test)``.

    Images are ``float32`` arrays of shape ``(n, 8, 8)`` with values 0..16; labels ``int64``.
    The split is a seeded shuffle, the same every call.

    Args:
        test_split: Fraction held out for testing. Defaults to `0.2`.
        seed: Seed of the shuffle before splitting. Defaults to `113`.

    Raises:
        ValueError: when ``test_split`` is not in ``[0, 1)``.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()
        >>> x_train.shape, x_test.shape
        ((1438, 8, 8), (359, 8, 8))
    """
    if not 0.0 <= test_split < 1.0:
        raise ValueError(f"`test_split` must be in [0, 1). Received: test_split={test_split}")
    source = resources.files("epochal.datasets").joinpath("data/digits.csv.gz")
    with source.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float32)
    x = table[:, :64].reshape(-1, 8, 8)
    y = table[:, 64].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    cut = len(x) - round(len(x) * test_split)
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
