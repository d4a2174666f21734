"""Per-epoch cost of TensorBoard(update_freq="epoch", histogram_freq=1) on the seed MLP.

Trains the seed 001 MLP (Flatten 8x8 -> Dense(128, relu) -> Dropout(0.5) -> Dense(10,
softmax), Adam, batch 32, validation_split 0.2) on the embedded digits, with and without the
callback, alternating runs, and prints the median seconds per epoch and their ratio.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/tensorboard_cost.py [--epochs 10 --repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

import epochal
from epochal.callbacks import Callback, TensorBoard
from epochal.layers import Dense, Dropout, Flatten
from epochal.utils import to_categorical


class EpochTimer(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def seconds_per_epoch(data, epochs: int, with_tensorboard: bool) -> float:
    (x, y) = data
    torch.manual_seed(0)
    model = epochal.Sequential(
        [
            Flatten(input_shape=(8, 8)),
            Dense(128, activation="relu"),
            Dropout(0.5),
            Dense(10, activation="softmax"),
        ],
        device="cpu",
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    callbacks: list[Callback] = []
    if with_tensorboard:
        callbacks.append(TensorBoard(tempfile.mkdtemp(), update_freq="epoch", histogram_freq=1))
    # The timer goes last so that it includes TensorBoard's epoch-end work.
    model.fit(
        x,
        y,
        batch_size=32,
        epochs=epochs,
        verbose=0,
        validation_split=0.2,
        callbacks=[*callbacks, timer],
    )
    return statistics.median(timer.times[1:])  # the first epoch includes warm-up


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    (x, y), _ = epochal.datasets.digits.load_data()
    data = (x / 16.0, to_categorical(y, 10))
    base, tb = [], []
    for _ in range(args.repeats):
        base.append(seconds_per_epoch(data, args.epochs, False))
        tb.append(seconds_per_epoch(data, args.epochs, True))
    b, t = statistics.median(base), statistics.median(tb)
    print(f"samples {len(x)}, epochs {args.epochs}, repeats {args.repeats}")
    print(f"without TensorBoard: {b * 1e3:.1f} ms/epoch")
    print(f"with TensorBoard(update_freq='epoch', histogram_freq=1): {t * 1e3:.1f} ms/epoch")
    print(f"ratio: {t / b:.3f}")


if __name__ == "__main__":
    main()
