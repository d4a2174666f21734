"""Merging layers: combine a list of tensors into one (residual connections, several inputs).

``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum`` work elementwise
(with broadcasting, as Keras); ``Concatenate(axis=-1)`` joins along an axis; ``Dot(axes)``
takes the per-sample dot product of two tensors along the given axes. The lower-case
functions (``add([a, b])``, ``concatenate([a, b])``, ``dot([a, b], axes)``) make the layer
and call it, as Keras'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import reduce
from typing import Any

import torch

from epochal._validation import ArgumentTypeError, check_bool
from epochal.layers.base import Layer

__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Dot",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "dot",
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


class Dot(_Merge):
    """The per-sample dot product of two tensors along ``axes`` (Keras' ``batch_dot``).

    For inputs ``(batch, *a)`` and ``(batch, *b)`` contracted on one axis of each, the output
    is ``(batch, *a without its axis, *b without its axis)``; two 2-D inputs give
    ``(batch, 1)``.

    Args (Keras 3):
        axes: One axis for both inputs, or a pair ``(axis of the first, axis of the
            second)``; negative axes count from the end. The batch axis (0) cannot be used.
        normalize: L2-normalize both inputs along their axis first, so the output is the
            cosine similarity. Defaults to `False`.
    """

    _max_inputs = 2

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axes, bool) or not isinstance(axes, int | list | tuple):
            raise ArgumentTypeError(
                "`axes` must be an integer or a list/tuple of two integers. Received: "
                f"axes={axes!r}"
            )
        if isinstance(axes, list | tuple) and (
            len(axes) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes)
        ):
            raise ValueError(
                "`axes` must be an integer or a list/tuple of two integers. Received: "
                f"axes={axes!r}"
            )
        self.axes: int | list[int] = axes if isinstance(axes, int) else list(axes)
        self.normalize = check_bool("normalize", normalize)

    def _merge(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        if len(tensors) != 2:
            raise ValueError(f"Dot takes exactly 2 inputs; received {len(tensors)}.")
        x, y = tensors
        pair = [self.axes, self.axes] if isinstance(self.axes, int) else self.axes
        ax = pair[0] % x.dim() if pair[0] < 0 else pair[0]
        ay = pair[1] % y.dim() if pair[1] < 0 else pair[1]
        if x.dim() < 2 or y.dim() < 2 or not (0 < ax < x.dim() and 0 < ay < y.dim()):
            raise ValueError(
                f"Dot(axes={self.axes!r}) needs inputs of rank >= 2 and axes other than the "
                f"batch axis 0; received shapes {tuple(x.shape)} and {tuple(y.shape)}."
            )
        if x.shape[ax] != y.shape[ay]:
            raise ValueError(
                f"Dot(axes={self.axes!r}): incompatible sizes {x.shape[ax]} (axis {ax} of "
                f"{tuple(x.shape)}) and {y.shape[ay]} (axis {ay} of {tuple(y.shape)})."
            )
        if self.normalize:
            x = _l2_normalize(x, ax)
            y = _l2_normalize(y, ay)
        # per-sample contraction: move each axis last / first after the batch, then matmul
        xm = x.movedim(ax, -1)
        ym = y.movedim(ay, 1)
        rest_x, rest_y = xm.shape[1:-1], ym.shape[2:]
        out = torch.bmm(
            xm.reshape(xm.shape[0], -1, xm.shape[-1]), ym.reshape(ym.shape[0], ym.shape[1], -1)
        ).reshape(x.shape[0], *rest_x, *rest_y)
        return out.unsqueeze(-1) if out.dim() == 1 else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    """``x / ||x||`` along ``axis``, as Keras: ``x * min(rsqrt(sum(x^2)), 1 / 1e-7)``."""
    inverse = torch.rsqrt(x.square().sum(dim=axis, keepdim=True))
    return x * torch.clamp(inverse, max=1.0 / 1e-7)


def dot(inputs: Sequence[Any], axes: int | Sequence[int] = -1, **kwargs: Any) -> Any:
    """``Dot(axes, **kwargs)(inputs)``."""
    return Dot(axes=axes, **kwargs)(list(inputs))


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
