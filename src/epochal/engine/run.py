"""``Run``: everything one ``fit``/``evaluate``/``predict`` call reads, built once per call.

The model facade resolves arguments into a ``Run`` and hands it to :mod:`epochal.engine.loop`;
the loop and the steps read only the ``Run`` (never the facade's attributes), so per-call
state — the wrapped training module, class weights, the example input — is not parked on
the long-lived model. The facade keeps a reference to its last run so that callbacks can
still read ``model.train_state`` and ``model.example_input``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import nn

from epochal.data import Batch
from epochal.engine.compiled import CompiledModule
from epochal.engine.metrics_tracker import CompiledMetrics
from epochal.engine.precision import Precision
from epochal.engine.state import TrainState
from epochal.mixed_precision import DTypePolicy

if TYPE_CHECKING:
    from epochal.callbacks.callback_list import CallbackList
    from epochal.distributed import Strategy

__all__ = ["LoopHost", "Run"]


def _float32_precision() -> Precision:
    return Precision(DTypePolicy("float32"), torch.device("cpu"))


class LoopHost(Protocol):
    """What the loop reads and writes on the model: the flags callbacks set to stop it."""

    stop_training: bool
    stop_evaluating: bool
    stop_predicting: bool


@dataclass
class Run:
    """The pieces of one call to ``fit``, ``evaluate``, ``predict`` or ``*_on_batch``.

    Attributes:
        host: The model facade (its ``stop_*`` flags).
        module: The user's network, built.
        training_module: What the training step calls (``module`` wrapped for DDP, and
            through ``torch.compile`` with ``jit_compile``).
        loss_fn: The compiled loss (`None` for predict).
        optimizer: The compiled optimizer (`None` outside ``fit``/``train_on_batch``).
        metrics: The loss tracker and compiled metrics (a :class:`StepLogs` over them when
            the model's own steps run).
        strategy: Single process or data parallel.
        callbacks: The call's callback list.
        state: Where the run is (epoch, step) and the loop-owned state of a backup.
        class_weights: ``class_weight`` as a per-class table, or `None`.
        example_input: The ``x`` of the first batch (TensorBoard traces the graph with it).
        train_fn / test_fn / predict_fn: What the loop calls per batch: `None` for the
            engine's steps (:mod:`epochal.engine.steps`), or the model's own ``train_step`` /
            ``test_step`` / ``predict_step`` (:mod:`epochal.engine.custom_steps`).
        optimizers: Optimizers of the model besides ``optimizer`` (a GAN's two), by name;
            their state is part of the run's :class:`TrainState` backup.
        precision: The model's autocast context and loss scale (float32: neither).
        eval_module: What the evaluation and prediction steps call: `None` for ``module``,
            or ``module`` through ``torch.compile`` (``jit_compile``).
    """

    host: LoopHost
    module: nn.Module
    training_module: nn.Module | CompiledModule
    metrics: CompiledMetrics | Any  # or custom_steps.StepLogs, for the model's own steps
    strategy: Strategy
    callbacks: CallbackList
    loss_fn: Any = None
    optimizer: Any = None
    class_weights: torch.Tensor | None = None
    example_input: Any = None
    state: TrainState = field(default_factory=TrainState)
    train_fn: Callable[[Run, Batch], None] | None = None
    test_fn: Callable[[Run, Batch], None] | None = None
    predict_fn: Callable[[Run, Batch], Any] | None = None
    optimizers: dict[str, Any] = field(default_factory=dict)
    precision: Precision = field(default_factory=_float32_precision)
    eval_module: nn.Module | CompiledModule | None = None
