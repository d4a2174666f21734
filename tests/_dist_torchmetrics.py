"""torchmetrics under ``torchrun`` (tests/metrics/test_torchmetrics_adapter.py): fit and
evaluate with torchmetrics metrics whose states reduce by sum, mean, max, min and cat;
each rank writes its history and evaluate result to ``OUT/tm.rank<r>.json``.

Usage: python _dist_torchmetrics.py OUT_DIR [BATCH_SIZE]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torchmetrics

import epochal
from epochal.layers import Dense

torch.set_num_threads(1)


class Spread(torchmetrics.Metric):
    """Depends on every kind of reduction: the global count (sum: a double reduction would
    double it), the max and min of the predictions, a constant mean and the cat of hits."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("n", torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("hi", torch.tensor(-1e9), dist_reduce_fx="max")
        self.add_state("lo", torch.tensor(1e9), dist_reduce_fx="min")
        self.add_state("one", torch.tensor(1.0), dist_reduce_fx="mean")
        self.add_state("hits", [], dist_reduce_fx="cat")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.n += target.numel()
        self.hi = torch.maximum(self.hi, preds.max())
        self.lo = torch.minimum(self.lo, preds.min())
        self.hits.append((preds.argmax(-1) == target).float())

    def compute(self) -> torch.Tensor:
        hits = torch.cat(self.hits) if isinstance(self.hits, list) else self.hits
        return self.n + (self.hi - self.lo) * self.one + hits.mean()


def run(batch_size: int) -> dict:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(69, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0).astype("int64")
    torch.manual_seed(0)
    model = epochal.Sequential(
        [Dense(8, activation="relu", input_shape=(4,)), Dense(3)], device="cpu"
    )
    model.compile(
        optimizer=epochal.optimizers.SGD(learning_rate=0.1),
        loss=epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            "accuracy",
            torchmetrics.classification.MulticlassAccuracy(
                num_classes=3, average="micro", validate_args=False
            ),
            Spread(),
        ],
    )
    history = model.fit(
        x[:48],
        y[:48],
        batch_size=batch_size,
        epochs=2,
        validation_data=(x[48:], y[48:]),
        verbose=0,
    )
    evaluated = model.evaluate(x[48:], y[48:], batch_size=batch_size, verbose=0, return_dict=True)
    return {"history": history.history, "evaluate": evaluated}


def main() -> None:
    out = Path(sys.argv[1])
    batch_size = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    result = run(batch_size)
    rank = int(os.environ.get("RANK", "0"))
    result["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
    (out / f"tm.rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
