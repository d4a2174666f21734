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


def _kill_and_resume(out: Path, data, save_freq, points: list[int], in_write: set[int]) -> int:
    kills = 0
    for at in points:
        code = _run_forked(out, data, save_freq=save_freq, kill_at=at, kill_in_write=at in in_write)
        assert code == -signal.SIGKILL, f"kill at {at}: exit code {code}"
        kills += 1
    assert _run_forked(out, data, save_freq=save_freq) == 0
    return kills


@pytest.mark.slow
def test_sigkill_anywhere_int_save_freq_is_bit_exact(mnist_data, reference, tmp_path):
    points = _kill_points(seed=5)
    in_write = {points[3], points[7]}  # these die halfway through writing a backup
    assert _kill_and_resume(tmp_path, mnist_data, 5, points, in_write) >= 10
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
