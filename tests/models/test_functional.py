"""The functional API: Input, layers on symbolic tensors, Model(inputs, outputs), several
inputs and outputs, shared layers, residual connections, nested models, introspection,
summary, config and save/load round trips, and an exact resume with BackupAndRestore.

Keras' own description of the same models (layer order, shapes, parameter counts, output
names, config keys, evaluate losses with loss_weights) is in
``tests/fixtures/keras/functional.json``, recorded by ``scripts/record_keras_functional.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import epochal
from epochal import layers
from epochal.callbacks import BackupAndRestore, Callback
from epochal.layers import Layer
from epochal.layers.symbolic import KerasTensor
from epochal.models import Functional

KERAS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "functional.json").read_text()
)


def summary_text(model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


# ---------------------------------------------------------------------- the models of the fixture
def weights_for(shape, seed):
    size = int(np.prod(shape))
    values = np.sin(np.arange(size, dtype=np.float64) * 0.37 + seed) * 0.3
    return values.reshape(shape).astype(np.float32)


def fixture_data(n: int = 6):
    rng = np.random.default_rng(0)
    return {
        "title": rng.integers(0, 50, (n, 5)).astype("int64"),
        "body": rng.integers(0, 50, (n, 7)).astype("int64"),
        "tags": rng.integers(0, 2, (n, 6)).astype("float32"),
        "priority": rng.random((n, 1)).astype("float32"),
        "department": np.eye(3, dtype="float32")[rng.integers(0, 3, n)],
    }


def guide_model(dict_outputs: bool = False) -> Functional:
    """keras.io's functional-API guide: ticket title, body and tags -> priority, department."""
    title = epochal.Input(shape=(5,), dtype="int64", name="title")
    body = epochal.Input(shape=(7,), dtype="int64", name="body")
    tags = epochal.Input(shape=(6,), name="tags")
    title_features = layers.Flatten(name="title_flat")(
        layers.Embedding(50, 4, name="title_emb")(title)
    )
    body_features = layers.Flatten(name="body_flat")(layers.Embedding(50, 4, name="body_emb")(body))
    x = layers.Concatenate(name="merged")([title_features, body_features, tags])
    priority = layers.Dense(1, name="priority")(x)
    department = layers.Dense(3, name="department")(x)
    outputs = (
        {"priority": priority, "department": department} if dict_outputs else [priority, department]
    )
    return epochal.Model(
        inputs=[title, body, tags], outputs=outputs, name="ticket_classifier", device="cpu"
    )


def residual_model() -> Functional:
    inputs = epochal.Input(shape=(6,), name="features")
    x = layers.Dense(8, activation="relu", name="stem")(inputs)
    y = layers.Dense(8, activation="relu", name="block")(x)
    x = layers.Add(name="residual")([x, y])
    x = layers.BatchNormalization(name="norm")(x)
    outputs = layers.Dense(2, name="head")(x)
    return epochal.Model(inputs, outputs, name="residual", device="cpu")


def shared_model() -> Functional:
    a = epochal.Input(shape=(4,), name="left")
    b = epochal.Input(shape=(4,), name="right")
    shared = layers.Dense(3, name="shared")
    merged = layers.Concatenate(name="both")([shared(a), shared(b)])
    return epochal.Model(
        [a, b], layers.Dense(1, name="score")(merged), name="siamese", device="cpu"
    )


def set_fixed_weights(model) -> None:
    for index, layer in enumerate(model.layers):
        if type(layer).__name__ in ("Dense", "Embedding"):
            layer.set_weights([weights_for(tuple(w.shape), index) for w in layer.weights])


