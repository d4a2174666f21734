"""Keras' regression metrics: cosine similarity, MAPE, MSLE, log-cosh, RMSE and R2."""

from __future__ import annotations

from typing import Any

import torch

from epochal import losses
from epochal.metrics._state import _FunctionMetric, _simple, _StateMetric, _t
from epochal.metrics.base import MeanMetricWrapper

__all__ = [
    "CosineSimilarity",
    "LogCoshError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "R2Score",
    "RootMeanSquaredError",
    "cosine_similarity",
]


def cosine_similarity(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Cosine of the angle between target and prediction along ``axis`` (1 is best)."""
    return -losses.cosine_similarity(y_true, y_pred, axis)


def _squared_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return (y_pred - losses._match(y_true, y_pred)).square()


class CosineSimilarity(_FunctionMetric):
    _fn = staticmethod(cosine_similarity)
    _default_direction = "up"

    def __init__(self, name: str = "cosine_similarity", axis: int = -1) -> None:
        super().__init__(name, axis=axis)


MeanAbsolutePercentageError = _simple(
    losses.mean_absolute_percentage_error, "mean_absolute_percentage_error", "down", __name__
)
MeanSquaredLogarithmicError = _simple(
    losses.mean_squared_logarithmic_error, "mean_squared_logarithmic_error", "down", __name__
)
LogCoshError = _simple(losses.log_cosh, "logcosh", "down", __name__, class_name="LogCoshError")


class RootMeanSquaredError(MeanMetricWrapper):
    """``sqrt`` of the weighted mean of every squared error (Keras' RMSE)."""

    def __init__(self, name: str = "root_mean_squared_error") -> None:
        super().__init__(_squared_error, name, "down")

    def result(self) -> torch.Tensor:
        return torch.sqrt(super().result())

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


class R2Score(_StateMetric):
    """Coefficient of determination per output of ``(batch, outputs)`` targets.

    Args:
        class_aggregation: ``"uniform_average"`` (default), ``"variance_weighted_average"``
            or ``None`` (one score per output).
        num_regressors: For the adjusted R2 (``0``: plain R2).
        name: Defaults to `"r2_score"`.

    Raises:
        ValueError: for an unknown aggregation, a negative ``num_regressors`` or inputs
            that are not 2D.
    """

    direction = "up"
    _state = ("sum", "squared_sum", "residual", "weight", "num_samples")

    def __init__(
        self,
        class_aggregation: str | None = "uniform_average",
        num_regressors: int = 0,
        name: str = "r2_score",
    ) -> None:
        valid = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in valid:
            raise ValueError(
                "Invalid value for argument `class_aggregation`. Expected one of "
                f"{valid}. Received: class_aggregation={class_aggregation}"
            )
        if num_regressors < 0:
            raise ValueError(
                "Invalid value for argument `num_regressors`. Expected a value >= 0. "
                f"Received: num_regressors={num_regressors}"
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        super().__init__(name)

    def update(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        y_pred = y_pred.detach().to(torch.float32)
        y_true = losses._match(y_true, y_pred).to(torch.float32)
        if y_pred.dim() == 1:
            y_pred, y_true = y_pred.unsqueeze(-1), y_true.unsqueeze(-1)
        if y_pred.dim() != 2:
            raise ValueError(
                "R2Score expects 2D inputs with shape (batch_size, output_dim). Received input "
                f"shapes: y_pred.shape={tuple(y_pred.shape)} and y_true.shape="
                f"{tuple(y_true.shape)}."
            )
        weight = torch.ones_like(y_true)
        if sample_weight is not None:
            sw = sample_weight.to(torch.float32)
            weight = weight * (sw.reshape(-1, 1) if sw.dim() == 1 else sw)
        weighted = y_true * weight
        self.sum = self.sum + weighted.sum(dim=0)
        self.squared_sum = self.squared_sum + (y_true * weighted).sum(dim=0)
        self.residual = self.residual + ((y_true - y_pred) ** 2 * weight).sum(dim=0)
        self.weight = self.weight + weight.sum(dim=0)
        self.num_samples = self.num_samples + y_true.numel()

    def result(self) -> torch.Tensor:
        total_sum, squared, residual, weight = (
            _t(getattr(self, k)) for k in ("sum", "squared_sum", "residual", "weight")
        )
        mean = total_sum / weight
        total = squared - total_sum * mean
        raw = 1 - residual / total
        raw = torch.where(torch.isinf(raw), torch.zeros_like(raw), raw)
        if self.class_aggregation == "uniform_average":
            score = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (total * raw).sum() / total.sum()
        else:
            score = raw
        n = float(self.num_samples)
        if self.num_regressors and self.num_regressors < n - 1:
            score = 1.0 - (1.0 - score) * (n - 1.0) / (n - self.num_regressors - 1.0)
        return score

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }
