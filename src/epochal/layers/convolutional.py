"""Convolution layers: Conv1D/2D/3D, Conv1D/2D/3DTranspose, DepthwiseConv1D/2D,
SeparableConv1D/2D.

Inputs are channels-last by default (``data_format="channels_last"``, Keras'
``image_data_format()``), ``"channels_first"`` on request. Kernels are stored in Keras'
layout, so ``get_weights()`` / ``set_weights()`` exchange arrays with Keras directly:
``(*kernel_size, in_channels // groups, filters)`` for convolutions, ``(*kernel_size,
filters, in_channels)`` for transposed ones, ``(*kernel_size, in_channels,
depth_multiplier)`` for depthwise kernels. ``padding="same"`` pads as Keras does (the odd
pixel at the end), ``"causal"`` (Conv1D) on the left only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from epochal.layers._support import (
    activation_name,
    add_activity_loss,
    check_bool,
    check_choice,
    check_units,
    get_activation,
    get_constraint,
    get_regularizer,
    resolve_initializer,
    serialize,
)
from epochal.layers.base import Layer

__all__ = [
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "SeparableConv1D",
    "SeparableConv2D",
]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def tuple_of(name: str, value: Any, rank: int, *, minimum: int = 1) -> tuple[int, ...]:
    """``3`` -> ``(3,) * rank``; a sequence of ``rank`` integers stays as it is.

    Raises:
        ValueError: naming ``name`` for anything else (or a value under ``minimum``).
    """
    items = [value] * rank if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        out = tuple(int(v) for v in items)
        ok = len(out) == rank and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in items
        )
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(
            f"`{name}` must be an integer or a tuple of {rank} integers >= {minimum}. "
            f"Received: {name}={value!r}"
        )
    return out


def check_data_format(value: Any) -> str:
    if value is None:
        return "channels_last"
    return str(check_choice("data_format", value, ("channels_last", "channels_first")))


def same_pads(
    size: Sequence[int], kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int]
) -> list[int]:
    """Keras' "same" padding of each spatial axis, in ``F.pad`` order (last axis first,
    ``(before, after)`` each, the odd pixel after)."""
    pads: list[int] = []
    for n, k, s, d in reversed(list(zip(size, kernel, strides, dilation, strict=True))):
        effective = (k - 1) * d + 1
        total = max((math.ceil(n / s) - 1) * s + effective - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


class _Conv(Layer):
    """Shared by the convolution layers: argument checks, channels-last handling, bias,
    activation and activity regularization. Subclasses set ``_rank`` and implement
    :meth:`_make_weights` and :meth:`_convolve` (channels-first in and out)."""

    casts_inputs = True
    _rank = 2
    _paddings: tuple[str, ...] = ("valid", "same")

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        bias_initializer: Any = "zeros",
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        lora_rank = kwargs.pop("lora_rank", None)
        super().__init__(**kwargs)
        if lora_rank is not None:
            raise ValueError(
                f"{type(self).__name__}(lora_rank={lora_rank!r}) is not supported by epochal. "
                "Accepted: lora_rank=None."
            )
        rank = self._rank
        self.kernel_size = tuple_of("kernel_size", kernel_size, rank)
        self.strides = tuple_of("strides", strides, rank)
        padding = padding.lower() if isinstance(padding, str) else padding
        self.padding = str(check_choice("padding", padding, self._paddings))
        self.data_format = check_data_format(data_format)
        self.dilation_rate = tuple_of("dilation_rate", dilation_rate, rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides` > 1 is not compatible with `dilation_rate` > 1 (as in Keras). "
                f"Received: strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        self.activation_name = activation_name(activation)
        self.activation = get_activation("activation", activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self._args: dict[str, Any] = {
            "bias_initializer": bias_initializer,
            "bias_regularizer": bias_regularizer,
            "activity_regularizer": activity_regularizer,
            "bias_constraint": bias_constraint,
        }
        self._activity = get_regularizer("activity_regularizer", activity_regularizer)
        self.bias: torch.nn.Parameter | None = None

    def _finish_init(self) -> None:
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def _weight(self, shape: tuple[int, ...], role: str, name: str) -> torch.nn.Parameter:
        """A weight made from the ``<role>_initializer/_regularizer/_constraint`` arguments."""
        return self.add_weight(
            shape,
            resolve_initializer(f"{role}_initializer", self._args[f"{role}_initializer"]),
            regularizer=get_regularizer(f"{role}_regularizer", self._args[f"{role}_regularizer"]),
            constraint=get_constraint(f"{role}_constraint", self._args[f"{role}_constraint"]),
            name=name,
        )

    def _channels(self, input_shape: Sequence[int]) -> int:
        if len(input_shape) != self._rank + 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs with {self._rank + 2} axes (batch, "
                f"{self._rank} spatial, channels); received shape {tuple(input_shape)}."
            )
        axis = -1 if self.data_format == "channels_last" else 1
        return int(input_shape[axis])

    def build(self, input_shape: Sequence[int]) -> None:
        channels = self._channels(input_shape)
        self._make_weights(channels)
        if self.use_bias:
            self.bias = self._weight((self._bias_size(channels),), "bias", "bias")
        self.built = True

    def _make_weights(self, channels: int) -> None:
        raise NotImplementedError

    def _bias_size(self, channels: int) -> int:
        raise NotImplementedError

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (channels-first) padded as ``padding`` asks, for a plain convolution."""
        if self.padding == "valid":
            return x
        if self.padding == "causal":
            return F.pad(x, [(self.kernel_size[0] - 1) * self.dilation_rate[0], 0])
        pads = same_pads(x.shape[2:], self.kernel_size, self.strides, self.dilation_rate)
        return F.pad(x, pads) if any(pads) else x

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if x.dim() != self._rank + 2:
            self._channels(tuple(x.shape))  # raises, naming the expected axes
        if self.data_format == "channels_last":
            x = x.movedim(-1, 1)
        y = self._convolve(x)
        if self.bias is not None:
            y = y + self.bias.reshape(-1, *([1] * self._rank))
        if self.data_format == "channels_last":
            y = y.movedim(1, -1)
        y = self.activation(y)
        add_activity_loss(self, self._activity, y)
        return y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            **{k: serialize(k, v) for k, v in self._args.items()},
        }


