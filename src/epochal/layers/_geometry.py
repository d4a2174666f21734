"""Window arithmetic shared by convolution and pooling layers."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pair(value: int | Sequence[int]) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; a pair stays a pair."""
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


def same_padding(
    size: Sequence[int], kernel: tuple[int, int], strides: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Keras' "same" padding as ``F.pad`` wants it: extra on the bottom / right."""
    pads = []
    for n, k, st in zip(size, kernel, strides, strict=True):
        total = max((math.ceil(n / st) - 1) * st + k - n, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return (left, right, top, bottom)
