"""Compile settings of several outputs survive a save: per-output losses and metrics,
``loss_weights`` and ``weighted_metrics`` (none of them is dropped on the way)."""

from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

import epochal
from epochal.saving.serialization import compile_config, resolve_compile, resolve_compile_extras


class Heads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(3, 1)
        self.b = nn.Linear(3, 2)

    def forward(self, x):
        return {"a": self.a(x), "b": torch.softmax(self.b(x), dim=-1)}


def _evaluate(model):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = {"a": rng.normal(size=(8, 1)).astype(np.float32), "b": rng.integers(0, 2, 8)}
    weight = rng.uniform(size=8).astype(np.float32)
    return model.evaluate(x, y, sample_weight=weight, verbose=0, return_dict=True)


def test_per_output_settings_round_trip_through_the_saved_config():
    settings = {
        "loss": {"a": "mse", "b": epochal.losses.SparseCategoricalCrossentropy()},
        "loss_weights": {"a": 0.25, "b": 3.0},
        "metrics": {"a": ["mae"], "b": ["accuracy"]},
        "weighted_metrics": [["mse"], None],
    }
    model = epochal.Model(Heads(), device="cpu")
    model.compile("adam", **settings)
    config = json.loads(json.dumps(compile_config(model)))
    assert config["loss_weights"] == {"a": 0.25, "b": 3.0}
    make_optimizer, loss, metrics = resolve_compile(config, None)
    extras = resolve_compile_extras(config, None)
    assert sorted(extras) == ["loss_weights", "weighted_metrics"]
    loaded = epochal.Model(Heads(), device="cpu")
    loaded.compile(make_optimizer(loaded.module), loss=loss, metrics=metrics, **extras)
    expected = _evaluate(model)
    assert sorted(expected) == ["a_loss", "a_mae", "a_mse", "b_accuracy", "b_loss", "loss"]
    assert _evaluate(loaded) == expected


def test_single_output_config_keeps_its_old_form():
    model = epochal.Model(nn.Linear(3, 1), device="cpu")
    model.compile("sgd", loss="mse", metrics=["mae"])
    config = compile_config(model)
    assert config["loss"] == "mse" and config["metrics"] == ["mae"]
    assert "loss_weights" not in config and "weighted_metrics" not in config
