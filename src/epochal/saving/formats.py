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
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import torch

from epochal._io import atomic_write
from epochal._version import __version__
from epochal.saving._bundle import Bundle, CheckpointError, digest
from epochal.saving._h5 import read_h5, write_h5

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
        return atomic_write(path, lambda tmp: write_h5(tmp, bundle))
    if suffix == ".keras":
        return atomic_write(path, lambda tmp: _write_keras(tmp, bundle))
    if suffix == ".safetensors":
        return atomic_write(path, lambda tmp: _write_safetensors(tmp, bundle))
    if suffix in (".pt", ".pth"):
        return atomic_write(path, lambda tmp: torch.save(dict(bundle.weights), tmp))
    raise ValueError(f"Unsupported file suffix {suffix!r} for {os.fspath(path)!r}.")


def _write_keras(tmp: Path, bundle: Bundle) -> None:
    buffer = io.BytesIO()
    write_h5(buffer, Bundle(weights=bundle.weights, optimizer=bundle.optimizer))
    config = {k: bundle.config.get(k) for k in ("model_config", "compile_config", "build_config")}
    metadata = {
        "format": "epochal",
        "epochal_version": __version__,
        "torch_version": str(torch.__version__),
    }
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("metadata.json", json.dumps(metadata))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", buffer.getvalue())


def _write_safetensors(tmp: Path, bundle: Bundle) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in bundle.weights.items()}
    metadata = {
        "format": "epochal",
        "weight_names": json.dumps(list(tensors)),
        "weights_sha256": digest(tensors.items()),
    }
    if bundle.config.get("build_config"):
        metadata["build_config"] = json.dumps(bundle.config["build_config"])
    save_file(tensors, str(tmp), metadata=metadata)


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
            return read_h5(target)
        if suffix == ".keras" or (suffix not in (".pt", ".pth") and head.startswith(b"PK")):
            return _read_keras(target)
        if suffix == ".safetensors":
            return _read_safetensors(target)
        if suffix in (".pt", ".pth"):
            return _read_torch(target)
    except CheckpointError:
        raise
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
        config = json.loads(zf.read("config.json").decode("utf-8"))
        bundle = read_h5(io.BytesIO(zf.read("model.weights.h5")))
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
    if "weights_sha256" in metadata and digest(weights.items()) != metadata["weights_sha256"]:
        raise CheckpointError(path, "the tensor data is corrupt (weights_sha256 does not match)")
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
        state = torch.load(path, map_location="cpu", weights_only=True)
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
