"""The seed tutorials' checkpoint samples run and write the files they describe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from epochal.layers import Dense
from epochal.models import Sequential
from epochal.saving import load_model, read_bundle

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

# Each sample is a fresh Python process importing torch: seconds each.
pytestmark = pytest.mark.slow


def _run(script: Path, cwd: Path, epochs: int = 2) -> str:
    env = dict(
        os.environ,
        EPOCHAL_EXAMPLE_EPOCHS=str(epochs),
        OMP_NUM_THREADS="1",
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(EXAMPLES)]),
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_seed000_best_only_h5(tmp_path):
    out = _run(EXAMPLES / "seed000_checkpoint_best.py", tmp_path)
    assert "Epoch 1: val_loss improved from None to" in out
    assert "saving model to weights.best.h5" in out
    model = load_model(tmp_path / "weights.best.h5")
    assert model.metrics_names == ["loss", "accuracy"]


def test_seed000_templated_improvements(tmp_path):
    out = _run(EXAMPLES / "seed000_checkpoint_improvements.py", tmp_path, epochs=3)
    files = sorted(p.name for p in tmp_path.glob("weights-improvement-*.h5"))
    assert files
    assert files[0].startswith("weights-improvement-01-")
    for name in files:
        epoch, acc = name[len("weights-improvement-") : -len(".h5")].split("-")
        assert len(epoch) == 2
        assert 0.0 <= float(acc) <= 1.0
        assert name in out
        load_model(tmp_path / name)


def test_seed000_load_model_with_custom_objects(tmp_path):
    out = _run(EXAMPLES / "seed000_load_model.py", tmp_path)
    assert (tmp_path / "your.model.h5").exists()
    last = out.strip().splitlines()[-1]
    values = [float(v) for v in last.strip("[]").split(",")]
    assert len(values) == 3  # loss, accuracy, my_metric of the loaded model
    metrics = read_bundle(tmp_path / "your.model.h5").config["compile_config"]["metrics"]
    assert metrics == ["accuracy", {"function": "my_metric"}]


def test_seed002_hdf5_best_model(tmp_path):
    # The sample writes /tmp/weights.hdf5; run a copy that writes into tmp_path instead.
    source = (EXAMPLES / "seed002_model_checkpoint.py").read_text()
    target = str(tmp_path / "weights.hdf5")
    script = tmp_path / "seed002_model_checkpoint.py"
    script.write_text(source.replace("/tmp/weights.hdf5", target))
    out = _run(script, tmp_path)
    assert "val_loss improved from None to" in out
    assert out.strip().splitlines()[-1] == "True"
    load_model(target)


def test_seed003_weights_only(tmp_path):
    out = _run(EXAMPLES / "seed003_model_checkpoint.py", tmp_path)
    assert "checkpoint.weights.h5 exists: True" in out
    # The checkpoint loads into the sample's model (written in Keras' .weights.h5 layout).
    model = Sequential([Dense(32, activation="relu", input_shape=(64,)), Dense(10)])
    model.load_weights(tmp_path / "checkpoint.weights.h5")
    assert model.get_weights()[0].shape == (64, 32)


def test_seed004_per_epoch_weights(tmp_path, mnist_dir):
    out = _run(EXAMPLES / "seed004_checkpoints.py", tmp_path, epochs=2)
    files = sorted(os.listdir(tmp_path / "checkpoints"))
    assert len(files) == 2
    assert files[0].startswith("weights.01-")
    assert files[1].startswith("weights.02-")
    assert all(name.endswith(".h5") for name in files)
    assert "Epoch 2: saving model to ./checkpoints/weights.02-" in out
    untrained, loaded = [line for line in out.splitlines() if line.startswith("test loss is")]
    accuracy = [float(line.rsplit(" ", 1)[1]) for line in (untrained, loaded)]
    assert accuracy[1] > accuracy[0]
    assert np.isfinite(accuracy).all()
