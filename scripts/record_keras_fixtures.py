"""Records what real Keras 3 computes, for tests that compare epochal against it.

Run with a separate, test-only environment that has Keras (never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_fixtures.py

It writes small JSON files under ``tests/fixtures/keras/``; the tests read those files and
need no Keras.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"

KERNEL = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]], dtype=np.float32)
BIAS = np.array([0.1, -0.2], dtype=np.float32)
# One gradient per step, for the kernel and the bias.
GRADS = [
    (
        np.array([[0.1, -0.2], [0.3, 0.05], [-0.4, 0.2]], dtype=np.float32),
        np.array([0.5, -0.1], dtype=np.float32),
    ),
    (
        np.array([[-0.3, 0.1], [0.2, -0.6], [0.1, 0.1]], dtype=np.float32),
        np.array([-0.2, 0.3], dtype=np.float32),
    ),
    (
        np.array([[0.05, 0.05], [-0.1, 0.4], [0.3, -0.2]], dtype=np.float32),
        np.array([0.1, 0.1], dtype=np.float32),
    ),
]

CASES = {
    "sgd": ("SGD", {"learning_rate": 0.1, "weight_decay": 0.1}, None),
    "sgd_momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.05}, None),
    "sgd_nesterov": (
        "SGD",
        {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.2},
        None,
    ),
    "adam": ("Adam", {"learning_rate": 0.01, "weight_decay": 0.1}, None),
    "adam_no_decay": ("Adam", {"learning_rate": 0.01}, None),
    "adamw_default": ("AdamW", {"learning_rate": 0.01}, None),
    "adamw": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.5}, None),
    "adamw_exclude_bias": ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.5}, ["bias"]),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01, "weight_decay": 0.1}, None),
}


def record_weight_decay() -> dict:
    cases = {}
    for key, (class_name, kwargs, exclude) in CASES.items():
        kernel = keras.Variable(KERNEL, name="kernel")
        bias = keras.Variable(BIAS, name="bias")
        optimizer = getattr(keras.optimizers, class_name)(**kwargs)
        if exclude:
            optimizer.exclude_from_weight_decay(var_names=exclude)
        steps = []
        for grad_kernel, grad_bias in GRADS:
            grads = [keras.ops.convert_to_tensor(g) for g in (grad_kernel, grad_bias)]
            optimizer.apply(grads, [kernel, bias])
            steps.append(
                {
                    "kernel": np.asarray(kernel.numpy()).tolist(),
                    "bias": np.asarray(bias.numpy()).tolist(),
                }
            )
        cases[key] = {
            "class_name": class_name,
            "kwargs": kwargs,
            "exclude_var_names": exclude,
            "steps": steps,
        }
    return {
        "keras_version": keras.__version__,
        "kernel": KERNEL.tolist(),
        "bias": BIAS.tolist(),
        "grads": [[g.tolist() for g in pair] for pair in GRADS],
        "cases": cases,
    }


def record_learning_rate() -> dict:
    optimizer = keras.optimizers.SGD(learning_rate=0.01)
    lr = optimizer.learning_rate
    out = {
        "numpy": float(lr.numpy()),
        "float": float(lr),
        "equals_0_01": bool(lr == 0.01),
        "times_half": float(lr * 0.5),
    }
    lr.assign(0.1)
    out["after_assign"] = float(optimizer.learning_rate.numpy())
    return out


def record_frozen_batch_norm() -> dict:
    layer = keras.layers.BatchNormalization()
    x = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]], dtype=np.float32)
    layer.build(x.shape)
    layer.set_weights(
        [
            np.array([1.5, 0.5], dtype=np.float32),
            np.array([0.1, -0.1], dtype=np.float32),
            np.array([0.2, 0.3], dtype=np.float32),
            np.array([2.0, 0.5], dtype=np.float32),
        ]
    )
    layer.trainable = False
    y = layer(x, training=True)
    return {
        "x": x.tolist(),
        "weights": [w.tolist() for w in layer.get_weights()],
        "y": np.asarray(keras.ops.convert_to_numpy(y)).tolist(),
        "weight_names": [w.name for w in layer.weights],
        "trainable_weights": len(layer.trainable_weights),
        "non_trainable_weights": len(layer.non_trainable_weights),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    fixtures = {
        "weight_decay.json": record_weight_decay(),
        "learning_rate.json": record_learning_rate(),
        "frozen_batch_norm.json": record_frozen_batch_norm(),
    }
    for name, data in fixtures.items():
        (OUT / name).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
