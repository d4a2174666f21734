"""Pooling layers: Max/AveragePooling1D/2D/3D and GlobalMax/GlobalAveragePooling1D/2D/3D.

Channels-last by default (``data_format="channels_first"`` on request). ``padding="same"``
pads as Keras (the odd pixel at the end); padded positions never win a max. An average
with ``"same"`` padding counts only the real elements of a window when the padding of every
axis is even, and repeats the edge values into the padding when some axis is padded
unevenly: the numbers of Keras 3 on its torch backend (its TensorFlow and JAX backends
count only the real elements in both cases).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from epochal.layers._support import check_bool, check_choice
from epochal.layers.base import Layer
from epochal.layers.convolutional import check_data_format, same_pads, tuple_of

__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
]

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


class _Pooling(Layer):
    casts_inputs = True
    _rank = 2
    _max = True

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = tuple_of("pool_size", pool_size, self._rank)
        self.strides = (
            self.pool_size if strides is None else tuple_of("strides", strides, self._rank)
        )
        padding = padding.lower() if isinstance(padding, str) else padding
        self.padding = str(check_choice("padding", padding, ("valid", "same")))
        self.data_format = check_data_format(data_format)
        self.built = True

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if x.dim() != self._rank + 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs with {self._rank + 2} axes; received "
                f"shape {tuple(x.shape)}."
            )
        if self.data_format == "channels_last":
            x = x.movedim(-1, 1)
        pads = [0] * (2 * self._rank)
        if self.padding == "same":
            pads = same_pads(x.shape[2:], self.pool_size, self.strides, [1] * self._rank)
        if self._max:
            if any(pads):
                x = F.pad(x, pads, value=-math.inf)
            y = _MAX[self._rank](x, self.pool_size, self.strides)
        elif any(pads):
            befores, afters = pads[-2::-2], pads[-1::-2]
            if befores == afters:
                # Even padding: the mean of the real (unpadded) elements of each window.
                y = _AVG[self._rank](
                    x, self.pool_size, self.strides, befores, count_include_pad=False
                )
            else:
                # Uneven padding: Keras' torch backend repeats the edge values into the
                # padding and averages over the whole window; the same numbers here.
                x = F.pad(x, pads, mode="replicate")
                y = _AVG[self._rank](x, self.pool_size, self.strides)
        else:
            y = _AVG[self._rank](x, self.pool_size, self.strides)
        return y.movedim(1, -1) if self.data_format == "channels_last" else y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling1D(_Pooling):
    """Max over windows of ``(batch, steps, channels)``.

    Args (Keras 3): pool_size=2, strides=None (= pool_size), padding="valid" ("valid" or
        "same"), data_format=None (channels-last).
    """

    _rank = 1


class MaxPooling2D(_Pooling):
    """Max over windows of images; arguments as :class:`MaxPooling1D` (``pool_size=(2, 2)``)."""

    _rank = 2


class MaxPooling3D(_Pooling):
    """Max over 3-D windows; arguments as :class:`MaxPooling1D`."""

    _rank = 3


class _AveragePooling(_Pooling):
    """Keras' average poolings have no default ``pool_size``."""

    _max = False

    def __init__(
        self,
        pool_size: Any,
        strides: Any = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_AveragePooling):
    """Average over windows of ``(batch, steps, channels)``.

    Args (Keras 3): pool_size (required), strides=None (= pool_size), padding="valid",
        data_format=None (channels-last).
    """

    _rank = 1


class AveragePooling2D(_AveragePooling):
    """Average over windows of images; arguments as :class:`AveragePooling1D`."""

    _rank = 2


class AveragePooling3D(_AveragePooling):
    """Average over 3-D windows; arguments as :class:`AveragePooling1D`."""

    _rank = 3
    _max = False


class _GlobalPooling(Layer):
    casts_inputs = True
    _rank = 2
    _max = True

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        self.keepdims = check_bool("keepdims", keepdims)
        self.built = True

    def _axes(self) -> list[int]:
        start = 1 if self.data_format == "channels_last" else 2
        return list(range(start, start + self._rank))

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() != self._rank + 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs with {self._rank + 2} axes; received "
                f"shape {tuple(inputs.shape)}."
            )
        axes = self._axes()
        if self._max:
            return inputs.amax(dim=axes, keepdim=self.keepdims)
        return inputs.mean(dim=axes, keepdim=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps of ``(batch, steps, channels)``.

    Args (Keras 3): data_format=None (channels-last), keepdims=False.
    """

    _rank = 1


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over height and width; arguments as :class:`GlobalMaxPooling1D`."""

    _rank = 2


class GlobalMaxPooling3D(_GlobalPooling):
    """Max over the three spatial axes; arguments as :class:`GlobalMaxPooling1D`."""

    _rank = 3


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps of ``(batch, steps, channels)``; with a mask (from
    ``Embedding(mask_zero=True)`` or ``Masking``), the mean of the valid steps only.

    Args (Keras 3): data_format=None (channels-last), keepdims=False.
    """

    _rank = 1
    _max = False

    def call(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return super().call(inputs)
        axis = self._axes()[0]
        weights = mask.to(inputs.dtype)
        weights = weights[:, :, None] if axis == 1 else weights[:, None, :]
        total = (inputs * weights).sum(dim=axis, keepdim=self.keepdims)
        return total / weights.sum(dim=axis, keepdim=self.keepdims)


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over height and width; arguments as :class:`GlobalAveragePooling1D`."""

    _rank = 2
    _max = False


class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over the three spatial axes; arguments as :class:`GlobalAveragePooling1D`."""

    _rank = 3
    _max = False
