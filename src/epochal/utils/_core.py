"""to_categorical and set_random_seed (Keras' names)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["set_random_seed", "to_categorical"]


def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """One-hot encodes integer class labels (Keras' ``to_categorical``).

    Raises:
        ValueError: for negative labels or labels >= ``num_classes``.

    Example:
        >>> to_categorical([0, 2], num_classes=3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    labels = np.asarray(y, dtype="int64")
    shape = labels.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    labels = labels.reshape(-1)
    if labels.size and labels.min() < 0:
        raise ValueError("to_categorical() needs non-negative integer labels.")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"Label {int(labels.max())} is out of range for num_classes={num_classes}."
        )
    out = np.zeros((labels.size, num_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out.reshape((*shape, num_classes))


def set_random_seed(seed: int) -> None:
    """Seeds Python's ``random``, numpy and torch (CPU and CUDA) at once."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
