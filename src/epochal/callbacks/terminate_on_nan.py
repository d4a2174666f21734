"""TerminateOnNaN: stop training as soon as the loss is NaN or infinite."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from epochal._validation import check_bool
from epochal.callbacks.callback import Callback

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stops ``fit`` after the first training batch whose ``loss`` is NaN or ±inf.

    It reads the running mean of the loss that batch logs carry (so it costs one device sync
    per batch). By default it prints ``Batch {batch}: Invalid loss, terminating training``
    and sets ``model.stop_training``: validation, ``on_epoch_end`` and ``on_train_end`` still
    run, so History records the bad epoch. With ``raise_error=True`` it raises instead and
    no end hook runs. Only training batches and only ``loss`` are checked, as in Keras.

    Args:
        raise_error: raise a ``RuntimeError`` instead of stopping gracefully.
            Defaults to `False`.
        print_fn: where the message goes. Defaults to `print`.

    Raises:
        RuntimeError: from a batch end, when ``raise_error`` and the loss is invalid.

    Example:
        >>> from epochal.callbacks import TerminateOnNaN
        >>> TerminateOnNaN().raise_error
        False
    """

    def __init__(
        self, raise_error: bool = False, *, print_fn: Callable[[str], None] = print
    ) -> None:
        super().__init__()
        self.raise_error = check_bool("raise_error", raise_error)
        self.print_fn = print_fn

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = float(loss)
        if math.isnan(value) or math.isinf(value):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {value}. "
                    "Terminating training immediately."
                )
            self.print_fn(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
