"""Keras' intersection-over-union metrics, from a weighted confusion matrix of class ids:
``IoU`` (over chosen classes), ``MeanIoU`` (over every class), ``BinaryIoU`` (thresholded
predictions), ``OneHotIoU`` and ``OneHotMeanIoU`` (one-hot targets).

The matrix is a sum kept on the device (``state_dict`` values sum across processes). As in
Keras the default ``dtype`` is an integer one: ids *and sample weights* are truncated to
integers (a float weight warns once); a float ``dtype`` keeps fractional weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from epochal.metrics._state import _dtype, _StateMetric

__all__ = ["BinaryIoU", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU"]

_EPSILON = 1e-7  # Keras' backend.epsilon(), added to the denominators of the result


class _IoUBase(_StateMetric):
    direction = "up"
    _state = ("matrix",)

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        owner = type(self).__name__
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"{owner}: `num_classes` must be an int >= 1. Received: {num_classes!r}"
            )
        if ignore_class is not None and (
            isinstance(ignore_class, bool) or not isinstance(ignore_class, int)
        ):
            raise ValueError(
                f"{owner}: `ignore_class` must be an int or None. Received: {ignore_class!r}"
            )
        for flag, value in (("sparse_y_true", sparse_y_true), ("sparse_y_pred", sparse_y_pred)):
            if not isinstance(value, bool):
                raise ValueError(f"{owner}: `{flag}` must be a bool. Received: {value!r}")
        self.dtype, self._torch_dtype = _dtype(owner, dtype, "int32")
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis
        self._warned = False
        super().__init__(name)

    def update(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        y_pred = y_pred.detach()
        if not self.sparse_y_true:
            y_true = y_true.argmax(dim=self.axis)
        if not self.sparse_y_pred:
            y_pred = y_pred.argmax(dim=self.axis)
        integral = not self._torch_dtype.is_floating_point
        # The ids in the metric's dtype (an integer one truncates them, as Keras casts).
        truth = y_true.reshape(-1).to(self._torch_dtype)
        pred = y_pred.reshape(-1).to(self._torch_dtype)
        n = self.num_classes
        valid = (truth >= 0) & (truth < n) & (pred >= 0) & (pred < n)
        if self.ignore_class is not None:
            valid = valid & (truth != self.ignore_class)
        if sample_weight is None:
            weight = torch.ones_like(truth)
        else:
            if integral and sample_weight.is_floating_point() and not self._warned:
                self._warned = True
                warnings.warn(
                    f"{type(self).__name__}: float sample weights with the integer dtype "
                    f"{self.dtype!r} are truncated to integers (Keras' rule); pass "
                    "dtype='float32' to keep fractional weights.",
                    UserWarning,
                    stacklevel=3,
                )
            weight = sample_weight.to(self._torch_dtype).reshape(-1)
            if weight.numel() not in (1, truth.numel()) and truth.numel() % weight.numel() == 0:
                # one weight per sample of a segmentation map: each of its pixels gets it
                weight = weight.reshape(-1, 1).expand(-1, truth.numel() // weight.numel())
            weight = weight.reshape(-1).expand_as(truth)
        index = torch.where(valid, truth.long() * n + pred.long(), torch.zeros_like(truth).long())
        counts = torch.zeros(n * n, dtype=self._torch_dtype, device=truth.device)
        counts = counts.index_add(0, index, torch.where(valid, weight, torch.zeros_like(weight)))
        counts = counts.reshape(n, n)
        # (the first update replaces the 0.0 of a reset state: the matrix keeps its dtype)
        matrix = self.matrix
        self.matrix = matrix + counts if isinstance(matrix, torch.Tensor) else counts

    def _ids(self) -> list[int]:
        return list(range(self.num_classes))

    def result(self) -> torch.Tensor:
        matrix = self.matrix
        if not isinstance(matrix, torch.Tensor) or matrix.dim() == 0:
            return torch.zeros(())
        true_positives = torch.diagonal(matrix)
        denominator = matrix.sum(dim=0) + matrix.sum(dim=1) - true_positives
        ids = torch.tensor(self._ids(), dtype=torch.long, device=matrix.device)
        true_positives = true_positives[ids].to(torch.float32)
        denominator = denominator[ids].to(torch.float32)
        valid = denominator > 1e-9
        iou = torch.where(
            valid, true_positives / (denominator + _EPSILON), torch.zeros_like(denominator)
        )
        return iou.sum() / (valid.to(torch.float32).sum() + _EPSILON)


def _check_targets(owner: str, target_class_ids: Any, num_classes: int) -> list[int]:
    try:
        ids = [int(i) for i in target_class_ids]
    except (TypeError, ValueError):
        raise ValueError(
            f"{owner}: `target_class_ids` must be a sequence of class ids. "
            f"Received: {target_class_ids!r}"
        ) from None
    if not ids:
        raise ValueError(f"{owner}: `target_class_ids` must name at least one class.")
    if max(ids) >= num_classes or min(ids) < 0:
        bad = max(ids) if max(ids) >= num_classes else min(ids)
        raise ValueError(f"Target class id {bad} is out of range, which is [0, {num_classes}).")
    return ids


class IoU(_IoUBase):
    """Intersection over union averaged over ``target_class_ids``:
    ``tp / (tp + fp + fn)`` per class from a weighted confusion matrix, classes that never
    occur left out of the mean.

    Args:
        num_classes: The number of classes (ids ``0 .. num_classes - 1``).
        target_class_ids: The classes averaged (ids below ``num_classes``).
        name: Defaults to `"io_u"`.
        dtype: The confusion matrix' type; an integer one (the default, Keras' ``"int32"``)
            truncates ids and sample weights, a float one keeps fractional weights.
        ignore_class: A target id left out (e.g. a "void" label). Defaults to `None`.
        sparse_y_true: Targets are ids (else scores: their arg-max along ``axis``).
            Defaults to `True`.
        sparse_y_pred: Predictions are ids (else scores: their arg-max). Defaults to `True`.
        axis: The class axis of the arg-max. Defaults to `-1`.

    Raises:
        ValueError: for ``num_classes < 1``, a target id out of range or an unknown dtype.
    """

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Sequence[int],
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        super().__init__(num_classes, name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis)
        self.target_class_ids = _check_targets(type(self).__name__, target_class_ids, num_classes)

    def _ids(self) -> list[int]:
        return self.target_class_ids

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class BinaryIoU(IoU):
    """IoU of two classes, the prediction's class being ``y_pred >= threshold``.

    Args:
        target_class_ids: Which of the classes 0 and 1 to average. Defaults to `(0, 1)`.
        threshold: Predictions at or above it are class 1. Defaults to `0.5`.
        name: Defaults to `"binary_io_u"`.
        dtype: As :class:`IoU`'s (targets are truncated to ints with the default).
    """

    def __init__(
        self,
        target_class_ids: Sequence[int] = (0, 1),
        threshold: float = 0.5,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ValueError(f"BinaryIoU: `threshold` must be a float. Received: {threshold!r}")
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        y_true = y_true.to(self._torch_dtype)
        y_pred = (y_pred.detach().to(torch.float32) >= self.threshold).to(self._torch_dtype)
        super().update(y_true, y_pred, sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
            "name": self.name,
            "dtype": self.dtype,
        }


class MeanIoU(IoU):
    """IoU averaged over every class (``target_class_ids = range(num_classes)``); the
    arguments are :class:`IoU`'s. ``name`` defaults to `"mean_io_u"`."""

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"{type(self).__name__}: `num_classes` must be an int >= 1. "
                f"Received: {num_classes!r}"
            )
        super().__init__(
            num_classes,
            list(range(num_classes)),
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=sparse_y_true,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "num_classes": self.num_classes,
            "name": self.name,
            "dtype": self.dtype,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }


class OneHotIoU(IoU):
    """:class:`IoU` of one-hot targets (``sparse_y_true=False``); predictions are scores
    unless ``sparse_y_pred``. ``name`` defaults to `"one_hot_io_u"`."""

    def __init__(
        self,
        num_classes: int,
        target_class_ids: Sequence[int],
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(
            num_classes,
            target_class_ids,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("sparse_y_true")
        return config


class OneHotMeanIoU(MeanIoU):
    """:class:`MeanIoU` of one-hot targets (``sparse_y_true=False``); predictions are
    scores unless ``sparse_y_pred``. ``name`` defaults to `"one_hot_mean_io_u"`."""

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: Any = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(
            num_classes,
            name=name,
            dtype=dtype,
            ignore_class=ignore_class,
            sparse_y_true=False,
            sparse_y_pred=sparse_y_pred,
            axis=axis,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("sparse_y_true")
        return config
