"""Sources of batches: arrays batched by index on the device, any iterable of batches, or a
Keras ``PyDataset`` (batches by index, in a seeded order)."""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from epochal.data.arrays import (
    _MAX_DEVICE_BYTES,
    Batch,
    _converted_nbytes,
    _leaves,
    from_pandas,
    is_array_like,
    to_tensor,
    tree_len,
    tree_map,
)
from epochal.data.order import EpochSampler, _shard_len, order_for, shard_order
from epochal.utils.py_dataset import PyDataset


class ArraySource:
    """In-memory arrays batched by slicing tensors that already sit on the device."""

    seekable = True

    def __init__(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        *,
        batch_size: int,
        shuffle: bool,
        device: torch.device,
    ) -> None:
        n = tree_len(x)
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None and tree_len(value) != n:
                raise ValueError(
                    f"`x` and `{name}` must have the same number of samples. "
                    f"Received: x has {n}, {name} has {tree_len(value)}."
                )
        if n == 0:
            raise ValueError("`x` is empty: there is nothing to train or evaluate on.")
        self.num_samples = n
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        size = sum(_converted_nbytes(leaf) for leaf in _leaves((x, y, sample_weight)))
        self.device = device
        home = device if size <= _MAX_DEVICE_BYTES else torch.device("cpu")
        self._per_batch_copy = home != device
        self.x = tree_map(lambda t: to_tensor(t).to(home), x)
        self.y = tree_map(lambda t: to_tensor(t, target=True).to(home), y)
        self.sample_weight = tree_map(lambda t: to_tensor(t).float().to(home), sample_weight)
        self.shard: tuple[int, int, bool] | None = None  # (rank, world_size, pad) when split

    @property
    def local_samples(self) -> int:
        """Samples this process iterates per pass (its shard when split between ranks)."""
        return _shard_len(self.num_samples, self.shard)

    @property
    def num_batches(self) -> int:
        return math.ceil(self.local_samples / self.batch_size)

    def order(self, seed: int, pass_index: int) -> torch.Tensor | None:
        if self.shard is not None:
            rank, world_size, pad = self.shard
            if self.shuffle:
                full = order_for(self.num_samples, seed, pass_index)
            else:
                full = torch.arange(self.num_samples)
            return shard_order(full, rank, world_size, pad=pad).to(self.x_device)
        if not self.shuffle:
            return None
        return order_for(self.num_samples, seed, pass_index).to(self.x_device)

    @property
    def x_device(self) -> torch.device:
        leaves = _leaves(self.x)
        return leaves[0].device

    def batch(self, order: torch.Tensor | None, index: int) -> Batch:
        start = index * self.batch_size
        size = self.local_samples if order is not None else self.num_samples
        stop = min(start + self.batch_size, size)
        x, y, sample_weight = self.x, self.y, self.sample_weight
        if order is None:

            def take(t: torch.Tensor) -> torch.Tensor:
                return t[start:stop]
        else:
            idx = order[start:stop]

            def take(t: torch.Tensor) -> torch.Tensor:
                return t.index_select(0, idx)

        batch = (tree_map(take, x), tree_map(take, y), tree_map(take, sample_weight))
        if self._per_batch_copy:
            return tree_map(lambda t: t.to(self.device, non_blocking=True), batch)
        return batch

    def first_batch(self, seed: int) -> Batch:
        """The first batch of the first pass, to build the model from."""
        return self.batch(self.order(seed, 0), 0)

    def iterate(self, seed: int, pass_index: int, start: int) -> Iterator[Batch]:
        order = self.order(seed, pass_index)
        x, y, size = self.x, self.y, self.batch_size
        if (
            order is not None
            and not self._per_batch_copy
            and self.sample_weight is None
            and type(x) is torch.Tensor
            and type(y) is torch.Tensor
        ):  # the common case, sliced here without a call per batch
            order = order[: self.local_samples]
            for index in range(start, self.num_batches):
                idx = order[index * size : (index + 1) * size]
                yield x.index_select(0, idx), y.index_select(0, idx), None
            return
        for index in range(start, self.num_batches):
            yield self.batch(order, index)


