"""Keras' top-k accuracies: the per-sample functions and their metric classes."""

from __future__ import annotations

import torch

from epochal.metrics._state import _FunctionMetric

__all__ = [
    "SparseTopKCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]


def top_k_categorical_accuracy(
    y_true: torch.Tensor, y_pred: torch.Tensor, k: int = 5
) -> torch.Tensor:
    """1 where the one-hot target's class scores among the ``k`` highest (ties count)."""
    return sparse_top_k_categorical_accuracy(y_true.argmax(dim=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(
    y_true: torch.Tensor, y_pred: torch.Tensor, k: int = 5, from_sorted_ids: bool = False
) -> torch.Tensor:
    """1 where the integer target scores among the ``k`` highest (ties count); with
    ``from_sorted_ids``, ``y_pred`` holds class ids sorted best first."""
    if y_true.dim() == y_pred.dim():
        y_true = y_true.squeeze(-1)
    labels = y_true.long()
    if from_sorted_ids:
        return (y_pred[..., :k].long() == labels.unsqueeze(-1)).any(dim=-1).float()
    k = min(k, y_pred.shape[-1])
    kth = torch.topk(y_pred, k, dim=-1).values[..., -1]
    target = y_pred.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return (target >= kth).float()


class TopKCategoricalAccuracy(_FunctionMetric):
    _fn = staticmethod(top_k_categorical_accuracy)
    _default_direction = "up"

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy") -> None:
        super().__init__(name, k=k)


class SparseTopKCategoricalAccuracy(_FunctionMetric):
    _fn = staticmethod(sparse_top_k_categorical_accuracy)
    _default_direction = "up"

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        from_sorted_ids: bool = False,
    ) -> None:
        super().__init__(name, k=k, from_sorted_ids=from_sorted_ids)
