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

import bisect
import io
import json
import mmap
import os
from collections.abc import Iterator
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

__all__ = ["FORMAT_NAME", "H5Image", "dataset_array", "read_h5", "write_h5"]

FORMAT_NAME = "epochal"
# 2: Conv kernels in Keras' layout (kh, kw, in, out); 1: torch's (out, in, kh, kw), read too.
FORMAT_VERSION = 2
_CONFIG_KEYS = ("model_config", "compile_config", "build_config")


# Arrays at least this large are kept by reference in an H5Image and memory-mapped on reading.
_BY_REFERENCE = 1 << 16


def _address(view: Any) -> int:
    return int(np.frombuffer(view, dtype=np.uint8).ctypes.data) if len(view) else 0


class H5Image(io.RawIOBase):
    """An HDF5 file built in memory, whose large tensors are never copied.

    h5py writes into it as into a file (its ``fileobj`` driver). A write of the very memory
    of an array announced with :meth:`holds` (HDF5 writes a contiguous dataset straight
    from the caller's buffer) is kept as a view of that array; everything else (metadata,
    small datasets) is copied. :meth:`pieces` then yields the file in order, and
    :func:`epochal._io.write_buffers` writes it with plain file I/O: a full disk raises
    ``OSError`` there, never inside the HDF5 library (where it can crash the interpreter),
    and no second image of the tensors is ever made in memory.
    """

    def __init__(self) -> None:
        super().__init__()
        self._starts: list[int] = []
        self._pieces: list[memoryview] = []
        self._arrays: dict[tuple[int, int], memoryview] = {}
        self._pos = 0
        self._size = 0

    def holds(self, array: np.ndarray) -> None:
        """Announces an array h5py is about to write: its bytes are kept by reference."""
        if array.nbytes >= _BY_REFERENCE and array.flags.c_contiguous:
            view = array.data.cast("B")
            self._arrays[(_address(view), view.nbytes)] = view

    # -- the file interface h5py's fileobj driver uses
    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        self._cut(size, max(self._size, size))
        self._size = size
        return size

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        size = view.nbytes
        if not size:
            return 0
        kept = self._arrays.get((_address(view), size)) if size >= _BY_REFERENCE else None
        piece = kept if kept is not None else memoryview(bytes(view))
        start = self._pos
        self._cut(start, start + size)
        at = bisect.bisect_left(self._starts, start)
        self._starts.insert(at, start)
        self._pieces.insert(at, piece)
        self._pos = start + size
        self._size = max(self._size, self._pos)
        return size

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        start, end = self._pos, min(self._pos + out.nbytes, self._size)
        if end <= start:
            return 0
        out[: end - start] = bytes(end - start)
        at = max(bisect.bisect_right(self._starts, start) - 1, 0)
        for first, piece in zip(self._starts[at:], self._pieces[at:], strict=True):
            if first >= end:
                break
            lo, hi = max(first, start), min(first + piece.nbytes, end)
            if lo < hi:
                out[lo - start : hi - start] = piece[lo - first : hi - first]
        self._pos = end
        return end - start

    def _cut(self, start: int, end: int) -> None:
        """Removes what lies in ``[start, end)`` (a rewrite replaces it)."""
        at = max(bisect.bisect_right(self._starts, start) - 1, 0)
        while at < len(self._starts) and self._starts[at] < end:
            first, piece = self._starts[at], self._pieces[at]
            last = first + piece.nbytes
            if last <= start:
                at += 1
                continue
            del self._starts[at], self._pieces[at]
            if first < start:
                self._starts.insert(at, first)
                self._pieces.insert(at, piece[: start - first])
                at += 1
            if last > end:
                self._starts.insert(at, end)
                self._pieces.insert(at, piece[end - first :])
                at += 1

    # -- the result
    @property
    def size(self) -> int:
        return self._size

    def pieces(self) -> Iterator[memoryview]:
        """The file's bytes in order (gaps, which HDF5 leaves unwritten, as zeros)."""
        position = 0
        for first, piece in zip(self._starts, self._pieces, strict=True):
            if first > position:
                yield memoryview(bytes(first - position))
            yield piece
            position = first + piece.nbytes
        if self._size > position:
            yield memoryview(bytes(self._size - position))


def dataset_array(dataset: h5py.Dataset) -> np.ndarray:
    """A dataset's data as a numpy array; a large one stored contiguously and unfiltered in
    a file on disk is memory-mapped (copy-on-write: no read, no copy until it is used, as
    safetensors does), anything else read by h5py."""
    if dataset.nbytes >= _BY_REFERENCE and dataset.file.driver == "sec2":
        offset = dataset.id.get_offset()
        plist = dataset.id.get_create_plist()
        if (
            offset is not None
            and dataset.chunks is None
            and plist.get_nfilters() == 0
            and dataset.dtype.isnative
            and dataset.id.get_storage_size() == dataset.nbytes
        ):
            with open(dataset.file.filename, "rb") as handle:
                if offset + dataset.nbytes <= os.fstat(handle.fileno()).st_size:
                    mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
                    array = np.frombuffer(
                        mapped, dtype=dataset.dtype, count=dataset.size, offset=offset
                    )
                    return array.reshape(dataset.shape)
    return np.asarray(dataset[()])


def _dataset_path(name: str) -> str:
    # "/" separates HDF5 groups; escape it (and the escape character) inside name parts.
    return "/".join(p.replace("%", "%25").replace("/", "%2F") or "%00" for p in name.split("."))


def _write_tensors(
    group: h5py.Group,
    tensors: dict[str, torch.Tensor],
    paths: dict[str, str],
    image: H5Image | None = None,
) -> str:
    """Writes each tensor as one contiguous, uncompressed dataset straight from its own
    memory (h5py copies it once, into the file image) and returns their checksum, summed in
    the same pass."""
    summed = Digest()
    for name, tensor in tensors.items():
        array, raw_dtype = raw_view(tensor)
        summed.update_array(name, array, raw_dtype)
        if image is not None:
            image.holds(array)
        dataset = group.create_dataset(paths[name], data=array)
        if raw_dtype is not None:
            dataset.attrs["torch_dtype"] = raw_dtype
    return summed.hexdigest()


def write_h5(target: Any, bundle: Bundle) -> None:
    """Writes ``bundle`` to ``target`` (a path, a binary file object or an
    :class:`H5Image`, which then keeps the tensors by reference)."""
    image = target if isinstance(target, H5Image) else None
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
        f.attrs["weights_sha256"] = _write_tensors(weights, bundle.weights, paths, image)
        if bundle.optimizer is not None:
            tensors: dict[str, torch.Tensor] = {}
            state = _tree.encode(bundle.optimizer, "", tensors)
            group = f.create_group("optimizer_weights")
            group.attrs["optimizer_state"] = json.dumps(state)
            group.attrs["tensor_names"] = json.dumps(list(tensors))
            paths = {n: f"t{i}" for i, n in enumerate(tensors)}
            group.attrs["tensors_sha256"] = _write_tensors(group, tensors, paths, image)


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
    # A fresh array (read or mapped) that the tensor takes over: no second copy.
    return from_numpy(dataset_array(dataset), None if raw is None else str(raw), copy=False)


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
