"""Optimizers against numbers recorded from real Keras 3 (tests/fixtures/keras, written by
scripts/record_keras_fixtures.py) and against Keras' formulas: decoupled weight decay,
exclude_from_weight_decay, and the learning rate as a float32 variable."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import epochal
from epochal import optimizers
from epochal.layers import Dense
from epochal.optimizers import SGD, Adam, AdamW, LearningRate, RMSprop

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras"
DECAY = json.loads((FIXTURES / "weight_decay.json").read_text(encoding="utf-8"))
LR = json.loads((FIXTURES / "learning_rate.json").read_text(encoding="utf-8"))


def _tagged(values: list, name: str) -> torch.nn.Parameter:
    param = torch.nn.Parameter(torch.tensor(values, dtype=torch.float32))
    param._keras_name = name
    return param


# ---------------------------------------------------------------- weight decay vs Keras


# torch's RMSprop divides by sqrt(v) + eps, Keras' by sqrt(v + eps): a difference of about
# 1e-5 here that is the update rule's, not the decay's (known, left for an RMSprop rewrite).
TOLERANCE = {"rmsprop": 2e-5}


@pytest.mark.parametrize("case", sorted(DECAY["cases"]))
def test_weight_decay_matches_keras_step_by_step(case):
    spec = DECAY["cases"][case]
    atol = TOLERANCE.get(case, 1e-6)
    kernel, bias = _tagged(DECAY["kernel"], "kernel"), _tagged(DECAY["bias"], "bias")
    opt = getattr(optimizers, spec["class_name"])(**spec["kwargs"])
    if spec["exclude_var_names"]:
        opt.exclude_from_weight_decay(var_names=spec["exclude_var_names"])
    opt.build([kernel, bias])
    for (grad_kernel, grad_bias), want in zip(DECAY["grads"], spec["steps"], strict=True):
        opt.zero_grad()
        kernel.grad = torch.tensor(grad_kernel)
        bias.grad = torch.tensor(grad_bias)
        opt.step()
        np.testing.assert_allclose(kernel.detach().numpy(), want["kernel"], rtol=0, atol=atol)
        np.testing.assert_allclose(bias.detach().numpy(), want["bias"], rtol=0, atol=atol)


def test_adam_decay_is_decoupled_not_l2():
    # The issue's case: Keras' kernel after one step is w - w*wd*lr - lr*sign(g)-ish, not
    # the coupled L2 update torch's Adam(weight_decay=) makes.
    w = torch.nn.Parameter(torch.ones(1))
    opt = Adam(learning_rate=0.001, weight_decay=0.1)
    opt.build([w])
    w.grad = torch.zeros(1)
    opt.step()
    assert w.item() == pytest.approx(1 - 1 * 0.1 * 0.001, abs=1e-7)  # 0.9999, not 0.9990


@pytest.mark.parametrize("steps", [1, 5])
def test_sgd_weight_decay_formula(steps):
    lr, wd = 0.1, 0.3
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = SGD(learning_rate=lr, weight_decay=wd)
    opt.build([w])
    expected = np.array([1.0, -2.0], dtype=np.float32)
    for _ in range(steps):
        w.grad = torch.tensor([0.5, 0.25])
        opt.step()
        expected = expected - expected * np.float32(wd) * np.float32(lr)
        expected = expected - np.float32(lr) * np.array([0.5, 0.25], dtype=np.float32)
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("steps", [1, 4])
def test_adam_weight_decay_formula(steps):
    lr, wd, b1, b2, eps = 0.01, 0.2, 0.9, 0.999, 1e-7
    w = torch.nn.Parameter(torch.tensor([0.5, -1.5]))
    opt = Adam(learning_rate=lr, weight_decay=wd)
    opt.build([w])
    value = np.array([0.5, -1.5], dtype=np.float64)
    m = np.zeros(2)
    v = np.zeros(2)
    for t in range(1, steps + 1):
        g = np.array([0.3, -0.1]) * t
        w.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        value = value - value * wd * lr  # Keras 3: decay first, decoupled
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        value = value - alpha * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(w.detach().numpy(), value, rtol=0, atol=1e-6)


def test_weight_decay_none_or_zero_leaves_the_update_alone():
    """No decay: the same update as Adam without the argument: Keras' (see also
    tests/optimizers/test_adam_epsilon.py)."""

    def updated(**kwargs):
        param = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
        opt = Adam(learning_rate=0.1, **kwargs)
        opt.build([param])
        param.grad = torch.tensor([0.1, -0.2])
        opt.step()
        return param.detach()

    plain = updated()
    for wd in (None, 0.0):
        assert torch.equal(updated(weight_decay=wd), plain)
    # Keras' first Adam update, in float32 as Keras computes it
    f = np.float32
    g = np.array([0.1, -0.2], dtype=f)
    m, v = f(1 - 0.9) * g, f(1 - 0.999) * g * g  # Keras: alpha=1 - beta (a double)
    alpha = f(0.1) * np.sqrt(f(1) - f(0.999)) / (f(1) - f(0.9))
    want = np.array([1.0, 2.0], dtype=f) - alpha * m / (np.sqrt(v) + f(1e-7))
    np.testing.assert_allclose(plain.numpy(), want, rtol=0, atol=1e-7)


def test_every_optimizer_accepts_weight_decay_and_saves_it():
    for name in ("sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam"):
        cls = type(optimizers.get(name))
        opt = cls(weight_decay=0.25)
        assert opt.weight_decay == 0.25
        assert opt.get_config()["weight_decay"] == 0.25
        clone = optimizers.from_config(cls.__name__, opt.get_config())
        assert clone.weight_decay == 0.25
    assert AdamW().weight_decay == 0.004
    assert SGD().weight_decay is None and SGD().get_config()["weight_decay"] is None
    with pytest.raises(ValueError, match="weight_decay"):
        Adam(weight_decay=-1.0)


def test_exclude_from_weight_decay_by_variable_and_by_name():
    a, b, c = (torch.nn.Parameter(torch.ones(2)) for _ in range(3))
    c._keras_name = "bias"
    opt = SGD(learning_rate=0.5, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[a], var_names=["bia"])
    opt.build([a, b, c])
    for p in (a, b, c):
        p.grad = torch.zeros(2)
    opt.step()
    assert torch.equal(a, torch.ones(2))
    assert torch.allclose(b, torch.full((2,), 0.75))
    assert torch.equal(c, torch.ones(2))
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["kernel"])


def test_exclude_by_name_uses_layer_names_and_named_parameters():
    layer = Dense(2, input_dim=2)
    plain = torch.nn.Linear(2, 2)
    opt = SGD(learning_rate=1.0, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.build([*layer.parameters(), *plain.named_parameters()])
    for p in [*layer.parameters(), *plain.parameters()]:
        p.grad = torch.zeros_like(p)
    before = {id(p): p.detach().clone() for p in [*layer.parameters(), *plain.parameters()]}
    opt.step()
    assert torch.allclose(layer.kernel, before[id(layer.kernel)] * 0.5)
    assert torch.equal(layer.bias, before[id(layer.bias)])
    assert torch.allclose(plain.weight, before[id(plain.weight)] * 0.5)
    assert torch.equal(plain.bias, before[id(plain.bias)])


def test_weights_without_gradient_are_not_decayed():
    used, unused = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    opt = AdamW(learning_rate=0.1, weight_decay=0.5)
    opt.build([used, unused])
    used.grad = torch.zeros(1)
    opt.step()
    assert used.item() == pytest.approx(0.95)
    assert unused.item() == 1.0


def test_loading_an_old_state_keeps_decay_decoupled():
    w = torch.nn.Parameter(torch.ones(1))
    opt = AdamW(learning_rate=0.1, weight_decay=0.5)
    opt.build([w])
    state = opt.state_dict()
    state["torch"]["param_groups"][0]["weight_decay"] = 0.5  # as torch-coupled states had
    opt.load_state_dict(state)
    assert opt.torch_optimizer.param_groups[0]["weight_decay"] == 0.0


def test_rmsprop_decay_uses_the_current_learning_rate():
    w = torch.nn.Parameter(torch.ones(1))
    opt = RMSprop(learning_rate=0.1, weight_decay=1.0)
    opt.build([w])
    opt.learning_rate = 0.5
    w.grad = torch.zeros(1)
    opt.step()
    assert w.item() == pytest.approx(0.5)


# ---------------------------------------------------------------- learning rate variable


def test_learning_rate_is_a_float32_variable_like_keras():
    opt = SGD(learning_rate=0.01)
    lr = opt.learning_rate
    assert isinstance(lr, LearningRate)
    assert lr is opt.learning_rate
    value = lr.numpy()
    assert type(value) is np.float32
    assert float(value) == LR["numpy"]
    assert float(lr) == LR["float"]
    assert (lr == 0.01) is LR["equals_0_01"] is True
    assert lr != 0.02 and lr < 0.02 and lr <= 0.01 and lr > 0.001 and lr >= 0.01
    assert lr == np.float32(0.01) and lr == opt.learning_rate
    assert float(lr * 0.5) == LR["times_half"]
    assert isinstance(lr.value, torch.Tensor) and lr.value.dtype == torch.float32
    assert float(lr.value) == LR["numpy"]
    lr.assign(0.1)
    assert float(opt.learning_rate.numpy()) == LR["after_assign"]
    assert float(lr) == LR["after_assign"]  # a live view


def test_learning_rate_arithmetic_and_formatting():
    opt = SGD(learning_rate=0.5)
    lr = opt.learning_rate
    for result, expected in (
        (lr * 2, 1.0),
        (2 * lr, 1.0),
        (lr / 2, 0.25),
        (1 / lr, 2.0),
        (lr + 1, 1.5),
        (1 + lr, 1.5),
        (lr - 0.25, 0.25),
        (1 - lr, 0.5),
        (lr**2, 0.25),
        (-lr, -0.5),
    ):
        assert isinstance(result, torch.Tensor) and result.dtype == torch.float32
        assert float(result) == expected
        assert result.numpy() == np.float32(expected)
    assert f"{lr:.3f}" == "0.500"
    assert "0.5" in repr(lr) and "float32" in repr(lr)
    assert np.asarray(lr).dtype == np.float32
    assert math.isclose(lr, 0.5) and bool(lr)
    assert lr.item() == 0.5 and int(SGD(learning_rate=2.0).learning_rate) == 2
    assert {lr: 1}[lr] == 1
    lr.assign_add(0.25)
    assert lr == 0.75
    lr.assign_sub(0.5)
    assert lr == 0.25
    assert lr == pytest.approx(0.25)


def test_assigning_the_learning_rate_moves_every_group():
    a, b = torch.nn.Parameter(torch.ones(1)), torch.nn.Parameter(torch.ones(1))
    torch_opt = torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.2}], lr=0.1)
    opt = optimizers.get(torch_opt)
    opt.learning_rate.assign(0.05)
    assert [g["lr"] for g in torch_opt.param_groups] == pytest.approx([0.05, 0.1])
    opt.learning_rate = opt.learning_rate * 2
    assert [g["lr"] for g in torch_opt.param_groups] == pytest.approx([0.1, 0.2])
    other = SGD(learning_rate=0.3)
    opt.learning_rate = other.learning_rate
    assert opt.learning_rate == 0.3
    with pytest.raises(TypeError, match="learning_rate"):
        opt.learning_rate.assign("fast")


def test_callbacks_reading_the_learning_rate_the_keras_way_in_fit():
    seen = []

    class Reader(epochal.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            lr = self.model.optimizer.learning_rate
            seen.append((lr.numpy(), float(lr), lr == 0.01))
            lr.assign(lr * 0.5)

    model = epochal.Sequential([Dense(1, input_dim=2)], device="cpu")
    model.compile(optimizer=SGD(learning_rate=0.01), loss="mse")
    x, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[Reader()])
    assert seen[0][2] and not seen[1][2]
    assert seen[1][0] == np.float32(0.005)
    assert model.optimizer.torch_optimizer.param_groups[0]["lr"] == pytest.approx(0.0025)