# ---------------------------------------------------------------------- Input and symbolic calls
def test_input_is_a_symbolic_tensor_with_shape_dtype_and_name():
    x = epochal.Input(shape=(4,), name="features")
    assert isinstance(x, KerasTensor)
    assert (x.shape, x.dtype, x.name, x.ndim) == ((None, 4), "float32", "features", 2)
    assert epochal.Input(shape=(3,), batch_size=8).shape == (8, 3)
    assert epochal.Input(batch_shape=(None, 2, 5), dtype="int32").dtype == "int32"
    assert epochal.layers.Input is epochal.Input
    assert "shape=(None, 4)" in repr(x)


def test_input_refuses_what_it_cannot_honour():
    with pytest.raises(NotImplementedError, match="sparse"):
        epochal.Input(shape=(3,), sparse=True)
    with pytest.raises(NotImplementedError, match="optional"):
        epochal.Input(shape=(3,), optional=True)
    with pytest.raises(ValueError, match="batch_size"):
        epochal.Input(shape=(3,), batch_size=0)
    with pytest.raises(ValueError, match="not both"):
        epochal.InputLayer(shape=(3,), batch_shape=(None, 3))
    with pytest.raises(ValueError, match="shape"):
        epochal.InputLayer()


def test_calling_a_layer_on_symbolic_inputs_builds_it_and_infers_shapes():
    x = epochal.Input(shape=(None,), dtype="int64")  # variable-length token ids
    dense = layers.Dense(5)
    embedded = layers.Embedding(20, 3)(x)
    assert embedded.shape == (None, None, 3)
    assert embedded.dtype == "float32"
    out = dense(epochal.Input(shape=(7,)))
    assert out.shape == (None, 5)
    assert dense.built and tuple(dense.kernel.shape) == (7, 5)


def test_torch_operations_on_symbolic_tensors_are_refused_with_a_hint():
    x = epochal.Input(shape=(3,))
    with pytest.raises(TypeError, match=r"symbolic KerasTensor.*layer"):
        torch.relu(x)
    with pytest.raises(TypeError, match="no value"):
        bool(x)


# ---------------------------------------------------------------------- Model(inputs, outputs)
def test_model_of_inputs_and_outputs_is_a_functional_model_with_unique_names():
    x = epochal.Input(shape=(3,))
    y = layers.Dense(2)(x)
    first = epochal.Model(x, y)
    second = epochal.Model(inputs=x, outputs=y)
    assert type(first) is Functional and isinstance(first, epochal.Model)
    assert re.fullmatch(r"functional(_\d+)?", first.name)
    assert second.name != first.name and second.name.startswith("functional_")
    assert epochal.Sequential().name != epochal.Sequential().name
    assert epochal.Model(x, y, name="mine").name == "mine"


def test_forward_matches_the_layers_applied_by_hand():
    torch.manual_seed(0)
    x = epochal.Input(shape=(4,))
    hidden, head = layers.Dense(8, activation="relu"), layers.Dense(2)
    model = epochal.Model(x, head(hidden(x)), device="cpu")
    data = torch.randn(5, 4)
    assert torch.equal(model(data), head(hidden(data)))
    np.testing.assert_array_equal(
        model.predict(data.numpy(), verbose=0), head(hidden(data)).detach().numpy()
    )


def test_bad_graphs_are_refused():
    a, b = epochal.Input(shape=(3,), name="a"), epochal.Input(shape=(3,), name="b")
    out = layers.Add()([a, b])
    with pytest.raises(ValueError, match=r"Graph disconnected.*'b'"):
        epochal.Model(a, out)
    hidden = layers.Dense(2)(a)
    with pytest.raises(ValueError, match=r"must come from epochal\.Input"):
        epochal.Model(hidden, layers.Dense(1)(hidden))
    with pytest.raises(TypeError, match="symbolic tensors"):
        epochal.Model(a, torch.zeros(1))
    with pytest.raises(ValueError, match="unique"):
        epochal.Model(a, layers.Dense(1, name="same")(layers.Dense(2, name="same")(a)))


