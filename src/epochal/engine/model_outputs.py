"""Models that compute their own loss (Hugging Face style), attached to a run once per call.

A plain ``torch.nn.Module`` given as ``Model(module)`` (not epochal's ``Sequential``,
functional or subclassed models, whose dict inputs keep Keras' meaning: inputs by name) may

* take a dict batch — ``{"input_ids": ..., "attention_mask": ..., "labels": ...}`` as ``x``
  of ``fit`` / ``evaluate`` / ``predict``, from a dict of arrays or a DataLoader yielding
  dicts — as keyword arguments of its ``forward`` (a key its ``forward`` does not take is
  refused before the first step, unless it takes ``**kwargs``);
* return a dict with a ``loss`` field, a dataclass or a transformers ``ModelOutput``.

Then, as :func:`split_output` says:

* without ``compile(loss=...)`` the output's ``loss`` is the training loss, unweighted:
  ``sample_weight`` and ``class_weight`` are refused (a ``ValueError``), and a step whose
  output has no ``loss`` fails naming the missing field;
* with ``compile(loss=...)`` that loss is used (Keras' semantics: the compiled loss of the
  predictions and the targets) and the model's own ``loss`` is ignored;
* what metrics, ``predict`` and the compiled loss see is the output's ``logits`` field, else
  its first tensor field that is not ``loss`` (a dataclass / ``ModelOutput`` without a loss,
  e.g. a prediction batch without ``labels``, too; a plain dict without ``loss`` stays a
  dict of outputs, as in Keras);
* the targets are the batch's ``y`` when given, else ``x["labels"]`` (which stays in ``x``,
  so the model still receives it).

The engine's steps (:mod:`epochal.engine.steps`) run unchanged: :func:`attach` wraps the
modules they call and their loss once, when the facade builds the run.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from epochal.data import Batch
from epochal.engine import steps

if TYPE_CHECKING:
    from epochal.engine.run import Run

__all__ = [
    "ModelLoss",
    "OutputAdapter",
    "attach",
    "check_keywords",
    "refuse_weights",
    "rewrap_training",
    "split_output",
]


def _fields(out: Any) -> list[tuple[str, Any]] | None:
    """The named fields of a dict, a ModelOutput (a dict too) or a dataclass, else None."""
    if isinstance(out, Mapping):
        return list(out.items())
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return [(f.name, getattr(out, f.name)) for f in dataclasses.fields(out)]
    return None


def split_output(out: Any) -> tuple[torch.Tensor | None, Any]:
    """``(loss, predictions)`` of one output: a dict with a ``loss`` field, a dataclass or a
    ``ModelOutput`` gives its ``loss`` (`None` when absent) and its ``logits`` (else its
    first other tensor field); any other output (a tensor, a dict of outputs without
    ``loss``) is ``(None, out)``."""
    if isinstance(out, torch.Tensor):
        return None, out
    fields = _fields(out)
    if fields is None:
        return None, out
    named = dict(fields)
    structured = dataclasses.is_dataclass(out)  # a ModelOutput is one, with or without loss
    if "loss" not in named and not structured:
        return None, out  # a dict of outputs: Keras' multi-output model
    loss = named.get("loss")
    if isinstance(named.get("logits"), torch.Tensor):
        return loss, named["logits"]
    for key, value in fields:
        if key != "loss" and isinstance(value, torch.Tensor):
            return loss, value
    raise ValueError(
        f"The model's output ({type(out).__name__}) has a `loss` but no other tensor field "
        f"for the metrics and predict to use; fields: {[k for k, _ in fields]}."
    )


class _Slot:
    """The last forward's own loss, from the module adapter to the loss."""

    __slots__ = ("kind", "loss")

    def __init__(self) -> None:
        self.loss: Any = None
        self.kind = ""


class OutputAdapter:
    """Calls ``module`` and returns the predictions of its output, keeping its own loss
    for :class:`ModelLoss` (see :func:`split_output`)."""

    def __init__(self, module: Any, slot: _Slot) -> None:
        self.module, self._slot = module, slot

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.module(*args, **kwargs)
        loss, predictions = split_output(out)
        self._slot.loss, self._slot.kind = loss, type(out).__name__
        return predictions


class ModelLoss:
    """The model's own loss as the run's loss (``compile`` gave none)."""

    name = "loss"

    def __init__(self, slot: _Slot) -> None:
        self._slot = slot

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        loss, self._slot.loss = self._slot.loss, None
        if sample_weight is not None:
            raise ValueError(_WEIGHTS)
        if loss is None:
            raise ValueError(
                "The model was compiled without a loss, and its output "
                f"({self._slot.kind or 'unknown'}) has no `loss` field. Pass `loss=` to "
                "compile(), or return the loss from the module (a dict, dataclass or "
                "ModelOutput with `loss`; a Hugging Face model computes it when the batch "
                "has `labels`)."
            )
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"The model's `loss` must be a tensor. Received: {type(loss).__name__}")
        return loss if loss.dim() == 0 else loss.mean()


_WEIGHTS = (
    "`sample_weight` / `class_weight` cannot weight a loss the model computes itself (it was "
    "compiled without a loss). Compile with `loss=` to weight the compiled loss, or weight "
    "inside the model."
)


def refuse_weights(sample_weight: Any, class_weight: Any) -> None:
    """Raises when weights are given for a model's own loss.

    Raises:
        ValueError: ``sample_weight`` or ``class_weight`` is not None.
    """
    if sample_weight is not None or class_weight is not None:
        raise ValueError(_WEIGHTS)


def _with_labels(batch: Batch) -> Batch:
    x, y, sample_weight = batch
    if y is None and isinstance(x, Mapping) and "labels" in x:
        return x, x["labels"], sample_weight
    return batch


def _train(run: Run, batch: Batch) -> None:
    steps.train_step(run, _with_labels(batch))


def _test(run: Run, batch: Batch) -> None:
    steps.test_step(run, _with_labels(batch))


def check_keywords(module: Any, x: Any) -> None:
    """Refuses dict keys that ``module.forward`` does not take (before the first step).

    Raises:
        TypeError: naming the keys and the accepted arguments.
    """
    if not isinstance(x, Mapping):
        return
    try:
        parameters = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):  # no signature to read: the call decides
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(str(k) for k in x if k not in parameters)
    if unknown:
        raise TypeError(
            f"The batch is a dict with keys {unknown} that {type(module).__name__}.forward does "
            f"not take (it takes {list(parameters)}); a dict batch is passed as keyword "
            "arguments. Drop those keys from the data."
        )


def attach(run: Run, *, own_loss: bool) -> None:
    """Makes ``run`` read the model's structured outputs: its modules return the
    predictions, its loss is the model's own when ``own_loss``, and the targets come from
    ``x["labels"]`` when ``y`` is not given."""
    slot = _Slot()
    run.training_module = OutputAdapter(run.training_module, slot)  # type: ignore[assignment]
    evaluation = run.eval_module if run.eval_module is not None else run.module
    run.eval_module = OutputAdapter(evaluation, slot)  # type: ignore[assignment]
    if own_loss:
        run.loss_fn = ModelLoss(slot)
    if run.train_fn is None:
        run.train_fn = _train
    if run.test_fn is None:
        run.test_fn = _test


def rewrap_training(run: Run) -> None:
    """Wraps a training module assigned after :func:`attach` (``train_on_batch``)."""
    if isinstance(run.eval_module, OutputAdapter):
        run.training_module = OutputAdapter(run.training_module, run.eval_module._slot)
