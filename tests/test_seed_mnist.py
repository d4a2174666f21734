"""Issue 2 acceptance: the seed 001 MLP and the seed 004 hook-printing CustomCallback on the
real MNIST split (8,000 train / 2,000 validation) reach validation accuracy >= 0.90 in 5 epochs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import epochal
from epochal import Sequential
from epochal.layers import Dense, Dropout, Flatten
from epochal.utils import to_categorical
from tests.conftest import REPO


def _mnist_split(mnist_dir):
    _, (x, y) = epochal.datasets.mnist.load_data(path=mnist_dir)
    x = x.astype("float32") / 255.0
    return (x[:8000], y[:8000]), (x[8000:], y[8000:])


def test_seed_001_mlp_with_a_custom_callback_reaches_90_percent(mnist_dir):
    (x_train, y_train), (x_valid, y_valid) = _mnist_split(mnist_dir)
    y_train, y_valid = to_categorical(y_train, 10), to_categorical(y_valid, 10)

    class MyCallback(epochal.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs_seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.epochs_seen.append((epoch, logs.get("val_accuracy")))

    model = Sequential(
        [
            Flatten(input_shape=(28, 28)),
            Dense(128, activation="relu"),
            Dropout(0.5),
            Dense(10, activation="softmax"),
        ],
        device="cpu",
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    callback = MyCallback()
    history = model.fit(
        x_train,
        y_train,
        batch_size=128,
        epochs=5,
        verbose=0,
        validation_data=(x_valid, y_valid),
        callbacks=[callback],
    )
    score = model.evaluate(x_valid, y_valid, verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.90
    assert score[1] == pytest.approx(history.history["val_accuracy"][-1], abs=1e-6)
    assert [e for e, _ in callback.epochs_seen] == [0, 1, 2, 3, 4]


def test_seed_004_hook_printing_callback_on_real_mnist(mnist_dir):
    """The example script prints every hook in Keras' order; the model learns."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "seed004_hook_order.py")],
        cwd=REPO / "examples",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [line.strip() for line in result.stdout.splitlines() if "got log keys" in line]
    assert lines[0] == "Starting training; got log keys: []"
    assert "Training: end of batch 0; got log keys: ['accuracy', 'loss']" in lines
    assert (
        "End epoch 0 of training; got log keys: ['accuracy', 'loss', 'val_accuracy', 'val_loss']"
    ) in lines
    assert lines[-1] == "Stop predicting; got log keys: []"
    order = [line.split(";")[0] for line in lines]
    assert order.index("Stop testing") < order.index("End epoch 0 of training")


def test_seed_004_custom_callback_trains_to_90_percent(mnist_dir):
    (x_train, y_train), (x_valid, y_valid) = _mnist_split(mnist_dir)
    printed = []

    class CustomCallback(epochal.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            printed.append(("batch", batch, sorted(logs)))

        def on_epoch_end(self, epoch, logs=None):
            printed.append(("epoch", epoch, sorted(logs)))

    model = Sequential(
        [Flatten(input_shape=(28, 28)), Dense(128, activation="relu"), Dropout(0.2), Dense(10)],
        device="cpu",
    )
    model.compile(
        optimizer=epochal.optimizers.RMSprop(learning_rate=0.001),
        loss=epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=128,
        epochs=5,
        verbose=0,
        validation_data=(x_valid, y_valid),
        callbacks=[CustomCallback()],
    )
    assert history.history["val_accuracy"][-1] >= 0.90
    assert ("epoch", 4, ["accuracy", "loss", "val_accuracy", "val_loss"]) in printed
    assert np.isfinite(history.history["loss"]).all()
