"""Crafted files: every loader refuses them with a CheckpointError naming file and field,
in bounded memory, before it builds or allocates anything they ask for."""

from __future__ import annotations

import json
import resource
import zipfile

import h5py
import numpy as np
import pytest
import torch

import epochal
from epochal.layers import Dense
from epochal.saving import CheckpointError


def _model() -> epochal.Model:
    model = epochal.Sequential([Dense(3, input_dim=4), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


def _rewrite_keras(path, edit_config=None, extra=None, member_bytes=None):
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    if edit_config is not None:
        config = json.loads(members["config.json"])
        edit_config(config)
        members["config.json"] = json.dumps(config).encode()
    members.update(member_bytes or {})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in {**members, **(extra or {})}.items():
            zf.writestr(name, data)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_config_declaring_a_huge_layer_is_refused_before_allocating(tmp_path):
    path = tmp_path / "m.keras"
    _model().save(path, keras_compatible=False)

    def inflate(config):  # 4 x 2**32 float32 kernel: 64 GiB if it were built
        config["model_config"]["config"]["layers"][0]["config"]["units"] = 2**32

    _rewrite_keras(path, inflate)
    before = _peak_rss_mib()
    with pytest.raises(CheckpointError, match=r"m\.keras.*declares tensor .*kernel.*4294967296"):
        epochal.load_model(path)
    assert _peak_rss_mib() - before < 256


def test_a_deeply_nested_config_is_refused_by_name_not_as_corrupt(tmp_path):
    path = tmp_path / "m.keras"
    _model().save(path, keras_compatible=False)
    nested = "[" * 100_000 + "]" * 100_000
    _rewrite_keras(path, member_bytes={"config.json": nested.encode()})
    with pytest.raises(CheckpointError, match="nested too deeply"):
        epochal.load_model(path)

    def deepen(config):
        node = config["model_config"]["config"]
        for _ in range(200):
            node["x"] = {}
            node = node["x"]

    _model().save(path, overwrite=True, keras_compatible=False)
    _rewrite_keras(path, deepen)
    with pytest.raises(CheckpointError, match="model_config is nested more than 64 levels"):
        epochal.load_model(path)


def _replace_dataset(path, make):
    with h5py.File(path, "a") as f:
        group = f["model_weights"][next(iter(f["model_weights"]))]
        del group["kernel"]
        make(group, f)


def test_complex_tensors_are_refused_in_every_format(tmp_path):
    model = _model()
    h5 = tmp_path / "w.weights.h5"
    model.save_weights(h5, keras_compatible=False)
    _replace_dataset(h5, lambda g, f: g.create_dataset("kernel", data=np.ones((4, 3), "complex64")))
    with pytest.raises(CheckpointError, match=r"kernel.*complex64.*accepted"):
        model.load_weights(h5)

    from safetensors.torch import save_file

    st = tmp_path / "w.safetensors"
    state = {k: v.clone() for k, v in model.module.state_dict().items()}
    first = next(iter(state))
    state[first] = torch.ones(state[first].shape, dtype=torch.complex64)
    save_file(state, str(st))
    with pytest.raises(CheckpointError, match=r"complex64.*accepted"):
        model.load_weights(st)


@pytest.mark.parametrize("kind", ["external", "soft"])
def test_hdf5_links_are_never_followed(tmp_path, kind):
    model = _model()
    path = tmp_path / "w.weights.h5"
    model.save_weights(path, keras_compatible=False)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("secret", data=np.full((4, 3), 7.0, "float32"))

    def link(group, f):
        if kind == "external":
            group["kernel"] = h5py.ExternalLink(str(other), "/secret")
        else:
            f.create_dataset("elsewhere", data=np.full((4, 3), 7.0, "float32"))
            group["kernel"] = h5py.SoftLink("/elsewhere")

    _replace_dataset(path, link)
    with pytest.raises(CheckpointError, match=r"kernel.*Link, not stored data"):
        model.load_weights(path)


def test_hdf5_virtual_and_external_storage_datasets_are_refused(tmp_path):
    model = _model()
    path = tmp_path / "w.weights.h5"
    model.save_weights(path, keras_compatible=False)
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as f:
        f.create_dataset("data", data=np.full((4, 3), 7.0, "float32"))

    def virtual(group, f):
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="float32")
        layout[:] = h5py.VirtualSource(str(source), "data", shape=(4, 3))
        group.create_virtual_dataset("kernel", layout)

    _replace_dataset(path, virtual)
    with pytest.raises(CheckpointError, match="virtual or external dataset"):
        model.load_weights(path)

    model.save_weights(path, overwrite=True, keras_compatible=False)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.full((4, 3), 7.0, "float32").tobytes())
    _replace_dataset(
        path,
        lambda g, f: g.create_dataset(
            "kernel", shape=(4, 3), dtype="float32", external=[(str(raw), 0, 48)]
        ),
    )
    with pytest.raises(CheckpointError, match="virtual or external dataset"):
        model.load_weights(path)


def test_a_zip_bomb_member_is_refused_without_inflating_it(tmp_path):
    path = tmp_path / "m.keras"
    _model().save(path, keras_compatible=False)
    zeros = b"\0" * (128 << 20)  # deflates to ~128 KiB: a 1000x ratio
    _rewrite_keras(path, member_bytes={"model.weights.h5": zeros})
    before = _peak_rss_mib()
    with pytest.raises(CheckpointError, match="zip bomb"):
        epochal.load_model(path)
    assert _peak_rss_mib() - before < 100


@pytest.mark.parametrize("member", ["../escape.json", "/abs.json", "model.weights.h5/../x"])
def test_keras_archives_with_foreign_or_traversing_members_are_refused(tmp_path, member):
    path = tmp_path / "m.keras"
    _model().save(path, keras_compatible=False)
    _rewrite_keras(path, extra={member: b"{}"})
    with pytest.raises(CheckpointError, match="unexpected member"):
        epochal.load_model(path)
    assert not (tmp_path.parent / "escape.json").exists()
