"""A nested training state ⇄ one file, without pickle.

The file is a safetensors file: every tensor and numpy array of the state is a named entry,
and the ``__metadata__`` header holds a JSON skeleton of the state (dicts, lists, tuples,
numbers, strings, ``None``) that refers to those entries, the format version, the
fingerprint of the model the state belongs to (names, shapes, dtypes of its ``state_dict``)
and a checksum over the skeleton and every entry (xxh3_128, recorded as
``"xxh3_128:<hex>"``; files of format version 2 hold sha256, still verified). The skeleton
and the checksum are those of the optimizer state in model files (:mod:`epochal.saving._tree`,
:func:`epochal.saving._bundle.digest`): one codec and one checksum for every nested state.
Loading never executes code, and a truncated or altered file is reported as
:class:`CorruptStateError`. Files of format versions 1 (an earlier codec) and 2 (sha256) still load.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import safetensors.torch as _st_torch
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from epochal._io import atomic_write, write_buffers
from epochal.saving import _tree
from epochal.saving._bundle import Refused, digest, digest_matches

__all__ = [
    "FORMAT_VERSION",
    "CorruptStateError",
    "IncompatibleStateError",
    "decode_state",
    "encode_state",
    "fingerprint",
    "read_state",
    "write_state",
]

# 3: the codec of model files (saving._tree) and their checksum (saving._bundle.digest,
#    xxh3_128, the algorithm named in the value). 2: the same with sha256; still read.
# 1: a codec and a sha256 of its own; still read.
FORMAT_VERSION = 3
_KIND = "epochal.training_state"
_SKELETON = "__skeleton__"


class CorruptStateError(ValueError):
    """The file is truncated, altered, or not a state file at all."""


class IncompatibleStateError(ValueError):
    """The file is intact but cannot be used here (format version or model mismatch)."""


def fingerprint(state_dict: Mapping[str, torch.Tensor]) -> list[list[Any]]:
    """``[name, shape, dtype]`` of every tensor of a model's ``state_dict``, in order."""
    return [
        [name, list(t.shape), str(t.dtype).replace("torch.", "")] for name, t in state_dict.items()
    ]


