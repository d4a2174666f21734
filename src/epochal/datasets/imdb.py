"""IMDB movie reviews (25,000 train / 25,000 test) as word-index sequences: Keras' loader.

Same file (``imdb.npz``, sha256-verified on download), same shuffle and the same
preprocessing as ``keras.datasets.imdb``; the ragged arrays are read without unpickling
anything but numpy arrays (see :mod:`epochal.datasets._files`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from epochal.datasets import _sequences
from epochal.datasets._files import KERAS_ORIGIN, load_npz, locate

__all__ = ["get_word_index", "load_data"]

ORIGIN = KERAS_ORIGIN + "imdb.npz"
FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_ORIGIN = KERAS_ORIGIN + "imdb_word_index.json"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"


def load_data(
    path: str | os.PathLike[str] = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    **kwargs: Any,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: object arrays of word-index lists, int labels.

    Args:
        path: File name in Keras' cache (``"imdb.npz"``), or a path to a copy of the file.
        num_words: Keep the ``num_words`` most frequent words (indices below it); the others
            become ``oov_char``. `None` keeps all.
        skip_top: The most frequent ``skip_top`` indices also become ``oov_char``.
        maxlen: Drop the reviews of ``maxlen`` words or more (after ``start_char``).
        seed: Seed of the shuffle (``numpy.random.RandomState``), `113` as Keras.
        start_char: Marks the start of each review (`1`); `None` for no mark.
        oov_char: Replaces words cut by ``num_words`` / ``skip_top`` (`2`); `None` drops them.
        index_from: Added to every word index (`3`: 0 is padding, 1 start, 2 OOV).

    Raises:
        ValueError: when ``maxlen`` keeps no review, or for unknown keyword arguments.
        TypeError: for a non-int argument.
    """
    if kwargs:
        raise TypeError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
    _sequences.check_args(
        num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
        start_char=start_char, oov_char=oov_char, index_from=index_from,
    )  # fmt: skip
    arrays = load_npz(locate(path, ORIGIN, FILE_HASH))
    rng = np.random.RandomState(seed)
    x_train, labels_train = _sequences.shuffled(rng, arrays["x_train"], arrays["y_train"])
    x_test, labels_test = _sequences.shuffled(rng, arrays["x_test"], arrays["y_test"])
    train = _sequences.offset(x_train, start_char, index_from)
    test = _sequences.offset(x_test, start_char, index_from)
    if maxlen:
        train, labels_train = _sequences.drop_long(maxlen, train, labels_train)
        test, labels_test = _sequences.drop_long(maxlen, test, labels_test)
        if not train or not test:
            raise ValueError(
                f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was "
                "kept. Increase maxlen."
            )
    xs = _sequences.limit_words(train + test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    cut = len(train)
    return (np.array(xs[:cut], dtype="object"), labels[:cut]), (
        np.array(xs[cut:], dtype="object"),
        labels[cut:],
    )


def get_word_index(path: str | os.PathLike[str] = "imdb_word_index.json") -> dict[str, int]:
    """``{word: index}`` of the IMDB vocabulary (add ``index_from`` to match ``load_data``)."""
    with open(locate(path, WORD_INDEX_ORIGIN, WORD_INDEX_HASH), encoding="utf-8") as handle:
        return dict(json.load(handle))
