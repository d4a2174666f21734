"""Several outputs, ``loss_weights``, per-output and weighted metrics, against real Keras 3.

The numbers come from ``scripts/record_keras_outputs.py`` (tests/fixtures/keras/outputs.json):
the same tiny two-output network, fixed weights and data, fitted by Keras; here it is an
``nn.Module`` returning a dict (named outputs) or a tuple (unnamed outputs).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import epochal
from epochal.engine.compile_loss import CompiledLoss, OutputStructure
from epochal.engine.metrics_tracker import CompiledMetrics

FIXTURE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "outputs.json").read_text(
        encoding="utf-8"
    )
)
DATA = {k: np.asarray(v) for k, v in FIXTURE["data"].items()}
WEIGHTS = FIXTURE["weights"]
TOLERANCE = 1e-5


class TwoHeads(nn.Module):
    """hidden Dense(5, relu) -> score Dense(1) and priority Dense(3, softmax)."""

    def __init__(self, outputs: str = "dict") -> None:
        super().__init__()
        self.outputs = outputs
        self.hidden = nn.Linear(4, 5)
        self.score = nn.Linear(5, 1)
        self.priority = nn.Linear(5, 3)
        with torch.no_grad():
            for name in ("hidden", "score", "priority"):
                kernel, bias = WEIGHTS[name]
                layer = getattr(self, name)
                layer.weight.copy_(torch.tensor(kernel).T)
                layer.bias.copy_(torch.tensor(bias))

    def forward(self, x):
        h = torch.relu(self.hidden(x))
        score, priority = self.score(h), torch.softmax(self.priority(h), dim=-1)
        if self.outputs == "score":
            return score
        if self.outputs == "priority":
            return priority
        if self.outputs == "tuple":
            return (score, priority)
        return {"score": score, "priority": priority}


class Named(epochal.Model):
    """Declares its output order, as a functional model ``Model(inputs, [score, priority])``
    does (Keras reads ``output_names`` at compile)."""

    output_names = ("score", "priority")


def _targets(form: str, prefix: str = ""):
    score, priority = DATA[prefix + "score"].astype(np.float32), DATA[prefix + "priority"]
    if form == "dict":
        return {"score": score, "priority": priority}
    if form == "score":
        return score
    if form == "priority":
        return priority
    if form == "list_onehot":
        return [score, np.eye(3, dtype=np.float32)[priority]]
    return [score, priority]


@functools.cache
def _fit(name: str):
    case = FIXTURE["cases"][name]
    kind = {"both": "dict", "tuple": "tuple"}.get(case["model"], case["model"])
    model = (Named if kind == "dict" else epochal.Model)(TwoHeads(kind), device="cpu")
    model.compile(
        optimizer=epochal.optimizers.SGD(learning_rate=FIXTURE["learning_rate"]),
        **case["compile"],
    )
    x, val_x = DATA["x"].astype(np.float32), DATA["val_x"].astype(np.float32)
    y, val_y = _targets(case["y"]), _targets(case["y"], "val_")
    kwargs = {}
    validation = (val_x, val_y)
    if case["sample_weight"] == "one":
        kwargs["sample_weight"] = DATA["sample_weight"].astype(np.float32)
        validation = (val_x, val_y, DATA["val_sample_weight"].astype(np.float32))
    elif case["sample_weight"] == "per_output":
        kwargs["sample_weight"] = [
            DATA["score_weight"].astype(np.float32),
            DATA["sample_weight"].astype(np.float32),
        ]
    if case["class_weight"]:
        kwargs["class_weight"] = {int(k): v for k, v in case["class_weight"].items()}
    history = model.fit(
        x,
        y,
        batch_size=FIXTURE["batch_size"],
        epochs=FIXTURE["epochs"],
        shuffle=False,
        verbose=0,
        validation_data=validation,
        **kwargs,
    )
    evaluate_kwargs = {"sample_weight": validation[2]} if len(validation) == 3 else {}
    as_list = model.evaluate(
        val_x, val_y, batch_size=FIXTURE["batch_size"], verbose=0, **evaluate_kwargs
    )
    as_dict = model.evaluate(
        val_x,
        val_y,
        batch_size=FIXTURE["batch_size"],
        verbose=0,
        return_dict=True,
        **evaluate_kwargs,
    )
    return model, case, history, as_list, as_dict


def _close(actual, expected) -> bool:
    return math.isclose(actual, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


@pytest.mark.parametrize("name", sorted(FIXTURE["cases"]))
def test_fit_logs_match_keras(name):
    _, case, history, _, _ = _fit(name)
    expected = case["history"]
    assert sorted(history.history) == sorted(expected)
    for key, values in expected.items():
        actual = history.history[key]
        assert all(_close(a, e) for a, e in zip(actual, values, strict=True)), (key, actual, values)


@pytest.mark.parametrize("name", sorted(FIXTURE["cases"]))
def test_evaluate_matches_keras_as_list_and_dict(name):
    _, case, _, as_list, as_dict = _fit(name)
    assert sorted(as_dict) == sorted(case["evaluate_dict"])
    for key, value in case["evaluate_dict"].items():
        assert _close(as_dict[key], value), (key, as_dict[key], value)
    values = np.atleast_1d(as_list).tolist()
    assert len(values) == len(case["evaluate"])
    assert all(_close(a, e) for a, e in zip(values, case["evaluate"], strict=True)), (
        values,
        case["evaluate"],
    )


@pytest.mark.parametrize("name", sorted(FIXTURE["cases"]))
def test_trained_weights_match_keras(name):
    model, case, *_ = _fit(name)
    for layer_name, (kernel, bias) in case["final_weights"].items():
        layer = getattr(model.module, layer_name)
        np.testing.assert_allclose(layer.weight.detach().numpy().T, kernel, atol=TOLERANCE)
        np.testing.assert_allclose(layer.bias.detach().numpy(), bias, atol=TOLERANCE)


def test_plain_metrics_ignore_sample_weight_and_weighted_ones_use_it():
    """The silent divergence of old: ``metrics`` were weighted like the loss."""
    model = epochal.Model(TwoHeads("score"), device="cpu")
    model.compile("sgd", loss="mae", metrics=["mae"], weighted_metrics=["mae"])
    x, y = DATA["x"].astype(np.float32), DATA["score"].astype(np.float32)
    weight = np.zeros(len(x), dtype=np.float32)
    weight[0] = 1.0
    logs = model.evaluate(x, y, sample_weight=weight, verbose=0, return_dict=True)
    errors = np.abs(model.predict(x, verbose=0) - y)[:, 0]
    assert logs["mae"] == pytest.approx(errors.mean(), rel=1e-5)
    assert logs["weighted_mae"] == pytest.approx(errors[0], rel=1e-5)
    assert logs["loss"] == pytest.approx(errors[0] / len(x), rel=1e-5)  # sum_over_batch_size


# ---------------------------------------------------------------- refused loudly


def _compiled(outputs: str = "dict", **kwargs):
    model = (Named if outputs == "dict" else epochal.Model)(TwoHeads(outputs), device="cpu")
    model.compile("sgd", **kwargs)
    return model


def _fit_once(model, y, **kwargs):
    return model.fit(DATA["x"].astype(np.float32), y, epochs=1, verbose=0, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": ["mse"]}, "`loss` has 1 entries, but the model has 2 outputs"),
        ({"loss": {"nope": "mse", "score": "mse"}}, "unknown outputs"),
        ({"loss": "mse", "loss_weights": 0.5}, "one number, but the model has 2 outputs"),
        ({"loss": "mse", "loss_weights": [1.0]}, "`loss_weights` has 1 entries"),
        ({"loss": "mse", "loss_weights": {"nope": 1.0}}, "unknown outputs"),
        ({"loss": "mse", "metrics": ["mae"]}, "`metrics` is a list of 1 entries"),
        ({"loss": "mse", "metrics": {"nope": ["mae"]}}, "unknown outputs"),
        ({"loss": "mse", "weighted_metrics": ["mae"]}, "`weighted_metrics` is a list of 1"),
    ],
)
def test_settings_that_do_not_fit_the_outputs_are_refused(kwargs, message):
    model = _compiled(**kwargs)
    with pytest.raises(ValueError, match=message):
        _fit_once(model, _targets("list_onehot"))


def test_dict_settings_for_unnamed_outputs_are_refused():
    model = _compiled("tuple", loss={"score": "mse", "priority": "mse"})
    with pytest.raises(ValueError, match="outputs have no names"):
        _fit_once(model, _targets("list_onehot"))


def test_targets_that_do_not_fit_the_outputs_are_refused():
    model = _compiled(loss="mse")
    with pytest.raises(ValueError, match="but `y` is a single"):
        _fit_once(model, DATA["score"].astype(np.float32))
    with pytest.raises(ValueError, match="`y` has keys \\['nope'\\]"):
        _fit_once(model, {"nope": DATA["score"].astype(np.float32)})


def test_class_weight_with_several_outputs_is_refused_as_in_keras():
    model = _compiled(loss=["mse", "sparse_categorical_crossentropy"])
    with pytest.raises(ValueError, match="only supported for models with a single output"):
        _fit_once(model, _targets("list"), class_weight={0: 1.0, 1: 2.0})


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"loss": "mse", "loss_weights": "heavy"}, ValueError),
        ({"loss": "mse", "loss_weights": [1.0, "x"]}, TypeError),
        ({"loss": ["mse", "nope"]}, ValueError),
        ({"loss": "mse", "metrics": {"score": ["nope"]}}, ValueError),
        ({"loss": "mse", "metrics": "mae"}, TypeError),
        ({"loss": "mse", "weighted_metrics": "mae"}, TypeError),
        ({"loss_weights": [1.0, 2.0]}, ValueError),
    ],
)
def test_bad_settings_are_refused_at_compile(kwargs, error):
    with pytest.raises(error):
        _compiled(**kwargs)


def test_the_same_metric_object_twice_is_refused():
    metric = epochal.metrics.MeanAbsoluteError()
    model = _compiled(loss="mse", metrics=[[metric], [metric]])
    with pytest.raises(ValueError, match="given twice"):
        _fit_once(model, _targets("list_onehot"))


# ---------------------------------------------------------------- behaviour


def test_loss_none_for_an_output_and_partial_targets():
    """Keras: an output without a loss needs no target; one loss left logs no per-output key."""
    model = _compiled(loss={"priority": "sparse_categorical_crossentropy"})
    history = _fit_once(model, [DATA["priority"]])  # one target for the one output with a loss
    assert sorted(history.history) == ["loss"]


def test_unnamed_outputs_with_the_same_loss_keep_both_values():
    """Keras logs one ``mse_loss`` for both outputs (one value lost); epochal numbers it."""
    model = _compiled("tuple", loss="mse")
    logs = model.evaluate(
        DATA["x"].astype(np.float32), _targets("list_onehot"), verbose=0, return_dict=True
    )
    assert sorted(logs) == ["loss", "mse_loss", "mse_loss_1"]
    assert logs["loss"] == pytest.approx(logs["mse_loss"] + logs["mse_loss_1"], rel=1e-6)


def test_monitor_direction_of_per_output_keys():
    model = _compiled(loss=["mse", "sparse_categorical_crossentropy"], metrics=[None, ["accuracy"]])
    _fit_once(model, _targets("list"))
    assert model.metric_direction("val_score_loss") == "down"
    assert model.metric_direction("priority_accuracy") == "up"
    assert model.metrics_names == ["loss", "score_loss", "priority_loss", "priority_accuracy"]


def test_early_stopping_on_a_per_output_metric():
    model = _compiled(loss=["mse", "sparse_categorical_crossentropy"], metrics=[[], ["accuracy"]])
    stop = epochal.callbacks.EarlyStopping(monitor="val_priority_accuracy", patience=0)
    x = DATA["x"].astype(np.float32)
    history = model.fit(
        x,
        _targets("list"),
        epochs=5,
        verbose=0,
        validation_data=(x, _targets("list")),
        callbacks=[stop],
    )
    assert "val_priority_accuracy" in history.history


def test_metric_state_round_trips_before_the_outputs_are_known():
    """A resumed run loads per-output metric state before its first batch."""
    model = _compiled(loss=["mse", "sparse_categorical_crossentropy"], metrics=[["mae"], []])
    _fit_once(model, _targets("list"))
    state = model.compiled_metrics.state_dict()
    assert set(state) == {"loss", "score_loss", "priority_loss", "score_mae"}
    fresh = CompiledMetrics(
        [["mae"], []], None, loss=CompiledLoss(["mse", "sparse_categorical_crossentropy"])
    )
    fresh.load_state_dict(state)
    assert fresh.state_dict() == state  # kept until the first batch builds the metrics


def test_lists_map_onto_a_dict_module_in_sorted_key_order():
    """Without declared output names a dict's outputs are flattened sorted, as in Keras."""
    model = epochal.Model(TwoHeads("dict"), device="cpu")
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"], metrics=[[], ["mae"]])
    logs = model.evaluate(
        DATA["x"].astype(np.float32),
        [DATA["priority"], DATA["score"].astype(np.float32)],
        verbose=0,
        return_dict=True,
    )
    assert sorted(logs) == ["loss", "priority_loss", "score_loss", "score_mae"]


