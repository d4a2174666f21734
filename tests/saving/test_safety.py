"""Unsafe, corrupt, truncated and foreign files: refused with a clear error, nothing run,
nothing half-loaded."""

from __future__ import annotations

import io
import pickle
import zipfile

import h5py
import numpy as np
import pytest
import torch

import epochal
from epochal.layers import Dense
from epochal.saving import CheckpointError, formats, load_model


class _Payload:
    """Unpickling this creates the marker file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _model():
    torch.manual_seed(0)
    model = epochal.Sequential(
        [Dense(8, activation="relu", input_shape=(4,)), Dense(2)], device="cpu"
    )
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_pickle_payload_in_pt_file_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    for name, write in [
        ("evil_zip.pt", lambda p: torch.save({"w": _Payload(marker)}, p)),
        ("evil_raw.pt", lambda p: p.write_bytes(pickle.dumps({"w": _Payload(marker)}))),
    ]:
        path = tmp_path / name
        write(path)
        assert not marker.exists()
        model = _model()
        before = model.get_weights()
        with pytest.raises(CheckpointError, match=r"nothing was executed"):
            model.load_weights(path)
        assert not marker.exists()
        assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_pickle_member_in_keras_zip_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    _model().save(tmp_path / "good.keras")
    with (
        zipfile.ZipFile(tmp_path / "good.keras") as src,
        zipfile.ZipFile(tmp_path / "evil.keras", "w") as dst,
    ):
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("optimizer.pkl", pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError, match=r"unexpected member.*optimizer.pkl"):
        load_model(tmp_path / "evil.keras")
    assert not marker.exists()


def test_pickled_bytes_inside_hdf5_are_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    model = _model()
    model.save_weights(tmp_path / "w.weights.h5", keras_compatible=False)
    with h5py.File(tmp_path / "w.weights.h5", "a") as f:
        name = next(iter(f["model_weights"]))
        group = f["model_weights"][name]
        del group["kernel"]
        group.create_dataset("kernel", data=np.void(pickle.dumps(_Payload(marker))))
    with pytest.raises(CheckpointError, match=r"kernel.*accepted: bool, integer"):
        model.load_weights(tmp_path / "w.weights.h5")
    assert not marker.exists()


def test_old_torch_refuses_pt_files_and_says_why(tmp_path, monkeypatch):
    model = _model()
    model.save_weights(tmp_path / "w.pt")
    monkeypatch.setattr(formats, "torch_load_is_safe", lambda version=None: False)
    with pytest.raises(CheckpointError, match=r"torch >= 2\.10.*CVE-2025-32434.*CVE-2026-24747"):
        model.load_weights(tmp_path / "w.pt")


def test_torch_version_rule():
    assert formats.torch_load_is_safe("2.10.0")
    assert formats.torch_load_is_safe("2.13.0+cpu")
    assert not formats.torch_load_is_safe("2.9.1")
    assert not formats.torch_load_is_safe("1.13.1")


SUFFIXES = [".keras", ".h5", ".weights.h5", ".safetensors", ".pt"]


def _save(model, path):
    if path.name.endswith((".keras", ".h5")) and not path.name.endswith(".weights.h5"):
        model.save(path)
    else:
        model.save_weights(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("cut", [0, 7, 0.5, -1])
def test_truncated_files_are_refused_and_the_model_is_untouched(tmp_path, suffix, cut):
    source = _model()
    path = tmp_path / f"m{suffix}"
    _save(source, path)
    data = path.read_bytes()
    size = int(len(data) * cut) if isinstance(cut, float) else (cut if cut >= 0 else len(data) - 1)
    path.write_bytes(data[:size])
    target = epochal.Sequential(
        [Dense(8, activation="relu", input_shape=(4,)), Dense(2)], device="cpu"
    )
    before = target.get_weights()
    with pytest.raises(CheckpointError, match=str(path.name)):
        target.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(before, target.get_weights(), strict=True))


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".weights.h5", ".safetensors"])
def test_flipped_bytes_are_detected(tmp_path, suffix):
    source = _model()
    path = tmp_path / f"m{suffix}"
    _save(source, path)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for trial in range(8):
        corrupt = bytearray(data)
        pos = int(rng.integers(len(corrupt) // 4, len(corrupt)))
        corrupt[pos] ^= 0xFF
        path.write_bytes(bytes(corrupt))
        target = _model()
        try:
            target.load_weights(path)
        except CheckpointError:
            continue
        # A flip outside what is read (padding, free space) may leave the data intact.
        assert all(
            np.array_equal(a, b)
            for a, b in zip(source.get_weights(), target.get_weights(), strict=True)
        ), trial


def test_foreign_files_get_a_clear_error(tmp_path):
    model = _model()
    (tmp_path / "notes.h5").write_text("just text")
    with pytest.raises(CheckpointError, match=r"notes.h5"):
        model.load_weights(tmp_path / "notes.h5")
    with h5py.File(tmp_path / "keras2.h5", "w") as f:
        f.attrs["keras_version"] = "2.3.1"
        f.create_group("model_weights")
    with pytest.raises(CheckpointError, match=r"Keras/TensorFlow HDF5 file that epochal did not"):
        load_model(tmp_path / "keras2.h5")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("hello.txt", "hi")
    (tmp_path / "other.keras").write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match=r"unexpected member"):
        load_model(tmp_path / "other.keras")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.keras")
    torch.save({"w": torch.zeros(2), "n": 3}, tmp_path / "mixed.pt")
    with pytest.raises(CheckpointError, match=r"not a state dict"):
        model.load_weights(tmp_path / "mixed.pt")


def test_shape_and_name_mismatches_name_the_tensor(tmp_path):
    small = _model()
    small.save_weights(tmp_path / "small.weights.h5")
    torch.manual_seed(1)
    wide = epochal.Sequential(
        [Dense(16, activation="relu", input_shape=(4,)), Dense(2)], device="cpu"
    )
    wide.compile(optimizer="adam", loss="mse")
    before = wide.get_weights()
    with pytest.raises(CheckpointError, match=r"shape mismatch for tensor '.*kernel.*\(4, 16\)"):
        wide.load_weights(tmp_path / "small.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(before, wide.get_weights(), strict=True))
    deep = epochal.Sequential([Dense(8, input_shape=(4,)), Dense(8), Dense(2)], device="cpu")
    deep.compile(optimizer="adam", loss="mse")
    with pytest.raises(CheckpointError, match=r"missing in the file"):
        deep.load_weights(tmp_path / "small.weights.h5")
