"""Keras' ``AUC``: the area under the ROC or PR curve from confusion counts at fixed
thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from epochal import losses
from epochal.metrics._state import _no_nan_div, _StateMetric
from epochal.metrics.confusion import _confusion, _thresholds

__all__ = [
    "AUC",
]


class AUC(_StateMetric):
    """Area under the ROC or PR curve from confusion counts at fixed thresholds (Keras').

    Args:
        num_thresholds: Evenly spaced thresholds in (0, 1), plus ``-epsilon`` and
            ``1 + epsilon``. Defaults to `200`.
        curve: ``"ROC"`` or ``"PR"``. Defaults to `"ROC"`.
        summation_method: ``"interpolation"`` (PR: Davis & Goadrich), ``"minoring"``,
            ``"majoring"``. Defaults to `"interpolation"`.
        name: Defaults to `"auc"`.
        thresholds: Explicit thresholds in [0, 1] (then ``num_thresholds`` is ignored, as in
            Keras, and becomes their number plus 2).
        multi_label: One curve per label column, averaged. Defaults to `False`.
        num_labels: The number of label columns (checked against the data).
        label_weights: Per-label weights (of the average, with ``multi_label``).
        from_logits: Predictions are logits (a sigmoid is applied). Defaults to `False`.

    Raises:
        ValueError: for an unknown ``curve`` or ``summation_method``, ``num_thresholds <= 1``
            or thresholds outside [0, 1].
    """

    direction = "up"
    _state = ("tp", "fp", "tn", "fn")

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str = "auc",
        thresholds: Sequence[float] | None = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Sequence[float] | None = None,
        from_logits: bool = False,
    ) -> None:
        if str(curve).upper() not in ("ROC", "PR"):
            raise ValueError(
                f'Invalid `curve` argument value "{curve}". Expected one of: "ROC", "PR".'
            )
        methods = ("interpolation", "minoring", "majoring")
        if str(summation_method).lower() not in methods:
            raise ValueError(
                f'Invalid `summation_method` argument value "{summation_method}". '
                f"Expected one of: {methods}."
            )
        epsilon = losses.EPSILON
        if thresholds is not None:
            inner = sorted(_thresholds(list(thresholds), 0.5))
            num_thresholds = len(inner) + 2
            self._init_from_thresholds = True
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    "Argument `num_thresholds` must be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds}"
                )
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._init_from_thresholds = False
        self.num_thresholds = num_thresholds
        self.curve = str(curve).upper()
        self.summation_method = str(summation_method).lower()
        self.thresholds = [0.0 - epsilon, *inner, 1.0 + epsilon]
        self._threshold_tensor = torch.tensor(self.thresholds, dtype=torch.float32)
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else list(label_weights)
        self._label_weights = (
            None if label_weights is None else torch.tensor(self.label_weights, dtype=torch.float32)
        )
        self.from_logits = from_logits
        super().__init__(name)

    def update(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        y_pred = y_pred.detach()
        if self.from_logits:
            y_pred = torch.sigmoid(y_pred)
        if self._threshold_tensor.device != y_pred.device:
            self._threshold_tensor = self._threshold_tensor.to(y_pred.device)
            if self._label_weights is not None:
                self._label_weights = self._label_weights.to(y_pred.device)
        if self.multi_label and y_pred.dim() != 2:
            raise ValueError(
                f"AUC(multi_label=True) expects (batch, labels) predictions. "
                f"Received shape {tuple(y_pred.shape)}."
            )
        if self.multi_label and self.num_labels is not None and y_pred.shape[-1] != self.num_labels:
            raise ValueError(
                f"AUC(num_labels={self.num_labels}) got predictions with {y_pred.shape[-1]} labels."
            )
        counts = _confusion(
            y_true,
            y_pred,
            sample_weight,
            self._threshold_tensor,
            multi_label=self.multi_label,
            label_weights=self._label_weights,
        )
        for key in self._state:
            setattr(self, key, getattr(self, key) + counts[key])

    def _average(self, by_label: torch.Tensor) -> torch.Tensor:
        if not self.multi_label:
            return by_label.sum()
        per_label = by_label.sum(dim=0)
        if self._label_weights is None:
            return per_label.mean()
        weights = self._label_weights.to(per_label.device)
        return _no_nan_div((per_label * weights).sum(), weights.sum())

    def result(self) -> torch.Tensor:
        if not isinstance(self.tp, torch.Tensor):
            return torch.zeros(())
        tp, fp, tn, fn = (getattr(self, k).to(torch.float32) for k in self._state)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolated_pr(tp, fp, fn)
        recall = _no_nan_div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _no_nan_div(fp, fp + tn), recall
        else:
            x, y = recall, _no_nan_div(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[:-1], y[1:])
        else:
            heights = torch.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)

    def _interpolated_pr(
        self, tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor
    ) -> torch.Tensor:
        # Davis & Goadrich (2006): precision interpolated linearly in the number of
        # positive predictions between adjacent thresholds, integrated exactly.
        d_tp = tp[:-1] - tp[1:]
        p = tp + fp
        d_p = p[:-1] - p[1:]
        slope = _no_nan_div(d_tp, torch.clamp_min(d_p, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = torch.where(
            both, _no_nan_div(p[:-1], torch.clamp_min(p[1:], 0)), torch.ones_like(p[1:])
        )
        increments = _no_nan_div(
            slope * (d_tp + intercept * torch.log(ratio)), torch.clamp_min(tp[1:] + fn[1:], 0)
        )
        return self._average(increments)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "name": self.name,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self.from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