def test_output_structure_orders_dict_outputs_as_keras():
    outputs = {"b": torch.zeros(2, 1), "a": torch.zeros(2, 1)}
    assert OutputStructure(outputs).names == ["a", "b"]  # sorted, as Keras flattens
    assert OutputStructure(outputs, ["b", "a"]).names == ["b", "a"]  # declared order
    assert OutputStructure((torch.zeros(1), torch.zeros(1)), ["x", "y"]).names == ["x", "y"]
    with pytest.raises(TypeError, match="nested"):
        OutputStructure({"a": (torch.zeros(1), torch.zeros(1))})


def test_class_weight_with_the_one_target_in_a_list():
    """Keras takes ``y=[labels]`` for one output; class weights still apply."""
    case = FIXTURE["cases"]["single_output_class_weight"]
    model = epochal.Model(TwoHeads("priority"), device="cpu")
    model.compile(
        optimizer=epochal.optimizers.SGD(learning_rate=FIXTURE["learning_rate"]),
        **case["compile"],
    )
    history = model.fit(
        DATA["x"].astype(np.float32),
        [DATA["priority"]],
        batch_size=FIXTURE["batch_size"],
        epochs=FIXTURE["epochs"],
        shuffle=False,
        verbose=0,
        class_weight={int(k): v for k, v in case["class_weight"].items()},
    )
    for key in ("loss", "accuracy", "weighted_accuracy"):
        assert all(
            _close(a, e) for a, e in zip(history.history[key], case["history"][key], strict=True)
        )


