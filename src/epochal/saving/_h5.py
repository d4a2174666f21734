"""The one HDF5 writer and reader (``.h5``, ``.hdf5``, ``.weights.h5``, inside ``.keras``).

Layout, readable with plain h5py::

    /                       attrs: epochal_format, format_version, and for whole models
                            model_config, compile_config, build_config (JSON strings)
    /model_weights/<layer>/<name>   one dataset per state_dict tensor ("dense.kernel" ->
                            model_weights/dense/kernel); attr weight_names keeps the order
    /optimizer_weights/...  the optimizer's tensors; attr optimizer_state holds the rest of
                            its state_dict as JSON (see _tree.py)

No dataset is ever of object dtype and nothing is unpickled on reading.
"""

from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np
import torch

from epochal.saving import _tree
from epochal.saving._bundle import (
    Bundle,
    Digest,
    Refused,
    digest_matches,
    from_layout_1,
    from_numpy,
    raw_view,
)

__all__ = ["FORMAT_NAME", "read_h5", "write_h5"]

FORMAT_NAME = "epochal"
# 2: Conv kernels in Keras' layout (kh, kw, in, out); 1: torch's (out, in, kh, kw), read too.
FORMAT_VERSION = 2
_CONFIG_KEYS = ("model_config", "compile_config", "build_config")


def _dataset_path(name: str) -> str:
    # "/" separates HDF5 groups; escape it (and the escape character) inside name parts.
    return "/".join(p.replace("%", "%25").replace("/", "%2F") or "%00" for p in name.split("."))


def _write_tensors(
    group: h5py.Group, tensors: dict[str, torch.Tensor], paths: dict[str, str]
) -> str:
    """Writes each tensor as one contiguous, uncompressed dataset straight from its own
    memory (h5py copies it once, into the file image) and returns their checksum, summed in
    the same pass."""
    summed = Digest()
    for name, tensor in tensors.items():
        array, raw_dtype = raw_view(tensor)
        summed.update_array(name, array, raw_dtype)
        dataset = group.create_dataset(paths[name], data=array)
        if raw_dtype is not None:
            dataset.attrs["torch_dtype"] = raw_dtype
    return summed.hexdigest()


def write_h5(target: Any, bundle: Bundle) -> None:
    """Writes ``bundle`` to ``target`` (a path or a binary file object)."""
    with h5py.File(target, "w") as f:
        f.attrs["epochal_format"] = FORMAT_NAME
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["backend"] = "torch"
        for key in _CONFIG_KEYS:
            if bundle.config.get(key) is not None:
                f.attrs[key] = json.dumps(bundle.config[key])
        weights = f.create_group("model_weights")
        weights.attrs["weight_names"] = json.dumps(list(bundle.weights))
        paths = {n: _dataset_path(n) for n in bundle.weights}
        # The attribute names say sha256 for files of every version; the value names its
        # algorithm (xxh3_128:..., a bare hex digest being sha256).
        f.attrs["weights_sha256"] = _write_tensors(weights, bundle.weights, paths)
        if bundle.optimizer is not None:
            tensors: dict[str, torch.Tensor] = {}
            state = _tree.encode(bundle.optimizer, "", tensors)
            group = f.create_group("optimizer_weights")
            group.attrs["optimizer_state"] = json.dumps(state)
            group.attrs["tensor_names"] = json.dumps(list(tensors))
            paths = {n: f"t{i}" for i, n in enumerate(tensors)}
            group.attrs["tensors_sha256"] = _write_tensors(group, tensors, paths)


def _read_tensor(group: h5py.Group, path: str, name: str) -> torch.Tensor:
    link = group.get(path, getlink=True)
    if link is not None and not isinstance(link, h5py.HardLink):
        # A soft or external link would read another object or another file.
        raise Refused(f"the tensor {name!r} is a {type(link).__name__}, not stored data")
    dataset = group.get(path)
    if not isinstance(dataset, h5py.Dataset):
        raise Refused(f"the tensor {name!r} is missing")
    if dataset.is_virtual or dataset.external:
        raise Refused(
            f"the tensor {name!r} is a virtual or external dataset (its data lives in other "
            "files); epochal reads only data stored in the file itself"
        )
    if dataset.dtype.kind not in "biuf":
        raise Refused(
            f"the tensor {name!r} has dtype {dataset.dtype}; accepted: bool, integer and "
            "floating-point tensors"
        )
    raw = dataset.attrs.get("torch_dtype")
    # A fresh array that h5py read the data into: the tensor takes it over, no second copy.
    return from_numpy(np.asarray(dataset[()]), None if raw is None else str(raw), copy=False)


def _json_attr(node: h5py.HLObject, key: str) -> Any:
    value = node.attrs.get(key)
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return json.loads(str(value))


def _verify(node: h5py.HLObject, key: str, tensors: dict[str, torch.Tensor]) -> None:
    if not digest_matches(tensors.items(), node.attrs.get(key)):
        raise ValueError(f"the tensor data is corrupt ({key} does not match)")


def read_h5(source: Any) -> Bundle:
    """Reads a file written by :func:`write_h5`.

    Raises:
        ValueError: for a file that is not one of ours or is inconsistent; h5py raises
            ``OSError`` for truncated or corrupt files. Callers add the file name.
    """
    with h5py.File(source, "r") as f:
        if f.attrs.get("epochal_format") != FORMAT_NAME:
            found = (
                "a Keras/TensorFlow HDF5 file"
                if "keras_version" in f.attrs or "layer_names" in f.attrs
                else "an HDF5 file"
            )
            raise ValueError(
                f"this is {found} that epochal did not write (no epochal_format "
                "marker); epochal reads only its own checkpoints"
            )
        config = {key: _json_attr(f, key) for key in _CONFIG_KEYS}
        weights_group = f.get("model_weights")
        if not isinstance(weights_group, h5py.Group):
            raise ValueError("the 'model_weights' group is missing")
        names = _json_attr(weights_group, "weight_names")
        if not isinstance(names, list):
            raise ValueError("the weight name list is missing")
        weights = {n: _read_tensor(weights_group, _dataset_path(n), n) for n in names}
        _verify(f, "weights_sha256", weights)
        if int(f.attrs.get("format_version", 1)) < 2:
            weights = from_layout_1(weights)
        optimizer = None
        group = f.get("optimizer_weights")
        if isinstance(group, h5py.Group):
            tensor_names = _json_attr(group, "tensor_names") or []
            tensors = {n: _read_tensor(group, f"t{i}", n) for i, n in enumerate(tensor_names)}
            _verify(group, "tensors_sha256", tensors)
            optimizer = _tree.decode(_json_attr(group, "optimizer_state"), tensors)
    return Bundle(
        weights=weights,
        optimizer=optimizer,
        config={k: v for k, v in config.items() if v is not None},
    )
