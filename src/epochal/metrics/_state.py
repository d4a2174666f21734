"""What the metric modules share: a metric whose state is a few named sums, a metric that
is the weighted mean of one function, and Keras' ``divide_no_nan``.

Every state is a sum (of weights, of counts, of squares), kept on the device and replaced,
never updated in place, so a frozen copy is a snapshot, ``state_dict`` values sum across
processes (``DataParallelStrategy.reduce_metrics``) and no update reads a value back.
"""

from __future__ import annotations

from typing import Any

import torch

from epochal.metrics.base import Direction, MeanMetricWrapper, Metric


def _no_nan_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den``, 0 where ``den`` is 0 (Keras' ``divide_no_nan``)."""
    safe = torch.where(den == 0, torch.ones_like(den), den)
    return torch.where(den == 0, torch.zeros_like(num), num / safe)


def _t(value: Any) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float32)


class _StateMetric(Metric):
    """A metric whose state is a few named sums (``_state``), each a tensor or 0.0."""

    _state: tuple[str, ...] = ()
    # The sums the subclasses keep (each names its own in ``_state``).
    tp: Any
    fp: Any
    tn: Any
    fn: Any
    support: Any
    sum: Any
    squared_sum: Any
    residual: Any
    weight: Any
    num_samples: Any
    matrix: Any

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.reset()

    def reset(self) -> None:
        super().reset()
        for key in self._state:
            setattr(self, key, 0.0)

    reset_state = reset

    def state_dict(self) -> dict[str, Any]:
        return {
            key: (v.detach().clone() if isinstance(v, torch.Tensor) else v)
            for key in self._state
            for v in (getattr(self, key),)
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in self._state:
            setattr(self, key, state[key])

    def to(self, device: torch.device) -> None:
        for key in self._state:
            value = getattr(self, key)
            if isinstance(value, torch.Tensor):
                setattr(self, key, value.to(device))


class _FunctionMetric(MeanMetricWrapper):
    """A Keras metric that is the weighted mean of one function; ``config`` its arguments."""

    _fn: Any = None
    _default_direction: Direction = None

    def __init__(self, name: str, **config: Any) -> None:
        fn = type(self)._fn
        super().__init__(lambda t, p: fn(t, p, **config), name, type(self)._default_direction)
        self.config = config

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.config}


def _simple(
    fn: Any, default_name: str, direction: Direction, module: str, class_name: str | None = None
) -> type[_FunctionMetric]:
    """A ``_FunctionMetric`` subclass whose only argument is ``name`` (``default_name``)."""

    def __init__(self: _FunctionMetric, name: str = default_name) -> None:
        _FunctionMetric.__init__(self, name)

    name = class_name or "".join(part.title() for part in default_name.split("_"))
    return type(
        name,
        (_FunctionMetric,),
        {
            "_fn": staticmethod(fn),
            "_default_direction": direction,
            "__init__": __init__,
            "__module__": module,
            "__qualname__": name,
            "__doc__": f"Weighted mean of ``{fn.__name__}`` (Keras' metric of that name).",
        },
    )


_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int64,
    "int16": torch.int64,
    "int32": torch.int64,
    "int64": torch.int64,
    "uint8": torch.int64,
}


def _dtype(owner: str, dtype: Any, default: str) -> tuple[str, torch.dtype]:
    """Keras' metric ``dtype`` (a name or a torch dtype; None: ``default``) as its Keras
    name and the torch dtype the state is kept in (integer counts in int64, so that large
    sums neither overflow nor lose units).

    Raises:
        ValueError: for a dtype that is neither a float nor an integer type.
    """
    if dtype is None:
        dtype = default
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).removeprefix("torch.")
    name = {"int": "int32", "float": "float32"}.get(str(dtype), str(dtype))
    if name not in _DTYPES:
        raise ValueError(
            f"{owner}: invalid `dtype` {dtype!r}. Expected one of: None, "
            f"{', '.join(sorted(_DTYPES))} (or the torch dtype)."
        )
    return name, _DTYPES[name]
