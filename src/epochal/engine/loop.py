"""The fit / evaluate / predict loops: the only code that fires callback hooks.

Separation of concerns:

* ``Model`` validates arguments and builds the pieces into a :class:`~epochal.engine.run.Run`
  (module, loss, optimizer, metrics, callbacks, strategy, state);
* this module walks epochs and batches and fires hooks in Keras' exact order;
* ``steps`` runs one batch (forward, loss, backward, update) with no hooks and no I/O;
* ``data.EpochIterator`` owns the position in the data; ``TrainState`` exposes it.

Batch logs are :class:`~epochal.logs.Logs` whose values stay on the device until read, and
batch hooks are called only when some callback implements them: a run whose callbacks do
not read batch logs never synchronises host and device per step. Epoch logs are fetched
once, as floats, and every callback sees the same numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from epochal._modes import evaluating
from epochal.data import EpochIterator
from epochal.distributed import LocalStrategy
from epochal.engine.steps import predict_step, test_step, train_step
from epochal.logs import Logs

if TYPE_CHECKING:
    from epochal.engine.run import Run

__all__ = ["run_evaluate", "run_fit", "run_predict", "should_validate", "to_numpy"]


class ValidationFreqError(ValueError, ZeroDivisionError):
    """``validation_freq=0``: a ValueError, and a ZeroDivisionError as in Keras."""


def should_validate(
    epoch: int, validation_freq: int | Sequence[int], name: str = "validation_freq"
) -> bool:
    """Keras' rule: every N epochs (1-based), or the epochs listed (1-based).

    ``name`` is the argument named in errors (``evaluation_freq`` follows the same rule).

    Raises:
        ValueError: when ``validation_freq`` is neither an int nor a list of ints, or is 0.
    """
    if isinstance(validation_freq, bool):
        raise ValueError(f"Expected `{name}` to be a list or int. Received: {validation_freq!r}")
    if isinstance(validation_freq, int):
        if validation_freq <= 0:
            raise ValidationFreqError(
                f"`{name}` must be a positive integer. Received: {validation_freq}"
            )
        return (epoch + 1) % validation_freq == 0
    if isinstance(validation_freq, list | tuple | set):
        for entry in validation_freq:
            if isinstance(entry, bool) or not isinstance(entry, int) or entry < 1:
                raise ValidationFreqError(
                    f"`{name}` as a list holds 1-based epoch numbers (positive "
                    f"integers). Received: {name}={validation_freq!r}"
                )
        return epoch + 1 in validation_freq
    raise ValueError(f"Expected `{name}` to be a list or int. Received: {validation_freq!r}")


def run_fit(
    run: Run,
    train: EpochIterator,
    *,
    epochs: int,
    initial_epoch: int,
    validation: EpochIterator | None,
    validation_freq: int | Sequence[int],
    evaluations: Mapping[str, EpochIterator] | None = None,
    evaluation_freq: int | Sequence[int] = 1,
) -> None:
    """Runs epochs ``initial_epoch .. epochs-1`` (or from where a restore put the state).

    After each epoch's validation, every set of ``evaluations`` due by ``evaluation_freq``
    is evaluated in turn (``on_test_*`` hooks per set, ``train_state.evaluation`` naming it)
    and its results join the epoch logs as ``<name>_<metric>`` before ``on_epoch_end``.
    """
    state, callbacks = run.state, run.callbacks
    state.epoch, state.step, state.initial_epoch, state.epochs = (
        initial_epoch,
        0,
        initial_epoch,
        epochs,
    )
    state.resumed = state.interrupt_requested = False
    state.data, state.metrics, state.callbacks = train, run.metrics, callbacks
    evaluations = dict(evaluations or {})
    state.evaluation_sets = tuple(evaluations)
    state.optimizers = run.optimizers
    run.metrics.reset()
    run.host.stop_training = False

    callbacks.restore_run()
    try:
        callbacks.on_train_begin()
        training_logs = _fit_epochs(
            run, train, validation, validation_freq, evaluations, evaluation_freq
        )
        if epochs > 0 and not state.interrupt_requested:
            _finalize_variable_values(run)
        callbacks.on_train_end(Logs(training_logs))
    finally:
        # on_train_end is not called when fit raises: end_run is, in every case.
        callbacks.end_run()


def _finalize_variable_values(run: Run) -> None:
    """Keras' last act of ``fit`` before ``on_train_end``: the optimizer finalizes the
    weights (with ``use_ema``, they take their moving averages). Not after an interrupt:
    that run resumes from its backup."""
    finalize = getattr(run.optimizer, "finalize_variable_values", None)
    if finalize is not None:
        finalize()


def _fit_epochs(
    run: Run,
    train: EpochIterator,
    validation: EpochIterator | None,
    validation_freq: int | Sequence[int],
    evaluations: Mapping[str, EpochIterator],
    evaluation_freq: int | Sequence[int],
) -> dict[str, Any]:
    state, metrics, strategy, host = run.state, run.metrics, run.strategy, run.host
    callbacks = run.callbacks
    begin_hook = callbacks.implements("on_train_batch_begin")
    end_hook = callbacks.implements("on_train_batch_end")
    step_fn = run.train_fn or train_step
    distributed = not isinstance(strategy, LocalStrategy)  # flags agreed between ranks
    training_logs: dict[str, Any] = {}
    while state.epoch < state.epochs:
        epoch = state.epoch
        if state.step == 0:
            metrics.reset()
        run.module.train()
        callbacks.on_epoch_begin(epoch)
        for step, batch in train.epoch(state.step):
            if begin_hook:
                callbacks.on_train_batch_begin(step)
            step_fn(run, batch)
            state.step = step + 1
            if end_hook:
                callbacks.on_train_batch_end(step, metrics.lazy_logs())
            if distributed:
                # Both flags may be set on one rank only: every rank acts on the agreed values.
                stop, interrupt = strategy.any_flags(host.stop_training, state.interrupt_requested)
                if stop or interrupt:
                    break
            elif host.stop_training or state.interrupt_requested:
                break
        # Once per epoch, agreed now: no rank goes on to the epoch end while another stops.
        stop, interrupt = strategy.agree_flags(host.stop_training, state.interrupt_requested)
        if interrupt:
            state.interrupt_requested = True
            callbacks.interrupt_run()
            break
        host.stop_training = host.stop_training or stop
        epoch_logs = metrics.results()
        epoch_logs.update(run.precision.logs())  # float16: loss_scale, skipped_steps
        if validation is not None and should_validate(epoch, validation_freq):
            val_logs = run_evaluate(run, validation, name="val")
            epoch_logs.update({"val_" + key: value for key, value in val_logs.items()})
        if evaluations and should_validate(epoch, evaluation_freq, "evaluation_freq"):
            for name, data in evaluations.items():
                set_logs = run_evaluate(run, data, name=name)
                epoch_logs.update({f"{name}_{key}": value for key, value in set_logs.items()})
        state.epoch, state.step = epoch + 1, 0
        callbacks.on_epoch_end(epoch, Logs(epoch_logs))
        training_logs = epoch_logs
        if strategy.agree_flag(host.stop_training):
            host.stop_training = True
            break
    return training_logs


def run_evaluate(run: Run, data: EpochIterator, name: str | None = None) -> dict[str, float]:
    """One pass of evaluation; fires the ``on_test_*`` hooks on the run's callbacks.

    ``name`` is the set being evaluated inside ``fit`` (``"val"`` for validation, a key of
    ``evaluation_data``), shown to callbacks as ``train_state.evaluation`` during the pass.
    """
    previous = run.state.evaluation
    run.state.evaluation = name
    try:
        return _evaluate(run, data)
    finally:
        run.state.evaluation = previous


def _evaluate(run: Run, data: EpochIterator) -> dict[str, float]:
    metrics, callbacks = run.metrics, run.callbacks
    run.host.stop_evaluating = False
    begin_hook = callbacks.implements("on_test_batch_begin")
    end_hook = callbacks.implements("on_test_batch_end")
    step_fn = run.test_fn or test_step
    callbacks.on_test_begin()
    metrics.reset()
    with evaluating(run.module):
        for step, batch in data.epoch():
            if begin_hook:
                callbacks.on_test_batch_begin(step)
            step_fn(run, batch)
            if end_hook:
                callbacks.on_test_batch_end(step, metrics.lazy_logs())
            if run.host.stop_evaluating:
                break
    logs = metrics.results()
    callbacks.on_test_end(Logs(logs))
    return logs


def to_numpy(outputs: Any) -> Any:
    """Tensors in a (nested) output as numpy arrays."""
    if isinstance(outputs, torch.Tensor):
        return outputs.detach().cpu().numpy()
    if isinstance(outputs, list | tuple):
        return type(outputs)(to_numpy(o) for o in outputs)
    if isinstance(outputs, dict):
        return {k: to_numpy(v) for k, v in outputs.items()}
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


def _outputs_log(out: Any) -> dict[str, Any]:
    return {"outputs": to_numpy(out)}


def run_predict(run: Run, data: EpochIterator) -> Any:
    """Runs the model over ``data``; returns numpy outputs concatenated in input order."""
    callbacks = run.callbacks
    run.host.stop_predicting = False
    begin_hook = callbacks.implements("on_predict_batch_begin")
    end_hook = callbacks.implements("on_predict_batch_end")
    step_fn = run.predict_fn or predict_step
    outputs: list[Any] = []
    callbacks.on_predict_begin()
    with evaluating(run.module):
        for step, batch in data.epoch():
            if begin_hook:
                callbacks.on_predict_batch_begin(step)
            out = step_fn(run, batch)
            outputs.append(out)
            if end_hook:
                callbacks.on_predict_batch_end(
                    step, Logs.lazy(["outputs"], functools.partial(_outputs_log, out))
                )
            if run.host.stop_predicting:
                break
    callbacks.on_predict_end()
    if not outputs:
        return np.zeros((0,), dtype=np.float32)
    return run.strategy.gather_predictions(_concatenate(outputs))
