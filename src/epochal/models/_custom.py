"""The part of :class:`~epochal.Model` a subclass overrides or calls: Keras' step API.

Keras' guide "Customizing what happens in fit()" (torch backend) overrides
``train_step(self, data)``, ``test_step``, ``predict_step``, ``compute_loss`` or the
``metrics`` property, and inside them uses ``self(x, training=True)``,
``self.compute_loss(...)``, ``self.zero_grad()``, ``self.trainable_weights``,
``self.optimizer.apply(grads, weights)`` and ``self.metrics``. This mixin gives the model
those, with Keras' defaults; :meth:`StepAPI._uses_own_steps` tells the facade when the
engine must call them (:mod:`epochal.engine.custom_steps`) instead of its own fused steps.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from typing import Any

import torch

from epochal.engine.steps import batch_size_of, forward
from epochal.layers import (
    Layer,
    collect_losses,
    non_trainable_weights_of,
    trainable_weights_of,
    weights_of,
)
from epochal.metrics import Metric

__all__ = ["StepAPI", "unpack_x_y_sample_weight"]


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """Keras' rule: a tuple of 1, 2 or 3 is ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``;
    anything else is ``x`` alone."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError(
        "Data is expected to be (x,), (x, y) or (x, y, sample_weight); received a tuple of "
        f"length {len(data)}."
    )


_STEP_METHODS = ("train_step", "test_step", "compute_loss", "metrics", "reset_metrics")


