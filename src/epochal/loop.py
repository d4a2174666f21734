"""The fit / evaluate / predict loops: the only code that fires callback hooks.

Separation of concerns:

* ``Model`` validates arguments and builds the pieces (sources, callbacks, params);
* this module walks epochs and batches and fires hooks in Keras' exact order;
* ``steps`` runs one batch (forward, loss, backward, update) with no hooks and no I/O;
* ``data.EpochIterator`` owns the position in the data; ``state.TrainState`` exposes it.

Batch logs are :class:`~epochal.logs.Logs` whose values stay on the device until read, and
batch hooks are called only when some callback implements them: a run whose callbacks do
not read batch logs never synchronises host and device per step. Epoch logs are fetched
once, as floats, and every callback sees the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from epochal.callbacks.callback_list import CallbackList
from epochal.data import EpochIterator
from epochal.logs import Logs
from epochal.steps import predict_step, test_step, train_step

if TYPE_CHECKING:
    from epochal.model import Model

__all__ = ["run_evaluate", "run_fit", "run_predict", "should_validate"]


class ValidationFreqError(ValueError, ZeroDivisionError):
    """``validation_freq=0``: a ValueError, and a ZeroDivisionError as in Keras."""


def should_validate(epoch: int, validation_freq: int | Sequence[int]) -> bool:
    """Keras' rule: every N epochs (1-based), or the epochs listed (1-based).

    Raises:
        ValueError: when ``validation_freq`` is neither an int nor a list of ints, or is 0.
    """
    if isinstance(validation_freq, bool):
        raise ValueError(
            f"Expected `validation_freq` to be a list or int. Received: {validation_freq!r}"
        )
    if isinstance(validation_freq, int):
        if validation_freq <= 0:
            raise ValidationFreqError(
                f"`validation_freq` must be a positive integer. Received: {validation_freq}"
            )
        return (epoch + 1) % validation_freq == 0
    if isinstance(validation_freq, list | tuple | set):
        return epoch + 1 in validation_freq
    raise ValueError(
        f"Expected `validation_freq` to be a list or int. Received: {validation_freq!r}"
    )


def run_fit(
    model: Model,
    train: EpochIterator,
    callbacks: CallbackList,
    *,
    epochs: int,
    initial_epoch: int,
    validation: EpochIterator | None,
    validation_freq: int | Sequence[int],
) -> None:
    """Runs epochs ``initial_epoch .. epochs-1`` (or from where a restore put the state)."""
    state = model.train_state
    state.epoch, state.step, state.initial_epoch, state.epochs = (
        initial_epoch,
        0,
        initial_epoch,
        epochs,
    )
    state.resumed = state.interrupt_requested = False
    state.data, state.metrics, state.callbacks = train, model.compiled_metrics, callbacks
    metrics = model.compiled_metrics
    metrics.reset()
    model.stop_training = False

    callbacks.restore_run()
    try:
        callbacks.on_train_begin()
        training_logs = _fit_epochs(model, train, callbacks, validation, validation_freq)
        callbacks.on_train_end(Logs(training_logs))
    finally:
        # on_train_end is not called when fit raises: end_run is, in every case.
        callbacks.end_run()


def _fit_epochs(
    model: Model,
    train: EpochIterator,
    callbacks: CallbackList,
    validation: EpochIterator | None,
    validation_freq: int | Sequence[int],
) -> dict[str, Any]:
    state, metrics, strategy = model.train_state, model.compiled_metrics, model.strategy
    begin_hook = callbacks.implements("on_train_batch_begin")
    end_hook = callbacks.implements("on_train_batch_end")
    training_logs: dict[str, Any] = {}
    while state.epoch < state.epochs:
        epoch = state.epoch
        if state.step == 0:
            metrics.reset()
        model.module.train()
        callbacks.on_epoch_begin(epoch)
        for step, batch in train.epoch(state.step):
            if begin_hook:
                callbacks.on_train_batch_begin(step)
            train_step(model, batch)
            state.step = step + 1
            if end_hook:
                callbacks.on_train_batch_end(step, metrics.lazy_logs())
            # Both flags may be set on one rank only: every rank acts on the agreed values.
            stop, interrupt = strategy.any_flags(model.stop_training, state.interrupt_requested)
            if stop or interrupt:
                break
        # Once per epoch, agreed now: no rank goes on to the epoch end while another stops.
        stop, interrupt = strategy.agree_flags(model.stop_training, state.interrupt_requested)
        if interrupt:
            state.interrupt_requested = True
            callbacks.interrupt_run()
            break
        model.stop_training = model.stop_training or stop
        epoch_logs = metrics.results()
        if validation is not None and should_validate(epoch, validation_freq):
            val_logs = run_evaluate(model, validation, callbacks)
            epoch_logs.update({"val_" + key: value for key, value in val_logs.items()})
        state.epoch, state.step = epoch + 1, 0
        callbacks.on_epoch_end(epoch, Logs(epoch_logs))
        training_logs = epoch_logs
        if strategy.agree_flag(model.stop_training):
            model.stop_training = True
            break
    return training_logs


def run_evaluate(model: Model, data: EpochIterator, callbacks: CallbackList) -> dict[str, float]:
    """One pass of evaluation; fires the ``on_test_*`` hooks on ``callbacks``."""
    metrics = model.compiled_metrics
    was_training = model.module.training
    model.stop_evaluating = False
    begin_hook = callbacks.implements("on_test_batch_begin")
    end_hook = callbacks.implements("on_test_batch_end")
    callbacks.on_test_begin()
    metrics.reset()
    model.module.eval()
    with torch.no_grad():
        for step, batch in data.epoch():
            if begin_hook:
                callbacks.on_test_batch_begin(step)
            test_step(model, batch)
            if end_hook:
                callbacks.on_test_batch_end(step, metrics.lazy_logs())
            if model.stop_evaluating:
                break
    logs = metrics.results()
    model.module.train(was_training)
    callbacks.on_test_end(Logs(logs))
    return logs


def _to_numpy(outputs: Any) -> Any:
    if isinstance(outputs, torch.Tensor):
        return outputs.detach().cpu().numpy()
    if isinstance(outputs, list | tuple):
        return type(outputs)(_to_numpy(o) for o in outputs)
    if isinstance(outputs, dict):
        return {k: _to_numpy(v) for k, v in outputs.items()}
    return outputs


def _concatenate(chunks: list[Any]) -> Any:
    first = chunks[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(chunks).detach().cpu().numpy()
    if isinstance(first, list | tuple):
        return [_concatenate([c[i] for c in chunks]) for i in range(len(first))]
    if isinstance(first, dict):
        return {k: _concatenate([c[k] for c in chunks]) for k in first}
    return np.asarray(chunks)


def run_predict(model: Model, data: EpochIterator, callbacks: CallbackList) -> Any:
    """Runs the model over ``data``; returns numpy outputs concatenated in input order."""
    was_training = model.module.training
    model.stop_predicting = False
    begin_hook = callbacks.implements("on_predict_batch_begin")
    end_hook = callbacks.implements("on_predict_batch_end")
    outputs: list[Any] = []
    callbacks.on_predict_begin()
    model.module.eval()
    with torch.no_grad():
        for step, batch in data.epoch():
            if begin_hook:
                callbacks.on_predict_batch_begin(step)
            out = predict_step(model, batch)
            outputs.append(out)
            if end_hook:
                callbacks.on_predict_batch_end(
                    step, Logs.lazy(["outputs"], lambda out=out: {"outputs": _to_numpy(out)})
                )
            if model.stop_predicting:
                break
    model.module.train(was_training)
    callbacks.on_predict_end()
    if not outputs:
        return np.zeros((0,), dtype=np.float32)
    return model.strategy.gather_predictions(_concatenate(outputs))
