"""SIGKILL the saving process at random instants: the checkpoint is always whole."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

import epochal
from epochal.layers import Dense
from epochal.saving import load_model

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _model():
    model = epochal.Sequential(
        [Dense(128, activation="relu", input_shape=(64,)), Dense(64)], device="cpu"
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def _fill(model, value):
    model.set_weights([np.full_like(w, value) for w in model.get_weights()])


def _saver(paths, model):
    """The child: saves forever, alternating two weight sets (never returns)."""
    try:
        value = 1.0
        while True:
            value = 3.0 - value  # 2.0, 1.0, 2.0, ...
            _fill(model, value)
            model.save(paths[0])
            model.save_weights(paths[1])
    finally:
        os._exit(1)


@pytest.mark.parametrize("suffixes", [(".keras", ".weights.h5"), (".h5", ".safetensors")])
def test_sigkill_during_saves_never_leaves_a_torn_checkpoint(tmp_path, suffixes):
    model = _model()
    paths = [tmp_path / f"model{suffixes[0]}", tmp_path / f"weights{suffixes[1]}"]
    _fill(model, 1.0)
    model.save(paths[0])
    model.save_weights(paths[1])
    rng = np.random.default_rng(0)
    kills, deadline = 0, time.monotonic() + 15
    while kills < 20 and time.monotonic() < deadline:
        stamp = paths[0].stat().st_mtime_ns
        pid = os.fork()
        if pid == 0:
            _saver(paths, model)
        # Let it save at least once, then kill it at a random instant of the next writes.
        wait_until = time.monotonic() + 5
        while paths[0].stat().st_mtime_ns == stamp and time.monotonic() < wait_until:
            time.sleep(0.001)
        time.sleep(float(rng.uniform(0, 0.03)))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
        loaded = load_model(paths[0])
        values = {float(v) for w in loaded.get_weights() for v in np.unique(w)}
        assert values in ({1.0}, {2.0}), f"kill {kills}: mixed weights {values}"
        fresh = _model()
        fresh.load_weights(paths[1])
        values = {float(v) for w in fresh.get_weights() for v in np.unique(w)}
        assert values in ({1.0}, {2.0}), f"kill {kills}: mixed weights {values}"
    assert kills >= 10
