"""Keras weight initializers: objects (``GlorotUniform()``) and names (``"he_normal"``).

An initializer is called as ``initializer(shape, dtype=None)`` and returns a new tensor; fans
follow Keras' rule for kernels stored ``(..., in, out)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from epochal._validation import check_number

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "RandomNormal",
    "RandomUniform",
    "Zeros",
    "check_name",
    "fans",
    "initialize",
    "make_weight",
    "torch_dtype",
]

_INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "uniform",
    "random_uniform",
    "normal",
    "random_normal",
    "truncated_normal",
    "zeros",
    "ones",
    "constant",
    "lecun_uniform",
    "lecun_normal",
)


def initialize(tensor: torch.Tensor, name: str, fan_in: int, fan_out: int) -> None:
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
        elif name == "truncated_normal":
            nn.init.trunc_normal_(tensor, 0.0, 0.05, -0.1, 0.1)
        elif name in ("zeros", "constant"):
            tensor.zero_()
        elif name == "ones":
            tensor.fill_(1.0)


def check_name(arg: str, value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(
            f"`{arg}` must be an initializer name ({', '.join(_INITIALIZERS)}). "
            f"Received: {arg}={value!r}"
        )
    if value.lower() not in _INITIALIZERS:
        raise ValueError(
            f"Unknown initializer {arg}={value!r}. Known names: {', '.join(_INITIALIZERS)}."
        )
    return value


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """Keras' fan-in / fan-out of a weight of ``shape`` (kernels are ``(..., in, out)``)."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive = math.prod(int(d) for d in shape[:-2])
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


class Initializer:
    """A weight initializer: ``initializer(shape, dtype=None)`` returns a new tensor.

    Subclasses fill a tensor in :meth:`fill`; any callable with the same ``(shape, dtype)``
    signature may be passed where an initializer is expected.
    """

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> torch.Tensor:
        tensor = torch.empty(tuple(int(d) for d in shape), dtype=torch_dtype(dtype))
        fan_in, fan_out = fans(tensor.shape)
        with torch.no_grad():
            self.fill(tensor, fan_in, fan_out)
        return tensor

    def fill(self, tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}


class _Named(Initializer):
    name = ""

    def fill(self, tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        initialize(tensor, self.name, fan_in, fan_out)


class Zeros(_Named):
    """Fills with 0."""

    name = "zeros"


class Ones(_Named):
    """Fills with 1."""

    name = "ones"


class GlorotUniform(_Named):
    """Uniform in ``±sqrt(6 / (fan_in + fan_out))``."""

    name = "glorot_uniform"


class GlorotNormal(_Named):
    """Normal with standard deviation ``sqrt(2 / (fan_in + fan_out))``."""

    name = "glorot_normal"


class HeUniform(_Named):
    """Uniform in ``±sqrt(6 / fan_in)``."""

    name = "he_uniform"


class HeNormal(_Named):
    """Normal with standard deviation ``sqrt(2 / fan_in)``."""

    name = "he_normal"


class LecunUniform(_Named):
    """Uniform in ``±sqrt(3 / fan_in)``."""

    name = "lecun_uniform"


class LecunNormal(_Named):
    """Normal with standard deviation ``sqrt(1 / fan_in)``."""

    name = "lecun_normal"


class Constant(Initializer):
    """Fills with ``value``."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = float(check_number("value", value, where="Constant: ") or 0.0)

    def fill(self, tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        tensor.fill_(self.value)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal draws with ``mean`` and ``stddev`` (Keras defaults 0 and 0.05)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05) -> None:
        check_number("mean", mean, finite=True, where="RandomNormal: ")
        check_number("stddev", stddev, minimum=0.0, finite=True, where="RandomNormal: ")
        self.mean, self.stddev = float(mean), float(stddev)

    def fill(self, tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        tensor.normal_(self.mean, self.stddev)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev}


class RandomUniform(Initializer):
    """Uniform draws in ``[minval, maxval)`` (Keras defaults -0.05 and 0.05)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05) -> None:
        check_number("minval", minval, finite=True, where="RandomUniform: ")
        check_number("maxval", maxval, finite=True, where="RandomUniform: ")
        self.minval, self.maxval = float(minval), float(maxval)

    def fill(self, tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        tensor.uniform_(self.minval, self.maxval)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval}


_DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


def torch_dtype(dtype: Any) -> torch.dtype:
    if dtype is None:
        return torch.float32  # Keras' floatx
    if isinstance(dtype, torch.dtype):
        return dtype
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in _DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}. Known names: {', '.join(_DTYPES)}.")
    return _DTYPES[key]


def make_weight(initializer: Any, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    if initializer is None:
        initializer = "glorot_uniform" if dtype.is_floating_point else "zeros"
    if isinstance(initializer, str):
        if initializer.lower() not in _INITIALIZERS:
            raise ValueError(
                f"Unknown initializer {initializer!r}. Known names: {', '.join(_INITIALIZERS)}."
            )
        tensor = torch.empty(shape, dtype=dtype)
        initialize(tensor, initializer, *fans(shape))
        return tensor
    if not callable(initializer):
        raise TypeError(
            "`initializer` must be a name such as 'glorot_uniform' or a callable "
            f"(shape, dtype) -> tensor. Received: {initializer!r}"
        )
    value = initializer(shape, dtype=str(dtype).removeprefix("torch."))
    tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    tensor = tensor.to(dtype).detach().clone()
    if tuple(tensor.shape) != shape:
        raise ValueError(
            f"The initializer returned a tensor of shape {tuple(tensor.shape)} for a weight "
            f"of shape {shape}."
        )
    return tensor
