"""Keras' F-scores: ``FBetaScore`` and ``F1Score`` over the classes of ``(batch, classes)``
targets, from weighted per-class counts.
"""

from __future__ import annotations

from typing import Any

import torch

from epochal.metrics._state import _no_nan_div, _StateMetric, _t

__all__ = [
    "F1Score",
    "FBetaScore",
]


class FBetaScore(_StateMetric):
    """Keras' F-beta score over classes of ``(batch, classes)`` targets.

    Args:
        average: ``None`` (one score per class), ``"micro"``, ``"macro"`` or ``"weighted"``.
        beta: Weight of recall (> 0). Defaults to `1.0`.
        threshold: Predictions above it are positive; `None` means the arg-max of each row.
        name: Defaults to `"fbeta_score"`.

    Raises:
        ValueError: for an unknown ``average``, ``beta <= 0`` or ``threshold`` outside (0, 1].
    """

    direction = "up"
    _state = ("tp", "fp", "fn", "support")

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str = "fbeta_score",
    ) -> None:
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                "Invalid `average` argument value. Expected one of: "
                "{None, 'micro', 'macro', 'weighted'}. "
                f"Received: average={average}"
            )
        if isinstance(beta, bool) or not isinstance(beta, int | float) or beta <= 0:
            raise ValueError(
                f"Invalid `beta` argument value. It should be a float > 0. Received: beta={beta}"
            )
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 < threshold <= 1
        ):
            raise ValueError(
                "Invalid `threshold` argument value. It should be a Python float in the "
                f"range ]0, 1]. Received: threshold={threshold}"
            )
        self.average = average
        self.beta = float(beta)
        self.threshold = threshold
        super().__init__(name)

    def update(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        y_pred = y_pred.detach().to(torch.float32)
        if y_pred.dim() != 2:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs (batch, classes). "
                f"Received: y_pred.shape={tuple(y_pred.shape)}"
            )
        y_true = y_true.to(torch.float32).reshape(y_pred.shape)
        if self.threshold is None:
            pred = (y_pred == y_pred.amax(dim=-1, keepdim=True)).to(torch.float32)
        else:
            pred = (y_pred > self.threshold).to(torch.float32)

        def weighted_sum(values: torch.Tensor) -> torch.Tensor:
            if sample_weight is not None:
                values = values * sample_weight.to(torch.float32).reshape(-1, 1)
            return values.sum(dim=0)

        self.tp = self.tp + weighted_sum(pred * y_true)
        self.fp = self.fp + weighted_sum(pred * (1 - y_true))
        self.fn = self.fn + weighted_sum((1 - pred) * y_true)
        self.support = self.support + weighted_sum(y_true)

    def result(self) -> torch.Tensor:
        tp, fp, fn, support = (_t(getattr(self, k)) for k in self._state)
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = _no_nan_div(tp, tp + fp)
        recall = _no_nan_div(tp, tp + fn)
        beta_sq = self.beta**2
        score = _no_nan_div(precision * recall, beta_sq * precision + recall) * (1 + beta_sq)
        if self.average == "weighted":
            weights = _no_nan_div(support, support.sum())
            return (score * weights).sum()
        if self.average is not None:
            return score.mean()
        return score

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """FBetaScore with ``beta=1``."""

    def __init__(
        self, average: str | None = None, threshold: float | None = None, name: str = "f1_score"
    ) -> None:
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("beta")
        return config
