"""EarlyStopping: stop ``fit`` when a monitored metric stops improving."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from epochal._validation import check_bool, check_callable, check_int, check_verbose
from epochal.callbacks.monitor_callback import Mode, MonitorCallback

__all__ = ["EarlyStopping"]


class EarlyStopping(MonitorCallback):
    """Stops training once ``monitor`` has not improved for ``patience`` epochs.

    Keras 3's rules, exactly: epochs before ``start_from_epoch`` are ignored; each counted
    epoch increments a wait counter; an improvement over the best value so far (the first
    counted epoch always is one) records it and resets the counter, but only if it also beats
    ``baseline`` when one is given; a non-improving epoch stops training once the counter
    reaches ``patience`` (so ``patience=0`` behaves like ``patience=1``). An improving epoch
    never stops training. With a ``baseline`` that is never beaten but a steadily improving
    metric, training never stops.

    With ``restore_best_weights`` the weights of the best epoch are restored at the end of
    ``fit`` — whether or not this callback stopped it (Keras 3; Keras 2 restored only when it
    stopped). The snapshot is a clone of the module's tensors on their own device, so an
    improvement costs no device-to-host copy. A missing monitor warns once per ``fit`` and
    nothing else happens.

    Args:
        monitor: logs key to watch. Defaults to `"val_loss"`.
        min_delta: smallest change counted as an improvement (sign dropped). Defaults to `0`.
        patience: non-improving epochs tolerated before stopping. Defaults to `0`.
        verbose: ``> 0`` prints when stopping and restoring. Defaults to `0`.
        mode: ``"auto"``, ``"min"`` or ``"max"``. Defaults to `"auto"`.
        baseline: value the metric must beat for an improvement to reset the wait counter.
            Defaults to `None`.
        restore_best_weights: restore the best epoch's weights at train end.
            Defaults to `False`.
        start_from_epoch: epochs with a smaller index are ignored. Defaults to `0`.
        print_fn: where verbose messages go. Defaults to `print`.

    Raises:
        TypeError: when ``patience``, ``start_from_epoch``, ``min_delta`` or ``baseline`` is
            not a number.

    Example:
        >>> import numpy as np, epochal
        >>> model = epochal.Sequential([epochal.layers.Dense(1, input_shape=(2,))])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> stop = epochal.callbacks.EarlyStopping(monitor="loss", patience=1)
        >>> x = np.zeros((8, 2), "float32"); y = np.zeros((8, 1), "float32")
        >>> history = model.fit(x, y, epochs=20, verbose=0, callbacks=[stop])
        >>> len(history.epoch) < 20
        True
    """

    missing_message = (
        "Early stopping conditioned on metric `{monitor}` which is not available. "
        "Available metrics are: {available}"
    )

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: Mode | str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
        *,
        print_fn: Callable[[str], None] = print,
    ) -> None:
        super().__init__(monitor=monitor, mode=mode, baseline=baseline, min_delta=min_delta)
        self.patience = check_int("patience", patience, minimum=0, where="EarlyStopping: ")
        self.verbose = check_verbose(verbose, where="EarlyStopping: ")
        self.restore_best_weights = check_bool(
            "restore_best_weights", restore_best_weights, where="EarlyStopping: "
        )
        self.start_from_epoch = check_int(
            "start_from_epoch", start_from_epoch, minimum=0, where="EarlyStopping: "
        )
        self.print_fn = check_callable("print_fn", print_fn, where="EarlyStopping: ")
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._reset_monitor_warnings()
        if self.resuming:
            return  # load_state_dict restored the interrupted run's counters and best weights
        # Every fit is a fresh run (Keras 3); only the cached direction survives.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def _snapshot(self) -> dict[str, torch.Tensor]:
        # Clone on the tensors' own device: no host round trip per improvement.
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.resolve_direction(logs)
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self._snapshot()
            self.best_epoch = epoch
        self.wait += 1
        if self.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._snapshot()
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            return
        # `epoch > 0` can never matter (the first counted epoch improves); kept as in Keras.
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            self.print_fn(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                self.print_fn(
                    "Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.load_state_dict(self.best_weights)

    @property
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
            "direction": self.direction,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"wait", "stopped_epoch", "best", "best_epoch", "best_weights"} - set(state)
        if missing:
            raise KeyError(f"EarlyStopping state is missing {sorted(missing)}.")
        self.wait = int(state["wait"])
        self.stopped_epoch = int(state["stopped_epoch"])
        self.best = state["best"]
        self.best_epoch = int(state["best_epoch"])
        weights = state["best_weights"]
        self.best_weights = None if weights is None else {k: v.clone() for k, v in weights.items()}
        self.direction = state.get("direction", self.direction)