def test_inputs_are_bound_by_position_or_by_name():
    model = shared_model()
    left, right = torch.randn(3, 4), torch.randn(3, 4)
    expected = model([left, right])
    assert torch.equal(model({"left": left, "right": right}), expected)
    assert torch.equal(model.module(left, right), expected)
    with pytest.raises(ValueError, match=r"lacks \['right'\]"):
        model({"left": left})
    with pytest.raises(ValueError, match="unknown keys"):
        model({"left": left, "right": right, "extra": left})
    with pytest.raises(ValueError, match="expects 2 input"):
        model([left])


# ---------------------------------------------------------------------- the keras.io guide model
def test_guide_model_layers_shapes_and_parameters_match_keras():
    model = guide_model()
    expected = KERAS["guide"]
    assert [layer.name for layer in model.layers] == expected["layers"]
    assert model.count_params() == expected["total_params"]
    assert model.output_names == expected["output_names"]
    assert [t.name for t in model.inputs] == ["title", "body", "tags"]
    assert [t.shape for t in model.outputs] == [(None, 1), (None, 3)]
    text = summary_text(model)
    assert 'Model: "ticket_classifier"' in text
    for row in expected["rows"]:
        line = next(li for li in text.splitlines() if li.startswith(f"{row['name']} ("))
        assert f"({row['class_name']})" in line
        assert str(tuple(row["output_shape"])) in line
        assert f" {row['params']:,} " in f"{line} "
        links = ", ".join(f"{a}[{b}][{c}]" for a, b, c in row["connected_to"]) or "-"
        assert line.rstrip().endswith(links)
    assert f"Total params: {expected['total_params']:,}" in text


@pytest.mark.parametrize("weighted", [False, True])
def test_guide_model_evaluates_like_keras_with_a_loss_per_output(weighted):
    model = guide_model()
    set_fixed_weights(model)
    d = fixture_data()
    model.compile(
        optimizer="sgd",
        loss=[
            epochal.losses.BinaryCrossentropy(from_logits=True),
            epochal.losses.CategoricalCrossentropy(from_logits=True),
        ],
        loss_weights=[1.0, 0.2] if weighted else None,
    )
    x = [d["title"], d["body"], d["tags"]]
    logs = model.evaluate(x, [d["priority"], d["department"]], verbose=0, return_dict=True)
    expected = KERAS["guide"]["evaluate"]["weighted" if weighted else "plain"]
    assert logs["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    # Keras also logs each output's unweighted loss under its output name.
    assert sorted(logs) == ["department_loss", "loss", "priority_loss"]
    weights = [1.0, 0.2] if weighted else [1.0, 1.0]
    total = weights[0] * logs["priority_loss"] + weights[1] * logs["department_loss"]
    assert logs["loss"] == pytest.approx(total, rel=1e-5)
    predicted = model.predict(x, verbose=0)
    for got, want in zip(predicted, KERAS["guide"]["predict"], strict=True):
        np.testing.assert_allclose(got, np.array(want), rtol=1e-5, atol=1e-6)


def test_guide_model_trains_with_dict_inputs_targets_and_losses():
    torch.manual_seed(0)
    model = guide_model(dict_outputs=True)
    d = fixture_data(32)
    model.compile(
        optimizer="adam",
        loss={
            "priority": epochal.losses.BinaryCrossentropy(from_logits=True),
            "department": epochal.losses.CategoricalCrossentropy(from_logits=True),
        },
        loss_weights={"priority": 1.0, "department": 0.2},
    )
    x = {k: d[k] for k in ("title", "body", "tags")}
    y = {k: d[k] for k in ("priority", "department")}
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    predicted = model.predict(x, verbose=0)
    assert {k: v.shape for k, v in predicted.items()} == {
        "priority": (32, 1),
        "department": (32, 3),
    }
    # targets as a list in output order give the same numbers
    by_list = model.evaluate(x, [y["priority"], y["department"]], verbose=0)
    assert by_list == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_a_single_loss_applies_to_every_output_and_flat_metrics_are_refused():
    model = guide_model()
    d = fixture_data()
    x, y = [d["title"], d["body"], d["tags"]], [d["priority"], d["department"]]
    model.compile(optimizer="sgd", loss="mse")
    both = model.evaluate(x, y, verbose=0)
    model.compile(optimizer="sgd", loss=["mse", None])
    only_first = model.evaluate(x, y, verbose=0)
    model.compile(optimizer="sgd", loss=[None, "mse"])
    only_second = model.evaluate(x, y, verbose=0)
    # [loss, per-output losses] as Keras returns them for several losses; one loss: a scalar
    assert both[0] == pytest.approx(only_first + only_second, rel=1e-6)
    assert both[1:] == pytest.approx([only_first, only_second], rel=1e-6)
    with pytest.raises(ValueError, match="metrics"):
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    with pytest.raises(ValueError, match="2 outputs"):
        model.compile(optimizer="sgd", loss=["mse"])
    with pytest.raises(ValueError, match="unknown outputs"):
        model.compile(optimizer="sgd", loss={"nope": "mse"})
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="2 outputs"):
        model.evaluate(x, d["priority"], verbose=0)


