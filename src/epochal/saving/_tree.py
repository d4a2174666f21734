"""The one nested-state codec: dicts, lists, tuples, numbers, strings, tensors and numpy
arrays as JSON plus named tensors.

Optimizer states (in model files) and training-state backups mix tensors with numbers,
tuples and integer keys. Pickle would store them in one call but would also let a crafted
file run code when loaded, so they are split instead: tensors go to a flat
``{path: tensor}`` mapping (HDF5 datasets, safetensors entries), and everything else becomes
JSON with small tags for what JSON lacks (tuples, non-string keys, non-finite floats, tensor
and array references). Decoding rebuilds the exact structure and types.

:func:`decode` also reads the tags of version-1 training-state files (``__dict__`` pairs and
``__ndarray__`` byte views), so backups written before this codec was shared still load.
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
        native = obj.astype(obj.dtype.newbyteorder("="), copy=False)
        tensors[name] = torch.from_numpy(np.ascontiguousarray(native))
        return {_NDARRAY: name}
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
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
    raise TypeError(
        f"Cannot store {type(obj).__name__} at {prefix!r} in a checkpoint: only tensors, numpy "
        "arrays, numbers, strings, None, and dicts/lists/tuples of them are allowed."
    )


def decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode`.

    Raises:
        ValueError: when a referenced tensor is missing or a tag is malformed.
    """
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if set(obj) == _V1_NDARRAY_KEYS:
        return _v1_array(obj, tensors)
    if len(obj) == 1:
        ((tag, value),) = obj.items()
        if tag in (_TENSOR, _NDARRAY):
            if not isinstance(value, str) or value not in tensors:
                raise ValueError(f"the checkpoint references a missing tensor {value!r}")
            return tensors[value] if tag == _TENSOR else tensors[value].numpy()
        if tag == _TUPLE:
            return tuple(decode(v, tensors) for v in value)
        if tag in (_ITEMS, _V1_DICT):
            return {_hashable(decode(k, tensors)): decode(v, tensors) for k, v in value}
        if tag == _FLOAT:
            if value not in ("nan", "inf", "-inf"):
                raise ValueError(f"malformed float {value!r} in the checkpoint")
            return float(value)
    return {k: decode(v, tensors) for k, v in obj.items()}


# Version-1 training-state tags: a dict as [key, value] pairs, an array as its raw bytes.
_V1_DICT = "__dict__"
_V1_NDARRAY_KEYS = {_NDARRAY, "dtype", "shape", "scalar"}


def _v1_array(obj: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Any:
    key = obj[_NDARRAY]
    if not isinstance(key, str) or key not in tensors:
        raise ValueError(f"the checkpoint references a missing tensor {key!r}")
    dtype = np.dtype(obj["dtype"])
    if dtype.kind not in "biuf":
        raise ValueError(f"the checkpoint declares an unsupported array dtype {dtype.str!r}")
    raw = tensors[key].numpy().tobytes()
    array = np.frombuffer(raw, dtype=dtype).reshape(obj["shape"]).copy()
    return array[()] if obj["scalar"] else array


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(key)
    return key
