"""Keras losses on torch tensors.

Every loss here takes ``(y_true, y_pred)`` in Keras order and returns one value per sample;
:class:`Loss` reduces them to the batch mean (Keras' ``"sum_over_batch_size"``), with
``sample_weight`` multiplying each sample's loss before the mean.

Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` as Keras does, so a model ending in
``softmax`` or ``sigmoid`` gives Keras' numbers; ``from_logits=True`` uses torch's fused,
numerically stable kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from epochal._naming import snake_case

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Huber",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "huber",
    "mean_absolute_error",
    "mean_squared_error",
    "sparse_categorical_crossentropy",
]

EPSILON = 1e-7


def _match(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Aligns targets with predictions as Keras does: same size → same shape; one axis
    fewer → a trailing axis of 1 that broadcasts."""
    if y_true.shape != y_pred.shape:
        if y_true.numel() == y_pred.numel():
            y_true = y_true.reshape(y_pred.shape)
        elif y_true.dim() == y_pred.dim() - 1:
            y_true = y_true.unsqueeze(-1)
    return y_true.to(y_pred.dtype)


def _last_axis_mean(values: torch.Tensor) -> torch.Tensor:
    return values.mean(dim=-1) if values.dim() > 1 else values


def mean_squared_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return _last_axis_mean((y_pred - _match(y_true, y_pred)).square())


def mean_absolute_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return _last_axis_mean((y_pred - _match(y_true, y_pred)).abs())


def huber(y_true: torch.Tensor, y_pred: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    values = F.huber_loss(y_pred, _match(y_true, y_pred), reduction="none", delta=delta)
    return _last_axis_mean(values)


def binary_crossentropy(
    y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool = False
) -> torch.Tensor:
    target = _match(y_true, y_pred)
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, target, reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        values = -(target * p.log() + (1.0 - target) * (1.0 - p).log())
    return _last_axis_mean(values)


def categorical_crossentropy(
    y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool = False
) -> torch.Tensor:
    target = _match(y_true, y_pred)
    if from_logits:
        return -(target * F.log_softmax(y_pred, dim=-1)).sum(dim=-1)
    p = y_pred / y_pred.sum(dim=-1, keepdim=True)
    return -(target * p.clamp(EPSILON, 1.0 - EPSILON).log()).sum(dim=-1)


def _sparse_targets(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    if y_true.dim() == y_pred.dim():
        y_true = y_true.squeeze(-1)
    if y_true.is_floating_point():
        y_true = y_true.long()
    return y_true


def sparse_categorical_crossentropy(
    y_true: torch.Tensor, y_pred: torch.Tensor, from_logits: bool = False
) -> torch.Tensor:
    y_true = _sparse_targets(y_true, y_pred)
    if from_logits:
        return F.cross_entropy(y_pred, y_true, reduction="none")
    p = y_pred / y_pred.sum(dim=-1, keepdim=True)
    return F.nll_loss(p.clamp(EPSILON, 1.0 - EPSILON).log(), y_true, reduction="none")


def _label_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> ValueError:
    classes = int(y_pred.shape[-1])
    labels = y_true.reshape(-1)
    bad = labels[(labels < 0) | (labels >= classes) | ~torch.isfinite(labels.double())]
    shown = bad[0].item() if bad.numel() else "out of range"
    return ValueError(
        f"sparse_categorical_crossentropy: label {shown} is not a class index of a model "
        f"with {classes} outputs (valid labels: 0 to {classes - 1}). Check the labels, or "
        "give the last layer one unit per class."
    )


class Loss:
    """A Keras loss: per-sample ``fn(y_true, y_pred)`` reduced to the weighted batch mean."""

    def __init__(self, fn: Callable[..., torch.Tensor], name: str | None = None, **kwargs: Any):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.kwargs = kwargs

    def __call__(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        try:
            return self._weighted_mean(y_true, y_pred, sample_weight)
        except IndexError as exc:
            if self.fn is not sparse_categorical_crossentropy:
                raise
            raise _label_error(y_true, y_pred) from exc

    def _weighted_mean(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None
    ) -> torch.Tensor:
        if (
            sample_weight is None
            and self.fn is sparse_categorical_crossentropy
            and self.kwargs.get("from_logits")
        ):
            # The common case in one fused kernel: same value as the mean of the per-sample ones.
            return F.cross_entropy(y_pred, _sparse_targets(y_true, y_pred))
        values = self.fn(y_true, y_pred, **self.kwargs)
        if sample_weight is not None:
            weight = sample_weight.reshape(values.shape[:1] + (1,) * (values.dim() - 1))
            values = values * weight.to(values.dtype)
        return values.mean()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.kwargs}


class MeanSquaredError(Loss):
    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(mean_squared_error, name)


class MeanAbsoluteError(Loss):
    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(mean_absolute_error, name)


class Huber(Loss):
    def __init__(self, delta: float = 1.0, name: str = "huber") -> None:
        super().__init__(huber, name, delta=delta)


class BinaryCrossentropy(Loss):
    def __init__(self, from_logits: bool = False, name: str = "binary_crossentropy") -> None:
        super().__init__(binary_crossentropy, name, from_logits=from_logits)


class CategoricalCrossentropy(Loss):
    def __init__(self, from_logits: bool = False, name: str = "categorical_crossentropy") -> None:
        super().__init__(categorical_crossentropy, name, from_logits=from_logits)


class SparseCategoricalCrossentropy(Loss):
    def __init__(
        self, from_logits: bool = False, name: str = "sparse_categorical_crossentropy"
    ) -> None:
        super().__init__(sparse_categorical_crossentropy, name, from_logits=from_logits)


_BY_NAME: dict[str, Callable[..., torch.Tensor]] = {
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
    "huber": huber,
    "huber_loss": huber,
}


class _TorchLoss(Loss):
    """Wraps a ``torch.nn`` loss module, which takes ``(input, target)`` in torch order."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__(module, snake_case(type(module).__name__))
        self.module: Any = module

    def __call__(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        if sample_weight is None:
            return self.module(y_pred, y_true)
        reduction = getattr(self.module, "reduction", "mean")
        self.module.reduction = "none"
        try:
            values = self.module(y_pred, y_true)
        finally:
            self.module.reduction = reduction
        values = values.reshape(values.shape[0], -1).mean(dim=-1) if values.dim() > 1 else values
        return (values * sample_weight.to(values.dtype)).mean()


def get(identifier: Any) -> Loss:
    """Resolves a Keras loss identifier: a name, a :class:`Loss`, a torch loss module or
    any callable ``fn(y_true, y_pred)`` (Keras argument order) returning per-sample or
    already reduced values.

    Raises:
        ValueError: for an unknown loss name, listing the known names.
        TypeError: for anything else.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is None:
            raise ValueError(
                f"Unknown loss {identifier!r}. Known names: {', '.join(sorted(_BY_NAME))}."
            )
        return Loss(fn, identifier)
    if isinstance(identifier, torch.nn.modules.loss._Loss):
        return _TorchLoss(identifier)
    if callable(identifier):
        return Loss(identifier)
    raise TypeError(
        "`loss` must be a loss name (e.g. 'categorical_crossentropy'), an epochal.losses.Loss, "
        f"a torch.nn loss module or a callable fn(y_true, y_pred). Received: {identifier!r}"
    )
