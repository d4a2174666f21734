"""Shared fixtures: tiny seeded models and data, a fake clock, the real MNIST path (shipped)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

import epochal
from epochal.datasets import mnist
from epochal.layers import Dense

REPO = Path(__file__).resolve().parents[1]
# The real MNIST test split ships inside the package: a bare clone has everything it needs.
MNIST_DIR = mnist.bundled_path()


# Tiny models: intra-op threads only add OpenMP spin-waiting on a shared 2-core machine.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def seeds_fixed():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def tiny_data():
    """40 samples, 4 features, 2 classes (integer labels), as numpy arrays."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x, y


def make_model(**compile_kwargs) -> epochal.Sequential:
    """A seeded 4 -> 8 -> 2 MLP on the CPU, compiled (sparse CE + accuracy by default)."""
    torch.manual_seed(0)
    model = epochal.Sequential(
        [Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")],
        device="cpu",
    )
    kwargs = {
        "optimizer": "sgd",
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
    }
    kwargs.update(compile_kwargs)
    model.compile(**kwargs)
    return model


@pytest.fixture
def compiled_model():
    return make_model


class FakeClock:
    """A clock that advances by `step` seconds each call."""

    def __init__(self, step: float = 0.01) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def fake_clock():
    return FakeClock()


@pytest.fixture
def mnist_dir():
    assert MNIST_DIR.is_dir(), f"the bundled MNIST test split is missing from {MNIST_DIR}"
    return MNIST_DIR
