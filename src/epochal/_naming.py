"""``snake_case``: Keras' rule for turning a class name into a default object name."""

from __future__ import annotations

import re

__all__ = ["snake_case"]

_NON_WORD = re.compile(r"\W+")
_BEFORE_WORD = re.compile(r"(.)([A-Z][a-z]+)")  # a capitalised word starts: "MSE|Loss"
_LOWER_UPPER = re.compile(r"([a-z])([A-Z])")  # a lower-case letter meets a capital


def snake_case(name: str) -> str:
    """``"MeanSquaredError"`` -> ``"mean_squared_error"``; acronyms stay one word
    (``"MSELoss"`` -> ``"mse_loss"``, ``"AUC"`` -> ``"auc"``), digits stick to what precedes
    them (``"Conv2D"`` -> ``"conv2d"``), as Keras names layers, metrics and losses.

    Example:
        >>> [snake_case(n) for n in ("Sequential", "MSELoss", "Conv2D", "AUC", "MaxPooling2D")]
        ['sequential', 'mse_loss', 'conv2d', 'auc', 'max_pooling2d']
    """
    name = _NON_WORD.sub("", name)
    return _LOWER_UPPER.sub(r"\1_\2", _BEFORE_WORD.sub(r"\1_\2", name)).lower()
