"""The training script of the resume tests: seed 001's MNIST MLP with every stateful piece.

Run as ``python tests/_resume_script.py OUT_DIR [--save-freq N|epoch] [--kill-at G]
[--kill-in-write] [--term-at G] [--no-backup] [--precision POLICY] [--sync]``, or call
:func:`train` in a forked child.
``G`` is a global batch index (``epoch * steps + batch``): ``--kill-at`` SIGKILLs the process
after that batch (with ``--kill-in-write``: halfway through the first backup written at or
after it, on the background writer unless ``--sync``); ``--term-at`` sends SIGTERM to
itself there. The final weights go to ``OUT_DIR/final.safetensors``, the CSV log to
``OUT_DIR/training.log``.

EarlyStopping, ReduceLROnPlateau and CSVLogger are used when ``epochal.callbacks`` has them;
until then a small CSV logger with the same resume duties stands in for CSVLogger.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

import epochal
from epochal import _io
from epochal.callbacks import Callback
from epochal.layers import Dense, Dropout, Flatten
from epochal.saving import state_file as _state_io

MNIST_DIR = epochal.datasets.mnist.bundled_path()
BATCH_SIZE, EPOCHS, N_TRAIN, N_VALID = 64, 3, 2000, 500
STEPS = -(-N_TRAIN // BATCH_SIZE)


def load_data(mnist_dir: str | os.PathLike[str] = MNIST_DIR) -> tuple[np.ndarray, ...]:
    """Seed 001's preprocessing on a subset of the real MNIST split: train and validation."""
    (xa, ya), (xb, yb) = epochal.datasets.mnist.load_data(path=str(mnist_dir))
    x = np.concatenate([np.asarray(a) for a in (xa, xb) if len(a)]).astype("float32") / 255.0
    y = np.concatenate([np.asarray(a) for a in (ya, yb) if len(a)]).astype("int64")
    y = epochal.utils.to_categorical(y, 10)
    stop = N_TRAIN + N_VALID
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:stop], y[N_TRAIN:stop]


class RowLogger(Callback):
    """Stand-in for CSVLogger: one row per epoch, appended after a resume (not rewritten)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path, self.size, self.file = path, 0, None

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size = int(state["size"])

    def on_train_begin(self, logs=None):
        if self.model.train_state.resumed:
            self.file = _io.open_for_append(self.path, "a")
            self.file.truncate(self.size)  # drop rows written after the backup
        else:
            self.size, self.file = 0, _io.open_for_append(self.path, "w")

    def on_epoch_end(self, epoch, logs=None):
        keys = sorted(logs)
        writer = csv.writer(self.file)
        if self.size == 0:
            writer.writerow(["epoch", *keys])
        writer.writerow([epoch, *(repr(logs[k]) for k in keys)])
        self.file.flush()
        self.size = self.file.tell()

    def on_train_end(self, logs=None):
        self.file.close()


class Killer(Callback):
    """Kills (SIGKILL) or terminates (SIGTERM) its own process after global batch ``at``."""

    def __init__(self, at: int, signum: int) -> None:
        super().__init__()
        self.at, self.signum = at, signum

    def on_train_batch_end(self, batch, logs=None):
        if self.model.train_state.epoch * STEPS + batch == self.at:
            os.kill(os.getpid(), self.signum)


def killing_writer(at: int):
    """A backup writer that dies halfway through the first backup at or after batch ``at``."""

    def write(path: Path, state: Any, fingerprint: Any) -> None:
        position = state["train"]["epoch"] * STEPS + state["train"]["step"] - 1
        if position < at:
            _state_io.write_state(path, state, fingerprint)
            return
        data = _state_io.encode_state(state, fingerprint)

        def half(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                os.fsync(handle.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        _io.atomic_write(path, half)

    return write


def train(
    out_dir: str | os.PathLike[str],
    save_freq: str | int = "epoch",
    kill_at: int | None = None,
    kill_in_write: bool = False,
    term_at: int | None = None,
    backup: bool = True,
    data: tuple[np.ndarray, ...] | None = None,
    functional: bool = False,
    precision: str | None = None,
    async_save: bool = True,
    ema: bool = False,
) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    x_train, y_train, x_valid, y_valid = data if data is not None else load_data()
    if functional:  # the same network through the functional API
        inputs = epochal.Input(shape=(28, 28))
        hidden = Dropout(0.5)(Dense(128, activation="relu")(Flatten()(inputs)))
        model = epochal.Model(inputs, Dense(10, activation="softmax")(hidden), device="cpu")
    else:
        model = epochal.Sequential(
            [
                Flatten(input_shape=(28, 28)),
                Dense(128, activation="relu"),
                Dropout(0.5),
                Dense(10, activation="softmax"),
            ],
            device="cpu",
        )
    optimizer: Any = "adam"
    if ema:  # Keras' EMA: averages in the optimizer state, swapped in at each epoch end
        optimizer = epochal.optimizers.Adam(
            use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=7
        )
    model.compile(
        optimizer=optimizer,
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        precision=precision,
    )
    cb = epochal.callbacks
    callbacks: list[Callback] = []
    if ema:
        callbacks.append(cb.SwapEMAWeights(swap_on_epoch=True))
    if hasattr(cb, "EarlyStopping"):
        callbacks.append(
            cb.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
        )
    if hasattr(cb, "ReduceLROnPlateau"):
        callbacks.append(cb.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=0))
    log = out / "training.log"
    callbacks.append(cb.CSVLogger(str(log)) if hasattr(cb, "CSVLogger") else RowLogger(log))
    if kill_at is not None and not kill_in_write:
        callbacks.append(Killer(kill_at, signal.SIGKILL))
    if term_at is not None:
        callbacks.append(Killer(term_at, signal.SIGTERM))
    if backup:
        writer = killing_writer(kill_at) if kill_in_write and kill_at is not None else None
        callbacks.append(
            cb.BackupAndRestore(
                out / "backup", save_freq=save_freq, writer=writer, async_save=async_save
            )
        )
    history = model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=EPOCHS,
        verbose=0,
        callbacks=callbacks,
        validation_data=(x_valid, y_valid),
    )
    _state_io.write_state(out / "final.safetensors", dict(model.state_dict()))
    _io.atomic_write_bytes(out / "history.json", json.dumps(history.history).encode())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--save-freq", default="epoch")
    parser.add_argument("--kill-at", type=int)
    parser.add_argument("--kill-in-write", action="store_true")
    parser.add_argument("--term-at", type=int)
    parser.add_argument("--no-backup", action="store_true")
    parser.add_argument("--precision")
    parser.add_argument("--sync", action="store_true")
    args = parser.parse_args(argv)
    save_freq = args.save_freq if args.save_freq == "epoch" else int(args.save_freq)
    train(
        args.out_dir,
        save_freq,
        args.kill_at,
        args.kill_in_write,
        args.term_at,
        backup=not args.no_backup,
        precision=args.precision,
        async_save=not args.sync,
    )


if __name__ == "__main__":
    sys.exit(main())
