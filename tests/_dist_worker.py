"""Scenarios run under ``torchrun`` by tests/test_distributed.py (and in-process for the
single-process reference). Each rank writes what its callbacks saw to ``OUT/<name>.rank<r>``.

Usage: python _dist_worker.py SCENARIO OUT_DIR
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from pathlib import Path

import numpy as np
import torch

import epochal
from epochal._io import atomic_write
from epochal.callbacks import Callback
from epochal.layers import Dense

torch.set_num_threads(1)

N_TRAIN, N_VAL, BATCH_PER_RANK = 48, 21, 4


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_TRAIN + N_VAL, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def make_model(lr: float = 0.1) -> epochal.Sequential:
    torch.manual_seed(0)
    model = epochal.Sequential(
        [Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")],
        device="cpu",
    )
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class LogRecorder(Callback):
    """Keeps every epoch-level logs dict it is handed, and counts batches per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[dict] = []
        self.tests: list[dict] = []
        self.batches: dict[int, int] = {}
        self.epoch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.batches[epoch] = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches[self.epoch] += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({"epoch": epoch, **dict(logs)})

    def on_test_end(self, logs=None):
        self.tests.append(dict(logs))


class RankFileWriter(Callback):
    """A writer marked main_process_only: it must run on rank 0 only."""

    main_process_only = True

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        path = self.folder / f"written_by_rank{self.model.rank}_epoch{epoch}.txt"
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(dict(logs))))


class PlateauStop(Callback):
    """A minimal EarlyStopping (issue 3 owns the real one): stops when ``monitor`` has not
    improved by ``min_delta`` for ``patience`` epochs, judged from the epoch logs."""

    def __init__(self, monitor: str, min_delta: float, patience: int) -> None:
        super().__init__()
        self.monitor, self.min_delta, self.patience = monitor, min_delta, patience
        self.best, self.wait, self.stopped_epoch = math.inf, 0, None

    def on_epoch_end(self, epoch, logs=None):
        value = logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True


class StopOnRank(Callback):
    """Sets stop_training on one rank only, mid-epoch (or raises SIGTERM there)."""

    def __init__(self, rank: int, epoch: int, batch: int, how: str) -> None:
        super().__init__()
        self.rank, self.at_epoch, self.at_batch, self.how = rank, epoch, batch, how
        self.epoch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.model.rank, self.epoch, batch) != (self.rank, self.at_epoch, self.at_batch):
            return
        if self.how == "flag":
            self.model.stop_training = True
        else:
            os.kill(os.getpid(), signal.SIGTERM)


class StopOnNaN(Callback):
    """A minimal TerminateOnNaN (issue 3 owns the real one): reads the rank's batch loss."""

    def on_train_batch_end(self, batch, logs=None):
        if not math.isfinite(logs["loss"]):
            self.model.stop_training = True


