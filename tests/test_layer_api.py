"""Custom layers as in Keras 3: ``build``/``add_weight``/``call``/``get_config``/``add_loss``,
the ``trainable`` flag and weight lists, frozen BatchNormalization, and fine-tuning with a
frozen base (the frozen weights bit-identical after fit, whatever the optimizer)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import epochal
from epochal import layers as L
from epochal.layers import BatchNormalization, Dense, Layer, collect_losses
from epochal.optimizers import SGD, Adam, AdamW

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras"


class Linear(Layer):
    """y = x @ w + b, its weights made in build() from the input's last axis."""

    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.shapes_seen = []

    def build(self, input_shape):
        self.shapes_seen.append(input_shape)
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True
        )
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return inputs @ self.w + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


class ActivityRegularization(Layer):
    """Passes its input through and adds ``rate * mean(inputs)`` to the loss."""

    def __init__(self, rate=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * inputs.mean())
        return inputs


def _data(n=32, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ rng.normal(size=(d, 1))).astype(np.float32)
    return x, y


# ---------------------------------------------------------------- build / add_weight / call


def test_custom_linear_layer_builds_once_with_the_full_shape_and_trains_in_sequential():
    torch.manual_seed(0)
    layer = Linear(1)
    assert not layer.built
    model = epochal.Sequential([layer], device="cpu")
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    x, y = _data()
    first = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    assert layer.built and layer.shapes_seen[0][-1] == 4 and len(layer.shapes_seen) == 1
    assert isinstance(layer.shapes_seen[0], tuple) and len(layer.shapes_seen[0]) == 2
    assert history.history["loss"][-1] < 0.05 * first
    # One entry per weight, under the attribute's name, in creation order.
    assert list(layer.state_dict()) == ["w", "b"]
    assert [tuple(w.shape) for w in layer.weights] == [(4, 1), (1,)]
    assert layer.trainable_weights[0] is layer.w and layer.non_trainable_weights == []
    assert layer.count_params() == 5


