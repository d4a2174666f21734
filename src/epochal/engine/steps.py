"""One batch of training, evaluation or prediction. No hooks, no I/O, no host sync.

Each step reads the :class:`~epochal.engine.run.Run` only: the module to call, the loss, the
optimizer, the metrics tracker and the class weights of this call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from epochal.data import Batch
from epochal.layers import collect_losses

if TYPE_CHECKING:
    from epochal.engine.run import Run

__all__ = ["batch_size_of", "forward", "predict_step", "test_step", "train_step"]


def forward(module: Any, x: Any) -> Any:
    """Calls ``module`` on ``x``: a tuple/list is unpacked into positional arguments and a
    dict into keyword arguments, a tensor is passed as is. A module whose ``whole_inputs``
    is true (a subclassed model's, which takes Keras' ``inputs`` structure) gets ``x`` as
    one argument."""
    if isinstance(x, list | tuple):
        return module(x) if getattr(module, "whole_inputs", False) else module(*x)
    if isinstance(x, dict):
        return module(x) if getattr(module, "whole_inputs", False) else module(**x)
    return module(x)


def batch_size_of(x: Any) -> int:
    while isinstance(x, list | tuple | dict):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return int(x.shape[0])


def _weights(run: Run, y: Any, sample_weight: torch.Tensor | None) -> torch.Tensor | None:
    table = run.class_weights
    if table is None or y is None:
        return sample_weight
    if isinstance(y, list | tuple | dict):  # one output's targets in a container (fit refuses more)
        y = next(iter(y.values())) if isinstance(y, dict) else y[0]
    labels = y.argmax(dim=-1) if y.dim() > 1 and y.shape[-1] > 1 else y.reshape(-1)
    weights = table[labels.long()]
    return weights if sample_weight is None else weights * sample_weight.reshape(-1)


def _eval_module(run: Run) -> Any:
    return run.module if run.eval_module is None else run.eval_module


def train_step(run: Run, batch: Batch) -> None:
    """Forward, loss (plus the layers' own losses), backward and one optimizer update;
    metrics are updated on the device."""
    x, y, sample_weight = batch
    if run.class_weights is not None:
        sample_weight = _weights(run, y, sample_weight)
    precision = run.precision
    if precision.dtype is None:  # float32: no autocast context, no cast of the outputs
        y_pred = (
            run.training_module(x) if type(x) is torch.Tensor else forward(run.training_module, x)
        )
    else:
        with precision.autocast():  # mixed precision: the forward pass in float16/bfloat16
            y_pred = forward(run.training_module, x)
        y_pred = precision.outputs(y_pred)  # loss and metrics in float32
    loss = run.loss_fn(y, y_pred, sample_weight)
    extra = collect_losses(run.module)  # add_loss() terms and weight regularizers (Keras)
    if extra is not None:
        loss = loss + extra
    optimizer = run.optimizer
    optimizer.zero_grad()
    if precision.scaler is None:
        loss.backward()
        optimizer.step()
    else:
        precision.backward(loss)  # scaled for float16
        precision.step(optimizer)  # skipped when float16 gradients overflowed
    size = x.shape[0] if type(x) is torch.Tensor else batch_size_of(x)
    run.metrics.update(y, y_pred, sample_weight, loss, size)


def test_step(run: Run, batch: Batch) -> None:
    """Forward and loss under ``no_grad``; metrics are updated on the device."""
    x, y, sample_weight = batch
    with run.precision.autocast():
        y_pred = forward(_eval_module(run), x)
    y_pred = run.precision.outputs(y_pred)
    loss = run.loss_fn(y, y_pred, sample_weight)
    extra = collect_losses(run.module)
    if extra is not None:
        loss = loss + extra
    run.metrics.update(y, y_pred, sample_weight, loss, batch_size_of(x))


def predict_step(run: Run, batch: Batch) -> Any:
    """The model's outputs for one batch, left on the device (float32 under a mixed
    policy: numpy has no bfloat16)."""
    with run.precision.autocast():
        out = forward(_eval_module(run), batch[0])
    return run.precision.outputs(out)
