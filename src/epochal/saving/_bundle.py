"""What a checkpoint holds, independent of its file format, and the errors of reading one."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["Bundle", "CheckpointError", "Refused", "digest", "from_numpy", "to_numpy"]


class CheckpointError(ValueError):
    """A checkpoint file is truncated, corrupt, foreign, unsafe, or does not fit the model.

    A ``ValueError`` subclass, so ``except ValueError`` keeps working. The message names
    the file and, for mismatches, the offending tensor.
    """

    def __init__(self, path: str | os.PathLike[str] | None, reason: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        where = f"Cannot load {self.path!r}: " if self.path is not None else ""
        super().__init__(f"{where}{reason}")


class Refused(ValueError):
    """Raised by a reader that knows no file name: the content is refused for the reason
    given (``read_bundle`` turns it into a :class:`CheckpointError` naming the file)."""


@dataclass
class Bundle:
    """The content of a checkpoint: the one thing every format writes and reads.

    Attributes:
        weights: The module's ``state_dict`` tensors by name, in ``state_dict`` order.
        optimizer: The optimizer facade's nested ``state_dict`` (tensors inside), or None.
        config: JSON-able ``model_config`` / ``compile_config`` / ``build_config``, or None.
    """

    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)


def from_layout_1(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights of a file in epochal's weight layout 1 (before 0.2), in today's layout.

    Layout 1 stored ``Conv2D`` kernels as torch does, ``(filters, in, kh, kw)``; since
    layout 2 they are Keras' ``(kh, kw, in, filters)``, so that ``get_weights()`` and files
    exchange with Keras directly. ``Conv2D`` was the only layer with a 4-D ``kernel`` then.
    """
    return {
        name: t.permute(2, 3, 1, 0).contiguous()
        if t.dim() == 4 and name.rsplit(".", 1)[-1] == "kernel"
        else t
        for name, t in weights.items()
    }


# numpy has no bfloat16: those tensors travel as their raw 16-bit patterns.
_RAW_VIEWS = {torch.bfloat16: torch.int16}


def to_numpy(tensor: torch.Tensor) -> tuple[np.ndarray, str | None]:
    """The tensor as a numpy array, plus the torch dtype name when it travels as raw bits."""
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype in _RAW_VIEWS:
        return tensor.view(_RAW_VIEWS[tensor.dtype]).numpy().copy(), str(tensor.dtype)
    return tensor.numpy().copy(), None


def from_numpy(array: np.ndarray, torch_dtype: str | None) -> torch.Tensor:
    """Inverse of :func:`to_numpy`."""
    tensor = torch.from_numpy(np.array(array, copy=True))
    if torch_dtype is not None:
        dtype = {str(k): k for k in _RAW_VIEWS}.get(torch_dtype)
        if dtype is None:
            raise ValueError(f"unknown raw tensor dtype {torch_dtype!r}")
        tensor = tensor.view(dtype)
    return tensor


def _raw_view(tensor: torch.Tensor) -> tuple[np.ndarray, str | None]:
    """The tensor's bytes as a numpy array sharing its memory (no copy when it is already a
    contiguous CPU tensor)."""
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype in _RAW_VIEWS:
        return tensor.view(_RAW_VIEWS[tensor.dtype]).numpy(), str(tensor.dtype)
    return tensor.numpy(), None


def digest(tensors: Iterable[tuple[str, torch.Tensor]]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes: HDF5 and safetensors do not checksum
    tensor data, so a flipped bit would otherwise load silently. The bytes are hashed where
    they lie (no copy); files of every earlier version carry the same digest."""
    h = hashlib.sha256()
    for name, tensor in tensors:
        array, raw = _raw_view(tensor)
        h.update(f"{name}|{raw or array.dtype.str}|{array.shape}|".encode())
        if array.size:
            h.update(np.ascontiguousarray(array).data.cast("B"))
    return h.hexdigest()
