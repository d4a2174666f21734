"""Nested state (dicts, lists, tuples, numbers, strings, tensors) as JSON plus named tensors.

An optimizer's ``state_dict`` mixes tensors with numbers, tuples and integer keys. Pickle
would store it in one call but would also let a crafted file run code when loaded, so it
is split instead: tensors go to a flat ``{path: tensor}`` mapping (stored as datasets), and
everything else becomes JSON with small tags for what JSON lacks (tuples, non-string keys,
tensor references). Decoding rebuilds the exact structure and types.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["decode", "encode"]

_TENSOR, _TUPLE, _ITEMS, _FLOAT, _NDARRAY = (
    "__tensor__",
    "__tuple__",
    "__items__",
    "__float__",
    "__ndarray__",
)


def encode(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Returns the JSON-ready form of ``obj``; its tensors are added to ``tensors``."""
    if isinstance(obj, torch.Tensor):
        name = f"{prefix}" if prefix not in tensors else f"{prefix}_{len(tensors)}"
        tensors[name] = obj.detach().cpu()
        return {_TENSOR: name}
    if isinstance(obj, np.ndarray):
        name = prefix if prefix not in tensors else f"{prefix}_{len(tensors)}"
        tensors[name] = torch.from_numpy(np.ascontiguousarray(obj))
        return {_NDARRAY: name}
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float | np.floating):
        value = float(obj)
        # JSON has no NaN/inf; repr keeps every float bit-exactly.
        return value if math.isfinite(value) else {_FLOAT: repr(value)}
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, tuple):
        return {_TUPLE: [encode(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode(v, f"{prefix}/{k}", tensors) for k, v in obj.items()}
        return {
            _ITEMS: [
                [encode(k, f"{prefix}/k{i}", tensors), encode(v, f"{prefix}/{k}", tensors)]
                for i, (k, v) in enumerate(obj.items())
            ]
        }
    raise TypeError(f"Cannot store a {type(obj).__name__} in a checkpoint (at {prefix!r}).")


def decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode`.

    Raises:
        ValueError: when a referenced tensor is missing or a tag is malformed.
    """
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        ((tag, value),) = obj.items()
        if tag in (_TENSOR, _NDARRAY):
            if not isinstance(value, str) or value not in tensors:
                raise ValueError(f"the checkpoint references a missing tensor {value!r}")
            return tensors[value] if tag == _TENSOR else tensors[value].numpy()
        if tag == _TUPLE:
            return tuple(decode(v, tensors) for v in value)
        if tag == _ITEMS:
            return {_hashable(decode(k, tensors)): decode(v, tensors) for k, v in value}
        if tag == _FLOAT:
            if value not in ("nan", "inf", "-inf"):
                raise ValueError(f"malformed float {value!r} in the checkpoint")
            return float(value)
    return {k: decode(v, tensors) for k, v in obj.items()}


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(key)
    return key
