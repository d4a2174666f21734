"""regularization layers against recorded Keras 3 outputs, with save/load round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _keras_layers import check_case, load_cases, save_round_trip

from epochal import layers

CASES = {
    name: case
    for name, case in load_cases("misc").items()
    if name.split("_")[0] in {"SpatialDropout2D", "Dropout", "GaussianNoise"}
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(name):
    check_case(CASES[name])


_SAVED = {
    "Dropout": (lambda: [layers.Dropout(0.5, noise_shape=(None, 1, 3), seed=3)], (2, 2, 3)),
    "SpatialDropout1D": (lambda: [layers.SpatialDropout1D(0.3, seed=1)], (2, 3, 4)),
    "SpatialDropout2D": (
        lambda: [layers.SpatialDropout2D(0.3, data_format="channels_first")],
        (2, 2, 2, 2),
    ),
    "GaussianNoise": (lambda: [layers.GaussianNoise(0.1, seed=2)], (2, 3)),
}


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_active_only_in_training_and_seeded(name):
    make, shape = _SAVED[name]
    x = torch.ones(shape) + torch.arange(int(np.prod(shape))).reshape(shape)
    layer = make()[0]
    torch.testing.assert_close(layer(x, training=False), x)
    if getattr(layer, "seed", None) is not None:
        twin = make()[0]
        torch.testing.assert_close(layer(x, training=True), twin(x, training=True))
    assert not torch.equal(layer(x, training=True), x)


def test_noise_shape_and_spatial_masks_broadcast():
    x = torch.ones(4, 5, 6)
    out = layers.Dropout(0.5, noise_shape=(None, 1, 6), seed=0)(x, training=True)
    assert torch.equal(out, out[:, :1, :].expand_as(out))
    out = layers.SpatialDropout1D(0.5, seed=0)(x, training=True)
    assert torch.equal(out, out[:, :1, :].expand_as(out))
    images = torch.ones(3, 4, 4, 5)
    out = layers.SpatialDropout2D(0.5, seed=0)(images, training=True)
    assert torch.equal(out, out[:, :1, :1, :].expand_as(out))
    assert set(out.unique().tolist()) <= {0.0, 2.0}


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.0)
    with pytest.raises(ValueError, match="noise_shape"):
        layers.Dropout(0.5, noise_shape=(0, 1))
    with pytest.raises(ValueError, match="stddev"):
        layers.GaussianNoise(-1.0)


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_save_load_round_trip(tmp_path, name):
    make, shape = _SAVED[name]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    save_round_trip(tmp_path, make(), x)
