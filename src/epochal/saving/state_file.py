"""A nested training state ⇄ one file, without pickle.

The file is a safetensors file: every tensor and numpy array of the state is a named entry,
and the ``__metadata__`` header holds a JSON skeleton of the state (dicts, lists, tuples,
numbers, strings, ``None``) that refers to those entries, the format version, the
fingerprint of the model the state belongs to (names, shapes, dtypes of its ``state_dict``)
and a sha256 checksum over the skeleton and every entry. Loading never executes code, and a
truncated or altered file is reported as :class:`CorruptStateError`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from epochal._io import atomic_write

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

FORMAT_VERSION = 1
_KIND = "epochal.training_state"


class CorruptStateError(ValueError):
    """The file is truncated, altered, or not a state file at all."""


class IncompatibleStateError(ValueError):
    """The file is intact but cannot be used here (format version or model mismatch)."""


def fingerprint(state_dict: Mapping[str, torch.Tensor]) -> list[list[Any]]:
    """``[name, shape, dtype]`` of every tensor of a model's ``state_dict``, in order."""
    return [
        [name, list(t.shape), str(t.dtype).replace("torch.", "")] for name, t in state_dict.items()
    ]


def _encode(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(value, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = value.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        key = f"t{len(tensors)}"
        flat = np.ascontiguousarray(array).reshape(-1)
        tensors[key] = torch.from_numpy(flat.view(np.uint8).copy())
        return {
            "__ndarray__": key,
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "scalar": isinstance(value, np.generic),
        }
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {
            "__dict__": [
                [_encode(k, tensors, where), _encode(v, tensors, f"{where}.{k}")]
                for k, v in value.items()
            ]
        }
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"Cannot store {type(value).__name__} at {where} in a training state: only tensors, "
        "numpy arrays, numbers, strings, None, and dicts/lists/tuples of them are allowed."
    )


def _decode(value: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        raw = tensors[value["__ndarray__"]].numpy().tobytes()
        array = np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
        return array[()] if value["scalar"] else array
    if "__tuple__" in value:
        return tuple(_decode(v, tensors) for v in value["__tuple__"])
    return {_decode(k, tensors): _decode(v, tensors) for k, v in value["__dict__"]}


def _checksum(skeleton: str, tensors: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(skeleton.encode())
    for key in sorted(tensors):
        tensor = tensors[key]
        digest.update(f"{key}:{tensor.dtype}:{list(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def encode_state(state: Any, model_fingerprint: list[list[Any]] | None = None) -> bytes:
    """The bytes of a state file holding ``state``.

    Raises:
        TypeError: when ``state`` holds an object that has no pickle-free encoding.
    """
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.dumps(_encode(state, tensors, "state"))
    metadata = {
        "kind": _KIND,
        "format_version": str(FORMAT_VERSION),
        "fingerprint": json.dumps(model_fingerprint),
        "skeleton": skeleton,
        "sha256": _checksum(skeleton, tensors),
    }
    return st_save(tensors, metadata=metadata)


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
        if version != FORMAT_VERSION:
            raise IncompatibleStateError(
                f"{source} was written in training-state format version {version}; this "
                f"version of epochal reads version {FORMAT_VERSION} only. Resume with the "
                "epochal version that wrote it, or delete the backup to start over."
            )
        tensors = st_load(data)
        skeleton = metadata["skeleton"]
        if _checksum(skeleton, tensors) != metadata["sha256"]:
            raise CorruptStateError("checksum mismatch: the contents were altered")
        saved_print = json.loads(metadata["fingerprint"])
    except IncompatibleStateError:
        raise
    except (SafetensorError, KeyError, ValueError, TypeError) as exc:
        raise CorruptStateError(f"{source} is corrupted: {exc}") from None
    if model_fingerprint is not None and saved_print is not None:
        _check_fingerprint(saved_print, model_fingerprint, source)
    return _decode(json.loads(skeleton), tensors)


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
