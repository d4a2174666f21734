"""The rest of Keras' metrics: probabilistic, top-k, regression, confusion-matrix based
(TruePositives ... AUC), F-scores, R2 and MeanIoU.

Every state is a sum (of weights, of counts, of squares), kept on the device and replaced,
never updated in place, so a frozen copy is a snapshot, ``state_dict`` values sum across
processes (``DataParallelStrategy.reduce_metrics``) and no update reads a value back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from epochal import losses
from epochal.metrics.base import Direction, MeanMetricWrapper, Metric

__all__ = [
    "AUC",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "F1Score",
    "FBetaScore",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "KLDivergence",
    "LogCoshError",
    "MeanAbsolutePercentageError",
    "MeanIoU",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "Precision",
    "R2Score",
    "Recall",
    "RootMeanSquaredError",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
    "cosine_similarity",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
]

_NEG_INF = -1e10  # what a prediction outside the top k becomes (Keras' value)


def _no_nan_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den``, 0 where ``den`` is 0 (Keras' ``divide_no_nan``)."""
    safe = torch.where(den == 0, torch.ones_like(den), den)
    return torch.where(den == 0, torch.zeros_like(num), num / safe)


def _t(value: Any) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float32)


class _StateMetric(Metric):
    """A metric whose state is a few named sums (``_state``), each a tensor or 0.0."""

    _state: tuple[str, ...] = ()
    # The sums the subclasses keep (each names its own in ``_state``).
    tp: Any
    fp: Any
    tn: Any
    fn: Any
    support: Any
    sum: Any
    squared_sum: Any
    residual: Any
    weight: Any
    num_samples: Any
    matrix: Any

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.reset()

    def reset(self) -> None:
        super().reset()
        for key in self._state:
            setattr(self, key, 0.0)

    reset_state = reset

    def state_dict(self) -> dict[str, Any]:
        return {
            key: (v.detach().clone() if isinstance(v, torch.Tensor) else v)
            for key in self._state
            for v in (getattr(self, key),)
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in self._state:
            setattr(self, key, state[key])

    def to(self, device: torch.device) -> None:
        for key in self._state:
            value = getattr(self, key)
            if isinstance(value, torch.Tensor):
                setattr(self, key, value.to(device))


# ---------------------------------------------------------------- mean-of-function metrics


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


def cosine_similarity(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Cosine of the angle between target and prediction along ``axis`` (1 is best)."""
    return -losses.cosine_similarity(y_true, y_pred, axis)


def _squared_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return (y_pred - losses._match(y_true, y_pred)).square()


class _FunctionMetric(MeanMetricWrapper):
    """A Keras metric that is the weighted mean of one function; ``config`` its arguments."""

    _fn: Any = None
    _default_direction: Direction = None

    def __init__(self, name: str, **config: Any) -> None:
        fn = type(self)._fn
        super().__init__(lambda t, p: fn(t, p, **config), name, type(self)._default_direction)
        self.config = config

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.config}


class BinaryCrossentropy(_FunctionMetric):
    _fn = staticmethod(losses.binary_crossentropy)
    _default_direction = "down"

    def __init__(
        self,
        name: str = "binary_crossentropy",
        from_logits: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(name, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_FunctionMetric):
    _fn = staticmethod(losses.categorical_crossentropy)
    _default_direction = "down"

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
    ) -> None:
        super().__init__(name, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(_FunctionMetric):
    _fn = staticmethod(losses.sparse_categorical_crossentropy)
    _default_direction = "down"

    def __init__(
        self, name: str = "sparse_categorical_crossentropy", from_logits: bool = False
    ) -> None:
        super().__init__(name, from_logits=from_logits)


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


class CosineSimilarity(_FunctionMetric):
    _fn = staticmethod(cosine_similarity)
    _default_direction = "up"

    def __init__(self, name: str = "cosine_similarity", axis: int = -1) -> None:
        super().__init__(name, axis=axis)


def _simple(fn: Any, default_name: str, direction: Direction) -> type[_FunctionMetric]:
    def __init__(self: _FunctionMetric, name: str = default_name) -> None:
        _FunctionMetric.__init__(self, name)

    return type(
        "".join(part.title() for part in default_name.split("_")),
        (_FunctionMetric,),
        {
            "_fn": staticmethod(fn),
            "_default_direction": direction,
            "__init__": __init__,
            "__module__": __name__,
            "__doc__": f"Weighted mean of ``{fn.__name__}`` (Keras' metric of that name).",
        },
    )


MeanAbsolutePercentageError = _simple(
    losses.mean_absolute_percentage_error, "mean_absolute_percentage_error", "down"
)
MeanSquaredLogarithmicError = _simple(
    losses.mean_squared_logarithmic_error, "mean_squared_logarithmic_error", "down"
)
KLDivergence = _simple(losses.kl_divergence, "kl_divergence", "down")
KLDivergence.__name__ = KLDivergence.__qualname__ = "KLDivergence"
Hinge = _simple(losses.hinge, "hinge", "down")
SquaredHinge = _simple(losses.squared_hinge, "squared_hinge", "down")
CategoricalHinge = _simple(losses.categorical_hinge, "categorical_hinge", "down")
Poisson = _simple(losses.poisson, "poisson", "down")
LogCoshError = _simple(losses.log_cosh, "logcosh", "down")
LogCoshError.__name__ = LogCoshError.__qualname__ = "LogCoshError"


class RootMeanSquaredError(MeanMetricWrapper):
    """``sqrt`` of the weighted mean of every squared error (Keras' RMSE)."""

    def __init__(self, name: str = "root_mean_squared_error") -> None:
        super().__init__(_squared_error, name, "down")

    def result(self) -> torch.Tensor:
        return torch.sqrt(super().result())

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


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


# ---------------------------------------------------------------- confusion-matrix metrics


def _thresholds(thresholds: Any, default: float) -> list[float]:
    if thresholds is None:
        return [default]
    values = [thresholds] if isinstance(thresholds, int | float) else list(thresholds)
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(
                f"Threshold values must be in [0, 1]. Received: thresholds={thresholds!r}"
            )
    return [float(v) for v in values]


def _filter_top_k(y_pred: torch.Tensor, k: int) -> torch.Tensor:
    """Keeps the ``k`` highest scores of each row; the others become ``-1e10``."""
    index = torch.topk(y_pred, k, dim=-1).indices
    mask = torch.zeros_like(y_pred).scatter(-1, index, 1.0)
    return y_pred * mask + _NEG_INF * (1 - mask)


def _confusion(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    sample_weight: torch.Tensor | None,
    thresholds: torch.Tensor,
    *,
    top_k: int | None = None,
    class_id: int | None = None,
    multi_label: bool = False,
    label_weights: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Weighted tp, fp, tn, fn at each threshold (``(T,)``, or ``(T, labels)`` with
    ``multi_label``), as Keras' ``update_confusion_matrix_variables``."""
    y_pred = y_pred.to(torch.float32)
    y_true = y_true.reshape(y_pred.shape) if y_true.numel() == y_pred.numel() else y_true
    truth = (y_true != 0).to(torch.float32)
    weight = torch.ones_like(y_pred)
    if sample_weight is not None:
        sw = sample_weight.to(torch.float32)
        weight = weight * sw.reshape(sw.shape + (1,) * (y_pred.dim() - sw.dim()))
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        y_pred, truth, weight = y_pred[..., class_id], truth[..., class_id], weight[..., class_id]
    if label_weights is not None and not multi_label:
        weight = weight * label_weights.to(weight.device)
    thresholds = thresholds.to(y_pred.device)
    if multi_label:  # (batch, labels) -> per label
        flat_pred, flat_true, flat_w = y_pred, truth, weight
        above = (flat_pred.unsqueeze(0) > thresholds.reshape(-1, 1, 1)).to(torch.float32)
        dims: tuple[int, ...] = (1,)
    else:
        flat_pred, flat_true, flat_w = y_pred.reshape(-1), truth.reshape(-1), weight.reshape(-1)
        above = (flat_pred.unsqueeze(0) > thresholds.reshape(-1, 1)).to(torch.float32)
        dims = (1,)
    positive = flat_true * flat_w
    negative = (1 - flat_true) * flat_w
    return {
        "tp": (above * positive).sum(dims),
        "fp": (above * negative).sum(dims),
        "fn": ((1 - above) * positive).sum(dims),
        "tn": ((1 - above) * negative).sum(dims),
    }


class _Confusion(_StateMetric):
    _state = ("tp", "fp", "tn", "fn")
    _needs: tuple[str, ...] = ("tp", "fp", "tn", "fn")

    def __init__(
        self,
        thresholds: Any = None,
        name: str | None = None,
        *,
        top_k: int | None = None,
        class_id: int | None = None,
        default: float = 0.5,
    ) -> None:
        self.init_thresholds = thresholds
        self.thresholds_list = _thresholds(thresholds, default)
        self._threshold_tensor = torch.tensor(self.thresholds_list, dtype=torch.float32)
        self.top_k = top_k
        self.class_id = class_id
        super().__init__(name)

    def update(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        if self._threshold_tensor.device != y_pred.device:
            self._threshold_tensor = self._threshold_tensor.to(y_pred.device)
        counts = _confusion(
            y_true,
            y_pred.detach(),
            sample_weight,
            self._threshold_tensor,
            top_k=self.top_k,
            class_id=self.class_id,
        )
        for key in self._state:
            setattr(self, key, getattr(self, key) + counts[key])

    def _value(self, value: torch.Tensor) -> torch.Tensor:
        return (
            value[0]
            if self.init_thresholds is None or isinstance(self.init_thresholds, int | float)
            else value
        )

    def _counts(self) -> dict[str, torch.Tensor]:
        size = len(self.thresholds_list)
        device = next(
            (v.device for k in self._state if isinstance(v := getattr(self, k), torch.Tensor)),
            torch.device("cpu"),
        )
        return {
            k: torch.as_tensor(getattr(self, k), dtype=torch.float32, device=device).expand(size)
            for k in self._state
        }


class _Count(_Confusion):
    _key = "tp"

    def __init__(self, thresholds: Any = None, name: str | None = None) -> None:
        super().__init__(thresholds, name)

    def result(self) -> torch.Tensor:
        return self._value(self._counts()[self._key])

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "thresholds": self.init_thresholds}


class TruePositives(_Count):
    """Weighted count of positive predictions (``y_pred > threshold``) on positive labels."""

    _key = "tp"


class FalsePositives(_Count):
    _key = "fp"


class TrueNegatives(_Count):
    _key = "tn"


class FalseNegatives(_Count):
    _key = "fn"


class Precision(_Confusion):
    """``tp / (tp + fp)``; a prediction counts as positive above ``thresholds`` (0.5) or,
    with ``top_k``, when among the row's ``k`` highest; ``class_id`` restricts to a class."""

    direction = "up"

    def __init__(
        self,
        thresholds: Any = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str = "precision",
    ) -> None:
        super().__init__(
            thresholds,
            name,
            top_k=top_k,
            class_id=class_id,
            default=0.5 if top_k is None else _NEG_INF,
        )
        if top_k is not None and thresholds is None:
            self.thresholds_list = [_NEG_INF]
            self._threshold_tensor = torch.tensor([_NEG_INF], dtype=torch.float32)

    def result(self) -> torch.Tensor:
        c = self._counts()
        return self._value(_no_nan_div(c["tp"], c["tp"] + c["fp"]))

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Recall(Precision):
    """``tp / (tp + fn)``, with Precision's ``thresholds`` / ``top_k`` / ``class_id``."""

    def __init__(
        self,
        thresholds: Any = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str = "recall",
    ) -> None:
        super().__init__(thresholds, top_k, class_id, name)

    def result(self) -> torch.Tensor:
        c = self._counts()
        return self._value(_no_nan_div(c["tp"], c["tp"] + c["fn"]))


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


# ---------------------------------------------------------------- F-scores, R2, IoU


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


class MeanIoU(_StateMetric):
    """Mean intersection over union of class ids, from a weighted confusion matrix.

    Args:
        num_classes: Number of classes.
        name: Defaults to `"mean_io_u"`.
        ignore_class: A target class left out. Defaults to `None`.
        sparse_y_true: Targets are class ids (else one-hot: arg-max). Defaults to `True`.
        sparse_y_pred: Predictions are class ids (else scores: arg-max). Defaults to `True`.
        axis: The class axis for the arg-max. Defaults to `-1`.
    """

    direction = "up"
    _state = ("matrix",)

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"`num_classes` must be an int >= 1. Received: {num_classes!r}")
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        super().__init__(name or "mean_io_u")

    def update(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        y_pred = y_pred.detach()
        if not self.sparse_y_true:
            y_true = y_true.argmax(dim=self.axis)
        if not self.sparse_y_pred:
            y_pred = y_pred.argmax(dim=self.axis)
        # Keras casts to its integer dtype: ids (and weights) are truncated.
        truth = y_true.reshape(-1).to(torch.int64)
        pred = y_pred.reshape(-1).to(torch.int64)
        weight = torch.ones_like(truth)
        if sample_weight is not None:
            weight = sample_weight.reshape(-1).to(torch.int64).expand_as(truth)
        n = self.num_classes
        valid = (truth >= 0) & (truth < n) & (pred >= 0) & (pred < n)
        if self.ignore_class is not None:
            valid = valid & (truth != self.ignore_class)
        index = torch.where(valid, truth * n + pred, torch.zeros_like(truth))
        counts = torch.zeros(n * n, dtype=torch.float32, device=truth.device)
        counts = counts.index_add(0, index, torch.where(valid, weight, 0).to(torch.float32))
        self.matrix = self.matrix + counts.reshape(n, n)

    def result(self) -> torch.Tensor:
        matrix = _t(self.matrix)
        if matrix.dim() == 0:
            return torch.zeros(())
        true_positives = torch.diagonal(matrix)
        denominator = matrix.sum(dim=0) + matrix.sum(dim=1) - true_positives
        valid = (denominator != 0).to(torch.float32).sum()
        iou = _no_nan_div(true_positives, denominator)
        return _no_nan_div(iou.sum(), valid)

    def get_config(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "name": self.name,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }
