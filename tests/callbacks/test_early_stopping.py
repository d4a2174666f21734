"""EarlyStopping: Keras 3's patience counting, baseline rule and restore semantics."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from _helpers import StubModel
from conftest import make_model

from epochal.callbacks import Callback, EarlyStopping, LambdaCallback


def run_scripted(values, monitor="val_loss", **kwargs):
    """Drives the hooks with scripted epoch logs; returns (callback, stop epoch or None)."""
    cb = EarlyStopping(monitor=monitor, **kwargs)
    cb.model = StubModel()
    cb.on_train_begin()
    stopped = None
    for epoch, value in enumerate(values):
        cb.on_epoch_end(epoch, {monitor: value})
        if cb.model.stop_training:
            stopped = epoch
            break
    cb.on_train_end()
    return cb, stopped


# Scripted results verified against Keras 3.15 (SPEC §5).
@pytest.mark.parametrize(
    ("values", "kwargs", "expected"),
    [
        ([5, 4, 4.5, 4.2], {"patience": 2}, 3),
        ([5, 6, 7], {"patience": 0}, 1),
        ([5, 6, 7], {"patience": 1}, 1),  # patience=0 behaves like patience=1
        ([5, 4.8, 4.7], {"min_delta": 0.5, "patience": 1}, 1),  # 4.8 is no improvement
        ([5, 4.4, 4.3], {"min_delta": 0.5, "patience": 1}, 2),
        ([5, 6], {"baseline": 1, "patience": 2}, 1),  # baseline never beaten, worsening
        ([5, 4, 3, 2, 1.5, 1.2], {"baseline": 1, "patience": 2}, None),  # improving: never stops
        ([1, 2, 3, 4, 5], {"start_from_epoch": 2, "patience": 0}, 3),
        ([9, 9, 1, 2], {"start_from_epoch": 2, "patience": 1}, 3),
        ([1, 1, 1], {"patience": 2}, 2),  # a tie is no improvement
    ],
)
def test_scripted_stop_epochs(values, kwargs, expected):
    _, stopped = run_scripted(values, **kwargs)
    assert stopped == expected


def test_min_delta_in_max_mode():
    _, stopped = run_scripted([0.5, 0.55, 0.58], monitor="val_accuracy", min_delta=0.1, patience=2)
    assert stopped == 2
    _, stopped = run_scripted([0.5, 0.65, 0.8], monitor="val_accuracy", min_delta=0.1, patience=1)
    assert stopped is None


def test_first_value_nan_becomes_best_and_nothing_improves():
    cb, stopped = run_scripted([math.nan, 1.0, 0.5], patience=2)
    assert math.isnan(cb.best)
    assert stopped == 2


def test_negative_min_delta_sign_dropped():
    assert EarlyStopping(min_delta=-0.5).min_delta == 0.5


def test_bad_argument_types_raise():
    with pytest.raises(TypeError, match="patience='3'"):
        EarlyStopping(patience="3")
    with pytest.raises(TypeError, match="start_from_epoch"):
        EarlyStopping(start_from_epoch=None)


def test_unknown_mode_warns():
    with pytest.warns(UserWarning, match="EarlyStopping mode 'lowest' is unknown, fallback"):
        EarlyStopping(mode="lowest")


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError):
        EarlyStopping(monitr="loss")


def test_missing_monitor_warns_once_per_fit_and_never_stops(compiled_model, tiny_data):
    x, y = tiny_data
    model = compiled_model()
    cb = EarlyStopping(monitor="val_loss", mode="min", patience=0)
    with pytest.warns(UserWarning, match="Early stopping conditioned on metric `val_loss`") as rec:
        history = model.fit(x, y, epochs=4, verbose=0, callbacks=[cb])
    messages = [str(w.message) for w in rec if "Early stopping" in str(w.message)]
    assert len(messages) == 1
    assert "accuracy,loss" in messages[0]
    assert history.epoch == [0, 1, 2, 3]
    with pytest.warns(UserWarning, match="Early stopping conditioned"):  # again in the next fit
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])


def test_auto_mode_unknown_metric_raises(compiled_model, tiny_data):
    x, y = tiny_data
    with pytest.raises(ValueError, match="isn't able to automatically determine"):
        compiled_model().fit(x, y, epochs=1, verbose=0, callbacks=[EarlyStopping(monitor="foo")])


def test_legacy_val_acc_monitors_val_accuracy(compiled_model, tiny_data):
    x, y = tiny_data
    cb = EarlyStopping(monitor="val_acc", patience=100)
    with pytest.warns(UserWarning, match="using `val_accuracy`"):
        compiled_model().fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[cb])
    assert cb.direction == "max"
    assert cb.best is not None


class Script(Callback):
    """Writes a scripted value into the epoch logs and records the weights at each epoch end."""

    def __init__(self, values):
        super().__init__()
        self.values = values
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs["scripted"] = self.values[epoch]
        self.weights.append([w.copy() for w in self.model.get_weights()])


def fit_scripted(values, epochs=None, extra=(), **kwargs):
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = make_model(optimizer="adam")
    script = Script(values)
    cb = EarlyStopping(monitor="scripted", mode="min", **kwargs)
    history = model.fit(
        x, y, epochs=epochs or len(values), batch_size=8, verbose=0, callbacks=[script, cb, *extra]
    )
    return model, script, cb, history


def assert_weights_equal(model, expected):
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_restore_best_weights_after_stopping_is_exact():
    model, script, cb, history = fit_scripted(
        [3, 2, 1, 2, 3, 4, 5], patience=2, restore_best_weights=True, verbose=1
    )
    assert history.epoch == [0, 1, 2, 3, 4]
    assert cb.stopped_epoch == 4
    assert cb.best_epoch == 2
    assert_weights_equal(model, script.weights[2])


def test_restore_even_without_stopping():
    model, script, cb, _ = fit_scripted([3, 1, 2, 2], patience=10, restore_best_weights=True)
    assert cb.stopped_epoch == 0
    assert_weights_equal(model, script.weights[1])


def test_baseline_never_beaten_restores_best_of_the_run():
    model, script, cb, history = fit_scripted(
        [5, 4, 4.5, 6, 7], baseline=1.0, patience=2, restore_best_weights=True
    )
    assert history.epoch == [0, 1, 2]  # wait counted from epoch 0: never reset
    assert cb.best_epoch == 1
    assert_weights_equal(model, script.weights[1])


def test_no_restore_keeps_last_weights():
    model, script, _, _ = fit_scripted([3, 1, 2, 2], patience=10)
    assert_weights_equal(model, script.weights[-1])


def test_start_from_epoch_snapshot_starts_there():
    model, script, cb, _ = fit_scripted(
        [0, 0, 5, 6, 7], start_from_epoch=2, patience=5, restore_best_weights=True
    )
    assert cb.best_epoch == 2
    assert_weights_equal(model, script.weights[2])


def test_best_weights_kept_on_device_without_host_copies(monkeypatch):
    x = np.zeros((8, 4), "float32")
    y = np.zeros(8, "int64")
    model = make_model()
    script = Script([3, 2, 1])

    def forbidden():
        raise AssertionError("get_weights() copies to the host")

    cb = EarlyStopping(monitor="scripted", mode="min", restore_best_weights=True, patience=5)
    model.fit(x, y, epochs=1, verbose=0)  # build
    script_weights = script.weights
    monkeypatch.setattr(
        script, "on_epoch_end", lambda epoch, logs=None: logs.update(scripted=[3, 2, 1][epoch])
    )
    monkeypatch.setattr(model, "get_weights", forbidden)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[script, cb])
    assert script_weights == []
    device = next(model.module.parameters()).device
    params = dict(model.module.named_parameters())
    for name, tensor in cb.best_weights.items():
        assert isinstance(tensor, torch.Tensor)
        assert tensor.device == device
        if name in params:
            assert tensor.data_ptr() != params[name].data_ptr()


def test_reused_across_two_fits_resets_state():
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = make_model()
    values = iter([1, 2, 3, 9, 9, 9, 9])
    script = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(scripted=next(values)))
    cb = EarlyStopping(monitor="scripted", mode="min", patience=2)
    first = model.fit(x, y, epochs=6, verbose=0, callbacks=[script, cb])
    assert first.epoch == [0, 1, 2]
    assert cb.stopped_epoch == 2
    # A fresh run: best restarts from None (9 is the new best), the wait from 0. Without the
    # reset, best=1 would make the run stop at epoch 1.
    second = model.fit(x, y, epochs=4, verbose=0, callbacks=[script, cb])
    assert second.epoch == [0, 1, 2]
    assert (cb.best, cb.stopped_epoch) == (9, 2)


def test_verbose_messages():
    lines = []
    cb = EarlyStopping(
        monitor="val_loss", patience=1, restore_best_weights=True, verbose=1, print_fn=lines.append
    )
    cb.model = StubModel()
    cb.model.state_dict = lambda: {"w": torch.zeros(1)}
    cb.model.load_state_dict = lambda state: None
    cb.on_train_begin()
    for epoch, value in enumerate([2, 1, 3]):
        cb.on_epoch_end(epoch, {"val_loss": value})
    cb.on_train_end()
    assert lines == [
        "Epoch 3: early stopping",
        "Restoring model weights from the end of the best epoch: 2.",
    ]


def test_state_dict_round_trip_resumes_exactly():
    full, stopped_full = run_scripted([5, 4, 4.5, 4.6, 4.7], patience=3)
    cb = EarlyStopping(patience=3)
    cb.model = StubModel()
    cb.on_train_begin()
    for epoch, value in enumerate([5, 4, 4.5]):
        cb.on_epoch_end(epoch, {"val_loss": value})
    state = cb.state_dict()
    resumed = EarlyStopping(patience=3)
    resumed.model = StubModel()
    resumed.load_state_dict(state)
    for epoch, value in [(3, 4.6), (4, 4.7)]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            resumed.on_epoch_end(epoch, {"val_loss": value})
        if resumed.model.stop_training:
            break
    assert (resumed.stopped_epoch, resumed.best, resumed.wait) == (
        full.stopped_epoch,
        full.best,
        full.wait,
    )
    assert stopped_full == 4


def test_state_dict_includes_best_weights_as_tensors():
    _, _, cb, _ = fit_scripted([2, 1], restore_best_weights=True, patience=3)
    state = cb.state_dict()
    assert all(isinstance(t, torch.Tensor) for t in state["best_weights"].values())
    with pytest.raises(KeyError, match="missing"):
        EarlyStopping().load_state_dict({"wait": 0})
