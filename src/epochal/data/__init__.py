"""Inputs to ``fit``/``evaluate``/``predict``: arrays, tensors, Datasets, DataLoaders, iterables.

Two sources cover them all:

* :class:`ArraySource` — numpy arrays and tensors, placed on the device once and batched by
  index slicing (no per-sample Dataset / collate path).
* :class:`IterableSource` — a ``DataLoader`` or any iterable of ``(x, y)`` /
  ``(x, y, sample_weight)`` batches; :class:`PyDatasetSource`, one of them, a Keras
  ``PyDataset`` (batch ``i`` is ``dataset[i]``, batch order seeded when shuffled).

pandas DataFrames and Series are converted to numpy arrays once, in ``make_source``.

:class:`EpochIterator` owns the position of a run in its data: which pass over the data, how
many batches of it were consumed, and the seed of the shuffle. The order of pass ``p`` is a
function of ``(seed, p)`` alone, so resuming at ``(pass, batch)`` recomputes the
permutation and starts at ``batch * batch_size`` — no replay of the batches already seen.
"""

from epochal.data.arrays import (
    Batch,
    is_array_like,
    split_validation,
    to_tensor,
    tree_len,
    tree_map,
)
from epochal.data.epoch_iterator import EpochIterator
from epochal.data.order import EpochSampler, order_for, shard_order
from epochal.data.sources import (
    ArraySource,
    IterableSource,
    PyDatasetSource,
    make_source,
    shard_source,
    unpack_batch,
)

__all__ = [
    "ArraySource",
    "Batch",
    "EpochIterator",
    "EpochSampler",
    "IterableSource",
    "PyDatasetSource",
    "is_array_like",
    "make_source",
    "order_for",
    "shard_order",
    "shard_source",
    "split_validation",
    "to_tensor",
    "tree_len",
    "tree_map",
    "unpack_batch",
]
