"""Learning-rate schedules against values recorded from Keras 3
(tests/fixtures/keras/schedules.json, scripts/record_keras_schedules_metrics.py), and their
interplay with optimizers, saving, BackupAndRestore and the LR callbacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import epochal
from epochal import backend, optimizers
from epochal.callbacks import BackupAndRestore, Callback, LearningRateScheduler, ReduceLROnPlateau
from epochal.optimizers import schedules
from epochal.saving import load_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras"
DATA = json.loads((FIXTURES / "schedules.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", sorted(DATA["cases"]))
def test_schedule_values_match_keras(case):
    spec = DATA["cases"][case]
    schedule = getattr(schedules, spec["class_name"])(**spec["kwargs"])
    got = [float(schedule(step)) for step in DATA["steps"]]
    np.testing.assert_allclose(got, spec["values"], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", sorted(DATA["cases"]))
def test_schedule_serializes_as_keras_and_round_trips(case):
    spec = DATA["cases"][case]
    schedule = getattr(schedules, spec["class_name"])(**spec["kwargs"])
    assert schedules.serialize(schedule) == spec["serialized"]
    clone = schedules.deserialize(spec["serialized"])
    assert type(clone) is type(schedule) and clone.get_config() == schedule.get_config()
    assert float(clone(17)) == float(schedule(17))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), r"`decay_steps` must be > 0"),
        (lambda: schedules.PolynomialDecay(0.1, -3), r"`decay_steps` must be > 0"),
        (lambda: schedules.CosineDecay(0.1, 0), r"`decay_steps` must be > 0"),
        (lambda: schedules.CosineDecayRestarts(0.1, 0), r"`first_decay_steps` must be > 0"),
        (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2]), "1 less than"),
    ],
)
def test_bad_schedule_arguments_raise_as_keras(make, message):
    with pytest.raises(ValueError, match=message):
        make()


class Halving(schedules.LearningRateSchedule):
    """A user schedule: halves every ``every`` steps."""

    def __init__(self, start: float, every: int) -> None:
        self.start, self.every = start, every

    def __call__(self, step):
        return self.start * 0.5 ** (step // self.every)

    def get_config(self):
        return {"start": self.start, "every": self.every}


def test_base_class_must_be_overridden():
    class Empty(schedules.LearningRateSchedule):
        pass

    with pytest.raises(NotImplementedError, match="must override `__call__"):
        Empty()(0)
    with pytest.raises(NotImplementedError, match="get_config"):
        Empty().get_config()


def _sgd_steps(optimizer, steps: int) -> list[float]:
    """The rate each of ``steps`` SGD updates used, read from the weight's change."""
    w = torch.nn.Parameter(torch.zeros(1))
    optimizer.build([w])
    used = []
    for _ in range(steps):
        before = float(w.detach())
        w.grad = torch.ones(1)
        optimizer.step()
        used.append(before - float(w.detach()))
    return used


def test_each_update_uses_schedule_of_iterations():
    schedule = schedules.ExponentialDecay(0.5, 3, 0.5, staircase=True)
    opt = optimizers.SGD(learning_rate=schedule)
    used = _sgd_steps(opt, 7)
    np.testing.assert_allclose(used, [float(schedule(i)) for i in range(7)], rtol=1e-6)
    assert opt.iterations == 7
    assert float(opt.learning_rate) == pytest.approx(float(schedule(7)))
    assert opt.schedule is schedule


def test_custom_schedule_subclass_drives_the_optimizer():
    opt = optimizers.Adamax(learning_rate=Halving(0.4, 2))
    opt.build([torch.nn.Parameter(torch.zeros(2))])
    assert float(opt.learning_rate) == pytest.approx(0.4)
    opt.iterations = 5
    assert float(opt.learning_rate) == pytest.approx(0.1)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam",
                                  "Adamax", "Adadelta", "Lion"])  # fmt: skip
def test_every_optimizer_takes_a_schedule(name):
    schedule = schedules.PiecewiseConstantDecay([1], [0.1, 0.01])
    opt = getattr(optimizers, name)(learning_rate=schedule)
    w = torch.nn.Parameter(torch.ones(3))
    opt.build([w])
    for expected in (0.1, 0.1, 0.01, 0.01):
        w.grad = torch.full((3,), 0.5)
        opt.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(expected)
    config = opt.get_config()
    assert config["learning_rate"]["class_name"] == "PiecewiseConstantDecay"
    clone = optimizers.from_config(name, config)
    assert isinstance(clone.schedule, schedules.PiecewiseConstantDecay)


def test_setting_the_rate_of_a_schedule_raises_keras_type_error():
    opt = optimizers.SGD(learning_rate=schedules.CosineDecay(0.1, 10))
    with pytest.raises(TypeError, match="created with a `LearningRateSchedule`"):
        opt.learning_rate = 0.01
    with pytest.raises(TypeError, match="created with a `LearningRateSchedule`"):
        backend.set_value(opt.learning_rate, 0.01)
    opt.learning_rate = schedules.ExponentialDecay(0.2, 1, 0.5)  # a schedule may be swapped in
    assert float(opt.learning_rate) == pytest.approx(0.2)


