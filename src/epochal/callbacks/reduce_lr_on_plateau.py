"""ReduceLROnPlateau: lower the learning rate when a monitored metric stalls."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from epochal._validation import check_callable, check_int, check_number, check_verbose
from epochal.callbacks.monitor_callback import Mode, MonitorCallback

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by ``factor`` after ``patience`` epochs without improvement.

    At each epoch end it first writes the learning rate this epoch used to
    ``logs["learning_rate"]`` (so History and later callbacks see it), then: during a cooldown
    the counter is decremented and the wait reset; an improvement records the best value and
    resets the wait; otherwise, outside cooldown, the wait grows and once it reaches
    ``patience`` the rate becomes ``max(lr * factor, min_lr)`` — unless it is already at
    ``min_lr`` — and a cooldown of ``cooldown`` epochs starts. As in Keras 3, ``cooldown=1``
    changes nothing and ``cooldown=N`` freezes ``N - 1`` epochs. The change goes through
    ``model.optimizer.learning_rate``, so every parameter group moves.

    Keras 2's ``epsilon`` is accepted as ``min_delta`` with a ``DeprecationWarning``; other
    unknown keywords are ignored with a warning (Keras 3 ignores them silently).

    Args:
        monitor: logs key to watch. Defaults to `"val_loss"`.
        factor: multiplier of the learning rate, below 1. Defaults to `0.1`.
        patience: non-improving epochs before a reduction. Defaults to `10`.
        verbose: ``> 0`` prints each reduction. Defaults to `0`.
        mode: ``"auto"``, ``"min"`` or ``"max"``. Defaults to `"auto"`.
        min_delta: smallest change counted as an improvement (sign dropped).
            Defaults to `1e-4`.
        cooldown: epochs to wait after a reduction before counting again. Defaults to `0`.
        min_lr: lower bound of the learning rate. Defaults to `0.0`.
        print_fn: where verbose messages go. Defaults to `print`.
        **kwargs: legacy ``epsilon`` (= ``min_delta``); anything else is ignored.

    Raises:
        ValueError: when ``factor >= 1.0``.
        TypeError: when a numeric argument is not a number.

    Example:
        >>> from epochal.callbacks import ReduceLROnPlateau
        >>> ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2).factor
        0.5
    """

    missing_message = (
        "Learning rate reduction is conditioned on metric `{monitor}` which is not available. "
        "Available metrics are: {available}."
    )

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: Mode | str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        *,
        print_fn: Callable[[str], None] = print,
        **kwargs: Any,
    ) -> None:
        if "epsilon" in kwargs:
            min_delta = kwargs.pop("epsilon")
            warnings.warn(
                "`epsilon` argument is deprecated and will be removed, use `min_delta` instead.",
                DeprecationWarning,
                stacklevel=2,
            )
        if kwargs:
            warnings.warn(
                f"ReduceLROnPlateau ignores unknown argument(s): {', '.join(sorted(kwargs))}.",
                UserWarning,
                stacklevel=2,
            )
        where = "ReduceLROnPlateau: "
        check_number("factor", factor, minimum=0.0, where=where)
        if factor >= 1.0:
            raise ValueError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        super().__init__(monitor=monitor, mode=mode, min_delta=min_delta)
        self.factor = float(factor)
        self.patience = check_int("patience", patience, minimum=0, where=where)
        self.verbose = check_verbose(verbose, where=where)
        self.cooldown = check_int("cooldown", cooldown, minimum=0, where=where)
        check_number("min_lr", min_lr, minimum=0.0, finite=True, where=where)
        self.min_lr = min_lr
        self.print_fn = check_callable("print_fn", print_fn, where=where)
        self.wait = 0
        self.cooldown_counter = 0
        self.best: float | None = None

    def _reset(self) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self.best = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._reset_monitor_warnings()
        if not self.resuming:  # a restored run keeps its counters; every other fit starts fresh
            self._reset()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.resolve_direction(logs)
        if logs is None:
            logs = {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = self.get_monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        self.print_fn(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                            f"to {new_lr}."
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    @property
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait": self.wait,
            "cooldown_counter": self.cooldown_counter,
            "best": self.best,
            "direction": self.direction,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"wait", "cooldown_counter", "best"} - set(state)
        if missing:
            raise KeyError(f"ReduceLROnPlateau state is missing {sorted(missing)}.")
        self.wait = int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.best = state["best"]
        self.direction = state.get("direction", self.direction)