def unpack_batch(batch: Any) -> Batch:
    """Splits a batch into ``(x, y, sample_weight)`` following Keras' rules for tuples."""
    if isinstance(batch, list | tuple):
        if len(batch) == 1:
            return batch[0], None, None
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch[0], batch[1], batch[2]
        raise ValueError(
            "Each batch must be `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`. "
            f"Received a {type(batch).__name__} of length {len(batch)}."
        )
    return batch, None, None


class IterableSource:
    """A DataLoader or any iterable of batches; re-iterated once per pass.

    A one-shot iterator (a generator, ``iter(batches)``) cannot be re-iterated: the batch
    :meth:`first_batch` takes from it to build the model is kept and handed out again as
    the first batch of the next pass, so no batch is lost.
    """

    def __init__(self, iterable: Iterable[Any], device: torch.device) -> None:
        self.iterable = iterable
        self.device = device
        self.sampler = _epoch_sampler(iterable)
        self.seekable = self.sampler is not None
        self.batch_size = getattr(iterable, "batch_size", None)
        self._warned_replay = False
        self._one_shot = isinstance(iterable, Iterator)
        self._peeked: list[Any] = []  # the raw batch first_batch took from a one-shot input

    @property
    def num_batches(self) -> int | None:
        try:
            return len(self.iterable)  # type: ignore[arg-type]
        except TypeError:
            return None

    def _to_device(self, value: Any) -> Any:
        def move(t: Any) -> Any:
            tensor = t if isinstance(t, torch.Tensor) else to_tensor(t)
            return tensor.to(self.device, non_blocking=True)

        return tree_map(move, value)

    def iterate(self, seed: int, pass_index: int, start: int) -> Iterator[Batch]:
        sampler = self.sampler
        if sampler is not None:
            if sampler.follow_seed:
                sampler.seed = seed
            sampler.set_epoch(pass_index)
            if start and self.batch_size:
                sampler.set_start(start * self.batch_size)
                start = 0
        else:
            set_epoch = getattr(getattr(self.iterable, "sampler", None), "set_epoch", None)
            if callable(set_epoch):
                set_epoch(pass_index)
        iterator = iter(self.iterable)
        if self._peeked:  # put back the batch first_batch took from a one-shot iterator
            iterator = itertools.chain([self._peeked.pop()], iterator)
        for _ in range(start):  # only for loaders whose order we do not control
            next(iterator, None)
        for raw in iterator:
            yield self._device_batch(raw)

    def first_batch(self, seed: int) -> Batch:
        """The first batch, to build the model from; a one-shot input keeps it for the loop.

        Raises:
            ValueError: when the input yields no batch at all.
        """
        if self._one_shot and not self._peeked:
            self._peeked.extend(itertools.islice(self.iterable, 1))
        if self._one_shot:
            raw = self._peeked[0] if self._peeked else None
            batch = None if raw is None else self._device_batch(raw)
        else:
            batch = next(self.iterate(seed, 0, 0), None)
        if batch is None:
            raise ValueError(
                "The input yielded no batch: there is nothing to train or evaluate on."
            )
        return batch

    def _device_batch(self, raw: Any) -> Batch:
        x, y, sample_weight = unpack_batch(raw)
        return self._to_device(x), self._to_device(y), self._to_device(sample_weight)


def _standardize(raw: Any) -> Batch:
    if isinstance(raw, dict):
        return raw, None, None
    if isinstance(raw, np.ndarray | torch.Tensor):
        return raw, None, None
    if not isinstance(raw, list | tuple) or len(raw) not in (1, 2, 3):
        raise ValueError(
            "PyDataset.__getitem__() must return a tuple or a dict: (inputs,), "
            "(inputs, targets) or (inputs, targets, sample_weights). "
            f"Received: {str(raw)[:100]}... of type {type(raw).__name__}"
        )
    return unpack_batch(tuple(raw))


class _Batches(torch.utils.data.Dataset[Any]):
    """The PyDataset seen by a DataLoader: item ``i`` is batch ``i``."""

    def __init__(self, dataset: PyDataset) -> None:
        self.dataset = dataset

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index]


