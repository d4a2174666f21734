"""Inputs to ``fit``/``evaluate``/``predict``: arrays, tensors, Datasets, DataLoaders, iterables.

Two sources cover them all:

* :class:`ArraySource` — numpy arrays and tensors, placed on the device once and batched by
  index slicing (no per-sample Dataset / collate path).
* :class:`IterableSource` — a ``DataLoader`` or any iterable of ``(x, y)`` /
  ``(x, y, sample_weight)`` batches.

:class:`EpochIterator` owns the position of a run in its data: which pass over the data, how
many batches of it were consumed, and the seed of the shuffle. The order of pass ``p`` is a
function of ``(seed, p)`` alone (DESIGN §2), so resuming at ``(pass, batch)`` recomputes the
permutation and starts at ``batch * batch_size`` — no replay of the batches already seen.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any

import numpy as np
import torch

__all__ = [
    "ArraySource",
    "Batch",
    "EpochIterator",
    "EpochSampler",
    "IterableSource",
    "make_source",
    "order_for",
    "shard_order",
    "shard_source",
    "split_validation",
    "tree_len",
    "tree_map",
]

Batch = tuple[Any, Any, Any]  # (x, y or None, sample_weight or None)

_MAX_DEVICE_BYTES = 2 << 30  # arrays above this stay on the host and move per batch


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """Applies ``fn`` to every array of a tensor, a list/tuple of them or a dict of them."""
    if tree is None:
        return None
    if isinstance(tree, list | tuple):
        return type(tree)(tree_map(fn, t) for t in tree)
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)


def _leaves(tree: Any) -> list[Any]:
    if tree is None:
        return []
    if isinstance(tree, list | tuple):
        return [leaf for t in tree for leaf in _leaves(t)]
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in _leaves(v)]
    return [tree]


def tree_len(tree: Any) -> int:
    """Number of samples (length of the first axis) of an array structure."""
    leaves = _leaves(tree)
    return len(leaves[0]) if leaves else 0


def is_array_like(value: Any) -> bool:
    """Arrays, tensors, or a flat list/tuple/dict of them (multi-input data).

    A list of tuples is an iterable of batches, not arrays.
    """
    arrays = (np.ndarray, torch.Tensor)
    if isinstance(value, arrays):
        return True
    if isinstance(value, dict):
        return bool(value) and all(isinstance(v, arrays) for v in value.values())
    if isinstance(value, list | tuple):
        return bool(value) and all(isinstance(v, arrays) for v in value)
    return False


def to_tensor(value: Any, *, target: bool = False) -> torch.Tensor:
    """Converts an array to a tensor with Keras' dtype rules.

    float64 becomes float32; for inputs, small integer types (uint8 images) and bools become
    float32 too; int32/int64 stay integers (labels, token ids).
    """
    tensor = torch.as_tensor(np.asarray(value) if isinstance(value, list) else value)
    if tensor.dtype == torch.float64:
        return tensor.float()
    if tensor.dtype == torch.bool or (
        not target and tensor.dtype in (torch.uint8, torch.int8, torch.int16)
    ):
        return tensor.float()
    if target and tensor.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32):
        return tensor.long()
    return tensor


def _converted_nbytes(value: Any) -> int:
    """About the bytes ``to_tensor(value)`` will take, without a throw-away conversion."""
    array = np.asarray(value) if isinstance(value, list) else value
    count = array.numel() if isinstance(array, torch.Tensor) else int(np.prod(np.shape(array)))
    dtype = str(array.dtype).replace("torch.", "")
    if dtype in ("float64", "bool", "uint8", "int8", "int16"):
        return 4 * count  # converted to float32
    itemsize = array.element_size() if isinstance(array, torch.Tensor) else array.dtype.itemsize
    return itemsize * count


def split_validation(x: Any, y: Any, sample_weight: Any, split: float) -> tuple[Batch, Batch]:
    """Holds out the *last* ``split`` fraction of the samples (before any shuffling), as Keras.

    Raises:
        ValueError: when ``split`` is outside ``(0, 1)`` or leaves no train or no validation
            sample.
    """
    if not 0.0 < split < 1.0:
        raise ValueError(
            f"`validation_split` must be in (0, 1). Received: validation_split={split}"
        )
    n = tree_len(x)
    at = math.floor(n * (1.0 - split))
    if at == 0 or at == n:
        raise ValueError(
            f"validation_split={split} on {n} samples leaves {at} training and {n - at} "
            "validation samples; both must be at least 1."
        )

    def head(t: Any) -> Any:
        return t[:at]

    def tail(t: Any) -> Any:
        return t[at:]

    return (
        (tree_map(head, x), tree_map(head, y), tree_map(head, sample_weight)),
        (tree_map(tail, x), tree_map(tail, y), tree_map(tail, sample_weight)),
    )


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
        if order is None:

            def take(t: torch.Tensor) -> torch.Tensor:
                return t[start:stop]
        else:
            idx = order[start:stop]

            def take(t: torch.Tensor) -> torch.Tensor:
                return t.index_select(0, idx)

        batch = (tree_map(take, self.x), tree_map(take, self.y), tree_map(take, self.sample_weight))
        if self._per_batch_copy:
            return tree_map(lambda t: t.to(self.device, non_blocking=True), batch)
        return batch

    def iterate(self, seed: int, pass_index: int, start: int) -> Iterator[Batch]:
        order = self.order(seed, pass_index)
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
    """A DataLoader or any iterable of batches; re-iterated once per pass."""

    def __init__(self, iterable: Iterable[Any], device: torch.device) -> None:
        self.iterable = iterable
        self.device = device
        self.sampler = _epoch_sampler(iterable)
        self.seekable = self.sampler is not None
        self.batch_size = getattr(iterable, "batch_size", None)
        self._warned_replay = False

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
        for _ in range(start):  # only for loaders whose order we do not control
            next(iterator, None)
        for raw in iterator:
            x, y, sample_weight = unpack_batch(raw)
            yield self._to_device(x), self._to_device(y), self._to_device(sample_weight)


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
    """
    if isinstance(x, torch.utils.data.Dataset) and not isinstance(
        x, torch.utils.data.IterableDataset
    ):
        if y is not None:
            raise ValueError("When `x` is a Dataset, `y` must be None: the Dataset yields targets.")
        dataset = x
        sampler = EpochSampler(dataset, shuffle=shuffle, seed=seed)  # type: ignore[arg-type]
        sampler.follow_seed = True
        x = torch.utils.data.DataLoader(dataset, batch_size=batch_size or 32, sampler=sampler)
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
        "`x` must be a numpy array, a torch tensor, a list/tuple/dict of them, a "
        f"torch Dataset, a DataLoader or an iterable of batches. Received: {type(x).__name__}"
    )