class StepAPI:
    """Keras' model methods around one step; see the module docstring."""

    # Set by Model.__init__ (declared for type checkers).
    _module: Any
    _active_runs: list[Any]
    _tracked_metrics: dict[str, Metric]
    _tracked_optimizers: dict[str, Any]
    compiled: bool
    compiled_metrics: Any
    _compiled_loss_fn: Any

    # ------------------------------------------------------------------ which steps run
    @classmethod
    def _overrides(cls, name: str) -> bool:
        return getattr(cls, name, None) is not getattr(StepAPI, name, None)

    def _uses_own_steps(self) -> bool:
        """Whether the loop must call this model's step methods: one of them (or
        ``compute_loss``, ``metrics``, ``reset_metrics``) is overridden, or the model tracks
        metrics of its own. Otherwise the engine's fused steps run (the fast path)."""
        cls = type(self)
        return any(cls._overrides(n) for n in _STEP_METHODS) or bool(self._tracked_metrics)

    def _defines_call(self) -> bool:
        return type(self)._overrides("call")

    def _current_run(self, method: str) -> Any:
        if not self._active_runs:
            raise RuntimeError(
                f"Model.{method}() runs one step of fit/evaluate/predict (or *_on_batch); "
                "it was called outside of them."
            )
        return self._active_runs[-1]

    # ------------------------------------------------------------------ the forward pass
    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """The forward pass of a subclassed model; override it (Keras'
        ``call(self, inputs, training=None)``)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no call(): define call(self, inputs, training=None) "
            "to run the model on inputs (a custom train_step does not need one)."
        )

    # ------------------------------------------------------------------ weights
    @property
    def weights(self) -> list[torch.Tensor]:
        """Every weight (parameters and moving statistics), in Keras' order."""
        return weights_of(self._module)

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        """The parameters the optimizer updates (frozen layers' excluded)."""
        return trainable_weights_of(self._module)

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        """Frozen parameters and moving statistics."""
        return non_trainable_weights_of(self._module)

    @property
    def trainable_variables(self) -> list[torch.Tensor]:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[torch.Tensor]:
        return self.non_trainable_weights

    @property
    def variables(self) -> list[torch.Tensor]:
        return self.weights

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears the gradients of every parameter (``torch.nn.Module.zero_grad``)."""
        self._module.zero_grad(set_to_none=set_to_none)

    # ------------------------------------------------------------------ losses
    def add_loss(self, loss: Any) -> None:
        """Adds a term to the loss of the current forward pass (call it inside ``call``)."""
        if not isinstance(self._module, Layer):
            raise TypeError(
                "add_loss() on a Model needs a subclassed model (its call() runs in an "
                "epochal layer); call add_loss() inside one of your epochal layers instead."
            )
        self._module.add_loss(loss)

    @property
    def losses(self) -> list[torch.Tensor]:
        """Losses the layers added in the last call, then weight regularization terms."""
        if isinstance(self._module, Layer):
            return self._module.losses
        terms: list[torch.Tensor] = []
        for module in self._module.children():
            if isinstance(module, Layer):
                terms.extend(module.losses)
        return terms

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> torch.Tensor:
        """The compiled loss of ``(y, y_pred, sample_weight)`` plus the layers' own losses
        (``add_loss`` and weight regularizers). Override it to change the loss the default
        steps minimise and report.

        Raises:
            ValueError: when the model was compiled without a loss and no layer added one.
        """
        loss_fn = self._compiled_loss_fn
        extra = collect_losses(self._module)
        if loss_fn is None and extra is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        if loss_fn is None:
            return extra  # type: ignore[return-value]
        loss = loss_fn(y, y_pred, sample_weight)
        return loss if extra is None else loss + extra

    def compiled_loss(
        self,
        y: Any,
        y_pred: Any,
        sample_weight: Any = None,
        regularization_losses: Any = None,
    ) -> torch.Tensor:
        """Keras 2's ``self.compiled_loss(y, y_pred, sample_weight, regularization_losses)``
        (deprecated in Keras 3 for :meth:`compute_loss`): the compiled loss, plus the sum of
        ``regularization_losses`` when given."""
        _warn_once(
            "compiled_loss",
            "`model.compiled_loss()` is deprecated; use "
            "`model.compute_loss(x, y, y_pred, sample_weight)`.",
        )
        if self._compiled_loss_fn is None:
            raise ValueError("compiled_loss(): the model was compiled without a `loss`.")
        loss = self._compiled_loss_fn(y, y_pred, sample_weight)
        for term in regularization_losses or ():
            loss = loss + torch.as_tensor(term).sum()
        return loss

    def _call_compute_loss(
        self, x: Any, y: Any, y_pred: Any, sample_weight: Any, training: bool
    ) -> torch.Tensor:
        method = type(self).compute_loss
        try:
            takes_training = "training" in inspect.signature(method).parameters
        except (TypeError, ValueError):
            takes_training = False
        if takes_training:
            return self.compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
            )
        return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)

    # ------------------------------------------------------------------ metrics
    @property
    def metrics(self) -> list[Metric]:
        """What the default steps report, in Keras' order: the loss tracker and the compiled
        metrics (once compiled), then the metrics assigned as attributes of the model."""
        tracked = list(self._tracked_metrics.values())
        if not self.compiled:
            return tracked
        compiled = self.compiled_metrics
        return [compiled.loss_tracker, *compiled.metrics, *tracked]

    def reset_metrics(self) -> None:
        """Resets every metric of :attr:`metrics` (``fit`` does at each epoch start,
        ``evaluate`` before it starts)."""
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self) -> dict[str, torch.Tensor]:
        """``{name: result}`` of :attr:`metrics` (values left on the device)."""
        out: dict[str, Any] = {}
        for metric in self.metrics:
            value = metric.result()
            if isinstance(value, Mapping):
                out.update(value)
            else:
                out[metric.name] = value
        return out

    def compute_metrics(
        self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None
    ) -> dict[str, torch.Tensor]:
        """Updates the compiled metrics with the batch and returns :meth:`get_metrics_result`."""
        self.compiled_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    # ------------------------------------------------------------------ Keras' default steps
    def train_step(self, data: Any) -> dict[str, Any]:
        """One training step on ``data`` (``(x, y)``, ``(x, y, sample_weight)`` or ``x``):
        forward, :meth:`compute_loss`, backward, one optimizer update, the metrics.
        Returns the logs (:meth:`get_metrics_result`). Override it to train differently."""
        run = self._current_run("train_step")
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = forward(run.training_module, x)
        loss = self._call_compute_loss(x, y, y_pred, sample_weight, True)
        optimizer = run.optimizer
        if optimizer is None:
            raise RuntimeError("train_step() needs a compiled optimizer.")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        self.compiled_metrics.update(y, y_pred, sample_weight, loss, batch_size_of(x))
        return self.get_metrics_result()

    def test_step(self, data: Any) -> dict[str, Any]:
        """One evaluation step (no gradients): forward, :meth:`compute_loss`, the metrics.
        Returns the logs. Override it to evaluate differently."""
        run = self._current_run("test_step")
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = forward(run.module, x)
        loss = self._call_compute_loss(x, y, y_pred, sample_weight, False)
        self.compiled_metrics.update(y, y_pred, sample_weight, loss, batch_size_of(x))
        return self.get_metrics_result()

    def predict_step(self, data: Any) -> Any:
        """The model's outputs for one batch of inputs. Override it to predict differently."""
        run = self._current_run("predict_step")
        x, _, _ = unpack_x_y_sample_weight(data)
        return forward(run.module, x)

    # ------------------------------------------------------------------ evaluate's list
    def _flatten_in_order(self, logs: Mapping[str, Any]) -> Any:
        """Keras' list form of logs: the :attr:`metrics` names first, the other keys sorted;
        one value alone is returned bare."""
        names = [m.name for m in self.metrics]
        if not self.compiled or not any(n in logs for n in names):
            names = []
        results = [logs[n] for n in names if n in logs]
        results += [logs[k] for k in sorted(logs) if k not in names]
        return results[0] if len(results) == 1 else results


_WARNED: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, DeprecationWarning, stacklevel=3)
