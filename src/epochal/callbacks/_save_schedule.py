"""SaveSchedule: Keras' ``save_freq`` rule ("epoch", or every N batches counted across epochs)."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

from epochal._validation import ArgumentTypeError

__all__ = ["SaveSchedule"]

_INVALID = (
    "Invalid value for argument `{argument}`. Received: {argument}={value!r}. "
    "Expected either 'epoch' or an integer value."
)


class SaveSchedule:
    """Decides when a callback with a ``save_freq`` argument saves.

    ``"epoch"`` saves at every epoch end. An integer N saves after every N-th training batch,
    the batches being counted across epoch boundaries and the count reset only by a save
    (3 batches per epoch, N=2: saves after epoch 1 batch 2, epoch 2 batch 1, epoch 2 batch 3).

    Args:
        save_freq: ``"epoch"`` or a number of batches. Defaults to `"epoch"`.
        argument: The argument's name, for error messages. Defaults to `"save_freq"`.
        message: The error for a value that is neither, formatted with ``argument`` and
            ``value`` (each Keras callback words it its own way). Defaults to Keras'
            ``BackupAndRestore`` wording.

    Raises:
        ArgumentTypeError: (a ``TypeError`` and ``ValueError``) when ``save_freq`` is neither
            ``"epoch"`` nor an integer (a bool is not one).

    Example:
        >>> schedule = SaveSchedule(2)
        >>> [schedule.batch_done() for _ in range(5)]
        [False, True, False, True, False]
    """

    def __init__(
        self,
        save_freq: str | int = "epoch",
        argument: str = "save_freq",
        *,
        message: str = _INVALID,
    ) -> None:
        if isinstance(save_freq, bool) or (
            save_freq != "epoch" and not isinstance(save_freq, numbers.Integral)
        ):
            raise ArgumentTypeError(message.format(argument=argument, value=save_freq))
        if not isinstance(save_freq, str) and save_freq <= 0:
            warnings.warn(
                f"`{argument}={save_freq!r}` is not a positive number of batches; it is "
                "accepted as in Keras and means: save after every batch.",
                stacklevel=3,
            )
        self.save_freq = save_freq
        self.since_save = 0

    @property
    def by_epoch(self) -> bool:
        return self.save_freq == "epoch"

    def batch_done(self) -> bool:
        """Counts one training batch; `True` when a save is due now (the count restarts)."""
        if self.by_epoch:
            return False
        self.since_save += 1
        if self.since_save >= int(self.save_freq):
            self.since_save = 0
            return True
        return False

    def reset(self) -> None:
        self.since_save = 0

    def state_dict(self) -> dict[str, Any]:
        return {"since_save": self.since_save}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.since_save = int(state["since_save"])
