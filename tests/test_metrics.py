"""Keras metrics: accuracy resolution, weighted means, confusion metrics, AUC, state."""

from __future__ import annotations

import math

import pytest
import torch

from epochal import metrics
from epochal.metrics import (
    AUC,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    Mean,
    MeanAbsoluteError,
    MeanMetricWrapper,
    MeanSquaredError,
    Metric,
    Precision,
    Recall,
    SparseCategoricalAccuracy,
)


def t(values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype)


def value(metric: Metric) -> float:
    return float(metric.result())


# ---------------------------------------------------------------- Accuracy resolution


def test_accuracy_is_binary_when_predictions_have_one_unit():
    acc = Accuracy()
    acc.update(t([[1.0], [0.0], [1.0], [0.0]]), t([[0.9], [0.2], [0.3], [0.6]]))
    assert acc.fn is metrics.binary_accuracy
    assert math.isclose(value(acc), 0.5)


def test_accuracy_is_binary_with_flat_integer_targets_and_one_unit():
    acc = Accuracy()
    acc.update(torch.tensor([1, 0, 1]), t([[0.9], [0.2], [0.3]]))
    assert acc.fn is metrics.binary_accuracy
    assert math.isclose(value(acc), 2 / 3, rel_tol=1e-6)


def test_accuracy_is_binary_with_a_binary_crossentropy_loss_and_several_units():
    acc = metrics.get("accuracy", loss_name="binary_crossentropy")
    # Element-wise: 3 of 4 outputs on the right side of 0.5.
    acc.update(t([[1.0, 0.0], [0.0, 1.0]]), t([[0.8, 0.1], [0.7, 0.9]]))
    assert acc.fn is metrics.binary_accuracy
    assert math.isclose(value(acc), 0.75)


