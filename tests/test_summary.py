"""Model.summary(): layer names, output shapes and parameter counts."""

from __future__ import annotations

import re

import torch
from torch import nn

import epochal
from epochal.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D


def summary_text(model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


def row(text: str, name: str) -> str:
    matches = [line for line in text.splitlines() if line.startswith(name + " ")]
    assert len(matches) == 1, text
    return matches[0]


def test_sequential_with_input_shape_lists_layers_shapes_and_params():
    model = epochal.Sequential(
        [Dense(8, activation="relu", input_shape=(4,), name="hidden"), Dense(2, name="out")],
        device="cpu",
    )
    text = summary_text(model)
    assert 'Model: "sequential' in text
    hidden, out = row(text, "hidden"), row(text, "out")
    assert "(Dense)" in hidden
    assert "(None, 8)" in hidden
    assert hidden.split()[-1] == "40"
    assert "(None, 2)" in out
    assert out.split()[-1] == "18"
    assert "Total params: 58" in text
    assert "Trainable params: 58" in text
    assert "Non-trainable params: 0" in text


def test_convolutional_shapes_and_thousands_separators():
    model = epochal.Sequential(
        [
            Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1), name="conv"),
            MaxPooling2D(name="pool"),
            Dropout(0.25, name="drop"),
            Flatten(name="flat"),
            Dense(10, activation="softmax", name="head"),
        ],
        device="cpu",
    )
    text = summary_text(model)
    assert "(None, 26, 26, 32)" in row(text, "conv")
    assert row(text, "conv").split()[-1] == "320"
    assert "(None, 13, 13, 32)" in row(text, "pool")
    assert "(None, 13, 13, 32)" in row(text, "drop")
    assert "(None, 5408)" in row(text, "flat")
    assert row(text, "head").split()[-1] == "54,090"
    assert "Total params: 54,410" in text


def test_batch_normalization_moving_stats_are_non_trainable_params():
    # Keras counts moving_mean / moving_variance as non-trainable weights.
    model = epochal.Sequential(
        [Dense(4, input_shape=(3,), name="d"), BatchNormalization(name="bn")], device="cpu"
    )
    text = summary_text(model)
    assert row(text, "bn").split()[-1] == "16"
    assert "Total params: 32" in text
    assert "Trainable params: 24" in text
    assert "Non-trainable params: 8" in text


def test_summary_of_an_arbitrary_torch_module():
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    model = epochal.Model(module, device="cpu")
    text = summary_text(model)
    assert re.search(r'Model: "model(_\d+)?"', text)  # automatic unique names, as Keras
    assert "(Linear)" in text
    assert "(ReLU)" in text
    assert "Total params: 21" in text
    assert len([line for line in text.splitlines() if "(Linear)" in line]) == 2


def test_summary_of_a_module_without_children():
    model = epochal.Model(nn.Linear(5, 2), device="cpu")
    text = summary_text(model)
    assert "(Linear)" in text
    assert "Total params: 12" in text


def test_frozen_parameters_are_non_trainable():
    module = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    for p in module[0].parameters():
        p.requires_grad_(False)
    text = summary_text(epochal.Model(module, device="cpu"))
    assert "Total params: 9" in text
    assert "Trainable params: 3" in text
    assert "Non-trainable params: 6" in text


def test_summary_leaves_the_model_unchanged():
    model = epochal.Sequential(
        [Dense(3, input_shape=(2,), name="a"), Dropout(0.5, name="b"), Dense(1, name="c")],
        device="cpu",
    )
    model.compile(optimizer="sgd", loss="mse")
    model.module.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = summary_text(model)
    assert model.module.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # No forward hook is left behind: a second summary is identical.
    assert summary_text(model) == first
    assert all(not layer._forward_hooks for layer in model.layers)


def test_summary_prints_by_default(capsys):
    model = epochal.Sequential([Dense(1, input_shape=(1,), name="only")], device="cpu")
    model.summary()
    assert "only (Dense)" in capsys.readouterr().out


def test_summary_before_compile_builds_a_model_with_a_declared_input():
    model = epochal.Sequential([Dense(4, input_shape=(3,), name="x1"), Dense(2, name="x2")])
    text = summary_text(model)
    assert "(None, 2)" in row(text, "x2")
    assert "Total params: 26" in text
    model.compile(optimizer="sgd", loss="mse")
    assert model.optimizer.built


def test_count_params_includes_batch_normalization_moving_stats():
    model = epochal.Sequential(
        [Dense(4, input_shape=(3,), name="d"), BatchNormalization(name="bn")], device="cpu"
    )
    assert model.count_params() == 32
