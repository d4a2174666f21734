"""Records what real Keras 3 logs for models with several outputs, and Keras' keywords.

Run with the separate, test-only Keras environment (never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_outputs.py

It writes two fixtures under ``tests/fixtures/keras/``, which the tests read without Keras:

* ``outputs.json``: per-epoch ``fit`` logs (keys and values) and ``evaluate`` results of a
  tiny two-output model with fixed weights and data, for per-output losses with
  ``loss_weights``, per-output metrics, ``sample_weight`` with ``metrics`` against
  ``weighted_metrics``, and ``class_weight``;
* ``keywords.json``: the parameters of Keras' ``compile`` / ``fit`` / ``evaluate`` /
  ``predict`` / ``save`` / ``load_model`` (and friends), of every callback and of every layer.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"

N, FEATURES, HIDDEN, CLASSES = 12, 4, 5, 3
BATCH, EPOCHS, LEARNING_RATE = 4, 2, 0.1


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        "x": rng.normal(size=(N, FEATURES)).astype(np.float32),
        "score": rng.normal(size=(N, 1)).astype(np.float32),
        "priority": rng.integers(0, CLASSES, size=(N,)).astype(np.int64),
        "sample_weight": rng.uniform(0.0, 2.0, size=(N,)).astype(np.float32),
        "score_weight": rng.uniform(0.0, 2.0, size=(N,)).astype(np.float32),
        "val_x": rng.normal(size=(6, FEATURES)).astype(np.float32),
        "val_score": rng.normal(size=(6, 1)).astype(np.float32),
        "val_priority": rng.integers(0, CLASSES, size=(6,)).astype(np.int64),
        "val_sample_weight": rng.uniform(0.0, 2.0, size=(6,)).astype(np.float32),
    }


def _weights() -> dict[str, list[np.ndarray]]:
    """Keras layout: kernel (in, out), bias (out)."""
    rng = np.random.default_rng(5)

    def dense(n_in: int, n_out: int) -> list[np.ndarray]:
        return [
            rng.normal(scale=0.6, size=(n_in, n_out)).astype(np.float32),
            rng.normal(scale=0.1, size=(n_out,)).astype(np.float32),
        ]

    return {
        "hidden": dense(FEATURES, HIDDEN),
        "score": dense(HIDDEN, 1),
        "priority": dense(HIDDEN, CLASSES),
    }


def _functional(weights: dict[str, list[np.ndarray]], outputs: str = "both") -> keras.Model:
    inputs = keras.Input((FEATURES,), name="features")
    hidden = keras.layers.Dense(HIDDEN, activation="relu", name="hidden")(inputs)
    heads = {
        "score": keras.layers.Dense(1, name="score")(hidden),
        "priority": keras.layers.Dense(CLASSES, activation="softmax", name="priority")(hidden),
    }
    model = keras.Model(
        inputs, [heads["score"], heads["priority"]] if outputs == "both" else heads[outputs]
    )
    for name, values in weights.items():
        if outputs in ("both", name) or name == "hidden":
            model.get_layer(name).set_weights(values)
    return model


class _TupleModel(keras.Model):
    """A subclassed model returning an unnamed tuple (score, priority)."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = keras.layers.Dense(HIDDEN, activation="relu")
        self.score = keras.layers.Dense(1)
        self.priority = keras.layers.Dense(CLASSES, activation="softmax")

    def call(self, x: Any) -> Any:
        h = self.hidden(x)
        return (self.score(h), self.priority(h))


def _tuple_model(weights: dict[str, list[np.ndarray]], x: np.ndarray) -> keras.Model:
    model = _TupleModel()
    model(x[:1])
    for name in ("hidden", "score", "priority"):
        getattr(model, name).set_weights(weights[name])
    return model


def _targets(data: dict[str, np.ndarray], form: str, prefix: str = "") -> Any:
    score, priority = data[prefix + "score"], data[prefix + "priority"]
    if form == "dict":
        return {"score": score, "priority": priority}
    if form == "score":
        return score
    if form == "priority":
        return priority
    return [score, priority]


# Each case: model kind, compile kwargs, target form, and which weights fit gets.
CASES: dict[str, dict[str, Any]] = {
    "loss_list_loss_weights": {
        "model": "both",
        "compile": {
            "loss": ["mse", "sparse_categorical_crossentropy"],
            "loss_weights": [0.5, 2.0],
            "metrics": [["mae"], ["accuracy"]],
        },
        "y": "list",
    },
    "loss_dict_metrics_dict": {
        "model": "both",
        "compile": {
            "loss": {"score": "mse", "priority": "sparse_categorical_crossentropy"},
            "loss_weights": {"score": 1.5, "priority": 0.25},
            "metrics": {"score": ["mae", "mse"], "priority": ["accuracy"]},
        },
        "y": "dict",
    },
    "single_loss_every_output": {
        "model": "both",
        "compile": {
            "loss": "mse",
            "metrics": ["mae", "mse"],
        },
        "y": "list_onehot",
    },
    "sample_weight_metrics_vs_weighted": {
        "model": "both",
        "compile": {
            "loss": {"score": "mse", "priority": "sparse_categorical_crossentropy"},
            "metrics": {"score": ["mae"], "priority": ["accuracy"]},
            "weighted_metrics": {"score": ["mae"], "priority": ["accuracy"]},
        },
        # Keras 3.15 fails on dict targets with one sample_weight array (KeyError in
        # CompileLoss' path lookup), so the targets are a list here.
        "y": "list",
        "sample_weight": "one",
    },
    "sample_weight_per_output": {
        "model": "both",
        "compile": {
            "loss": ["mse", "sparse_categorical_crossentropy"],
            "loss_weights": [1.0, 0.5],
            "weighted_metrics": [["mae"], ["accuracy"]],
        },
        "y": "list",
        "sample_weight": "per_output",
    },
    "single_output_sample_weight": {
        "model": "score",
        "compile": {"loss": "mse", "metrics": ["mae"], "weighted_metrics": ["mae", "mse"]},
        "y": "score",
        "sample_weight": "one",
    },
    "single_output_class_weight": {
        "model": "priority",
        "compile": {
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
            "weighted_metrics": ["accuracy"],
        },
        "y": "priority",
        "class_weight": {0: 1.0, 1: 3.0, 2: 0.5},
    },
    "unnamed_tuple_outputs": {
        "model": "tuple",
        "compile": {
            "loss": ["mse", "sparse_categorical_crossentropy"],
            "metrics": [["mae", "mse"], ["accuracy"]],
            "weighted_metrics": [["mae"], ["accuracy"]],
        },
        "y": "list",
    },
}


