"""The word-index preprocessing that Keras' imdb and reuters loaders share."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_args(**values: Any) -> None:
    for name, value in values.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"`{name}` must be an int or None. Received: {name}={value!r}")


def offset(xs: Any, start_char: int | None, index_from: int) -> list[list[int]]:
    """Prepends ``start_char`` and shifts every word index by ``index_from``."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in xs]
    if index_from:
        return [[w + index_from for w in x] for x in xs]
    return [list(x) for x in xs]


def drop_long(maxlen: int, xs: list[list[int]], labels: Any) -> tuple[list[list[int]], list[Any]]:
    """Keeps the sequences *shorter* than ``maxlen`` (Keras' rule: ``len(x) < maxlen``)."""
    kept = [(x, y) for x, y in zip(xs, labels, strict=True) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def limit_words(
    xs: list[list[int]], num_words: int | None, skip_top: int, oov_char: int | None
) -> list[list[int]]:
    """Words outside ``[skip_top, num_words)`` become ``oov_char``, or are dropped when it is
    None; ``num_words`` defaults to the largest index present."""
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def shuffled(rng: np.random.RandomState, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    indices = np.arange(len(x))
    rng.shuffle(indices)
    return x[indices], y[indices]
