"""Writes small model files with real Keras 3, for the tests of reading Keras files.

Run with the test-only Keras environment (Keras is never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_files.py

For each model (an MLP with Dropout, a Conv2D/MaxPooling2D CNN, a BatchNormalization model,
an Embedding/LSTM model, a functional model with two branches) it writes, under
``tests/fixtures/keras_files/``:

- ``<name>.keras``: ``model.save`` (Keras 3 zip: config.json, metadata.json,
  model.weights.h5), compiled and trained one step, so the optimizer state is there too;
- ``<name>.h5``: legacy HDF5 (``model.save("x.h5")``);
- ``<name>.weights.h5``: ``model.save_weights``;
- ``<name>.json``: the fixed inputs and Keras' predictions on them.

Two more files stand for older writers: ``mlp_tf2.h5`` is ``mlp.h5`` with tf.keras 2's
weight names (``dense/kernel:0``) and a Keras 2.x ``model_config`` (no ``module`` fields,
``batch_input_shape``), rewritten here with h5py from the Keras 3 file, since no tf.keras
is installed. The tests read these files and need no Keras.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py
import keras
import numpy as np
from keras import layers

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras_files"


def mlp() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(6,)),
            layers.Dense(8, activation="relu"),
            layers.Dropout(0.25),
            layers.Dense(3, activation="softmax"),
        ],
        name="mlp",
    )


def cnn() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 2)),
            layers.Conv2D(4, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(3, (2, 2), strides=1),
            layers.Flatten(),
            layers.Dense(2),
        ],
        name="cnn",
    )


def batchnorm() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(5,)),
            layers.Dense(6),
            layers.BatchNormalization(momentum=0.9, epsilon=1e-3),
            layers.Activation("tanh"),
            layers.Dense(1),
        ],
        name="bn",
    )


def lstm() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(7,), dtype="int32"),
            layers.Embedding(12, 4),
            layers.LSTM(5, return_sequences=True),
            layers.GRU(3),
            layers.Dense(2),
        ],
        name="rnn",
    )


def functional() -> keras.Model:
    inputs = keras.Input(shape=(4,), name="features")
    a = layers.Dense(5, activation="relu", name="left")(inputs)
    b = layers.Dense(5, activation="tanh", name="right")(inputs)
    merged = layers.Add()([a, b]) if hasattr(layers, "Add") else a
    outputs = layers.Dense(2, name="head")(merged)
    return keras.Model(inputs, outputs, name="two_branch")


def conv1d() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(12, 3)),
            layers.Conv1D(4, 3, padding="same", activation="relu"),
            layers.DepthwiseConv1D(3, depth_multiplier=2),
            layers.SeparableConv1D(3, 2, strides=1),
            layers.MaxPooling1D(2),
            layers.Conv1DTranspose(2, 3, strides=2),
            layers.AveragePooling1D(2, padding="same"),
            layers.ZeroPadding1D(1),
            layers.Cropping1D((1, 0)),
            layers.UpSampling1D(2),
            layers.GlobalMaxPooling1D(),
            layers.Dense(2),
        ],
        name="conv1d",
    )


def conv2d() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 2)),
            layers.Conv2DTranspose(3, 3, strides=2, padding="same"),
            layers.DepthwiseConv2D(3, depth_multiplier=2, activation="tanh"),
            layers.SeparableConv2D(4, (3, 2), padding="same"),
            layers.AveragePooling2D(2),
            layers.ZeroPadding2D(((1, 0), (0, 1))),
            layers.Cropping2D(1),
            layers.UpSampling2D(2),
            layers.Conv2D(2, 1, use_bias=False),
            layers.GlobalAveragePooling2D(),
        ],
        name="conv2d",
    )


def conv3d() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(6, 6, 6, 2)),
            layers.Conv3D(3, 3, padding="same", activation="relu"),
            layers.MaxPooling3D(2),
            layers.Conv3DTranspose(2, 2, strides=2),
            layers.AveragePooling3D(2),
            layers.GlobalMaxPooling3D(),
            layers.Dense(2),
        ],
        name="conv3d",
    )


def recurrent() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(6, 3)),
            layers.Bidirectional(layers.LSTM(4, return_sequences=True)),
            layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode="sum"),
            layers.Bidirectional(layers.SimpleRNN(2, return_sequences=True), merge_mode="ave"),
            layers.Bidirectional(
                layers.GRU(2, reset_after=False, return_sequences=True), merge_mode="mul"
            ),
            layers.TimeDistributed(layers.Dense(3, activation="relu")),
            layers.SimpleRNN(4, return_sequences=True, go_backwards=True),
            layers.GRU(3, reset_after=False, return_sequences=True),
            layers.LSTM(3, unit_forget_bias=False),
            layers.Dense(2),
        ],
        name="recurrent",
    )


def masked() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(7,), dtype="int32"),
            layers.Embedding(12, 4, mask_zero=True),
            layers.Bidirectional(layers.LSTM(3, return_sequences=True)),
            layers.GRU(3),
            layers.Dense(2),
        ],
        name="masked",
    )


def reshaping() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(6,)),
            layers.Rescaling(0.5, offset=0.25),
            layers.Dense(8),
            layers.LayerNormalization(epsilon=1e-4),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((4, 2)),
            layers.Permute((2, 1)),
            layers.Flatten(),
            layers.RepeatVector(2),
            layers.ELU(alpha=0.5),
            layers.Flatten(),
            layers.PReLU(),
            layers.GaussianNoise(0.1),
            layers.ReLU(max_value=3.0),
            layers.Dense(3),
            layers.Softmax(),
        ],
        name="reshaping",
    )


def normalized() -> keras.Model:
    norm = layers.Normalization(axis=-1)
    norm.adapt(np.random.default_rng(5).normal(2.0, 3.0, size=(32, 5)).astype("float32"))
    return keras.Sequential(
        [
            keras.Input(shape=(5,)),
            norm,
            layers.Dense(4, activation="elu"),
            layers.Activation("sigmoid"),
            layers.Dense(2),
        ],
        name="normalized",
    )


def merging() -> keras.Model:
    inputs = keras.Input(shape=(4,), name="x")
    a = layers.Dense(3, name="a")(inputs)
    b = layers.Dense(3, activation="tanh", name="b")(inputs)
    c = layers.Dense(3, activation="sigmoid", name="c")(inputs)
    merged = [
        layers.Add()([a, b, c]),
        layers.Subtract()([a, b]),
        layers.Multiply()([a, c]),
        layers.Average()([a, b, c]),
        layers.Maximum()([a, b]),
        layers.Minimum()([b, c]),
    ]
    joined = layers.Concatenate(axis=-1)(merged)
    outputs = layers.Dense(2, name="head")(joined)
    return keras.Model(inputs, outputs, name="merging")


MODELS = {
    "mlp": (mlp, (6,), "float32", "categorical_crossentropy", 3),
    "cnn": (cnn, (8, 8, 2), "float32", "mse", 2),
    "bn": (batchnorm, (5,), "float32", "mse", 1),
    "rnn": (lstm, (7,), "int32", "mse", 2),
    "functional": (functional, (4,), "float32", "mse", 2),
    "conv1d": (conv1d, (12, 3), "float32", "mse", 2),
    "conv2d": (conv2d, (8, 8, 2), "float32", "mse", 2),
    "conv3d": (conv3d, (6, 6, 6, 2), "float32", "mse", 2),
    "recurrent": (recurrent, (6, 3), "float32", "mse", 2),
    "masked": (masked, (7,), "int32", "mse", 2),
    "reshaping": (reshaping, (6,), "float32", "mse", 3),
    "normalized": (normalized, (5,), "float32", "mse", 2),
    "merging": (merging, (4,), "float32", "mse", 2),
}


def data(shape: tuple[int, ...], dtype: str, rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "int32":
        return rng.integers(0, 12, size=(rows, *shape)).astype("int32")
    return rng.normal(size=(rows, *shape)).astype("float32")


def record(name: str) -> None:
    make, shape, dtype, loss, out = MODELS[name]
    keras.utils.set_random_seed(7)
    model = make()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss=loss, metrics=["mae"])
    x = data(shape, dtype, 16, 1)
    y = np.random.default_rng(2).uniform(size=(16, out)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # moving stats and optimizer slots
    probe = data(shape, dtype, 3, 3)
    if name == "masked":
        probe[:, -2:] = 0  # trailing padding: steps the Embedding's mask hides
        probe[1, 2] = 0  # and one inside a sequence
    predictions = np.asarray(model.predict(probe, verbose=0))
    model.save(OUT / f"{name}.keras")
    model.save(OUT / f"{name}.h5")
    model.save_weights(OUT / f"{name}.weights.h5")
    (OUT / f"{name}.json").write_text(
        json.dumps(
            {
                "keras_version": keras.__version__,
                "input": probe.tolist(),
                "input_dtype": dtype,
                "predictions": predictions.tolist(),
            }
        )
    )


def heads(outputs: str) -> keras.Model:
    inputs = keras.Input(shape=(4,), name="x")
    trunk = layers.Dense(5, activation="relu", name="trunk")(inputs)
    reg = layers.Dense(2, name="reg")(trunk)
    cls = layers.Dense(3, activation="softmax", name="cls")(trunk)
    out = {"reg": reg, "cls": cls} if outputs == "dict" else [reg, cls]
    return keras.Model(inputs, out, name=f"heads_{outputs}")


def record_heads() -> None:
    """Two-output functional models compiled per output: ``heads_dict`` (dict outputs,
    dict losses / loss_weights / metrics, Adam on an ExponentialDecay schedule) and
    ``heads_list`` (list outputs and settings, Adam on a CosineDecay schedule)."""
    schedules = keras.optimizers.schedules
    for outputs in ("dict", "list"):
        keras.utils.set_random_seed(11)
        model = heads(outputs)
        if outputs == "dict":
            model.compile(
                optimizer=keras.optimizers.Adam(schedules.ExponentialDecay(0.01, 10, 0.9)),
                loss={"reg": "mse", "cls": "categorical_crossentropy"},
                loss_weights={"reg": 1.0, "cls": 0.5},
                metrics={"reg": ["mae"], "cls": ["accuracy"]},
            )
        else:
            model.compile(
                optimizer=keras.optimizers.Adam(schedules.CosineDecay(0.02, 20, alpha=0.1)),
                loss=["mse", "categorical_crossentropy"],
                loss_weights=[2.0, 1.0],
                metrics=[["mae"], ["accuracy"]],
            )
        rng = np.random.default_rng(4)
        x = rng.normal(size=(16, 4)).astype("float32")
        y_reg = rng.normal(size=(16, 2)).astype("float32")
        y_cls = np.eye(3, dtype="float32")[rng.integers(0, 3, 16)]
        y = {"reg": y_reg, "cls": y_cls} if outputs == "dict" else [y_reg, y_cls]
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        probe = data((4,), "float32", 3, 3)
        predictions = model.predict(probe, verbose=0)
        if isinstance(predictions, dict):
            predictions = [predictions["reg"], predictions["cls"]]
        evaluated = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
        name = f"heads_{outputs}"
        model.save(OUT / f"{name}.keras")
        model.save(OUT / f"{name}.h5")
        model.save_weights(OUT / f"{name}.weights.h5")
        batch = {k: v[:8] for k, v in y.items()} if isinstance(y, dict) else [v[:8] for v in y]
        model.train_on_batch(x[:8], batch)  # one more step: the slots and schedule saved
        after = model.predict(probe, verbose=0)
        if isinstance(after, dict):
            after = [after["reg"], after["cls"]]
        (OUT / f"{name}.json").write_text(
            json.dumps(
                {
                    "keras_version": keras.__version__,
                    "input": probe.tolist(),
                    "input_dtype": "float32",
                    "predictions": [np.asarray(p).tolist() for p in predictions],
                    "x": x.tolist(),
                    "y": [y_reg.tolist(), y_cls.tolist()],
                    "evaluate": {k: float(v) for k, v in evaluated.items()},
                    "after_step": [np.asarray(p).tolist() for p in after],
                }
            )
        )


@keras.saving.register_keras_serializable(package="demo")
class TwoDense(keras.Model):
    """A subclassed model: ``hidden`` sorts before ``layers``, ``out`` after it, so Keras
    saves one under its attribute name and the other under ``layers/dense_1``."""

    def __init__(self, units: int = 4, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.hidden = layers.Dense(units, activation="relu")
        self.out = layers.Dense(2)

    def call(self, x: object) -> object:
        return self.out(self.hidden(x))

    def get_config(self) -> dict[str, object]:
        return {**super().get_config(), "units": self.units}


def record_subclassed() -> None:
    keras.utils.set_random_seed(3)
    model = TwoDense(5, name="two_dense")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    x = data((3,), "float32", 16, 1)
    y = np.random.default_rng(2).uniform(size=(16, 2)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    probe = data((3,), "float32", 3, 3)
    predictions = np.asarray(model.predict(probe, verbose=0))
    model.save(OUT / "subclassed.keras")
    model.save_weights(OUT / "subclassed.weights.h5")
    (OUT / "subclassed.json").write_text(
        json.dumps(
            {
                "keras_version": keras.__version__,
                "input": probe.tolist(),
                "input_dtype": "float32",
                "predictions": predictions.tolist(),
            }
        )
    )


def tf2_style() -> None:
    """``mlp.h5`` as tf.keras 2 wrote it: ``:0`` weight names, a module-less config."""
    target = OUT / "mlp_tf2.h5"
    shutil.copy(OUT / "mlp.h5", target)
    with h5py.File(target, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layers_in = config["config"]["layers"]
        kept = []
        for entry in layers_in:
            if entry["class_name"] == "InputLayer":
                continue
            entry.pop("module", None)
            entry.pop("registered_name", None)
            entry.pop("build_config", None)
            cfg = entry["config"]
            cfg["dtype"] = "float32"
            for key, value in list(cfg.items()):
                if isinstance(value, dict) and "class_name" in value:
                    cfg[key] = {"class_name": value["class_name"], "config": value["config"]}
            kept.append(entry)
        kept[0]["config"]["batch_input_shape"] = [None, 6]
        config["config"]["layers"] = kept
        config.pop("module", None)
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.13.1"
        f.attrs["backend"] = "tensorflow"
        group = f["model_weights"]
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            names = [
                n.decode() if isinstance(n, bytes) else n
                for n in group[layer].attrs["weight_names"]
            ]
            renamed = []
            for n in names:
                new = f"{layer}/{n.rsplit('/', 1)[-1]}:0"
                if n != new:
                    group[layer].move(n, new)
                renamed.append(new.encode())
            group[layer].attrs["weight_names"] = renamed
        if "optimizer_weights" in f:
            del f["optimizer_weights"]
        f.attrs.pop("training_config", None) if hasattr(f.attrs, "pop") else None


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    names = sys.argv[1:] or list(MODELS)  # a subset re-records only those files
    for name in names:
        if name == "heads":
            record_heads()
        elif name == "subclassed":
            record_subclassed()
        else:
            record(name)
    if "mlp" in names:
        tf2_style()
    for path in sorted(OUT.iterdir()):
        print(f"{path.name:28s} {path.stat().st_size:8d} bytes")


if __name__ == "__main__":
    main()
