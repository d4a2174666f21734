"""Pooling layers against recorded Keras 3 outputs, with save/load round trips."""

from __future__ import annotations

import pytest
from _keras_layers import check_case, load_cases

CASES = load_cases("pooling")


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(name):
    check_case(CASES[name])


import numpy as np  # noqa: E402
import torch  # noqa: E402
from _keras_layers import save_round_trip  # noqa: E402

from epochal import layers  # noqa: E402

_SAVED = {
    "MaxPooling1D": (lambda: [layers.MaxPooling1D(3, 2, padding="same")], (2, 6, 2)),
    "MaxPooling2D": (
        lambda: [layers.MaxPooling2D((2, 1), data_format="channels_first")],
        (2, 2, 4, 4),
    ),
    "MaxPooling3D": (lambda: [layers.MaxPooling3D()], (1, 2, 2, 2, 1)),
    "AveragePooling1D": (lambda: [layers.AveragePooling1D(2)], (2, 6, 2)),
    "AveragePooling2D": (lambda: [layers.AveragePooling2D(3, 2, padding="same")], (2, 5, 5, 2)),
    "AveragePooling3D": (lambda: [layers.AveragePooling3D(2)], (1, 2, 2, 2, 1)),
    "GlobalMaxPooling1D": (lambda: [layers.GlobalMaxPooling1D(keepdims=True)], (2, 4, 3)),
    "GlobalMaxPooling2D": (lambda: [layers.GlobalMaxPooling2D()], (2, 3, 3, 2)),
    "GlobalMaxPooling3D": (lambda: [layers.GlobalMaxPooling3D()], (1, 2, 2, 2, 2)),
    "GlobalAveragePooling1D": (
        lambda: [layers.Masking(), layers.GlobalAveragePooling1D()],
        (2, 4, 3),
    ),
    "GlobalAveragePooling2D": (
        lambda: [layers.GlobalAveragePooling2D(data_format="channels_first")],
        (2, 3, 3, 2),
    ),
    "GlobalAveragePooling3D": (
        lambda: [layers.GlobalAveragePooling3D(keepdims=True)],
        (1, 2, 2, 2, 2),
    ),
}


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_save_load_round_trip(tmp_path, name):
    make, shape = _SAVED[name]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    save_round_trip(tmp_path, make(), x)


def test_average_pooling_needs_a_pool_size_as_in_keras():
    with pytest.raises(TypeError, match="pool_size"):
        layers.AveragePooling2D()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="padding"):
        layers.MaxPooling2D(padding="full")
    with pytest.raises(ValueError, match="pool_size"):
        layers.MaxPooling1D(pool_size=(2, 2))
    with pytest.raises(ValueError, match="axes"):
        layers.MaxPooling2D()(torch.ones(2, 4, 4))
