"""Test helpers: a callback that records every hook call, a stub model for hook-level tests."""

from __future__ import annotations

from typing import Any

from epochal.callbacks import Callback
from epochal.callbacks.callback import HOOKS


class RecordingCallback(Callback):
    """Records (hook, index or None, sorted logs keys) for every hook, reading no values."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int | None, tuple[str, ...]]] = []


def _make_hook(name: str):
    takes_index = "batch" in name or "epoch_" in name

    if takes_index:

        def hook(self, index, logs=None):
            self.calls.append((name, index, tuple(sorted(logs or {}))))
    else:

        def hook(self, logs=None):
            self.calls.append((name, None, tuple(sorted(logs or {}))))

    hook.__name__ = name
    return hook


for _name in HOOKS:
    setattr(RecordingCallback, _name, _make_hook(_name))


class StubOptimizer:
    def __init__(self, learning_rate: float = 0.1) -> None:
        self.learning_rate = learning_rate
        self.lr = learning_rate


class StubModel:
    """What a callback may touch, without a network: for driving hooks directly."""

    def __init__(self, directions: dict[str, str] | None = None) -> None:
        self.stop_training = False
        self.optimizer = StubOptimizer()
        self.weights = [0.0]
        self.history = None
        self.directions = directions or {"loss": "down", "accuracy": "up"}
        self.rank, self.world_size, self.is_main_process = 0, 1, True

    def get_weights(self) -> list[Any]:
        return list(self.weights)

    def set_weights(self, weights: list[Any]) -> None:
        self.weights = list(weights)

    def metric_direction(self, name: str) -> str | None:
        return self.directions.get(name[4:] if name.startswith("val_") else name)
