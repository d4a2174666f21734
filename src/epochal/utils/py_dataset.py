"""``PyDataset`` (alias ``Sequence``): a dataset of whole batches, indexed by batch number.

Keras' protocol: ``__getitem__(index)`` returns batch ``index`` (``x``, ``(x,)``,
``(x, y)`` or ``(x, y, sample_weight)``), ``__len__`` (or ``num_batches``) the number of
batches, and ``on_epoch_begin`` / ``on_epoch_end`` are called around every pass. ``fit``
shuffles the *order of the batches* when ``shuffle=True``, never their contents. Pass an
instance as ``x`` to ``fit`` / ``evaluate`` / ``predict`` (``epochal.data`` adapts it).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from typing import Any

__all__ = ["PyDataset", "Sequence"]


class PyDataset:
    """Base class of batch datasets for ``fit`` (Keras' ``keras.utils.PyDataset``).

    Args:
        workers: Batches prepared in parallel: with ``use_multiprocessing=False`` by that many
            threads, else by that many worker processes (a torch ``DataLoader``). `1` reads
            them in the training process, in order.
        use_multiprocessing: Use processes rather than threads for ``workers > 1``. The
            dataset is copied into each worker (fork), so it must not hold unpicklable state
            on platforms that spawn.
        max_queue_size: Batches prepared ahead at most, `10` by default.

    Subclasses call ``super().__init__(**kwargs)``; one that does not gets Keras' warning
    and the defaults.
    """

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ) -> None:
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _defaults_if_super_not_called(self) -> None:
        missing = False
        for name, default in (
            ("_workers", 1),
            ("_use_multiprocessing", False),
            ("_max_queue_size", 10),
        ):
            if not hasattr(self, name):
                setattr(self, name, default)
                missing = True
        if missing:
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                "`max_queue_size`. Do not pass these arguments to `fit()`, as they will be "
                "ignored.",
                stacklevel=3,
            )

    @property
    def workers(self) -> int:
        self._defaults_if_super_not_called()
        return int(self._workers)

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        self._defaults_if_super_not_called()
        return bool(self._use_multiprocessing)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        self._defaults_if_super_not_called()
        return int(self._max_queue_size)

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = value

    def __getitem__(self, index: int) -> Any:
        """Batch number ``index``."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index).")

    @property
    def num_batches(self) -> int | None:
        """The number of batches (``len(self)``); `None` for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must implement `__len__` or the `num_batches` property."
        )

    def __iter__(self) -> Iterator[Any]:
        try:
            count = self.num_batches
        except NotImplementedError:
            count = None
        indices = itertools.count() if count is None else range(count)
        for index in indices:
            yield self[index]

    def on_epoch_begin(self) -> None:
        """Called before the first batch of every pass."""

    def on_epoch_end(self) -> None:
        """Called after the last batch of every pass (shuffle your samples here)."""


Sequence = PyDataset
