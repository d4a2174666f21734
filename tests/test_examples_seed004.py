"""The seed 004 and seed 000 LR examples run on real data and print what the tutorials show.

Each example runs in a subprocess (cwd = tmp_path, torch seeded through a tiny runner so the
run is reproducible); the runner also prints the final History as JSON so the printed lines
can be checked against what really happened.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

RUNNER = """
import json, runpy, sys, torch
torch.manual_seed(0)
sys.path.insert(0, sys.argv[1])
path = sys.argv[2]
sys.argv = [path]
g = runpy.run_path(path, run_name="__main__")
h = g.get("history") or getattr(g.get("model"), "history", None)
print("HISTORY_JSON " + json.dumps(getattr(h, "history", {})))
"""


def run_example(name, tmp_path, epochs=None, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    env.pop(EPOCHS_ENV, None)
    if epochs is not None:
        env[EPOCHS_ENV] = str(epochs)
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(EXAMPLES), str(EXAMPLES / f"{name}.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    history = json.loads(re.search(r"^HISTORY_JSON (.*)$", out, re.M).group(1))
    return out, history


EPOCHS_ENV = "EPOCHAL_EXAMPLE_EPOCHS"
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("mnist_dir")]


def plateau_reductions(out):
    """{1-based epoch: new LR} from ReduceLROnPlateau's verbose lines."""
    found = re.findall(r"Epoch (\d+): ReduceLROnPlateau reducing learning rate to (\S+)\.", out)
    return {int(epoch): float(lr) for epoch, lr in found}


def keras_stop_index(values, patience):
    """Epoch index at which Keras' EarlyStopping(patience) stops on `values` (mode min)."""
    best, wait = None, 0
    for epoch, value in enumerate(values):
        wait += 1
        if best is None or np.float32(value) < np.float32(best):
            best, wait = value, 0
        elif wait >= patience:
            return epoch
    return None


def test_my_early_stopping(tmp_path):
    out, history = run_example("seed004_my_early_stopping", tmp_path)
    restore = re.search(r"Restoring model weights from the end of the best epoch (\d+)\.", out)
    stop = re.search(r"Epoch (\d{5}): early stopping", out)
    assert restore, out
    assert stop, out
    best, stopped = int(restore.group(1)), int(stop.group(1))
    val_loss = history["val_loss"]
    assert len(val_loss) == stopped
    assert best == int(np.argmin(val_loss)) + 1
    assert stopped - best == 5  # patience=5
    assert (tmp_path / "history_loss.png").stat().st_size > 0


def test_builtin_early_stopping_has_the_same_effect(tmp_path):
    out, history = run_example("seed004_early_stopping", tmp_path)
    ran = int(re.search(r"epochs run: (\d+)", out).group(1))
    stop = keras_stop_index(history["val_loss"], 5)
    # Same stopping rule as MyEarlyStopping: patience epochs after the best val_loss.
    assert (stop + 1 if stop is not None else 30) == ran
    if stop is not None:
        assert stop - int(np.argmin(history["val_loss"])) == 5
    assert (tmp_path / "history_loss.png").stat().st_size > 0


def test_reduce_lr_on_plateau(tmp_path):
    out, history = run_example("seed004_reduce_lr", tmp_path)
    assert out.count("Epoch 15/15") == 1
    assert "learning_rate:" in out  # the progress bar shows the logged LR
    reductions = plateau_reductions(out)
    assert reductions, out
    lrs = history["learning_rate"]
    for epoch, new_lr in reductions.items():  # 1-based epoch of the reduction
        assert lrs[epoch - 1] == pytest.approx(new_lr / 0.5, rel=1e-6)  # logged pre-reduction
        if epoch < len(lrs):
            assert lrs[epoch] == pytest.approx(new_lr, rel=1e-6)
    assert min(lrs) >= 1e-5


def test_lr_scheduler(tmp_path):
    out, history = run_example("seed004_lr_scheduler", tmp_path)
    assert (
        "Epoch 00006: LearningRateScheduler reducing learning rate to 0.010000000000000002 "
        "from 0.10000000149011612."
    ) in out
    assert (
        "Epoch 00011: LearningRateScheduler reducing learning rate to 0.001 "
        "from 0.009999999776482582."
    ) in out
    assert history["learning_rate"] == pytest.approx([0.1] * 5 + [0.01] * 5 + [0.001] * 5)


def seed004_schedule(epoch, lr):
    """The tutorial's keep-or-reset schedule, without its prints."""
    new_lr = 1e-1
    for border, times in [(0, 1.0), (5, 1e-1), (10, 1e-2)]:
        if epoch >= border:
            new_lr = 1e-1 * times
    if abs(lr - new_lr) > 1e-7 and new_lr > lr > 0.1 * new_lr - 1e-7:
        return lr
    return new_lr


def test_lr_scheduler_with_plateau(tmp_path):
    out, history = run_example("seed004_lr_scheduler_with_plateau", tmp_path)
    reductions = plateau_reductions(out)
    assert reductions, out
    # Replay the interplay: the scheduler sets the LR at epoch begin from the incoming LR,
    # the plateau callback may reduce it at epoch end; the scheduler (last) logs the result.
    lrs = history["learning_rate"]
    incoming = float(np.float32(0.1))
    for epoch, logged in enumerate(lrs):
        used = float(np.float32(seed004_schedule(epoch, incoming)))
        after = reductions.get(epoch + 1, used)
        assert logged == pytest.approx(after, rel=1e-6), (epoch, lrs, reductions)
        incoming = logged


def test_seed000_step_decay(tmp_path):
    out, history = run_example("seed000_step_decay", tmp_path, epochs=30)
    lrs = history["learning_rate"]
    formula = [0.1 * 0.5 ** math.floor((1 + e) / 10) for e in range(30)]  # SPEC §14.2
    assert lrs == pytest.approx(formula, rel=1e-7)
    assert "Epoch 10: lr=0.05000000074505806 (step_decay says 0.05)" in out


def test_seed000_time_based_decay(tmp_path):
    out, _ = run_example("seed000_time_based_decay", tmp_path, epochs=2)
    assert "update 1 lr 0.0999000999" in out
    assert "update 2 lr 0.0998003992" in out  # per update, not the compounded 0.0997006985


def test_seed000_decay_table(tmp_path):
    out, _ = run_example("seed000_decay_table", tmp_path)
    rows = re.findall(r"^(\d)\t(\S+)\t(\S+)$", out, re.M)
    assert len(rows) == 5
    for _, got, table in rows:
        assert float(got) == pytest.approx(float(table), rel=1e-7)  # float32 precision