# ---------------------------------------------------------------------- shared, residual, nested
def test_a_shared_layer_is_one_layer_with_one_set_of_weights():
    model = shared_model()
    expected = KERAS["shared"]
    assert [layer.name for layer in model.layers] == expected["layers"]
    assert model.count_params() == expected["total_params"]
    assert list(model.module.state_dict()) == [
        "shared.kernel",
        "shared.bias",
        "score.kernel",
        "score.bias",
    ]
    text = summary_text(model)
    assert re.search(r"^both \(Concatenate\).*shared\[0\]\[0\], shared\[1\]\[0\]$", text, re.M)
    left, right = torch.randn(2, 4), torch.randn(2, 4)
    shared, score = model.get_layer("shared"), model.get_layer("score")
    by_hand = score(torch.cat([shared(left), shared(right)], dim=-1))
    assert torch.equal(model([left, right]), by_hand)


def test_residual_connection_adds_the_skip_path():
    model = residual_model()
    expected = KERAS["residual"]
    assert [layer.name for layer in model.layers] == expected["layers"]
    assert model.count_params() == expected["total_params"]
    assert (
        sum(p.numel() for p in model.parameters() if p.requires_grad)
        == expected["trainable_params"]
    )
    model.module.eval()
    x = torch.randn(4, 6)
    stem, block = model.get_layer("stem"), model.get_layer("block")
    norm, head = model.get_layer("norm"), model.get_layer("head")
    h = stem(x)
    assert torch.equal(model(x), head(norm(h + block(h))))
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(np.random.randn(32, 6), np.random.randn(32, 2), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_a_sequential_model_is_a_layer_of_a_functional_model():
    torch.manual_seed(0)
    encoder = epochal.Sequential(
        [layers.Dense(6, activation="relu"), layers.Dense(3)], name="encoder"
    )
    a, b = epochal.Input(shape=(4,), name="a"), epochal.Input(shape=(4,), name="b")
    merged = layers.Concatenate()([encoder(a), encoder(b)])  # one encoder, shared
    model = epochal.Model([a, b], layers.Dense(1, name="out")(merged), device="cpu")
    assert model.get_layer("encoder") is encoder
    assert model.count_params() == (4 * 6 + 6) + (6 * 3 + 3) + (6 + 1)
    x1, x2 = torch.randn(2, 4), torch.randn(2, 4)
    by_hand = model.get_layer("out")(torch.cat([encoder(x1), encoder(x2)], dim=-1))
    assert torch.equal(model([x1, x2]), by_hand)
    assert "encoder (Sequential)" in summary_text(model)


def test_a_functional_model_nests_in_another():
    inner_in = epochal.Input(shape=(3,))
    inner = epochal.Model(inner_in, layers.Dense(2, name="inner_dense")(inner_in), name="inner")
    outer_in = epochal.Input(shape=(3,))
    outer = epochal.Model(outer_in, layers.Dense(1)(inner(outer_in)), device="cpu")
    x = torch.randn(5, 3)
    assert torch.equal(outer(x), outer.layers[-1](inner(x)))
    outer.compile(optimizer="sgd", loss="mse")
    outer.fit(x.numpy(), np.zeros((5, 1)), verbose=0)


def test_call_keyword_arguments_are_recorded_and_replayed():
    x = epochal.Input(shape=(50,))
    model = epochal.Model(x, layers.Dropout(0.5)(x, training=True), device="cpu")
    out = model.predict(np.ones((4, 50), dtype="float32"), verbose=0)
    assert (out == 0).any()  # dropout is on even in inference, as the call asked
    assert model.get_config()["layers"][1]["inbound_nodes"][0]["kwargs"] == {"training": True}


def test_add_loss_of_a_layer_inside_a_functional_model_reaches_the_training_loss():
    class Penalty(Layer):
        def call(self, inputs):
            self.add_loss(inputs.abs().mean())
            return inputs

    x = epochal.Input(shape=(2,))
    model = epochal.Model(x, Penalty()(layers.Dense(1, kernel_initializer="ones")(x)), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    data = np.ones((4, 2), dtype="float32")
    loss = model.evaluate(data, np.zeros((4, 1)), verbose=0)
    assert loss == pytest.approx(4.0 + 2.0)  # mse of 2 plus the penalty |2|


# ---------------------------------------------------------------------- introspection
def test_get_layer_by_name_and_index():
    model = residual_model()
    assert model.get_layer("stem").name == "stem"
    assert model.get_layer(index=0).name == "features"  # Keras 3 lists the InputLayer
    assert model.get_layer(index=-1).name == "head"
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="index 9"):
        model.get_layer(index=9)
    with pytest.raises(ValueError, match="exactly one"):
        model.get_layer()
    sequential = epochal.Sequential([epochal.Input(shape=(3,)), layers.Dense(2, name="d")])
    assert [layer.name for layer in sequential.layers] == ["d"]  # no InputLayer, as Keras
    assert sequential.get_layer(index=0).name == "d"


def test_build_creates_the_weights_of_a_sequential_model():
    model = epochal.Sequential([layers.Dense(4), layers.Dense(1)], device="cpu")
    assert not model.built
    model.build((None, 7))
    assert model.built and model.count_params() == (7 * 4 + 4) + (4 + 1)
    with pytest.raises(ValueError, match="input_shape"):
        model.build("7")


# ---------------------------------------------------------------------- config and saving
def test_config_follows_the_keras_schema_and_round_trips():
    model = guide_model()
    config = model.get_config()
    expected = KERAS["guide"]
    assert sorted(config) == expected["config_keys"]
    assert {"class_name", "config", "name", "inbound_nodes"} <= set(expected["layer_entry_keys"])
    assert {"class_name", "config", "name", "inbound_nodes"} <= set(config["layers"][1])
    assert config["input_layers"] == expected["input_layers"]
    assert config["output_layers"] == expected["output_layers"]
    assert json.loads(json.dumps(config)) == config  # plain JSON
    clone = Functional.from_config(config)
    assert clone.get_config() == config
    clone.set_weights(model.get_weights())
    d = fixture_data()
    x = [d["title"], d["body"], d["tags"]]
    for got, want in zip(clone.predict(x, verbose=0), model.predict(x, verbose=0), strict=True):
        np.testing.assert_array_equal(got, want)
    shared = shared_model()
    assert Functional.from_config(shared.get_config()).get_config() == shared.get_config()


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_save_and_load_give_bit_identical_predictions(tmp_path, suffix):
    class Scale(Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    torch.manual_seed(0)
    model = residual_model()
    model.compile(optimizer="adam", loss="mse")
    x, y = np.random.randn(16, 6).astype("float32"), np.random.randn(16, 2).astype("float32")
    model.fit(x, y, epochs=2, verbose=0)  # BatchNormalization statistics move too
    path = tmp_path / f"model{suffix}"
    model.save(path)
    loaded = epochal.load_model(path)
    assert type(loaded) is Functional and loaded.name == "residual"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # training continues identically: optimizer state was restored
    model.fit(x, y, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))

    inputs = epochal.Input(shape=(3,), name="x")
    custom = epochal.Model(inputs, Scale(3.0, name="scale")(layers.Dense(2)(inputs)))
    custom.save(tmp_path / f"custom{suffix}")
    again = epochal.load_model(tmp_path / f"custom{suffix}", custom_objects={"Scale": Scale})
    data = np.random.randn(4, 3).astype("float32")
    np.testing.assert_array_equal(again.predict(data, verbose=0), custom.predict(data, verbose=0))


def test_multi_output_compile_settings_survive_save_and_load(tmp_path):
    model = guide_model(dict_outputs=True)
    model.compile(
        optimizer="sgd",
        loss={"priority": "mse", "department": "categorical_crossentropy"},
        loss_weights={"priority": 0.5, "department": 2.0},
    )
    d = fixture_data()
    x = {k: d[k] for k in ("title", "body", "tags")}
    y = {k: d[k] for k in ("priority", "department")}
    model.save(tmp_path / "multi.keras")
    loaded = epochal.load_model(tmp_path / "multi.keras")
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


# ---------------------------------------------------------------------- exact resume
class Interrupt(Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if self.model.train_state.epoch * 5 + batch == self.at:
            raise RuntimeError("interrupted")


def _resume_run(backup_dir, interrupt_at=None):
    torch.manual_seed(1)
    np.random.seed(1)
    a, b = epochal.Input(shape=(4,), name="a"), epochal.Input(shape=(2,), name="b")
    h = layers.Dropout(0.3)(layers.Dense(8, activation="relu")(a))
    out = layers.Dense(2, activation="softmax")(layers.Concatenate()([h, b]))
    model = epochal.Model([a, b], out, device="cpu")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(40, 4)).astype("float32"), rng.normal(size=(40, 2)).astype("float32")
    y = (xa[:, 0] > 0).astype("int64")
    callbacks = [Interrupt(interrupt_at)]
    if backup_dir is not None:
        callbacks.append(BackupAndRestore(backup_dir, save_freq=2))
    try:
        model.fit({"a": xa, "b": xb}, y, batch_size=8, epochs=3, verbose=0, callbacks=callbacks)
    except RuntimeError:
        return None
    return model


def test_backup_and_restore_resumes_a_functional_model_bit_identically(tmp_path):
    reference = _resume_run(None)
    for at in (3, 7, 11):
        assert _resume_run(tmp_path, interrupt_at=at) is None
    resumed = _resume_run(tmp_path)
    for got, want in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_nested_sequential_model_survives_config_save_and_load(tmp_path):
    encoder = epochal.Sequential(
        [layers.Dense(6, activation="relu"), layers.Dense(3)], name="encoder"
    )
    a, b = epochal.Input(shape=(4,), name="a"), epochal.Input(shape=(4,), name="b")
    merged = layers.Concatenate()([encoder(a), encoder(b)])
    model = epochal.Model([a, b], layers.Dense(1, name="out")(merged), device="cpu")
    x = [np.random.randn(3, 4).astype("float32"), np.random.randn(3, 4).astype("float32")]
    assert Functional.from_config(model.get_config()).get_config() == model.get_config()
    model.save(tmp_path / "nested.keras")
    loaded = epochal.load_model(tmp_path / "nested.keras")
    assert type(loaded.get_layer("encoder")) is epochal.Sequential
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
