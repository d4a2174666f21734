"""Records what Keras 3's image preprocessing layers and BatchNormalization compute, for
``tests/layers/test_image_preprocessing.py`` and ``tests/layers/test_normalization.py``.

Run with the test-only Keras environment (Keras is never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_preprocessing.py

Writes ``tests/fixtures/keras/layers_preprocessing.json`` (CenterCrop and Resizing in every
mode; RandomRotation / RandomZoom / RandomTranslation with a fixed factor ``(a, a)``, so the
transform is deterministic, for every ``fill_mode`` and ``interpolation``, called with
``training=True``) and ``tests/fixtures/keras/layers_normalization.json``
(BatchNormalization in training mode with given weights: outputs and moving statistics, then
inference outputs; a masked call; one ``fit`` step of a small model).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"


def _short(array: Any) -> Any:
    array = np.asarray(keras.ops.convert_to_numpy(array))
    if array.dtype.kind in "iub":
        return array.tolist()
    # Six decimals: the tests compare to 1e-5 and the values are within a few units.
    return np.vectorize(lambda v: round(float(v), 6), otypes=[object])(array).tolist()


def _image(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=shape).round(2).astype(np.float32)


INPUTS = {
    "batch": (1, 5, 6, 2),
    "single": (5, 6, 2),
    "first": (2, 2, 4, 5),
    "small": (1, 3, 4, 1),
}


def _preprocessing_cases() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}

    def add(name: str, cls: str, config: dict[str, Any], image: str = "batch", **call: Any):
        cases[name] = {"class_name": cls, "config": config, "input": image, "call": call}

    add("CenterCrop", "CenterCrop", {"height": 3, "width": 4})
    add("CenterCrop_odd", "CenterCrop", {"height": 2, "width": 3})
    add("CenterCrop_single", "CenterCrop", {"height": 4, "width": 2}, "single")
    add(
        "CenterCrop_first",
        "CenterCrop",
        {"height": 3, "width": 4, "data_format": "channels_first"},
        "first",
    )
    add("CenterCrop_larger", "CenterCrop", {"height": 7, "width": 4})
    add("CenterCrop_both_larger", "CenterCrop", {"height": 8, "width": 9})
    for interp in ("bilinear", "nearest", "bicubic"):
        add(f"Resizing_{interp}_up", "Resizing", {"height": 7, "width": 9, "interpolation": interp})
        add(
            f"Resizing_{interp}_down",
            "Resizing",
            {"height": 3, "width": 4, "interpolation": interp},
        )
    add("Resizing_antialias", "Resizing", {"height": 2, "width": 3, "antialias": True})
    add(
        "Resizing_antialias_bicubic",
        "Resizing",
        {"height": 2, "width": 4, "antialias": True, "interpolation": "bicubic"},
    )
    add("Resizing_crop", "Resizing", {"height": 4, "width": 4, "crop_to_aspect_ratio": True})
    add("Resizing_crop_tall", "Resizing", {"height": 6, "width": 2, "crop_to_aspect_ratio": True})
    add(
        "Resizing_pad",
        "Resizing",
        {"height": 4, "width": 4, "pad_to_aspect_ratio": True, "fill_value": 0.5},
    )
    add("Resizing_pad_wide", "Resizing", {"height": 2, "width": 8, "pad_to_aspect_ratio": True})
    add(
        "Resizing_first",
        "Resizing",
        {"height": 3, "width": 8, "data_format": "channels_first"},
        "first",
    )
    add("Resizing_single", "Resizing", {"height": 4, "width": 3}, "single")
    factors = {
        "RandomRotation": [("r10", {"factor": (0.1, 0.1)}), ("rneg", {"factor": (-0.3, -0.3)})],
        "RandomZoom": [
            ("out", {"height_factor": (0.3, 0.3)}),
            ("in", {"height_factor": (-0.4, -0.4), "width_factor": (0.2, 0.2)}),
        ],
        "RandomTranslation": [
            ("pos", {"height_factor": (0.2, 0.2), "width_factor": (0.35, 0.35)}),
            ("neg", {"height_factor": (-0.5, -0.5), "width_factor": (-0.15, -0.15)}),
        ],
    }
    for cls, variants in factors.items():
        for tag, factor in variants:
            for fill in ("reflect", "wrap", "constant", "nearest"):
                for interp in ("bilinear", "nearest"):
                    config = {**factor, "fill_mode": fill, "interpolation": interp}
                    if fill == "constant":
                        config["fill_value"] = 0.25
                    add(f"{cls}_{tag}_{fill}_{interp}", cls, config, training=True)
        tag, factor = variants[0]
        add(
            f"{cls}_first", cls, {**factor, "data_format": "channels_first"}, "first", training=True
        )
        add(f"{cls}_single", cls, dict(factor), "single", training=True)
        add(f"{cls}_inference", cls, dict(factor), training=False)
    return cases


def record_preprocessing() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    inputs = {name: _image(rng, shape) for name, shape in INPUTS.items()}
    out: dict[str, Any] = {
        "keras_version": keras.__version__,
        "inputs": {k: _short(v) for k, v in inputs.items()},
        "cases": {},
    }
    for name, c in _preprocessing_cases().items():
        layer = getattr(keras.layers, c["class_name"])(**c["config"])
        result = layer(inputs[c["input"]], **c["call"])
        out["cases"][name] = {**c, "output": _short(result)}
    # Integer images keep their dtype through Resizing (rounded).
    pixels = rng.integers(0, 256, size=(1, 3, 4, 1)).astype(np.uint8)
    resized = keras.layers.Resizing(5, 7)(pixels)
    out["uint8"] = {
        "input": pixels.tolist(),
        "output": _short(resized),
        "dtype": str(keras.ops.convert_to_numpy(resized).dtype),
    }
    return out


def _bn_weights(rng: np.random.Generator, layer: Any) -> list[np.ndarray]:
    weights = []
    for w in layer.weights:
        low, high = (0.5, 1.5) if "variance" in w.path else (-0.6, 0.6)
        weights.append(rng.uniform(low, high, size=tuple(w.shape)).round(2).astype(np.float32))
    return weights


def _bn_cases() -> dict[str, dict[str, Any]]:
    return {
        "default": {"config": {}, "shape": (4, 3)},
        "momentum_epsilon": {"config": {"momentum": 0.9, "epsilon": 0.01}, "shape": (5, 2)},
        "images_last": {"config": {"momentum": 0.8}, "shape": (2, 3, 3, 2)},
        "axis_1": {"config": {"axis": 1, "momentum": 0.5}, "shape": (2, 3, 2, 2)},
        "axis_1_rank3": {"config": {"axis": 1}, "shape": (3, 2, 4)},
        "axis_negative_2": {"config": {"axis": -2, "momentum": 0.7}, "shape": (3, 4, 2)},
        "no_center": {"config": {"center": False, "momentum": 0.9}, "shape": (4, 3)},
        "no_scale": {"config": {"scale": False, "momentum": 0.9}, "shape": (4, 3)},
        "neither": {"config": {"center": False, "scale": False, "momentum": 0.9}, "shape": (4, 3)},
        "mask": {
            "config": {"momentum": 0.6},
            "shape": (2, 4, 3),
            "mask": [[True, True, False, True], [True, False, False, False]],
        },
    }


def _bn_fit(rng: np.random.Generator) -> dict[str, Any]:
    """One SGD step of Dense -> BatchNormalization -> Dense on one batch."""
    x = rng.uniform(-1, 1, size=(8, 4)).round(2).astype(np.float32)
    y = rng.uniform(-1, 1, size=(8, 1)).round(2).astype(np.float32)
    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(3),
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.Dense(1),
        ]
    )
    weights = [
        rng.uniform(0.5, 1.5, size=w.shape).round(2).astype(np.float32)
        if "variance" in w.path
        else rng.uniform(-0.6, 0.6, size=w.shape).round(2).astype(np.float32)
        for w in model.weights
    ]
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return {
        "x": _short(x),
        "y": _short(y),
        "weights": [_short(w) for w in weights],
        "after": [_short(w) for w in model.get_weights()],
        "loss": [float(v) for v in history.history["loss"]],
        "predict": _short(model.predict(x, verbose=0)),
    }


def record_normalization() -> dict[str, Any]:
    rng = np.random.default_rng(11)
    out: dict[str, Any] = {"keras_version": keras.__version__, "cases": {}}
    for name, c in _bn_cases().items():
        x = rng.uniform(-2, 2, size=c["shape"]).round(2).astype(np.float32)
        layer = keras.layers.BatchNormalization(**c["config"])
        layer.build(x.shape)
        weights = _bn_weights(rng, layer)
        layer.set_weights(weights)
        kwargs = {} if "mask" not in c else {"mask": np.asarray(c["mask"])}
        train_out = layer(x, training=True, **kwargs)
        after = layer.get_weights()
        infer_out = layer(x, training=False, **kwargs)
        out["cases"][name] = {
            "config": c["config"],
            "mask": c.get("mask"),
            "input": _short(x),
            "weights": [_short(w) for w in weights],
            "weight_names": [w.name for w in layer.weights],
            "train_output": _short(train_out),
            "after": [_short(w) for w in after],
            "inference_output": _short(infer_out),
        }
    out["fit"] = _bn_fit(rng)
    return out


FILES = OUT.parent / "keras_files"


def _files_model() -> Any:
    return keras.Sequential(
        [
            keras.Input(shape=(5, 6, 2)),
            keras.layers.RandomFlip("horizontal", seed=1),
            keras.layers.RandomRotation(0.1, fill_mode="constant", seed=2),
            keras.layers.RandomZoom((-0.2, 0.1), width_factor=0.2, interpolation="nearest"),
            keras.layers.RandomTranslation(0.1, (0.0, 0.2), fill_mode="wrap", seed=4),
            keras.layers.CenterCrop(4, 5),
            keras.layers.Resizing(4, 4, interpolation="nearest", crop_to_aspect_ratio=True),
            keras.layers.BatchNormalization(momentum=0.9, epsilon=0.01, center=False),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )


def record_files() -> None:
    """``image_bn.keras`` / ``.weights.h5`` / ``.h5`` written by Keras, with predictions."""
    rng = np.random.default_rng(5)
    model = _files_model()
    weights = [
        rng.uniform(0.5, 1.5, size=w.shape).round(2).astype(np.float32)
        if "variance" in w.path
        else rng.uniform(-0.6, 0.6, size=w.shape).round(2).astype(np.float32)
        for w in model.weights
    ]
    model.set_weights(weights)
    model.compile(optimizer="sgd", loss="mse")
    x = _image(rng, (3, 5, 6, 2))
    FILES.mkdir(parents=True, exist_ok=True)
    model.save(FILES / "image_bn.keras")
    model.save_weights(FILES / "image_bn.weights.h5")
    model.save(FILES / "image_bn.h5")
    record = {
        "keras_version": keras.__version__,
        "input": _short(x),
        "predictions": _short(model.predict(x, verbose=0)),
    }
    (FILES / "image_bn.json").write_text(json.dumps(record, separators=(",", ":")) + "\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    for family, payload in (
        ("preprocessing", record_preprocessing()),
        ("normalization", record_normalization()),
    ):
        path = OUT / f"layers_{family}.json"
        path.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
        print(f"{path}: {len(payload['cases'])} cases, {path.stat().st_size} bytes")
    record_files()


if __name__ == "__main__":
    main()
