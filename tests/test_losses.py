"""Keras losses: values against hand-computed Keras formulas, reductions, resolution."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from epochal import losses
from epochal.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)

EPS = 1e-7


def t(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype)


def close(value, expected, tol=1e-5):
    return math.isclose(float(value), float(expected), rel_tol=tol, abs_tol=tol)


# ---------------------------------------------------------------- regression losses


def test_mse_is_mean_over_last_axis_then_batch():
    y_true = t([[0.0, 1.0], [2.0, 2.0]])
    y_pred = t([[1.0, 1.0], [0.0, 5.0]])
    per_sample = losses.mean_squared_error(y_true, y_pred)
    assert torch.allclose(per_sample, t([0.5, 6.5]))
    assert close(MeanSquaredError()(y_true, y_pred), 3.5)
    assert close(losses.get("mse")(y_true, y_pred), 3.5)


def test_mae_values():
    y_true = t([[0.0, 1.0], [2.0, 2.0]])
    y_pred = t([[1.0, 1.0], [0.0, 5.0]])
    assert torch.allclose(losses.mean_absolute_error(y_true, y_pred), t([0.5, 2.5]))
    assert close(MeanAbsoluteError()(y_true, y_pred), 1.5)
    assert close(losses.get("mae")(y_true, y_pred), 1.5)


def test_huber_is_quadratic_then_linear():
    y_true = t([[0.0, 0.0]])
    y_pred = t([[0.5, 2.0]])
    # 0.5 * 0.5**2 = 0.125 ; delta * (|e| - delta / 2) = 1.5
    assert close(Huber()(y_true, y_pred), (0.125 + 1.5) / 2)
    assert close(Huber(delta=2.0)(y_true, y_pred), (0.125 + 2.0) / 2)


@pytest.mark.parametrize("shape", [(4,), (4, 1)])
def test_regression_targets_of_the_same_size_are_reshaped(shape):
    y_pred = t([[1.0], [2.0], [3.0], [4.0]])
    y_true = t([1.0, 1.0, 1.0, 1.0]).reshape(shape)
    assert close(losses.get("mse")(y_true, y_pred), (0 + 1 + 4 + 9) / 4)


def test_mse_broadcasts_targets_with_one_axis_fewer_keras_style():
    # Keras expands y_true (n,) to (n, 1), which broadcasts against (n, k).
    y_true = t([1.0, 2.0])
    y_pred = t([[1.0, 3.0, 5.0], [2.0, 2.0, 0.0]])
    expected = np.mean([np.mean([0.0, 4.0, 16.0]), np.mean([0.0, 0.0, 4.0])])
    assert close(losses.get("mse")(y_true, y_pred), expected)
    expected_mae = np.mean([np.mean([0.0, 2.0, 4.0]), np.mean([0.0, 0.0, 2.0])])
    assert close(losses.get("mae")(y_true, y_pred), expected_mae)


def test_integer_targets_are_cast_to_the_prediction_dtype():
    value = losses.get("mse")(torch.tensor([[1], [3]]), t([[0.0], [0.0]]))
    assert value.dtype == torch.float32
    assert close(value, 5.0)


# ---------------------------------------------------------------- crossentropies


def _np_bce(y_true, y_pred):
    p = np.clip(np.asarray(y_pred, dtype=np.float64), EPS, 1 - EPS)
    y = np.asarray(y_true, dtype=np.float64)
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), axis=-1)


def test_binary_crossentropy_mean_over_last_axis():
    y_true = [[1.0, 0.0], [0.0, 0.0]]
    y_pred = [[0.8, 0.3], [0.1, 0.6]]
    per_sample = losses.binary_crossentropy(t(y_true), t(y_pred))
    assert np.allclose(per_sample.numpy(), _np_bce(y_true, y_pred), rtol=1e-5)
    assert close(BinaryCrossentropy()(t(y_true), t(y_pred)), _np_bce(y_true, y_pred).mean())


def test_binary_crossentropy_clips_probabilities_like_keras():
    value = BinaryCrossentropy()(t([[1.0], [0.0]]), t([[0.0], [1.0]]))
    # p is clipped to 1e-7 and 1 - 1e-7, in float32 as Keras does.
    low, high = np.float32(EPS), np.float32(1.0) - np.float32(EPS)
    expected = (-np.log(low) - np.log(np.float32(1.0) - high)) / 2
    assert close(value, expected, tol=1e-4)
    assert math.isfinite(float(value))


def test_binary_crossentropy_with_flat_targets():
    y_pred = t([[0.9], [0.2], [0.6]])
    y_true = torch.tensor([1, 0, 0])
    expected = _np_bce([[1.0], [0.0], [0.0]], [[0.9], [0.2], [0.6]]).mean()
    assert close(losses.get("binary_crossentropy")(y_true, y_pred), expected)


def test_categorical_crossentropy_normalises_predictions_by_their_sum():
    y_true = t([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    y_pred = t([[2.0, 1.0, 1.0], [0.1, 0.1, 0.8]])
    # First row: p = [0.5, 0.25, 0.25]; second row already sums to 1.
    expected = [-math.log(0.5), -math.log(0.8)]
    per_sample = losses.categorical_crossentropy(y_true, y_pred)
    assert np.allclose(per_sample.numpy(), expected, rtol=1e-5)
    assert close(CategoricalCrossentropy()(y_true, y_pred), np.mean(expected))


def test_categorical_crossentropy_clips_zero_probabilities():
    value = CategoricalCrossentropy()(t([[0.0, 1.0]]), t([[1.0, 0.0]]))
    assert close(value, -math.log(EPS), tol=1e-3)


def test_categorical_crossentropy_with_soft_targets():
    y_true = t([[0.25, 0.75]])
    y_pred = t([[0.4, 0.6]])
    expected = -(0.25 * math.log(0.4) + 0.75 * math.log(0.6))
    assert close(CategoricalCrossentropy()(y_true, y_pred), expected)


@pytest.mark.parametrize("target_shape", [(3,), (3, 1)])
@pytest.mark.parametrize("dtype", [torch.int64, torch.float32])
def test_sparse_categorical_crossentropy_targets(target_shape, dtype):
    y_pred = t([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    y_true = torch.tensor([0, 2, 1], dtype=dtype).reshape(target_shape)
    expected = np.mean([-math.log(0.7), -math.log(0.8), -math.log(0.3)])
    assert close(SparseCategoricalCrossentropy()(y_true, y_pred), expected)
    assert close(losses.get("sparse_categorical_crossentropy")(y_true, y_pred), expected)


def test_sparse_categorical_crossentropy_normalises_and_clips():
    y_pred = t([[2.0, 2.0], [1.0, 0.0]])
    y_true = torch.tensor([1, 1])
    expected = np.mean([-math.log(0.5), -math.log(EPS)])
    assert close(SparseCategoricalCrossentropy()(y_true, y_pred), expected, tol=1e-3)


def test_sparse_equals_categorical_on_one_hot_targets():
    torch.manual_seed(1)
    y_pred = torch.softmax(torch.randn(5, 4), dim=-1)
    labels = torch.tensor([0, 3, 1, 1, 2])
    one_hot = torch.eye(4)[labels]
    assert close(
        SparseCategoricalCrossentropy()(labels, y_pred), CategoricalCrossentropy()(one_hot, y_pred)
    )


def test_from_logits_matches_probabilities_of_softmax():
    torch.manual_seed(2)
    logits = torch.randn(6, 4)
    labels = torch.tensor([0, 1, 2, 3, 1, 0])
    one_hot = torch.eye(4)[labels]
    probs = torch.softmax(logits, dim=-1)
    assert close(
        CategoricalCrossentropy(from_logits=True)(one_hot, logits),
        CategoricalCrossentropy()(one_hot, probs),
    )
    assert close(
        SparseCategoricalCrossentropy(from_logits=True)(labels, logits),
        SparseCategoricalCrossentropy()(labels, probs),
    )
    assert close(
        SparseCategoricalCrossentropy(from_logits=True)(labels.reshape(-1, 1), logits),
        SparseCategoricalCrossentropy()(labels, probs),
    )


def test_binary_from_logits_matches_probabilities_of_sigmoid():
    torch.manual_seed(3)
    logits = torch.randn(6, 2)
    y_true = (torch.rand(6, 2) > 0.5).float()
    assert close(
        BinaryCrossentropy(from_logits=True)(y_true, logits),
        BinaryCrossentropy()(y_true, torch.sigmoid(logits)),
    )


# ---------------------------------------------------------------- sample_weight


def test_sample_weight_multiplies_per_sample_losses_then_means_over_the_batch():
    y_true = t([[0.0], [0.0], [0.0], [0.0]])
    y_pred = t([[1.0], [2.0], [3.0], [4.0]])
    weight = t([1.0, 0.0, 2.0, 0.5])
    # Keras' "sum_over_batch_size": divide by the batch size, not by the weights' sum.
    expected = (1 * 1 + 0 * 4 + 2 * 9 + 0.5 * 16) / 4
    assert close(MeanSquaredError()(y_true, y_pred, sample_weight=weight), expected)
    assert close(losses.get("mse")(y_true, y_pred, weight.reshape(4, 1)), expected)


def test_sample_weight_on_crossentropy():
    y_pred = t([[0.5, 0.5], [0.9, 0.1]])
    labels = torch.tensor([0, 0])
    weight = t([2.0, 0.0])
    expected = 2.0 * -math.log(0.5) / 2
    assert close(SparseCategoricalCrossentropy()(labels, y_pred, sample_weight=weight), expected)


# ---------------------------------------------------------------- torch loss modules


def test_torch_mse_module_without_sample_weight():
    loss = losses.get(nn.MSELoss())
    y_true = t([[0.0, 1.0], [2.0, 2.0]])
    y_pred = t([[1.0, 1.0], [0.0, 5.0]])
    assert close(loss(y_true, y_pred), 3.5)


def test_torch_modules_get_predictions_first():
    # BCELoss(input=probabilities, target): swapping the arguments would change the value.
    loss = losses.get(nn.BCELoss())
    y_true = t([[1.0], [0.0]])
    y_pred = t([[0.8], [0.3]])
    expected = _np_bce([[1.0], [0.0]], [[0.8], [0.3]]).mean()
    assert close(loss(y_true, y_pred), expected)


def test_torch_cross_entropy_module_with_integer_targets():
    logits = t([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([0, 2])
    loss = losses.get(nn.CrossEntropyLoss())
    expected = SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    assert close(loss(labels, logits), expected)


def test_torch_module_with_sample_weight():
    module = nn.MSELoss()
    loss = losses.get(module)
    y_true = t([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    y_pred = t([[1.0, 3.0], [2.0, 2.0], [4.0, 0.0]])
    weight = t([1.0, 0.0, 0.5])
    expected = (1.0 * 5.0 + 0.0 * 4.0 + 0.5 * 8.0) / 3
    assert close(loss(y_true, y_pred, sample_weight=weight), expected)
    # The module's own reduction is restored afterwards.
    assert module.reduction == "mean"
    assert close(loss(y_true, y_pred), (5.0 + 4.0 + 8.0) / 3)


def test_torch_cross_entropy_with_sample_weight():
    logits = t([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0])
    loss = losses.get(nn.CrossEntropyLoss())
    per_sample = nn.functional.cross_entropy(logits, labels, reduction="none")
    expected = (per_sample * t([0.0, 3.0])).mean()
    assert close(loss(labels, logits, sample_weight=t([0.0, 3.0])), expected)


# ---------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    "name",
    [
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
        "mse",
        "mean_squared_error",
        "MSE",
        "mae",
        "mean_absolute_error",
        "huber",
        "huber_loss",
    ],
)
def test_every_name_resolves_and_keeps_its_spelling(name):
    loss = losses.get(name)
    assert isinstance(loss, Loss)
    assert loss.name == name


def test_names_resolve_to_the_right_functions():
    y_true = t([[0.0, 1.0]])
    y_pred = t([[0.5, 0.5]])
    assert close(losses.get("mean_squared_error")(y_true, y_pred), 0.25)
    assert close(losses.get("mean_absolute_error")(y_true, y_pred), 0.5)
    assert close(losses.get("huber_loss")(y_true, y_pred), 0.125)


def test_loss_objects_and_callables_are_accepted():
    loss = MeanSquaredError()
    assert losses.get(loss) is loss

    def my_loss(y_true, y_pred):
        return (y_pred - y_true).abs().sum(dim=-1)

    wrapped = losses.get(my_loss)
    assert wrapped.name == "my_loss"
    assert close(wrapped(t([[0.0, 0.0], [0.0, 0.0]]), t([[1.0, 2.0], [3.0, 0.0]])), 3.0)


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="binary_crossentropy") as info:
        losses.get("crossentropyy")
    message = str(info.value)
    assert "crossentropyy" in message
    for known in ("mse", "mae", "sparse_categorical_crossentropy", "huber"):
        assert known in message


@pytest.mark.parametrize("bad", [42, None, 1.5, ["mse"]])
def test_bad_type_is_a_type_error(bad):
    with pytest.raises(TypeError, match="loss"):
        losses.get(bad)


def test_get_config_reports_name_and_options():
    assert BinaryCrossentropy(from_logits=True).get_config() == {
        "name": "binary_crossentropy",
        "from_logits": True,
        "label_smoothing": 0.0,
        "axis": -1,
        "reduction": "sum_over_batch_size",
    }
    assert Huber(delta=2.0).get_config() == {
        "name": "huber",
        "delta": 2.0,
        "reduction": "sum_over_batch_size",
    }
    assert MeanSquaredError(name="my_mse", reduction="sum").get_config() == {
        "name": "my_mse",
        "reduction": "sum",
    }


def test_losses_are_differentiable():
    y_pred = t([[0.3, 0.7]]).requires_grad_()
    CategoricalCrossentropy()(t([[0.0, 1.0]]), y_pred).backward()
    assert y_pred.grad is not None
    assert torch.all(torch.isfinite(y_pred.grad))
