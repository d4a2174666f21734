"""Records what real Keras 3 computes for schedules, optimizers, metrics and losses.

Run with the separate, test-only Keras environment (never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_schedules_metrics.py

It writes ``tests/fixtures/keras/{schedules,optimizers_extra,metrics,losses}.json``; the
tests read them and need no Keras.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"
STEPS = [*range(0, 41), 55, 99, 100, 101, 250, 1000]

SCHEDULES = {
    "exponential": ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7,
                                         "decay_rate": 0.5}),
    "exponential_staircase": ("ExponentialDecay", {"initial_learning_rate": 0.1,
                                                   "decay_steps": 7, "decay_rate": 0.5,
                                                   "staircase": True}),
    "piecewise": ("PiecewiseConstantDecay", {"boundaries": [5, 12, 30],
                                             "values": [1.0, 0.5, 0.1, 0.01]}),
    "polynomial": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 20}),
    "polynomial_power_cycle": ("PolynomialDecay", {"initial_learning_rate": 0.1,
                                                   "decay_steps": 9, "end_learning_rate": 0.01,
                                                   "power": 2.0, "cycle": True}),
    "inverse_time": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5,
                                          "decay_rate": 0.3}),
    "inverse_time_staircase": ("InverseTimeDecay", {"initial_learning_rate": 0.1,
                                                    "decay_steps": 5, "decay_rate": 0.3,
                                                    "staircase": True}),
    "cosine": ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 30}),
    "cosine_alpha": ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 30,
                                     "alpha": 0.1}),
    "cosine_warmup": ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 25,
                                      "alpha": 0.05, "warmup_target": 0.2,
                                      "warmup_steps": 10}),
    "cosine_restarts": ("CosineDecayRestarts", {"initial_learning_rate": 0.1,
                                                "first_decay_steps": 6}),
    "cosine_restarts_mul": ("CosineDecayRestarts", {"initial_learning_rate": 0.1,
                                                    "first_decay_steps": 5, "t_mul": 1.0,
                                                    "m_mul": 0.5, "alpha": 0.1}),
    "cosine_restarts_t3": ("CosineDecayRestarts", {"initial_learning_rate": 0.1,
                                                   "first_decay_steps": 4, "t_mul": 3.0,
                                                   "m_mul": 0.8}),
}  # fmt: skip


def record_schedules() -> dict:
    cases = {}
    for key, (class_name, kwargs) in SCHEDULES.items():
        schedule = getattr(keras.optimizers.schedules, class_name)(**kwargs)
        values = [float(np.asarray(schedule(np.int64(step)))) for step in STEPS]
        cases[key] = {
            "class_name": class_name,
            "kwargs": kwargs,
            "values": values,
            "serialized": keras.optimizers.schedules.serialize(schedule),
        }
    return {"steps": STEPS, "cases": cases}


KERNEL = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]], dtype=np.float32)
BIAS = np.array([0.1, -0.2], dtype=np.float32)


def _grads(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return (
        rng.normal(size=KERNEL.shape).astype(np.float32),
        rng.normal(size=BIAS.shape).astype(np.float32),
    )


OPTIMIZERS = {
    "adamax": ("Adamax", {"learning_rate": 0.01}, None),
    "adamax_decay": ("Adamax", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95,
                                "epsilon": 1e-3, "weight_decay": 0.1}, None),
    "adamax_clipnorm": ("Adamax", {"learning_rate": 0.01, "clipnorm": 0.5}, None),
    "adadelta": ("Adadelta", {"learning_rate": 1.0}, None),
    "adadelta_decay": ("Adadelta", {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-4,
                                    "weight_decay": 0.05}, None),
    "adadelta_clipvalue": ("Adadelta", {"learning_rate": 1.0, "clipvalue": 0.3}, None),
    "lion": ("Lion", {"learning_rate": 0.01}, None),
    "lion_decay": ("Lion", {"learning_rate": 0.003, "beta_1": 0.5, "beta_2": 0.9,
                            "weight_decay": 0.2}, None),
    "lion_global_clipnorm": ("Lion", {"learning_rate": 0.01, "global_clipnorm": 1.0}, None),
    "sgd_exponential": ("SGD", {"momentum": 0.9}, "exponential_staircase"),
    "adam_cosine_warmup": ("Adam", {"weight_decay": 0.01}, "cosine_warmup"),
    "lion_piecewise": ("Lion", {}, "piecewise"),
    "adamax_polynomial": ("Adamax", {}, "polynomial_power_cycle"),
}  # fmt: skip
OPTIMIZER_STEPS = 14


def record_optimizers() -> dict:
    cases = {}
    for key, (class_name, kwargs, schedule_key) in OPTIMIZERS.items():
        kwargs = dict(kwargs)
        if schedule_key:
            name, schedule_kwargs = SCHEDULES[schedule_key]
            kwargs["learning_rate"] = getattr(keras.optimizers.schedules, name)(**schedule_kwargs)
        kernel = keras.Variable(KERNEL, name="kernel")
        bias = keras.Variable(BIAS, name="bias")
        optimizer = getattr(keras.optimizers, class_name)(**kwargs)
        steps = []
        for step in range(OPTIMIZER_STEPS):
            grads = [keras.ops.convert_to_tensor(g) for g in _grads(step)]
            optimizer.apply(grads, [kernel, bias])
            steps.append(
                {
                    "kernel": np.asarray(kernel.numpy()).tolist(),
                    "bias": np.asarray(bias.numpy()).tolist(),
                    "learning_rate": float(np.asarray(optimizer.learning_rate)),
                }
            )
        kwargs.pop("learning_rate", None) if schedule_key else None
        cases[key] = {
            "class_name": class_name,
            "kwargs": kwargs,
            "schedule": schedule_key,
            "steps": steps,
        }
    return {
        "kernel": KERNEL.tolist(),
        "bias": BIAS.tolist(),
        "grads": [[g.tolist() for g in _grads(step)] for step in range(OPTIMIZER_STEPS)],
        "cases": cases,
    }


def _write(name: str, data: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print("wrote", OUT / name)


def main() -> None:
    _write("schedules.json", record_schedules())
    _write("optimizers_extra.json", record_optimizers())


if __name__ == "__main__":
    main()
