"""Device-resident metrics with Keras names.

A metric keeps a running weighted sum and a weight count *on the device*. ``update`` never
reads a value back to the host; ``result`` returns a 0-d tensor. Accumulators are replaced,
not updated in place, so a :class:`~epochal.logs.Logs` that captured them at batch ``k`` still
reads batch ``k``'s values when it is read later.

Each metric declares whether higher is better (``direction = "up"``), lower is better
(``"down"``) or neither (``None``); monitoring callbacks in ``mode="auto"`` rely on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal

import torch

from epochal._naming import snake_case
from epochal.losses import mean_absolute_error, mean_squared_error

__all__ = [
    "ACCURACY_ALIASES",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "Mean",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "SparseCategoricalAccuracy",
    "accuracy_alias",
    "binary_accuracy",
    "categorical_accuracy",
    "mean_absolute_error",
    "mean_squared_error",
    "sparse_categorical_accuracy",
]

#: Keras <= 2.2 logged ``metrics=["accuracy"]`` as ``acc``, and code of both eras mixes the
#: spellings (``monitor="val_acc"``, ``"w-{val_accuracy:.2f}.keras"``). The one table of
#: them: each spelling and the other. A metric keeps the spelling it was given as its logs
#: key; whoever reads logs by name accepts either, through :func:`accuracy_alias`.
ACCURACY_ALIASES: Mapping[str, str] = MappingProxyType({"acc": "accuracy", "accuracy": "acc"})


def accuracy_alias(key: str) -> str | None:
    """The other spelling of an accuracy logs key, ``val_`` prefix kept, else None.

    Example:
        >>> accuracy_alias("val_acc"), accuracy_alias("accuracy"), accuracy_alias("loss")
        ('val_accuracy', 'acc', None)
    """
    prefix = "val_" if key.startswith("val_") else ""
    other = ACCURACY_ALIASES.get(key[len(prefix) :])
    return prefix + other if other else None


Direction = Literal["up", "down"] | None


class Metric:
    """Base class: a weighted running mean kept as ``(total, count)`` on the device.

    Subclasses implement :meth:`update`; the default :meth:`result` is ``total / count``.
    ``state_dict`` / ``load_state_dict`` make a half-finished epoch resumable.
    """

    direction: Direction = None
    _FOLD_EVERY = 64

    def __init__(self, name: str | None = None) -> None:
        self.name = name or snake_case(type(self).__name__)
        self.total: torch.Tensor | float = 0.0
        self.count: torch.Tensor | float = 0.0

    # Per-step additions to ``total`` are deferred: each step appends its 0-d tensor to an
    # immutable tuple (no kernel, and a shallow copy stays a snapshot); every
    # ``_FOLD_EVERY`` steps since the last reset they are summed in one stack. Reading
    # ``total`` never folds, so the grouping of the sums - hence every logged float - depends
    # only on the step count, not on who read a value when (exact resume needs that).
    @property
    def total(self) -> torch.Tensor | float:
        return self._folded(self.__dict__.get("_pending", ()))

    @total.setter
    def total(self, value: torch.Tensor | float) -> None:
        self._total = value
        self._pending: tuple[tuple[torch.Tensor, int | float], ...] = ()

    def _defer(self, value: torch.Tensor, weight: int | float = 1) -> None:
        """Adds ``value * weight`` (a 0-d tensor, a Python weight) to ``total`` later."""
        self._pending = (*self._pending, (value, weight))
        if len(self._pending) >= self._FOLD_EVERY:
            self.flush()

    def flush(self) -> None:
        """Folds the deferred additions into the stored total now."""
        pending, self._pending = self.__dict__.get("_pending", ()), ()
        self._total = self._folded(pending)

    def _folded(
        self, pending: tuple[tuple[torch.Tensor, int | float], ...]
    ) -> torch.Tensor | float:
        total = self._total
        if not pending:
            return total
        by_weight: dict[int | float, list[torch.Tensor]] = {}
        for value, weight in pending:
            by_weight.setdefault(weight, []).append(value)
        for weight, values in by_weight.items():
            summed = torch.stack(values).sum() if len(values) > 1 else values[0]
            total = total + (summed * weight if weight != 1 else summed)
        return total

    def update(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        raise NotImplementedError

    # Keras spelling, for user code that calls it directly.
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        weight = (
            None if sample_weight is None else torch.as_tensor(sample_weight, dtype=torch.float32)
        )
        self.update(torch.as_tensor(y_true), torch.as_tensor(y_pred), weight)

    def result(self) -> torch.Tensor:
        total = torch.as_tensor(self.total, dtype=torch.float32)
        count = torch.as_tensor(self.count, dtype=torch.float32, device=total.device)
        return torch.where(count > 0, total / count.clamp_min(1e-30), torch.zeros_like(total))

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0.0

    reset_state = reset

    def state_dict(self) -> dict[str, Any]:
        pending = self.__dict__.get("_pending", ())
        state = {"total": _detach(self._total), "count": _detach(self.count)}
        if pending:  # deferred additions kept as they are, so a resumed run sums alike
            state["pending"] = torch.stack([v.detach().reshape(()) for v, _ in pending])
            state["pending_weight"] = torch.tensor(
                [float(w) for _, w in pending], dtype=torch.float64
            )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total, self.count = state["total"], state["count"]
        if "pending" in state:
            values = torch.as_tensor(state["pending"])
            weights = torch.as_tensor(state["pending_weight"]).tolist()
            self._pending = tuple(
                (values[i], int(w) if float(w).is_integer() else w) for i, w in enumerate(weights)
            )

    def to(self, device: torch.device) -> None:
        """Moves the accumulators to ``device``."""
        if isinstance(self.total, torch.Tensor):
            self.total = self.total.to(device)
        if isinstance(self.count, torch.Tensor):
            self.count = self.count.to(device)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _detach(value: torch.Tensor | float) -> torch.Tensor | float:
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


class Mean(Metric):
    """Weighted mean of the values passed to ``update(value, weight)``; used for the loss."""

    def update(self, value: torch.Tensor, weight: Any = 1.0, _unused: Any = None) -> None:
        value = value.detach()
        if isinstance(weight, int | float) and not isinstance(weight, bool) and value.dim() == 0:
            self._defer(value, weight)
        else:
            self.total = self.total + value * weight
        self.count = self.count + weight

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        """Keras' ``Mean.update_state(values, sample_weight=None)``."""
        values = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
        if sample_weight is None:
            self.total = self.total + values.sum()
            self.count = self.count + values.numel()
        else:
            weight = (
                torch.as_tensor(sample_weight, dtype=torch.float32).reshape(-1).expand_as(values)
            )
            self.total = self.total + (values * weight).sum()
            self.count = self.count + weight.sum()