class _ConvBase(_Conv):
    """``ConvND``: ``filters`` kernels over ``in_channels // groups`` channels each."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            bias_initializer,
            bias_regularizer,
            activity_regularizer,
            bias_constraint,
            **kwargs,
        )
        self.filters = check_units("filters", filters)
        self.groups = check_units("groups", groups)
        if self.filters % self.groups:
            raise ValueError(
                f"`filters` must be divisible by `groups`. Received: filters={filters}, "
                f"groups={groups}"
            )
        self._args.update(
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            kernel_constraint=kernel_constraint,
        )
        self.kernel: torch.nn.Parameter | None = None
        self._finish_init()

    def _make_weights(self, channels: int) -> None:
        if channels % self.groups:
            raise ValueError(
                f"The input channels ({channels}) of {type(self).__name__} must be divisible "
                f"by `groups` ({self.groups})."
            )
        shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.kernel = self._weight(shape, "kernel", "kernel")

    def _bias_size(self, channels: int) -> int:
        return self.filters

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        assert self.kernel is not None
        weight = self.kernel.permute(self._rank + 1, self._rank, *range(self._rank))
        padding: Any = 0
        if (
            self.padding == "same"
            and max(self.strides) == 1
            and all(
                (k - 1) * d % 2 == 0
                for k, d in zip(self.kernel_size, self.dilation_rate, strict=True)
            )
        ):
            padding = "same"  # even padding on every axis: torch pads it without a copy
        else:
            x = self._pad(x)
        return _CONV[self._rank](
            x, weight, None, self.strides, padding, self.dilation_rate, self.groups
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "groups": self.groups}


class Conv1D(_ConvBase):
    """1-D convolution on ``(batch, steps, channels)`` (channels-last).

    Args (Keras 3): filters, kernel_size, strides=1, padding="valid" ("valid", "same",
        "causal"), data_format=None (channels-last), dilation_rate=1, groups=1,
        activation=None, use_bias=True, kernel_initializer="glorot_uniform",
        bias_initializer="zeros", kernel/bias/activity_regularizer=None,
        kernel/bias_constraint=None. Kernel ``(kernel_size, in // groups, filters)``.
    """

    _rank = 1
    _paddings = ("valid", "same", "causal")


class Conv2D(_ConvBase):
    """2-D convolution on ``(batch, height, width, channels)`` (channels-last).

    Args (Keras 3): as :class:`Conv1D` (padding "valid" or "same"). Kernel ``(kh, kw,
        in // groups, filters)``.
    """

    _rank = 2


class Conv3D(_ConvBase):
    """3-D convolution on ``(batch, d1, d2, d3, channels)``; arguments as :class:`Conv2D`."""

    _rank = 3


class _ConvTranspose(_Conv):
    """``ConvNDTranspose``: the gradient of a convolution with respect to its input."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        output_padding: Any = None,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            bias_initializer,
            bias_regularizer,
            activity_regularizer,
            bias_constraint,
            **kwargs,
        )
        self.filters = check_units("filters", filters)
        self.output_padding = (
            None
            if output_padding is None
            else tuple_of("output_padding", output_padding, self._rank, minimum=0)
        )
        if self.output_padding is not None and any(
            p >= s for p, s in zip(self.output_padding, self.strides, strict=True)
        ):
            raise ValueError(
                "Each `output_padding` must be smaller than the matching stride. Received: "
                f"output_padding={self.output_padding}, strides={self.strides}"
            )
        self._args.update(
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            kernel_constraint=kernel_constraint,
        )
        self.kernel: torch.nn.Parameter | None = None
        self._finish_init()

    def _make_weights(self, channels: int) -> None:
        shape = (*self.kernel_size, self.filters, channels)
        self.kernel = self._weight(shape, "kernel", "kernel")

    def _bias_size(self, channels: int) -> int:
        return self.filters

    def _output_length(self, n: int, axis: int) -> int:
        k = (self.kernel_size[axis] - 1) * self.dilation_rate[axis] + 1
        s = self.strides[axis]
        if self.output_padding is None:
            return n * s if self.padding == "same" else n * s + max(k - s, 0)
        pad = k // 2 if self.padding == "same" else 0
        return (n - 1) * s + k - 2 * pad + self.output_padding[axis]

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        assert self.kernel is not None
        rank = self._rank
        # Keras (kernel..., out, in) -> torch's transposed layout (in, out, kernel...).
        weight = self.kernel.permute(rank + 1, rank, *range(rank))
        full = _CONV_T[rank](x, weight, None, self.strides, 0, 0, 1, self.dilation_rate)
        # The full transposed output, cropped (or extended with zeros) to Keras' length: a
        # "same" convolution of that length would have padded `before` at the start.
        for axis in range(rank):
            n = int(x.shape[2 + axis])
            length = self._output_length(n, axis)
            before = 0
            if self.padding == "same":
                k = (self.kernel_size[axis] - 1) * self.dilation_rate[axis] + 1
                s = self.strides[axis]
                before = max((math.ceil(length / s) - 1) * s + k - length, 0) // 2
            dim = 2 + axis
            available = full.shape[dim] - before
            full = full.narrow(dim, before, min(length, available))
            if available < length:
                pad = [0, 0] * (rank - 1 - axis) + [0, length - available]
                full = F.pad(full, pad)
        return full

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "output_padding": None if self.output_padding is None else list(self.output_padding),
        }


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution; kernel ``(kernel_size, filters, in)``.

    Args (Keras 3): filters, kernel_size, strides=1, padding="valid", output_padding=None,
        data_format=None, dilation_rate=1, activation, use_bias, kernel/bias initializers,
        regularizers and constraints.
    """

    _rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution ("deconvolution"); kernel ``(kh, kw, filters, in)``.

    Args (Keras 3): as :class:`Conv1DTranspose`.
    """

    _rank = 2


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-D convolution; arguments as :class:`Conv2DTranspose`."""

    _rank = 3


class _Depthwise(_Conv):
    """``DepthwiseConvND``: each input channel convolved with ``depth_multiplier`` kernels of
    its own (output channel ``c * depth_multiplier + m``)."""

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: Any = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            bias_initializer,
            bias_regularizer,
            activity_regularizer,
            bias_constraint,
            **kwargs,
        )
        self.depth_multiplier = check_units("depth_multiplier", depth_multiplier)
        self._args.update(
            depthwise_initializer=depthwise_initializer,
            depthwise_regularizer=depthwise_regularizer,
            depthwise_constraint=depthwise_constraint,
        )
        self.kernel: torch.nn.Parameter | None = None
        self._finish_init()

    def _make_weights(self, channels: int) -> None:
        shape = (*self.kernel_size, channels, self.depth_multiplier)
        self.kernel = self._weight(shape, "depthwise", "kernel")

    def _bias_size(self, channels: int) -> int:
        return channels * self.depth_multiplier

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        assert self.kernel is not None
        rank, channels = self._rank, int(x.shape[1])
        weight = self.kernel.reshape(*self.kernel_size, channels * self.depth_multiplier, 1)
        weight = weight.permute(rank, rank + 1, *range(rank))
        x = self._pad(x)
        return _CONV[rank](x, weight, None, self.strides, 0, self.dilation_rate, channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier}


class DepthwiseConv1D(_Depthwise):
    """Depthwise 1-D convolution; kernel ``(kernel_size, in, depth_multiplier)``.

    Args (Keras 3): kernel_size, strides=1, padding="valid", depth_multiplier=1,
        data_format=None, dilation_rate=1, activation=None, use_bias=True,
        depthwise_initializer="glorot_uniform", bias_initializer="zeros",
        depthwise/bias/activity_regularizer, depthwise/bias_constraint.
    """

    _rank = 1


class DepthwiseConv2D(_Depthwise):
    """Depthwise 2-D convolution; kernel ``(kh, kw, in, depth_multiplier)``; arguments as
    :class:`DepthwiseConv1D`."""

    _rank = 2


class _Separable(_Conv):
    """``SeparableConvND``: a depthwise convolution, then a pointwise (1x1) one."""

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: Any = 1,
        depth_multiplier: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            bias_initializer,
            bias_regularizer,
            activity_regularizer,
            bias_constraint,
            **kwargs,
        )
        self.filters = check_units("filters", filters)
        self.depth_multiplier = check_units("depth_multiplier", depth_multiplier)
        self._args.update(
            depthwise_initializer=depthwise_initializer,
            pointwise_initializer=pointwise_initializer,
            depthwise_regularizer=depthwise_regularizer,
            pointwise_regularizer=pointwise_regularizer,
            depthwise_constraint=depthwise_constraint,
            pointwise_constraint=pointwise_constraint,
        )
        self.depthwise_kernel: torch.nn.Parameter | None = None
        self.pointwise_kernel: torch.nn.Parameter | None = None
        self._finish_init()

    def _make_weights(self, channels: int) -> None:
        depthwise = (*self.kernel_size, channels, self.depth_multiplier)
        pointwise = (*([1] * self._rank), channels * self.depth_multiplier, self.filters)
        self.depthwise_kernel = self._weight(depthwise, "depthwise", "depthwise_kernel")
        self.pointwise_kernel = self._weight(pointwise, "pointwise", "pointwise_kernel")

    def _bias_size(self, channels: int) -> int:
        return self.filters

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        assert self.depthwise_kernel is not None and self.pointwise_kernel is not None
        rank, channels = self._rank, int(x.shape[1])
        inner = channels * self.depth_multiplier
        depthwise = self.depthwise_kernel.reshape(*self.kernel_size, inner, 1)
        depthwise = depthwise.permute(rank, rank + 1, *range(rank))
        y = _CONV[rank](
            self._pad(x), depthwise, None, self.strides, 0, self.dilation_rate, channels
        )
        pointwise = self.pointwise_kernel.reshape(inner, self.filters).T
        return _CONV[rank](y, pointwise.reshape(self.filters, inner, *([1] * rank)))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "depth_multiplier": self.depth_multiplier,
        }


class SeparableConv1D(_Separable):
    """Depthwise-separable 1-D convolution: depthwise kernel ``(kernel_size, in,
    depth_multiplier)``, pointwise kernel ``(1, in * depth_multiplier, filters)``.

    Args (Keras 3): filters, kernel_size, strides=1, padding="valid", data_format=None,
        dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
        depthwise/pointwise_initializer="glorot_uniform", bias_initializer="zeros",
        depthwise/pointwise/bias/activity_regularizer, depthwise/pointwise/bias_constraint.
    """

    _rank = 1


class SeparableConv2D(_Separable):
    """Depthwise-separable 2-D convolution; kernels ``(kh, kw, in, depth_multiplier)`` and
    ``(1, 1, in * depth_multiplier, filters)``; arguments as :class:`SeparableConv1D`."""

    _rank = 2
