"""Model: compile / fit / evaluate / predict behaviour and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import epochal
from epochal.callbacks import Callback, History
from epochal.layers import Dense
from tests.conftest import make_model


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)
        )

    def forward(self, x):
        return self.body(x)


def test_arbitrary_torch_module_trains(tiny_data):
    x, y = tiny_data
    model = epochal.Model(Net(), device="cpu")
    model.compile(
        optimizer="adam",
        loss=epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=8, epochs=15, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8
    assert isinstance(history, History) and model.history is history


def test_tensor_inputs_and_dataloader_inputs_give_same_training(tiny_data):
    x, y = tiny_data
    a = make_model()
    a.fit(torch.tensor(x), torch.tensor(y), batch_size=10, epochs=2, shuffle=False, verbose=0)
    b = make_model()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=10
    )
    b.fit(loader, epochs=2, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)


def test_iterable_of_batches_with_sample_weight(tiny_data):
    x, y = tiny_data
    batches = [(x[i : i + 10], y[i : i + 10], np.ones(10, "float32")) for i in range(0, 40, 10)]
    history = make_model().fit(batches, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_validation_split_takes_the_last_fraction_before_shuffling(tiny_data):
    x, y = tiny_data
    seen = []

    class Watch(Callback):
        def on_test_batch_end(self, batch, logs=None):
            seen.append(batch)

    model = make_model()
    model.fit(x, y, batch_size=5, validation_split=0.25, epochs=1, verbose=0, callbacks=[Watch()])
    assert len(seen) == 2  # 10 validation samples in batches of 5
    expected = model.evaluate(x[30:], y[30:], batch_size=5, verbose=0, return_dict=True)
    assert model.history.history["val_loss"][0] == pytest.approx(expected["loss"], rel=1e-6)


def test_evaluate_returns_scalar_list_or_dict(tiny_data):
    x, y = tiny_data
    model = make_model()
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logs) == ["accuracy", "loss"] and logs["loss"] == pytest.approx(result[0])
    only_loss = make_model(metrics=None)
    assert isinstance(only_loss.evaluate(x, y, verbose=0), float)


def test_predict_returns_numpy_in_input_order(tiny_data):
    x, _ = tiny_data
    model = make_model()
    out = model.predict(x, batch_size=7, verbose=0)
    assert isinstance(out, np.ndarray) and out.shape == (40, 2)
    np.testing.assert_allclose(out[:7], model.predict_on_batch(x[:7]), rtol=1e-6)


def test_single_batch_methods(tiny_data):
    x, y = tiny_data
    model = make_model()
    before = model.get_weights()
    loss, acc = model.train_on_batch(x, y)
    assert isinstance(loss, float) and 0.0 <= acc <= 1.0
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert sorted(model.test_on_batch(x, y, return_dict=True)) == ["accuracy", "loss"]


def test_get_set_weights_round_trip_and_errors():
    model = make_model()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(4, 8), (8,), (8, 2), (2,)]
    other = make_model()
    other.set_weights([w + 1 for w in weights])
    np.testing.assert_array_equal(other.get_weights()[0], weights[0] + 1)
    with pytest.raises(ValueError, match="expects 4 arrays"):
        other.set_weights(weights[:2])
    with pytest.raises(ValueError, match=r"shape mismatch for '.*kernel'"):
        other.set_weights([np.zeros((3, 3)), *weights[1:]])


def test_learning_rate_settable_the_keras_way():
    model = make_model(optimizer=epochal.optimizers.SGD(learning_rate=0.1))
    assert model.optimizer.learning_rate == pytest.approx(0.1)
    model.optimizer.learning_rate = 0.05
    with pytest.warns(DeprecationWarning, match="`lr` is deprecated"):
        assert model.optimizer.lr == pytest.approx(0.05)
    with pytest.warns(DeprecationWarning, match="`lr` is deprecated"):
        model.optimizer.lr = 0.02
    assert all(g["lr"] == pytest.approx(0.02) for g in model.optimizer.param_groups)


def test_class_weight_changes_the_loss(tiny_data):
    x, y = tiny_data
    plain = make_model().evaluate(x, y, verbose=0, return_dict=True)["loss"]
    model = make_model(optimizer=epochal.optimizers.SGD(learning_rate=0.0))
    weighted = model.fit(x, y, batch_size=40, epochs=1, verbose=0, class_weight={0: 0.0, 1: 2.0})
    share = float(np.mean(y == 1))
    assert weighted.history["loss"][0] != pytest.approx(plain)
    assert 0 < weighted.history["loss"][0] < plain * 2 * share + 1e-3 + plain


def test_steps_per_epoch_continues_the_iterator_across_epochs(tiny_data):
    x, y = tiny_data
    counts = []

    class Count(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            counts.append(0)

        def on_train_batch_end(self, batch, logs=None):
            counts[-1] += 1

    with pytest.warns(UserWarning, match="ran out of data"):
        make_model().fit(
            x[:25],
            y[:25],
            batch_size=5,
            steps_per_epoch=2,
            epochs=3,
            verbose=0,
            callbacks=[Count()],
        )
    assert counts == [2, 2, 1]


def test_sequential_builds_lazily_from_first_batch(tiny_data):
    x, y = tiny_data
    model = epochal.Sequential(
        [Dense(3, activation="relu"), Dense(2, activation="softmax")], device="cpu"
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    assert not model.built
    history = model.fit(x, y, epochs=1, verbose=0)
    assert model.built and sorted(history.history) == ["acc", "loss"]


def test_acc_and_accuracy_keep_their_names(tiny_data):
    x, y = tiny_data
    assert "acc" in make_model(metrics=["acc"]).fit(x, y, verbose=0).history
    assert "accuracy" in make_model(metrics=["accuracy"]).fit(x, y, verbose=0).history


def test_function_metric_logged_under_its_name(tiny_data):
    x, y = tiny_data

    def my_metric(y_true, y_pred):
        return y_pred.max(dim=-1).values

    history = make_model(metrics=[my_metric]).fit(x, y, verbose=0, validation_split=0.25)
    assert {"my_metric", "val_my_metric"} <= set(history.history)


def test_device_override_and_default():
    assert make_model().device == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert epochal.Model(torch.nn.Linear(1, 1)).device.type == expected


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": -1}, ValueError, "epochs"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"verbose": 3}, ValueError, "verbose"),
        ({"validation_split": 1.5}, ValueError, "validation_split"),
        ({"validation_split": 0.99}, ValueError, "validation_split"),
        ({"validation_split": 0.2, "validation_freq": "2"}, ValueError, "validation_freq"),
        ({"validation_split": 0.2, "validation_freq": 0}, ZeroDivisionError, "validation_freq"),
        ({"initial_epoch": -2}, ValueError, "initial_epoch"),
        ({"steps_per_epoch": 0}, ValueError, "steps_per_epoch"),
        ({"shuffle": "yes"}, ValueError, "shuffle"),
        ({"class_weight": {0: float("nan")}}, ValueError, "class_weight"),
    ],
)
def test_bad_fit_arguments_are_rejected_before_training(tiny_data, kwargs, error, match):
    x, y = tiny_data
    model = make_model()
    before = model.get_weights()
    with pytest.raises(error, match=match):
        model.fit(x, y, **{"verbose": 0, **kwargs})
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_length_mismatch_is_a_clear_error(tiny_data):
    x, y = tiny_data
    with pytest.raises(ValueError, match="same number of samples"):
        make_model().fit(x, y[:-1], verbose=0)


def test_validation_split_with_dataloader_is_refused(tiny_data):
    x, y = tiny_data
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    )
    with pytest.raises(ValueError, match="validation_split"):
        make_model().fit(loader, validation_split=0.2, verbose=0)


def test_y_with_dataloader_is_refused(tiny_data):
    x, y = tiny_data
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    )
    with pytest.raises(ValueError, match="`y` must be None"):
        make_model().fit(loader, y, verbose=0)


def test_targets_that_do_not_fit_the_loss(tiny_data):
    x, y = tiny_data
    onehot = epochal.utils.to_categorical(y, 2)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        make_model().fit(x, onehot, verbose=0)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        make_model(loss="categorical_crossentropy").fit(x, y, verbose=0)


def test_fit_before_compile_and_without_loss(tiny_data):
    x, y = tiny_data
    model = epochal.Sequential([Dense(2, input_shape=(4,))], device="cpu")
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y, verbose=0)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="loss"):
        model.fit(x, y, verbose=0)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"optimizer": "adamm", "loss": "mse"}, ValueError),
        ({"optimizer": 3, "loss": "mse"}, TypeError),
        ({"optimizer": "sgd", "loss": "msee"}, ValueError),
        ({"optimizer": "sgd", "loss": "mse", "metrics": ["acuracy"]}, ValueError),
        ({"optimizer": "sgd", "loss": "mse", "metrics": "accuracy"}, TypeError),
        ({"optimizer": "sgd", "loss": "mse", "metric": ["accuracy"]}, TypeError),
    ],
)
def test_bad_compile_arguments(kwargs, error):
    model = epochal.Sequential([Dense(2, input_shape=(4,))], device="cpu")
    with pytest.raises(error):
        model.compile(**kwargs)


def test_evaluate_rejects_unknown_keyword(tiny_data):
    x, y = tiny_data
    with pytest.raises(ValueError, match="not recognized"):
        make_model().evaluate(x, y, verbose=0, foo=1)


def test_nested_callback_list_is_a_clear_error(tiny_data):
    x, y = tiny_data
    with pytest.raises(TypeError, match="flat list"):
        make_model().fit(x, y, verbose=0, callbacks=[[History()]])
