"""normalization layers against recorded Keras 3 outputs, with save/load round trips."""

from __future__ import annotations

import numpy as np
import pytest
from _keras_layers import check_case, load_cases, save_round_trip

from epochal import layers

CASES = {
    name: case
    for name, case in load_cases("misc").items()
    if name.split("_")[0] in {"BatchNormalization", "LayerNormalization"}
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(name):
    check_case(CASES[name])


_SAVED = {
    "LayerNormalization": (
        lambda: [layers.LayerNormalization(axis=[1, 2], epsilon=0.01, center=False)],
        (2, 3, 4),
    ),
}


def test_layer_normalization_weights_are_gamma_then_beta():
    layer = layers.LayerNormalization(input_shape=(3, 4))
    assert [w._keras_name for w in layer.weights] == ["gamma", "beta"]
    assert [w.shape for w in layer.get_weights()] == [(4,), (4,)]
    with pytest.raises(ValueError, match="axis"):
        layers.LayerNormalization(axis="last")


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_save_load_round_trip(tmp_path, name):
    make, shape = _SAVED[name]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    save_round_trip(tmp_path, make(), x)
