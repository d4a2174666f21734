"""preprocessing layers against recorded Keras 3 outputs, with save/load round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _keras_layers import check_case, load_adapt, load_cases, save_round_trip

from epochal import layers

CASES = {
    name: case
    for name, case in load_cases("misc").items()
    if name.split("_")[0] in {"Rescaling", "Normalization"}
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(name):
    check_case(CASES[name])


_SAVED = {
    "Rescaling": (lambda: [layers.Rescaling(1 / 255.0, offset=-0.5)], (2, 3)),
    "Normalization": (
        lambda: [layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0])],
        (2, 3),
    ),
}


@pytest.mark.parametrize("key", ["last", "pair", "none"])
def test_adapt_learns_keras_statistics(key):
    recorded = load_adapt()
    data = np.asarray(recorded["data"], dtype=np.float32)
    entry = recorded[key]
    axis = tuple(entry["axis"]) if isinstance(entry["axis"], list) else entry["axis"]
    layer = layers.Normalization(axis=axis)
    layer.adapt(data)
    for got, expected in zip(layer.get_weights(), entry["weights"], strict=True):
        np.testing.assert_allclose(got, np.asarray(expected), atol=1e-5, rtol=1e-6)
    out = layer(torch.from_numpy(data[:2]))
    np.testing.assert_allclose(out.numpy(), np.asarray(entry["outputs"]), atol=1e-5, rtol=0)


def test_adapted_normalization_round_trips_through_saving(tmp_path):
    data = np.random.default_rng(0).normal(2.0, 3.0, (20, 3)).astype("float32")
    layer = layers.Normalization()
    layer.adapt(data)
    save_round_trip(tmp_path, [layer, layers.Dense(2)], data[:4])


def test_adapt_over_batches_and_refusals():
    data = np.random.default_rng(1).normal(size=(12, 2)).astype("float32")
    whole, batched = layers.Normalization(), layers.Normalization()
    whole.adapt(data)
    batched.adapt([data[:5], data[5:]].__iter__())
    for a, b in zip(whole.get_weights(), batched.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="adapt"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(data)
    with pytest.raises(ValueError, match="variance"):
        layers.Normalization(mean=0.0)


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_save_load_round_trip(tmp_path, name):
    make, shape = _SAVED[name]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    save_round_trip(tmp_path, make(), x)
