"""Golden traces of (hook, index, sorted log keys) for fit, evaluate and predict (SPEC §2)."""

from __future__ import annotations

import numpy as np
import pytest

from tests._helpers import RecordingCallback
from tests.conftest import make_model

TRAIN = ("accuracy", "loss")
VAL = ("accuracy", "loss", "val_accuracy", "val_loss")


def _epoch(epoch, train_steps, val_steps=0):
    calls = [("on_epoch_begin", epoch, ())]
    for step in range(train_steps):
        calls += [("on_train_batch_begin", step, ()), ("on_train_batch_end", step, TRAIN)]
    if val_steps:
        calls.append(("on_test_begin", None, ()))
        for step in range(val_steps):
            calls += [("on_test_batch_begin", step, ()), ("on_test_batch_end", step, TRAIN)]
        calls.append(("on_test_end", None, TRAIN))
    calls.append(("on_epoch_end", epoch, VAL if val_steps else TRAIN))
    return calls


def test_fit_with_validation_data(tiny_data):
    x, y = tiny_data
    recorder = RecordingCallback()
    model = make_model()
    model.fit(
        x[:30],
        y[:30],
        batch_size=10,
        epochs=2,
        verbose=0,
        validation_data=(x[30:], y[30:]),
        callbacks=[recorder],
    )
    expected = [("on_train_begin", None, ())]
    expected += _epoch(0, 3, 1) + _epoch(1, 3, 1)
    expected.append(("on_train_end", None, VAL))
    assert recorder.calls == expected


def test_fit_validation_freq_two_skips_val_on_odd_epochs(tiny_data):
    x, y = tiny_data
    recorder = RecordingCallback()
    history = make_model().fit(
        x,
        y,
        batch_size=20,
        epochs=3,
        verbose=0,
        validation_split=0.25,
        validation_freq=2,
        callbacks=[recorder],
    )
    epoch_ends = [c for c in recorder.calls if c[0] == "on_epoch_end"]
    assert epoch_ends == [
        ("on_epoch_end", 0, TRAIN),
        ("on_epoch_end", 1, VAL),
        ("on_epoch_end", 2, TRAIN),
    ]
    assert len(history.history["loss"]) == 3 and len(history.history["val_loss"]) == 1


def test_fit_validation_freq_list(tiny_data):
    x, y = tiny_data
    recorder = RecordingCallback()
    make_model().fit(
        x,
        y,
        batch_size=20,
        epochs=4,
        verbose=0,
        validation_split=0.25,
        validation_freq=[1, 4],
        callbacks=[recorder],
    )
    validated = [c[1] for c in recorder.calls if c[0] == "on_epoch_end" and "val_loss" in c[2]]
    assert validated == [0, 3]


def test_initial_epoch_starts_there_and_params_keep_epochs(tiny_data):
    x, y = tiny_data
    recorder = RecordingCallback()
    model = make_model()
    history = model.fit(
        x, y, batch_size=40, epochs=4, initial_epoch=2, verbose=0, callbacks=[recorder]
    )
    assert [c[1] for c in recorder.calls if c[0] == "on_epoch_begin"] == [2, 3]
    assert recorder.params == {"verbose": 0, "epochs": 4, "steps": 1}
    assert history.epoch == [2, 3]


def test_initial_epoch_at_or_past_epochs_runs_no_epoch(tiny_data):
    x, y = tiny_data
    recorder = RecordingCallback()
    history = make_model().fit(x, y, epochs=2, initial_epoch=2, verbose=0, callbacks=[recorder])
    assert recorder.calls == [("on_train_begin", None, ()), ("on_train_end", None, ())]
    assert history.history == {}


def test_evaluate_trace(tiny_data):
    x, y = tiny_data
    recorder = RecordingCallback()
    model = make_model()
    model.evaluate(x, y, batch_size=20, verbose=0, callbacks=[recorder])
    assert recorder.calls == [
        ("on_test_begin", None, ()),
        ("on_test_batch_begin", 0, ()),
        ("on_test_batch_end", 0, TRAIN),
        ("on_test_batch_begin", 1, ()),
        ("on_test_batch_end", 1, TRAIN),
        ("on_test_end", None, TRAIN),
    ]
    assert recorder.params == {"verbose": 0, "epochs": 1, "steps": 2}


def test_predict_trace_and_outputs(tiny_data):
    x, _ = tiny_data
    seen = []

    class Outputs(RecordingCallback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(logs["outputs"])
            super().on_predict_batch_end(batch, logs)

    recorder = Outputs()
    out = make_model().predict(x, batch_size=30, verbose=0, callbacks=[recorder])
    assert [c[0] for c in recorder.calls] == [
        "on_predict_begin",
        "on_predict_batch_begin",
        "on_predict_batch_end",
        "on_predict_batch_begin",
        "on_predict_batch_end",
        "on_predict_end",
    ]
    assert isinstance(seen[0], np.ndarray) and seen[0].shape == (30, 2)
    np.testing.assert_allclose(np.concatenate(seen), out)


class StopAt(RecordingCallback):
    def __init__(self, hook, when):
        super().__init__()
        self.hook, self.when = hook, when

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.hook == "batch" and batch == self.when:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.hook == "epoch" and epoch == self.when:
            self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        if self.hook == "epoch_begin":
            self.model.stop_training = True


def test_stop_training_mid_epoch_stops_after_that_batch_and_still_validates(tiny_data):
    x, y = tiny_data
    recorder = StopAt("batch", 1)
    history = make_model().fit(
        x[:30],
        y[:30],
        batch_size=10,
        epochs=3,
        verbose=0,
        validation_data=(x[30:], y[30:]),
        callbacks=[recorder],
    )
    names = [c[0] for c in recorder.calls]
    assert names.count("on_train_batch_end") == 2
    assert names[-4:] == ["on_test_batch_end", "on_test_end", "on_epoch_end", "on_train_end"]
    assert history.epoch == [0]


def test_stop_training_at_epoch_end(tiny_data):
    x, y = tiny_data
    recorder = StopAt("epoch", 1)
    history = make_model().fit(x, y, batch_size=10, epochs=5, verbose=0, callbacks=[recorder])
    assert history.epoch == [0, 1]


def test_stop_training_at_epoch_begin_still_runs_one_batch(tiny_data):
    x, y = tiny_data
    recorder = StopAt("epoch_begin", 0)
    make_model().fit(x, y, batch_size=10, epochs=5, verbose=0, callbacks=[recorder])
    assert [c[0] for c in recorder.calls].count("on_train_batch_end") == 1


def test_stop_training_set_before_fit_is_discarded(tiny_data):
    x, y = tiny_data
    model = make_model()
    model.stop_training = True
    assert model.fit(x, y, epochs=2, verbose=0).epoch == [0, 1]


def test_legacy_on_batch_end_sees_training_batches_only(tiny_data):
    x, y = tiny_data
    from epochal.callbacks import Callback

    class Legacy(Callback):
        def __init__(self):
            super().__init__()
            self.batches = []

        def on_batch_end(self, batch, logs=None):
            self.batches.append((batch, sorted(logs)))

    legacy = Legacy()
    make_model().fit(
        x[:20],
        y[:20],
        batch_size=10,
        epochs=1,
        verbose=0,
        validation_data=(x[20:], y[20:]),
        callbacks=[legacy],
    )
    assert legacy.batches == [(0, ["accuracy", "loss"]), (1, ["accuracy", "loss"])]


def test_callback_added_epoch_key_seen_by_history_but_not_train_end(tiny_data):
    x, y = tiny_data
    from epochal.callbacks import Callback

    class AddsKey(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["learning_rate"] = 0.5

        def on_train_end(self, logs=None):
            self.final = dict(logs)

    adds = AddsKey()
    history = make_model().fit(x, y, epochs=2, verbose=0, callbacks=[adds])
    assert history.history["learning_rate"] == [0.5, 0.5]
    assert "learning_rate" not in adds.final and "loss" in adds.final


@pytest.mark.parametrize("values", [[4, 4, 2]])
def test_batch_logs_are_sample_weighted_running_means(values):
    """Batches of 4, 4 and 2 samples: the third value is the mean over 10 samples."""
    import torch

    import epochal
    from epochal.callbacks import Callback

    model = epochal.Model(torch.nn.Linear(1, 1, bias=False), device="cpu")
    with torch.no_grad():
        model.module.weight.fill_(0.0)
    model.compile(optimizer=epochal.optimizers.SGD(learning_rate=0.0), loss="mae")
    x = np.ones((10, 1), dtype="float32")
    y = np.arange(10, dtype="float32").reshape(10, 1)

    class Grab(Callback):
        def __init__(self):
            super().__init__()
            self.losses = []

        def on_train_batch_end(self, batch, logs=None):
            self.losses.append(logs["loss"])

    grab = Grab()
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[grab])
    assert grab.losses == pytest.approx([1.5, 3.5, 4.5])
    assert history.history["loss"] == pytest.approx([4.5])
