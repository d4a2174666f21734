"""CallbackList: dispatch, defaults, errors; Callback defaults."""

from __future__ import annotations

import pytest

from epochal.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
    History,
    ProgbarLogger,
    RunGuard,
)
from tests._helpers import RecordingCallback, StubModel


def test_history_and_progbar_are_appended_after_user_callbacks():
    user = Callback()
    callbacks = CallbackList(
        [user], add_history=True, add_progbar=True, verbose=1, epochs=1, steps=2
    )
    assert callbacks.callbacks[0] is user
    assert isinstance(callbacks.callbacks[1], History)
    assert isinstance(callbacks.callbacks[2], ProgbarLogger)
    assert user.params == {"verbose": 1, "epochs": 1, "steps": 2}


def test_a_single_callback_is_accepted():
    user = Callback()
    assert CallbackList(user).callbacks == [user]


def test_only_implemented_hooks_are_dispatched():
    class OnlyEpochs(Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    class Legacy(Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    callbacks = CallbackList([OnlyEpochs()])
    assert callbacks.implements("on_epoch_end")
    assert not callbacks.implements("on_train_batch_end")
    assert CallbackList([Legacy()]).implements("on_train_batch_end")
    assert not CallbackList([Legacy()]).implements("on_test_batch_end")


def test_logs_are_one_sorted_dict_shared_along_the_list():
    seen = []

    class Adds(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["learning_rate"] = 0.1

    class Reads(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(list(logs))

    callbacks = CallbackList([Adds(), Reads()])
    callbacks.on_epoch_begin(0)
    callbacks.on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5})
    assert seen == [["accuracy", "loss", "learning_rate"]]


def test_end_without_begin_is_an_error():
    with pytest.raises(
        ValueError, match="`on_train_end` called without corresponding `on_train_begin`"
    ):
        CallbackList([Callback()]).on_train_end()


def test_logs_are_never_none():
    recorder = RecordingCallback()
    callbacks = CallbackList([recorder])
    callbacks.on_train_begin()
    callbacks.on_train_batch_begin(0)
    assert recorder.calls == [("on_train_begin", None, ()), ("on_train_batch_begin", 0, ())]


def test_model_is_settable_and_set_model_sets_history():
    model = StubModel()
    history = History()
    CallbackList([history], model=model)
    assert history.model is model and model.history is history
    callback = Callback()
    callback.model = model
    assert callback.model is model


def test_subclass_without_super_init_still_works():
    class NoInit(Callback):
        def __init__(self):
            self.count = 0

    callback = NoInit()
    CallbackList([callback], model=StubModel(), verbose=0, epochs=1, steps=1)
    assert callback.params["epochs"] == 1 and callback.model is not None


def test_state_dicts_keyed_by_state_key_whatever_the_position():
    history = History()
    history.history = {"loss": [1.0]}
    callbacks = CallbackList([Callback(), history])
    state = callbacks.state_dict()
    assert list(state) == ["History"]
    other = History()
    CallbackList([other, Callback()]).load_state_dict(state)
    assert other.history == {"loss": [1.0]}


def test_state_key_tells_instances_apart_by_their_identifying_arguments():
    loss, acc = EarlyStopping(monitor="loss"), EarlyStopping(monitor="accuracy", mode="max")
    assert loss.state_key == "EarlyStopping{'monitor': 'loss', 'mode': 'auto'}"
    assert loss.state_key != acc.state_key
    loss.wait, acc.wait = 1, 2
    state = CallbackList([loss, acc]).state_dict()
    fresh_acc, fresh_loss = EarlyStopping(monitor="accuracy", mode="max"), EarlyStopping("loss")
    CallbackList([fresh_acc, fresh_loss]).load_state_dict(state)  # order swapped
    assert (fresh_loss.wait, fresh_acc.wait) == (1, 2)


def test_same_state_key_twice_is_numbered_in_list_order():
    first, second = History(), History()
    first.history, second.history = {"loss": [1.0]}, {"loss": [2.0]}
    state = CallbackList([first, second]).state_dict()
    assert list(state) == ["History", "History#2"]


def test_unclaimed_saved_state_is_named_in_a_warning():
    stopper = EarlyStopping(monitor="loss")
    stopper.wait = 3
    state = CallbackList([stopper, History()]).state_dict()
    with pytest.warns(UserWarning, match=r"does not have: EarlyStopping\{'monitor': 'loss'"):
        CallbackList([History()]).load_state_dict(state)


def test_backups_keyed_by_position_still_load():
    history = History()
    legacy = {"1:History": {"history": {"a": [1]}, "epoch": [0]}}
    CallbackList([Callback(), history]).load_state_dict(legacy)
    assert history.history == {"a": [1]}


def test_end_run_reaches_every_callback_and_reraises_the_first_error():
    calls = []

    class Ender(Callback):
        def __init__(self, name, error=None):
            super().__init__()
            self.name, self.error = name, error

        def restore_run(self):
            pass

        def interrupt_run(self):
            pass

        def end_run(self):
            calls.append(self.name)
            if self.error:
                raise self.error

    first = RuntimeError("first")
    callbacks = CallbackList([Ender("a", first), Ender("b", ValueError("second")), Ender("c")])
    with pytest.raises(RuntimeError) as info:
        callbacks.end_run()
    assert info.value is first
    assert calls == ["a", "b", "c"]


def test_fit_calls_end_run_after_on_train_end_and_when_it_raises(tiny_data, compiled_model):
    x, y = tiny_data
    order = []

    class Tracker(Callback):
        def on_train_end(self, logs=None):
            order.append("on_train_end")

        def restore_run(self):
            pass

        def interrupt_run(self):
            pass

        def end_run(self):
            order.append("end_run")

    compiled_model().fit(x, y, epochs=1, verbose=0, callbacks=[Tracker()])
    assert order == ["on_train_end", "end_run"]
    order.clear()

    class Boom(Tracker):
        def on_epoch_end(self, epoch, logs=None):
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        compiled_model().fit(x, y, epochs=1, verbose=0, callbacks=[Boom()])
    assert order == ["end_run"]


def test_a_partial_run_guard_is_refused():
    class Half(Callback):
        def end_run(self):
            pass

    with pytest.raises(TypeError, match="defines end_run but not restore_run, interrupt_run"):
        CallbackList([Half()])


def test_run_guards_get_every_hook_after_the_other_callbacks():
    order = []

    class Guard(Callback):
        def restore_run(self):
            pass

        def interrupt_run(self):
            pass

        def end_run(self):
            pass

        def on_epoch_end(self, epoch, logs=None):
            order.append("guard")

    class Plain(Callback):
        def on_epoch_end(self, epoch, logs=None):
            order.append("plain")

    callbacks = CallbackList([Guard(), Plain()])
    assert isinstance(callbacks.callbacks[0], RunGuard)
    callbacks.on_epoch_begin(0)
    callbacks.on_epoch_end(0, {})
    assert order == ["plain", "guard"]