def test_weights_made_in_init_keep_their_keras_name():
    class Scale(Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.k = self.add_weight(shape=(2,), initializer="ones", name="scale")

        def call(self, x):
            return x * self.k

    layer = Scale()
    assert list(layer.state_dict()) == ["k"]
    assert layer.k._keras_name == "scale"
    assert torch.equal(layer(torch.ones(3, 2)), torch.ones(3, 2))


@pytest.mark.parametrize(
    ("initializer", "check"),
    [
        ("zeros", lambda w: torch.all(w == 0)),
        ("ones", lambda w: torch.all(w == 1)),
        ("constant", lambda w: torch.all(w == 0)),
        ("glorot_uniform", lambda w: w.abs().max() <= (6 / (50 + 60)) ** 0.5),
        ("he_uniform", lambda w: w.abs().max() <= (6 / 50) ** 0.5),
        ("random_uniform", lambda w: w.abs().max() <= 0.05),
        ("random_normal", lambda w: abs(float(w.std()) - 0.05) < 0.01),
        ("glorot_normal", lambda w: abs(float(w.std()) - (2 / 110) ** 0.5) < 0.02),
        ("he_normal", lambda w: abs(float(w.std()) - (2 / 50) ** 0.5) < 0.03),
        ("lecun_normal", lambda w: abs(float(w.std()) - (1 / 50) ** 0.5) < 0.02),
        ("truncated_normal", lambda w: w.abs().max() <= 0.1),
        (L.Constant(0.5), lambda w: torch.all(w == 0.5)),
        (L.RandomUniform(0.0, 1.0), lambda w: w.min() >= 0 and w.max() <= 1),
        (L.RandomNormal(5.0, 0.1), lambda w: abs(float(w.mean()) - 5.0) < 0.05),
        (lambda shape, dtype=None: np.full(shape, 3.0), lambda w: torch.all(w == 3)),
    ],
)
def test_add_weight_initializers(initializer, check):
    torch.manual_seed(0)
    layer = Layer()
    w = layer.add_weight(shape=(50, 60), initializer=initializer)
    assert isinstance(w, torch.nn.Parameter) and w.dtype == torch.float32
    assert tuple(w.shape) == (50, 60) and check(w.detach())


def test_add_weight_defaults_and_errors():
    layer = Layer()
    scalar = layer.add_weight()
    assert scalar.shape == () and scalar.requires_grad
    counter = layer.add_weight(shape=(), dtype="int64", trainable=False, name="count")
    assert counter.dtype == torch.int64 and not counter.requires_grad and counter.item() == 0
    with pytest.raises(ValueError, match="glorot_uniform") as info:
        layer.add_weight(shape=(2,), initializer="nope")
    assert "random_normal" in str(info.value) and "he_normal" in str(info.value)
    with pytest.raises(ValueError, match="floating"):
        layer.add_weight(shape=(2,), dtype="int32")
    with pytest.raises(ValueError, match="regularizer"):
        layer.add_weight(shape=(2,), regularizer="l3")
    with pytest.raises(ValueError, match="shape"):
        layer.add_weight(shape=(2,), initializer=lambda shape, dtype=None: np.zeros(3))


def test_call_receives_training_from_the_mode_or_an_explicit_argument():
    class Probe(Layer):
        def call(self, inputs, training=None):
            self.seen = training
            return inputs

    class Outer(Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = Probe()

        def call(self, inputs):
            return self.inner(inputs)

    outer = Outer()
    x = torch.ones(1, 2)
    outer.train()
    outer(x)
    assert outer.inner.seen is True
    outer.eval()
    outer(x)
    assert outer.inner.seen is False
    outer(x, training=True)  # inherited by the layers called inside
    assert outer.inner.seen is True
    outer.inner(x, training=False)
    assert outer.inner.seen is False


def test_dropout_takes_an_explicit_training_argument():
    layer = L.Dropout(0.5)
    layer.eval()
    x = torch.ones(1000)
    assert (layer(x, training=True) == 0).any()
    assert torch.equal(layer(x), x)


def test_numpy_inputs_and_integer_inputs_of_user_layers_are_kept():
    class Ids(Layer):
        def call(self, inputs):
            return inputs

    ids = Ids()(torch.tensor([1, 2]))
    assert ids.dtype == torch.int64  # user layers get ints as they come (Keras)
    out = Linear(2)(np.ones((3, 4)))
    assert out.shape == (3, 2) and out.dtype == torch.float32
    assert Dense(1)(torch.ones(2, 3, dtype=torch.int64)).dtype == torch.float32


def test_custom_layer_config_round_trip_and_sequential_from_config():
    layer = Linear(3, name="lin", trainable=False)
    config = layer.get_config()
    assert config == {"name": "lin", "trainable": False, "units": 3}
    clone = Linear.from_config(config)
    assert clone.units == 3 and clone.trainable is False
    model = epochal.Sequential([Linear(2, name="a"), Dense(1, name="b")], device="cpu")
    rebuilt = epochal.Sequential.from_config(model.get_config(), custom_objects={"Linear": Linear})
    assert [type(m).__name__ for m in rebuilt.layers] == ["Linear", "Dense"]


# ---------------------------------------------------------------- add_loss / regularizers


def test_add_loss_is_collected_per_forward_and_cleared_on_the_next():
    layer = ActivityRegularization(0.5)
    layer(torch.full((2, 2), 2.0))
    assert len(layer.losses) == 1 and float(layer.losses[0]) == 1.0
    layer(torch.full((2, 2), 4.0))
    assert len(layer.losses) == 1 and float(layer.losses[0]) == 2.0
    assert float(collect_losses(torch.nn.Sequential(layer))) == 2.0


def test_add_loss_changes_the_training_and_evaluation_loss_by_its_value():
    torch.manual_seed(0)
    x, y = _data()

    def make(rate):
        torch.manual_seed(1)
        layers = [Dense(3, input_dim=4)]
        if rate:
            layers.append(ActivityRegularization(rate))
        layers.append(Dense(1))
        model = epochal.Sequential(layers, device="cpu")
        model.compile(optimizer=SGD(learning_rate=0.05), loss="mse")
        return model

    plain, regular = make(0.0), make(0.1)
    regular.set_weights(plain.get_weights())
    hidden = (torch.from_numpy(x) @ plain.layers[0].kernel + plain.layers[0].bias).detach()
    expected_extra = 0.1 * float(hidden.mean())
    got = regular.evaluate(x, y, batch_size=32, verbose=0)
    want = plain.evaluate(x, y, batch_size=32, verbose=0)
    assert got == pytest.approx(want + expected_extra, abs=1e-6)
    # The term is also in the training loss and its gradient.
    h_plain = plain.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False).history
    h_reg = regular.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False).history
    assert h_reg["loss"][0] == pytest.approx(h_plain["loss"][0] + expected_extra, abs=1e-6)
    assert not np.array_equal(plain.get_weights()[0], regular.get_weights()[0])


def test_weight_regularizer_adds_its_value_to_the_loss():
    class L2Linear(Linear):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), regularizer="l2")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

    model = epochal.Sequential([L2Linear(1)], device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    loss = model.evaluate(x, y, batch_size=32, verbose=0)
    layer = model.layers[0]
    with torch.no_grad():
        mse = float(((torch.from_numpy(x) @ layer.w + layer.b - torch.from_numpy(y)) ** 2).mean())
    assert loss == pytest.approx(mse + 0.01 * float((layer.w.detach() ** 2).sum()), rel=1e-5)
    assert len(layer.losses) == 1
    layer.trainable = False  # Keras counts the regularizers of trainable weights only
    assert layer.losses == []


def test_constraint_is_applied_after_each_update():
    class Positive(Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 1), constraint="non_neg")

        def call(self, x):
            return x @ self.w

    model = epochal.Sequential([Positive()], device="cpu")
    model.compile(optimizer=SGD(learning_rate=1.0), loss="mse")
    x, _ = _data()
    model.fit(x, -np.abs(x.sum(1, keepdims=True)) * 10, epochs=2, verbose=0)
    assert bool(torch.all(model.layers[0].w >= 0))


