"""The Keras metrics against results recorded from Keras 3 (tests/fixtures/keras/
metrics_extra.json, from scripts/record_keras_schedules_metrics.py), accumulated over three
batches, with and without sample weights; state round trips and cross-process sums."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from epochal import metrics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras"
DATA = json.loads((FIXTURES / "metrics_extra.json").read_text(encoding="utf-8"))
CASES = DATA["cases"]


def inputs(key: str) -> torch.Tensor:
    if key == "logits3":
        return torch.tensor(DATA["arrays"]["logits"])[:, :3]
    return torch.tensor(DATA["arrays"][key])


def _run(spec: dict, weighted: bool, metric=None):
    metric = metric or getattr(metrics, spec["class_name"])(**spec["kwargs"])
    weights = torch.tensor(DATA["arrays"]["weights"])
    if spec.get("values"):
        values = torch.tensor(DATA["arrays"]["regression_pred"])[:, 0]
        for start, stop in DATA["batches"]:
            metric.update_state(values[start:stop], weights[start:stop] if weighted else None)
        return metric
    y_true, y_pred = inputs(spec["y_true"]), inputs(spec["y_pred"])
    for start, stop in DATA["batches"]:
        sw = weights[start:stop] if weighted else None
        metric.update(y_true[start:stop], y_pred[start:stop], sw)
    return metric


@pytest.mark.filterwarnings("ignore:.*truncated to integers")  # MeanIoU's float weights
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_metric_matches_keras(case, weighted):
    spec = CASES[case]
    metric = _run(spec, weighted)
    want = spec["weighted" if weighted else "value"]
    np.testing.assert_allclose(metric.result().numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", sorted(c for c in CASES if not CASES[c].get("values")))
def test_state_dict_round_trip_and_summed_halves(case):
    """Two metrics fed disjoint batches, their states summed (what reduce_metrics does
    across ranks), give the single metric's result; a loaded state continues alike."""
    spec = CASES[case]
    make = lambda: getattr(metrics, spec["class_name"])(**spec["kwargs"])  # noqa: E731
    y_true, y_pred = inputs(spec["y_true"]), inputs(spec["y_pred"])
    a, b = make(), make()
    a.update(y_true[:5], y_pred[:5])
    b.update(y_true[5:], y_pred[5:])
    a.flush(), b.flush()  # as DataParallelStrategy.reduce_metrics does first
    merged = {}
    for key, value in a.state_dict().items():
        other = b.state_dict()[key]
        merged[key] = torch.as_tensor(value, dtype=torch.float64) + torch.as_tensor(
            other, dtype=torch.float64
        )
    both = make()
    both.load_state_dict({k: v.to(torch.float32) for k, v in merged.items()})
    np.testing.assert_allclose(both.result().numpy(), spec["value"], rtol=1e-5, atol=1e-6)
    frozen = copy.copy(a)
    a.update(y_true[5:], y_pred[5:])
    assert frozen.result().shape == a.result().shape  # a shallow copy stayed a snapshot
    a.reset()
    fresh = make()
    np.testing.assert_allclose(a.result().numpy(), fresh.result().numpy())


@pytest.mark.parametrize(
    "name",
    ["mape", "msle", "top_k_categorical_accuracy", "hinge", "cosine_similarity",
     "sparse_top_k_categorical_accuracy", "kld", "poisson", "logcosh", "squared_hinge",
     "categorical_hinge", "rmse", "r2_score", "true_positives", "false_negatives",
     "binary_crossentropy"],
)  # fmt: skip
def test_metric_strings_resolve_with_their_name(name):
    metric = metrics.get(name)
    assert metric.name == name
    y = torch.rand(6, 5)
    labels = torch.arange(6) % 5
    metric.update(labels if "sparse" in name else torch.eye(5)[labels], y)
    assert torch.isfinite(metric.result()).all()


def test_configs_rebuild_the_same_metric():
    for metric in (
        metrics.AUC(curve="PR", multi_label=True, num_labels=3, thresholds=[0.2, 0.7]),
        metrics.Precision(thresholds=[0.3, 0.6], top_k=2, class_id=1),
        metrics.F1Score(average="macro", threshold=0.4),
        metrics.FBetaScore(beta=0.5),
        metrics.R2Score(class_aggregation=None),
        metrics.MeanIoU(num_classes=3, ignore_class=0),
        metrics.TopKCategoricalAccuracy(k=3),
        metrics.BinaryCrossentropy(from_logits=True),
    ):
        clone = type(metric)(**metric.get_config())
        assert clone.get_config() == metric.get_config()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: metrics.AUC(curve="XY"), "Invalid `curve`"),
        (lambda: metrics.AUC(summation_method="trapezoid"), "Invalid `summation_method`"),
        (lambda: metrics.AUC(num_thresholds=1), "num_thresholds"),
        (lambda: metrics.Precision(thresholds=[1.5]), r"Threshold values must be in \[0, 1\]"),
        (lambda: metrics.F1Score(average="mean"), "Invalid `average`"),
        (lambda: metrics.FBetaScore(beta=0), "Invalid `beta`"),
        (lambda: metrics.F1Score(threshold=0.0), "Invalid `threshold`"),
        (lambda: metrics.R2Score(class_aggregation="max"), "class_aggregation"),
        (lambda: metrics.R2Score(num_regressors=-1), "num_regressors"),
        (lambda: metrics.MeanIoU(num_classes=0), "num_classes"),
    ],
)
def test_bad_arguments_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_directions_for_monitoring():
    assert metrics.AUC().direction == "up"
    assert metrics.F1Score().direction == "up"
    assert metrics.RootMeanSquaredError().direction == "down"
    assert metrics.get("mape").direction == "down"
    assert metrics.get("cosine_similarity").direction == "up"
