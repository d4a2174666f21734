"""The one tensor checksum (saving._bundle.digest): xxh3_128 for new files, the algorithm
named in the value, and files written with sha256 (tests/fixtures/sha256, from
scripts/make_sha256_fixtures.py) still verified."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors import safe_open

import epochal
from epochal.layers import Dense
from epochal.saving import CheckpointError, state_file
from epochal.saving._bundle import Digest, Refused, digest, digest_matches

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sha256"
X = np.linspace(0, 1, 48, dtype="float32").reshape(16, 3)
TENSORS = [
    ("a.kernel", torch.arange(12, dtype=torch.float32).reshape(3, 4)),
    ("b", torch.tensor([1, 2], dtype=torch.int64)),
    ("c", torch.ones(2, dtype=torch.bfloat16)),
    ("empty", torch.zeros(0, 3)),
]


def _fresh() -> epochal.Model:
    return epochal.Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])


def test_new_checksums_are_xxh3_128_and_name_their_algorithm():
    value = digest(TENSORS)
    algorithm, _, hexdigest = value.partition(":")
    assert algorithm == "xxh3_128" and len(hexdigest) == 32
    assert digest_matches(TENSORS, value)
    changed = [*TENSORS[:1], ("b", torch.tensor([1, 3])), *TENSORS[2:]]
    assert not digest_matches(changed, value)
    renamed = [("other", TENSORS[0][1]), *TENSORS[1:]]
    assert not digest_matches(renamed, value)
    assert not digest_matches(TENSORS, None)


def test_fed_one_tensor_at_a_time_it_is_the_same_checksum():
    summed = Digest()
    for name, tensor in TENSORS:
        summed.update(name, tensor)
    assert summed.hexdigest() == digest(TENSORS)


def test_sha256_is_the_bare_digest_older_files_hold():
    expected = hashlib.sha256()
    for name, tensor in TENSORS[:2]:
        array = tensor.numpy()
        expected.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        expected.update(array.tobytes())
    assert digest(TENSORS[:2], "sha256") == expected.hexdigest()
    assert digest_matches(TENSORS[:2], expected.hexdigest())


def test_an_unknown_algorithm_is_refused_by_name():
    with pytest.raises(Refused, match="'blake9'"):
        digest_matches(TENSORS, "blake9:00")
    with pytest.raises(ValueError, match="'md4'"):
        Digest("md4")


@pytest.mark.parametrize("name", ["m.safetensors", "own.weights.h5", "keras.weights.h5"])
def test_sha256_weight_files_still_load(name):
    model = _fresh()
    model.load_weights(FIXTURES / name)
    np.testing.assert_array_equal(model.predict(X, verbose=0), np.load(FIXTURES / "pred.npy"))


@pytest.mark.parametrize("name", ["own.keras", "keras.keras", "own.h5"])
def test_sha256_model_files_still_load(name):
    model = epochal.load_model(FIXTURES / name)
    np.testing.assert_array_equal(model.predict(X, verbose=0), np.load(FIXTURES / "pred.npy"))


def test_a_sha256_backup_still_resumes():
    path = FIXTURES / "backup" / "training_state.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        assert handle.metadata()["format_version"] == "2"
    state = state_file.read_state(path)
    assert state["train"]["epoch"] == 0


@pytest.mark.parametrize("name", ["m.safetensors", "own.weights.h5", "keras.weights.h5"])
def test_a_flipped_byte_in_a_sha256_file_is_caught(tmp_path, name):
    data = bytearray((FIXTURES / name).read_bytes())
    reference = _fresh()
    reference.load_weights(FIXTURES / name)
    kernel = reference.get_weights()[0].tobytes()
    at = bytes(data).find(kernel)  # the first layer's kernel, stored as is
    assert at > 0
    data[at + 5] ^= 0x10
    bad = tmp_path / name
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        _fresh().load_weights(bad)


def _recorded(path: Path) -> list[str]:
    if path.name.endswith(".safetensors"):
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata()
        return [meta.get("weights_sha256") or meta["sha256"]]
    with h5py.File(path, "r") as f:
        found = [str(v) for k, v in f.attrs.items() if k.endswith("sha256")]
        if "optimizer_weights" in f:
            found.append(str(f["optimizer_weights"].attrs["tensors_sha256"]))
        return found


@pytest.mark.parametrize("keras_compatible", [True, False])
def test_files_written_now_record_xxh3_128(tmp_path, keras_compatible):
    model = _fresh()
    model.compile(optimizer="adam", loss="mse")
    model.fit(X, X[:, :2], epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.safetensors")
    model.save_weights(tmp_path / "w.weights.h5", keras_compatible=keras_compatible)
    model.save(tmp_path / "m.h5")
    state_file.write_state(tmp_path / "s.safetensors", {"w": torch.ones(3)})
    for name in ("w.safetensors", "w.weights.h5", "m.h5", "s.safetensors"):
        recorded = _recorded(tmp_path / name)
        assert recorded and all(v.startswith("xxh3_128:") for v in recorded), (name, recorded)
    with safe_open(str(tmp_path / "s.safetensors"), framework="pt") as handle:
        assert handle.metadata()["format_version"] == "3"


def test_a_backup_naming_an_unknown_algorithm_is_incompatible_not_corrupt(tmp_path):
    path = tmp_path / "s.safetensors"
    state_file.write_state(path, {"w": torch.ones(3)})
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header["__metadata__"]["sha256"] = "blake9:" + "0" * 32
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (size - len(raw))
    assert len(raw) == size
    path.write_bytes(data[:8] + raw + data[8 + size :])
    with pytest.raises(state_file.IncompatibleStateError, match="blake9"):
        state_file.read_state(path)


@pytest.mark.filterwarnings("ignore:The backup holds the state of callbacks")
def test_a_sha256_backup_dir_resumes_a_fit(tmp_path):
    backup_dir = tmp_path / "backup"
    shutil.copytree(FIXTURES / "backup", backup_dir)
    model = _fresh()
    model.compile(optimizer="adam", loss="mse")
    backup = epochal.callbacks.BackupAndRestore(backup_dir, handle_signals=False)
    history = model.fit(X, X[:, :2], batch_size=4, epochs=2, verbose=0, callbacks=[backup])
    assert len(history.history["loss"]) == 2
