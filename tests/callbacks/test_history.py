"""History and the legacy BaseLogger."""

from __future__ import annotations

import pytest

from epochal.callbacks import BaseLogger, History
from tests.conftest import make_model


def test_fit_returns_a_fresh_history_each_time(tiny_data):
    x, y = tiny_data
    model = make_model()
    first = model.fit(x, y, epochs=2, verbose=0)
    second = model.fit(x, y, epochs=1, verbose=0)
    assert first is not second and len(second.history["loss"]) == 1
    assert model.history is second


def test_user_history_is_used_and_keeps_growing_across_fits(tiny_data):
    x, y = tiny_data
    model = make_model()
    history = History()
    assert model.fit(x, y, epochs=2, verbose=0, callbacks=[history]) is history
    model.fit(x, y, epochs=1, verbose=0, callbacks=[history])
    assert history.epoch == [0] and len(history.history["loss"]) == 3


def test_state_dict_round_trip():
    history = History()
    history.on_train_begin()
    history.on_epoch_end(0, {"loss": 1.0})
    restored = History()
    restored.load_state_dict(history.state_dict())
    assert restored.history == {"loss": [1.0]} and restored.epoch == [0]


def test_base_logger_is_a_warning_no_op(tiny_data):
    x, y = tiny_data
    with pytest.warns(DeprecationWarning, match="BaseLogger"):
        logger = BaseLogger()
    history = make_model().fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    assert sorted(history.history) == ["accuracy", "loss"]
