"""Core layers: Dense, Activation, Embedding, Masking."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from epochal import activations, initializers
from epochal.layers._support import (
    check_bool,
    check_units,
    get_constraint,
    get_regularizer,
    resolve_initializer,
    serialize,
)
from epochal.layers.base import Layer, tag_weight

__all__ = ["Activation", "Dense", "Embedding", "Masking"]


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
    """Maps integer ids to vectors of size ``output_dim``.

    Args (Keras 3):
        input_dim: Vocabulary size (ids are in ``[0, input_dim)``).
        output_dim: Size of each vector.
        embeddings_initializer: Defaults to `"uniform"` (uniform in ``±0.05``).
        embeddings_regularizer / embeddings_constraint: Defaults to `None`.
        mask_zero: Whether id 0 is padding: the layer then makes a mask (``ids != 0``) that
            the recurrent and attention layers after it read. Defaults to `False`.
        weights: Initial ``[embeddings]`` array. Defaults to `None`.
        lora_rank: Only `None` is supported (a value is refused).
        input_length: Deprecated in Keras 3; accepted with a warning and ignored, as Keras.
    """

    casts_inputs = False

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        lora_rank: int | None = None,
        **kwargs: Any,
    ) -> None:
        if "input_length" in kwargs:
            kwargs.pop("input_length")
            warnings.warn(
                "Argument `input_length` of Embedding is deprecated (Keras 3). Just remove it.",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(**kwargs)
        self.vocab_size = check_units("input_dim", input_dim)
        self.output_dim = check_units("output_dim", output_dim)
        self.mask_zero = check_bool("mask_zero", mask_zero)
        if lora_rank is not None:
            raise ValueError(
                f"Embedding(lora_rank={lora_rank!r}) is not supported by epochal. Accepted: "
                "lora_rank=None."
            )
        self._args = {
            "embeddings_initializer": embeddings_initializer,
            "embeddings_regularizer": embeddings_regularizer,
            "embeddings_constraint": embeddings_constraint,
        }
        self.embeddings = self.add_weight(
            (self.vocab_size, self.output_dim),
            resolve_initializer("embeddings_initializer", embeddings_initializer),
            regularizer=get_regularizer("embeddings_regularizer", embeddings_regularizer),
            constraint=get_constraint("embeddings_constraint", embeddings_constraint),
            name="embeddings",
        )
        self.built = True
        if weights is not None:
            self.set_weights(weights)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return F.embedding(x.long(), self.embeddings)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if not self.mask_zero:
            return None
        return torch.as_tensor(inputs) != 0

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(input_dim=self.vocab_size, output_dim=self.output_dim)
        config.update({k: serialize(k, v) for k, v in self._args.items()})
        config["mask_zero"] = self.mask_zero
        return config


class Masking(Layer):
    """Masks the timesteps whose features all equal ``mask_value`` (Keras' ``Masking``).

    The output is the input with those timesteps zeroed, and a mask (``(batch, time)``,
    `True` where some feature differs from ``mask_value``) that the recurrent and attention
    layers after it read.

    Args (Keras 3):
        mask_value: Defaults to `0.0`.
    """

    casts_inputs = True
    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, int | float):
            raise ValueError(f"`mask_value` must be a number. Received: mask_value={mask_value!r}")
        self.mask_value = mask_value
        self.built = True

    def _keep(self, x: torch.Tensor) -> torch.Tensor:
        return torch.any(x != self.mask_value, dim=-1)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x * self._keep(x)[..., None].to(x.dtype)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return self._keep(torch.as_tensor(inputs))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}
