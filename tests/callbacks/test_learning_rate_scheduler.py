"""LearningRateScheduler: arity detection, result checks, logs, seed 000/004 schedules."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from _helpers import StubModel
from conftest import make_model

from epochal.callbacks import LambdaCallback, LearningRateScheduler, ReduceLROnPlateau
from epochal.optimizers import SGD


def drive(schedule, epochs=3, lr=0.1, **kwargs):
    cb = LearningRateScheduler(schedule, **kwargs)
    cb.model = StubModel()
    cb.model.optimizer.learning_rate = lr
    seen = []
    for epoch in range(epochs):
        cb.on_epoch_begin(epoch)
        logs = {}
        cb.on_epoch_end(epoch, logs)
        seen.append(logs["learning_rate"])
    return seen


def test_two_argument_schedule_receives_the_current_lr():
    calls = []

    def schedule(epoch, lr):
        calls.append((epoch, lr))
        return lr * 0.5

    assert drive(schedule, lr=1.0) == [0.5, 0.25, 0.125]
    assert calls == [(0, 1.0), (1, 0.5), (2, 0.25)]


def test_one_argument_schedule():
    assert drive(lambda epoch: 0.1 / (epoch + 1)) == [0.1, 0.05, pytest.approx(0.1 / 3)]


def test_arity_from_signature_defaults_and_partials():
    assert drive(lambda epoch, lr=None: 0.5 if lr is not None else 0.0) == [0.5] * 3
    assert drive(functools.partial(lambda scale, epoch: scale * epoch, 0.5)) == [0.0, 0.5, 1.0]


def test_type_error_inside_a_two_argument_schedule_is_not_hidden():
    def schedule(epoch, lr):
        return lr + "oops"

    with pytest.raises(TypeError, match="unsupported operand"):
        drive(schedule)


@pytest.mark.parametrize(
    "bad", [1, True, "0.1", None, math.nan, np.int64(1), torch.tensor([0.1, 0.2]), torch.tensor(1)]
)
def test_non_float_results_are_value_errors(bad):
    with pytest.raises(ValueError, match="The output of the `schedule` function should be a float"):
        drive(lambda epoch: bad)


@pytest.mark.parametrize(
    "good",
    [
        0.05,
        np.float32(0.05),
        np.float64(0.05),
        np.float16(0.05),
        torch.tensor(0.05),
        torch.tensor(0.05, dtype=torch.float64),
    ],
)
def test_float_results_are_accepted(good):
    assert drive(lambda epoch: good, epochs=1) == [pytest.approx(0.05, rel=1e-3)]


def test_schedule_must_be_callable():
    with pytest.raises(TypeError, match="`schedule` must be a function"):
        LearningRateScheduler(0.1)


def test_optimizer_without_learning_rate():
    cb = LearningRateScheduler(lambda epoch: 0.1)
    cb.model = StubModel()
    cb.model.optimizer = object()
    with pytest.raises(ValueError, match='Optimizer must have a "learning_rate" attribute'):
        cb.on_epoch_begin(0)


def test_verbose_message():
    lines = []
    drive(lambda epoch: 0.5, epochs=1, verbose=1, print_fn=lines.append)
    assert lines == ["\nEpoch 1: LearningRateScheduler setting learning rate to 0.5."]


def test_epochs_are_absolute_with_initial_epoch(tiny_data):
    x, y = tiny_data
    seen = []

    def schedule(epoch):
        seen.append(epoch)
        return 0.01

    make_model().fit(
        x, y, epochs=4, initial_epoch=2, verbose=0, callbacks=[LearningRateScheduler(schedule)]
    )
    assert seen == [2, 3]


def test_sets_every_param_group_in_a_real_fit(tiny_data):
    x, y = tiny_data
    model = make_model()
    params = list(model.module.parameters())
    optimizer = torch.optim.SGD(
        [{"params": params[:2], "lr": 0.1}, {"params": params[2:], "lr": 0.2}]
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    history = model.fit(
        x, y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda e: 0.01 * (e + 1))]
    )
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.02])
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.02, 0.04])


def step_decay(epoch):  # seed 000
    initial_lrate = 0.1
    drop = 0.5
    epochs_drop = 10.0
    return initial_lrate * math.pow(drop, math.floor((1 + epoch) / epochs_drop))


def test_seed000_step_decay_sequence_matches_the_formula(tiny_data):
    x, y = tiny_data
    model = make_model(optimizer=SGD(learning_rate=0.0, momentum=0.9))
    history = model.fit(
        x, y, epochs=30, batch_size=40, verbose=0, callbacks=[LearningRateScheduler(step_decay)]
    )
    expected = [0.1] * 9 + [0.05] * 10 + [0.025] * 10 + [0.0125]  # SPEC §14.2
    assert history.history["learning_rate"] == pytest.approx(expected, rel=1e-6)
    formula = [np.float32(0.1 * 0.5 ** math.floor((1 + e) / 10)) for e in range(30)]
    assert history.history["learning_rate"] == pytest.approx(formula, rel=1e-7)


def test_seed000_time_based_decay_uses_lr0_over_1_plus_decay_k(tiny_data):
    x, y = tiny_data
    lr0, decay = 0.1, 0.001
    with pytest.warns(DeprecationWarning, match="decay"):
        sgd = SGD(learning_rate=lr0, momentum=0.8, decay=decay)
    model = make_model(optimizer=sgd)
    model.fit(x[:8], y[:8], epochs=1, verbose=0)  # build the optimizer
    torch_opt = model.optimizer.torch_optimizer
    used = []
    original = torch_opt.step

    def recording_step(*args, **kwargs):
        used.append(torch_opt.param_groups[0]["lr"])
        return original(*args, **kwargs)

    torch_opt.step = recording_step
    start = model.optimizer.iterations
    model.fit(x, y, epochs=3, batch_size=10, verbose=0)
    assert len(used) == 12
    # lr0 is stored as a float32 (as in Keras); the division is exact float64 arithmetic.
    expected = [float(np.float32(lr0)) / (1 + decay * (start + k)) for k in range(12)]
    assert used == pytest.approx(expected, rel=1e-12)
    # Not per epoch and not compounded: the 2nd..4th updates of the first epoch differ.
    assert len(set(used[:4])) == 4


def constant(epoch):
    return 0.1


def keep_reductions(epoch, lr):
    return lr if lr < 0.1 else 0.1


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (constant, [0.1, 0.1, 0.1, 0.1]),  # the scheduler wins at every epoch begin
        (keep_reductions, [0.1, 0.1, 0.05, 0.025]),  # it starts from `lr`: reductions stay
    ],
)
def test_seed004_interplay_with_reduce_lr_on_plateau(tiny_data, schedule, expected):
    x, y = tiny_data
    model = make_model(optimizer=SGD(learning_rate=0.1))
    used = []
    record = LambdaCallback(
        on_train_batch_begin=lambda b, logs: (
            used.append(float(model.optimizer.learning_rate)) if b == 0 else None
        )
    )
    worse = iter(range(100))
    script = LambdaCallback(on_epoch_end=lambda e, logs: logs.update(s=float(next(worse))))
    plateau = ReduceLROnPlateau(monitor="s", mode="min", factor=0.5, patience=0)
    model.fit(
        x,
        y,
        epochs=4,
        verbose=0,
        callbacks=[LearningRateScheduler(schedule), record, script, plateau],
    )
    assert used == pytest.approx(expected)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("plateau_first", [0.1, 0.05]),  # the scheduler logs the reduced LR last
        ("scheduler_first", [0.1, 0.1]),  # the plateau callback logs the pre-reduction LR last
    ],
)
def test_seed004_log_key_later_callback_wins(tiny_data, order, expected):
    x, y = tiny_data
    worse = iter(range(100))
    script = LambdaCallback(on_epoch_end=lambda e, logs: logs.update(s=float(next(worse))))
    plateau = ReduceLROnPlateau(monitor="s", mode="min", factor=0.5, patience=0)
    scheduler = LearningRateScheduler(keep_reductions)
    pair = [plateau, scheduler] if order == "plateau_first" else [scheduler, plateau]
    history = make_model(optimizer=SGD(learning_rate=0.1)).fit(
        x, y, epochs=2, verbose=0, callbacks=[script, *pair]
    )
    assert history.history["learning_rate"] == pytest.approx(expected)
