"""Keras activation functions by name: ``activations.get("relu")`` as layers resolve them."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["get"]

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


def get(
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