def _fit_case(case: dict[str, Any], data: dict[str, np.ndarray], weights: Any) -> dict[str, Any]:
    kind = case["model"]
    model = _tuple_model(weights, data["x"]) if kind == "tuple" else _functional(weights, kind)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE), **case["compile"])
    form = case["y"]
    y = _targets(data, "list" if form == "list_onehot" else form)
    val_y = _targets(data, "list" if form == "list_onehot" else form, "val_")
    if form == "list_onehot":  # one loss for both outputs needs float targets for both
        y = [y[0], np.eye(CLASSES, dtype=np.float32)[y[1]]]
        val_y = [val_y[0], np.eye(CLASSES, dtype=np.float32)[val_y[1]]]
    fit_kwargs: dict[str, Any] = {}
    validation: tuple[Any, ...] = (data["val_x"], val_y)
    if case.get("sample_weight") == "one":
        fit_kwargs["sample_weight"] = data["sample_weight"]
        validation = (data["val_x"], val_y, data["val_sample_weight"])
    elif case.get("sample_weight") == "per_output":
        fit_kwargs["sample_weight"] = [data["score_weight"], data["sample_weight"]]
    if "class_weight" in case:
        fit_kwargs["class_weight"] = case["class_weight"]
    history = model.fit(
        data["x"],
        y,
        batch_size=BATCH,
        epochs=EPOCHS,
        shuffle=False,
        verbose=0,
        validation_data=validation,
        **fit_kwargs,
    )
    evaluate_kwargs = {"sample_weight": validation[2]} if len(validation) == 3 else {}
    as_list = model.evaluate(data["val_x"], val_y, batch_size=BATCH, verbose=0, **evaluate_kwargs)
    as_dict = model.evaluate(
        data["val_x"], val_y, batch_size=BATCH, verbose=0, return_dict=True, **evaluate_kwargs
    )
    return {
        "compile": case["compile"],
        "model": kind,
        "y": form,
        "sample_weight": case.get("sample_weight"),
        "class_weight": {str(k): v for k, v in case.get("class_weight", {}).items()} or None,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "evaluate": [float(v) for v in np.atleast_1d(as_list)],
        "evaluate_dict": {k: float(v) for k, v in as_dict.items()},
        "final_weights": {
            name: [w.tolist() for w in _layer(model, name).get_weights()]
            for name in ("hidden", "score", "priority")
            if kind in ("both", "tuple", name) or name == "hidden"
        },
    }


def _layer(model: keras.Model, name: str) -> Any:
    return getattr(model, name) if isinstance(model, _TupleModel) else model.get_layer(name)


def record_outputs() -> dict[str, Any]:
    data = _data()
    weights = _weights()
    return {
        "keras_version": keras.__version__,
        "batch_size": BATCH,
        "epochs": EPOCHS,
        "learning_rate": LEARNING_RATE,
        "data": {k: v.tolist() for k, v in data.items()},
        "weights": {k: [w.tolist() for w in v] for k, v in weights.items()},
        "cases": {name: _fit_case(case, data, weights) for name, case in CASES.items()},
    }


# ---------------------------------------------------------------------------- keywords
def _parameters(fn: Any) -> list[dict[str, Any]]:
    out = []
    for name, p in inspect.signature(fn).parameters.items():
        if name == "self":
            continue
        default = None if p.default is inspect.Parameter.empty else repr(p.default)
        out.append({"name": name, "kind": p.kind.name, "default": default})
    return out


def record_keywords() -> dict[str, Any]:
    model = keras.Model
    methods = {
        "compile": model.compile,
        "fit": model.fit,
        "evaluate": model.evaluate,
        "predict": model.predict,
        "train_on_batch": model.train_on_batch,
        "test_on_batch": model.test_on_batch,
        "predict_on_batch": model.predict_on_batch,
        "save": model.save,
        "save_weights": model.save_weights,
        "load_weights": model.load_weights,
        "load_model": keras.saving.load_model,
        "summary": model.summary,
    }
    callbacks = {
        name: _parameters(getattr(keras.callbacks, name).__init__)
        for name in sorted(dir(keras.callbacks))
        if inspect.isclass(getattr(keras.callbacks, name))
        and issubclass(getattr(keras.callbacks, name), keras.callbacks.Callback)
    }
    layers = {
        name: _parameters(getattr(keras.layers, name).__init__)
        for name in sorted(dir(keras.layers))
        if inspect.isclass(getattr(keras.layers, name))
        and issubclass(getattr(keras.layers, name), keras.layers.Layer)
    }
    return {
        "keras_version": keras.__version__,
        "methods": {name: _parameters(fn) for name, fn in methods.items()},
        "callbacks": callbacks,
        "layers": layers,
        "input": _parameters(keras.Input),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in (("outputs.json", record_outputs()), ("keywords.json", record_keywords())):
        (OUT / name).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
