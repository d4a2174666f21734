"""TrainState: the documented channel between the loop and the callbacks.

``model.train_state`` tells where a run is (``epoch``, ``step``), and its
:meth:`TrainState.state_dict` captures, at one instant, everything the loop owns that
decides the next step: the position in the data and the shuffle seed, the running metric
sums of the current epoch, every random number generator (torch CPU and CUDA, numpy,
Python ``random``), and the state of each callback of the run. Weights and optimizer state
belong to the model and its optimizer (``model.state_dict()``). ``BackupAndRestore`` writes
both; :meth:`TrainState.load_state_dict` puts the loop back exactly where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from epochal._rng import capture_rng, restore_rng

if TYPE_CHECKING:
    from epochal.callbacks.callback_list import CallbackList
    from epochal.data import EpochIterator
    from epochal.engine.metrics_tracker import CompiledMetrics

__all__ = ["TrainState", "capture_rng", "restore_rng"]


@dataclass
class TrainState:
    """Where a ``fit`` run is, and the loop-owned state needed to continue it exactly.

    Attributes:
        epoch: Index of the epoch running (or about to run). 0-based, absolute.
        step: Batches of that epoch already done.
        initial_epoch: First epoch of the run. A callback that restores a run (in
            ``on_train_begin``) changes ``epoch``/``step`` through :meth:`load_state_dict`.
        epochs: Final epoch index (exclusive), as passed to ``fit``.
        resumed: Whether :meth:`load_state_dict` was called since the run started.
        interrupt_requested: Set by a callback (``BackupAndRestore`` on SIGTERM/Ctrl-C) to
            end ``fit`` after the current training step: the loop skips the rest of the
            epoch, its validation and ``on_epoch_end``, calls the run guards' ``interrupt_run`` then
            ``on_train_end``. Set on one rank, it is agreed by all (like ``stop_training``).
    """

    epoch: int = 0
    step: int = 0
    initial_epoch: int = 0
    epochs: int = 0
    resumed: bool = False
    interrupt_requested: bool = False
    data: EpochIterator | None = field(default=None, repr=False)
    metrics: CompiledMetrics | None = field(default=None, repr=False)
    callbacks: CallbackList | None = field(default=None, repr=False)

    def state_dict(self, *, include_callbacks: bool = True) -> dict[str, Any]:
        """Captures the loop's state now (position, data order, metrics, RNG, callbacks)."""
        state: dict[str, Any] = {
            "epoch": self.epoch,
            "step": self.step,
            "rng": capture_rng(),
        }
        if self.data is not None:
            state["data"] = self.data.state_dict()
        if self.metrics is not None:
            state["metrics"] = self.metrics.state_dict()
        if include_callbacks and self.callbacks is not None:
            state["callbacks"] = self.callbacks.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Puts the run back where :meth:`state_dict` was taken."""
        self.epoch = int(state["epoch"])
        self.step = int(state["step"])
        if self.data is not None and "data" in state:
            self.data.load_state_dict(state["data"])
        if self.metrics is not None and "metrics" in state:
            self.metrics.load_state_dict(state["metrics"])
        if self.callbacks is not None and "callbacks" in state:
            self.callbacks.load_state_dict(state["callbacks"])
        if "rng" in state:
            restore_rng(state["rng"])
        self.resumed = True
