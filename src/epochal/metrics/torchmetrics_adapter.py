"""``torchmetrics.Metric`` objects as compiled metrics.

A ``torchmetrics.Metric`` given to ``compile(metrics=[...])`` is wrapped in a
:class:`TorchMetric`, which makes it behave as epochal's own metrics do:

* it is updated as ``metric.update(preds, target)`` — torchmetrics' order, not Keras'
  ``(y_true, y_pred)``;
* it is logged under its ``name`` attribute when it has a string one, else the Keras-style
  snake case of its class (``MulticlassAccuracy`` -> ``multiclass_accuracy``); wrap it as
  ``TorchMetric(metric, name="acc")`` to choose the key;
* it is reset at the start of every epoch and of every evaluation, like Keras' metrics;
* ``compute()`` runs only when a value is read (epoch end, or a callback reading batch
  logs), never per step; whether ``update`` itself reads the device depends on the metric
  (torchmetrics' ``validate_args=True``, the default of most of them, checks the inputs on
  the host: pass ``validate_args=False`` to keep the steps free of host syncs);
* its states live on the model's device (moved when the model is built, and to the device
  of the predictions on an update that finds them elsewhere);
* under data parallelism torchmetrics' own synchronisation is switched off
  (``sync_on_compute=False``, ``dist_sync_on_step=False``) and epochal's reduction merges
  the states by their declared ``dist_reduce_fx`` (sum, mean, max, min, cat or a function
  of the stacked states), see :meth:`TorchMetric.reduce_across`;
* it takes no ``sample_weight``: it is refused in ``weighted_metrics``.

epochal does not depend on torchmetrics: the adapter only looks at objects when
``torchmetrics`` is already imported (see :func:`is_torchmetric`).
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from typing import Any, Protocol

import torch

from epochal._naming import snake_case
from epochal.metrics.base import Metric

__all__ = ["MetricCollectives", "TorchMetric", "is_torchmetric", "is_torchmetric_class"]


def _torchmetrics_base() -> type | None:
    module = sys.modules.get("torchmetrics")
    return getattr(module, "Metric", None) if module is not None else None


def is_torchmetric(value: Any) -> bool:
    """Whether ``value`` is a ``torchmetrics.Metric`` (False when torchmetrics is not
    imported: then nobody can have made one)."""
    base = _torchmetrics_base()
    return base is not None and isinstance(value, base)


def is_torchmetric_class(value: Any) -> bool:
    """Whether ``value`` is a subclass of ``torchmetrics.Metric``."""
    base = _torchmetrics_base()
    return base is not None and isinstance(value, type) and issubclass(value, base)


class MetricCollectives(Protocol):
    """What :meth:`TorchMetric.reduce_across` needs of a process group (the data-parallel
    strategy provides it)."""

    world_size: int

    def all_reduce_tensors(self, tensors: list[torch.Tensor], op: str) -> list[torch.Tensor]:
        """Each tensor reduced over the ranks (``op``: ``"sum"``, ``"max"`` or ``"min"``)."""
        ...

    def all_gather_tensor(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's ``tensor``, in rank order; the first axis may differ per rank."""
        ...


def _reduction_name(fn: Any) -> str | None:
    """torchmetrics stores ``dist_reduce_fx="sum"`` as its function ``dim_zero_sum``."""
    name = getattr(fn, "__name__", None)
    if name in ("dim_zero_sum", "dim_zero_mean", "dim_zero_max", "dim_zero_min", "dim_zero_cat"):
        return str(name)[len("dim_zero_") :]
    return None


