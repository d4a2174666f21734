"""Records what Keras 3's utils and dataset loaders return, for tests that compare against it.

Run with the test-only Keras environment (never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_datasets.py

The dataset loaders run on the tiny fake files of ``tests/datasets/_keras_dataset_files.py``; Keras'
``get_file`` is pointed at them (Keras would check its real checksums and download).
Writes ``tests/fixtures/keras/utils.json`` and ``tests/fixtures/keras/datasets.json``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from keras.src.datasets import (
    boston_housing,
    california_housing,
    cifar,
    cifar100,
    fashion_mnist,
    imdb,
    reuters,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "keras"
spec = importlib.util.spec_from_file_location(
    "_keras_dataset_files", ROOT / "tests/datasets/_keras_dataset_files.py"
)
assert spec and spec.loader
files = importlib.util.module_from_spec(spec)
sys.modules["_keras_dataset_files"] = files
spec.loader.exec_module(files)


def plain(value):
    """JSON form of a loader's output: arrays with dtype and shape, object arrays as lists."""
    if isinstance(value, tuple | list) and not isinstance(value, np.ndarray):
        return [plain(v) for v in value]
    array = np.asarray(value)
    if array.dtype == object:
        return {
            "dtype": "object",
            "shape": list(array.shape),
            "values": [[int(w) for w in seq] for seq in array.reshape(-1)],
        }
    out = {"dtype": str(array.dtype), "shape": list(array.shape)}
    if array.size > 200:  # big arrays: a digest of the exact bytes, and the first values
        out["sha256"] = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
        out["head"] = array.reshape(-1)[:20].tolist()
    else:
        out["values"] = array.tolist()
    return out


def utils_cases():
    seqs = [[1, 2, 3, 4, 5], [6, 7], [], [8, 9, 10]]
    pads = []
    for kwargs in (
        {},
        {"maxlen": 3},
        {"maxlen": 3, "padding": "post"},
        {"maxlen": 3, "truncating": "post"},
        {"maxlen": 6, "padding": "post", "truncating": "post", "value": -1},
        {"dtype": "float32", "value": 0.5},
    ):
        pads.append({"kwargs": kwargs, "out": plain(keras.utils.pad_sequences(seqs, **kwargs))})
    vec = [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]
    pads.append(
        {
            "kwargs": {"maxlen": 3},
            "sequences": vec,
            "out": plain(keras.utils.pad_sequences(vec, maxlen=3, dtype="float32")),
        }
    )
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    norms = []
    for axis, order in ((-1, 2), (0, 2), (-1, 1), (1, np.inf), (0, 1)):
        norms.append(
            {
                "axis": axis,
                "order": "inf" if order == np.inf else order,
                "out": keras.utils.normalize(x, axis=axis, order=order).tolist(),
            }
        )
    import torch

    t = torch.tensor(x, dtype=torch.float32)
    tensor_norms = []
    for axis, order in ((-1, 2), (0, 1), (-1, 3)):
        out = keras.utils.normalize(t, axis=axis, order=order)
        tensor_norms.append(
            {"axis": axis, "order": order, "out": keras.ops.convert_to_numpy(out).tolist()}
        )
    return {
        "x": x.tolist(),
        "sequences": seqs,
        "pad_sequences": pads,
        "normalize": norms,
        "normalize_tensor": tensor_norms,
    }


def dataset_cases(folder: Path):
    result = {}
    imdb_path = files.write_imdb(folder)
    imdb.get_file = lambda *a, **k: str(imdb_path)
    result["imdb"] = [{"kwargs": c, "out": plain(imdb.load_data(**c))} for c in files.IMDB_CASES]
    reuters_path = files.write_reuters(folder)
    reuters.get_file = lambda *a, **k: str(reuters_path)
    result["reuters"] = [
        {"kwargs": c, "out": plain(reuters.load_data(**c))} for c in files.REUTERS_CASES
    ]
    boston = files.write_housing(folder, "boston_housing.npz", 20, 13)
    boston_housing.get_file = lambda *a, **k: str(boston)
    result["boston_housing"] = [
        {"kwargs": c, "out": plain(boston_housing.load_data(**c))} for c in files.HOUSING_CASES
    ]
    cal = files.write_housing(folder, "california_housing.npz", 700, 8)
    california_housing.get_file = lambda *a, **k: str(cal)
    result["california_housing"] = [
        {"kwargs": {**c, "version": v}, "out": plain(california_housing.load_data(version=v, **c))}
        for v in ("large", "small")
        for c in files.HOUSING_CASES
    ]
    c100 = files.write_cifar100(folder / "c100")
    cifar100.get_file = lambda *a, **k: str(c100)
    result["cifar100"] = [
        {"kwargs": {"label_mode": m}, "out": plain(cifar100.load_data(label_mode=m))}
        for m in ("fine", "coarse")
    ]
    c10 = files.write_cifar10(folder / "c10")
    batch = cifar.load_batch(str(c10 / "cifar-10-batches-py" / "data_batch_2"))
    result["cifar_load_batch"] = plain(batch)
    fm = files.write_fashion_mnist(folder / "fashion")
    fashion_mnist.get_file = lambda fname, **k: str(fm / fname)
    result["fashion_mnist"] = plain(fashion_mnist.load_data())
    return result


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {"keras_version": keras.__version__, "numpy_version": np.__version__}
    (OUT / "utils.json").write_text(json.dumps({**meta, **utils_cases()}) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        data = dataset_cases(Path(tmp))
    (OUT / "datasets.json").write_text(json.dumps({**meta, **data}) + "\n")
    print("wrote", OUT / "utils.json", OUT / "datasets.json")


if __name__ == "__main__":
    main()
