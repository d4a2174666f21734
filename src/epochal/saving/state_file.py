"""A nested training state ⇄ one file, without pickle.

The file is a safetensors file: every tensor and numpy array of the state is a named entry,
and the ``__metadata__`` header holds a JSON skeleton of the state (dicts, lists, tuples,
numbers, strings, ``None``) that refers to those entries, the format version, the
fingerprint of the model the state belongs to (names, shapes, dtypes of its ``state_dict``)
and a sha256 checksum over the skeleton and every entry. The skeleton and the checksum are
those of the optimizer state in model files (:mod:`epochal.saving._tree`,
:func:`epochal.saving._bundle.digest`): one codec and one checksum for every nested state.
Loading never executes code, and a truncated or altered file is reported as
:class:`CorruptStateError`. Files of format version 1 (an earlier codec) still load.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from epochal._io import atomic_write
from epochal.saving import _tree
from epochal.saving._bundle import digest

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

# 2: the codec of model files (saving._tree) and their checksum (saving._bundle.digest).
# 1: a codec and a sha256 of its own; still read.
FORMAT_VERSION = 2
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


def _digest(skeleton: str, tensors: Mapping[str, torch.Tensor]) -> str:
    """The one tensor checksum of epochal's files (:func:`epochal.saving._bundle.digest`),
    over the skeleton and every entry in name order."""
    text = torch.frombuffer(bytearray(skeleton.encode()), dtype=torch.uint8)
    return digest([(_SKELETON, text), *sorted(tensors.items())])


def _v1_checksum(skeleton: str, tensors: Mapping[str, torch.Tensor]) -> str:
    # How format-version-1 files were summed; read-only, so that old backups still load.
    summed = hashlib.sha256(skeleton.encode())
    for key in sorted(tensors):
        tensor = tensors[key]
        summed.update(f"{key}:{tensor.dtype}:{list(tensor.shape)}".encode())
        summed.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return summed.hexdigest()


def encode_state(state: Any, model_fingerprint: list[list[Any]] | None = None) -> bytes:
    """The bytes of a state file holding ``state``.

    Raises:
        TypeError: when ``state`` holds an object that has no pickle-free encoding.
    """
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.dumps(_tree.encode(state, "state", tensors), allow_nan=False)
    # Own copies: safetensors refuses tensors that share memory (tied weights, views).
    tensors = {name: t.contiguous().clone() for name, t in tensors.items()}
    metadata = {
        "kind": _KIND,
        "format_version": str(FORMAT_VERSION),
        "fingerprint": json.dumps(model_fingerprint),
        "skeleton": skeleton,
        "sha256": _digest(skeleton, tensors),
    }
    return st_save(tensors, metadata=metadata)


_CHECKSUMS = {1: _v1_checksum, 2: _digest}


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
        if _CHECKSUMS[version](skeleton, tensors) != metadata["sha256"]:
            raise CorruptStateError("checksum mismatch: the contents were altered")
        saved_print = json.loads(metadata["fingerprint"])
    except IncompatibleStateError:
        raise
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
    """Writes ``state`` to ``path`` atomically (the old file stays until the new one is whole)."""
    data = encode_state(state, model_fingerprint)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    return atomic_write(path, write)


def read_state(
    path: str | os.PathLike[str], model_fingerprint: list[list[Any]] | None = None
) -> Any:
    """Reads what :func:`write_state` wrote; see :func:`decode_state` for the errors."""
    with open(path, "rb") as handle:
        data = handle.read()
    return decode_state(data, model_fingerprint, source=str(path))
