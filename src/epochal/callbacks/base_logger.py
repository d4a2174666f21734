"""BaseLogger: a Keras 2 name kept so that old code imports and runs."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from epochal.callbacks.callback import Callback

__all__ = ["BaseLogger"]


class BaseLogger(Callback):
    """Keras 2's epoch-averaging callback; a no-op here.

    Keras 2 needed it because its batch logs were per-batch values. epochal's epoch logs are
    already sample-weighted means over the epoch, so there is nothing left to do. It is never
    added automatically.

    Args:
        stateful_metrics: Accepted for compatibility and ignored. Defaults to `None`.

    Example:
        >>> import warnings
        >>> from epochal.callbacks import BaseLogger
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     logger = BaseLogger()
    """

    def __init__(self, stateful_metrics: Iterable[str] | None = None) -> None:
        super().__init__()
        warnings.warn(
            "BaseLogger is a Keras 2 callback and does nothing in epochal: epoch logs are "
            "already sample-weighted means. You can remove it.",
            DeprecationWarning,
            stacklevel=2,
        )
        self.stateful_metrics = set(stateful_metrics or ())
