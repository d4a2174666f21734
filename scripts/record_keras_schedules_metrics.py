"""Records what real Keras 3 computes for schedules, optimizers, metrics and losses.

Run with the separate, test-only Keras environment (never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_schedules_metrics.py

It writes ``tests/fixtures/keras/{schedules,optimizers_extra,losses_extra,metrics_extra}.json``; the
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


def _arrays() -> dict:
    rng = np.random.default_rng(7)
    probs = rng.dirichlet(np.ones(4), size=12).astype(np.float32)
    onehot = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 12)]
    binary_pred = rng.uniform(0.02, 0.98, size=(12, 3)).astype(np.float32)
    binary_true = rng.integers(0, 2, size=(12, 3)).astype(np.float32)
    regression_true = rng.uniform(0.5, 3.0, size=(12, 3)).astype(np.float32)
    regression_pred = (regression_true + rng.normal(0, 0.4, size=(12, 3))).astype(np.float32)
    logits = rng.normal(0, 2, size=(12, 4)).astype(np.float32)
    return {
        "probs": probs.tolist(),
        "onehot": onehot.tolist(),
        "sparse": onehot.argmax(-1).astype(np.int64).tolist(),
        "binary_pred": binary_pred.tolist(),
        "binary_true": binary_true.tolist(),
        "regression_true": regression_true.tolist(),
        "regression_pred": regression_pred.tolist(),
        "logits": logits.tolist(),
        "pm_true": (2 * binary_true - 1).tolist(),
        "weights": rng.uniform(0.1, 2.0, size=12).astype(np.float32).tolist(),
        "ids_true": rng.integers(0, 4, 12).tolist(),
        "ids_pred": rng.integers(0, 4, 12).tolist(),
    }


# name: (Keras class, kwargs, y_true key, y_pred key)
LOSSES = {
    "hinge": ("Hinge", {}, "binary_true", "logits3"),
    "hinge_pm": ("Hinge", {}, "pm_true", "logits3"),
    "squared_hinge": ("SquaredHinge", {}, "binary_true", "logits3"),
    "categorical_hinge": ("CategoricalHinge", {}, "onehot", "logits"),
    "kl_divergence": ("KLDivergence", {}, "onehot", "probs"),
    "poisson": ("Poisson", {}, "regression_true", "regression_pred"),
    "log_cosh": ("LogCosh", {}, "regression_true", "regression_pred"),
    "cosine_similarity": ("CosineSimilarity", {}, "regression_true", "regression_pred"),
    "mape": ("MeanAbsolutePercentageError", {}, "regression_true", "regression_pred"),
    "msle": ("MeanSquaredLogarithmicError", {}, "regression_true", "regression_pred"),
    "bfce": ("BinaryFocalCrossentropy", {}, "binary_true", "binary_pred"),
    "bfce_balanced": ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4,
                                                  "gamma": 1.5, "label_smoothing": 0.1},
                      "binary_true", "binary_pred"),
    "bfce_logits": ("BinaryFocalCrossentropy", {"from_logits": True}, "binary_true", "logits3"),
    "cfce": ("CategoricalFocalCrossentropy", {}, "onehot", "probs"),
    "cfce_logits_smooth": ("CategoricalFocalCrossentropy", {"from_logits": True, "gamma": 3.0,
                                                            "alpha": 0.5,
                                                            "label_smoothing": 0.2},
                           "onehot", "logits"),
    "bce_smooth": ("BinaryCrossentropy", {"label_smoothing": 0.2}, "binary_true", "binary_pred"),
    "cce_smooth": ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot", "probs"),
    "cce_logits_smooth": ("CategoricalCrossentropy", {"label_smoothing": 0.3,
                                                      "from_logits": True}, "onehot", "logits"),
    "mse_sum": ("MeanSquaredError", {"reduction": "sum"}, "regression_true", "regression_pred"),
    "mae_none": ("MeanAbsoluteError", {"reduction": None}, "regression_true", "regression_pred"),
    "mse_mean_sw": ("MeanSquaredError", {"reduction": "mean_with_sample_weight"},
                    "regression_true", "regression_pred"),
}  # fmt: skip


def _inputs(arrays: dict, key: str) -> np.ndarray:
    if key == "logits3":
        return np.asarray(arrays["logits"], dtype=np.float32)[:, :3]
    return np.asarray(arrays[key])


def record_losses(arrays: dict) -> dict:
    cases = {}
    weights = np.asarray(arrays["weights"], dtype=np.float32)
    for key, (class_name, kwargs, true_key, pred_key) in LOSSES.items():
        loss = getattr(keras.losses, class_name)(**kwargs)
        y_true, y_pred = _inputs(arrays, true_key), _inputs(arrays, pred_key)
        plain = np.asarray(loss(y_true, y_pred)).tolist()
        weighted = np.asarray(loss(y_true, y_pred, sample_weight=weights)).tolist()
        cases[key] = {
            "class_name": class_name,
            "kwargs": kwargs,
            "y_true": true_key,
            "y_pred": pred_key,
            "value": plain,
            "weighted": weighted,
        }
    return cases


# name: (Keras class, kwargs, y_true key, y_pred key)
METRICS = {
    "bce": ("BinaryCrossentropy", {}, "binary_true", "binary_pred"),
    "bce_logits_smooth": ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
                          "binary_true", "logits3"),
    "cce": ("CategoricalCrossentropy", {}, "onehot", "probs"),
    "scce": ("SparseCategoricalCrossentropy", {}, "sparse", "probs"),
    "scce_logits": ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse", "logits"),
    "top2": ("TopKCategoricalAccuracy", {"k": 2}, "onehot", "probs"),
    "sparse_top2": ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse", "probs"),
    "rmse": ("RootMeanSquaredError", {}, "regression_true", "regression_pred"),
    "mape": ("MeanAbsolutePercentageError", {}, "regression_true", "regression_pred"),
    "msle": ("MeanSquaredLogarithmicError", {}, "regression_true", "regression_pred"),
    "cosine": ("CosineSimilarity", {}, "regression_true", "regression_pred"),
    "kld": ("KLDivergence", {}, "onehot", "probs"),
    "hinge": ("Hinge", {}, "pm_true", "logits3"),
    "squared_hinge": ("SquaredHinge", {}, "binary_true", "logits3"),
    "categorical_hinge": ("CategoricalHinge", {}, "onehot", "logits"),
    "poisson": ("Poisson", {}, "regression_true", "regression_pred"),
    "logcosh": ("LogCoshError", {}, "regression_true", "regression_pred"),
    "tp": ("TruePositives", {}, "binary_true", "binary_pred"),
    "tn": ("TrueNegatives", {"thresholds": 0.3}, "binary_true", "binary_pred"),
    "fp": ("FalsePositives", {"thresholds": [0.2, 0.5, 0.8]}, "binary_true", "binary_pred"),
    "fn": ("FalseNegatives", {}, "binary_true", "binary_pred"),
    "precision": ("Precision", {}, "binary_true", "binary_pred"),
    "precision_thresholds": ("Precision", {"thresholds": [0.3, 0.6]}, "binary_true",
                             "binary_pred"),
    "precision_top2": ("Precision", {"top_k": 2}, "onehot", "probs"),
    "precision_class": ("Precision", {"class_id": 1, "thresholds": 0.25}, "onehot", "probs"),
    "recall": ("Recall", {}, "binary_true", "binary_pred"),
    "recall_top2_class": ("Recall", {"top_k": 2, "class_id": 2}, "onehot", "probs"),
    "auc": ("AUC", {}, "binary_true", "binary_pred"),
    "auc_pr": ("AUC", {"curve": "PR"}, "binary_true", "binary_pred"),
    "auc_pr_minoring": ("AUC", {"curve": "PR", "summation_method": "minoring",
                                "num_thresholds": 50}, "binary_true", "binary_pred"),
    "auc_majoring": ("AUC", {"summation_method": "majoring", "num_thresholds": 13},
                     "binary_true", "binary_pred"),
    "auc_thresholds": ("AUC", {"thresholds": [0.1, 0.4, 0.5, 0.9]}, "binary_true",
                       "binary_pred"),
    "auc_multi": ("AUC", {"multi_label": True, "num_labels": 3}, "binary_true", "binary_pred"),
    "auc_multi_weights": ("AUC", {"multi_label": True, "label_weights": [0.2, 0.3, 0.5],
                                  "curve": "PR"}, "binary_true", "binary_pred"),
    "auc_logits": ("AUC", {"from_logits": True}, "binary_true", "logits3"),
    "f1_none": ("F1Score", {}, "onehot", "probs"),
    "f1_macro": ("F1Score", {"average": "macro", "threshold": 0.3}, "onehot", "probs"),
    "f1_micro": ("F1Score", {"average": "micro"}, "binary_true", "binary_pred"),
    "f1_weighted": ("F1Score", {"average": "weighted", "threshold": 0.5}, "binary_true",
                    "binary_pred"),
    "fbeta": ("FBetaScore", {"beta": 2.0, "average": "macro", "threshold": 0.4},
              "binary_true", "binary_pred"),
    "r2": ("R2Score", {}, "regression_true", "regression_pred"),
    "r2_variance": ("R2Score", {"class_aggregation": "variance_weighted_average"},
                    "regression_true", "regression_pred"),
    "r2_raw_adjusted": ("R2Score", {"class_aggregation": None, "num_regressors": 2},
                        "regression_true", "regression_pred"),
    "mean_iou": ("MeanIoU", {"num_classes": 4}, "ids_true", "ids_pred"),
    "mean_iou_dense": ("MeanIoU", {"num_classes": 4, "sparse_y_true": False,
                                   "sparse_y_pred": False, "ignore_class": 0},
                       "onehot", "probs"),
}  # fmt: skip

BATCHES = [(0, 5), (5, 9), (9, 12)]


def record_metrics(arrays: dict) -> dict:
    cases = {}
    weights = np.asarray(arrays["weights"], dtype=np.float32)
    for key, (class_name, kwargs, true_key, pred_key) in METRICS.items():
        y_true, y_pred = _inputs(arrays, true_key), _inputs(arrays, pred_key)
        results = {}
        for weighted in (False, True):
            metric = getattr(keras.metrics, class_name)(**kwargs)
            for start, stop in BATCHES:
                sw = weights[start:stop] if weighted else None
                metric.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=sw)
            results["weighted" if weighted else "value"] = np.asarray(metric.result()).tolist()
        cases[key] = {
            "class_name": class_name,
            "kwargs": kwargs,
            "y_true": true_key,
            "y_pred": pred_key,
            **results,
        }
    for key, (class_name, kwargs) in {"mean": ("Mean", {}), "sum": ("Sum", {})}.items():
        values = np.asarray(arrays["regression_pred"], dtype=np.float32)[:, 0]
        out = {}
        for weighted in (False, True):
            metric = getattr(keras.metrics, class_name)(**kwargs)
            for start, stop in BATCHES:
                sw = weights[start:stop] if weighted else None
                metric.update_state(values[start:stop], sample_weight=sw)
            out["weighted" if weighted else "value"] = float(np.asarray(metric.result()))
        cases[key] = {"class_name": class_name, "kwargs": kwargs, "values": True, **out}
    return {"batches": BATCHES, "cases": cases}


def _write(name: str, data: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print("wrote", OUT / name)


def main() -> None:
    _write("schedules.json", record_schedules())
    _write("optimizers_extra.json", record_optimizers())
    arrays = _arrays()
    _write("losses_extra.json", {"arrays": arrays, "cases": record_losses(arrays)})
    _write("metrics_extra.json", {"arrays": arrays, **record_metrics(arrays)})


if __name__ == "__main__":
    main()
