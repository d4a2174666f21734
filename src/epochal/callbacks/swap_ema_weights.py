"""SwapEMAWeights: evaluate (and checkpoint) with the optimizer's moving-average weights."""

from __future__ import annotations

from typing import Any

from epochal._validation import check_bool
from epochal.callbacks.callback import Callback

__all__ = ["SwapEMAWeights"]


class SwapEMAWeights(Callback):
    """Puts the optimizer's EMA weights into the model while it is evaluated, as Keras'
    ``SwapEMAWeights``.

    Use it with an optimizer built with ``use_ema=True``. The weights and their moving
    averages are exchanged in place (no second copy of the model is kept, only a temporary
    one during the exchange) at ``on_test_begin`` and exchanged back at ``on_test_end``, so
    validation inside ``fit`` and ``evaluate(callbacks=[SwapEMAWeights()])`` measure the
    averaged model while training goes on with the raw weights. ``predict`` is treated the
    same way.

    With ``swap_on_epoch=True`` the averages are also in the model from ``on_epoch_end`` to
    the next ``on_epoch_begin``, so the callbacks after this one in the list
    (``ModelCheckpoint``, ``BackupAndRestore``, loggers) see and save the EMA weights: put it
    before them. At the last epoch's end the averages are set to those weights, so the end of
    ``fit`` (which gives the model its averages) keeps them. Whether the averages are in the
    model is part of this callback's state, so a run restored from a backup taken at an
    epoch end swaps back at the next epoch's start.

    Args:
        swap_on_epoch: Also swap around ``on_epoch_end`` (for the callbacks that follow).
            Defaults to `False`.

    Raises:
        ValueError: at the first hook of a call whose model's optimizer has
            ``use_ema=False`` (or no optimizer).

    Example:
        >>> from epochal.callbacks import SwapEMAWeights
        >>> SwapEMAWeights(swap_on_epoch=True).swap_on_epoch
        True
    """

    def __init__(self, swap_on_epoch: bool = False) -> None:
        super().__init__()
        self.swap_on_epoch = check_bool("swap_on_epoch", swap_on_epoch)
        self._ema_weights_in_model = False

    # ------------------------------------------------------------------ swapping
    def _optimizer(self) -> Any:
        optimizer = self.model.optimizer
        if optimizer is None or not getattr(optimizer, "use_ema", False):
            raise ValueError(
                "SwapEMAWeights must be used with an optimizer that has `use_ema=True` "
                "(e.g. epochal.optimizers.SGD(use_ema=True)). Received: "
                + ("no optimizer" if optimizer is None else f"{optimizer!r} with use_ema=False")
            )
        return optimizer

    def _swap_in(self) -> None:
        if not self._ema_weights_in_model:
            # Before the first update there is no average yet: nothing is swapped.
            self._ema_weights_in_model = bool(self._optimizer().swap_ema_weights())

    def _swap_out(self) -> None:
        if self._ema_weights_in_model:
            self._optimizer().swap_ema_weights()
            self._ema_weights_in_model = False

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._optimizer()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.swap_on_epoch:
            self._swap_out()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.swap_on_epoch:
            return
        self._swap_in()
        last = epoch == self.params.get("epochs", 0) - 1 or self.model.stop_training
        if self._ema_weights_in_model and last:
            # fit ends by giving the model its averages: they now hold the EMA weights too.
            self._optimizer().set_ema_to_weights()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_in()

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_out()

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_in()

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        self._swap_out()

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"ema_weights_in_model": self._ema_weights_in_model}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._ema_weights_in_model = bool(state.get("ema_weights_in_model", False))
