"""Writes a backup in training-state format version 1, for tests/fixtures/backups/v1/.

Run it with epochal as it was before format version 2 (commit 9ba7cdf: position-keyed
callback states, the old codec and checksum), e.g. from a worktree of that commit:
``PYTHONPATH=src python scripts/make_v1_backup_fixture.py OUT``, then copy
``OUT/backup/training_state.safetensors``. The test resumes it with today's code and
compares the weights with those the old code reached (tests/fixtures/backups/
v1_resumed_weights.npz).
"""

import sys
from pathlib import Path

import numpy as np

import epochal
from epochal.callbacks import BackupAndRestore, Callback, EarlyStopping
from epochal.layers import Dense


class StopAtEpoch2Batch2(Callback):
    def on_train_batch_end(self, batch, logs=None):
        if self.model.train_state.epoch == 1 and batch == 1:
            self.model.train_state.interrupt_requested = True


def main(out: Path) -> None:
    epochal.utils.set_random_seed(3)
    model = epochal.Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.linspace(0, 1, 48, dtype="float32").reshape(16, 3)
    y = x.sum(axis=1, keepdims=True)
    backup = BackupAndRestore(
        str(out / "backup"), save_freq=1, handle_signals=False, delete_checkpoint=False
    )
    stopper = EarlyStopping(monitor="loss", patience=5)
    model.fit(
        x,
        y,
        batch_size=4,
        epochs=3,
        shuffle=True,
        verbose=0,
        callbacks=[stopper, backup, StopAtEpoch2Batch2()],
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
