"""LambdaCallback: every hook by keyword, Keras' call forms, unknown names kept as attributes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model

from epochal.callbacks import LambdaCallback
from epochal.callbacks.callback import HOOKS


def recorder(calls, name):
    if name in (
        "on_train_begin",
        "on_train_end",
        "on_test_begin",
        "on_test_end",
        "on_predict_begin",
        "on_predict_end",
    ):
        return lambda logs: calls.append((name, None, type(logs).__name__))
    if name in ("on_epoch_begin", "on_epoch_end"):
        return lambda epoch, logs: calls.append((name, epoch, type(logs).__name__))
    # Batch hooks receive `logs` as a keyword, as in Keras.
    return lambda batch, *, logs: calls.append((name, batch, type(logs).__name__))


def test_every_hook_is_called_in_fit_evaluate_and_predict(tiny_data):
    x, y = tiny_data
    calls = []
    cb = LambdaCallback(**{name: recorder(calls, name) for name in HOOKS})
    model = make_model()
    model.fit(
        x, y, epochs=1, batch_size=20, validation_data=(x[:10], y[:10]), verbose=0, callbacks=[cb]
    )
    model.evaluate(x, y, batch_size=40, verbose=0, callbacks=[cb])
    model.predict(x, batch_size=40, verbose=0, callbacks=[cb])
    names = [c[0] for c in calls]
    assert set(names) == set(HOOKS)
    assert names[:3] == ["on_train_begin", "on_epoch_begin", "on_train_batch_begin"]
    assert ("on_epoch_end", 0) in [(n, i) for n, i, _ in calls]
    assert [i for n, i, _ in calls if n == "on_train_batch_end"] == [0, 1]


def test_legacy_batch_names_receive_training_batches(tiny_data):
    x, y = tiny_data
    begins, ends = [], []
    cb = LambdaCallback(
        on_batch_begin=lambda batch, logs: begins.append(batch),
        on_batch_end=lambda batch, logs: ends.append((batch, logs["loss"])),
    )
    assert cb.implements("on_train_batch_begin")
    assert cb.implements("on_train_batch_end")
    assert not cb.implements("on_test_batch_end")
    make_model().fit(
        x, y, epochs=1, batch_size=20, validation_data=(x, y), verbose=0, callbacks=[cb]
    )
    assert begins == [0, 1]
    assert [b for b, _ in ends] == [0, 1]
    assert all(np.isfinite(loss) for _, loss in ends)


def test_only_given_hooks_are_implemented():
    cb = LambdaCallback(on_epoch_end=lambda e, logs: None)
    assert [h for h in HOOKS if cb.implements(h)] == ["on_epoch_end"]
    assert not LambdaCallback().implements("on_train_batch_end")


def test_unknown_keywords_become_attributes_as_in_keras(tiny_data):
    def custom_method():
        return "custom"

    cb = LambdaCallback(on_epoch_end=lambda e, logs: None, custom_method=custom_method, limit=3)
    assert cb.custom_method is custom_method and cb.limit == 3
    assert [h for h in HOOKS if cb.implements(h)] == ["on_epoch_end"]
    x, y = tiny_data
    make_model().fit(x, y, epochs=1, verbose=0, callbacks=[cb])  # never called, never breaks


def test_misspelt_hook_warns_once_naming_the_closest_hook():
    seen = []
    with pytest.warns(UserWarning, match=r"`on_epoch_ends` is not a hook.*`on_epoch_end`") as w:
        cb = LambdaCallback(on_epoch_ends=lambda e, logs: seen.append(e))
    assert len(w) == 1
    assert callable(cb.on_epoch_ends) and not cb.implements("on_epoch_end")


def test_keywords_that_would_replace_the_callback_itself_are_refused():
    for name in ("set_model", "model", "implements", "_hooks", "params"):
        with pytest.raises(TypeError, match=f"`{name}` would replace"):
            LambdaCallback(**{name: 1})


def test_non_callable_is_a_type_error():
    with pytest.raises(TypeError, match="`on_epoch_end` must be a function"):
        LambdaCallback(on_epoch_end=3)


def test_batch_lambda_must_name_logs(tiny_data):
    x, y = tiny_data
    cb = LambdaCallback(on_train_batch_end=lambda b, lg: None)
    with pytest.raises(TypeError, match="logs"):
        make_model().fit(x, y, epochs=1, verbose=0, callbacks=[cb])


def test_epoch_logs_additions_are_seen_by_history(tiny_data):
    x, y = tiny_data
    cb = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(extra=epoch * 2.0))
    history = make_model().fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert history.history["extra"] == [0.0, 2.0]
