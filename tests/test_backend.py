"""epochal.backend: what Keras callback code calls (get_value, set_value, clear_session,
epsilon, floatx, image_data_format)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from epochal import backend, losses, optimizers
from epochal.layers import Dense


def test_set_and_get_the_learning_rate_as_keras_callbacks_do():
    opt = optimizers.SGD(learning_rate=0.1)
    opt.build([torch.nn.Parameter(torch.zeros(1))])
    backend.set_value(opt.learning_rate, 0.01)
    assert backend.get_value(opt.learning_rate) == np.float32(0.01)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
    assert isinstance(backend.get_value(opt.learning_rate), np.float32)


def test_tensors_and_numbers():
    t = torch.zeros(2)
    backend.set_value(t, [1.0, 2.0])
    np.testing.assert_array_equal(backend.get_value(t), [1.0, 2.0])
    assert backend.get_value(3.5) == 3.5
    with pytest.raises(TypeError, match=r"set_value.*float"):
        backend.set_value(0.1, 0.2)


def test_defaults():
    assert backend.epsilon() == 1e-7
    assert backend.floatx() == "float32"
    assert backend.image_data_format() == "channels_last"
    backend.set_floatx("float32")
    backend.set_image_data_format("channels_last")


def test_setters_refuse_what_epochal_cannot_honour():
    with pytest.raises(ValueError, match="Unknown `floatx`"):
        backend.set_floatx("float8")
    with pytest.raises(NotImplementedError, match="float32"):
        backend.set_floatx("float64")
    with pytest.raises(ValueError, match="data_format"):
        backend.set_image_data_format("nhwc")
    with pytest.raises(NotImplementedError, match="channels_first"):
        backend.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="epsilon"):
        backend.set_epsilon(-1)


def test_set_epsilon_reaches_the_losses():
    y_pred = torch.tensor([[0.0, 1.0]])
    try:
        backend.set_epsilon(1e-3)
        value = losses.binary_crossentropy(torch.tensor([[1.0, 1.0]]), y_pred)
        assert float(value) == pytest.approx(-(np.log(1e-3) + np.log(1 - 1e-3)) / 2, rel=1e-4)
    finally:
        backend.set_epsilon(1e-7)


def test_clear_session_restarts_layer_names():
    backend.clear_session()
    assert Dense(2).name == "dense"
    assert Dense(2).name == "dense_1"
    backend.clear_session()
    assert Dense(2).name == "dense"
