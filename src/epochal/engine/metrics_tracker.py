"""What ``compile`` resolves: the loss, the metrics and their running state."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from epochal import losses as losses_module
from epochal import metrics as metrics_module
from epochal.logs import Logs, to_python
from epochal.metrics import Mean, Metric

__all__ = ["CompiledMetrics", "check_targets"]


class CompiledMetrics:
    """The loss tracker plus the compiled metrics; keys of ``logs`` come from here.

    ``update`` only queues device work. ``lazy_logs`` returns logs whose values are read
    from frozen snapshots of the accumulators (updates are out of place, so a shallow copy
    is a snapshot); ``results`` fetches every value in one transfer.
    """

    def __init__(self, metrics: Sequence[Any] | None, loss_name: str | None) -> None:
        self.loss_tracker = Mean(name="loss")
        entries = list(metrics or [])
        if isinstance(metrics, Mapping):
            raise TypeError("Per-output metric dicts are not supported; pass a list of metrics.")
        self.metrics: list[Metric] = [metrics_module.get(m, loss_name=loss_name) for m in entries]
        names = [m.name for m in self.metrics]
        duplicates = {n for n in names if names.count(n) > 1 or n == "loss"}
        if duplicates:
            raise ValueError(
                f"Metric names must be unique and not 'loss'. Repeated: {sorted(duplicates)}"
            )
        self._all: list[Metric] = [self.loss_tracker, *self.metrics]
        self.keys: list[str] = sorted(m.name for m in self._all)
        self._reducer: Callable[[list[Metric]], list[Metric]] | None = None

    def set_reducer(self, reducer: Callable[[list[Metric]], list[Metric]] | None) -> None:
        """Installs a function that merges metric states across processes before results."""
        self._reducer = reducer

    def update(
        self,
        y_true: Any,
        y_pred: Any,
        sample_weight: torch.Tensor | None,
        loss: torch.Tensor,
        batch_size: int,
    ) -> None:
        self.loss_tracker.update(loss.detach(), batch_size)
        if self.metrics:
            y_pred = y_pred.detach()
            for metric in self.metrics:
                metric.update(y_true, y_pred, sample_weight)

    def reset(self) -> None:
        for metric in self._all:
            metric.reset()

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Keras' ``self.compiled_metrics.update_state(y, y_pred, sample_weight)`` of a
        custom ``train_step``: updates the compiled metrics (not the loss tracker)."""
        for metric in self.metrics:
            metric.update_state(y_true, y_pred, sample_weight)

    def direction(self, name: str) -> str | None:
        """``"up"``/``"down"``/``None`` for a compiled metric name (``loss`` is ``"down"``)."""
        if name == "loss":
            return "down"
        for metric in self.metrics:
            if metric.name == name:
                return metric.direction
        return None

    def _frozen(self) -> list[Metric]:
        metrics = [copy.copy(m) for m in self._all]
        return self._reducer(metrics) if self._reducer is not None else metrics

    def results(self) -> dict[str, float]:
        """Current values, sorted by key, fetched in one transfer."""
        values = to_python({m.name: m.result() for m in self._frozen()})
        return {k: values[k] for k in self.keys}

    def lazy_logs(self) -> Logs:
        """Logs of the current running means, fetched only when somebody reads a value.

        They are this process's own values: a cross-process reduction here would wait for
        ranks that never read their batch logs.
        """
        # Called every batch when a batch hook exists: snapshot the attribute dicts and
        # rebuild metric objects on read. epochal's metrics replace their accumulators, so a
        # shallow copy is a snapshot; a user metric may update a tensor in place
        # (``self.total += x``), so its tensors are copied on the device (no host sync).
        snapshot = [(type(m), _state_snapshot(m)) for m in self._all]
        return Logs.lazy(self.keys, lambda: _read_snapshot(snapshot))

    def state_dict(self) -> dict[str, Any]:
        return {m.name: m.state_dict() for m in self._all}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for metric in self._all:
            if metric.name in state:
                metric.load_state_dict(state[metric.name])


def _state_snapshot(metric: Metric) -> dict[str, Any]:
    attributes = metric.__dict__.copy()
    if type(metric).__module__.startswith("epochal."):
        return attributes
    for key, value in attributes.items():
        if isinstance(value, torch.Tensor):
            attributes[key] = value.detach().clone()
        elif isinstance(value, (list, dict, set)):
            attributes[key] = copy.copy(value)
    return attributes


def _read_snapshot(snapshot: list[tuple[type[Any], dict[str, Any]]]) -> dict[str, float]:
    frozen = []
    for cls, attributes in snapshot:
        metric = object.__new__(cls)
        metric.__dict__.update(attributes)
        frozen.append(metric)
    return to_python({m.name: m.result() for m in frozen})


def check_targets(loss: losses_module.Loss, y: Any) -> None:
    """Rejects targets that cannot fit the loss, before any training happens.

    Raises:
        ValueError: one-hot targets with a sparse crossentropy, integer class indices with a
            categorical crossentropy.
    """
    if not isinstance(y, torch.Tensor):
        return
    name = loss.name
    if name == "sparse_categorical_crossentropy":
        _check_class_indices(y)
        if y.dim() >= 2 and y.shape[-1] > 1:
            raise ValueError(
                f"loss='sparse_categorical_crossentropy' expects integer class indices of shape "
                f"(batch,) or (batch, 1), but the targets have shape {tuple(y.shape)} (one-hot?). "
                "Use loss='categorical_crossentropy' or pass integer labels."
            )
    elif name == "categorical_crossentropy" and (y.dim() == 1 or y.shape[-1] == 1):
        raise ValueError(
            f"loss='categorical_crossentropy' expects one-hot targets of shape (batch, classes), "
            f"but the targets have shape {tuple(y.shape)}. Use "
            "loss='sparse_categorical_crossentropy' for integer labels, or convert them with "
            "epochal.utils.to_categorical."
        )


def _check_class_indices(y: torch.Tensor) -> None:
    """Sparse labels must be whole, finite, non-negative: a float label would be truncated
    and a NaN would index far out of the table."""
    if y.is_floating_point():
        finite = torch.isfinite(y)
        if not bool(finite.all()):
            raise ValueError(
                "loss='sparse_categorical_crossentropy' expects integer class indices, but the "
                f"targets contain {y[~finite].flatten()[0].item()} (NaN or infinite)."
            )
        fractional = y != y.round()
        if bool(fractional.any()):
            raise ValueError(
                "loss='sparse_categorical_crossentropy' expects integer class indices, but the "
                f"targets contain {y[fractional].flatten()[0].item()}; it would be truncated. "
                "Pass integer labels (e.g. y.astype('int64'))."
            )
    if y.numel() and bool((y < 0).any()):
        raise ValueError(
            "loss='sparse_categorical_crossentropy' expects class indices >= 0, but the "
            f"targets contain {y.min().item()}."
        )
