"""Records what real Keras 3 computes for the IoU family, the ``...At...`` metrics and
Adam / AdamW (epsilon placement, amsgrad), for tests/metrics/test_iou_and_curve_points.py and
tests/optimizers/test_adam_epsilon.py.

Run with the separate, test-only Keras environment (never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_metrics_curve_iou.py

It writes ``tests/fixtures/keras/metrics_curve_iou.json`` and
``tests/fixtures/keras/adam_epsilon.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record_keras_schedules_metrics import SCHEDULES, _grads  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"
BATCHES = [(0, 13), (13, 29), (29, 40)]


def _arrays() -> dict:
    rng = np.random.default_rng(23)
    n = 40
    binary_true = rng.integers(0, 2, size=(n, 3)).astype(np.float32)
    noise = rng.uniform(-0.55, 0.55, size=(n, 3))
    binary_pred = np.clip(0.5 * binary_true + 0.25 + noise, 0.01, 0.99).astype(np.float32)
    ids_true = rng.integers(0, 4, n)
    ids_pred = np.where(rng.uniform(size=n) < 0.6, ids_true, rng.integers(0, 4, n))
    ids_true_out = ids_true.copy()
    ids_true_out[[3, 17, 31]] = [-1, 4, 7]  # out of range: left out
    ids_pred_out = ids_pred.copy()
    ids_pred_out[[5, 22]] = [-2, 4]
    probs = rng.dirichlet(np.ones(4), size=n).astype(np.float32)
    onehot = np.eye(4, dtype=np.float32)[ids_true]
    return {
        "binary_true": binary_true.tolist(),
        "binary_pred": binary_pred.tolist(),
        "ids_true": ids_true.tolist(),
        "ids_pred": ids_pred.tolist(),
        "ids_true_out": ids_true_out.tolist(),
        "ids_pred_out": ids_pred_out.tolist(),
        "probs": probs.tolist(),
        "onehot": onehot.tolist(),
        "flat_true": binary_true[:, 0].tolist(),
        "flat_pred": binary_pred[:, 0].tolist(),
        # float weights: integer-dtype IoU truncates them (0, 1, 2)
        "weights": rng.uniform(0.1, 2.9, size=n).astype(np.float32).tolist(),
    }


# name: (Keras class, kwargs, y_true key, y_pred key)
METRICS = {
    "sens_at_spec": ("SensitivityAtSpecificity", {"specificity": 0.5}, "binary_true",
                     "binary_pred"),
    "sens_at_spec_high": ("SensitivityAtSpecificity", {"specificity": 0.9,
                                                       "num_thresholds": 7},
                          "binary_true", "binary_pred"),
    "sens_at_spec_class": ("SensitivityAtSpecificity", {"specificity": 0.7, "class_id": 1},
                           "binary_true", "binary_pred"),
    "spec_at_sens": ("SpecificityAtSensitivity", {"sensitivity": 0.8}, "binary_true",
                     "binary_pred"),
    "spec_at_sens_one": ("SpecificityAtSensitivity", {"sensitivity": 0.4,
                                                      "num_thresholds": 1},
                         "binary_true", "binary_pred"),
    "spec_at_sens_class": ("SpecificityAtSensitivity", {"sensitivity": 0.6, "class_id": 2,
                                                        "num_thresholds": 50},
                           "binary_true", "binary_pred"),
    "prec_at_rec": ("PrecisionAtRecall", {"recall": 0.7}, "binary_true", "binary_pred"),
    "prec_at_rec_flat": ("PrecisionAtRecall", {"recall": 0.3, "num_thresholds": 11},
                         "flat_true", "flat_pred"),
    "prec_at_rec_zero": ("PrecisionAtRecall", {"recall": 0.0}, "binary_true", "binary_pred"),
    "rec_at_prec": ("RecallAtPrecision", {"precision": 0.6}, "binary_true", "binary_pred"),
    "rec_at_prec_class": ("RecallAtPrecision", {"precision": 0.75, "class_id": 0,
                                                "num_thresholds": 20},
                          "binary_true", "binary_pred"),
    "rec_at_prec_one": ("RecallAtPrecision", {"precision": 1.0}, "binary_true",
                        "binary_pred"),
    "iou": ("IoU", {"num_classes": 4, "target_class_ids": [1, 3]}, "ids_true", "ids_pred"),
    "iou_out_of_range": ("IoU", {"num_classes": 4, "target_class_ids": [0, 2, 3]},
                         "ids_true_out", "ids_pred_out"),
    "iou_ignore": ("IoU", {"num_classes": 4, "target_class_ids": [0, 1, 2],
                           "ignore_class": 2}, "ids_true", "ids_pred"),
    "iou_float": ("IoU", {"num_classes": 4, "target_class_ids": [0, 3], "dtype": "float32"},
                  "ids_true", "ids_pred"),
    "iou_dense": ("IoU", {"num_classes": 4, "target_class_ids": [2], "sparse_y_true": False,
                          "sparse_y_pred": False}, "onehot", "probs"),
    "mean_iou": ("MeanIoU", {"num_classes": 4}, "ids_true_out", "ids_pred_out"),
    "mean_iou_float_ignore": ("MeanIoU", {"num_classes": 4, "ignore_class": 0,
                                          "dtype": "float32"}, "ids_true", "ids_pred"),
    "mean_iou_dense_pred": ("MeanIoU", {"num_classes": 4, "sparse_y_pred": False},
                            "ids_true", "probs"),
    "binary_iou": ("BinaryIoU", {}, "binary_true", "binary_pred"),
    "binary_iou_one": ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3},
                       "binary_true", "binary_pred"),
    "binary_iou_float": ("BinaryIoU", {"target_class_ids": [0], "threshold": 0.6,
                                       "dtype": "float32"}, "flat_true", "flat_pred"),
    "one_hot_iou": ("OneHotIoU", {"num_classes": 4, "target_class_ids": [0, 2]}, "onehot",
                    "probs"),
    "one_hot_iou_ignore": ("OneHotIoU", {"num_classes": 4, "target_class_ids": [1, 2, 3],
                                         "ignore_class": 3}, "onehot", "probs"),
    "one_hot_iou_sparse_pred": ("OneHotIoU", {"num_classes": 4, "target_class_ids": [3],
                                              "sparse_y_pred": True}, "onehot", "ids_pred"),
    "one_hot_mean_iou": ("OneHotMeanIoU", {"num_classes": 4}, "onehot", "probs"),
    "one_hot_mean_iou_float": ("OneHotMeanIoU", {"num_classes": 4, "dtype": "float32",
                                                 "ignore_class": 1}, "onehot", "probs"),
}  # fmt: skip


def _weights_for(arrays: dict, y_true: np.ndarray, start: int, stop: int, iou: bool) -> np.ndarray:
    weights = np.asarray(arrays["weights"], dtype=np.float32)[start:stop]
    if y_true.ndim == 2 and y_true.shape[-1] == 3:
        # confusion metrics: (batch, 1), one per row; IoU: one per value (Keras needs it)
        weights = np.repeat(weights[:, None], 3, axis=1) if iou else weights[:, None]
    return weights


def record_metrics(arrays: dict) -> dict:
    cases = {}
    for key, (class_name, kwargs, true_key, pred_key) in METRICS.items():
        y_true, y_pred = np.asarray(arrays[true_key]), np.asarray(arrays[pred_key])
        if "ids" in true_key:
            y_true = y_true.astype(np.int64)
        if "ids" in pred_key:
            y_pred = y_pred.astype(np.int64)
        results = {}
        for weighted in (False, True):
            metric = getattr(keras.metrics, class_name)(**kwargs)
            per_batch = []
            for start, stop in BATCHES:
                sw = (
                    _weights_for(arrays, y_true, start, stop, "IoU" in class_name)
                    if weighted
                    else None
                )
                metric.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=sw)
                per_batch.append(float(np.asarray(metric.result())))
            suffix = "weighted" if weighted else "value"
            results[suffix] = per_batch
            metric.reset_state()
            results[f"{suffix}_reset"] = float(np.asarray(metric.result()))
            start, stop = BATCHES[1]
            sw = (
                _weights_for(arrays, y_true, start, stop, "IoU" in class_name) if weighted else None
            )
            metric.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=sw)
            results[f"{suffix}_after_reset"] = float(np.asarray(metric.result()))
        keras.backend.clear_session()  # the default name, without a uniquifying suffix
        config = getattr(keras.metrics, class_name)(**kwargs).get_config()
        cases[key] = {
            "class_name": class_name,
            "kwargs": kwargs,
            "y_true": true_key,
            "y_pred": pred_key,
            "config": config,
            **results,
        }
    return {"batches": BATCHES, "arrays": arrays, "cases": cases}


KERNEL = np.array([[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]], dtype=np.float32)
BIAS = np.array([0.1, -0.2], dtype=np.float32)
STEPS = 30

# name: (Keras class, kwargs, schedule key)
OPTIMIZERS = {
    "adam": ("Adam", {}, None),
    "adam_eps": ("Adam", {"learning_rate": 0.01, "beta_2": 0.99, "epsilon": 1e-3}, None),
    "adam_cosine_warmup": ("Adam", {"weight_decay": 0.01}, "cosine_warmup"),
    "adam_amsgrad": ("Adam", {"learning_rate": 0.01, "amsgrad": True, "epsilon": 1e-4},
                     None),
    "adam_amsgrad_schedule": ("Adam", {"amsgrad": True, "beta_1": 0.8}, "exponential"),
    "adamw": ("AdamW", {}, None),
    "adamw_eps": ("AdamW", {"learning_rate": 0.02, "weight_decay": 0.1, "epsilon": 1e-2,
                            "beta_2": 0.95}, None),
    "adamw_schedule": ("AdamW", {"weight_decay": 0.05}, "cosine_restarts"),
    "adamw_amsgrad": ("AdamW", {"learning_rate": 0.005, "amsgrad": True, "epsilon": 1e-3},
                      None),
    "adam_clipnorm": ("Adam", {"learning_rate": 0.01, "clipnorm": 0.5, "epsilon": 1e-3},
                      None),
}  # fmt: skip


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
        for step in range(STEPS):
            grads = [keras.ops.convert_to_tensor(g) for g in _grads(step)]
            optimizer.apply(grads, [kernel, bias])
            steps.append(
                {
                    "kernel": np.asarray(kernel.numpy()).tolist(),
                    "bias": np.asarray(bias.numpy()).tolist(),
                }
            )
        if schedule_key:
            kwargs.pop("learning_rate")
        cases[key] = {
            "class_name": class_name,
            "kwargs": kwargs,
            "schedule": schedule_key,
            "steps": steps,
        }
    return {
        "kernel": KERNEL.tolist(),
        "bias": BIAS.tolist(),
        "grads": [[g.tolist() for g in _grads(step)] for step in range(STEPS)],
        "cases": cases,
    }


def _write(name: str, data: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print("wrote", OUT / name)


def main() -> None:
    _write("metrics_curve_iou.json", record_metrics(_arrays()))
    _write("adam_epsilon.json", record_optimizers())


if __name__ == "__main__":
    main()
