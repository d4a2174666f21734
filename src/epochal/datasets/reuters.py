"""Reuters newswires (11,228, 46 topics) as word-index sequences: Keras' loader.

Same file (``reuters.npz``), shuffle, split and preprocessing as ``keras.datasets.reuters``;
read without unpickling anything but numpy arrays (see :mod:`epochal.datasets._files`).
"""

from __future__ import annotations

import json
import os

import numpy as np

from epochal.datasets import _sequences
from epochal.datasets._files import KERAS_ORIGIN, check_split, load_npz, locate

__all__ = ["get_label_names", "get_word_index", "load_data"]

ORIGIN = KERAS_ORIGIN + "reuters.npz"
FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_ORIGIN = KERAS_ORIGIN + "reuters_word_index.json"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"

_LABELS = (
    "cocoa",
    "grain",
    "veg-oil",
    "earn",
    "acq",
    "wheat",
    "copper",
    "housing",
    "money-supply",
    "coffee",
    "sugar",
    "trade",
    "reserves",
    "ship",
    "cotton",
    "carcass",
    "crude",
    "nat-gas",
    "cpi",
    "money-fx",
    "interest",
    "gnp",
    "meal-feed",
    "alum",
    "oilseed",
    "gold",
    "tin",
    "strategic-metal",
    "livestock",
    "retail",
    "ipi",
    "iron-steel",
    "rubber",
    "heat",
    "jobs",
    "lei",
    "bop",
    "zinc",
    "orange",
    "pet-chem",
    "dlr",
    "gas",
    "silver",
    "wpi",
    "hog",
    "lead",
)


def load_data(
    path: str | os.PathLike[str] = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: object arrays of word-index lists, topic ids.

    Arguments as :func:`epochal.datasets.imdb.load_data`, plus ``test_split`` (the fraction
    held out, `0.2`; the split is taken after the shuffle and the ``maxlen`` filter).
    """
    _sequences.check_args(
        num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
        start_char=start_char, oov_char=oov_char, index_from=index_from,
    )  # fmt: skip
    check_split(test_split)
    arrays = load_npz(locate(path, ORIGIN, FILE_HASH))
    x, labels = _sequences.shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    xs = _sequences.offset(x, start_char, index_from)
    kept_labels: list[int] | np.ndarray = labels
    if maxlen:
        xs, kept_labels = _sequences.drop_long(maxlen, xs, labels)
    xs = _sequences.limit_words(xs, num_words, skip_top, oov_char)
    cut = int(len(xs) * (1 - test_split))
    return (np.array(xs[:cut], dtype="object"), np.array(kept_labels[:cut])), (
        np.array(xs[cut:], dtype="object"),
        np.array(kept_labels[cut:]),
    )


def get_word_index(path: str | os.PathLike[str] = "reuters_word_index.json") -> dict[str, int]:
    """``{word: index}`` of the Reuters vocabulary."""
    with open(locate(path, WORD_INDEX_ORIGIN, WORD_INDEX_HASH), encoding="utf-8") as handle:
        return dict(json.load(handle))


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, indexed by label."""
    return tuple(_LABELS)
