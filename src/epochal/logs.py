"""The ``logs`` dictionaries handed to callbacks, and the one place values leave the device.

Per-step loss and metric values stay on the device as running sums. A hook receives a
:class:`Logs` mapping whose keys are known at once but whose values are turned into Python
floats only when somebody reads one of them; then every pending value of that mapping is
fetched in a single transfer (:func:`to_python`). A run whose callbacks never read batch logs
therefore never synchronises host and device per step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["Logs", "convert_logs", "to_python"]


class _Pending:
    """Placeholder stored for a value that has not been fetched yet."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<pending value: read it through the Logs mapping>"


_PENDING = _Pending()


def to_python(values: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Turns 0-d tensors into Python floats with one device-to-host copy; a metric with
    several values (``F1Score(average=None)``, a list of ``thresholds``) becomes a float32
    numpy array, as Keras logs it.

    This is the single synchronisation point of the training loop: everything a callback
    reads as a number comes through here.
    """
    if not values:
        return {}
    keys = list(values)
    flat = [values[k].detach().float().reshape(-1) for k in keys]
    if all(f.numel() == 1 for f in flat):
        stacked = torch.stack([f.reshape(()) for f in flat])
        return dict(zip(keys, stacked.tolist(), strict=True))
    host = torch.cat([f.to(flat[0].device) for f in flat]).tolist()
    out: dict[str, Any] = {}
    start = 0
    for key, part in zip(keys, flat, strict=True):
        chunk = host[start : start + part.numel()]
        start += part.numel()
        if part.numel() == 1:
            out[key] = chunk[0]
        else:
            out[key] = np.asarray(chunk, dtype=np.float32).reshape(tuple(values[key].shape))
    return out


def _to_float(value: Any) -> Any:
    """Converts a tensor or numpy scalar to a float; other values pass through unchanged."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return float(value.detach().reshape(()).item())
        return value.detach().cpu().numpy()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def convert_logs(logs: Mapping[str, Any] | None) -> Logs:
    """Returns a new :class:`Logs` with sorted keys, nested dicts flattened, scalars as floats.

    A :class:`Logs` argument is returned as it is: the loop builds a fresh one per hook
    call, with sorted keys, and its pending values must stay pending.
    """
    if logs is None:
        return Logs()
    if isinstance(logs, Logs):
        return logs  # made by the loop for this very call: already sorted and fresh
    flat: dict[str, Any] = {}
    for key, value in logs.items():
        if isinstance(value, Mapping):
            flat.update({k: _to_float(v) for k, v in value.items()})
        else:
            flat[key] = _to_float(value)
    return Logs({k: flat[k] for k in sorted(flat)})


class Logs(dict[str, Any]):
    """A ``dict`` whose values may be fetched from the device on first read.

    It behaves as a plain dict for every reader: indexing, ``get``, ``items``, ``values``,
    ``copy``, ``dict(logs)``, ``{**logs}``, ``json.dumps`` and ``==`` all see floats. Keys are
    available without any transfer, so ``list(logs)`` and ``"loss" in logs`` cost nothing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._source: Callable[[], Mapping[str, Any]] | None = None

    @classmethod
    def lazy(cls, keys: list[str], source: Callable[[], Mapping[str, Any]]) -> Logs:
        """Creates logs whose ``keys`` are filled by ``source()`` when first read."""
        logs = cls(dict.fromkeys(keys, _PENDING))
        logs._source = source
        return logs

    def is_pending(self) -> bool:
        """Whether some values have not been fetched from the device yet."""
        return self._source is not None

    def materialize(self) -> Logs:
        """Fetches every pending value now (one transfer) and returns ``self``."""
        source = self._source
        if source is not None:
            self._source = None
            for key, value in source().items():
                if dict.get(self, key) is _PENDING:
                    dict.__setitem__(self, key, value)
        return self

    # Every reading path goes through materialize(); writing paths need nothing.
    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if value is _PENDING:
            value = dict.__getitem__(self.materialize(), key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        return default

    def __iter__(self) -> Iterator[str]:
        # Overriding __iter__ also makes dict(logs) and {**logs} use __getitem__.
        return iter(dict.keys(self))

    def items(self):
        return dict.items(self.materialize())

    def values(self):
        return dict.values(self.materialize())

    def copy(self) -> Logs:
        return Logs(dict.items(self.materialize()))

    def pop(self, key: str, *default: Any) -> Any:
        self.materialize()
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[str, Any]:
        return dict.popitem(self.materialize())

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.materialize()
        return dict.setdefault(self, key, default)

    def __eq__(self, other: object) -> bool:
        self.materialize()
        if isinstance(other, Logs):
            other.materialize()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __repr__(self) -> str:
        return dict.__repr__(self.materialize())

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (Logs, (dict(dict.items(self.materialize())),))

    def __or__(self, other: Any) -> Logs:  # type: ignore[override]
        merged = self.copy()
        merged.update(other)
        return merged