class PyDatasetSource(IterableSource):
    """Batches of a :class:`~epochal.utils.PyDataset`, in a seeded order when shuffled."""

    def __init__(self, dataset: PyDataset, *, shuffle: bool, device: torch.device) -> None:
        super().__init__([], device)
        self.iterable = dataset
        self.dataset = dataset
        self.shuffle = bool(shuffle)
        self.seekable = True
        self.batch_size = None
        self.shard: tuple[int, int, bool] | None = None
        self._open_pass = False
        workers, processes = dataset.workers, dataset.use_multiprocessing
        queue = dataset.max_queue_size
        for name, value, low in (("workers", workers, 0), ("max_queue_size", queue, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"PyDataset `{name}` must be an int >= {low}. Received: {name}={value!r}"
                )
        self._workers = workers
        self._processes = bool(processes) and workers > 0
        self._queue = queue

    @property
    def total_batches(self) -> int | None:
        return self.dataset.num_batches

    @property
    def num_batches(self) -> int | None:
        total = self.total_batches
        return None if total is None else _shard_len(total, self.shard)

    def set_shard(self, rank: int, world_size: int, pad: bool) -> None:
        """Splits the batches between ranks (every ``world_size``-th batch of the order)."""
        if self.total_batches is None:
            raise ValueError("An endless PyDataset (num_batches=None) cannot be split.")
        self.shard = (rank, world_size, pad)

    def _order(self, seed: int, pass_index: int) -> list[int] | None:
        total = self.total_batches
        if total is None:
            return None
        if self.shuffle:
            order = order_for(total, seed, pass_index)
        else:
            order = torch.arange(total)
        if self.shard is not None:
            rank, world_size, pad = self.shard
            order = shard_order(order, rank, world_size, pad=pad)
        return [int(i) for i in order.tolist()]

    def _raw(self, indices: list[int] | None, start: int) -> Iterator[Any]:
        if indices is None:
            stream: Iterator[int] = itertools.count(start)
        else:
            indices = indices[start:]
            stream = iter(indices)
        if self._workers <= 1 and not self._processes:
            for index in stream:
                yield self.dataset[index]
            return
        if self._processes and indices is not None:
            loader = torch.utils.data.DataLoader(
                _Batches(self.dataset),
                batch_size=None,
                sampler=indices,
                num_workers=self._workers,
                prefetch_factor=max(1, math.ceil(self._queue / self._workers)),
            )
            yield from loader
            return
        with ThreadPoolExecutor(max_workers=max(self._workers, 1)) as pool:
            pending: deque[Future[Any]] = deque()
            for index in itertools.islice(stream, self._queue):
                pending.append(pool.submit(self.dataset.__getitem__, index))
            while pending:
                raw = pending.popleft().result()
                for index in itertools.islice(stream, 1):
                    pending.append(pool.submit(self.dataset.__getitem__, index))
                yield raw

    def iterate(self, seed: int, pass_index: int, start: int) -> Iterator[Batch]:
        if self._open_pass:  # a pass cut short by steps_per_epoch still ends
            self._end_pass()
        self._open_pass = True
        self.dataset.on_epoch_begin()
        try:
            for raw in self._raw(self._order(seed, pass_index), start):
                yield self._device_batch(raw)
        except GeneratorExit:
            self._end_pass()
            raise
        self._end_pass()

    def _end_pass(self) -> None:
        if self._open_pass:
            self._open_pass = False
            self.dataset.on_epoch_end()

    def first_batch(self, seed: int) -> Batch:
        order = self._order(seed, 0)
        if order is not None and not order:
            raise ValueError(
                "The PyDataset has no batch: there is nothing to train or evaluate on."
            )
        return self._device_batch(self.dataset[order[0] if order is not None else 0])

    def _device_batch(self, raw: Any) -> Batch:
        x, y, sample_weight = _standardize(raw)
        return self._to_device(x), self._to_device(y), self._to_device(sample_weight)


def shard_source(
    source: ArraySource | IterableSource, rank: int, world_size: int, *, pad: bool
) -> bool:
    """Restricts ``source`` to rank ``rank``'s share; returns whether it could be split.

    Arrays are split by index; a DataLoader with an :class:`EpochSampler` gets its sampler
    split; one with a ``DistributedSampler`` (anything with ``num_replicas``) is already
    split; a DataLoader over a map-style Dataset with the default batching is rebuilt around
    a split :class:`EpochSampler` (shuffled when its sampler was random). Other iterables
    cannot be split.
    """
    if isinstance(source, ArraySource):
        source.shard = (rank, world_size, pad)
        return True
    set_shard = getattr(source, "set_shard", None)  # a source that splits itself
    if callable(set_shard):
        set_shard(rank, world_size, pad)
        return True
    loader = source.iterable
    if source.sampler is not None:
        source.sampler.set_shard(rank, world_size, pad)
        return True
    if not isinstance(loader, torch.utils.data.DataLoader):
        return False
    if hasattr(loader.sampler, "num_replicas"):
        return True
    dataset = loader.dataset
    if isinstance(dataset, torch.utils.data.IterableDataset) or loader.batch_size is None:
        return False
    shuffled = isinstance(loader.sampler, torch.utils.data.RandomSampler)
    sampler = EpochSampler(dataset, shuffle=shuffled)  # type: ignore[arg-type]
    sampler.follow_seed = True
    sampler.set_shard(rank, world_size, pad)
    source.iterable = torch.utils.data.DataLoader(
        dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        persistent_workers=loader.persistent_workers,
    )
    source.sampler = sampler
    source.seekable = True
    return True


def _epoch_sampler(iterable: Any) -> EpochSampler | None:
    if not isinstance(iterable, torch.utils.data.DataLoader):
        return None
    sampler = iterable.sampler
    if isinstance(sampler, EpochSampler):
        return sampler
    batch_sampler = getattr(iterable, "batch_sampler", None)
    inner = getattr(batch_sampler, "sampler", None)
    return inner if isinstance(inner, EpochSampler) else None


def _is_number_list(value: Any) -> bool:
    """A (nested) Python list of numbers, which Keras treats as an array."""
    if not isinstance(value, list):
        return False
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, int | float) and not isinstance(value, bool)


