"""Thin file formats over one :class:`~epochal.saving._bundle.Bundle`.

=====================  ============================================  =================
suffix                 content                                       whole model?
=====================  ============================================  =================
``.h5`` ``.hdf5``      HDF5 (see ``_h5.py``)                         yes (or weights)
``.weights.h5``        HDF5, weights only                            no
``.keras``             zip: config.json, metadata.json, model.weights.h5  yes
``.safetensors``       safetensors, weights only                     no
``.pt`` ``.pth``       torch state dict (read with ``weights_only``)  no
=====================  ============================================  =================

Every write goes through :func:`epochal._io.atomic_write`; every read turns any failure
into a :class:`CheckpointError` naming the file, before the model is touched.

These are epochal's own layouts. Files in Keras' format (what Keras writes, and what
``save_model``/``save_weights`` write for ``.keras``/``.weights.h5`` when Keras can hold
the model) are read by :mod:`epochal.saving.keras_format` and written by
:mod:`epochal.saving.keras_writer`; see ``docs/saving.md``.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import torch

from epochal._io import atomic_write, write_buffers
from epochal._version import __version__
from epochal.saving._bundle import (
    Bundle,
    CheckpointError,
    Refused,
    digest,
    digest_matches,
    from_layout_1,
)
from epochal.saving._h5 import H5Image, read_h5, write_h5

__all__ = [
    "MODEL_SUFFIXES",
    "WEIGHTS_SUFFIXES",
    "read_bundle",
    "suffix_of",
    "torch_load_is_safe",
    "write_bundle",
]

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
WEIGHTS_SUFFIXES = (".weights.h5", ".h5", ".hdf5", ".safetensors", ".pt", ".pth")
_KERAS_MEMBERS = ("metadata.json", "config.json", "model.weights.h5")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# A member may inflate at most _BOMB_RATIO times its compressed size once past _BOMB_FLOOR.
_BOMB_FLOOR = 64 << 20
_BOMB_RATIO = 200
_MEMBER_LIMIT = 1 << 40
# Deeper JSON than any architecture needs is refused before code walks it recursively.
_MAX_CONFIG_DEPTH = 64
# Weight layout of epochal's safetensors files (see _h5.FORMAT_VERSION); absent means 1.
_SAFETENSORS_LAYOUT = 2
# torch.load(weights_only=True) has known bypasses before 2.10 (CVE-2025-32434, CVE-2026-24747).
_SAFE_TORCH_LOAD = (2, 10)


def suffix_of(path: str | os.PathLike[str]) -> str:
    """The format suffix of ``path`` (``.weights.h5`` counts as one), lower-cased."""
    name = Path(path).name.lower()
    if name.endswith(".weights.h5"):
        return ".weights.h5"
    return Path(name).suffix


def torch_load_is_safe(version: str | None = None) -> bool:
    """Whether this torch's ``weights_only`` unpickler has no known bypass (>= 2.10)."""
    text = (version or torch.__version__).split("+")[0]
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts) >= _SAFE_TORCH_LOAD


def write_bundle(path: str | os.PathLike[str], bundle: Bundle) -> Path:
    """Writes ``bundle`` atomically in the format ``path``'s suffix names."""
    suffix = suffix_of(path)
    if suffix in (".h5", ".hdf5", ".weights.h5"):
        return atomic_write(path, lambda tmp: _write_h5_file(tmp, bundle))
    if suffix == ".keras":
        return atomic_write(path, lambda tmp: _write_keras(tmp, bundle))
    if suffix == ".safetensors":
        return atomic_write(path, lambda tmp: _write_safetensors(tmp, bundle))
    if suffix in (".pt", ".pth"):
        return atomic_write(path, lambda tmp: torch.save(dict(bundle.weights), tmp))
    raise ValueError(f"Unsupported file suffix {suffix!r} for {os.fspath(path)!r}.")


def _write_h5_file(tmp: Path, bundle: Bundle) -> None:
    # HDF5 is built in memory and written with plain file I/O: a full disk then raises
    # OSError here instead of failing inside the HDF5 library, where it can crash the
    # interpreter (seen as a segfault when the disk filled mid-write).
    image = H5Image()
    write_h5(image, bundle)
    write_buffers(tmp, image.pieces())


def _write_keras(tmp: Path, bundle: Bundle) -> None:
    image = H5Image()
    write_h5(image, Bundle(weights=bundle.weights, optimizer=bundle.optimizer))
    config = {k: bundle.config.get(k) for k in ("model_config", "compile_config", "build_config")}
    metadata = {
        "format": "epochal",
        "epochal_version": __version__,
        "torch_version": str(torch.__version__),
    }
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps(metadata))
        zf.writestr("config.json", json.dumps(config))
        info = zipfile.ZipInfo("model.weights.h5", date_time=time.localtime()[:6])
        with zf.open(info, "w", force_zip64=image.size >= 1 << 31) as member:
            for piece in image.pieces():
                member.write(piece)


