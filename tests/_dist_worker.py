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
    model.compile(
        optimizer=epochal.optimizers.SGD(learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
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


class KillOnce(Callback):
    """Sends ``signum`` to rank 1 at (epoch, batch), once per job: in the first torchrun
    attempt, and only while ``marker`` (when given) does not exist yet."""

    def __init__(
        self, epoch: int, batch: int, signum: int = signal.SIGKILL, marker: Path | None = None
    ) -> None:
        super().__init__()
        self.at, self.signum, self.marker = (epoch, batch), signum, marker
        self.epoch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
        if self.marker is not None:
            first_attempt = not self.marker.exists()
        if first_attempt and self.model.rank == 1 and (self.epoch, batch) == self.at:
            if self.marker is not None:
                self.marker.write_text("sent")
            os.kill(os.getpid(), self.signum)


def weights_list(model) -> list:
    return [w.tolist() for w in model.get_weights()]


def scenario_parity(out: Path, batch_size: int) -> dict:
    """fit + evaluate + predict; then an early-stopped fit. Returns what the callbacks saw."""
    x, y, xv, yv = data()
    model = make_model()
    recorder = LogRecorder()
    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=4,
        validation_data=(xv, yv),
        # 15 samples: shards of 8 and 7, reduced over the ranks as validation is.
        evaluation_data={"test": (xv[:15], yv[:15])},
        callbacks=[recorder, RankFileWriter(out)],
        verbose=0,
    )
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
        batch_size=batch_size,
        shuffle=True,
    )
    model = make_model()
    model.fit(loader, epochs=4, verbose=0)
    result["loader_weights"] = weights_list(model)
    stopper, recorder = PlateauStop("val_loss", min_delta=0.029, patience=0), LogRecorder()
    model = make_model(lr=0.02)
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=10,
        validation_data=(xv, yv),
        callbacks=[stopper, recorder],
        verbose=0,
    )
    result["early_stop"] = {"stopped_epoch": stopper.stopped_epoch, "epochs": recorder.epochs}
    return result


def scenario_stops(out: Path) -> dict:
    """Stops requested on rank 1 only: a flag mid-epoch, a NaN loss, a SIGTERM."""
    x, y, _, _ = data()
    result = {}
    model = make_model()
    recorder = LogRecorder()
    model.fit(
        x,
        y,
        batch_size=BATCH_PER_RANK,
        epochs=5,
        verbose=0,
        callbacks=[StopOnRank(1, epoch=1, batch=2, how="flag"), recorder],
    )
    result["flag"] = {"batches": recorder.batches, "epochs": recorder.epochs}

    x_nan = x.copy()
    x_nan[9] = np.nan  # odd index: on rank 1's shard only (no shuffle)
    model, recorder = make_model(), LogRecorder()
    model.fit(
        x_nan,
        y,
        batch_size=BATCH_PER_RANK,
        epochs=5,
        shuffle=False,
        verbose=0,
        callbacks=[StopOnNaN(), recorder],
    )
    result["nan"] = {"batches": recorder.batches}

    model, recorder = make_model(), LogRecorder()

    def on_sigterm(signum, frame):  # what a preemption handler does: ask the loop to stop
        model.stop_training = True

    signal.signal(signal.SIGTERM, on_sigterm)
    model.fit(
        x,
        y,
        batch_size=BATCH_PER_RANK,
        epochs=5,
        verbose=0,
        callbacks=[StopOnRank(1, epoch=2, batch=1, how="sigterm"), recorder],
    )
    result["sigterm"] = {"batches": recorder.batches}
    return result


RESUME_EPOCHS, RESUME_SAVE_FREQ = 5, 5  # 6 batches per rank and epoch: saves fall mid-epoch


def scenario_resume(out: Path, kill: str | None, backup: bool = True) -> dict:
    """Dropout, per-rank random streams, EarlyStopping, ReduceLROnPlateau (on the training
    loss: it sees the metric sums restored mid-epoch), CSVLogger and BackupAndRestore with an
    integer save_freq. ``kill``: None, "sigkill" (rank 1 at epoch 2 batch 4, first torchrun
    attempt) or "sigterm" (rank 1 at epoch 1 batch 2, once per job folder)."""
    from epochal import callbacks as cb
    from epochal.layers import Dropout

    x, y, xv, yv = data()
    torch.manual_seed(0)
    model = epochal.Sequential(
        [
            Dense(16, activation="relu", input_shape=(4,)),
            Dropout(0.3),
            Dense(2, activation="softmax"),
        ],
        device="cpu",
    )
    model.compile(
        optimizer=epochal.optimizers.Adam(learning_rate=0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    torch.manual_seed(100 + model.rank)  # each rank draws its own dropout masks
    recorder = LogRecorder()
    callbacks = [
        cb.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True),
        cb.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=0.1),
        cb.CSVLogger(str(out / "training.csv")),
        recorder,
    ]
    if kill == "sigkill":
        callbacks.insert(0, KillOnce(epoch=2, batch=4))
    elif kill == "sigterm":
        callbacks.insert(
            0, KillOnce(epoch=1, batch=2, signum=signal.SIGTERM, marker=out / "sigterm.sent")
        )
    if backup:
        callbacks.append(cb.BackupAndRestore(out / "backup", save_freq=RESUME_SAVE_FREQ))
    result = {"restarts": int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))}
    try:
        model.fit(
            x,
            y,
            batch_size=BATCH_PER_RANK,
            epochs=RESUME_EPOCHS,
            validation_data=(xv, yv),
            callbacks=callbacks,
            verbose=0,
        )
        result["exit"] = 0
    except SystemExit as exc:
        result["exit"] = exc.code
    state = model.train_state
    result.update(
        position=[state.epoch, state.step],
        batches=recorder.batches,
        epochs=recorder.epochs,
        backup_exists=(out / "backup").exists(),
    )
    rank = model.rank
    torch.save(model.state_dict(), out / f"weights.rank{rank}.pt")
    if result["exit"]:
        (out / f"interrupted.rank{rank}.json").write_text(json.dumps(result))
        raise SystemExit(result["exit"])
    return result


def main() -> None:
    name, out = sys.argv[1], Path(sys.argv[2])
    if name == "parity":
        result = scenario_parity(out, BATCH_PER_RANK)
    elif name == "stops":
        result = scenario_stops(out)
    elif name == "resume_reference":
        result = scenario_resume(out, kill=None, backup=False)
    else:
        result = scenario_resume(out, kill=name.removeprefix("resume_"))
    model_rank = int(os.environ.get("RANK", "0"))
    result["rank"] = model_rank
    result["world_size"] = int(os.environ.get("WORLD_SIZE", "1"))
    (out / f"{name}.rank{model_rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
