"""Process-group awareness: the only module that knows about torch.distributed.

A :class:`Strategy` tells the loop how many processes share the work and how to agree on
things. :class:`LocalStrategy` is the single-process default: every method is free.
"""

from __future__ import annotations

from typing import Any

import torch

from epochal.metrics import Metric

__all__ = ["LocalStrategy", "Strategy", "current_strategy"]


class Strategy:
    """How a run is spread over processes. Methods must be called on every rank alike."""

    rank = 0
    world_size = 1
    local_rank = 0

    @property
    def is_main_process(self) -> bool:
        return self.rank == 0

    def wrap_module(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The module the training step calls (a DDP wrapper when distributed)."""
        return module

    def any_flag(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (used to agree on ``stop_training``)."""
        return flag

    def reduce_metrics(self, metrics: list[Metric]) -> list[Metric]:
        """Merges the metric accumulators of every rank (sums and counts)."""
        return metrics

    def broadcast_seed(self, seed: int) -> int:
        return seed

    def barrier(self) -> None:
        """Waits for every rank."""

    def shard(self, order: Any, num_samples: int) -> Any:
        return order

    def gather_predictions(self, outputs: Any) -> Any:
        """Every rank's predictions, in input order (numpy)."""
        return outputs


class LocalStrategy(Strategy):
    """One process: nothing to share."""


def current_strategy() -> Strategy:
    """The strategy for this process: distributed when a process group is initialised."""
    return LocalStrategy()
