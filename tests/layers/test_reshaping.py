"""Reshaping layers against recorded Keras 3 outputs, with save/load round trips."""

from __future__ import annotations

import pytest
from _keras_layers import check_case, load_cases

CASES = load_cases("reshaping")


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(name):
    check_case(CASES[name])


import numpy as np  # noqa: E402
from _keras_layers import save_round_trip  # noqa: E402

from epochal import layers  # noqa: E402

_SAVED = {
    "UpSampling1D": (lambda: [layers.UpSampling1D(3)], (2, 3, 2)),
    "UpSampling2D": (lambda: [layers.UpSampling2D((2, 1), interpolation="bilinear")], (2, 2, 2, 1)),
    "ZeroPadding1D": (lambda: [layers.ZeroPadding1D((1, 2))], (2, 3, 2)),
    "ZeroPadding2D": (lambda: [layers.ZeroPadding2D(((1, 0), (0, 2)))], (2, 2, 2, 1)),
    "Cropping1D": (lambda: [layers.Cropping1D(1)], (2, 4, 2)),
    "Cropping2D": (
        lambda: [layers.Cropping2D(((1, 0), (0, 1)), data_format="channels_first")],
        (2, 1, 3, 3),
    ),
    "Permute": (lambda: [layers.Permute((2, 1))], (2, 3, 4)),
    "RepeatVector": (lambda: [layers.RepeatVector(2)], (2, 3)),
    "Flatten": (lambda: [layers.Flatten(data_format="channels_first")], (2, 2, 2, 3)),
    "Reshape": (lambda: [layers.Reshape((-1, 3))], (2, 2, 3)),
}


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_save_load_round_trip(tmp_path, name):
    make, shape = _SAVED[name]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    save_round_trip(tmp_path, make(), x)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: layers.Permute((1, 1)), "dims"),
        (lambda: layers.RepeatVector(0), "n"),
        (lambda: layers.ZeroPadding2D(-1), "padding"),
        (lambda: layers.Cropping2D(((1, 2, 3), (0, 0))), "cropping"),
        (lambda: layers.UpSampling2D(interpolation="bicubic"), "bicubic"),
        (lambda: layers.UpSampling2D(interpolation="cubic"), "interpolation"),
        (lambda: layers.Reshape((-1, -1)), "target_shape"),
    ],
)
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()
