"""Regressions found in review: compile before weights exist, and a CallbackList given to fit."""

from __future__ import annotations

import numpy as np
import torch

import epochal
from epochal.callbacks import CallbackList, History
from epochal.layers import Dense


def test_sequential_compiles_before_it_has_weights_and_builds_on_first_fit():
    model = epochal.Sequential([Dense(4, activation="relu"), Dense(1)])
    model.compile(optimizer="adam", loss="mse")  # no weights yet: Keras builds later
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.optimizer.iterations == 4
    assert len(model.get_weights()) == 4


def test_an_empty_sequential_compiles_too():
    model = epochal.Sequential()
    model.compile(optimizer="sgd", loss="mse")
    model.add(Dense(1))
    model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), verbose=0)
    assert model.optimizer.iterations == 1


class CountingForward(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.linear(x)


def test_compile_does_not_run_the_module():
    net = CountingForward()
    model = epochal.Model(net, device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    assert net.calls == 0
    model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), batch_size=2, verbose=0)
    assert net.calls == 2  # one forward per batch, none extra to build


def test_fit_accepts_a_callback_list_as_keras_does():
    model = epochal.Model(torch.nn.Linear(2, 1), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    seen: list[int] = []
    callbacks = CallbackList(
        [epochal.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e))]
    )
    history = model.fit(
        np.ones((4, 2), "float32"),
        np.ones((4, 1), "float32"),
        epochs=2,
        verbose=0,
        callbacks=callbacks,
    )
    assert seen == [0, 1]
    assert isinstance(history, History)
    assert history.history["loss"]