class MeanMetricWrapper(Metric):
    """Mean over samples of ``fn(y_true, y_pred)``, weighted by ``sample_weight``."""

    def __init__(
        self,
        fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        name: str | None = None,
        direction: Direction = None,
    ) -> None:
        super().__init__(name or getattr(fn, "__name__", type(fn).__name__))
        self.fn = fn
        self.direction = direction

    def update(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        values = self.fn(y_true, y_pred)
        if sample_weight is None:
            self._defer(values.sum())
            self.count = self.count + values.numel()
        else:
            weight = sample_weight.reshape(values.shape[:1] + (1,) * (values.dim() - 1))
            weight = weight.expand_as(values).to(
                values.dtype if values.is_floating_point() else torch.float32
            )
            self.total = self.total + (values * weight).sum()
            self.count = self.count + weight.sum()


# ---------------------------------------------------------------- per-sample functions


def binary_accuracy(
    y_true: torch.Tensor, y_pred: torch.Tensor, threshold: float = 0.5
) -> torch.Tensor:
    """Per-sample fraction of outputs on the right side of ``threshold``."""
    hits = (y_pred > threshold) == (y_true.reshape(y_pred.shape) > 0.5)
    return hits.float().mean(dim=-1) if hits.dim() > 1 else hits


def categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """1 where the arg-max of the one-hot target equals the arg-max of the prediction."""
    return y_true.argmax(dim=-1) == y_pred.argmax(dim=-1)


def sparse_categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """1 where the integer target equals the arg-max of the prediction."""
    if y_true.dim() == y_pred.dim():
        y_true = y_true.squeeze(-1)
    return y_pred.argmax(dim=-1) == y_true


# mean_squared_error / mean_absolute_error: the per-sample functions are the losses' own.


# ---------------------------------------------------------------- classes


class BinaryAccuracy(MeanMetricWrapper):
    direction = "up"

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5) -> None:
        super().__init__(lambda t, p: binary_accuracy(t, p, threshold), name, "up")
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name: str = "categorical_accuracy") -> None:
        super().__init__(categorical_accuracy, name, "up")


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name: str = "sparse_categorical_accuracy") -> None:
        super().__init__(sparse_categorical_accuracy, name, "up")


class Accuracy(MeanMetricWrapper):
    """Keras' ``"accuracy"``: binary, categorical or sparse, chosen from the first batch.

    The choice follows Keras: one output unit (or a binary crossentropy loss) means binary
    accuracy; integer targets with one axis fewer than the predictions (or a trailing axis of
    1) mean sparse categorical accuracy; otherwise categorical accuracy.
    """

    def __init__(self, name: str = "accuracy", loss_name: str | None = None) -> None:
        super().__init__(self._resolve_and_call, name, "up")
        self.loss_name = loss_name
        self._resolved: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    def _resolve_and_call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        if self._resolved is None:
            self._resolved = _pick_accuracy(y_true, y_pred, self.loss_name)
            self.fn = self._resolved
        return self._resolved(y_true, y_pred)


def _pick_accuracy(
    y_true: torch.Tensor, y_pred: torch.Tensor, loss_name: str | None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if loss_name and ("binary" in loss_name or loss_name.startswith("bce")):
        return binary_accuracy
    if loss_name and "sparse" in loss_name:
        return sparse_categorical_accuracy
    if y_pred.dim() == 0 or y_pred.shape[-1] == 1 or y_pred.dim() == 1:
        return binary_accuracy
    if y_true.dim() < y_pred.dim() or (y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1):
        return sparse_categorical_accuracy
    return categorical_accuracy


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(mean_squared_error, name, "down")


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(mean_absolute_error, name, "down")