# ---------------------------------------------------------------- trainable / weight lists


def test_trainable_flag_and_weight_lists_in_keras_order():
    bn = BatchNormalization(input_shape=(3,))
    names = [w._keras_name if isinstance(w, torch.nn.Parameter) else "moving" for w in bn.weights]
    assert names == ["gamma", "beta", "moving", "moving"]
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    assert bn.non_trainable_weights[0] is bn.moving_mean
    bn.trainable = False
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4
    assert not any(p.requires_grad for p in bn.parameters())
    assert bn.get_config()["trainable"] is False
    bn.trainable = True
    assert len(bn.trainable_weights) == 2 and all(p.requires_grad for p in bn.parameters())
    assert len(bn.get_weights()) == 4


def test_freezing_a_layer_freezes_its_sublayers_but_not_add_weight_trainable_false():
    class Block(Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = Dense(2, input_dim=2)
            self.torch_linear = torch.nn.Linear(2, 2)
            self.steps = self.add_weight(shape=(), trainable=False, name="steps")

        def call(self, x):
            return self.torch_linear(self.dense(x))

    block = Block()
    assert [id(w) for w in block.weights] == [
        id(block.steps),
        id(block.dense.kernel),
        id(block.dense.bias),
        id(block.torch_linear.weight),
        id(block.torch_linear.bias),
    ]
    assert block.non_trainable_weights == [block.steps]
    block.trainable = False
    assert block.dense.trainable is False and block.trainable_weights == []
    assert not any(p.requires_grad for p in block.parameters())
    block.trainable = True
    assert block.dense.trainable and block.torch_linear.weight.requires_grad
    assert not block.steps.requires_grad  # created non-trainable, stays so
    block.dense.trainable = False
    assert block.trainable_weights == [block.torch_linear.weight, block.torch_linear.bias]


def test_trainable_false_before_build_holds_after_the_lazy_build():
    layer = Dense(2, trainable=False)
    layer(torch.ones(1, 3))
    assert layer.built and not layer.kernel.requires_grad and layer.trainable_weights == []
    eager = Dense(2, input_dim=3, trainable=False)
    assert not eager.kernel.requires_grad


def test_frozen_batch_norm_runs_in_inference_mode_as_keras():
    data = json.loads((FIXTURES / "frozen_batch_norm.json").read_text(encoding="utf-8"))
    bn = BatchNormalization()
    x = torch.tensor(data["x"])
    bn(x)  # builds
    bn.set_weights([np.array(w, dtype=np.float32) for w in data["weights"]])
    bn.trainable = False
    bn.train()
    y = bn(x, training=True)
    np.testing.assert_allclose(y.detach().numpy(), data["y"], rtol=0, atol=1e-6)
    for got, want in zip(bn.get_weights(), data["weights"], strict=True):
        np.testing.assert_array_equal(got, np.array(want, dtype=np.float32))
    assert len(bn.trainable_weights) == data["trainable_weights"]
    assert len(bn.non_trainable_weights) == data["non_trainable_weights"]


# ---------------------------------------------------------------- fine-tuning a frozen base


def _base_and_head():
    base = [Dense(8, activation="relu", input_dim=4), BatchNormalization(), Dense(6)]
    return base, [Dense(1)]


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: SGD(learning_rate=0.05, momentum=0.9, weight_decay=0.01),
        lambda: Adam(learning_rate=0.01),
        lambda: AdamW(learning_rate=0.01, weight_decay=0.1),
    ],
    ids=["sgd_momentum", "adam", "adamw"],
)
@pytest.mark.parametrize("when", ["before_compile", "after_a_first_fit"])
def test_frozen_base_weights_are_bit_identical_after_fit(make_optimizer, when):
    torch.manual_seed(0)
    base, head = _base_and_head()
    model = epochal.Sequential([*base, *head], device="cpu")
    x, y = _data(64)
    if when == "before_compile":
        for layer in base:
            layer.trainable = False
        model.compile(optimizer=make_optimizer(), loss="mse")
    else:
        model.compile(optimizer=make_optimizer(), loss="mse")
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)  # momentum/moments now exist
        for layer in base:
            layer.trainable = False
    frozen = [w.detach().clone() for layer in base for w in layer.weights]
    head_before = [w.detach().clone() for w in head[0].weights]
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    after = [w.detach() for layer in base for w in layer.weights]
    assert len(after) == len(frozen) == 8
    for a, b in zip(frozen, after, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(head_before[0], head[0].kernel.detach())
