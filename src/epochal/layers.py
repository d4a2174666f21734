"""Keras-named layers as ``torch.nn.Module`` s, for the code of the tutorials.

Layers follow Keras' conventions: inputs are channels-last, ``Dense`` kernels are stored as
``(in, out)`` (so ``get_weights()`` matches Keras' shapes), kernels start ``glorot_uniform``
and biases at zero. Input sizes are inferred on the first call, so ``Dense(10)`` needs no
``input_dim``; ``input_shape`` / ``input_dim`` on the first layer let a model be built (and
summarised) before it sees data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from epochal._naming import snake_case

__all__ = [
    "Activation",
    "BatchNormalization",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Input",
    "InputLayer",
    "Layer",
    "MaxPooling2D",
    "Reshape",
    "get_activation",
]

_NAME_COUNTS: dict[str, int] = {}


def _unique_name(base: str) -> str:
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: F.softmax(x, dim=-1),
    "log_softmax": lambda x: F.log_softmax(x, dim=-1),
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "swish": F.silu,
    "silu": F.silu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "exponential": torch.exp,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "hard_sigmoid": F.hardsigmoid,
    "relu6": F.relu6,
}


def get_activation(
    identifier: str | Callable[[torch.Tensor], torch.Tensor] | None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Resolves a Keras activation name (or a callable, or ``None`` for linear).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if identifier is None:
        return _ACTIVATIONS["linear"]
    if callable(identifier):
        return identifier
    fn = _ACTIVATIONS.get(str(identifier).lower())
    if fn is None:
        raise ValueError(
            f"Unknown activation {identifier!r}. Known names: {', '.join(sorted(_ACTIVATIONS))}."
        )
    return fn


_INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "uniform",
    "random_uniform",
    "normal",
    "random_normal",
    "zeros",
    "ones",
    "lecun_uniform",
    "lecun_normal",
)


def _initialize(tensor: torch.Tensor, name: str, fan_in: int, fan_out: int) -> None:
    name = name.lower()
    with torch.no_grad():
        if name == "glorot_uniform":
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            tensor.uniform_(-limit, limit)
        elif name == "glorot_normal":
            tensor.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))
        elif name == "he_uniform":
            limit = math.sqrt(6.0 / fan_in)
            tensor.uniform_(-limit, limit)
        elif name == "he_normal":
            tensor.normal_(0.0, math.sqrt(2.0 / fan_in))
        elif name == "lecun_uniform":
            limit = math.sqrt(3.0 / fan_in)
            tensor.uniform_(-limit, limit)
        elif name == "lecun_normal":
            tensor.normal_(0.0, math.sqrt(1.0 / fan_in))
        elif name in ("uniform", "random_uniform"):
            tensor.uniform_(-0.05, 0.05)
        elif name in ("normal", "random_normal"):
            tensor.normal_(0.0, 0.05)
        elif name == "zeros":
            tensor.zero_()
        elif name == "ones":
            tensor.fill_(1.0)


def _check_initializer(arg: str, value: str) -> str:
    if value.lower() not in _INITIALIZERS:
        raise ValueError(
            f"Unknown initializer {arg}={value!r}. Known names: {', '.join(_INITIALIZERS)}."
        )
    return value


class Layer(nn.Module):
    """Base of epochal layers: a Keras name, optional input shape, lazy ``build``.

    ``input_shape`` excludes the batch axis, as in Keras.
    """

    def __init__(
        self,
        name: str | None = None,
        input_shape: Sequence[int] | None = None,
        input_dim: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s): "
                f"{', '.join(sorted(kwargs))}"
            )
        self.name = name or _unique_name(snake_case(type(self).__name__))
        if input_dim is not None:
            input_shape = (int(input_dim),)
        self.input_shape_hint: tuple[int, ...] | None = (
            tuple(int(d) for d in input_shape) if input_shape is not None else None
        )
        self.built = False

    casts_inputs = True

    def build(self, input_shape: torch.Size) -> None:
        """Creates the layer's weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.casts_inputs and not x.is_floating_point():
            x = x.float()  # Keras layers autocast integer inputs to float32
        if not self.built:
            self.build(x.shape)
            self.built = True
            self.to(x.device)
        return self.call(x)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name}
        if self.input_shape_hint is not None:
            config["input_shape"] = list(self.input_shape_hint)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def get_weights(self) -> list[Any]:
        return [t.detach().cpu().numpy().copy() for t in self.state_dict().values()]


class InputLayer(Layer):
    """Declares the input shape of a :class:`~epochal.Sequential` model; passes data through."""

    def __init__(self, shape: Sequence[int] | None = None, name: str | None = None, **kwargs: Any):
        if shape is not None:
            kwargs["input_shape"] = shape
        super().__init__(name=name, **kwargs)


