"""Keras' confusion-matrix metrics: TruePositives ... FalseNegatives, Precision, Recall, and
the metrics read off a curve at a fixed point (SensitivityAtSpecificity,
SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision). ``AUC`` is in ``auc``.

Each keeps weighted tp / fp / tn / fn sums per threshold on the device; ``state_dict``
values sum across processes.
"""

from __future__ import annotations

from typing import Any

import torch

from epochal.metrics._state import _dtype, _no_nan_div, _StateMetric

__all__ = [
    "FalseNegatives",
    "FalsePositives",
    "Precision",
    "PrecisionAtRecall",
    "Recall",
    "RecallAtPrecision",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "TrueNegatives",
    "TruePositives",
]

_NEG_INF = -1e10  # what a prediction outside the top k becomes (Keras' value)


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


# ---------------------------------------------------------------- a point on a curve


class _AtPoint(_StateMetric):
    """The best ``dependent`` rate over the thresholds whose ``constrained`` rate reaches
    ``value`` (Keras' ``SensitivitySpecificityBase``): confusion counts at ``num_thresholds``
    thresholds evenly spaced over [0, 1] (the ends included; one threshold: 0.5)."""

    direction = "up"
    _state = ("tp", "fp", "tn", "fn")
    _argument = ""  # the Keras name of ``value``
    # (constrained, dependent): each a rate of the counts
    _rates: tuple[str, str] = ("", "")

    def __init__(
        self,
        value: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        owner = type(self).__name__
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(
                f"Argument `{self._argument}` must be in the range [0, 1]. "
                f"Received: {self._argument}={value!r}"
            )
        if (
            isinstance(num_thresholds, bool)
            or not isinstance(num_thresholds, int)
            or num_thresholds <= 0
        ):
            raise ValueError(
                "Argument `num_thresholds` must be an integer > 0. "
                f"Received: num_thresholds={num_thresholds!r}"
            )
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, int)):
            raise ValueError(f"{owner}: `class_id` must be an int or None. Received: {class_id!r}")
        self.dtype, self._torch_dtype = _dtype(owner, dtype, "float32")
        if not self._torch_dtype.is_floating_point:
            raise ValueError(f"{owner}: `dtype` must be a float type. Received: dtype={dtype!r}")
        self.value = float(value)
        setattr(self, self._argument, value)
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds = [0.5]
        else:
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds = [0.0, *inner, 1.0]
        self._threshold_tensor = torch.tensor(self.thresholds, dtype=torch.float32)
        super().__init__(name)

    def update(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        if self._threshold_tensor.device != y_pred.device:
            self._threshold_tensor = self._threshold_tensor.to(y_pred.device)
        counts = _confusion(
            y_true, y_pred.detach(), sample_weight, self._threshold_tensor, class_id=self.class_id
        )
        for key in self._state:
            setattr(self, key, getattr(self, key) + counts[key].to(self._torch_dtype))

    def result(self) -> torch.Tensor:
        tp, fp, tn, fn = (
            torch.as_tensor(getattr(self, k), dtype=self._torch_dtype) for k in self._state
        )
        rates = {
            "sensitivity": lambda: _no_nan_div(tp, tp + fn),  # = recall
            "specificity": lambda: _no_nan_div(tn, tn + fp),
            "precision": lambda: _no_nan_div(tp, tp + fp),
        }
        constrained, dependent = (rates[key]() for key in self._rates)
        feasible = constrained >= torch.tensor(self.value, dtype=self._torch_dtype)
        best = torch.where(feasible, dependent, torch.zeros_like(dependent))
        return best.max().clamp_min(0) if best.dim() else best.clamp_min(0)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "class_id": self.class_id,
            "num_thresholds": self.num_thresholds,
            self._argument: getattr(self, self._argument),
        }


class SensitivityAtSpecificity(_AtPoint):
    """The best sensitivity (recall) at a specificity of at least ``specificity``.

    Args:
        specificity: In [0, 1].
        num_thresholds: Thresholds evenly spaced over [0, 1]. Defaults to `200`.
        class_id: The class column to score (else every value counts). Defaults to `None`.
        name: Defaults to `"sensitivity_at_specificity"`.
        dtype: The float type of the state and result. Defaults to `"float32"`.

    Raises:
        ValueError: for ``specificity`` outside [0, 1] or ``num_thresholds <= 0``.
    """

    _argument = "specificity"
    _rates = ("specificity", "sensitivity")

    def __init__(
        self,
        specificity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtPoint):
    """The best specificity at a sensitivity (recall) of at least ``sensitivity``; the
    other arguments as :class:`SensitivityAtSpecificity`'s."""

    _argument = "sensitivity"
    _rates = ("sensitivity", "specificity")

    def __init__(
        self,
        sensitivity: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtPoint):
    """The best precision at a recall of at least ``recall``; the other arguments as
    :class:`SensitivityAtSpecificity`'s."""

    _argument = "recall"
    _rates = ("sensitivity", "precision")

    def __init__(
        self,
        recall: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtPoint):
    """The best recall at a precision of at least ``precision``; the other arguments as
    :class:`SensitivityAtSpecificity`'s."""

    _argument = "precision"
    _rates = ("precision", "sensitivity")

    def __init__(
        self,
        precision: float,
        num_thresholds: int = 200,
        class_id: int | None = None,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(precision, num_thresholds, class_id, name, dtype)
