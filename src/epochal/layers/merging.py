"""Merging layers: combine a list of tensors into one (residual connections, several inputs).

``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum`` work elementwise
(with broadcasting, as Keras); ``Concatenate(axis=-1)`` joins along an axis. The lower-case
functions (``add([a, b])``, ``concatenate([a, b])``) make the layer and call it, as Keras'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import reduce
from typing import Any

import torch

from epochal.layers.base import Layer

__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]


class _Merge(Layer):
    """Base of the merging layers: ``call`` takes a list of at least two tensors."""

    casts_inputs = False
    supports_masking = True
    _min_inputs = 2
    _max_inputs: int | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.built = True

    def _check(self, inputs: Any) -> list[torch.Tensor]:
        if not isinstance(inputs, list | tuple):
            raise ValueError(
                f"A merge layer ({type(self).__name__}) must be called on a list of tensors. "
                f"Received: {type(inputs).__name__}"
            )
        count = len(inputs)
        if count < self._min_inputs or (self._max_inputs is not None and count > self._max_inputs):
            expected = (
                f"exactly {self._max_inputs}"
                if self._max_inputs == self._min_inputs
                else f"at least {self._min_inputs}"
            )
            raise ValueError(f"{type(self).__name__} takes {expected} inputs; received {count}.")
        return list(inputs)

    def call(self, inputs: Any) -> torch.Tensor:
        return self._merge(self._check(inputs))

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


def _elementwise(op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Any:
    def merge(self: _Merge, tensors: list[torch.Tensor]) -> torch.Tensor:
        return reduce(op, tensors)

    return merge


class Add(_Merge):
    """The elementwise sum of its inputs."""

    _merge = _elementwise(torch.add)


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    _max_inputs = 2
    _merge = _elementwise(torch.sub)


class Multiply(_Merge):
    """The elementwise product of its inputs."""

    _merge = _elementwise(torch.mul)


class Maximum(_Merge):
    """The elementwise maximum of its inputs."""

    _merge = _elementwise(torch.maximum)


class Minimum(_Merge):
    """The elementwise minimum of its inputs."""

    _merge = _elementwise(torch.minimum)


class Average(_Merge):
    """The elementwise mean of its inputs."""

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        return reduce(torch.add, tensors) / len(tensors)


class Concatenate(_Merge):
    """Joins its inputs along ``axis``.

    Args:
        axis: The axis to join on (the batch axis is 0). Defaults to `-1`.
    """

    _min_inputs = 1

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"`axis` must be an integer. Received: axis={axis!r}")
        self.axis = axis

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        dtype = torch.result_type(tensors[0], tensors[-1]) if len(tensors) > 1 else None
        if dtype is not None:
            tensors = [t.to(dtype) for t in tensors]
        return torch.cat(tensors, dim=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


def _functional(cls: type[_Merge]) -> Callable[..., Any]:
    def merge(inputs: Sequence[Any], **kwargs: Any) -> Any:
        return cls(**kwargs)(list(inputs))

    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"``{cls.__name__}(**kwargs)(inputs)``."
    return merge


add = _functional(Add)
subtract = _functional(Subtract)
multiply = _functional(Multiply)
average = _functional(Average)
maximum = _functional(Maximum)
minimum = _functional(Minimum)
concatenate = _functional(Concatenate)
