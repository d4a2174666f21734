"""Reshaping layers: Flatten, Reshape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from epochal.layers.base import Layer

__all__ = ["Flatten", "Reshape"]


class Flatten(Layer):
    """Flattens every axis but the batch axis."""

    casts_inputs = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


class Reshape(Layer):
    """Reshapes to ``target_shape`` (batch axis excluded)."""

    casts_inputs = True

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.target_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}
