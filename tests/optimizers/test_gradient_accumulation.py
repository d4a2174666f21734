"""``gradient_accumulation_steps=``: Keras 3's updates, ``iterations`` and schedules, and an
exact resume mid-accumulation (issue 14). Expected numbers: scripts/record_keras_accumulation.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import epochal
from epochal import optimizers
from epochal.callbacks import BackupAndRestore, Callback
from epochal.layers import Dense, Dropout
from epochal.optimizers.schedules import PiecewiseConstantDecay

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "accumulation.json"
KERAS = json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", sorted(KERAS["cases"]))
def test_updates_and_iterations_match_keras_step_by_step(case):
    spec = KERAS["cases"][case]
    atol = 2e-6  # float32 rounding: (g1 + g2) / 2 summed in another order
    kwargs = dict(spec["kwargs"])
    if case == "sgd_schedule_2":
        kwargs["learning_rate"] = PiecewiseConstantDecay([1, 3], [0.1, 0.05, 0.01])
    kernel = torch.nn.Parameter(torch.tensor(KERAS["kernel"]))
    bias = torch.nn.Parameter(torch.tensor(KERAS["bias"]))
    opt = getattr(optimizers, spec["class_name"])(**kwargs)
    opt.build([kernel, bias])
    for index, ((grad_kernel, grad_bias), want) in enumerate(
        zip(KERAS["grads"], spec["steps"], strict=True)
    ):
        opt.zero_grad()
        kernel.grad, bias.grad = torch.tensor(grad_kernel), torch.tensor(grad_bias)
        opt.step()
        np.testing.assert_allclose(kernel.detach(), want["kernel"], atol=atol, err_msg=f"{index}")
        np.testing.assert_allclose(bias.detach(), want["bias"], atol=atol, err_msg=f"{index}")
        assert opt.iterations == want["iterations"]


@pytest.mark.parametrize("bad", [1, 0, 2.0, True, "2"])
def test_bad_steps_are_refused(bad):
    with pytest.raises(ValueError, match="`gradient_accumulation_steps` must be an integer >= 2"):
        optimizers.Adam(gradient_accumulation_steps=bad)


def test_config_and_state_carry_the_accumulators():
    opt = optimizers.SGD(0.1, gradient_accumulation_steps=3)
    assert opt.get_config()["gradient_accumulation_steps"] == 3
    assert "gradient_accumulation_steps" not in optimizers.SGD().get_config()
    weight = torch.nn.Parameter(torch.zeros(2))
    opt.build([weight])
    weight.grad = torch.ones(2)
    opt.step()
    state = opt.state_dict()
    assert state["iterations"] == 1 and opt.iterations == 0  # one call, no update yet
    assert torch.equal(state["accumulated"]["0"], torch.ones(2))
    other = optimizers.SGD(0.1, gradient_accumulation_steps=3)
    other.build([torch.nn.Parameter(torch.zeros(2))])
    other.load_state_dict(state)
    assert other.state_dict()["iterations"] == 1
    assert torch.equal(other.state_dict()["accumulated"]["0"], torch.ones(2))


def test_fit_with_accumulation_equals_a_larger_batch():
    """Mean loss over batches of 4, accumulated 2 by 2 = one update per 8 samples, as a
    batch of 8 (mean of equal-size batch means)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    weights = []
    for batch, steps in ((8, None), (4, 2)):
        torch.manual_seed(0)
        model = epochal.Model(torch.nn.Linear(4, 1), device="cpu")
        model.compile(optimizer=optimizers.SGD(0.1, gradient_accumulation_steps=steps), loss="mse")
        model.fit(x, y, batch_size=batch, epochs=2, shuffle=False, verbose=0)
        assert model.optimizer.iterations == 8
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


N, BATCH = 40, 8  # 5 batches per epoch: accumulation windows of 3 straddle the epochs


class _Interrupt(Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if self.model.train_state.epoch * (N // BATCH) + batch == self.at:
            raise RuntimeError("interrupted")


def _run(backup=None, at=None):
    torch.manual_seed(1)
    np.random.seed(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = epochal.Sequential(
        [
            Dense(8, activation="relu", input_shape=(4,)),
            Dropout(0.3),
            Dense(2, activation="softmax"),
        ],
        device="cpu",
    )
    model.compile(
        optimizer=optimizers.Adam(0.01, gradient_accumulation_steps=3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = [_Interrupt(at)] + ([BackupAndRestore(backup, save_freq=1)] if backup else [])
    try:
        model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=callbacks)
    except RuntimeError:
        return None
    return model


def test_resume_mid_accumulation_is_bit_identical(tmp_path):
    reference = _run()
    assert reference.optimizer.iterations == 15 // 3
    for at in (1, 4, 10):  # 1 and 10 are mid-window (2 and 11 calls done)
        assert _run(tmp_path, at) is None
    resumed = _run(tmp_path)
    for got, want in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        assert np.array_equal(got, want)
    assert resumed.history.history == reference.history.history
    assert resumed.optimizer.state_dict()["iterations"] == 15