def _write_safetensors(tmp: Path, bundle: Bundle) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in bundle.weights.items()}
    metadata = {
        "format": "epochal",
        "format_version": str(_SAFETENSORS_LAYOUT),
        "weight_names": json.dumps(list(tensors)),
        "weights_sha256": digest(tensors.items()),
    }
    if bundle.config.get("build_config"):
        metadata["build_config"] = json.dumps(bundle.config["build_config"])
    try:
        save_file(tensors, str(tmp), metadata=metadata)
    except Exception as exc:  # safetensors reports I/O failures as its own error type
        code = re.search(r"\(os error (\d+)\)", str(exc))
        if code is None:
            raise
        raise OSError(int(code.group(1)), f"Cannot write {tmp}: {exc}") from exc


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Reads any supported checkpoint.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        CheckpointError: for a truncated, corrupt, foreign or unsafe file, naming it.
    """
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"No checkpoint file at {os.fspath(path)!r}.")
    if target.is_dir():
        raise CheckpointError(path, "it is a directory, not a checkpoint file")
    with open(target, "rb") as handle:
        head = handle.read(8)
    suffix = suffix_of(target)
    try:
        if head == _HDF5_MAGIC:
            return _validated(read_h5(target), path)
        if suffix == ".keras" or (suffix not in (".pt", ".pth") and head.startswith(b"PK")):
            return _validated(_read_keras(target), path)
        if suffix == ".safetensors":
            return _validated(_read_safetensors(target), path)
        if suffix in (".pt", ".pth"):
            return _validated(_read_torch(target), path)
    except CheckpointError:
        raise
    except Refused as exc:
        raise CheckpointError(path, str(exc)) from exc
    except RecursionError as exc:
        raise CheckpointError(
            path, "its JSON is nested too deeply to be a checkpoint config; refusing it"
        ) from exc
    except Exception as exc:
        raise CheckpointError(
            path,
            f"the file is truncated, corrupt or not a checkpoint ({type(exc).__name__}: {exc})",
        ) from exc
    raise CheckpointError(
        path,
        f"unrecognised content for a {suffix or 'suffix-less'} file "
        "(not HDF5, a .keras zip, safetensors or a torch state dict)",
    )


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _validated(bundle: Bundle, path: str | os.PathLike[str]) -> Bundle:
    """Refuses what no loader should act on: complex tensors, absurdly deep configs."""
    for name, tensor in bundle.weights.items():
        if tensor.is_complex():
            raise CheckpointError(
                path,
                f"the tensor {name!r} has dtype {tensor.dtype}; accepted: bool, integer "
                "and floating-point tensors",
            )
    for key, value in bundle.config.items():
        if _depth(value) > _MAX_CONFIG_DEPTH:
            raise CheckpointError(
                path,
                f"its {key} is nested more than {_MAX_CONFIG_DEPTH} levels deep; refusing it",
            )
    return bundle


def _member(zf: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """One archive member, refused when it would inflate far past what the archive holds."""
    info = zf.getinfo(name)
    inflated = info.file_size > _BOMB_FLOOR and info.file_size > _BOMB_RATIO * max(
        info.compress_size, 1
    )
    if inflated or info.file_size > _MEMBER_LIMIT:
        raise CheckpointError(
            path,
            f"the member {name!r} inflates to {info.file_size} bytes from "
            f"{info.compress_size} (a zip bomb?); refusing it",
        )
    with zf.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise CheckpointError(path, f"the member {name!r} is larger than its header says")
    return data


def _read_keras(path: Path) -> Bundle:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        unexpected = [n for n in names if n not in _KERAS_MEMBERS]
        if unexpected:
            raise CheckpointError(
                path,
                f"unexpected member(s) {unexpected} in the .keras "
                f"archive; only {list(_KERAS_MEMBERS)} are read, and "
                "nothing is ever unpickled",
            )
        if "model.weights.h5" not in names or "config.json" not in names:
            raise CheckpointError(path, "the .keras archive lacks config.json or model.weights.h5")
        config = json.loads(_member(zf, "config.json", path).decode("utf-8"))
        bundle = read_h5(io.BytesIO(_member(zf, "model.weights.h5", path)))
    if not isinstance(config, dict):
        raise CheckpointError(path, "config.json is not a JSON object")
    bundle.config = {k: v for k, v in config.items() if v is not None}
    return bundle


def _read_safetensors(path: Path) -> Bundle:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        names = list(handle.keys())
        order = json.loads(metadata["weight_names"]) if "weight_names" in metadata else names
        weights = {n: handle.get_tensor(n) for n in order}
    recorded = metadata.get("weights_sha256")  # the value names its algorithm (xxh3_128:...)
    if recorded is not None and not digest_matches(weights.items(), recorded):
        raise CheckpointError(path, "the tensor data is corrupt (weights_sha256 does not match)")
    if metadata.get("format") == "epochal" and int(metadata.get("format_version", 1)) < 2:
        weights = from_layout_1(weights)
    build = json.loads(metadata["build_config"]) if "build_config" in metadata else None
    return Bundle(weights=weights, config={"build_config": build} if build else {})


def _read_torch(path: Path) -> Bundle:
    if not torch_load_is_safe():
        raise CheckpointError(
            path,
            f"reading .pt/.pth files needs torch >= 2.10 (this is "
            f"{torch.__version__}): older torch.load(weights_only=True) "
            "can be bypassed to run code (CVE-2025-32434, CVE-2026-24747). "
            "Upgrade torch or convert the file to .safetensors.",
        )
    try:
        # Memory-mapped (torch's zip format, the default since 1.6): tensors are views of
        # the file, read as used; a legacy-format file is read whole.
        state = torch.load(
            path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
        )
    except Exception as exc:
        raise CheckpointError(
            path,
            f"torch refused it as a plain weights file, nothing was "
            f"executed ({type(exc).__name__}: {str(exc)[:300]})",
        ) from exc
    if isinstance(state, dict) and len(state) == 1:
        (only,) = state.values()
        if isinstance(only, dict):
            state = only  # {"state_dict": {...}} / {"model_state_dict": {...}}
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(path, "it is not a state dict (a mapping of names to tensors)")
    return Bundle(weights=dict(state))
