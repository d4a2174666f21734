"""Kill the training process anywhere, run it again: the final weights are bit-identical.

The training script is ``tests/_resume_script.py`` (seed 001's MNIST MLP with dropout,
shuffling, Adam, a CSV log, and EarlyStopping / ReduceLROnPlateau when they exist). The kill
tests run it in forked children (no interpreter start-up per run); the SIGTERM test runs it
as a real ``python`` process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import _resume_script as script
import numpy as np
import pytest
import torch

from epochal.saving import state_file as _state_io

REPO = Path(__file__).resolve().parents[1]
TOTAL = script.EPOCHS * script.STEPS


@pytest.fixture(scope="module")
def mnist_data():
    return script.load_data()


def _run_forked(out: Path, data, **kwargs) -> int:
    context = multiprocessing.get_context("fork")
    process = context.Process(target=script.train, args=(out,), kwargs={"data": data, **kwargs})
    process.start()
    process.join(timeout=120)
    assert process.exitcode is not None, "the training child hung"
    return process.exitcode


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return _state_io.read_state(out / "final.safetensors")


@pytest.fixture(scope="module")
def reference(mnist_data, tmp_path_factory):
    """An uninterrupted run, without BackupAndRestore at all.

    It runs in this process, so that the forked children inherit its warm-up (lazy imports,
    first-call initialisation: seconds per child otherwise)."""
    out = tmp_path_factory.mktemp("reference")
    script.train(out, backup=False, data=mnist_data)
    return out


def _assert_same_run(out: Path, reference: Path) -> None:
    # By position: automatic layer names count the models a process built before.
    final, expected = list(_weights(out).values()), list(_weights(reference).values())
    assert len(final) == len(expected) == 4
    for index, (got, want) in enumerate(zip(final, expected, strict=True)):
        assert torch.equal(got, want), f"tensor {index} differs"
    rows = (out / "training.log").read_text().splitlines()
    epochs = [row.split(",")[0] for row in rows[1:]]
    assert epochs == [str(e) for e in range(len(epochs))]  # one row per epoch, in order
    assert rows == (reference / "training.log").read_text().splitlines()
    assert not (out / "backup").exists()  # deleted at the normal end


def _kill_points(seed: int, count: int = 11) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(int(p) for p in rng.choice(np.arange(1, TOTAL - 1), size=count, replace=False))


def _backup_age(out: Path, at: int) -> int | None:
    """How many batches before the kill after batch ``at`` the durable backup was taken."""
    path = out / "backup" / "training_state.safetensors"
    if not path.is_file():
        return None
    train = _state_io.read_state(path)["train"]
    return at + 1 - (train["epoch"] * script.STEPS + train["step"])


def _kill_and_resume(
    out: Path, data, save_freq, points: list[int], in_write: set[int], async_save: bool = True
) -> int:
    kills = 0
    for at in points:
        code = _run_forked(
            out,
            data,
            save_freq=save_freq,
            kill_at=at,
            kill_in_write=at in in_write,
            async_save=async_save,
        )
        assert code == -signal.SIGKILL, f"kill at {at}: exit code {code}"
        kills += 1
        if isinstance(save_freq, int) and at not in in_write:
            # Killed anywhere, also while a backup was being written on the writer thread:
            # the last durable one is at most two save intervals old.
            age = _backup_age(out, at)
            assert age is None or 0 <= age <= 2 * save_freq, f"kill at {at}: backup {age} old"
            assert age is not None or at + 1 < 2 * save_freq
    assert _run_forked(out, data, save_freq=save_freq, async_save=async_save) == 0
    return kills


@pytest.mark.slow
@pytest.mark.parametrize("async_save", [True, False], ids=["async", "sync"])
def test_sigkill_anywhere_int_save_freq_is_bit_exact(mnist_data, reference, tmp_path, async_save):
    points = _kill_points(seed=5)
    # These die halfway through writing a backup (on the writer thread when async).
    in_write = {points[3], points[7]}
    assert _kill_and_resume(tmp_path, mnist_data, 5, points, in_write, async_save) >= 10
    _assert_same_run(tmp_path, reference)


@pytest.mark.slow
def test_sigkill_anywhere_epoch_save_freq_is_bit_exact(mnist_data, reference, tmp_path):
    points = _kill_points(seed=6)
    # a write kill must come before the last epoch end, or nothing is ever written
    in_write = {p for p in points[:4] if p < TOTAL - script.STEPS}
    assert in_write
    assert _kill_and_resume(tmp_path, mnist_data, "epoch", points, in_write) >= 10
    _assert_same_run(tmp_path, reference)


@pytest.mark.slow
def test_sigkill_anywhere_functional_model_is_bit_exact(mnist_data, tmp_path, tmp_path_factory):
    reference = tmp_path_factory.mktemp("functional_reference")
    script.train(reference, backup=False, data=mnist_data, functional=True)
    points = _kill_points(seed=7, count=5)
    for at in points:
        code = _run_forked(tmp_path, mnist_data, save_freq=5, kill_at=at, functional=True)
        assert code == -signal.SIGKILL, f"kill at {at}: exit code {code}"
    assert _run_forked(tmp_path, mnist_data, save_freq=5, functional=True) == 0
    _assert_same_run(tmp_path, reference)


@pytest.mark.slow
def test_sigterm_writes_backup_exits_cleanly_and_resumes_exactly(mnist_data, reference, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, str(REPO / "tests" / "_resume_script.py"), str(tmp_path)]
    at = script.STEPS + 7  # epoch 2, batch 8
    first = subprocess.run(
        [*command, "--save-freq", "epoch", "--term-at", str(at)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert first.returncode == 128 + signal.SIGTERM, first.stderr
    assert "SIGTERM received" in first.stderr
    assert "Run the same command again to resume" in first.stderr
    assert "Traceback" not in first.stderr
    backup = tmp_path / "backup" / "training_state.safetensors"
    state = _state_io.read_state(backup)
    assert (state["train"]["epoch"], state["train"]["step"]) == (1, 8)  # mid-epoch, exact
    assert len((tmp_path / "training.log").read_text().splitlines()) == 2  # header + epoch 0
    second = subprocess.run(
        [*command, "--save-freq", "epoch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    _assert_same_run(tmp_path, reference)


@pytest.mark.slow
def test_sigkill_anywhere_float16_loss_scale_is_bit_exact(mnist_data, tmp_path):
    """mixed_float16 on the CPU: the GradScaler's scale and growth tracker are in the backup,
    so skipped updates and scale changes replay identically after each SIGKILL."""
    reference = tmp_path / "reference"
    script.train(reference, backup=False, data=mnist_data, precision="mixed_float16")
    out = tmp_path / "run"
    points = _kill_points(seed=7, count=6)
    for at in points:
        code = _run_forked(out, mnist_data, save_freq=3, kill_at=at, precision="mixed_float16")
        assert code == -signal.SIGKILL, f"kill at {at}: exit code {code}"
    assert _run_forked(out, mnist_data, save_freq=3, precision="mixed_float16") == 0
    _assert_same_run(out, reference)
    header = (reference / "training.log").read_text().splitlines()[0]
    assert "loss_scale" in header and "skipped_steps" in header


@pytest.mark.slow
def test_sigkill_anywhere_with_ema_is_bit_exact(mnist_data, tmp_path):
    """use_ema=True with SwapEMAWeights(swap_on_epoch=True): the averages and whether they
    are in the model are in the backup, so each SIGKILL resume replays identically."""
    reference = tmp_path / "reference"
    script.train(reference, backup=False, data=mnist_data, ema=True)
    out = tmp_path / "run"
    for at in _kill_points(seed=11, count=6):
        code = _run_forked(out, mnist_data, save_freq=3, kill_at=at, ema=True)
        assert code == -signal.SIGKILL, f"kill at {at}: exit code {code}"
    assert _run_forked(out, mnist_data, save_freq=3, ema=True) == 0
    _assert_same_run(out, reference)
    for at in _kill_points(seed=12, count=3):  # epoch-end backups: averages in the model
        code = _run_forked(tmp_path / "epoch", mnist_data, kill_at=at, ema=True)
        assert code == -signal.SIGKILL, f"kill at {at}: exit code {code}"
    assert _run_forked(tmp_path / "epoch", mnist_data, ema=True) == 0
    _assert_same_run(tmp_path / "epoch", reference)
