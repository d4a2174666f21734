"""The HDF5 writer's in-memory image (large tensors kept by reference, never copied) and
the memory-mapped reading of large plain datasets."""

from __future__ import annotations

import io
import mmap

import h5py
import numpy as np
import pytest
import torch

from epochal.saving._bundle import Bundle
from epochal.saving._h5 import H5Image, dataset_array, read_h5, write_h5


def _bundle() -> Bundle:
    torch.manual_seed(0)
    return Bundle(
        weights={
            "a.kernel": torch.randn(300, 200),
            "a.bias": torch.randn(7),
            "b.x": torch.randn(1000, 100).to(torch.bfloat16),
        },
        optimizer={"state": {0: {"m": torch.randn(500, 100)}}, "lr": 0.1},
    )


def test_the_image_is_byte_for_byte_the_file_h5py_writes_and_copies_no_large_tensor():
    bundle = _bundle()
    image, reference = H5Image(), io.BytesIO()
    write_h5(image, bundle)
    write_h5(reference, bundle)
    data = b"".join(bytes(piece) for piece in image.pieces())
    assert len(data) == image.size
    # Same layout; the only bytes that may differ are timestamps inside object headers.
    assert len(data) == len(reference.getvalue())
    by_reference = [p for p in image.pieces() if isinstance(p.obj, memoryview | np.ndarray)]
    assert len(by_reference) >= 3  # a.kernel, b.x and the optimizer's moment
    again = read_h5(io.BytesIO(data))
    for name, tensor in bundle.weights.items():
        assert torch.equal(again.weights[name], tensor)
    assert torch.equal(again.optimizer["state"][0]["m"], bundle.optimizer["state"][0]["m"])


def test_the_image_behaves_as_a_file_for_rewrites_reads_and_truncation():
    image = H5Image()
    image.write(b"0123456789")
    image.seek(3)
    image.write(b"abc")
    image.seek(15)
    image.write(b"zz")
    assert b"".join(bytes(p) for p in image.pieces()) == b"012abc6789\0\0\0\0\0zz"
    image.seek(2)
    out = bytearray(6)
    assert image.readinto(out) == 6 and bytes(out) == b"2abc67"
    image.truncate(5)
    assert b"".join(bytes(p) for p in image.pieces()) == b"012ab"
    image.seek(0, 2)
    assert image.tell() == 5


def _mapped(array: np.ndarray) -> bool:
    owner = array
    while isinstance(owner, np.ndarray) and owner.base is not None:
        owner = owner.base
    return isinstance(getattr(owner, "obj", owner), mmap.mmap)


def test_large_plain_datasets_are_mapped_and_others_read(tmp_path):
    path = tmp_path / "f.h5"
    big = np.arange(50_000, dtype="float32").reshape(500, 100)
    with h5py.File(path, "w") as f:
        f.create_dataset("plain", data=big)
        f.create_dataset("small", data=big[:2])
        f.create_dataset("packed", data=big, compression="gzip")
        f.create_dataset("swapped", data=big.astype(">f4"))
    with h5py.File(path, "r") as f:
        arrays = {key: dataset_array(f[key]) for key in f}
    for key, array in arrays.items():
        np.testing.assert_array_equal(array, big if key != "small" else big[:2])
    assert _mapped(arrays["plain"])
    assert arrays["plain"].flags.writeable  # copy-on-write: the file is never changed
    for key in ("small", "packed", "swapped"):
        assert not _mapped(arrays[key]), key
    arrays["plain"][0, 0] = -1.0
    with h5py.File(path, "r") as f:
        assert f["plain"][0, 0] == 0.0


def _datasets(group: h5py.Group) -> list[h5py.Dataset]:
    found: list[h5py.Dataset] = []
    for item in group.values():
        if isinstance(item, h5py.Dataset):
            found.append(item)
        elif isinstance(item, h5py.Group):
            found.extend(_datasets(item))
    return found


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_a_saved_file_is_one_contiguous_uncompressed_dataset_per_tensor(tmp_path, suffix):
    import epochal
    from epochal.layers import Dense

    model = epochal.Sequential([Dense(256, input_shape=(256,)), Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    x = np.ones((4, 256), "float32")
    model.fit(x, np.zeros((4, 3), "float32"), verbose=0)
    for keras_compatible in (True, False):
        path = tmp_path / f"m{int(keras_compatible)}{suffix}"
        if suffix == ".keras":
            model.save(path, keras_compatible=keras_compatible)
            again = epochal.load_model(path)
        else:
            model.save_weights(path, keras_compatible=keras_compatible)
            again = epochal.Sequential([Dense(256, input_shape=(256,)), Dense(3)])
            again.load_weights(path)
        for a, b in zip(again.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        if suffix == ".weights.h5":
            with h5py.File(path, "r") as f:
                found = _datasets(f)
                assert found and all(d.chunks is None and d.compression is None for d in found)
