"""activation layers against recorded Keras 3 outputs, with save/load round trips."""

from __future__ import annotations

import numpy as np
import pytest
from _keras_layers import check_case, load_cases, save_round_trip

from epochal import layers

CASES = {
    name: case
    for name, case in load_cases("misc").items()
    if name.split("_")[0] in {"LeakyReLU", "PReLU", "Softmax", "ReLU", "ELU"}
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(name):
    check_case(CASES[name])


_SAVED = {
    "ReLU": (lambda: [layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2)], (2, 4)),
    "LeakyReLU": (lambda: [layers.LeakyReLU(0.2)], (2, 4)),
    "PReLU": (lambda: [layers.PReLU(alpha_initializer="ones", shared_axes=[1])], (2, 3, 4)),
    "ELU": (lambda: [layers.ELU(0.5)], (2, 4)),
    "Softmax": (lambda: [layers.Softmax(axis=[1, 2])], (2, 3, 4)),
}


def test_leaky_relu_takes_keras_2_alpha_with_a_warning():
    with pytest.warns(UserWarning, match="alpha"):
        layer = layers.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


def test_relu_refuses_a_negative_threshold_by_name():
    with pytest.raises(ValueError, match="threshold"):
        layers.ReLU(threshold=-1.0)


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_save_load_round_trip(tmp_path, name):
    make, shape = _SAVED[name]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    save_round_trip(tmp_path, make(), x)
