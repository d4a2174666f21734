"""Tiny, deterministic files in Keras' exact on-disk dataset formats.

The same builder serves the tests and scripts/record_keras_datasets.py (which runs Keras'
own loaders on these files), so both read byte-identical inputs. Each file is written with
the tool Keras' producer used: ``numpy.savez`` for the ``.npz`` (ragged sequences become
``dtype=object`` arrays, stored as pickles), a pickled dict with bytes keys for the cifar
batches, gzipped IDX for Fashion-MNIST.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def _ragged(rng: np.random.RandomState, n: int, vocab: int, longest: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = [int(w) for w in rng.randint(0, vocab, size=rng.randint(1, longest))]
    return out


def write_imdb(folder: Path) -> Path:
    rng = np.random.RandomState(7)
    path = folder / "imdb.npz"
    np.savez(
        path,
        x_train=_ragged(rng, 12, 30, 20),
        y_train=rng.randint(0, 2, 12),
        x_test=_ragged(rng, 10, 30, 20),
        y_test=rng.randint(0, 2, 10),
    )
    return path


def write_reuters(folder: Path) -> Path:
    rng = np.random.RandomState(8)
    path = folder / "reuters.npz"
    np.savez(path, x=_ragged(rng, 15, 40, 18), y=rng.randint(0, 46, 15))
    return path


def write_housing(folder: Path, name: str, n: int, features: int) -> Path:
    rng = np.random.RandomState(9)
    path = folder / name
    np.savez(path, x=rng.rand(n, features) * 10, y=rng.rand(n) * 50)
    return path


def _cifar_batch(path: Path, rng: np.random.RandomState, n: int, labels: dict[str, int]) -> None:
    batch: dict[bytes, object] = {
        b"batch_label": b"fake batch",
        b"data": rng.randint(0, 256, size=(n, 3072)).astype(np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    for key, classes in labels.items():
        batch[key.encode()] = [int(v) for v in rng.randint(0, classes, n)]
    with open(path, "wb") as handle:
        # Protocol 3 stores bytes as BINBYTES, which is how Python 2 str read back with
        # encoding="bytes" (the real batches) arrive; protocol 2 would need `_codecs.encode`.
        pickle.dump(batch, handle, protocol=3)


def write_cifar10(folder: Path, per_batch: int = 4) -> Path:
    """``folder/cifar-10-batches-py/{data_batch_1..5,test_batch}``; returns ``folder``."""
    rng = np.random.RandomState(10)
    inner = folder / "cifar-10-batches-py"
    inner.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        _cifar_batch(inner / name, rng, per_batch, {"labels": 10})
    return folder


def write_cifar100(folder: Path) -> Path:
    """``folder/cifar-100-python/{train,test}``; returns ``folder``."""
    rng = np.random.RandomState(11)
    inner = folder / "cifar-100-python"
    inner.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", 6), ("test", 3)):
        _cifar_batch(inner / name, rng, n, {"fine_labels": 100, "coarse_labels": 20})
    return folder


def _idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(folder: Path) -> Path:
    """The four ``*-ubyte.gz`` files in ``folder``; returns ``folder``."""
    rng = np.random.RandomState(12)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 5), ("t10k", 3)):
        _idx(folder / f"{split}-images-idx3-ubyte.gz", rng.randint(0, 256, (n, 28, 28)))
        _idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.randint(0, 10, n))
    return folder


IMDB_CASES: list[dict[str, object]] = [
    {},
    {"num_words": 15, "skip_top": 4},
    {"maxlen": 12, "seed": 3},
    {"start_char": None, "oov_char": None, "num_words": 20},
    {"start_char": None, "index_from": 0},
    {"index_from": 5, "oov_char": 9, "num_words": 25, "skip_top": 1},
]
REUTERS_CASES: list[dict[str, object]] = [
    {},
    {"num_words": 20, "test_split": 0.4},
    {"maxlen": 10, "skip_top": 3, "seed": 1},
    {"start_char": None, "oov_char": None, "num_words": 30, "index_from": 0},
]
HOUSING_CASES: list[dict[str, object]] = [{}, {"test_split": 0.3, "seed": 5}, {"test_split": 0.0}]
