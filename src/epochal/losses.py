"""Keras losses on torch tensors.

Every loss here takes ``(y_true, y_pred)`` in Keras order and returns one value per sample;
:class:`Loss` reduces them to the batch mean (Keras' ``"sum_over_batch_size"``), with
``sample_weight`` multiplying each sample's loss before the mean.

Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` as Keras does, so a model ending in
``softmax`` or ``sigmoid`` gives Keras' numbers; ``from_logits=True`` uses torch's fused,
numerically stable kernels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from epochal._naming import snake_case

__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "cosine_similarity",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "sparse_categorical_crossentropy",
    "squared_hinge",
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
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    target = _match(y_true, y_pred)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if axis != -1:
        values = binary_crossentropy(target, y_pred, from_logits)
        return values.mean(dim=axis) if values.dim() > 1 else values
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, target, reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        values = -(target * p.log() + (1.0 - target) * (1.0 - p).log())
    return _last_axis_mean(values)


def categorical_crossentropy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    target = _match(y_true, y_pred)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    if from_logits:
        return -(target * F.log_softmax(y_pred, dim=axis)).sum(dim=axis)
    p = y_pred / y_pred.sum(dim=axis, keepdim=True)
    return -(target * p.clamp(EPSILON, 1.0 - EPSILON).log()).sum(dim=axis)


def _hinge_labels(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """0/1 labels become -1/1 (Keras' hinge convention); -1/1 labels stay. Decided on the
    device, for the whole batch at once, with no read-back."""
    target = _match(y_true, y_pred)
    binary = ((target == 0) | (target == 1)).all()
    return torch.where(binary, 2.0 * target - 1.0, target)


def hinge(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``mean(max(1 - y_true * y_pred, 0))`` over the last axis (labels -1/1 or 0/1)."""
    return _last_axis_mean(torch.clamp_min(1.0 - _hinge_labels(y_true, y_pred) * y_pred, 0.0))


def squared_hinge(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``mean(max(1 - y_true * y_pred, 0) ** 2)`` over the last axis."""
    margin = torch.clamp_min(1.0 - _hinge_labels(y_true, y_pred) * y_pred, 0.0)
    return _last_axis_mean(margin.square())


def categorical_hinge(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``max(max((1 - t) * p) - sum(t * p) + 1, 0)`` for one-hot ``t``."""
    target = _match(y_true, y_pred)
    positive = (target * y_pred).sum(dim=-1)
    negative = ((1.0 - target) * y_pred).amax(dim=-1)
    return torch.clamp_min(negative - positive + 1.0, 0.0)


def kl_divergence(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``sum(t * log(t / p))`` with both clipped to ``[epsilon, 1]``."""
    target = _match(y_true, y_pred).clamp(EPSILON, 1.0)
    p = y_pred.clamp(EPSILON, 1.0)
    return (target * (target / p).log()).sum(dim=-1)


def poisson(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``mean(p - t * log(p + epsilon))`` over the last axis."""
    target = _match(y_true, y_pred)
    return _last_axis_mean(y_pred - target * (y_pred + EPSILON).log())


def log_cosh(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``mean(log(cosh(p - t)))``, computed as ``x + softplus(-2x) - log 2`` (stable)."""
    x = y_pred - _match(y_true, y_pred)
    return _last_axis_mean(x + F.softplus(x * -2.0) - math.log(2.0))


def _l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    inverse = torch.rsqrt(x.square().sum(dim=axis, keepdim=True))
    return x * torch.clamp_max(inverse, 1.0 / EPSILON)


def cosine_similarity(y_true: torch.Tensor, y_pred: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Minus the cosine of the angle between target and prediction along ``axis``
    (a loss: -1 is best)."""
    target = _match(y_true, y_pred)
    return -(_l2_normalize(target, axis) * _l2_normalize(y_pred, axis)).sum(dim=axis)


def mean_absolute_percentage_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``100 * mean(|t - p| / max(|t|, epsilon))`` over the last axis."""
    target = _match(y_true, y_pred)
    diff = ((target - y_pred) / torch.clamp_min(target.abs(), EPSILON)).abs()
    return 100.0 * _last_axis_mean(diff)


def mean_squared_logarithmic_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """``mean((log(max(p, eps) + 1) - log(max(t, eps) + 1)) ** 2)`` over the last axis."""
    target = _match(y_true, y_pred)
    first = (torch.clamp_min(y_pred, EPSILON) + 1.0).log()
    second = (torch.clamp_min(target, EPSILON) + 1.0).log()
    return _last_axis_mean((first - second).square())


def binary_focal_crossentropy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Binary crossentropy scaled by ``(1 - p_t) ** gamma`` (and by ``alpha`` / ``1 - alpha``
    per class with ``apply_class_balancing``), as Keras' focal loss."""
    target = _match(y_true, y_pred)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    p = torch.sigmoid(y_pred) if from_logits else y_pred
    clipped = p.clamp(EPSILON, 1.0 - EPSILON)
    bce = -(target * clipped.log() + (1.0 - target) * (1.0 - clipped).log())
    p_t = target * p + (1 - target) * (1 - p)
    focal = torch.pow(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (target * alpha + (1 - target) * (1 - alpha)) * focal
    return focal.mean(dim=axis) if focal.dim() > 1 else focal


def categorical_focal_crossentropy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Categorical crossentropy with each class term scaled by ``alpha * (1 - p) ** gamma``."""
    target = _match(y_true, y_pred)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    p = torch.softmax(y_pred, dim=axis) if from_logits else y_pred
    p = (p / p.sum(dim=axis, keepdim=True)).clamp(EPSILON, 1.0 - EPSILON)
    terms = torch.pow(1.0 - p, gamma) * alpha * (-target * p.log())
    return terms.sum(dim=axis)


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


REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


class Loss:
    """A Keras loss: per-sample ``fn(y_true, y_pred)``, weighted by ``sample_weight``, then
    reduced as Keras' ``reduction`` says: ``"sum_over_batch_size"`` (default) and ``"mean"``
    divide the weighted sum by the number of values, ``"mean_with_sample_weight"`` by the
    sum of the weights, ``"sum"`` sums, ``"none"`` / ``None`` return the per-sample values.

    Raises:
        ValueError: for an unknown ``reduction``.
    """

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        **kwargs: Any,
    ):
        if reduction not in REDUCTIONS:
            raise ValueError(
                "Invalid value for argument `reduction`. Expected one of "
                f"{', '.join(map(repr, REDUCTIONS))}. Received: reduction={reduction!r}"
            )
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.reduction = reduction
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
            and self.reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight")
            and self.fn is sparse_categorical_crossentropy
            and self.kwargs.get("from_logits")
        ):
            # The common case in one fused kernel: same value as the mean of the per-sample ones.
            return F.cross_entropy(y_pred, _sparse_targets(y_true, y_pred))
        values = self.fn(y_true, y_pred, **self.kwargs)
        weight = None
        if sample_weight is not None:
            weight = sample_weight.reshape(values.shape[:1] + (1,) * (values.dim() - 1))
            values = values * weight.to(values.dtype)
        if self.reduction in (None, "none") or values.dim() == 0:
            return values
        if self.reduction == "sum":
            return values.sum()
        if self.reduction == "mean_with_sample_weight" and weight is not None:
            total = weight.to(values.dtype).sum()
            return torch.where(total != 0, values.sum() / total, torch.zeros_like(total))
        return values.mean()

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, **self.kwargs}
        if type(self) is not Loss:
            config["reduction"] = self.reduction
        return config


class MeanSquaredError(Loss):
    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "mean_squared_error"
    ) -> None:
        super().__init__(mean_squared_error, name, reduction)


class MeanAbsoluteError(Loss):
    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "mean_absolute_error"
    ) -> None:
        super().__init__(mean_absolute_error, name, reduction)


class Huber(Loss):
    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber",
    ) -> None:
        super().__init__(huber, name, reduction, delta=delta)


class BinaryCrossentropy(Loss):
    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
    ) -> None:
        super().__init__(
            binary_crossentropy,
            name,
            reduction,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalCrossentropy(Loss):
    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
    ) -> None:
        super().__init__(
            categorical_crossentropy,
            name,
            reduction,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(Loss):
    """Keras' sparse crossentropy; ``ignore_class`` is not supported (refused, not ignored)."""

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
    ) -> None:
        if ignore_class is not None:
            raise NotImplementedError(
                f"SparseCategoricalCrossentropy(ignore_class={ignore_class!r}) is not supported "
                "by epochal; mask those targets with sample_weight=0 instead."
            )
        super().__init__(sparse_categorical_crossentropy, name, reduction, from_logits=from_logits)


def _simple(fn: Callable[..., torch.Tensor], default_name: str, doc: str) -> type[Loss]:
    """A Keras loss class with only ``reduction`` and ``name`` arguments."""

    def __init__(
        self: Loss, reduction: str | None = "sum_over_batch_size", name: str = default_name
    ) -> None:
        Loss.__init__(self, fn, name, reduction)

    cls = type(
        "".join(part.title() for part in default_name.split("_")),
        (Loss,),
        {"__init__": __init__, "__doc__": doc, "__module__": __name__},
    )
    return cls


Hinge = _simple(hinge, "hinge", "Keras' Hinge loss (labels -1/1, or 0/1 converted).")
SquaredHinge = _simple(squared_hinge, "squared_hinge", "Keras' SquaredHinge loss.")
CategoricalHinge = _simple(categorical_hinge, "categorical_hinge", "Keras' CategoricalHinge.")
KLDivergence = _simple(kl_divergence, "kl_divergence", "Keras' KLDivergence loss.")
Poisson = _simple(poisson, "poisson", "Keras' Poisson loss.")
LogCosh = _simple(log_cosh, "log_cosh", "Keras' LogCosh loss.")
MeanAbsolutePercentageError = _simple(
    mean_absolute_percentage_error,
    "mean_absolute_percentage_error",
    "Keras' MeanAbsolutePercentageError loss.",
)
MeanSquaredLogarithmicError = _simple(
    mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error",
    "Keras' MeanSquaredLogarithmicError loss.",
)
KLDivergence.__name__ = KLDivergence.__qualname__ = "KLDivergence"


class CosineSimilarity(Loss):
    def __init__(
        self,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "cosine_similarity",
    ) -> None:
        super().__init__(cosine_similarity, name, reduction, axis=axis)


class BinaryFocalCrossentropy(Loss):
    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_focal_crossentropy",
    ) -> None:
        super().__init__(
            binary_focal_crossentropy,
            name,
            reduction,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class CategoricalFocalCrossentropy(Loss):
    def __init__(
        self,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_focal_crossentropy",
    ) -> None:
        super().__init__(
            categorical_focal_crossentropy,
            name,
            reduction,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


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
    "hinge": hinge,
    "squared_hinge": squared_hinge,
    "categorical_hinge": categorical_hinge,
    "kl_divergence": kl_divergence,
    "kld": kl_divergence,
    "kullback_leibler_divergence": kl_divergence,
    "poisson": poisson,
    "log_cosh": log_cosh,
    "logcosh": log_cosh,
    "cosine_similarity": cosine_similarity,
    "mape": mean_absolute_percentage_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error,
    "binary_focal_crossentropy": binary_focal_crossentropy,
    "categorical_focal_crossentropy": categorical_focal_crossentropy,
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
