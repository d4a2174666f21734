"""Convolution layers (channels-last inputs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from epochal import activations, initializers
from epochal._validation import check_bool, check_int
from epochal.layers._geometry import pair, same_padding
from epochal.layers.base import Layer, tag_weight

__all__ = ["Conv2D"]


class Conv2D(Layer):
    """2-D convolution on channels-last images ``(batch, height, width, channels)``.

    The kernel is stored in torch's ``(out, in, kh, kw)`` layout.
    """

    casts_inputs = True

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        activation: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}")
        self.filters = check_int("filters", filters, minimum=1)
        self.kernel_size = pair(kernel_size)
        self.strides = pair(strides)
        self.padding = padding
        self.activation_name = (
            activation if isinstance(activation, str) or activation is None else "custom"
        )
        self.activation = activations.get(activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = initializers.check_name("kernel_initializer", kernel_initializer)
        self.bias_initializer = initializers.check_name("bias_initializer", bias_initializer)
        self.kernel: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def build(self, input_shape: Sequence[int]) -> None:
        in_channels = int(input_shape[-1])
        kh, kw = self.kernel_size
        self.kernel = tag_weight(
            nn.Parameter(torch.empty(self.filters, in_channels, kh, kw)), "kernel"
        )
        initializers.initialize(
            self.kernel, self.kernel_initializer, in_channels * kh * kw, self.filters * kh * kw
        )
        if self.use_bias:
            self.bias = tag_weight(nn.Parameter(torch.zeros(self.filters)), "bias")
            initializers.initialize(self.bias, self.bias_initializer, 1, 1)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        padding: str | int = self.padding
        if self.padding == "same" and self.strides != (1, 1):
            x = F.pad(x, same_padding(x.shape[-2:], self.kernel_size, self.strides))
            padding = 0
        y = F.conv2d(x, self.kernel, self.bias, self.strides, padding)  # type: ignore[arg-type]
        return self.activation(y.permute(0, 2, 3, 1))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }
