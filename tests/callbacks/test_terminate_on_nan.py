"""TerminateOnNaN: stops (or raises) on the first NaN/inf training loss (SPEC §13)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _helpers import RecordingCallback, StubModel
from conftest import make_model

from epochal.callbacks import TerminateOnNaN


def nan_data():
    x = np.ones((16, 4), "float32")
    x[8:] = np.nan  # batches 0 and 1 are fine, batch 2 (of 4) makes the running loss NaN
    return x, np.zeros(16, "int64")


def test_stops_after_the_first_invalid_batch_and_says_so():
    x, y = nan_data()
    lines = []
    recorder = RecordingCallback()
    history = make_model().fit(
        x,
        y,
        epochs=3,
        batch_size=4,
        shuffle=False,
        verbose=0,
        callbacks=[TerminateOnNaN(print_fn=lines.append), recorder],
    )
    assert lines == ["Batch 2: Invalid loss, terminating training"]
    batches = [i for hook, i, _ in recorder.calls if hook == "on_train_batch_end"]
    assert batches == [0, 1, 2]
    assert [h for h, _, _ in recorder.calls][-2:] == ["on_epoch_end", "on_train_end"]
    assert history.epoch == [0]
    assert math.isnan(history.history["loss"][0])


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_inf_and_nan_both_stop(value):
    cb = TerminateOnNaN(print_fn=lambda s: None)
    cb.model = StubModel()
    cb.on_train_batch_end(0, {"loss": 1.0})
    assert not cb.model.stop_training
    cb.on_train_batch_end(1, {"loss": value})
    assert cb.model.stop_training


def test_raise_error():
    x, y = nan_data()
    recorder = RecordingCallback()
    message = r"NaN or Inf loss encountered at batch 2\. Loss value: nan"
    with pytest.raises(RuntimeError, match=message):
        make_model().fit(
            x,
            y,
            epochs=1,
            batch_size=4,
            shuffle=False,
            verbose=0,
            callbacks=[TerminateOnNaN(raise_error=True), recorder],
        )
    assert "on_train_end" not in [h for h, _, _ in recorder.calls]


def test_only_training_batches_and_only_loss():
    cb = TerminateOnNaN()
    assert cb.implements("on_train_batch_end")
    assert not cb.implements("on_test_batch_end")
    cb.model = StubModel()
    cb.on_train_batch_end(0, {"accuracy": math.nan})
    assert not cb.model.stop_training


def test_raise_error_must_be_bool():
    with pytest.raises(TypeError, match="raise_error"):
        TerminateOnNaN(raise_error="yes")
