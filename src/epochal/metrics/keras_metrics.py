"""The Keras metrics beyond ``base``, gathered from the modules of their families.

Kept so ``epochal.metrics.keras_metrics.X`` keeps working; each family lives in its own
module: ``accuracy`` (top-k), ``probabilistic`` (crossentropies, KL divergence, Poisson,
hinges), ``regression`` (cosine similarity, MAPE, MSLE, log-cosh, RMSE, R2), ``reduction``
(``Sum``), ``confusion`` (TruePositives ... FalseNegatives, Precision, Recall and the
``...At...`` metrics), ``auc``, ``f_score`` and ``iou``.
"""

from __future__ import annotations

from epochal.metrics.accuracy import (
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from epochal.metrics.auc import AUC
from epochal.metrics.confusion import (
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from epochal.metrics.f_score import F1Score, FBetaScore
from epochal.metrics.iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from epochal.metrics.probabilistic import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    Hinge,
    KLDivergence,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from epochal.metrics.reduction import Sum
from epochal.metrics.regression import (
    CosineSimilarity,
    LogCoshError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    R2Score,
    RootMeanSquaredError,
    cosine_similarity,
)

__all__ = [
    "AUC",
    "BinaryCrossentropy",
    "BinaryIoU",
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
    "MeanAbsolutePercentageError",
    "MeanIoU",
    "MeanSquaredLogarithmicError",
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
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
    "cosine_similarity",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]
