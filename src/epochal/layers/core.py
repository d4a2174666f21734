"""Core layers: Dense, Activation, Embedding, Masking, Lambda."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from epochal import activations, initializers
from epochal._validation import ArgumentTypeError
from epochal.layers._support import (
    check_bool,
    check_units,
    get_constraint,
    get_regularizer,
    resolve_initializer,
    serialize,
)
from epochal.layers.base import Layer, tag_weight

__all__ = ["Activation", "Dense", "Embedding", "Lambda", "LambdaFunctionError", "Masking"]


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


class LambdaFunctionError(ValueError):
    """A saved ``Lambda`` layer's function cannot be rebuilt from the file: epochal never
    runs code from a file (no unmarshalling, no eval), so the function must be given by
    name in ``custom_objects`` (or registered)."""


def _function_entry(fn: Any, layer: str, what: str) -> dict[str, Any]:
    """How a Lambda's function is written in a config: by name only, never as code."""
    name = getattr(fn, "__name__", None)
    if not name or name == "<lambda>":
        # a Python lambda has no name: it is found by the layer's name on loading
        return {"class_name": "__lambda__", "config": {"layer": layer, "argument": what}}
    return {
        "module": "builtins",
        "class_name": "function",
        "config": name,
        "registered_name": "function",
    }


class Lambda(Layer):
    """Wraps a function as a layer: ``call(inputs)`` returns ``function(inputs, **arguments)``.

    Files hold the function by its name only (never its code): a model with a ``Lambda``
    loads when ``load_model(..., custom_objects={name: function})`` (or the registry)
    provides the function; for a Python ``lambda``, which has no name, the key is the
    layer's name. A Keras file's marshalled lambda is never run.

    Args (Keras 3):
        function: The function, ``function(inputs, **arguments)``; it also receives
            ``mask=`` / ``training=`` when its signature has them.
        output_shape: The output shape (batch axis excluded) or a function of the input
            shape. epochal infers shapes by running the layer, so it is only kept for the
            config. Defaults to `None`.
        mask: The output mask: a function ``(inputs, mask) -> mask`` or a fixed mask; when
            given, the layer supports masking. Defaults to `None`.
        arguments: Extra keyword arguments for ``function``. Defaults to `None`.
    """

    casts_inputs = False

    def __init__(
        self,
        function: Callable[..., Any],
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise ArgumentTypeError(
                f"`function` must be a callable. Received: function={function!r}"
            )
        if arguments is not None and not isinstance(arguments, dict):
            raise ArgumentTypeError(
                f"`arguments` must be a dict of keyword arguments or None. Received: "
                f"arguments={arguments!r}"
            )
        if output_shape is not None and not (
            callable(output_shape) or isinstance(output_shape, list | tuple)
        ):
            raise ArgumentTypeError(
                "`output_shape` must be a tuple, a list, a function of the input shape or "
                f"None. Received: output_shape={output_shape!r}"
            )
        self.function = function
        self.output_shape_arg = (
            tuple(output_shape) if isinstance(output_shape, list) else output_shape
        )
        self.mask = mask
        self.supports_masking = mask is not None
        self.arguments = dict(arguments or {})
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        self._wants_mask = "mask" in params
        self._wants_training = "training" in params
        self.built = True

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        kwargs = dict(self.arguments)
        if self._wants_mask:
            kwargs["mask"] = mask
        if self._wants_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if callable(self.mask):
            return self.mask(inputs, mask)
        return self.mask

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["function"] = _function_entry(self.function, self.name, "function")
        if self.output_shape_arg is not None:
            config["output_shape"] = (
                _function_entry(self.output_shape_arg, self.name, "output_shape")
                if callable(self.output_shape_arg)
                else list(self.output_shape_arg)
            )
        if self.mask is not None:
            if not callable(self.mask):
                raise TypeError(
                    f"Lambda {self.name!r}: a fixed `mask` cannot be written into a config; "
                    "pass a function (inputs, mask) -> mask to save the model's architecture."
                )
            config["mask"] = _function_entry(self.mask, self.name, "mask")
        for key, value in self.arguments.items():
            if not (value is None or isinstance(value, str | int | float | bool | list)):
                raise TypeError(
                    f"Lambda {self.name!r}: the argument {key}={value!r} cannot be written "
                    "into a config (numbers, strings, booleans and lists can)."
                )
        config["arguments"] = dict(self.arguments)
        return config

    @staticmethod
    def resolve_functions(config: dict[str, Any], lookup: Callable[[str], Any]) -> dict[str, Any]:
        """``config`` (a saved Lambda's, epochal's or Keras') with its function entries
        replaced by the functions ``lookup(name)`` returns: the function's name for a named
        function, the layer's name for a Python lambda (Keras stores those as marshalled
        bytecode, which is never read).

        Raises:
            LambdaFunctionError: naming the layer and the ``custom_objects`` key to pass.
        """
        config = dict(config)
        layer = str(config.get("name") or "lambda")
        for key in ("function", "output_shape", "mask"):
            entry = config.get(key)
            if key != "function" and not (isinstance(entry, dict) and "class_name" in entry):
                continue
            if callable(entry):
                continue
            if isinstance(entry, str):
                name = entry
            elif isinstance(entry, dict) and entry.get("class_name") == "__lambda__":
                name = layer
            elif isinstance(entry, dict) and isinstance(entry.get("config"), str):
                name = str(entry["config"])
            else:
                raise LambdaFunctionError(
                    f"The Lambda layer {layer!r}: its `{key}` entry {entry!r} is not a function "
                    "name; epochal rebuilds Lambda functions only by name."
                )
            fn = lookup(name)
            if fn is None:
                what = (
                    "a Python lambda (stored as code, which epochal never runs), so it is "
                    "looked up by the layer's name"
                    if name == layer
                    and isinstance(entry, dict)
                    and entry.get("class_name") == "__lambda__"
                    else f"the function {name!r}"
                )
                raise LambdaFunctionError(
                    f"The Lambda layer {layer!r} cannot be loaded: its `{key}` is {what}. Pass "
                    f"it in load_model(..., custom_objects={{{name!r}: <the function>}})."
                )
            config[key] = fn
        if isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        return config

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Lambda:
        objects = custom_objects or {}
        return cls(**cls.resolve_functions(config, objects.get))
