"""MonitorCallback: mode handling, auto direction, aliases, missing keys, improvement test."""

from __future__ import annotations

import math
import warnings

import pytest
from _helpers import StubModel

from epochal.callbacks.monitor_callback import MonitorCallback


def make(monitor="val_loss", model=None, **kwargs):
    cb = MonitorCallback(monitor=monitor, **kwargs)
    cb.model = model or StubModel()
    return cb


def test_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="mode 'maxx' is unknown, fallback to auto"):
        cb = MonitorCallback(mode="maxx")
    assert cb.mode == "auto"


def test_min_delta_sign_is_dropped():
    assert MonitorCallback(min_delta=-0.25).min_delta == 0.25


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        ("loss", "min"),
        ("val_loss", "min"),
        ("accuracy", "max"),
        ("val_accuracy", "max"),
        ("val_acc", "max"),  # legacy spelling, resolved through the alias
        ("val_auc", "max"),
        ("precision", "max"),
        ("recall", "max"),
        ("val_mse", "min"),
        ("mean_absolute_error", "min"),
        ("val_my_loss", "min"),
        ("precision_at_recall", "max"),
    ],
)
def test_auto_direction(monitor, expected):
    cb = make(monitor, StubModel(directions={}))
    cb.resolve_direction()
    assert cb.direction == expected


def test_auto_direction_uses_the_model_declared_direction():
    cb = make("val_custom", StubModel(directions={"custom": "up"}))
    cb.resolve_direction()
    assert cb.direction == "max"


def test_explicit_mode_wins_over_name():
    cb = make("val_accuracy", mode="min")
    cb.resolve_direction()
    assert cb.direction == "min"


def test_auto_unknown_name_raises_with_keras_phrase_and_keys():
    cb = make("val_custom", StubModel(directions={}))
    with pytest.raises(ValueError, match="isn't able to automatically determine") as info:
        cb.resolve_direction({"loss": 1.0, "custom": 2.0})
    assert "mode='max'" in str(info.value)
    assert "mode='min'" in str(info.value)
    assert "custom, loss" in str(info.value)


def test_legacy_alias_resolves_with_one_warning_per_fit():
    cb = make("val_acc")
    logs = {"loss": 1.0, "val_accuracy": 0.5}
    with pytest.warns(UserWarning, match="using `val_accuracy`"):
        assert cb.get_monitor_value(logs) == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cb.get_monitor_value(logs) == 0.5
    cb._reset_monitor_warnings()
    with pytest.warns(UserWarning, match="using `val_accuracy`"):
        cb.get_monitor_value(logs)


def test_alias_works_the_other_way_round():
    cb = make("accuracy")
    with pytest.warns(UserWarning, match="using `acc`"):
        assert cb.get_monitor_value({"acc": 0.75}) == 0.75


def test_missing_monitor_warns_once_naming_keys_and_closest():
    cb = make("val_los")
    logs = {"loss": 1.0, "val_loss": 2.0}
    with pytest.warns(UserWarning, match="val_los") as record:
        assert cb.get_monitor_value(logs) is None
    text = str(record[0].message)
    assert "loss,val_loss" in text
    assert "Did you mean `val_loss`" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cb.get_monitor_value(logs) is None


@pytest.mark.parametrize(
    ("mode", "delta", "current", "reference", "expected"),
    [
        ("min", 0.0, 1.0, None, True),
        ("min", 0.0, math.nan, None, True),  # Keras: None is beaten even by NaN
        ("min", 0.0, math.nan, 1.0, False),
        ("min", 0.0, 1.0, math.nan, False),
        ("min", 0.0, 0.9, 1.0, True),
        ("min", 0.0, 1.0, 1.0, False),
        ("min", 0.5, 4.8, 5.0, False),
        ("min", 0.5, 4.4, 5.0, True),
        ("max", 0.0, 1.1, 1.0, True),
        ("max", 0.5, 5.2, 5.0, False),
        ("max", 0.5, 5.6, 5.0, True),
        ("max", 0.0, 0.9, 1.0, False),
        ("min", 0.0, 1.0 - 1e-9, 1.0, False),  # float32 tie
    ],
)
def test_is_improvement(mode, delta, current, reference, expected):
    cb = MonitorCallback(mode=mode, min_delta=delta)
    cb.resolve_direction()
    assert cb.is_improvement(current, reference) is expected
