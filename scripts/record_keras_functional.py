"""Records how real Keras 3 describes and evaluates small functional models.

Run with the test-only Keras environment (never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_functional.py

It writes ``tests/fixtures/keras/functional.json``: per model, the layer order, each row of
``summary()`` (name, class, output shape, parameters, connections), the totals, the output
names, the config's keys, and ``evaluate`` losses with fixed weights and data (for
``loss_weights``). ``tests/models/test_functional.py`` builds the same models with epochal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from keras import layers

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras" / "functional.json"


def weights_for(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Deterministic weights both sides can make: a scaled sine of the index."""
    size = int(np.prod(shape))
    return (
        (np.sin(np.arange(size, dtype=np.float64) * 0.37 + seed) * 0.3)
        .reshape(shape)
        .astype(np.float32)
    )


def data(n: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "title": rng.integers(0, 50, (n, 5)).astype("int64"),
        "body": rng.integers(0, 50, (n, 7)).astype("int64"),
        "tags": rng.integers(0, 2, (n, 6)).astype("float32"),
        "priority": rng.random((n, 1)).astype("float32"),
        "department": np.eye(3, dtype="float32")[rng.integers(0, 3, n)],
    }


def guide_model() -> keras.Model:
    """The keras.io functional-API guide's ticket model, on layers epochal has."""
    title = keras.Input(shape=(5,), dtype="int64", name="title")
    body = keras.Input(shape=(7,), dtype="int64", name="body")
    tags = keras.Input(shape=(6,), name="tags")
    title_features = layers.Flatten(name="title_flat")(
        layers.Embedding(50, 4, name="title_emb")(title)
    )
    body_features = layers.Flatten(name="body_flat")(layers.Embedding(50, 4, name="body_emb")(body))
    x = layers.Concatenate(name="merged")([title_features, body_features, tags])
    priority = layers.Dense(1, name="priority")(x)
    department = layers.Dense(3, name="department")(x)
    return keras.Model(
        inputs=[title, body, tags], outputs=[priority, department], name="ticket_classifier"
    )


def residual_model() -> keras.Model:
    inputs = keras.Input(shape=(6,), name="features")
    x = layers.Dense(8, activation="relu", name="stem")(inputs)
    y = layers.Dense(8, activation="relu", name="block")(x)
    x = layers.Add(name="residual")([x, y])
    x = layers.BatchNormalization(name="norm")(x)
    outputs = layers.Dense(2, name="head")(x)
    return keras.Model(inputs, outputs, name="residual")


def shared_model() -> keras.Model:
    a = keras.Input(shape=(4,), name="left")
    b = keras.Input(shape=(4,), name="right")
    shared = layers.Dense(3, name="shared")
    merged = layers.Concatenate(name="both")([shared(a), shared(b)])
    return keras.Model([a, b], layers.Dense(1, name="score")(merged), name="siamese")


def set_fixed_weights(model: keras.Model) -> None:
    for index, layer in enumerate(model.layers):
        if layer.weights and type(layer).__name__ in ("Dense", "Embedding"):
            layer.set_weights([weights_for(tuple(w.shape), index) for w in layer.weights])


def describe(model: keras.Model) -> dict:
    rows = []
    for layer in model._operations:  # the summary's rows, InputLayers included
        nodes = layer._inbound_nodes  # each model here is the only user of its layers
        shape = tuple(nodes[0].output_tensors[0].shape)
        connected = []
        for node in nodes:
            for tensor in node.input_tensors:
                owner, node_index, tensor_index = tensor._keras_history
                connected.append([owner.name, node_index, tensor_index])
        rows.append(
            {
                "name": layer.name,
                "class_name": type(layer).__name__,
                "output_shape": list(shape),
                "params": int(layer.count_params()) if layer.built else 0,
                "connected_to": connected,
            }
        )
    config = model.get_config()
    return {
        "layers": [layer.name for layer in model.layers],
        "rows": rows,
        "total_params": int(model.count_params()),
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "output_names": list(model.output_names),
        "config_keys": sorted(config),
        "layer_entry_keys": sorted(config["layers"][1]),
        "input_layers": config["input_layers"],
        "output_layers": config["output_layers"],
    }


def main() -> None:
    keras.utils.set_random_seed(0)
    found: dict = {}
    model = guide_model()
    found["guide"] = describe(model)
    set_fixed_weights(model)
    d = data()
    x = [d["title"], d["body"], d["tags"]]
    y = [d["priority"], d["department"]]
    evaluations = {}
    for label, loss_weights in (("plain", None), ("weighted", [1.0, 0.2])):
        model.compile(
            optimizer="sgd",
            loss=[
                keras.losses.BinaryCrossentropy(from_logits=True),
                keras.losses.CategoricalCrossentropy(from_logits=True),
            ],
            loss_weights=loss_weights,
        )
        logs = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)
        evaluations[label] = {k: float(v) for k, v in logs.items()}
    found["guide"]["evaluate"] = evaluations
    found["guide"]["predict"] = [p.tolist() for p in model.predict(x, verbose=0)]
    found["residual"] = describe(residual_model())
    found["shared"] = describe(shared_model())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
