"""Pooling layers (channels-last inputs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from epochal.layers._geometry import pair, same_padding
from epochal.layers.base import Layer

__all__ = ["MaxPooling2D"]


class MaxPooling2D(Layer):
    """Max pooling on channels-last images."""

    casts_inputs = True

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = pair(pool_size)
        self.strides = pair(strides) if strides is not None else self.pool_size
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}")
        self.padding = padding
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        if self.padding == "same":
            # Keras pads (extra on the bottom/right) so the output is ceil(size / strides);
            # -inf padding is never the max.
            pads = same_padding(x.shape[-2:], self.pool_size, self.strides)
            x = F.pad(x, pads, value=-math.inf)
        y = F.max_pool2d(x, self.pool_size, self.strides)
        return y.permute(0, 2, 3, 1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }
