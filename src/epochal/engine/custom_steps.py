"""Steps a model defines itself: Keras' ``train_step`` / ``test_step`` / ``predict_step``.

When a :class:`~epochal.Model` subclass overrides ``train_step(self, data)`` (or
``test_step``, ``predict_step``, ``compute_loss``, or the ``metrics`` it reports), that
method *is* the step: the loop calls it once per batch, with ``data`` packed as Keras packs
it (``(x, y)``, ``(x, y, sample_weight)``, or ``x`` alone), and the dict it returns is the
step's logs. Everything around the step stays the loop's: hooks, the progress bar,
``History``, the stop flags, exact resume and data parallelism.

:class:`StepLogs` stands in for :class:`~epochal.engine.CompiledMetrics` in such a run. The
returned dict's values stay on the device: a batch hook gets :class:`~epochal.logs.Logs`
whose keys are known at once and whose values are fetched (in one transfer) only when read.
The epoch's logs are the last step's, as in Keras; under data parallelism the values of the
metrics the model reports (its ``metrics`` property) are merged over the ranks, other
values averaged, so every rank logs the same numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from epochal import optimizers as optimizers_module
from epochal.data import Batch
from epochal.engine.metrics_tracker import CompiledMetrics
from epochal.logs import Logs, to_python
from epochal.metrics import Metric

if TYPE_CHECKING:
    from epochal.distributed import Strategy
    from epochal.engine.run import Run

__all__ = [
    "StepError",
    "StepHost",
    "StepLogs",
    "custom_predict_fn",
    "custom_test_fn",
    "custom_train_fn",
    "pack_batch",
    "weighted_batch",
]


class StepError(TypeError):
    """A user-defined step returned something the loop cannot log."""


class StepHost(Protocol):
    """What the custom steps call on the model."""

    def train_step(self, data: Any) -> Any: ...

    def test_step(self, data: Any) -> Any: ...

    def predict_step(self, data: Any) -> Any: ...

    def reset_metrics(self) -> None: ...

    @property
    def metrics(self) -> list[Metric]: ...


def pack_batch(batch: Batch) -> Any:
    """``data`` as Keras hands it to a step: ``(x, y, sample_weight)`` without the trailing
    `None` s, and ``x`` alone when there are no targets."""
    x, y, sample_weight = batch
    if sample_weight is not None:
        return (x, y, sample_weight)
    if y is not None:
        return (x, y)
    return x


def weighted_batch(run: Run, batch: Batch) -> Batch:
    """The batch with ``class_weight`` folded into its sample weights (as Keras' data
    adapters do before the step sees the batch)."""
    table = run.class_weights
    x, y, sample_weight = batch
    if table is None or y is None:
        return batch
    labels = y.argmax(dim=-1) if y.dim() > 1 and y.shape[-1] > 1 else y.reshape(-1)
    weights = table[labels.long()]
    return (x, y, weights if sample_weight is None else weights * sample_weight.reshape(-1))


def _flat(logs: Mapping[str, Any]) -> dict[str, Any]:
    """Nested dicts (Keras' ``compile_metrics`` result) flattened into one level."""
    flat: dict[str, Any] = {}
    for key, value in logs.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value))
        else:
            flat[str(key)] = value
    return flat


def _fetch(logs: Mapping[str, Any]) -> dict[str, Any]:
    """Numbers of a step's logs: scalar tensors in one transfer, other tensors as numpy,
    numpy scalars and Python numbers as they are."""
    scalars = {k: v for k, v in logs.items() if isinstance(v, torch.Tensor) and v.numel() == 1}
    out: dict[str, Any] = {}
    fetched = to_python(scalars)
    for key, value in logs.items():
        if key in fetched:
            out[key] = fetched[key]
        elif isinstance(value, torch.Tensor):
            out[key] = value.detach().cpu().numpy()
        elif isinstance(value, np.generic):
            out[key] = value.item()
        else:
            out[key] = value
    return out


class StepLogs:
    """The logs of a run whose steps are the model's own (see the module docstring).

    It offers what the loop and ``TrainState`` use of :class:`CompiledMetrics`: ``reset``
    (every metric of the model's ``metrics``, at each epoch start and before each
    evaluation, as Keras' ``reset_metrics``), ``lazy_logs``, ``results`` and the state of a
    half-finished epoch; ``update`` reaches the compiled metrics, for the default steps.
    """

    def __init__(
        self,
        host: StepHost,
        compiled: CompiledMetrics,
        strategy: Strategy,
        *,
        owner: str = "train_step",
    ) -> None:
        self.host = host
        self.compiled = compiled
        self.strategy = strategy
        self.owner = owner
        self.last: dict[str, Any] | None = None
        self._keys: list[str] = []

    # --------------------------------------------------------------- the loop's side
    def record(self, logs: Any, owner: str) -> None:
        """Keeps the dict a step returned (values untouched: no transfer)."""
        if not isinstance(logs, Mapping):
            raise StepError(
                f"{owner}() must return a dict of logs (metric name -> value), e.g. "
                f"{{m.name: m.result() for m in self.metrics}}; it returned "
                f"{type(logs).__name__}."
            )
        flat = _flat(logs)
        self.last = flat
        keys = sorted(flat)
        if keys != self._keys:
            self._keys = keys

    def update(
        self,
        y_true: Any,
        y_pred: Any,
        sample_weight: torch.Tensor | None,
        loss: torch.Tensor,
        batch_size: int,
    ) -> None:
        self.compiled.update(y_true, y_pred, sample_weight, loss, batch_size)

    def metrics(self) -> list[Metric]:
        return list(self.host.metrics)

    def reset(self) -> None:
        self.host.reset_metrics()  # Keras' reset_metrics(): a model may override it
        self.last = None
        self._keys = []

    def lazy_logs(self) -> Logs:
        last = self.last
        if not last:
            return Logs()
        return Logs.lazy(list(self._keys), lambda: _fetch(last))

    def results(self) -> dict[str, Any]:
        """The last step's logs as numbers (merged over the ranks), sorted by key."""
        if not self.last:
            return {}
        values = _fetch(self.last)
        if self.strategy.world_size > 1:
            values = self._reduced(values)
        return {k: values[k] for k in sorted(values)}

    def _reduced(self, values: dict[str, Any]) -> dict[str, Any]:
        # Metrics the model reports are merged exactly (sums and counts over the ranks);
        # any other number is averaged. Every rank calls this at the same point.
        import copy

        metrics = [copy.copy(m) for m in self.metrics()]
        merged = {m.name: m for m in self.strategy.reduce_metrics(metrics)}
        exact = to_python(
            {k: merged[k].result() for k in values if k in merged and _is_number(values[k])}
        )
        others = [k for k in values if k not in exact and _is_number(values[k])]
        averaged = self.strategy.average([float(values[k]) for k in others])
        values.update(exact)
        values.update(zip(others, averaged, strict=True))
        return values

    def direction(self, name: str) -> str | None:
        if name == "loss":
            return "down"
        for metric in self.metrics():
            if metric.name == name:
                return metric.direction
        return None

    # --------------------------------------------------------------- exact resume
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "metrics": {str(i): m.state_dict() for i, m in enumerate(self.metrics())}
        }
        if self.last:
            numbers = {k: v for k, v in _fetch(self.last).items() if _is_number(v)}
            state["last"] = {
                k: torch.tensor(float(v), dtype=torch.float64) for k, v in numbers.items()
            }
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = state.get("metrics", {})
        for index, metric in enumerate(self.metrics()):
            if str(index) in saved:
                metric.load_state_dict(dict(saved[str(index)]))
        last = state.get("last")
        if last:
            self.record({k: float(v) for k, v in last.items()}, self.owner)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@contextlib.contextmanager
def _synced(strategy: Strategy) -> Iterator[None]:
    """Every optimizer update inside averages the gradients over the ranks first."""
    if strategy.world_size == 1:
        yield
        return
    with optimizers_module.gradient_sync(strategy.sync_gradients):
        yield


def custom_train_fn(step: Callable[[Any], Any]) -> Callable[[Run, Batch], None]:
    """A loop step that calls the model's ``train_step(data)`` and keeps its logs."""

    def train(run: Run, batch: Batch) -> None:
        with _synced(run.strategy):
            logs = step(pack_batch(weighted_batch(run, batch)))
        run.metrics.record(logs, "train_step")  # type: ignore[union-attr]

    return train


def custom_test_fn(step: Callable[[Any], Any]) -> Callable[[Run, Batch], None]:
    """A loop step that calls the model's ``test_step(data)`` and keeps its logs."""

    def test(run: Run, batch: Batch) -> None:
        run.metrics.record(step(pack_batch(batch)), "test_step")  # type: ignore[union-attr]

    return test


def custom_predict_fn(step: Callable[[Any], Any]) -> Callable[[Run, Batch], Any]:
    """A loop step that returns the model's ``predict_step(x)``."""

    def predict(run: Run, batch: Batch) -> Any:
        return step(batch[0])

    return predict