def Input(shape: Sequence[int], name: str | None = None) -> InputLayer:
    """Keras' ``Input(shape=...)``, usable as the first entry of ``Sequential``."""
    return InputLayer(shape=shape, name=name)


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
        self.activation = get_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = _check_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = _check_initializer("bias_initializer", bias_initializer)
        self.kernel: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None
        if self.input_shape_hint is not None:
            self.build(torch.Size((1, *self.input_shape_hint)))

    def build(self, input_shape: torch.Size) -> None:
        fan_in = int(input_shape[-1])
        self.kernel = nn.Parameter(torch.empty(fan_in, self.units))
        _initialize(self.kernel, self.kernel_initializer, fan_in, self.units)
        if self.use_bias:
            self.bias = nn.Parameter(torch.empty(self.units))
            _initialize(self.bias, self.bias_initializer, fan_in, self.units)
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

    def __init__(self, activation: str | Callable[[torch.Tensor], torch.Tensor], **kwargs: Any):
        super().__init__(**kwargs)
        self.activation_name = activation if isinstance(activation, str) else "custom"
        self.activation = get_activation(activation)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation_name}


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of inputs during training (inverted dropout)."""

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.rate, self.training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


class Flatten(Layer):
    """Flattens every axis but the batch axis."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


class Reshape(Layer):
    """Reshapes to ``target_shape`` (batch axis excluded)."""

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.target_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


def _same_padding(
    size: Sequence[int], kernel: tuple[int, int], strides: tuple[int, int]
) -> tuple[int, int, int, int]:
    pads = []
    for n, k, st in zip(size, kernel, strides, strict=True):
        total = max((math.ceil(n / st) - 1) * st + k - n, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return (left, right, top, bottom)


class Conv2D(Layer):
    """2-D convolution on channels-last images ``(batch, height, width, channels)``.

    The kernel is stored in torch's ``(out, in, kh, kw)`` layout.
    """

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
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = padding
        self.activation_name = (
            activation if isinstance(activation, str) or activation is None else "custom"
        )
        self.activation = get_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = _check_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = _check_initializer("bias_initializer", bias_initializer)
        self.kernel: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None
        if self.input_shape_hint is not None:
            self.build(torch.Size((1, *self.input_shape_hint)))

    def build(self, input_shape: torch.Size) -> None:
        in_channels = int(input_shape[-1])
        kh, kw = self.kernel_size
        self.kernel = nn.Parameter(torch.empty(self.filters, in_channels, kh, kw))
        _initialize(
            self.kernel, self.kernel_initializer, in_channels * kh * kw, self.filters * kh * kw
        )
        if self.use_bias:
            self.bias = nn.Parameter(torch.zeros(self.filters))
            _initialize(self.bias, self.bias_initializer, 1, 1)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        padding: str | int = self.padding
        if self.padding == "same" and self.strides != (1, 1):
            x = F.pad(x, _same_padding(x.shape[-2:], self.kernel_size, self.strides))
            padding = 0
        y = F.conv2d(x, self.kernel, self.bias, self.strides, padding)
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


class MaxPooling2D(Layer):
    """Max pooling on channels-last images."""

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size)
        self.strides = _pair(strides) if strides is not None else self.pool_size
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}")
        self.padding = padding
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        if self.padding == "same":
            # Keras pads (extra on the bottom/right) so the output is ceil(size / strides);
            # -inf padding is never the max.
            pads = _same_padding(x.shape[-2:], self.pool_size, self.strides)
            x = F.pad(x, pads, value=-math.inf)
        y = F.max_pool2d(x, self.pool_size, self.strides)
        return y.permute(0, 2, 3, 1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }


class BatchNormalization(Layer):
    """Batch normalization over the last axis (Keras' ``axis=-1``)."""

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon
        self.norm: nn.BatchNorm1d | None = None
        if self.input_shape_hint is not None:
            self.build(torch.Size((1, *self.input_shape_hint)))

    def build(self, input_shape: torch.Size) -> None:
        self.norm = nn.BatchNorm1d(
            int(input_shape[-1]), eps=self.epsilon, momentum=1 - self.momentum
        )
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        assert self.norm is not None
        flat = x.reshape(-1, x.shape[-1])
        norm = self.norm
        # The mode is this layer's: ``norm`` may be created (in training mode) after eval().
        if not self.training:
            out = F.batch_norm(
                flat,
                norm.running_mean,
                norm.running_var,
                norm.weight,
                norm.bias,
                False,
                0.0,
                norm.eps,
            )
            return out.reshape(x.shape)
        var, mean = torch.var_mean(flat, dim=0, correction=0)
        out = (flat - mean) * torch.rsqrt(var + norm.eps) * norm.weight + norm.bias
        # Keras' moving variance averages the batch (biased) variance, torch's the unbiased one.
        with torch.no_grad():
            norm.running_mean.lerp_(mean.detach(), 1 - self.momentum)
            norm.running_var.lerp_(var.detach(), 1 - self.momentum)
            norm.num_batches_tracked.add_(1)
        return out.reshape(x.shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


class Embedding(Layer):
    """Maps integer ids to vectors of size ``output_dim``."""

    casts_inputs = False

    def __init__(self, input_dim: int, output_dim: int, **kwargs: Any) -> None:
        kwargs.pop("input_length", None)
        super().__init__(**kwargs)
        self.vocab_size = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings = nn.Parameter(
            torch.empty(self.vocab_size, self.output_dim).uniform_(-0.05, 0.05)
        )
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return F.embedding(x.long(), self.embeddings)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(input_dim=self.vocab_size, output_dim=self.output_dim)
        return config


LAYER_CLASSES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Activation,
        BatchNormalization,
        Conv2D,
        Dense,
        Dropout,
        Embedding,
        Flatten,
        InputLayer,
        MaxPooling2D,
        Reshape,
    )
}
