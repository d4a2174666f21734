"""Device-resident metrics with Keras names (see :mod:`epochal.metrics.base` for how state
is kept; :mod:`epochal.metrics.keras_metrics` for the others, gathered from their family modules:
``accuracy``, ``probabilistic``, ``regression``, ``reduction``, ``confusion``, ``auc``,
``f_score``, ``iou``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from epochal import losses
from epochal.losses import mean_absolute_error, mean_squared_error
from epochal.metrics.base import (
    ACCURACY_ALIASES,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    Direction,
    Mean,
    MeanAbsoluteError,
    MeanMetricWrapper,
    MeanSquaredError,
    Metric,
    SparseCategoricalAccuracy,
    accuracy_alias,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
)
from epochal.metrics.keras_metrics import (
    AUC,
    BinaryCrossentropy,
    BinaryIoU,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    F1Score,
    FalseNegatives,
    FalsePositives,
    FBetaScore,
    Hinge,
    IoU,
    KLDivergence,
    LogCoshError,
    MeanAbsolutePercentageError,
    MeanIoU,
    MeanSquaredLogarithmicError,
    OneHotIoU,
    OneHotMeanIoU,
    Poisson,
    Precision,
    PrecisionAtRecall,
    R2Score,
    Recall,
    RecallAtPrecision,
    RootMeanSquaredError,
    SensitivityAtSpecificity,
    SparseCategoricalCrossentropy,
    SparseTopKCategoricalAccuracy,
    SpecificityAtSensitivity,
    SquaredHinge,
    Sum,
    TopKCategoricalAccuracy,
    TrueNegatives,
    TruePositives,
    cosine_similarity,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from epochal.metrics.torchmetrics_adapter import TorchMetric, is_torchmetric, is_torchmetric_class

__all__ = [
    "ACCURACY_ALIASES",
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "BinaryIoU",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "F1Score",
    "FBetaScore",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "IoU",
    "KLDivergence",
    "LogCoshError",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanIoU",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "OneHotIoU",
    "OneHotMeanIoU",
    "Poisson",
    "Precision",
    "PrecisionAtRecall",
    "R2Score",
    "Recall",
    "RecallAtPrecision",
    "RootMeanSquaredError",
    "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "TorchMetric",
    "TrueNegatives",
    "TruePositives",
    "accuracy_alias",
    "binary_accuracy",
    "categorical_accuracy",
    "cosine_similarity",
    "get",
    "is_torchmetric",
    "is_torchmetric_class",
    "mean_absolute_error",
    "mean_squared_error",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]


_BY_NAME: dict[str, tuple[Callable[..., torch.Tensor], Direction]] = {
    "mse": (mean_squared_error, "down"),
    "mean_squared_error": (mean_squared_error, "down"),
    "mae": (mean_absolute_error, "down"),
    "mean_absolute_error": (mean_absolute_error, "down"),
    "binary_accuracy": (binary_accuracy, "up"),
    "categorical_accuracy": (categorical_accuracy, "up"),
    "sparse_categorical_accuracy": (sparse_categorical_accuracy, "up"),
    "top_k_categorical_accuracy": (top_k_categorical_accuracy, "up"),
    "sparse_top_k_categorical_accuracy": (sparse_top_k_categorical_accuracy, "up"),
    "mape": (losses.mean_absolute_percentage_error, "down"),
    "mean_absolute_percentage_error": (losses.mean_absolute_percentage_error, "down"),
    "msle": (losses.mean_squared_logarithmic_error, "down"),
    "mean_squared_logarithmic_error": (losses.mean_squared_logarithmic_error, "down"),
    "hinge": (losses.hinge, "down"),
    "squared_hinge": (losses.squared_hinge, "down"),
    "categorical_hinge": (losses.categorical_hinge, "down"),
    "cosine_similarity": (cosine_similarity, "up"),
    "kl_divergence": (losses.kl_divergence, "down"),
    "kld": (losses.kl_divergence, "down"),
    "poisson": (losses.poisson, "down"),
    "logcosh": (losses.log_cosh, "down"),
    "log_cosh": (losses.log_cosh, "down"),
    "binary_crossentropy": (losses.binary_crossentropy, "down"),
    "categorical_crossentropy": (losses.categorical_crossentropy, "down"),
    "sparse_categorical_crossentropy": (losses.sparse_categorical_crossentropy, "down"),
}

_CLASSES: dict[str, Callable[[], Metric]] = {
    "auc": AUC,
    "binary_io_u": BinaryIoU,
    "binaryiou": BinaryIoU,
    "precision": Precision,
    "recall": Recall,
    "rmse": RootMeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError,
    "r2_score": R2Score,
    "true_positives": TruePositives,
    "true_negatives": TrueNegatives,
    "false_positives": FalsePositives,
    "false_negatives": FalseNegatives,
}


def get(identifier: Any, loss_name: str | None = None) -> Metric:
    """Resolves a Keras metric identifier (name, function, or Metric) to a Metric.

    A string keeps its spelling as the logs key (``"acc"`` is logged as ``acc``), a function
    is logged under its ``__name__``, an object under its ``name``. A ``torchmetrics.Metric``
    (object or class) becomes a :class:`TorchMetric`.

    Raises:
        ValueError: for an unknown metric name, listing the known ones.
        TypeError: for something that is neither a string, a callable nor a Metric.
    """
    if isinstance(identifier, Metric):
        return identifier
    if is_torchmetric(identifier):  # torchmetrics' (preds, target) order, our reduction
        return TorchMetric(identifier)
    if is_torchmetric_class(identifier):
        return TorchMetric(identifier())
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ACCURACY_ALIASES:
            return Accuracy(name=identifier, loss_name=loss_name)
        if key in _BY_NAME:
            fn, direction = _BY_NAME[key]
            return MeanMetricWrapper(fn, name=identifier, direction=direction)
        if key in _CLASSES:
            metric = _CLASSES[key]()
            metric.name = identifier
            return metric
        known = sorted({*ACCURACY_ALIASES, *_BY_NAME, *_CLASSES})
        raise ValueError(f"Unknown metric {identifier!r}. Known names: {', '.join(known)}.")
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        f"`metrics` entries must be a string, a callable or an epochal.metrics.Metric. "
        f"Received: {identifier!r}"
    )
