"""Keras weight regularizers by name (``"l2"``) or as callables ``weight -> scalar``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["get"]

_REGULARIZERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "l1": lambda w: 0.01 * w.abs().sum(),
    "l2": lambda w: 0.01 * w.square().sum(),
    "l1_l2": lambda w: 0.01 * w.abs().sum() + 0.01 * w.square().sum(),
}


def get(value: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    if value is None or callable(value):
        return value
    fn = _REGULARIZERS.get(str(value).lower())
    if fn is None:
        raise ValueError(
            f"Unknown regularizer {value!r}. Known names: {', '.join(_REGULARIZERS)}; or pass "
            "a callable weight -> scalar tensor."
        )
    return fn
