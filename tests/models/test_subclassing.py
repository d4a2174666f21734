"""Keras' subclassing API: ``class M(epochal.Model)`` with layers made in ``__init__`` and run
in ``call()``, and custom layers with ``build`` / ``add_weight`` / ``add_loss`` / ``get_config``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import epochal
from epochal import layers


def _data(n: int = 16, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1))).astype("float32")
    return x, y


class TwoLayers(epochal.Model):
    def __init__(self, units: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(units, activation="relu")
        self.out = layers.Dense(1)
        self.seen_training: list = []

    def call(self, inputs, training=None):
        self.seen_training.append(training)
        return self.out(self.hidden(inputs))


def test_layers_assigned_in_init_are_the_model_weights_built_on_first_call():
    model = TwoLayers(device="cpu")
    assert not model.built
    assert model.trainable_weights == []
    out = model(torch.ones(2, 4))
    assert out.shape == (2, 1)
    assert model.built
    assert list(model.state_dict()) == ["hidden.kernel", "hidden.bias", "out.kernel", "out.bias"]
    assert [tuple(w.shape) for w in model.trainable_weights] == [(4, 8), (8,), (8, 1), (1,)]
    assert [layer.name for layer in model.layers] == [model.hidden.name, model.out.name]
    assert model.count_params() == 4 * 8 + 8 + 8 + 1


def test_fit_evaluate_predict_and_the_training_argument():
    torch.manual_seed(0)
    x, y = _data()
    model = TwoLayers(device="cpu")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert sorted(history.history) == ["loss", "mae"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.seen_training.clear()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert model.seen_training == [True, True]  # the steps' calls run in training mode
    model.seen_training.clear()
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert sorted(logs) == ["loss", "mae"] and model.seen_training == [False]
    model.seen_training.clear()
    assert model.predict(x, batch_size=16, verbose=0).shape == (16, 1)
    assert model.seen_training == [False]
    model.seen_training.clear()
    model(torch.ones(1, 4), training=True)
    model(torch.ones(1, 4), training=False)
    assert model.seen_training == [True, False]


def test_save_weights_and_load_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    x, y = _data()
    model = TwoLayers(device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "sub.weights.h5"
    model.save_weights(path)
    other = TwoLayers(device="cpu")
    other(torch.zeros(1, 4))  # built, as Keras needs before load_weights
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))


def test_whole_model_save_is_refused_with_a_reason(tmp_path):
    model = TwoLayers(device="cpu")
    model(torch.zeros(1, 4))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="TwoLayers"):
        model.save(tmp_path / "sub.keras")
    assert not (tmp_path / "sub.keras").exists()


def test_summary_lists_the_layers(capsys):
    model = TwoLayers(device="cpu")
    model(torch.zeros(1, 4))
    model.summary()
    text = capsys.readouterr().out
    assert model.hidden.name in text and model.out.name in text and "49" in text


def test_inputs_structures_reach_call_whole():
    class Pair(epochal.Model):
        def __init__(self):
            super().__init__(device="cpu")
            self.a, self.b = layers.Dense(1), layers.Dense(1)

        def call(self, inputs):
            first, second = inputs["first"], inputs["second"]
            return self.a(first) + self.b(second)

    torch.manual_seed(0)
    x1, y = _data()
    x2 = x1[:, :2].copy()
    model = Pair()
    model.compile(optimizer="sgd", loss="mse")
    model.fit({"first": x1, "second": x2}, y, batch_size=8, epochs=1, verbose=0)
    assert model.predict({"first": x1, "second": x2}, verbose=0).shape == (16, 1)


def test_lists_and_sub_models_are_tracked():
    class Stack(epochal.Model):
        def __init__(self):
            super().__init__(device="cpu")
            self.blocks = [layers.Dense(4, activation="relu") for _ in range(3)]
            self.head = epochal.Sequential([layers.Dense(1)], device="cpu")

        def call(self, inputs):
            for block in self.blocks:
                inputs = block(inputs)
            return self.head(inputs)

    model = Stack()
    model(torch.zeros(1, 4))
    assert len(model.trainable_weights) == 8
    assert next(iter(model.state_dict())) == "blocks.0.kernel"
    assert len(model.head.trainable_weights) == 2
    model.blocks = None  # unassigning removes them
    assert len(model.trainable_weights) == 2


def test_model_keyword_arguments():
    model = TwoLayers(device="cpu", name="mine", trainable=False)
    model(torch.zeros(1, 4))
    assert model.name == "mine"
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    with pytest.raises(TypeError, match="foo"):
        TwoLayers(device="cpu", foo=1)
    with pytest.raises(ValueError, match="float16"):
        TwoLayers(device="cpu", dtype="float16")


def test_a_model_without_call_says_so():
    class NoCall(epochal.Model):
        def __init__(self):
            super().__init__(device="cpu")
            self.dense = layers.Dense(1)

    with pytest.raises(NotImplementedError, match="call"):
        NoCall()(torch.zeros(1, 2))


def test_plain_module_models_are_unchanged():
    module = torch.nn.Linear(3, 1)
    model = epochal.Model(module, device="cpu")
    assert model.module is module
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3), "float32"), np.zeros((4, 1), "float32"), verbose=0)
    assert [p is q for p, q in zip(model.trainable_weights, module.parameters(), strict=True)] == [
        True,
        True,
    ]


# ---------------------------------------------------------------------- custom layers
class Scale(layers.Layer):
    """A custom layer: one weight per feature, made in build(); adds a penalty loss."""

    def __init__(self, penalty: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.penalty = penalty

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", trainable=True, name="scale"
        )
        self.offset = self.add_weight(shape=(), initializer="zeros", trainable=False, name="off")

    def call(self, inputs):
        if self.penalty:
            self.add_loss(self.penalty * torch.sum(self.w**2))
        return inputs * self.w + self.offset

    def get_config(self):
        return {**super().get_config(), "penalty": self.penalty}


class ScaledModel(epochal.Model):
    def __init__(self, penalty: float):
        super().__init__(device="cpu")
        self.scale = Scale(penalty)
        self.dense = layers.Dense(1, kernel_initializer="ones")

    def call(self, inputs):
        return self.dense(self.scale(inputs))


def test_custom_layer_weights_and_config():
    layer = Scale(0.5, name="scale_layer")
    layer(torch.ones(2, 3))
    assert [w.shape for w in layer.trainable_weights] == [(3,)]
    assert [w.shape for w in layer.non_trainable_weights] == [()]
    config = layer.get_config()
    assert config["penalty"] == 0.5 and config["name"] == "scale_layer"
    clone = Scale.from_config(config)
    assert clone.penalty == 0.5


def test_add_loss_inside_call_is_part_of_the_training_loss():
    x, y = _data(8, 3)
    model = ScaledModel(penalty=0.25)
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.0), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    with torch.no_grad():
        pred = model(torch.from_numpy(x))
        mse = torch.mean((pred - torch.from_numpy(y)) ** 2)
        expected = float(mse + 0.25 * 3)  # w starts at ones: sum(w**2) = 3
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-6)
    assert len(model.losses) == 1  # the last call's
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(expected, rel=1e-6)


def test_add_loss_gradient_reaches_the_weight():
    x, y = _data(8, 3)
    model = ScaledModel(penalty=10.0)
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.01), loss="mse")
    model.fit(x, y, batch_size=8, epochs=5, verbose=0)
    # the penalty dominates: the scale weights shrink towards zero
    assert float(model.scale.w.detach().abs().max()) < 0.5
