"""What a checkpoint holds, independent of its file format, and the errors of reading one."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import xxhash

__all__ = [
    "DIGEST_ALGORITHM",
    "Bundle",
    "CheckpointError",
    "Digest",
    "Refused",
    "digest",
    "digest_matches",
    "from_numpy",
    "raw_view",
    "to_numpy",
]


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


# numpy has no bfloat16 nor float8: those tensors travel as their raw bit patterns.
_RAW_VIEWS = {torch.bfloat16: torch.int16}
for _name in ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz"):
    if hasattr(torch, _name):
        _RAW_VIEWS[getattr(torch, _name)] = torch.uint8


def to_numpy(tensor: torch.Tensor) -> tuple[np.ndarray, str | None]:
    """The tensor as a numpy array, plus the torch dtype name when it travels as raw bits."""
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype in _RAW_VIEWS:
        return tensor.view(_RAW_VIEWS[tensor.dtype]).numpy().copy(), str(tensor.dtype)
    return tensor.numpy().copy(), None


def from_numpy(array: np.ndarray, torch_dtype: str | None, *, copy: bool = True) -> torch.Tensor:
    """Inverse of :func:`to_numpy` (``copy=False``: the tensor shares ``array``'s memory,
    for an array the caller owns, such as one h5py just read)."""
    if not (array.flags.c_contiguous and array.flags.writeable):
        copy = True
    tensor = torch.from_numpy(np.array(array, copy=True) if copy else array)
    if torch_dtype is not None:
        dtype = {str(k): k for k in _RAW_VIEWS}.get(torch_dtype)
        if dtype is None:
            raise ValueError(f"unknown raw tensor dtype {torch_dtype!r}")
        tensor = tensor.view(dtype)
    return tensor


def raw_view(tensor: torch.Tensor) -> tuple[np.ndarray, str | None]:
    """The tensor's bytes as a numpy array sharing its memory (no copy when it is already a
    contiguous CPU tensor), plus the torch dtype name when it travels as raw bits: what a
    writer hands to h5py or a file, and what :class:`Digest` sums."""
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype in _RAW_VIEWS:
        return tensor.view(_RAW_VIEWS[tensor.dtype]).numpy(), str(tensor.dtype)
    return tensor.numpy(), None


#: The checksum new files record, as ``"xxh3_128:<32 hex digits>"``. xxh3 sums at memory
#: speed (~18 GB/s here, sha256 ~1.6 GB/s), which is what lets a checkpoint be read and
#: written at disk speed; it detects corruption (truncation, flipped bits, a file edited by
#: accident), not tampering: epochal's readers never execute anything a file holds.
DIGEST_ALGORITHM = "xxh3_128"
# Files of epochal before xxh3 recorded a bare sha256 hex digest (64 digits): still verified.
_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "xxh3_128": xxhash.xxh3_128,
    "xxh3_64": xxhash.xxh3_64,
    "sha256": hashlib.sha256,
}


def algorithm_of(recorded: str) -> str:
    """The algorithm a recorded checksum names (``"sha256"`` for a bare hex digest).

    Raises:
        Refused: for an algorithm this version of epochal does not know.
    """
    name, sep, _ = recorded.partition(":")
    if not sep:
        return "sha256"
    if name not in _ALGORITHMS:
        raise Refused(
            f"its checksum uses the algorithm {name!r}, which this version of epochal does "
            f"not know (known: {', '.join(sorted(_ALGORITHMS))}); read it with a newer epochal"
        )
    return name


class Digest:
    """The checksum of a sequence of named tensors, fed one tensor at a time.

    Each tensor adds ``"<name>|<dtype>|<shape>|"`` and then its bytes, hashed where they lie
    (a view of the tensor's own memory: no copy), so a writer or reader can sum a tensor
    while it holds it, in one pass. The same names, dtypes, shapes and bytes give the same
    checksum whatever the file format. hashlib and xxhash release the interpreter lock on
    large buffers: summing on a writer thread does not stall training.
    """

    def __init__(self, algorithm: str = DIGEST_ALGORITHM) -> None:
        if algorithm not in _ALGORITHMS:
            raise ValueError(
                f"unknown checksum algorithm {algorithm!r}; accepted: {sorted(_ALGORITHMS)}"
            )
        self.algorithm = algorithm
        self._hash = _ALGORITHMS[algorithm]()

    def update(self, name: str, tensor: torch.Tensor) -> None:
        """Adds one tensor (CPU or not; bfloat16 as its raw 16-bit patterns)."""
        array, raw = raw_view(tensor)
        self.update_array(name, array, raw)

    def update_array(self, name: str, array: np.ndarray, raw: str | None = None) -> None:
        """Adds one tensor given as a numpy array (``raw``: its torch dtype, as
        :func:`raw_view` returns it)."""
        self._hash.update(f"{name}|{raw or array.dtype.str}|{array.shape}|".encode())
        if array.size:
            self._hash.update(np.ascontiguousarray(array).data.cast("B"))

    def hexdigest(self) -> str:
        """``"<algorithm>:<hex>"``; a bare hex digest for sha256, as older files hold it."""
        value = str(self._hash.hexdigest())
        return value if self.algorithm == "sha256" else f"{self.algorithm}:{value}"


def digest(tensors: Iterable[tuple[str, torch.Tensor]], algorithm: str = DIGEST_ALGORITHM) -> str:
    """The checksum epochal records for named tensors (see :class:`Digest`): HDF5 and
    safetensors do not checksum tensor data, so a flipped bit would otherwise load
    silently. ``algorithm`` defaults to xxh3_128; ``"sha256"`` gives the digest files
    written before it carry."""
    summed = Digest(algorithm)
    for name, tensor in tensors:
        summed.update(name, tensor)
    return summed.hexdigest()


def digest_matches(tensors: Iterable[tuple[str, torch.Tensor]], recorded: Any) -> bool:
    """Whether ``tensors`` have the checksum ``recorded`` (in the algorithm it names;
    `None` never matches).

    Raises:
        Refused: the recorded checksum names an algorithm this version does not know.
    """
    if recorded is None:
        return False
    text = recorded.decode("utf-8") if isinstance(recorded, bytes) else str(recorded)
    return hmac.compare_digest(digest(tensors, algorithm_of(text)), text)