def make_source(
    x: Any,
    y: Any,
    sample_weight: Any,
    *,
    batch_size: int | None,
    shuffle: bool,
    device: torch.device,
    seed: int = 0,
) -> ArraySource | IterableSource:
    """Chooses the source for ``x``.

    Raises:
        ValueError: ``y`` or ``sample_weight`` given with a DataLoader/iterable (they belong
            inside the batches), or x/y lengths that differ.
        TypeError: an input that is neither arrays nor an iterable of batches.

    pandas DataFrames / Series become numpy arrays here, once (Keras' conversion); a
    :class:`~epochal.utils.PyDataset` becomes a :class:`PyDatasetSource`.
    """
    if isinstance(x, PyDataset):
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                raise ValueError(
                    f"`{name}` must be None when `x` is a PyDataset: its batches hold the "
                    "targets and sample weights."
                )
        return PyDatasetSource(x, shuffle=shuffle, device=device)
    if isinstance(x, torch.utils.data.Dataset) and not isinstance(
        x, torch.utils.data.IterableDataset
    ):
        if y is not None:
            raise ValueError("When `x` is a Dataset, `y` must be None: the Dataset yields targets.")
        dataset = x
        sampler = EpochSampler(dataset, shuffle=shuffle, seed=seed)  # type: ignore[arg-type]
        sampler.follow_seed = True
        x = torch.utils.data.DataLoader(dataset, batch_size=batch_size or 32, sampler=sampler)
    x, y, sample_weight = from_pandas(x), from_pandas(y), from_pandas(sample_weight)
    if _is_number_list(x):
        x = np.asarray(x)
        y = np.asarray(y) if _is_number_list(y) else y
    if is_array_like(x):
        return ArraySource(
            x, y, sample_weight, batch_size=batch_size or 32, shuffle=shuffle, device=device
        )
    if isinstance(x, Iterable) and not isinstance(x, str | bytes | dict):
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                raise ValueError(
                    f"`{name}` must be None when `x` is a DataLoader or an iterable of batches; "
                    f"yield `(x, y)` or `(x, y, sample_weight)` batches instead."
                )
        return IterableSource(x, device)
    raise TypeError(
        "`x` must be a numpy array, a torch tensor, a pandas DataFrame/Series, a list/tuple/"
        "dict of them, a PyDataset, a torch Dataset, a DataLoader or an iterable of batches. "
        f"Received: {type(x).__name__}"
    )
