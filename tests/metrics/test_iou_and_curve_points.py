"""IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU and the ``...At...`` metrics against
Keras 3 (tests/fixtures/keras/metrics_curve_iou.json, from
scripts/record_keras_metrics_curve_iou.py): the result after each of three batches, with
and without sample weights, after ``reset_state`` and one more batch; configs as Keras';
states that sum across processes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from epochal import metrics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras"
DATA = json.loads((FIXTURES / "metrics_curve_iou.json").read_text(encoding="utf-8"))
CASES = DATA["cases"]
ARRAYS = DATA["arrays"]


def _tensor(key: str) -> torch.Tensor:
    value = torch.tensor(ARRAYS[key])
    return value.long() if "ids" in key else value


def _weights(spec: dict, y_true: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    weights = torch.tensor(ARRAYS["weights"])[start:stop]
    if y_true.dim() == 2 and y_true.shape[-1] == 3:
        iou = "IoU" in spec["class_name"]
        weights = weights[:, None].expand(-1, 3) if iou else weights[:, None]
    return weights


def _make(spec: dict) -> metrics.Metric:
    return getattr(metrics, spec["class_name"])(**spec["kwargs"])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_keras_batch_by_batch_and_after_reset(case, weighted):
    spec = CASES[case]
    suffix = "weighted" if weighted else "value"
    y_true, y_pred = _tensor(spec["y_true"]), _tensor(spec["y_pred"])
    metric = _make(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # float weights, integer dtype
        got = []
        for start, stop in DATA["batches"]:
            sw = _weights(spec, y_true, start, stop) if weighted else None
            metric.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=sw)
            got.append(float(metric.result()))
        np.testing.assert_allclose(got, spec[suffix], rtol=0, atol=1e-6)
        metric.reset_state()
        assert float(metric.result()) == pytest.approx(spec[f"{suffix}_reset"], abs=1e-6)
        start, stop = DATA["batches"][1]
        sw = _weights(spec, y_true, start, stop) if weighted else None
        metric.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=sw)
        assert float(metric.result()) == pytest.approx(spec[f"{suffix}_after_reset"], abs=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_name_and_config_are_keras(case):
    spec = CASES[case]
    metric = _make(spec)
    assert metric.get_config() == spec["config"]
    assert metric.name == spec["config"]["name"]
    clone = type(metric)(**metric.get_config())
    assert clone.get_config() == metric.get_config()
    assert metric.direction == "up"


@pytest.mark.parametrize("case", sorted(CASES))
def test_states_sum_across_processes(case):
    """Two metrics fed disjoint batches, states summed in float64 and cast back as
    ``DataParallelStrategy.reduce_metrics`` does, give the single metric's result."""
    spec = CASES[case]
    y_true, y_pred = _tensor(spec["y_true"]), _tensor(spec["y_pred"])
    a, b = _make(spec), _make(spec)
    a.update(y_true[:13], y_pred[:13])
    b.update(y_true[13:], y_pred[13:])
    merged = {}
    for key, value in a.state_dict().items():
        total = torch.as_tensor(value, dtype=torch.float64) + torch.as_tensor(
            b.state_dict()[key], dtype=torch.float64
        )
        kind = value.dtype if not value.is_floating_point() else torch.float32
        merged[key] = total.to(kind)
    both = _make(spec)
    both.load_state_dict(merged)
    assert float(both.result()) == pytest.approx(spec["value"][-1], abs=1e-6)


def test_integer_dtype_truncates_float_weights_with_one_warning():
    metric = metrics.MeanIoU(num_classes=2)
    with pytest.warns(UserWarning, match="truncated to integers"):
        metric.update(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([0.5, 1.7]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric.update(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([0.5, 1.7]))
    assert metric.matrix.dtype == torch.int64
    assert metric.matrix.tolist() == [[0, 0], [0, 2]]


def test_one_weight_per_sample_covers_its_segmentation_map():
    truth = torch.tensor([[[0, 1], [1, 1]], [[0, 0], [1, 0]]])
    pred = torch.tensor([[[0, 1], [0, 1]], [[0, 0], [1, 1]]])
    per_sample = metrics.MeanIoU(2, dtype="float32")
    per_sample.update(truth, pred, torch.tensor([2.0, 0.5]))
    per_pixel = metrics.MeanIoU(2, dtype="float32")
    per_pixel.update(truth, pred, torch.tensor([2.0, 0.5]).reshape(2, 1, 1).expand(2, 2, 2))
    torch.testing.assert_close(per_sample.matrix, per_pixel.matrix)


def test_strings_resolve_as_in_keras():
    assert isinstance(metrics.get("binary_io_u"), metrics.BinaryIoU)
    assert isinstance(metrics.get("BinaryIoU"), metrics.BinaryIoU)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: metrics.IoU(3, [0, 3]), r"Target class id 3 is out of range"),
        (lambda: metrics.IoU(3, [-1]), r"Target class id -1 is out of range"),
        (lambda: metrics.IoU(0, [0]), "num_classes"),
        (lambda: metrics.MeanIoU(2, dtype="string"), "invalid `dtype`"),
        (lambda: metrics.OneHotMeanIoU(2, ignore_class="void"), "ignore_class"),
        (lambda: metrics.SensitivityAtSpecificity(1.5), r"`specificity` must be in the range"),
        (lambda: metrics.SpecificityAtSensitivity(-0.1), r"`sensitivity` must be in the"),
        (lambda: metrics.PrecisionAtRecall(2), r"`recall` must be in the range"),
        (lambda: metrics.RecallAtPrecision(0.5, num_thresholds=0), "num_thresholds"),
        (lambda: metrics.RecallAtPrecision(0.5, dtype="int32"), "float type"),
    ],
)
def test_bad_arguments_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_float64_dtype_keeps_float64_state_and_result():
    metric = metrics.PrecisionAtRecall(0.5, dtype="float64")
    metric.update(torch.tensor([0.0, 1.0, 1.0]), torch.tensor([0.2, 0.7, 0.4]))
    assert metric.tp.dtype == torch.float64
    assert metric.result().dtype == torch.float64