def _entries(skeleton: str, tensors: Mapping[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    """What the checksum covers: the skeleton, then every entry in name order."""
    text = torch.frombuffer(bytearray(skeleton.encode()), dtype=torch.uint8)
    return [(_SKELETON, text), *sorted(tensors.items())]


def _digest(skeleton: str, tensors: Mapping[str, torch.Tensor]) -> str:
    """The one tensor checksum of epochal's files (:func:`epochal.saving._bundle.digest`),
    over the skeleton and every entry in name order."""
    return digest(_entries(skeleton, tensors))


def _v1_checksum(skeleton: str, tensors: Mapping[str, torch.Tensor]) -> str:
    # How format-version-1 files were summed; read-only, so that old backups still load.
    summed = hashlib.sha256(skeleton.encode())
    for key in sorted(tensors):
        tensor = tensors[key]
        summed.update(f"{key}:{tensor.dtype}:{list(tensor.shape)}".encode())
        summed.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return summed.hexdigest()


def _prepared(
    state: Any, model_fingerprint: list[list[Any]] | None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The entries and the ``__metadata__`` of a state file holding ``state``."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.dumps(_tree.encode(state, "state", tensors), allow_nan=False)
    tensors = {name: t.contiguous() for name, t in tensors.items()}
    metadata = {
        "kind": _KIND,
        "format_version": str(FORMAT_VERSION),
        "fingerprint": json.dumps(model_fingerprint),
        "skeleton": skeleton,
        "sha256": _digest(skeleton, tensors),
    }
    return tensors, metadata


def encode_state(state: Any, model_fingerprint: list[list[Any]] | None = None) -> bytes:
    """The bytes of a state file holding ``state``.

    Raises:
        TypeError: when ``state`` holds an object that has no pickle-free encoding.
    """
    tensors, metadata = _prepared(state, model_fingerprint)
    # Own copies: safetensors refuses tensors that share memory (tied weights, views).
    return st_save({name: t.clone() for name, t in tensors.items()}, metadata=metadata)


# safetensors' names of the dtypes a state holds; a file is a header then the raw bytes.
# The installed safetensors' own table where it has one (it adds the unsigned and float8
# types: numpy's random state is uint32, and a state holding a dtype missing here is
# written by the slower safetensors path, whole in memory).
_ST_DTYPES: dict[torch.dtype, str] = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
_ST_DTYPES.update(
    {
        dtype: name
        for name, dtype in getattr(_st_torch, "_TYPES", {}).items()
        if dtype.is_complex is False
    }
)


def _stream(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> list[Any]:
    """The pieces of a safetensors file, in order, each a view of the tensors' own memory:
    the file is written from them without first being assembled in memory."""
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, tensor in tensors.items():
        size = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": _ST_DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors aligns the data on 8 bytes
    pieces: list[Any] = [len(raw).to_bytes(8, "little"), raw]
    for tensor in tensors.values():
        if tensor.numel():
            pieces.append(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return pieces


def _v1_matches(skeleton: str, tensors: Mapping[str, torch.Tensor], recorded: str) -> bool:
    return _v1_checksum(skeleton, tensors) == recorded


def _matches(skeleton: str, tensors: Mapping[str, torch.Tensor], recorded: str) -> bool:
    return digest_matches(_entries(skeleton, tensors), recorded)


# Per format version: whether the recorded checksum matches the contents.
_CHECKSUMS = {1: _v1_matches, 2: _matches, 3: _matches}


def _header(data: bytes) -> dict[str, Any]:
    if len(data) < 8:
        raise CorruptStateError("the file is shorter than a header")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise CorruptStateError("the header runs past the end of the file (truncated?)")
    try:
        return dict(json.loads(data[8 : 8 + size]))
    except ValueError as exc:
        raise CorruptStateError(f"unreadable header ({exc})") from None


def decode_state(
    data: bytes, model_fingerprint: list[list[Any]] | None = None, source: str = "<bytes>"
) -> Any:
    """The state held in ``data``, checked against its checksum and ``model_fingerprint``.

    Raises:
        CorruptStateError: truncated, altered or foreign bytes.
        IncompatibleStateError: another format version, or a model whose tensors differ.
    """
    try:
        metadata = _header(data).get("__metadata__") or {}
        if metadata.get("kind") != _KIND:
            raise CorruptStateError("not an epochal training-state file")
        version = int(metadata["format_version"])
        if version not in _CHECKSUMS:
            raise IncompatibleStateError(
                f"{source} was written in training-state format version {version}; this "
                f"version of epochal reads versions {', '.join(map(str, _CHECKSUMS))}. Resume "
                "with the epochal version that wrote it, or delete the backup to start over."
            )
        tensors = st_load(data)
        skeleton = metadata["skeleton"]
        if not _CHECKSUMS[version](skeleton, tensors, metadata["sha256"]):
            raise CorruptStateError("checksum mismatch: the contents were altered")
        saved_print = json.loads(metadata["fingerprint"])
    except IncompatibleStateError:
        raise
    except Refused as exc:  # a checksum algorithm of a newer epochal
        raise IncompatibleStateError(f"{source}: {exc}") from None
    except (SafetensorError, KeyError, ValueError, TypeError) as exc:
        raise CorruptStateError(f"{source} is corrupted: {exc}") from None
    if model_fingerprint is not None and saved_print is not None:
        _check_fingerprint(saved_print, model_fingerprint, source)
    try:
        return _tree.decode(json.loads(skeleton), tensors)
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptStateError(f"{source} is corrupted: {exc}") from None


def _check_fingerprint(saved: list[list[Any]], current: list[list[Any]], source: str) -> None:
    # Tensors match by position, shape and dtype: automatic layer names (dense_3) depend on
    # how many layers a process created before, not on the architecture.
    if [entry[1:] for entry in saved] == [entry[1:] for entry in current]:
        return
    problems = [
        f"{old[0]} {old[1]} {old[2]} in the backup vs {new[0]} {new[1]} {new[2]} in the model"
        for old, new in zip(saved, current, strict=False)
        if old[1:] != new[1:]
    ]
    if len(saved) != len(current):
        problems.insert(0, f"{len(saved)} tensors in the backup, {len(current)} in the model")
    more = f"; and {len(problems) - 4} more" if len(problems) > 4 else ""
    shown = "; ".join(problems[:4]) + more
    raise IncompatibleStateError(
        f"{source} does not match the model's architecture ({shown}). It was written for "
        "another model: use another backup directory, or delete this one to start over."
    )


def write_state(
    path: str | os.PathLike[str], state: Any, model_fingerprint: list[list[Any]] | None = None
) -> Path:
    """Writes ``state`` to ``path`` atomically (the old file stays until the new one is whole).

    The tensors are streamed from their own memory: take a copy first (as
    :meth:`epochal.saving.async_writer.AsyncWriter.host_copy` does) when training may change
    them while the file is written.
    """
    tensors, metadata = _prepared(state, model_fingerprint)
    if any(t.dtype not in _ST_DTYPES for t in tensors.values()):
        data = encode_state(state, model_fingerprint)  # a rare dtype: safetensors itself

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                handle.write(data)

        return atomic_write(path, write)

    return atomic_write(path, lambda tmp: write_buffers(tmp, _stream(tensors, metadata)))


def read_state(
    path: str | os.PathLike[str], model_fingerprint: list[list[Any]] | None = None
) -> Any:
    """Reads what :func:`write_state` wrote; see :func:`decode_state` for the errors."""
    with open(path, "rb") as handle:
        data = handle.read()
    return decode_state(data, model_fingerprint, source=str(path))