class EpochBackup(Callback):
    """A minimal BackupAndRestore (issue 5 owns the real one): rank 0 writes weights,
    optimizer and loop state atomically at each epoch end; every rank restores them."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def on_train_begin(self, logs=None):
        if self.path.exists():
            state = torch.load(self.path, weights_only=False)
            self.model.module.load_state_dict(state["model"])
            self.model.optimizer.load_state_dict(state["optimizer"])
            self.model.train_state.load_state_dict(state["train"])

    def on_epoch_end(self, epoch, logs=None):
        if not self.model.is_main_process:
            return
        state = {
            "model": self.model.module.state_dict(),
            "optimizer": self.model.optimizer.state_dict(),
            "train": self.model.train_state.state_dict(include_callbacks=False),
        }
        atomic_write(self.path, lambda tmp: torch.save(state, tmp))


class KillOnce(Callback):
    """SIGKILLs rank 1 at (epoch, batch) in the first attempt of a torchrun job."""

    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
        if first_attempt and self.model.rank == 1 and (self.epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


def weights_list(model) -> list:
    return [w.tolist() for w in model.get_weights()]


def scenario_parity(out: Path, batch_size: int) -> dict:
    """fit + evaluate + predict; then an early-stopped fit. Returns what the callbacks saw."""
    x, y, xv, yv = data()
    model = make_model()
    recorder = LogRecorder()
    history = model.fit(x, y, batch_size=batch_size, epochs=4, validation_data=(xv, yv),
                        callbacks=[recorder, RankFileWriter(out)], verbose=0)
    result = {
        "epochs": recorder.epochs,
        "tests": recorder.tests,
        "history": history.history,
        "weights": weights_list(model),
        "evaluate": model.evaluate(xv, yv, batch_size=batch_size, verbose=0, return_dict=True),
        "predict": model.predict(xv, batch_size=batch_size, verbose=0).tolist(),
    }
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=batch_size, shuffle=True)
    model = make_model()
    model.fit(loader, epochs=4, verbose=0)
    result["loader_weights"] = weights_list(model)
    stopper, recorder = PlateauStop("val_loss", min_delta=0.029, patience=0), LogRecorder()
    model = make_model(lr=0.02)
    model.fit(x, y, batch_size=batch_size, epochs=10, validation_data=(xv, yv),
             callbacks=[stopper, recorder], verbose=0)
    result["early_stop"] = {"stopped_epoch": stopper.stopped_epoch, "epochs": recorder.epochs}
    return result


def scenario_stops(out: Path) -> dict:
    """Stops requested on rank 1 only: a flag mid-epoch, a NaN loss, a SIGTERM."""
    x, y, _, _ = data()
    result = {}
    model = make_model()
    recorder = LogRecorder()
    model.fit(x, y, batch_size=BATCH_PER_RANK, epochs=5, verbose=0,
              callbacks=[StopOnRank(1, epoch=1, batch=2, how="flag"), recorder])
    result["flag"] = {"batches": recorder.batches, "epochs": recorder.epochs}

    x_nan = x.copy()
    x_nan[9] = np.nan  # odd index: on rank 1's shard only (no shuffle)
    model, recorder = make_model(), LogRecorder()
    model.fit(x_nan, y, batch_size=BATCH_PER_RANK, epochs=5, shuffle=False, verbose=0,
              callbacks=[StopOnNaN(), recorder])
    result["nan"] = {"batches": recorder.batches}

    model, recorder = make_model(), LogRecorder()

    def on_sigterm(signum, frame):  # what a preemption handler does: ask the loop to stop
        model.stop_training = True

    signal.signal(signal.SIGTERM, on_sigterm)
    model.fit(x, y, batch_size=BATCH_PER_RANK, epochs=5, verbose=0,
              callbacks=[StopOnRank(1, epoch=2, batch=1, how="sigterm"), recorder])
    result["sigterm"] = {"batches": recorder.batches}
    return result


def scenario_fault(out: Path, kill: bool) -> dict:
    """The parity fit with an epoch backup; rank 1 is SIGKILLed mid-epoch 2 when ``kill``."""
    x, y, xv, yv = data()
    model = make_model()
    callbacks = [EpochBackup(out / "backup.pt")]
    if kill:
        callbacks.append(KillOnce(epoch=2, batch=3))
    model.fit(x, y, batch_size=BATCH_PER_RANK, epochs=4, validation_data=(xv, yv),
              callbacks=callbacks, verbose=0)
    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    return {"weights": weights_list(model), "restarts": restarts}


def main() -> None:
    name, out = sys.argv[1], Path(sys.argv[2])
    if name == "parity":
        result = scenario_parity(out, BATCH_PER_RANK)
    elif name == "stops":
        result = scenario_stops(out)
    else:
        result = scenario_fault(out, kill=name == "fault")
    model_rank = int(os.environ.get("RANK", "0"))
    result["rank"] = model_rank
    result["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
    (out / f"{name}.rank{model_rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
