"""Data order as a function of ``(seed, pass)``, and its shards per rank."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import torch


def order_for(num_samples: int, seed: int, pass_index: int) -> torch.Tensor:
    """The shuffle order of pass ``pass_index``: a function of ``(seed, pass_index)`` only."""
    generator = torch.Generator()
    generator.manual_seed((seed * 1_000_003 + pass_index * 7_919) % (2**63 - 1))
    return torch.randperm(num_samples, generator=generator)


def shard_order(order: torch.Tensor, rank: int, world_size: int, *, pad: bool) -> torch.Tensor:
    """Rank ``rank``'s share of ``order``: every ``world_size``-th index, from ``rank``.

    With ``pad``, the order is first extended with its own first indices to a multiple of
    ``world_size`` (as ``DistributedSampler``), so every rank gets the same number.
    """
    if pad and len(order) % world_size:
        extra = world_size - len(order) % world_size
        order = torch.cat([order, order.repeat(math.ceil(extra / len(order)))[:extra]])
    return order[rank::world_size]


def _shard_len(num_samples: int, shard: tuple[int, int, bool] | None) -> int:
    if shard is None:
        return num_samples
    rank, world_size, pad = shard
    return math.ceil(num_samples / world_size) if pad else len(range(rank, num_samples, world_size))


class EpochSampler(torch.utils.data.Sampler[int]):
    """A sampler whose order is a function of ``(seed, epoch)``, and that can start mid-epoch.

    ``fit`` uses it for ``Dataset`` inputs; pass it to your own ``DataLoader`` to get exact
    mid-epoch resume without replaying the batches already seen.

    Args:
        data_source: The dataset (only its length is used).
        shuffle: Whether to permute. Defaults to `True`.
        seed: Seed of the permutations. Defaults to `0`.
    """

    def __init__(self, data_source: Sized, shuffle: bool = True, seed: int = 0) -> None:
        self.num_samples = len(data_source)
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.start = 0
        self.shard: tuple[int, int, bool] | None = None
        self.follow_seed = False  # made by epochal: takes the run's seed at each pass

    def set_shard(self, rank: int, world_size: int, pad: bool) -> None:
        """Yields only rank ``rank``'s share of each epoch's order (see :func:`shard_order`)."""
        self.shard = (rank, world_size, pad)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_start(self, start: int) -> None:
        """Skips the first ``start`` samples of the current epoch's order (once)."""
        self.start = start

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            indices = order_for(self.num_samples, self.seed, self.epoch)
        else:
            indices = torch.arange(self.num_samples)
        if self.shard is not None:
            rank, world_size, pad = self.shard
            indices = shard_order(indices, rank, world_size, pad=pad)
        order = indices.tolist()
        start, self.start = self.start, 0
        return iter(order[start:])

    def __len__(self) -> int:
        return _shard_len(self.num_samples, self.shard)
