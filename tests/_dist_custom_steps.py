"""A custom ``train_step`` / ``test_step`` model under ``torchrun`` (tests/engine/
test_custom_steps.py), and the same training in one process with the global batch.

Usage: python _dist_custom_steps.py OUT_DIR (each rank writes OUT_DIR/rank<r>.json)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

import epochal
from epochal import layers, metrics

N_TRAIN, N_VAL, BATCH_PER_RANK = 48, 21, 4


class Guide(epochal.Model):
    def __init__(self):
        super().__init__(device="cpu")
        self.hidden = layers.Dense(8, activation="relu")
        self.out = layers.Dense(1)
        self.loss_tracker = metrics.Mean(name="loss")
        self.mae_metric = metrics.MeanAbsoluteError(name="mae")

    def call(self, inputs, training=None):
        return self.out(self.hidden(inputs))

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = torch.mean((y_pred - y) ** 2)
        loss.backward()
        weights = self.trainable_weights
        with torch.no_grad():
            self.optimizer.apply([w.value.grad for w in weights], weights)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.loss_tracker.update_state(torch.mean((y_pred - y) ** 2), sample_weight=len(x))
        self.mae_metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


def scenario(world_batch: int) -> dict:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_TRAIN + N_VAL, 4)).astype("float32")
    y = (x[:, :1] - 2 * x[:, 1:2]).astype("float32")
    torch.manual_seed(0)
    model = Guide()
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.05))
    history = model.fit(
        x[:N_TRAIN],
        y[:N_TRAIN],
        batch_size=world_batch,
        epochs=3,
        shuffle=False,
        validation_data=(x[N_TRAIN:], y[N_TRAIN:]),
        verbose=0,
    )
    return {
        "history": history.history,
        "evaluate": model.evaluate(
            x[N_TRAIN:], y[N_TRAIN:], batch_size=world_batch, verbose=0, return_dict=True
        ),
        "weights": [w.tolist() for w in model.get_weights()],
    }


def main() -> None:
    out = Path(sys.argv[1])
    result = scenario(BATCH_PER_RANK)
    rank = int(os.environ.get("RANK", "0"))
    (out / f"rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
