"""Records Keras 3's optimizer EMA (``use_ema=True``) and ``SwapEMAWeights``, for
tests/optimizers/test_ema.py and tests/callbacks/test_swap_ema_weights.py. Test-only Keras
environment (never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_ema.py

Writes ``tests/fixtures/keras/ema.json`` (step-by-step weights and averages of ``apply``,
and a small Dense model's ``fit`` / ``evaluate`` with and without ``SwapEMAWeights``) and
``tests/fixtures/keras/ema_adam.keras`` (a model saved with an EMA Adam after two steps).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

ROOT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"
OUT = ROOT / "ema.json"
RNG = np.random.default_rng(7)
KERNEL = RNG.normal(size=(3, 2)).astype("float32")
BIAS = RNG.normal(size=(2,)).astype("float32")
GRADS = [(RNG.normal(size=(3, 2)), RNG.normal(size=(2,))) for _ in range(7)]
EMA = {"use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 3}

APPLY_CASES = {
    "sgd": ("SGD", {"learning_rate": 0.1, **EMA}),
    "sgd_no_overwrite": ("SGD", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.8}),
    "sgd_momentum": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, **EMA}),
    "adam": ("Adam", {"learning_rate": 0.01, **EMA}),
    "sgd_accumulate_2": ("SGD", {"learning_rate": 0.1, "gradient_accumulation_steps": 2, **EMA}),
}

# The fit model: Dense(3 -> 4, relu) -> Dense(4 -> 1), fixed weights and data.
FIT_X = RNG.normal(size=(16, 3)).astype("float32")
FIT_Y = RNG.normal(size=(16, 1)).astype("float32")
VAL_X = RNG.normal(size=(8, 3)).astype("float32")
VAL_Y = RNG.normal(size=(8, 1)).astype("float32")
FIT_WEIGHTS = [
    RNG.normal(size=(3, 4)).astype("float32") * 0.5,
    np.zeros(4, "float32") + 0.1,
    RNG.normal(size=(4, 1)).astype("float32") * 0.5,
    np.zeros(1, "float32"),
]
FIT_CASES = {
    "sgd": ("SGD", {"learning_rate": 0.1, **EMA}),
    "adam": ("Adam", {"learning_rate": 0.01, **EMA}),
}


def as_list(values: list) -> list:
    return [np.asarray(keras.ops.convert_to_numpy(v)).tolist() for v in values]


def record_apply() -> dict:
    cases = {}
    for key, (class_name, kwargs) in APPLY_CASES.items():
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
                    "weights": as_list([kernel, bias]),
                    "average": as_list(optimizer._model_variables_moving_average),
                    "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
                }
            )
        optimizer.finalize_variable_values([kernel, bias])
        cases[key] = {
            "class_name": class_name,
            "kwargs": kwargs,
            "steps": steps,
            "finalized": as_list([kernel, bias]),
            "config": {k: optimizer.get_config()[k] for k in EMA},
            "variables": [v.path for v in optimizer.variables],
        }
    return cases


def fit_model() -> keras.Model:
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)]
    )
    model.set_weights(FIT_WEIGHTS)
    return model


class Recorder(keras.callbacks.Callback):
    """The weights every later callback sees at each epoch end and at the train end."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch_end: list = []
        self.train_end: list = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end.append([w.tolist() for w in self.model.get_weights()])

    def on_train_end(self, logs=None):
        self.train_end = [w.tolist() for w in self.model.get_weights()]


def record_fit() -> dict:
    cases = {}
    for key, (class_name, kwargs) in FIT_CASES.items():
        for swap in ("none", "eval", "epoch"):
            model = fit_model()
            model.compile(getattr(keras.optimizers, class_name)(**kwargs), loss="mse")
            recorder = Recorder()
            callbacks: list = [recorder]
            if swap == "eval":
                callbacks = [keras.callbacks.SwapEMAWeights(), recorder]
            elif swap == "epoch":
                callbacks = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True), recorder]
            history = model.fit(
                FIT_X,
                FIT_Y,
                batch_size=4,
                epochs=2,
                shuffle=False,
                validation_data=(VAL_X, VAL_Y),
                callbacks=callbacks,
                verbose=0,
            )
            average = as_list(model.optimizer._model_variables_moving_average)
            evaluated = model.evaluate(VAL_X, VAL_Y, verbose=0, return_dict=True)
            swapped_eval = model.evaluate(
                VAL_X,
                VAL_Y,
                verbose=0,
                return_dict=True,
                callbacks=[keras.callbacks.SwapEMAWeights()],
            )
            cases[f"{key}_{swap}"] = {
                "class_name": class_name,
                "kwargs": kwargs,
                "swap": swap,
                "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
                "epoch_end_weights": recorder.epoch_end,
                "train_end_weights": recorder.train_end,
                "final_weights": [w.tolist() for w in model.get_weights()],
                "final_average": average,
                "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
                "evaluate": {k: float(v) for k, v in evaluated.items()},
                "evaluate_swapped": {k: float(v) for k, v in swapped_eval.items()},
            }
    return cases


def record_file() -> dict:
    """A model saved with an EMA Adam: the optimizer variables' paths and values."""
    model = fit_model()
    model.compile(keras.optimizers.Adam(0.01, **EMA), loss="mse")
    model.fit(FIT_X[:8], FIT_Y[:8], batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.save(ROOT / "ema_adam.keras")
    return {
        "variables": [v.path for v in model.optimizer.variables],
        "values": as_list(model.optimizer.variables),
        "weights": [w.tolist() for w in model.get_weights()],
        "config": model.optimizer.get_config(),
    }


def main() -> None:
    data = {
        "keras_version": keras.__version__,
        "kernel": KERNEL.tolist(),
        "bias": BIAS.tolist(),
        "grads": [[g.astype("float32").tolist() for g in pair] for pair in GRADS],
        "apply": record_apply(),
        "fit_data": {
            "x": FIT_X.tolist(),
            "y": FIT_Y.tolist(),
            "val_x": VAL_X.tolist(),
            "val_y": VAL_Y.tolist(),
            "weights": [w.tolist() for w in FIT_WEIGHTS],
        },
        "fit": record_fit(),
        "file": record_file(),
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
