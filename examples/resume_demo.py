"""Kill a training run with SIGKILL, run it again, and get bit-identical weights.

``python examples/resume_demo.py`` starts this file as a training process (``--train``) with
``BackupAndRestore(save_freq=10)``, SIGKILLs it as soon as its first backup exists, starts it
again (it resumes at the saved batch: same epoch, same shuffle order, same dropout masks),
then trains once more without interruption in another folder and compares the weights.

What you should see: ``killed; last backup at epoch E, batch B``, ``resumed run finished``, and
``bit-identical: True``. The same works with Ctrl-C or SIGTERM: the run finishes its step,
writes a backup and exits with a message telling to rerun the same command.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _data import mnist_flat_onehot

import epochal
from epochal.layers import Dense, Dropout

HERE = Path(__file__).resolve()


def train(folder: Path) -> None:
    torch.manual_seed(0)
    x, y, _, _ = mnist_flat_onehot()
    model = epochal.Sequential([Dense(128, activation="relu", input_shape=(784,)), Dropout(0.5),
                                Dense(10, activation="softmax")], device="cpu")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    backup = epochal.callbacks.BackupAndRestore(folder / "backup", save_freq=10)
    model.fit(x[:4000], y[:4000], batch_size=64, epochs=3, verbose=0, callbacks=[backup])
    np.savez(folder / "final.npz", *model.get_weights())


def run(folder: Path, kill_after_backup: bool = False) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(HERE), "--train", str(folder)], env=env)
    if kill_after_backup:
        backup = folder / "backup" / "training_state.safetensors"
        deadline = time.monotonic() + 120
        while not backup.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    return process.wait()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        interrupted, straight = Path(tmp, "interrupted"), Path(tmp, "straight")
        interrupted.mkdir()
        straight.mkdir()
        run(interrupted, kill_after_backup=True)
        state = epochal.saving.state_file.read_state(interrupted / "backup" / "training_state.safetensors")
        print(f"killed; last backup at epoch {state['train']['epoch'] + 1}, "
              f"batch {state['train']['step']}")
        assert run(interrupted) == 0
        print("resumed run finished")
        assert run(straight) == 0
        a, b = np.load(interrupted / "final.npz"), np.load(straight / "final.npz")
        print("bit-identical:", all(np.array_equal(a[k], b[k]) for k in a.files))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--train":
        train(Path(sys.argv[2]))
    else:
        main()