def _functional_heads():
    inputs = epochal.Input(shape=(4,), name="features")
    hidden = epochal.layers.Dense(5, activation="relu", name="hidden")(inputs)
    score = epochal.layers.Dense(1, name="score")(hidden)
    priority = epochal.layers.Dense(3, activation="softmax", name="priority")(hidden)
    model = epochal.Model(inputs, [score, priority], device="cpu")
    with torch.no_grad():
        for name in ("hidden", "score", "priority"):
            kernel, bias = WEIGHTS[name]
            layer = model.get_layer(name)
            layer.kernel.copy_(torch.tensor(kernel))
            layer.bias.copy_(torch.tensor(bias))
    return model


@pytest.mark.parametrize(
    "name",
    ["loss_list_loss_weights", "loss_dict_metrics_dict", "sample_weight_metrics_vs_weighted"],
)
def test_a_functional_model_logs_as_keras(name):
    """The same cases on ``epochal.Model(inputs, [score, priority])``: output layer names."""
    case = FIXTURE["cases"][name]
    model = _functional_heads()
    model.compile(
        optimizer=epochal.optimizers.SGD(learning_rate=FIXTURE["learning_rate"]),
        **case["compile"],
    )
    kwargs = {}
    val_x = DATA["val_x"].astype(np.float32)
    validation = (val_x, _targets(case["y"], "val_"))
    if case["sample_weight"] == "one":
        kwargs["sample_weight"] = DATA["sample_weight"].astype(np.float32)
        validation = (*validation, DATA["val_sample_weight"].astype(np.float32))
    history = model.fit(
        DATA["x"].astype(np.float32),
        _targets(case["y"]),
        batch_size=FIXTURE["batch_size"],
        epochs=FIXTURE["epochs"],
        shuffle=False,
        verbose=0,
        validation_data=validation,
        **kwargs,
    )
    assert sorted(history.history) == sorted(case["history"])
    for key, values in case["history"].items():
        actual = history.history[key]
        assert all(_close(a, e) for a, e in zip(actual, values, strict=True)), (key, actual, values)
