"""``keras.backend``'s functions that training and callback code calls.

``get_value(x)`` / ``set_value(x, value)`` read and write a learning rate (or any tensor or
variable-like object), e.g. ``backend.set_value(self.model.optimizer.learning_rate, 0.01)``
in a Keras 2 callback; ``epsilon()`` is the fuzz factor the losses clip probabilities with;
``floatx()`` and ``image_data_format()`` are Keras' defaults (``"float32"``,
``"channels_last"``); ``clear_session()`` restarts automatic layer names and frees cached
memory.

epochal computes in float32 with channels-last layers by default: setters that would ask
for something else raise instead of being silently ignored.
"""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import torch

from epochal import losses as _losses
from epochal.layers import base as _layer_base

__all__ = [
    "clear_session",
    "epsilon",
    "floatx",
    "get_value",
    "image_data_format",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "set_value",
]

_FLOATX = "float32"
_KERAS_FLOATS = ("bfloat16", "float16", "float32", "float64")
_DATA_FORMATS = ("channels_first", "channels_last")


def epsilon() -> float:
    """The fuzz factor of numeric expressions (Keras' default ``1e-7``)."""
    return float(_losses.EPSILON)


def set_epsilon(value: float) -> None:
    """Sets the fuzz factor the losses clip probabilities with.

    Raises:
        ValueError: for a value that is not a finite number in ``[0, 1)``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"`epsilon` must be a number in [0, 1). Received: epsilon={value!r}")
    _losses.EPSILON = float(value)


def floatx() -> str:
    """The default float type, ``"float32"``."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Keras' ``set_floatx``; epochal computes in float32 only.

    Raises:
        ValueError: for a name Keras does not know.
        NotImplementedError: for another Keras float type (use ``module.double()`` or
            autocast explicitly).
    """
    if value not in _KERAS_FLOATS:
        raise ValueError(
            f"Unknown `floatx` value: {value!r}. Expected one of {', '.join(_KERAS_FLOATS)}."
        )
    if value != _FLOATX:
        raise NotImplementedError(
            f"set_floatx({value!r}): epochal layers compute in float32. Convert the module "
            "yourself (e.g. model.module.double()) or use torch.autocast for mixed precision."
        )


def image_data_format() -> str:
    """The default layout of image layers, ``"channels_last"``."""
    return "channels_last"


def set_image_data_format(data_format: str) -> None:
    """Keras' ``set_image_data_format``; the default stays ``"channels_last"``.

    Raises:
        ValueError: for a value other than ``"channels_first"`` / ``"channels_last"``.
        NotImplementedError: for ``"channels_first"`` (pass ``data_format=`` to each layer).
    """
    if data_format not in _DATA_FORMATS:
        raise ValueError(
            f"The `data_format` argument must be one of {_DATA_FORMATS}. "
            f"Received: data_format={data_format!r}"
        )
    if data_format != "channels_last":
        raise NotImplementedError(
            "set_image_data_format('channels_first'): epochal's default layout is "
            "channels_last; pass data_format='channels_first' to the layers that take it."
        )


def get_value(x: Any) -> Any:
    """The value of ``x`` as numpy: a learning rate, a tensor, a variable-like object with
    ``numpy()``, or a plain number (returned as a numpy value)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    numpy = getattr(x, "numpy", None)
    if callable(numpy):
        return numpy()
    return np.asarray(x)


def set_value(x: Any, value: Any) -> None:
    """Writes ``value`` into ``x``: a learning rate (``optimizer.learning_rate``), anything
    with ``assign()``, or a tensor (copied in place, shape kept).

    Raises:
        TypeError: for an object that can hold no value (e.g. a Python float, which cannot
            be changed in place), or a learning rate driven by a schedule (as Keras).
    """
    assign = getattr(x, "assign", None)
    if callable(assign):
        assign(value)
        return
    if isinstance(x, torch.Tensor):
        with torch.no_grad():
            x.copy_(torch.as_tensor(np.asarray(value), dtype=x.dtype).to(x.device))
        return
    raise TypeError(
        f"set_value() needs a variable-like object (with assign()) or a tensor; received "
        f"{type(x).__name__} {x!r}. To change a learning rate, pass "
        "model.optimizer.learning_rate."
    )


def clear_session(free_memory: bool = True) -> None:
    """Restarts automatic layer names (``dense``, ``dense_1`` ... start over) and, with
    ``free_memory``, collects garbage and empties the CUDA cache."""
    _layer_base._NAME_COUNTS.clear()
    if free_memory:
        gc.collect()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
