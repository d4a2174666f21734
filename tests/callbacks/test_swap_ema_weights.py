"""SwapEMAWeights: validation and evaluate with the EMA weights, ``swap_on_epoch`` for the
callbacks after it (ModelCheckpoint), its state in a backup, and the error without EMA.
Expected numbers: scripts/record_keras_ema.py (tests/fixtures/keras/ema.json)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import epochal
from epochal import optimizers
from epochal.callbacks import Callback, ModelCheckpoint, SwapEMAWeights
from tests.conftest import make_model
from tests.optimizers.test_ema import ATOL, KERAS, _close, _fit_model, fit_case


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("swap", ["eval", "epoch"])
def test_fit_with_swap_matches_keras(optimizer, swap):
    name = f"{optimizer}_{swap}"
    spec = KERAS["fit"][name]
    atol = ATOL[spec["class_name"]]
    model, recorder, history = fit_case(name, [SwapEMAWeights(swap_on_epoch=swap == "epoch")])
    for key, values in spec["history"].items():  # val_loss: the averaged model's
        np.testing.assert_allclose(history[key], values, atol=atol, err_msg=key)
    for epoch, want in enumerate(spec["epoch_end_weights"]):
        _close(recorder.epoch_end[epoch], want, atol, f"epoch {epoch}")
    _close(recorder.train_end, spec["train_end_weights"], atol, "train end")
    _close(model.get_weights(), spec["final_weights"], atol, "final")
    _close(model.optimizer.ema_variables, spec["final_average"], atol, "average")
    data = KERAS["fit_data"]
    val = (np.array(data["val_x"], "float32"), np.array(data["val_y"], "float32"))
    swapped = model.evaluate(*val, verbose=0, return_dict=True, callbacks=[SwapEMAWeights()])
    assert swapped["loss"] == pytest.approx(spec["evaluate_swapped"]["loss"], abs=atol)


def test_validation_differs_from_the_raw_weights_and_training_is_unchanged():
    """Swapping only for evaluation: the training losses are those of a run without it."""
    plain = KERAS["fit"]["sgd_none"]["history"]
    swapped = KERAS["fit"]["sgd_eval"]["history"]
    assert plain["loss"] == swapped["loss"] and plain["val_loss"] != swapped["val_loss"]
    _, _, history = fit_case("sgd_eval", [SwapEMAWeights()])
    np.testing.assert_allclose(history["loss"], plain["loss"], atol=1e-6)


def test_evaluate_and_predict_swap_back_afterwards():
    spec = KERAS["fit"]["sgd_none"]
    model, _, _ = fit_case("sgd_none", [])
    opt = model.optimizer
    # After fit the weights are the averages; move them apart to see the swaps.
    with torch.no_grad():
        for average in opt.ema_variables:
            average.add_(0.25)
    before = model.get_weights()
    averages = [a.clone() for a in opt.ema_variables]
    data = KERAS["fit_data"]
    x = np.array(data["val_x"], "float32")
    seen = []

    class Peek(Callback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(model.get_weights())

    swap = SwapEMAWeights()
    model.predict(x, verbose=0, callbacks=[swap, Peek()])
    _close(seen[0], [a.numpy() for a in averages], 0, "during predict")
    for got, want in zip(model.get_weights(), before, strict=True):
        assert np.array_equal(got, want)  # swapped back (Keras leaves the averages in)
    model.evaluate(x, np.array(data["val_y"], "float32"), verbose=0, callbacks=[swap])
    for got, want in zip(model.get_weights(), before, strict=True):
        assert np.array_equal(got, want)
    assert all(torch.equal(a, b) for a, b in zip(opt.ema_variables, averages, strict=True))
    assert spec["iterations"] == opt.iterations


def test_swap_on_epoch_checkpoints_the_ema_weights(tmp_path):
    """Placed before ModelCheckpoint, it has the checkpoint hold the EMA weights."""
    spec = KERAS["fit"]["sgd_epoch"]
    path = tmp_path / "e{epoch}.weights.h5"
    checkpoint = ModelCheckpoint(str(path), save_weights_only=True)
    fit_case("sgd_epoch", [SwapEMAWeights(swap_on_epoch=True), checkpoint])
    for epoch, want in enumerate(spec["epoch_end_weights"], start=1):
        loaded = _fit_model(spec)
        loaded.load_weights(tmp_path / f"e{epoch}.weights.h5")
        _close(loaded.get_weights(), want, 1e-6, f"checkpoint {epoch}")
    raw = KERAS["fit"]["sgd_none"]["epoch_end_weights"][0]
    assert not np.allclose(spec["epoch_end_weights"][0][0], raw[0])  # EMA, not the raw ones


def test_early_stop_with_swap_on_epoch_keeps_the_ema_weights():
    """Stopped before the last epoch, the model still ends with the EMA weights (Keras
    finalizes only at the planned last epoch and would end with the raw ones)."""

    class StopAfterFirst(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    name = "sgd_epoch"
    model, recorder, _ = fit_case(name, [StopAfterFirst(), SwapEMAWeights(swap_on_epoch=True)])
    assert len(recorder.epoch_end) == 1
    for got, want in zip(model.get_weights(), recorder.epoch_end[0], strict=True):
        assert np.array_equal(got, want)


def test_without_ema_the_error_names_the_option(tiny_data):
    x, y = tiny_data
    model = make_model()
    with pytest.raises(ValueError, match="use_ema=True"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[SwapEMAWeights()])
    with pytest.raises(ValueError, match="use_ema=True"):
        model.evaluate(x, y, verbose=0, callbacks=[SwapEMAWeights()])


def test_before_any_update_nothing_is_swapped(tiny_data):
    x, y = tiny_data
    model = make_model(optimizer=optimizers.SGD(use_ema=True))
    before = model.get_weights()
    model.evaluate(x, y, verbose=0, callbacks=[SwapEMAWeights()])  # averages are still zeros
    for got, want in zip(model.get_weights(), before, strict=True):
        assert np.array_equal(got, want)


def test_state_says_whether_the_averages_are_in_the_model():
    callback = SwapEMAWeights(swap_on_epoch=True)
    assert callback.state_dict() == {"ema_weights_in_model": False}
    callback.load_state_dict({"ema_weights_in_model": True})
    assert callback.state_dict() == {"ema_weights_in_model": True}
    with pytest.raises(TypeError, match="swap_on_epoch"):
        SwapEMAWeights(swap_on_epoch="yes")


def test_a_model_with_its_own_train_step_gets_the_average_too(tiny_data):
    """A custom train_step calling optimizer.apply averages and finalizes the same way."""
    x, y = tiny_data

    class Custom(epochal.Model):
        def train_step(self, data):
            inputs, targets = data
            loss = torch.nn.functional.cross_entropy(self(inputs), targets.long())
            grads = torch.autograd.grad(loss, self.trainable_weights)
            self.optimizer.apply(grads, self.trainable_weights)
            return {"loss": loss}

    torch.manual_seed(0)
    model = Custom(torch.nn.Linear(4, 2), device="cpu")
    model.compile(optimizer=optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5))
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    _close(model.trainable_weights, [a.numpy() for a in model.optimizer.ema_variables], 0, "w")
