"""LearningRateScheduler: set the learning rate from a function of the epoch."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from epochal._validation import check_callable, check_verbose
from epochal.callbacks.callback import Callback

__all__ = ["LearningRateScheduler"]


def _takes_two(schedule: Callable[..., Any]) -> bool | None:
    """Whether ``schedule(epoch, lr)`` binds; ``None`` when the signature is unknowable."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):
        return None
    try:
        signature.bind(0, 0.1)
    except TypeError:
        return False
    return True


def _as_float(value: Any) -> float:
    """The schedule's result as a float, or ``ValueError`` for anything that is not one."""
    ok = isinstance(value, float | np.floating) or (
        isinstance(value, torch.Tensor) and value.dim() == 0 and value.is_floating_point()
    )
    if not ok:
        raise ValueError(
            f"The output of the `schedule` function should be a float. Got: {value!r} "
            f"(type {type(value).__name__}); return e.g. `float(lr)`."
        )
    result = float(value)
    if math.isnan(result):
        raise ValueError(
            "The output of the `schedule` function should be a float, not NaN. Got: nan"
        )
    return result


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch to ``schedule(epoch, lr)``.

    ``epoch`` is the 0-based absolute epoch index (``initial_epoch=2`` starts at 2) and ``lr``
    the current learning rate; a one-argument ``schedule(epoch)`` (Keras 2 style) is detected
    from its signature, so a ``TypeError`` raised inside the schedule is never mistaken for a
    wrong arity. The result must be a float (Python or numpy; 0-d float tensors are also
    accepted, an epochal extension); an int, any other type or NaN is an error. At epoch end
    the learning rate is written to ``logs["learning_rate"]``.

    Combined with ``ReduceLROnPlateau``, a schedule that ignores its ``lr`` argument overwrites
    every reduction at the next epoch begin; one that starts from ``lr`` keeps them.

    Args:
        schedule: ``f(epoch, lr) -> float`` or ``f(epoch) -> float``.
        verbose: ``> 0`` prints the rate set at each epoch. Defaults to `0`.
        print_fn: where verbose messages go. Defaults to `print`.

    Raises:
        TypeError: when ``schedule`` is not callable.
        ValueError: at an epoch begin, when the schedule returns something that is not a
            float, or the optimizer has no ``learning_rate``.

    Example:
        >>> import math
        >>> from epochal.callbacks import LearningRateScheduler
        >>> def step_decay(epoch):
        ...     return 0.1 * math.pow(0.5, math.floor((1 + epoch) / 10))
        >>> LearningRateScheduler(step_decay).schedule(9)
        0.05
    """

    def __init__(
        self,
        schedule: Callable[..., Any],
        verbose: int = 0,
        *,
        print_fn: Callable[[str], None] = print,
    ) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"`schedule` must be a function of (epoch, lr) or (epoch). Received: {schedule!r}"
            )
        self.schedule = schedule
        self.verbose = check_verbose(verbose, where="LearningRateScheduler: ")
        self.print_fn = check_callable("print_fn", print_fn, where="LearningRateScheduler: ")
        self._two_args = _takes_two(schedule)

    def _optimizer(self) -> Any:
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        return optimizer

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        optimizer = self._optimizer()
        lr = float(optimizer.learning_rate)
        if self._two_args is None:
            # Signature unknown (a builtin): Keras' own fallback.
            try:
                value = self.schedule(epoch, lr)
            except TypeError:
                value = self.schedule(epoch)
        elif self._two_args:
            value = self.schedule(epoch, lr)
        else:
            value = self.schedule(epoch)
        new_lr = _as_float(value)
        optimizer.learning_rate = new_lr
        if self.verbose > 0:
            self.print_fn(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new_lr}."
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self._optimizer().learning_rate)
