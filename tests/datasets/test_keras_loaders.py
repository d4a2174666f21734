"""The Keras-format loaders against Keras' own loaders, on the same tiny fake files.

scripts/record_keras_datasets.py ran Keras 3 on the files of ``keras_files`` and recorded
its outputs in tests/fixtures/keras/datasets.json; here epochal reads the same files.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path

import _keras_dataset_files as keras_files
import numpy as np
import pytest

from epochal.datasets import (
    _cifar,
    _files,
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    reuters,
)

FIXTURE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures/keras/datasets.json").read_text()
)


def assert_like_keras(actual, expected):
    if isinstance(expected, list):
        assert isinstance(actual, tuple | list) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_like_keras(a, e)
        return
    array = np.asarray(actual)
    assert str(array.dtype) == expected["dtype"]
    assert list(array.shape) == expected["shape"]
    if expected["dtype"] == "object":
        values = [[int(w) for w in seq] for seq in array.reshape(-1)]
        assert values == expected["values"]
    elif "sha256" in expected:
        digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
        assert array.reshape(-1)[:20].tolist() == expected["head"]
        assert digest == expected["sha256"]
    else:
        assert array.tolist() == expected["values"]


@pytest.mark.parametrize("case", FIXTURE["imdb"], ids=lambda c: str(c["kwargs"]))
def test_imdb_equals_keras(tmp_path, case):
    path = keras_files.write_imdb(tmp_path)
    assert_like_keras(imdb.load_data(path=path, **case["kwargs"]), case["out"])


def test_imdb_preprocessing_marks_start_and_shifts_indices(tmp_path):
    path = keras_files.write_imdb(tmp_path)
    (x, _), _ = imdb.load_data(path=path, num_words=10, index_from=3)
    assert all(seq[0] == 1 for seq in x)
    assert all(w == 2 or 0 <= w < 10 for seq in x for w in seq)  # cut words are OOV (2)


def test_imdb_maxlen_that_keeps_nothing_raises(tmp_path):
    path = keras_files.write_imdb(tmp_path)
    with pytest.raises(ValueError, match="maxlen=1"):
        imdb.load_data(path=path, maxlen=1)


@pytest.mark.parametrize("case", FIXTURE["reuters"], ids=lambda c: str(c["kwargs"]))
def test_reuters_equals_keras(tmp_path, case):
    path = keras_files.write_reuters(tmp_path)
    assert_like_keras(reuters.load_data(path=path, **case["kwargs"]), case["out"])


def test_reuters_label_names():
    names = reuters.get_label_names()
    assert len(names) == 46 and names[:3] == ("cocoa", "grain", "veg-oil") and names[-1] == "lead"


@pytest.mark.parametrize("case", FIXTURE["boston_housing"], ids=lambda c: str(c["kwargs"]))
def test_boston_housing_equals_keras(tmp_path, case):
    path = keras_files.write_housing(tmp_path, "boston_housing.npz", 20, 13)
    assert_like_keras(boston_housing.load_data(path=path, **case["kwargs"]), case["out"])


@pytest.mark.parametrize("case", FIXTURE["california_housing"], ids=lambda c: str(c["kwargs"]))
def test_california_housing_equals_keras(tmp_path, case):
    path = keras_files.write_housing(tmp_path, "california_housing.npz", 700, 8)
    assert_like_keras(california_housing.load_data(path=path, **case["kwargs"]), case["out"])


def test_housing_rejects_bad_arguments(tmp_path):
    path = keras_files.write_housing(tmp_path, "california_housing.npz", 700, 8)
    with pytest.raises(ValueError, match="version"):
        california_housing.load_data(version="medium", path=path)
    with pytest.raises(ValueError, match="test_split"):
        boston_housing.load_data(path=path, test_split=1.0)


@pytest.mark.parametrize("case", FIXTURE["cifar100"], ids=lambda c: str(c["kwargs"]))
def test_cifar100_equals_keras(tmp_path, case):
    folder = keras_files.write_cifar100(tmp_path)
    assert_like_keras(cifar100.load_data(path=folder, **case["kwargs"]), case["out"])


def test_cifar100_rejects_a_bad_label_mode(tmp_path):
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data(label_mode="medium", path=tmp_path)


def test_cifar_batch_equals_keras_load_batch(tmp_path):
    folder = keras_files.write_cifar10(tmp_path)
    batch = _cifar.load_batch(folder / "cifar-10-batches-py" / "data_batch_2")
    assert_like_keras(batch, FIXTURE["cifar_load_batch"])


def test_cifar10_assembles_batches_as_keras(tmp_path):
    # Keras' cifar10 loader hard-codes 5 x 10,000 images; the layout and dtypes it gives
    # are checked here on 5 x 4: channels-last uint8 images, uint8 labels (n, 1).
    folder = keras_files.write_cifar10(tmp_path)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(path=folder)
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (4, 32, 32, 3)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8 and y_test.dtype == np.uint8
    assert y_train.shape == (20, 1) and y_test.shape == (4, 1)
    data, labels = _cifar.load_batch(folder / "cifar-10-batches-py" / "data_batch_2")
    np.testing.assert_array_equal(x_train[4:8], data.transpose(0, 2, 3, 1))
    assert y_train[4:8, 0].tolist() == labels


def test_cifar10_reads_the_unextracted_archive(tmp_path):
    folder = keras_files.write_cifar10(tmp_path / "src")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    from_archive = cifar10.load_data(path=archive)
    from_folder = cifar10.load_data(path=folder)
    for a, b in zip(from_archive, from_folder, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_cifar10_found_in_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    keras_files.write_cifar10(tmp_path / "datasets" / "cifar-10-batches-py-target")
    (x_train, _), _ = cifar10.load_data()
    assert x_train.shape == (20, 32, 32, 3)


def test_fashion_mnist_equals_keras(tmp_path):
    folder = keras_files.write_fashion_mnist(tmp_path)
    assert_like_keras(fashion_mnist.load_data(path=folder), FIXTURE["fashion_mnist"])


def test_fashion_mnist_found_in_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    keras_files.write_fashion_mnist(tmp_path / "datasets" / "fashion-mnist")
    assert_like_keras(fashion_mnist.load_data(), FIXTURE["fashion_mnist"])


def test_fashion_mnist_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train-labels-idx1-ubyte\.gz"):
        fashion_mnist.load_data(path=tmp_path)


class _Boom:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_pickle_with_code_is_refused_not_run(tmp_path, capsys):
    inner = tmp_path / "cifar-100-python"
    inner.mkdir()
    for name in ("train", "test"):
        (inner / name).write_bytes(pickle.dumps({b"data": _Boom(), b"fine_labels": [1]}))
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.print"):
        cifar100.load_data(path=tmp_path)
    assert "pwned" not in capsys.readouterr().out


def test_an_npz_object_array_with_code_is_refused(tmp_path):
    evil = np.empty(1, dtype=object)
    evil[0] = _Boom()
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=evil, y_train=np.zeros(1), x_test=evil, y_test=np.zeros(1))
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.print"):
        imdb.load_data(path=path)


def test_load_npz_reads_numeric_and_object_members(tmp_path):
    path = keras_files.write_imdb(tmp_path)
    arrays = _files.load_npz(path)
    with np.load(path, allow_pickle=True) as reference:  # the test may; epochal never does
        for key in ("x_train", "y_train", "x_test", "y_test"):
            assert [list(v) if isinstance(v, list) else v for v in arrays[key].tolist()] == [
                list(v) if isinstance(v, list) else v for v in reference[key].tolist()
            ]


def test_a_named_cache_file_with_a_wrong_hash_is_downloaded_again(tmp_path, monkeypatch):
    # The bare name looks in Keras' cache; the fake file's hash is not Keras', so the loader
    # downloads again; a dead origin (a closed loopback port) makes that fail clearly.
    import socket

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    keras_files.write_housing(tmp_path / "datasets", "boston_housing.npz", 20, 13)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(boston_housing, "ORIGIN", f"http://127.0.0.1:{port}/boston_housing.npz")
    with pytest.raises(OSError, match="URL fetch failure"):
        boston_housing.load_data()
    digest = hashlib.sha256((tmp_path / "datasets" / "boston_housing.npz").read_bytes()).hexdigest()
    monkeypatch.setattr(boston_housing, "FILE_HASH", digest)
    (x_train, _), _ = boston_housing.load_data()  # the right hash: read from the cache
    assert x_train.shape == (16, 13)


def test_npz_payload_is_bytes_identical_to_numpy(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.arange(6, dtype=np.int16).reshape(2, 3))
    buffer.seek(0)
    np.testing.assert_array_equal(_files._read_npy(buffer), np.arange(6).reshape(2, 3))
