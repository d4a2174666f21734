"""ReduceLROnPlateau: patience, cooldown, min_lr, logs and legacy arguments (SPEC §9)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from _helpers import StubModel
from conftest import make_model

from epochal.callbacks import LambdaCallback, ReduceLROnPlateau


def run_scripted(values, lr=1.0, monitor="val_loss", **kwargs):
    """Scripted epoch logs; returns (callback, LR used per epoch, logged learning_rate).

    ``used`` has one extra entry: the LR after the last epoch end.
    """
    cb = ReduceLROnPlateau(monitor=monitor, **kwargs)
    cb.model = StubModel()
    cb.model.optimizer.learning_rate = lr
    cb.on_train_begin()
    used, logged = [], []
    for epoch, value in enumerate(values):
        used.append(cb.model.optimizer.learning_rate)
        logs = {monitor: value}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
    used.append(cb.model.optimizer.learning_rate)
    return cb, used, logged


def reductions(used):
    """0-based epochs at whose end the LR was reduced."""
    return [e for e in range(len(used) - 1) if used[e + 1] < used[e]]


@pytest.mark.parametrize(
    ("cooldown", "expected"),
    [(0, [2, 4, 6]), (1, [2, 4, 6]), (2, [2, 5]), (3, [2, 6])],
)
def test_cooldown_counting_on_a_flat_metric(cooldown, expected):
    _, used, _ = run_scripted([1.0] * 8, factor=0.5, patience=2, cooldown=cooldown)
    assert reductions(used) == expected


def test_patience_zero_reduces_every_non_improving_epoch():
    _, used, _ = run_scripted([1.0, 2.0, 2.0, 0.5, 0.6], factor=0.5, patience=0)
    assert reductions(used) == [1, 2, 4]  # epoch 0 sets best, epoch 3 improves


def test_min_lr_clamp_and_no_cooldown_at_the_floor():
    cb, used, _ = run_scripted([1.0] * 8, lr=1.0, factor=0.1, patience=1, min_lr=0.05, cooldown=2)
    assert reductions(used) == [1, 3]
    # 0.1 -> max(0.01, 0.05): clamped at min_lr; then nothing changes, the wait keeps growing
    # and no cooldown starts.
    assert used[-1] == 0.05
    assert cb.wait == 3
    assert cb.cooldown_counter == 0


def test_min_delta_in_both_modes():
    _, used, _ = run_scripted([1.0, 0.95, 0.9], factor=0.5, patience=2, min_delta=0.1)
    assert reductions(used) == [2]  # neither 0.95 nor 0.9 beats 1.0 by more than 0.1
    _, used, _ = run_scripted(
        [0.5, 0.55, 0.7], monitor="val_accuracy", factor=0.5, patience=2, min_delta=0.1
    )
    assert reductions(used) == []  # 0.7 beats 0.5 + 0.1: wait reset


def test_logs_learning_rate_is_the_pre_reduction_value():
    _, used, logged = run_scripted([1.0, 1.0, 1.0], factor=0.5, patience=1)
    assert logged == used[:-1]
    assert logged == [1.0, 1.0, 0.5]


def test_factor_at_least_one_is_an_error():
    with pytest.raises(ValueError, match=r"does not support a factor >= 1.0. Received factor=1.5"):
        ReduceLROnPlateau(factor=1.5)
    with pytest.raises(ValueError, match=r"factor >= 1\.0"):
        ReduceLROnPlateau(factor=1.0)


def test_non_numeric_arguments_are_type_errors():
    with pytest.raises(TypeError, match="patience='2'"):
        ReduceLROnPlateau(patience="2")


def test_legacy_epsilon_maps_to_min_delta():
    with pytest.warns(DeprecationWarning, match="`epsilon` argument is deprecated"):
        cb = ReduceLROnPlateau(epsilon=-0.01)
    assert cb.min_delta == 0.01


def test_other_unknown_keywords_warn():
    with pytest.warns(UserWarning, match="ignores unknown argument"):
        ReduceLROnPlateau(foo=1)


def test_unknown_mode_warns_and_falls_back():
    with pytest.warns(UserWarning, match="ReduceLROnPlateau mode 'up' is unknown, fallback"):
        assert ReduceLROnPlateau(mode="up").mode == "auto"


def test_missing_monitor_warns_once_per_fit(tiny_data):
    x, y = tiny_data
    model = make_model()
    cb = ReduceLROnPlateau(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match="Learning rate reduction is conditioned on metric") as rec:
        history = model.fit(x, y, epochs=3, verbose=0, callbacks=[cb])
    assert sum("Learning rate reduction" in str(w.message) for w in rec) == 1
    assert history.history["learning_rate"] == [pytest.approx(0.01)] * 3


def test_every_param_group_moves_and_history_records_lr(tiny_data):
    x, y = tiny_data
    model = make_model()
    module = model.module
    params = list(module.parameters())
    optimizer = torch.optim.SGD(
        [{"params": params[:2], "lr": 0.1}, {"params": params[2:], "lr": 0.01}]
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    always_worse = iter(range(100))
    script = LambdaCallback(on_epoch_end=lambda e, logs: logs.update(s=float(next(always_worse))))
    cb = ReduceLROnPlateau(monitor="s", mode="min", factor=0.5, patience=1)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[script, cb])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05])
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.025, 0.0025])
    assert float(model.optimizer.learning_rate) == pytest.approx(0.025)


def test_reused_across_two_fits_resets_state():
    cb = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
    cb.model = StubModel()
    cb.on_train_begin()
    for epoch, value in enumerate([1.0, 2.0]):
        cb.on_epoch_end(epoch, {"val_loss": value})
    assert (cb.best, cb.wait) == (1.0, 1)
    cb.on_train_begin()
    assert (cb.best, cb.wait, cb.cooldown_counter) == (None, 0, 0)
    cb.on_epoch_end(0, {"val_loss": 5.0})
    assert cb.best == 5.0  # a fresh best: 5.0 would not beat the old 1.0


def test_verbose_message():
    lines = []
    cb = ReduceLROnPlateau(factor=0.5, patience=1, verbose=1, print_fn=lines.append)
    cb.model = StubModel()
    cb.on_train_begin()
    cb.on_epoch_end(0, {"val_loss": 1.0})
    cb.on_epoch_end(1, {"val_loss": 1.0})
    assert lines == ["\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.05."]


def test_state_dict_round_trip():
    full, used_full, _ = run_scripted([1.0, 1.0, 1.0, 1.0, 1.0], factor=0.5, patience=2, cooldown=2)
    cb, _, _ = run_scripted([1.0, 1.0, 1.0], factor=0.5, patience=2, cooldown=2)
    resumed = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2)
    resumed.model = StubModel()
    resumed.model.optimizer.learning_rate = cb.model.optimizer.learning_rate
    resumed.load_state_dict(cb.state_dict())
    for epoch in (3, 4):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            resumed.on_epoch_end(epoch, {"val_loss": 1.0})
    assert resumed.state_dict() == full.state_dict()
    assert resumed.model.optimizer.learning_rate == full.model.optimizer.learning_rate
    assert np.isfinite(used_full).all()
    with pytest.raises(KeyError, match="missing"):
        ReduceLROnPlateau().load_state_dict({})
