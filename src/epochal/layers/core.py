"""Core layers: Dense, Activation, Embedding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from epochal import activations, initializers
from epochal._validation import check_bool, check_int
from epochal.layers.base import Layer, tag_weight

__all__ = ["Activation", "Dense", "Embedding"]


class Dense(Layer):
    """Densely connected layer: ``activation(x @ kernel + bias)`` on the last axis.

    Args:
        units: Output size.
        activation: Activation name or callable. Defaults to `None` (linear).
        use_bias: Whether to add a bias. Defaults to `True`.
        kernel_initializer: Defaults to `"glorot_uniform"`.
        bias_initializer: Defaults to `"zeros"`.
        input_dim / input_shape / name: as in Keras.
    """

    casts_inputs = True

    def __init__(
        self,
        units: int,
        activation: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive integer. Received: units={units!r}")
        self.units = units
        self.activation_name = (
            activation
            if isinstance(activation, str) or activation is None
            else getattr(activation, "__name__", "custom")
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
        fan_in = int(input_shape[-1])
        self.kernel = tag_weight(nn.Parameter(torch.empty(fan_in, self.units)), "kernel")
        initializers.initialize(self.kernel, self.kernel_initializer, fan_in, self.units)
        if self.use_bias:
            self.bias = tag_weight(nn.Parameter(torch.empty(self.units)), "bias")
            initializers.initialize(self.bias, self.bias_initializer, fan_in, self.units)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        assert self.kernel is not None
        if self.bias is not None and x.dim() == 2:
            out = torch.addmm(self.bias, x, self.kernel)
        else:
            out = x @ self.kernel
            if self.bias is not None:
                out = out + self.bias
        return self.activation(out)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }


class Activation(Layer):
    """Applies an activation by name (``Activation("softmax")``)."""

    casts_inputs = True

    def __init__(self, activation: str | Callable[[torch.Tensor], torch.Tensor], **kwargs: Any):
        super().__init__(**kwargs)
        self.activation_name = activation if isinstance(activation, str) else "custom"
        self.activation = activations.get(activation)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation_name}


class Embedding(Layer):
    """Maps integer ids to vectors of size ``output_dim``."""

    casts_inputs = False

    def __init__(self, input_dim: int, output_dim: int, **kwargs: Any) -> None:
        kwargs.pop("input_length", None)
        super().__init__(**kwargs)
        self.vocab_size = check_int("input_dim", input_dim, minimum=1)
        self.output_dim = check_int("output_dim", output_dim, minimum=1)
        self.embeddings = tag_weight(
            nn.Parameter(torch.empty(self.vocab_size, self.output_dim).uniform_(-0.05, 0.05)),
            "embeddings",
        )
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return F.embedding(x.long(), self.embeddings)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(input_dim=self.vocab_size, output_dim=self.output_dim)
        return config
