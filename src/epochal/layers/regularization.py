"""Regularization layers: Dropout."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from epochal._validation import check_number
from epochal.layers.base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of inputs during training (inverted dropout)."""

    casts_inputs = True

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_number("rate", rate)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.built = True

    def call(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        return F.dropout(x, self.rate, self.training if training is None else bool(training))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}
