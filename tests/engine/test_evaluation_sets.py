"""``fit(evaluation_data={...}, evaluation_freq=N)``: extra sets evaluated in the loop (issue 16).

Their results are in the epoch logs before ``on_epoch_end`` (so monitors see them), the
``on_test_*`` hooks fire once per set with ``train_state.evaluation`` naming it, and bad
arguments are refused before training starts.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import epochal
from epochal.callbacks import Callback, EarlyStopping, ModelCheckpoint, TensorBoard
from epochal.layers import Dense


def _model() -> epochal.Sequential:
    torch.manual_seed(0)
    model = epochal.Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3)])
    model.compile(
        optimizer="sgd",
        loss=epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _data(samples: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(samples, 4)).astype("float32"), rng.integers(0, 3, samples)


class _Seen(Callback):
    """Records the epoch logs and, per on_test_* hook, which set was being evaluated."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[dict] = []
        self.tests: list[tuple[str, str | None, dict]] = []

    def on_test_begin(self, logs=None):
        self.tests.append(("begin", self.model.train_state.evaluation, {}))

    def on_test_end(self, logs=None):
        self.tests.append(("end", self.model.train_state.evaluation, dict(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(dict(logs))


def test_results_are_in_the_epoch_logs_and_match_evaluate():
    x, y = _data(32, 0)
    xt, yt = _data(12, 1)
    model, seen = _model(), _Seen()
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        evaluation_data={"test": (xt, yt)},
        callbacks=[seen],
    )
    logs = seen.epochs[0]
    assert {"test_loss", "test_accuracy"} <= set(logs)
    expected = model.evaluate(xt, yt, verbose=0, return_dict=True)
    assert logs["test_loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert logs["test_accuracy"] == pytest.approx(expected["accuracy"])
    assert history.history["test_loss"] == [logs["test_loss"]]


def test_each_set_fires_test_hooks_after_validation_and_is_named_in_train_state():
    x, y = _data(32, 0)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*map(torch.as_tensor, _data(10, 2))), batch_size=4
    )
    model, seen = _model(), _Seen()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        validation_data=_data(8, 3),
        evaluation_data={"test": _data(12, 1), "ood": loader},
        callbacks=[seen],
    )
    assert [(kind, name) for kind, name, _ in seen.tests] == [
        ("begin", "val"),
        ("end", "val"),
        ("begin", "test"),
        ("end", "test"),
        ("begin", "ood"),
        ("end", "ood"),
    ]
    logs = seen.epochs[0]
    for kind, name, test_logs in seen.tests:
        if kind == "end":
            # on_test_end gets the set's own results, without a prefix (Keras' validation).
            assert set(test_logs) == {"loss", "accuracy"}
            assert logs[f"{name}_loss"] == test_logs["loss"]
    assert model.train_state.evaluation is None
    assert model.train_state.evaluation_sets == ("test", "ood")


def test_a_standalone_evaluate_names_no_set():
    x, y = _data(16, 0)
    model, seen = _model(), _Seen()
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0, callbacks=[seen])
    assert [name for _, name, _ in seen.tests] == [None, None]


@pytest.mark.parametrize(("freq", "evaluated"), [(2, [1, 3]), ([1, 4], [0, 3])])
def test_evaluation_freq_follows_validation_freqs_rule(freq, evaluated):
    x, y = _data(16, 0)
    model, seen = _model(), _Seen()
    model.fit(
        x,
        y,
        epochs=4,
        verbose=0,
        evaluation_data={"test": _data(8, 1)},
        evaluation_freq=freq,
        callbacks=[seen],
    )
    assert [i for i, logs in enumerate(seen.epochs) if "test_loss" in logs] == evaluated


def test_monitors_watch_a_test_set(tmp_path):
    x, y = _data(32, 0)
    model = _model()
    stopper = EarlyStopping(monitor="test_accuracy", patience=0, mode="auto")
    checkpoint = ModelCheckpoint(
        str(tmp_path / "best.weights.h5"),
        monitor="test_loss",
        save_best_only=True,
        save_weights_only=True,
    )
    history = model.fit(
        x,
        y,
        epochs=5,
        verbose=0,
        evaluation_data={"test": _data(12, 1)},
        callbacks=[stopper, checkpoint],
    )
    assert stopper.direction == "max"
    assert checkpoint.best == min(history.history["test_loss"])
    assert (tmp_path / "best.weights.h5").exists()
    assert model.metric_direction("test_accuracy") == "up"
    assert model.metric_direction("test_loss") == "down"


def test_tensorboard_writes_each_set_to_its_own_run(tmp_path):
    x, y = _data(16, 0)
    model = _model()
    model.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        validation_data=_data(8, 3),
        evaluation_data={"test": _data(8, 1)},
        callbacks=[TensorBoard(log_dir=tmp_path, write_graph=False)],
    )
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for run in ("train", "validation", "test"):
        accumulator = EventAccumulator(str(tmp_path / run))
        accumulator.Reload()
        tags[run] = set(accumulator.Tags()["tensors"]) | set(accumulator.Tags()["scalars"])
    assert {"epoch_loss", "evaluation_loss_vs_iterations"} <= tags["test"]
    assert {"epoch_loss", "evaluation_loss_vs_iterations"} <= tags["validation"]
    assert not any(tag.startswith("epoch_test_") for tag in tags["train"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"evaluation_data": [(1, 2)]}, TypeError, "evaluation_data"),
        ({"evaluation_data": {"val": None}}, ValueError, "'val'"),
        ({"evaluation_data": {"2x": None}}, ValueError, "identifiers"),
        ({"evaluation_data": {"test": None}}, ValueError, r"evaluation_data\['test'\]"),
        ({"evaluation_data": {"test": (np.ones((2, 4)),) * 4}}, ValueError, "evaluation_data"),
        ({"evaluation_data": {"test": (np.ones((2, 5)), np.ones(2))}}, ValueError, "does not fit"),
        (
            {"evaluation_data": {"test": (np.ones((2, 4)), np.ones(2))}, "evaluation_freq": 0},
            ValueError,
            "evaluation_freq",
        ),
        (
            {"evaluation_data": {"test": (np.ones((2, 4)), np.ones(2))}, "evaluation_freq": "x"},
            ValueError,
            "evaluation_freq",
        ),
    ],
)
def test_bad_arguments_are_refused_before_training(kwargs, error, match):
    x, y = _data(8, 0)
    model, seen = _model(), _Seen()
    with pytest.raises(error, match=match):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[seen], **kwargs)
    assert seen.epochs == []
