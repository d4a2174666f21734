"""Writes files whose checksums are sha256, for tests/fixtures/sha256/.

Until 0.x epochal summed tensor data with sha256 (a bare 64-digit hex digest in the file);
files are now summed with xxh3_128 (``"xxh3_128:<hex>"``). Run this with the sha256 code
(commit 56c433a, e.g. from a worktree of it): ``PYTHONPATH=src python
scripts/make_sha256_fixtures.py tests/fixtures/sha256``. tests/saving/test_digest.py loads
every file with today's code and checks it verifies (and that a flipped byte is caught).
"""

import sys
from pathlib import Path

import numpy as np

import epochal
from epochal.callbacks import BackupAndRestore
from epochal.layers import Dense


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    epochal.utils.set_random_seed(5)
    model = epochal.Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x = np.linspace(0, 1, 48, dtype="float32").reshape(16, 3)
    y = np.stack([x.sum(axis=1), x[:, 0]], axis=1)
    backup = BackupAndRestore(
        str(out / "backup"),
        save_freq=2,
        handle_signals=False,
        delete_checkpoint=False,
        async_save=False,
    )
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[backup])
    model.save_weights(out / "m.safetensors")
    model.save_weights(out / "own.weights.h5", keras_compatible=False)
    model.save_weights(out / "keras.weights.h5", keras_compatible=True)
    model.save(out / "own.keras", keras_compatible=False)
    model.save(out / "keras.keras", keras_compatible=True)
    model.save(out / "own.h5")
    np.save(out / "pred.npy", model.predict(x, verbose=0))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