class TorchMetric(Metric):
    """A ``torchmetrics.Metric`` as a compiled metric (see the module docstring).

    Args:
        metric: The ``torchmetrics.Metric`` object; it keeps its state, so give each use
            its own object.
        name: The logs key. Defaults to `None`: the metric's own string ``name`` attribute
            if it has one, else the snake case of its class name.

    Raises:
        TypeError: when ``metric`` is not a ``torchmetrics.Metric``.
    """

    def __init__(self, metric: Any, name: str | None = None) -> None:
        if not is_torchmetric(metric):
            raise TypeError(
                f"TorchMetric wraps a torchmetrics.Metric. Received: {type(metric).__name__}"
            )
        own = getattr(metric, "name", None)
        super().__init__(name or (own if isinstance(own, str) and own else None))
        if not (name or (isinstance(own, str) and own)):
            self.name = snake_case(type(metric).__name__)
        # epochal reduces the states itself, once, when a value is read.
        metric.sync_on_compute = False
        metric._to_sync = False
        metric.dist_sync_on_step = False
        self.metric = metric
        better = getattr(metric, "higher_is_better", None)
        self.direction = "up" if better is True else "down" if better is False else None

    # ------------------------------------------------------------------ per step
    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if sample_weight is not None:
            raise TypeError(
                f"The torchmetrics metric {self.name!r} takes no sample_weight; give it in "
                "`metrics`, not `weighted_metrics`."
            )
        metric = self.metric
        device = y_pred.device if isinstance(y_pred, torch.Tensor) else None
        if device is not None and metric.device != device:
            metric.to(device)
        metric.update(y_pred, y_true)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        self.update(torch.as_tensor(y_true), torch.as_tensor(y_pred).detach(), sample_weight)

    def result(self) -> torch.Tensor:
        """``compute()`` of the wrapped metric (0 before any update, as Keras' metrics)."""
        metric = self.metric
        if not metric.update_called:
            return torch.zeros((), device=metric.device)
        value = metric.compute()
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"The torchmetrics metric {self.name!r} computes a {type(value).__name__}; a "
                "compiled metric must compute a tensor (logged as a number, or an array)."
            )
        return value

    def reset(self) -> None:
        self.metric.reset()
        super().reset()

    reset_state = reset

    def flush(self) -> None:
        """Nothing is deferred: torchmetrics updates its states at once."""

    def to(self, device: torch.device) -> None:
        self.metric.to(device)

    # ------------------------------------------------------------------ snapshots
    def _states(self) -> dict[str, Any]:
        metric = self.metric
        return {name: getattr(metric, name) for name in metric._defaults}

    def __copy__(self) -> TorchMetric:
        """A snapshot: a copy of the wrapped metric with its states cloned on the device
        (torchmetrics updates tensors in place), so logs captured at batch ``k`` still read
        batch ``k``'s value, and a reduction of the copy leaves the running states alone."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        inner = copy.copy(self.metric)
        for name, value in self._states().items():
            object.__setattr__(inner, name, _clone_state(value))
        inner._computed = None
        clone.metric = inner
        return clone

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "update_count": torch.tensor(self.metric._update_count, dtype=torch.int64)
        }
        for name, value in self._states().items():
            if isinstance(value, list):
                state[f"list:{name}"] = [v.detach().clone() for v in value]
            else:
                state[name] = value.detach().clone()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        metric = self.metric
        device = metric.device
        for name in metric._defaults:
            if f"list:{name}" in state:
                value: Any = [torch.as_tensor(v).to(device) for v in state[f"list:{name}"]]
            elif name in state:
                value = torch.as_tensor(state[name]).to(device)
            else:
                continue
            object.__setattr__(metric, name, value)
        if "update_count" in state:
            metric._update_count = int(torch.as_tensor(state["update_count"]).item())
        metric._computed = None

    # ------------------------------------------------------------------ distributed
    def reduce_across(self, collectives: MetricCollectives) -> None:
        """Merges this metric's states over the ranks by their ``dist_reduce_fx``, in
        place (called on a snapshot): sums, means, maxima and minima in one collective
        each; ``cat`` states and custom reductions gathered from every rank."""
        metric = self.metric
        by_op: dict[str, list[tuple[str, torch.Tensor]]] = {"sum": [], "max": [], "min": []}
        means: set[str] = set()
        for name, fn in metric._reductions.items():
            value = getattr(metric, name)
            kind = _reduction_name(fn)
            if kind in ("sum", "mean", "max", "min") and isinstance(value, torch.Tensor):
                by_op["sum" if kind == "mean" else str(kind)].append((name, value))
                if kind == "mean":
                    means.add(name)
            elif isinstance(value, list) or kind == "cat":
                parts = value if isinstance(value, list) else [value]
                local = (
                    torch.cat([p.reshape(1) if p.dim() == 0 else p for p in parts])
                    if parts
                    else torch.zeros(0, device=metric.device, dtype=metric.dtype)
                )
                gathered = [g for g in collectives.all_gather_tensor(local) if g.numel()]
                merged = torch.cat(gathered) if gathered else local
                object.__setattr__(metric, name, [merged] if isinstance(value, list) else merged)
            else:
                stacked = torch.stack(collectives.all_gather_tensor(value))
                reducer: Callable[[torch.Tensor], Any] | None = fn
                object.__setattr__(metric, name, reducer(stacked) if reducer else stacked)
        for op, entries in by_op.items():
            if not entries:
                continue
            reduced = collectives.all_reduce_tensors([v for _, v in entries], op)
            for (name, _), value in zip(entries, reduced, strict=True):
                if name in means:
                    value = value / collectives.world_size
                object.__setattr__(metric, name, value)
        metric._computed = None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "metric": type(self.metric).__name__}

    def __repr__(self) -> str:
        return f"TorchMetric({type(self.metric).__name__}, name={self.name!r})"


def _clone_state(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return [v.detach().clone() for v in value]
