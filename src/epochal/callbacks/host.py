"""``CallbackHost``: what a callback may see of the model it is attached to.

The protocol is owned by the callbacks' side: the loop hands every callback an object that
satisfies it (an :class:`epochal.Model`), and nothing in :mod:`epochal.callbacks` relies on
more. Type your own callbacks with it, or stub it in tests.

Example:
    >>> from epochal.callbacks import CallbackHost
    >>> import epochal, torch
    >>> isinstance(epochal.Model(torch.nn.Linear(2, 1), device="cpu"), CallbackHost)
    True
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["CallbackHost", "Stateful", "TrainStateView"]


@runtime_checkable
class Stateful(Protocol):
    """Anything whose state a backup can take and give back."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> Any: ...


class TrainStateView(Protocol):
    """What a callback reads of ``model.train_state`` (see :class:`epochal.engine.TrainState`).

    ``epoch``/``step`` tell where the run is; ``resumed`` whether a backup was just
    restored; a callback sets ``interrupt_requested`` to end ``fit`` after the current step.
    ``evaluation`` names the set whose ``on_test_*`` hooks are running inside ``fit``
    (``"val"``, or a key of ``evaluation_data``; `None` otherwise), ``evaluation_sets`` the
    keys of ``evaluation_data``.
    """

    epoch: int
    step: int
    initial_epoch: int
    epochs: int
    resumed: bool
    interrupt_requested: bool
    evaluation: str | None
    evaluation_sets: tuple[str, ...]

    def state_dict(self, *, include_callbacks: bool = True) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class CallbackHost(Protocol):
    """The model as a callback sees it (``self.model`` inside a callback).

    Attributes:
        stop_training: Set to `True` to end ``fit`` after the current batch.
        stop_evaluating / stop_predicting: The same for ``evaluate`` / ``predict``.
        history: The :class:`~epochal.callbacks.History` of the current ``fit``.
        name: The model's name.
        optimizer: The compiled optimizer (``learning_rate`` settable), or `None`.
        module: The ``torch.nn.Module`` being trained.
        device: Where it trains.
        train_state: Where the run is (:class:`TrainStateView`).
        example_input: The ``x`` of the first batch of the current call, or `None`.
        rank / world_size / is_main_process: The process's place in a distributed run.
        strategy: The distribution strategy (collectives a callback may need).
    """

    stop_training: bool
    stop_evaluating: bool
    stop_predicting: bool
    history: Any
    name: str

    @property
    def optimizer(self) -> Any: ...

    @property
    def module(self) -> torch.nn.Module: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def train_state(self) -> TrainStateView: ...

    @property
    def example_input(self) -> Any: ...

    @property
    def rank(self) -> int: ...

    @property
    def world_size(self) -> int: ...

    @property
    def is_main_process(self) -> bool: ...

    @property
    def strategy(self) -> Any: ...

    def get_weights(self) -> list[Any]: ...

    def set_weights(self, weights: Sequence[Any]) -> None: ...

    def state_dict(self) -> dict[str, torch.Tensor]: ...

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None: ...

    def metric_direction(self, name: str) -> str | None: ...

    def snapshot(self) -> Mapping[str, Stateful]: ...

    def save(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None: ...

    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None: ...

    def load_weights(self, filepath: str | os.PathLike[str]) -> None: ...
