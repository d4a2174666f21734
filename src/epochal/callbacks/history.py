"""History: the per-epoch record that ``fit`` returns."""

from __future__ import annotations

from typing import Any

from epochal.callbacks.callback import Callback

__all__ = ["History"]


class History(Callback):
    """Records every epoch's logs; ``fit`` adds one and returns it (also ``model.history``).

    ``history`` maps each logs key to its list of values, including keys that earlier
    callbacks added at epoch end (``learning_rate``); ``epoch`` lists the epoch indices of the
    current run. Reused across ``fit`` calls, ``epoch`` restarts while ``history`` keeps
    growing, as in Keras 3.

    Example:
        >>> from epochal.callbacks import History
        >>> History().history
        {}
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # A new run restarts the epoch list; the history itself keeps growing (Keras 3).
        # A resumed run keeps what load_state_dict restored.
        if not self.resuming:
            self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self

    def state_dict(self) -> dict[str, Any]:
        return {"history": {k: list(v) for k, v in self.history.items()}, "epoch": list(self.epoch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = list(state["epoch"])
