"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, UpSampling1D/2D,
ZeroPadding1D/2D, Cropping1D/2D (channels-last by default, as Keras)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from epochal.layers._support import check_choice, check_units
from epochal.layers.base import Layer
from epochal.layers.convolutional import check_data_format, tuple_of

__all__ = [
    "Cropping1D",
    "Cropping2D",
    "Flatten",
    "Permute",
    "RepeatVector",
    "Reshape",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
]


class Flatten(Layer):
    """Flattens every axis but the batch axis.

    Args (Keras 3): data_format=None: with ``"channels_first"`` the channels axis is moved
        last before flattening, so the order of the features matches a channels-last model.
    """

    casts_inputs = True

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        if self.data_format == "channels_first" and x.dim() > 2:
            x = x.movedim(1, -1)
        return x.reshape(x.shape[0], -1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self.data_format != "channels_last":
            config["data_format"] = self.data_format
        return config


class Reshape(Layer):
    """Reshapes to ``target_shape`` (batch axis excluded; one entry may be ``-1``)."""

    casts_inputs = True

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(
            d == 0 or d < -1 for d in self.target_shape
        ):
            raise ValueError(
                "`target_shape` takes positive sizes and at most one -1. Received: "
                f"target_shape={tuple(target_shape)}"
            )
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.target_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` is a permutation of ``1 .. rank`` (Keras counts
    from 1, the batch axis being 0). ``Permute((2, 1))`` swaps steps and features."""

    casts_inputs = True

    def __init__(self, dims: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                "`dims` must be a permutation of 1..rank (the batch axis is not included). "
                f"Received: dims={tuple(dims)}"
            )
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != len(self.dims) + 1:
            raise ValueError(
                f"Permute(dims={self.dims}) expects inputs with {len(self.dims) + 1} axes; "
                f"received shape {tuple(x.shape)}."
            )
        return x.permute(0, *self.dims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``."""

    casts_inputs = True

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = check_units("n", n)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(
                f"RepeatVector expects inputs of shape (batch, features); received shape "
                f"{tuple(x.shape)}."
            )
        return x[:, None, :].expand(x.shape[0], self.n, x.shape[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class UpSampling1D(Layer):
    """Repeats each step ``size`` times along axis 1 of ``(batch, steps, features)``."""

    casts_inputs = True

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = check_units("size", size)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(self.size, dim=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


class UpSampling2D(Layer):
    """Upsamples images by ``size`` (rows, columns).

    Args (Keras 3): size=(2, 2), data_format=None (channels-last), interpolation="nearest"
        ("nearest" repeats pixels, "bilinear" interpolates with half-pixel centres; Keras'
        "bicubic", "lanczos3", "lanczos5" and "area" are refused).
    """

    casts_inputs = True

    def __init__(
        self,
        size: Any = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.size = tuple_of("size", size, 2)
        self.data_format = check_data_format(data_format)
        if interpolation in ("bicubic", "lanczos3", "lanczos5", "area"):
            raise ValueError(
                f"UpSampling2D(interpolation={interpolation!r}) is not supported by epochal. "
                "Accepted: 'nearest', 'bilinear'."
            )
        self.interpolation = str(
            check_choice("interpolation", interpolation, ("nearest", "bilinear"))
        )
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        if self.data_format == "channels_last":
            x = x.movedim(-1, 1)
        if self.interpolation == "nearest":
            y = x.repeat_interleave(self.size[0], dim=2).repeat_interleave(self.size[1], dim=3)
        else:
            y = F.interpolate(x, scale_factor=self.size, mode="bilinear", align_corners=False)
        return y.movedim(1, -1) if self.data_format == "channels_last" else y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "size": list(self.size),
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }


def _pairs(name: str, value: Any, rank: int) -> tuple[tuple[int, int], ...]:
    """Keras' padding / cropping spec: ``n``, ``(a, b)`` (symmetric per axis) or ``((a0,
    a1), (b0, b1))`` -> one ``(before, after)`` pair per spatial axis."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            pairs = [(value, value)] * rank
        elif rank == 1:
            before, after = value
            pairs = [(before, after)]
        elif all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            pairs = [(int(v), int(v)) for v in value]
        else:
            pairs = [tuple(v) for v in value]
        out = tuple((int(a), int(b)) for a, b in pairs)
        ok = len(out) == rank and all(
            isinstance(a, int) and a >= 0 and b >= 0 for pair in pairs for a, b in [pair]
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(
            f"`{name}` must be an integer, a tuple of {rank} integers or a tuple of {rank} "
            f"(before, after) pairs of non-negative integers. Received: {name}={value!r}"
        )
    return out


class _Spatial(Layer):
    casts_inputs = True
    _rank = 2

    def _to_first(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self._rank + 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs with {self._rank + 2} axes; received "
                f"shape {tuple(x.shape)}."
            )
        data_format = getattr(self, "data_format", "channels_last")
        return x.movedim(-1, 1) if data_format == "channels_last" else x

    def _from_first(self, y: torch.Tensor) -> torch.Tensor:
        data_format = getattr(self, "data_format", "channels_last")
        return y.movedim(1, -1) if data_format == "channels_last" else y


class ZeroPadding1D(_Spatial):
    """Pads ``(batch, steps, features)`` with zeros along the steps.

    Args (Keras 3): padding=1 (an integer, or ``(left, right)``), data_format=None
        (channels-last).
    """

    _rank = 1

    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = _pairs("padding", padding, 1)
        self.data_format = check_data_format(data_format)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self._from_first(F.pad(self._to_first(x), list(self.padding[0])))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "padding": list(self.padding[0]),
            "data_format": self.data_format,
        }


class ZeroPadding2D(_Spatial):
    """Pads images with zeros.

    Args (Keras 3): padding=(1, 1) (an integer, ``(rows, cols)`` or ``((top, bottom),
        (left, right))``), data_format=None (channels-last).
    """

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.padding = _pairs("padding", padding, 2)
        self.data_format = check_data_format(data_format)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        (top, bottom), (left, right) = self.padding
        return self._from_first(F.pad(self._to_first(x), [left, right, top, bottom]))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "padding": [list(p) for p in self.padding],
            "data_format": self.data_format,
        }


class Cropping1D(_Spatial):
    """Crops ``(batch, steps, features)`` along the steps.

    Args (Keras 3): cropping=(1, 1) (an integer, or ``(start, end)``).
    """

    _rank = 1

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = _pairs("cropping", cropping, 1)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        x = self._to_first(x)
        start, end = self.cropping[0]
        _check_crop(self, x.shape[2], start, end)
        return self._from_first(x[:, :, start : x.shape[2] - end])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": list(self.cropping[0])}


class Cropping2D(_Spatial):
    """Crops images.

    Args (Keras 3): cropping=((0, 0), (0, 0)) (an integer, ``(rows, cols)`` or ``((top,
        bottom), (left, right))``), data_format=None (channels-last).
    """

    def __init__(
        self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.cropping = _pairs("cropping", cropping, 2)
        self.data_format = check_data_format(data_format)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        x = self._to_first(x)
        (top, bottom), (left, right) = self.cropping
        _check_crop(self, x.shape[2], top, bottom)
        _check_crop(self, x.shape[3], left, right)
        return self._from_first(x[:, :, top : x.shape[2] - bottom, left : x.shape[3] - right])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "cropping": [list(c) for c in self.cropping],
            "data_format": self.data_format,
        }


def _check_crop(layer: Layer, size: int, start: int, end: int) -> None:
    if start + end >= size:
        raise ValueError(
            f"{type(layer).__name__}: cropping ({start}, {end}) leaves nothing of an axis of "
            f"size {size}."
        )