@pytest.mark.parametrize("target_shape", [(4,), (4, 1)])
def test_accuracy_is_sparse_with_integer_targets(target_shape):
    acc = Accuracy()
    y_pred = t([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    y_true = torch.tensor([1, 0, 0, 1]).reshape(target_shape)
    acc.update(y_true, y_pred)
    assert acc.fn is metrics.sparse_categorical_accuracy
    assert math.isclose(value(acc), 0.5)


def test_accuracy_is_sparse_with_a_sparse_loss():
    acc = metrics.get("acc", loss_name="sparse_categorical_crossentropy")
    acc.update(torch.tensor([2, 0]), t([[0.1, 0.1, 0.8], [0.1, 0.8, 0.1]]))
    assert acc.fn is metrics.sparse_categorical_accuracy
    assert math.isclose(value(acc), 0.5)


def test_accuracy_is_categorical_for_one_hot_targets():
    acc = Accuracy()
    y_true = t([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    y_pred = t([[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    acc.update(y_true, y_pred)
    assert acc.fn is metrics.categorical_accuracy
    assert math.isclose(value(acc), 2 / 3, rel_tol=1e-6)


def test_accuracy_resolution_is_kept_across_batches_and_reset():
    acc = Accuracy()
    acc.update(torch.tensor([0, 1]), t([[0.9, 0.1], [0.2, 0.8]]))
    acc.reset()
    assert value(acc) == 0.0
    acc.update(torch.tensor([1, 1]), t([[0.9, 0.1], [0.2, 0.8]]))
    assert acc.fn is metrics.sparse_categorical_accuracy
    assert math.isclose(value(acc), 0.5)


# ---------------------------------------------------------------- accuracy functions


def test_binary_accuracy_threshold():
    y_true = t([[1.0], [0.0], [1.0]])
    y_pred = t([[0.6], [0.4], [0.6]])
    assert math.isclose(value(_updated(BinaryAccuracy(), y_true, y_pred)), 1.0)
    assert math.isclose(
        value(_updated(BinaryAccuracy(threshold=0.7), y_true, y_pred)), 1 / 3, rel_tol=1e-6
    )


def test_class_metrics_compute_their_functions():
    one_hot = t([[0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([1, 1])
    y_pred = t([[0.3, 0.7], [0.6, 0.4]])
    assert value(_updated(CategoricalAccuracy(), one_hot, y_pred)) == 1.0
    assert value(_updated(SparseCategoricalAccuracy(), labels, y_pred)) == 0.5


def _updated(metric, y_true, y_pred, sample_weight=None):
    metric.update(y_true, y_pred, sample_weight)
    return metric


# ---------------------------------------------------------------- weighted means


def test_running_mean_over_batches_is_weighted_by_sample_count():
    mse = MeanSquaredError()
    mse.update(t([[0.0]]), t([[2.0]]))  # 4
    mse.update(t([[0.0], [0.0], [0.0]]), t([[1.0], [1.0], [1.0]]))  # 1, 1, 1
    assert math.isclose(value(mse), (4 + 3) / 4)


def test_sample_weight_gives_a_weighted_mean():
    acc = CategoricalAccuracy()
    y_true = t([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    y_pred = t([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])  # hits: 1, 0, 1, 0
    acc.update(y_true, y_pred, t([1.0, 3.0, 2.0, 0.0]))
    assert math.isclose(value(acc), (1 + 2) / (1 + 3 + 2 + 0))


def test_sample_weight_on_a_multi_output_metric():
    mae = MeanAbsoluteError()
    y_true = t([[0.0, 0.0], [0.0, 0.0]])
    y_pred = t([[1.0, 3.0], [4.0, 4.0]])  # per-sample 2 and 4
    mae.update(y_true, y_pred, t([3.0, 1.0]))
    assert math.isclose(value(mae), (3 * 2 + 1 * 4) / 4)


def test_zero_total_weight_gives_zero_not_nan():
    acc = CategoricalAccuracy()
    acc.update(t([[1.0, 0.0]]), t([[0.9, 0.1]]), t([0.0]))
    assert value(acc) == 0.0
    assert value(MeanSquaredError()) == 0.0


def test_mse_metric_broadcasts_flat_targets_like_the_loss():
    mse = MeanSquaredError()
    mse.update(t([1.0, 2.0]), t([[1.0, 3.0], [2.0, 0.0]]))
    assert math.isclose(value(mse), (2.0 + 2.0) / 2)


def test_update_state_accepts_keras_style_python_inputs():
    acc = CategoricalAccuracy()
    acc.update_state([[0, 1], [1, 0]], [[0.2, 0.8], [0.3, 0.7]], sample_weight=[1, 0])
    assert value(acc) == 1.0


def test_update_state_converts_targets_and_predictions():
    acc = CategoricalAccuracy()
    acc.update_state([[0, 1], [1, 0]], [[0.2, 0.8], [0.3, 0.7]])
    assert value(acc) == 0.5


# ---------------------------------------------------------------- Mean


def test_mean_is_weighted_by_the_weight_argument():
    mean = Mean()
    mean.update(t(2.0), 3)
    mean.update(t(4.0), 1)
    assert math.isclose(value(mean), 2.5)
    assert mean.direction is None
    mean.reset()
    assert value(mean) == 0.0


def test_mean_update_state_keras_style():
    mean = Mean()
    mean.update_state([1.0, 3.0, 5.0, 7.0])
    assert math.isclose(value(mean), 4.0)


def test_result_does_not_read_stale_accumulators():
    # Accumulators are replaced, not updated in place: a saved result tensor stays put.
    mean = Mean()
    mean.update(t(1.0), 1)
    first = mean.total
    mean.update(t(3.0), 1)
    assert float(first) == 1.0
    assert math.isclose(value(mean), 2.0)


# ---------------------------------------------------------------- Precision / Recall / AUC


def test_precision_and_recall_on_a_known_case():
    y_true = t([1.0, 1.0, 1.0, 0.0, 0.0])
    y_pred = t([0.9, 0.8, 0.2, 0.1, 0.7])  # tp 2, fn 1, fp 1, tn 1
    assert math.isclose(value(_updated(Precision(), y_true, y_pred)), 2 / 3, rel_tol=1e-6)
    assert math.isclose(value(_updated(Recall(), y_true, y_pred)), 2 / 3, rel_tol=1e-6)
    y_pred = t([0.9, 0.8, 0.2, 0.1, 0.3])  # tp 2, fn 1, fp 0
    assert value(_updated(Precision(), y_true, y_pred)) == 1.0
    assert math.isclose(value(_updated(Recall(), y_true, y_pred)), 2 / 3, rel_tol=1e-6)


def test_precision_recall_thresholds_and_column_shapes():
    y_true = t([[1.0], [0.0], [1.0]])
    y_pred = t([[0.6], [0.65], [0.9]])
    assert math.isclose(value(_updated(Precision(), y_true, y_pred)), 2 / 3, rel_tol=1e-6)
    assert value(_updated(Precision(thresholds=0.7), y_true, y_pred)) == 1.0
    assert value(_updated(Recall(thresholds=0.7), y_true, y_pred)) == 0.5
    # Flat targets against a column of predictions.
    assert value(_updated(Recall(), t([1.0, 0.0, 1.0]), y_pred)) == 1.0


def test_precision_recall_with_sample_weight_and_accumulation():
    precision = Precision()
    precision.update(t([1.0, 0.0]), t([0.9, 0.9]), t([1.0, 3.0]))  # tp 1, fp 3
    assert math.isclose(value(precision), 0.25)
    precision.update(t([1.0]), t([0.9]))  # tp 1
    assert math.isclose(value(precision), 2 / 5, rel_tol=1e-6)


def test_precision_recall_without_positives_are_zero():
    assert value(_updated(Precision(), t([1.0, 0.0]), t([0.1, 0.2]))) == 0.0
    assert value(_updated(Recall(), t([0.0, 0.0]), t([0.9, 0.2]))) == 0.0
    assert value(Precision()) == 0.0


def test_auc_of_a_perfect_ranking_is_one():
    auc = AUC()
    auc.update(t([0.0, 0.0, 1.0, 1.0]), t([0.1, 0.2, 0.8, 0.9]))
    assert math.isclose(value(auc), 1.0, rel_tol=1e-6)


def test_auc_of_a_reversed_ranking_is_zero():
    auc = AUC()
    auc.update(t([1.0, 1.0, 0.0, 0.0]), t([0.1, 0.2, 0.8, 0.9]))
    assert math.isclose(value(auc), 0.0, abs_tol=1e-6)


def test_auc_on_a_hand_computed_case():
    # ROC points (fpr, tpr): (0,0) (0,.5) (.5,.5) (.5,1) (1,1); trapezoids give 0.75.
    auc = AUC()
    auc.update(t([0.0, 0.0, 1.0, 1.0]), t([0.1, 0.4, 0.35, 0.8]))
    assert math.isclose(value(auc), 0.75, rel_tol=1e-6)


def test_auc_of_constant_predictions_is_one_half():
    auc = AUC()
    auc.update(t([0.0, 1.0, 0.0, 1.0]), t([0.5, 0.5, 0.5, 0.5]))
    assert math.isclose(value(auc), 0.5, rel_tol=1e-6)


def test_auc_accumulates_over_batches_and_weights():
    auc = AUC()
    auc.update(t([0.0, 0.0]), t([0.1, 0.4]))
    auc.update(t([1.0, 1.0]), t([0.35, 0.8]))
    assert math.isclose(value(auc), 0.75, rel_tol=1e-6)
    weighted = AUC()
    # Weight 0 removes the mis-ranked negative: a perfect ranking remains.
    weighted.update(t([0.0, 0.0, 1.0, 1.0]), t([0.1, 0.4, 0.35, 0.8]), t([1.0, 0.0, 1.0, 1.0]))
    assert math.isclose(value(weighted), 1.0, rel_tol=1e-6)


def test_auc_without_data_is_zero():
    assert value(AUC()) == 0.0


# ---------------------------------------------------------------- reset and state


@pytest.mark.parametrize(
    "factory", [CategoricalAccuracy, MeanSquaredError, Precision, Recall, AUC, Accuracy]
)
def test_reset_forgets_everything(factory):
    metric = factory()
    metric.update(t([[1.0, 0.0], [0.0, 1.0]]), t([[0.9, 0.1], [0.2, 0.8]]))
    assert value(metric) != 0.0
    metric.reset()
    assert value(metric) == 0.0
    metric.reset_state()
    assert value(metric) == 0.0


@pytest.mark.parametrize(
    "factory", [CategoricalAccuracy, MeanSquaredError, Precision, Recall, AUC, Accuracy]
)
def test_state_dict_round_trip_resumes_the_same_running_value(factory):
    y_true = t([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    y_pred = t([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    more_true, more_pred = t([[1.0, 0.0]]), t([[0.4, 0.6]])

    original = factory()
    original.update(y_true, y_pred)
    state = original.state_dict()
    restored = factory()
    restored.load_state_dict(state)
    assert math.isclose(value(restored), value(original), rel_tol=1e-6)

    original.update(more_true, more_pred)
    restored.update(more_true, more_pred)
    assert math.isclose(value(restored), value(original), rel_tol=1e-6)


def test_state_dict_is_a_snapshot():
    mse = MeanSquaredError()
    mse.update(t([[0.0]]), t([[1.0]]))
    state = mse.state_dict()
    mse.update(t([[0.0]]), t([[3.0]]))
    restored = MeanSquaredError()
    restored.load_state_dict(state)
    assert value(restored) == 1.0


# ---------------------------------------------------------------- get() and naming


@pytest.mark.parametrize(
    "name",
    [
        "acc",
        "accuracy",
        "Accuracy",
        "mse",
        "mae",
        "mean_squared_error",
        "binary_accuracy",
        "auc",
        "precision",
        "recall",
        "AUC",
    ],
)
def test_string_identifiers_keep_their_spelling(name):
    assert metrics.get(name).name == name


def test_acc_and_accuracy_are_the_same_metric():
    for name in ("acc", "accuracy"):
        metric = metrics.get(name)
        assert isinstance(metric, Accuracy)


def test_functions_are_named_by_their___name__():
    def my_metric(y_true, y_pred):
        return (y_pred - y_true).abs().mean(dim=-1)

    metric = metrics.get(my_metric)
    assert isinstance(metric, MeanMetricWrapper)
    assert metric.name == "my_metric"
    assert metric.direction is None
    metric.update(t([[0.0, 0.0]]), t([[1.0, 3.0]]))
    assert value(metric) == 2.0
    assert metrics.get(metrics.mean_absolute_error).name == "mean_absolute_error"


def test_metric_objects_and_classes_are_accepted():
    metric = Precision(name="p")
    assert metrics.get(metric) is metric
    assert isinstance(metrics.get(Recall), Recall)
    assert metrics.get(Recall).name == "recall"


def test_default_class_names():
    assert CategoricalAccuracy().name == "categorical_accuracy"
    assert SparseCategoricalAccuracy().name == "sparse_categorical_accuracy"
    assert MeanSquaredError().name == "mean_squared_error"
    assert AUC().name == "auc"
    assert Mean().name == "mean"


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="accuracy") as info:
        metrics.get("accuracyy")
    message = str(info.value)
    assert "accuracyy" in message
    for known in ("acc", "mse", "mae", "auc", "precision", "recall"):
        assert known in message


@pytest.mark.parametrize("bad", [42, 1.5, None])
def test_bad_type_is_a_type_error(bad):
    with pytest.raises(TypeError, match="metrics"):
        metrics.get(bad)


# ---------------------------------------------------------------- directions


@pytest.mark.parametrize(
    ("identifier", "direction"),
    [
        ("accuracy", "up"),
        ("acc", "up"),
        ("binary_accuracy", "up"),
        ("categorical_accuracy", "up"),
        ("sparse_categorical_accuracy", "up"),
        ("auc", "up"),
        ("precision", "up"),
        ("recall", "up"),
        ("mse", "down"),
        ("mean_squared_error", "down"),
        ("mae", "down"),
        ("mean_absolute_error", "down"),
    ],
)
def test_directions_by_name(identifier, direction):
    assert metrics.get(identifier).direction == direction


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        (BinaryAccuracy(), "up"),
        (CategoricalAccuracy(), "up"),
        (SparseCategoricalAccuracy(), "up"),
        (Accuracy(), "up"),
        (AUC(), "up"),
        (MeanSquaredError(), "down"),
        (MeanAbsoluteError(), "down"),
        (Mean(), None),
    ],
)
def test_directions_of_classes(metric, direction):
    assert metric.direction == direction


def test_model_metric_direction_handles_val_prefix(compiled_model):
    model = compiled_model(metrics=["acc", "mse"])
    assert model.metric_direction("acc") == "up"
    assert model.metric_direction("val_acc") == "up"
    assert model.metric_direction("val_mse") == "down"
    assert model.metric_direction("loss") == "down"
    assert model.metric_direction("val_loss") == "down"
    assert model.metric_direction("accuracy") is None


@pytest.mark.parametrize("compiled", ["acc", "accuracy"])
@pytest.mark.parametrize("referenced", ["acc", "accuracy"])
def test_accuracy_alias_table_gives_the_same_log_names_everywhere(
    compiled, referenced, compiled_model, tiny_data, tmp_path
):
    """One table (metrics.ACCURACY_ALIASES): the compiled spelling is the logs key, and a
    monitor or a filepath template may name either spelling, with or without `val_`."""
    import warnings

    from epochal.callbacks import EarlyStopping, ModelCheckpoint
    from epochal.metrics import ACCURACY_ALIASES, accuracy_alias

    assert set(ACCURACY_ALIASES) == {"acc", "accuracy"}
    assert metrics.get(compiled).name == compiled
    x, y = tiny_data
    stopper = EarlyStopping(monitor=f"val_{referenced}", patience=100)
    template = tmp_path / f"m-{{epoch}}-{{val_{referenced}:.3f}}.weights.h5"
    saver = ModelCheckpoint(str(template), save_weights_only=True)
    model = compiled_model(metrics=[compiled])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the "Keras 2 spelling" note when they differ
        history = model.fit(
            x,
            y,
            epochs=2,
            batch_size=20,
            validation_split=0.25,
            verbose=0,
            callbacks=[stopper, saver],
        )
    assert set(history.history) == {"loss", compiled, "val_loss", f"val_{compiled}"}
    last = history.history[f"val_{compiled}"][-1]
    assert stopper.direction == "max"  # accuracy, whichever spelling
    assert stopper.best == max(history.history[f"val_{compiled}"])
    assert (tmp_path / f"m-2-{last:.3f}.weights.h5").is_file()
    assert {f"val_{compiled}", accuracy_alias(f"val_{compiled}")} == {"val_acc", "val_accuracy"}
