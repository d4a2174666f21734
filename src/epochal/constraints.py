"""Keras weight constraints by name (``"non_neg"``) or as callables ``weight -> weight``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["get"]


def get(value: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    if value is None or callable(value):
        return value
    if str(value).lower() == "non_neg":
        return lambda w: w.clamp(min=0.0)
    raise ValueError(
        f"Unknown constraint {value!r}. Known names: non_neg; or pass a callable weight -> tensor."
    )
