"""Records Keras 3's gradient accumulation (``gradient_accumulation_steps=``), for
tests/optimizers/test_gradient_accumulation.py. Test-only Keras environment::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_accumulation.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras" / "accumulation.json"
RNG = np.random.default_rng(3)
KERNEL = RNG.normal(size=(3, 2)).astype("float32")
BIAS = RNG.normal(size=(2,)).astype("float32")
GRADS = [(RNG.normal(size=(3, 2)), RNG.normal(size=(2,))) for _ in range(7)]

CASES = {
    "sgd_2": ("SGD", {"learning_rate": 0.1, "gradient_accumulation_steps": 2}),
    "sgd_momentum_3": (
        "SGD",
        {"learning_rate": 0.1, "momentum": 0.9, "gradient_accumulation_steps": 3},
    ),
    "adam_2_decay_clip": (
        "Adam",
        {
            "learning_rate": 0.01,
            "weight_decay": 0.1,
            "global_clipnorm": 0.5,
            "gradient_accumulation_steps": 2,
        },
    ),
    "sgd_schedule_2": ("SGD", {"gradient_accumulation_steps": 2}),
}


def main() -> None:
    cases = {}
    for key, (class_name, kwargs) in CASES.items():
        kwargs = dict(kwargs)
        if key == "sgd_schedule_2":
            kwargs["learning_rate"] = keras.optimizers.schedules.PiecewiseConstantDecay(
                [1, 3], [0.1, 0.05, 0.01]
            )
        kernel = keras.Variable(KERNEL, name="kernel")
        bias = keras.Variable(BIAS, name="bias")
        optimizer = getattr(keras.optimizers, class_name)(**kwargs)
        steps = []
        for grad_kernel, grad_bias in GRADS:
            grads = [
                keras.ops.convert_to_tensor(g.astype("float32")) for g in (grad_kernel, grad_bias)
            ]
            optimizer.apply(grads, [kernel, bias])
            steps.append(
                {
                    "kernel": np.asarray(kernel.numpy()).tolist(),
                    "bias": np.asarray(bias.numpy()).tolist(),
                    "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
                }
            )
        if key == "sgd_schedule_2":
            kwargs["learning_rate"] = "PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01])"
        cases[key] = {"class_name": class_name, "kwargs": kwargs, "steps": steps}
    data = {
        "keras_version": keras.__version__,
        "kernel": KERNEL.tolist(),
        "bias": BIAS.tolist(),
        "grads": [[g.astype("float32").tolist() for g in pair] for pair in GRADS],
        "cases": cases,
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
