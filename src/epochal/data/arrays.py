"""Nested inputs (tensors, arrays, tuples, dicts): mapping, length, conversion, split."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Batch = tuple[Any, Any, Any]  # (x, y or None, sample_weight or None)

_MAX_DEVICE_BYTES = 2 << 30  # arrays above this stay on the host and move per batch


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """Applies ``fn`` to every array of a tensor, a list/tuple of them or a dict of them."""
    if isinstance(tree, torch.Tensor):  # the common case, first: once per batch and part
        return fn(tree)
    if tree is None:
        return None
    if isinstance(tree, list | tuple):
        return type(tree)(tree_map(fn, t) for t in tree)
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)


def _leaves(tree: Any) -> list[Any]:
    if tree is None:
        return []
    if isinstance(tree, list | tuple):
        return [leaf for t in tree for leaf in _leaves(t)]
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in _leaves(v)]
    return [tree]


def tree_len(tree: Any) -> int:
    """Number of samples (length of the first axis) of an array structure."""
    leaves = _leaves(tree)
    return len(leaves[0]) if leaves else 0


def is_array_like(value: Any) -> bool:
    """Arrays, tensors, or a flat list/tuple/dict of them (multi-input data).

    A list of tuples is an iterable of batches, not arrays.
    """
    arrays = (np.ndarray, torch.Tensor)
    if isinstance(value, arrays):
        return True
    if isinstance(value, dict):
        return bool(value) and all(isinstance(v, arrays) for v in value.values())
    if isinstance(value, list | tuple):
        return bool(value) and all(isinstance(v, arrays) for v in value)
    return False


def to_tensor(value: Any, *, target: bool = False) -> torch.Tensor:
    """Converts an array to a tensor with Keras' dtype rules.

    float64 becomes float32; for inputs, small integer types (uint8 images) and bools become
    float32 too; int32/int64 stay integers (labels, token ids).
    """
    tensor = torch.as_tensor(np.asarray(value) if isinstance(value, list) else value)
    if tensor.dtype == torch.float64:
        return tensor.float()
    if tensor.dtype == torch.bool or (
        not target and tensor.dtype in (torch.uint8, torch.int8, torch.int16)
    ):
        return tensor.float()
    if target and tensor.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32):
        return tensor.long()
    return tensor


def _converted_nbytes(value: Any) -> int:
    """About the bytes ``to_tensor(value)`` will take, without a throw-away conversion."""
    array = np.asarray(value) if isinstance(value, list) else value
    count = array.numel() if isinstance(array, torch.Tensor) else int(np.prod(np.shape(array)))
    dtype = str(array.dtype).replace("torch.", "")
    if dtype in ("float64", "bool", "uint8", "int8", "int16"):
        return 4 * count  # converted to float32
    itemsize = array.element_size() if isinstance(array, torch.Tensor) else array.dtype.itemsize
    return itemsize * count


def split_validation(x: Any, y: Any, sample_weight: Any, split: float) -> tuple[Batch, Batch]:
    """Holds out the *last* ``split`` fraction of the samples (before any shuffling), as Keras.

    Raises:
        ValueError: when ``split`` is outside ``(0, 1)`` or leaves no train or no validation
            sample.
    """
    if not 0.0 < split < 1.0:
        raise ValueError(
            f"`validation_split` must be in (0, 1). Received: validation_split={split}"
        )
    n = tree_len(x)
    at = math.floor(n * (1.0 - split))
    if at == 0 or at == n:
        raise ValueError(
            f"validation_split={split} on {n} samples leaves {at} training and {n - at} "
            "validation samples; both must be at least 1."
        )

    def head(t: Any) -> Any:
        return t[:at]

    def tail(t: Any) -> Any:
        return t[at:]

    return (
        (tree_map(head, x), tree_map(head, y), tree_map(head, sample_weight)),
        (tree_map(tail, x), tree_map(tail, y), tree_map(tail, sample_weight)),
    )