def _schedule_model(schedule):
    torch.manual_seed(0)
    model = epochal.Sequential(
        [epochal.layers.Dense(8, activation="relu", input_shape=(4,)), epochal.layers.Dense(2)],
        device="cpu",
    )
    optimizer = optimizers.SGD(learning_rate=schedule, momentum=0.5)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_lr_scheduler_callback_raises_on_a_schedule(tiny_data):
    model = _schedule_model(schedules.PolynomialDecay(0.1, 10))
    with pytest.raises(TypeError, match="created with a `LearningRateSchedule`"):
        model.fit(*tiny_data, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda e: 0.1)])


def test_reduce_lr_on_plateau_logs_the_schedule_rate_and_raises_when_it_reduces(tiny_data):
    schedule = schedules.ExponentialDecay(0.1, 5, 0.5)
    model = _schedule_model(schedule)
    plateau = ReduceLROnPlateau(monitor="loss", patience=0, min_delta=1e9, factor=0.5)
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(logs.get("learning_rate"))

    with pytest.raises(TypeError, match="created with a `LearningRateSchedule`"):
        model.fit(*tiny_data, batch_size=8, epochs=3, verbose=0, callbacks=[plateau, Spy()])
    assert len(seen) == 1  # epoch 0 ends with the best loss; epoch 1 would reduce
    assert seen[0] == pytest.approx(float(schedule(5)))


def test_fit_with_schedule_matches_manual_rates(tiny_data):
    schedule = schedules.CosineDecay(0.0, 6, warmup_target=0.2, warmup_steps=4)
    rates = []

    class Rate(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            rates.append(self.model.optimizer.param_groups[0]["lr"])

    model = _schedule_model(schedule)
    model.fit(*tiny_data, batch_size=8, epochs=2, verbose=0, callbacks=[Rate()])
    # The group's rate is set at each step() from schedule(iterations): before update k,
    # the group still holds update k-1's rate.
    expected = [float(schedule(i)) for i in range(10)]
    np.testing.assert_allclose(rates[1:], expected[:9], rtol=1e-6)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_schedule_saved_with_the_model(tmp_path, tiny_data, suffix):
    schedule = schedules.InverseTimeDecay(0.1, 2, 0.5, staircase=True)
    model = _schedule_model(schedule)
    model.fit(*tiny_data, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / f"m{suffix}")
    loaded = load_model(tmp_path / f"m{suffix}")
    assert isinstance(loaded.optimizer.schedule, schedules.InverseTimeDecay)
    assert loaded.optimizer.schedule.get_config() == schedule.get_config()
    assert loaded.optimizer.iterations == 5
    assert float(loaded.optimizer.learning_rate) == float(model.optimizer.learning_rate)


def test_custom_schedule_saved_with_the_model(tmp_path, tiny_data):
    model = _schedule_model(Halving(0.2, 3))
    model.fit(*tiny_data, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer.schedule, Halving)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.1)


class _Interrupt(Callback):
    def on_train_batch_end(self, batch, logs=None):
        if self.model.train_state.epoch == 1 and batch == 2:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_a_schedule_exactly(tiny_data, tmp_path):
    def fresh():
        torch.manual_seed(3)
        return _schedule_model(schedules.CosineDecayRestarts(0.2, 3, t_mul=1.5))

    straight = fresh()
    straight.fit(*tiny_data, batch_size=8, epochs=3, verbose=0)
    first = fresh()
    with pytest.raises(RuntimeError):
        first.fit(
            *tiny_data, batch_size=8, epochs=3, verbose=0,
            callbacks=[_Interrupt(), BackupAndRestore(tmp_path, save_freq=1)],
        )  # fmt: skip
    resumed = fresh()
    resumed.fit(
        *tiny_data, batch_size=8, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path)]
    )
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 15
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_keras2_decay_applies_on_top_of_a_schedule():
    schedule = schedules.ExponentialDecay(0.4, 1, 0.5)
    with pytest.warns(DeprecationWarning, match="time-based decay"):
        opt = optimizers.SGD(learning_rate=schedule, decay=0.5)
    used = _sgd_steps(opt, 3)
    expected = [float(schedule(i)) / (1 + 0.5 * i) for i in range(3)]
    np.testing.assert_allclose(used, expected, rtol=1e-6)


def test_schedule_in_repr_and_state_dict():
    opt = optimizers.Adam(learning_rate=schedules.CosineDecay(0.1, 10))
    assert "CosineDecay" in repr(opt)
    opt.build([torch.nn.Parameter(torch.zeros(1))])
    state = opt.state_dict()
    opt.load_state_dict({**state, "learning_rate": 123.0, "iterations": 4})
    assert float(opt.learning_rate) == pytest.approx(float(schedules.CosineDecay(0.1, 10)(4)))


def test_unknown_schedule_class_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown learning rate schedule 'Nope'"):
        schedules.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        schedules.get(0.1)


def test_epochal_exposes_schedules_as_keras_does():
    assert epochal.optimizers.schedules.ExponentialDecay is schedules.ExponentialDecay
