"""Keras' ``Sum``: the weighted sum of the values given (``Mean`` is in ``base``)."""

from __future__ import annotations

from typing import Any

import torch

from epochal.metrics.base import Metric

__all__ = [
    "Sum",
]


class Sum(Metric):
    """Keras' ``Sum``: the weighted sum of the values passed to ``update_state``."""

    def update(self, value: torch.Tensor, weight: Any = None, _unused: Any = None) -> None:
        values = torch.as_tensor(value).detach().to(torch.float32)
        if weight is not None:
            w = torch.as_tensor(weight, dtype=torch.float32, device=values.device)
            values = values * w.reshape(w.shape + (1,) * (values.dim() - w.dim()))
        self.total = self.total + values.sum()

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        self.update(torch.as_tensor(values, dtype=torch.float32), sample_weight)

    def result(self) -> torch.Tensor:
        return torch.as_tensor(self.total, dtype=torch.float32)