class EpochIterator:
    """Hands out the batches of each epoch and owns the run's position in the data.

    With ``steps_per_epoch`` smaller than the data, the iterator continues across epochs
    (Keras); when the data runs out, the epoch ends early with a warning and the next epoch
    starts a new pass.

    State (``state_dict``): ``seed``, ``pass_index`` (passes started so far), ``cursor``
    (batches consumed in the current pass).
    """

    def __init__(
        self,
        source: ArraySource | IterableSource,
        steps_per_epoch: int | None = None,
        seed: int = 0,
    ) -> None:
        if steps_per_epoch is not None and (
            isinstance(steps_per_epoch, bool)
            or not isinstance(steps_per_epoch, int)
            or steps_per_epoch <= 0
        ):
            raise ValueError(
                "`steps_per_epoch` must be a positive integer or None. "
                f"Received: steps_per_epoch={steps_per_epoch!r}"
            )
        self.source = source
        self.steps_per_epoch = steps_per_epoch
        self.seed = int(seed)
        self.pass_index = 0
        self.cursor = 0
        self._iterator: Iterator[Batch] | None = None
        self._warned_unseekable = False
        self._skip_to_boundary = False

    @property
    def steps(self) -> int | None:
        """Batches per epoch, when known (``params["steps"]``)."""
        return self.steps_per_epoch or self.source.num_batches

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "pass_index": self.pass_index, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed = int(state["seed"])
        self.pass_index = int(state["pass_index"])
        self.cursor = int(state["cursor"])
        self._iterator = None
        # An input whose order we do not control cannot be rewound to the cursor: the run
        # continues at the next epoch boundary instead of replaying the batches seen.
        self._skip_to_boundary = self.cursor > 0 and not self.source.seekable

    def _open(self) -> Iterator[Batch]:
        return self.source.iterate(self.seed, self.pass_index, self.cursor)

    def _resume_at_boundary(self) -> None:
        self._skip_to_boundary = False
        if not self._warned_unseekable:
            self._warned_unseekable = True
            warnings.warn(
                "Resuming mid-epoch needs an input whose order epochal controls (arrays, a "
                "Dataset, or a DataLoader with an epochal.data.EpochSampler); this one cannot "
                "be rewound, so training resumes at the next epoch boundary.",
                stacklevel=4,
            )
        self._new_pass()

    def epoch(self, start_step: int = 0) -> Iterator[tuple[int, Batch]]:
        """Yields ``(step, batch)`` for one epoch; ``step`` restarts at 0 every epoch, or
        at ``start_step`` when resuming an epoch (the data position comes from the state)."""
        if self._skip_to_boundary:
            self._resume_at_boundary()
            if start_step:
                return
        if self.steps_per_epoch is None:
            yield from self._full_pass()
            return
        step = start_step
        while step < self.steps_per_epoch:
            if self._iterator is None:
                self._iterator = self._open()
            batch = next(self._iterator, None)
            if batch is None:
                self._new_pass()
                warnings.warn(
                    "Your input ran out of data; interrupting training. Make sure that your "
                    "dataset or generator can generate at least `steps_per_epoch * epochs` "
                    "batches.",
                    stacklevel=2,
                )
                return
            self.cursor += 1
            yield step, batch
            step += 1
            if self.source.num_batches is not None and self.cursor >= self.source.num_batches:
                self._new_pass()
                if step < self.steps_per_epoch:
                    warnings.warn(
                        "Your input ran out of data; interrupting training. Make sure that "
                        "your dataset or generator can generate at least "
                        "`steps_per_epoch * epochs` batches.",
                        stacklevel=2,
                    )
                return

    def _full_pass(self) -> Iterator[tuple[int, Batch]]:
        step = self.cursor
        for batch in self._open():
            self.cursor = step + 1
            yield step, batch
            step += 1
        self._new_pass()

    def _new_pass(self) -> None:
        self.pass_index += 1
        self.cursor = 0
        self._iterator = None

    def first_batch(self) -> Batch:
        """A batch to build the model from, without moving the iterator."""
        return next(iter(self.source.iterate(self.seed, 0, 0)))
