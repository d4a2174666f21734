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

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from epochal.callbacks.callback_list import CallbackList
    from epochal.compile import CompiledMetrics
    from epochal.data import EpochIterator

__all__ = ["TrainState", "capture_rng", "restore_rng"]


def capture_rng() -> dict[str, Any]:
    """Every global random generator's state, as tensors, arrays and plain numbers."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": np.asarray(np_state[1], dtype=np.uint32),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {
            "version": int(py_version),
            "internal": np.asarray(py_internal, dtype=np.int64),
            "gauss_next": py_gauss,
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Restores what :func:`capture_rng` returned."""
    torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).cpu())
    np_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            np.asarray(np_state["keys"], dtype=np.uint32),
            int(np_state["pos"]),
            int(np_state["has_gauss"]),
            float(np_state["cached_gaussian"]),
        )
    )
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(v) for v in py["internal"]), py["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.as_tensor(s, dtype=torch.uint8) for s in state["cuda"]])


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
            epoch, its validation and ``on_epoch_end``, calls ``interrupt_run`` then
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
