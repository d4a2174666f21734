"""Dot against recorded Keras 3 outputs (tests/fixtures/keras/layers_attention.json), in
functional models, its argument checks and save/load round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_attention import cases, max_diff

import epochal
from epochal.layers import Dense, Dot, Flatten, dot
from epochal.saving import load_model

DOT_CASES = sorted(n for n in cases() if n.startswith("Dot_"))


@pytest.mark.parametrize("name", DOT_CASES)
def test_dot_matches_keras(name):
    assert max_diff(cases()[name]) <= 1e-5


def test_dot_shapes_follow_batch_dot():
    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    assert Dot(axes=(2, 1))([a, b]).shape == (2, 3, 5)
    assert Dot(axes=1)([torch.randn(2, 4), torch.randn(2, 4)]).shape == (2, 1)
    torch.testing.assert_close(dot([a, b], axes=(2, 1)), a @ b)


def test_dot_normalize_gives_cosine_similarity():
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    expected = torch.nn.functional.cosine_similarity(a, b)[:, None]
    torch.testing.assert_close(Dot(axes=-1, normalize=True)([a, b]), expected)


@pytest.mark.parametrize(
    ("axes", "error"),
    [("x", TypeError), (1.5, TypeError), ((1,), ValueError), ((1, 2, 3), ValueError),
     ((1, "a"), ValueError), (True, TypeError)],
)  # fmt: skip
def test_bad_axes_are_refused_naming_the_argument(axes, error):
    with pytest.raises(error, match="axes"):
        Dot(axes=axes)


def test_bad_calls_are_refused():
    with pytest.raises(ValueError, match="exactly 2"):
        Dot(axes=1)([torch.randn(2, 3)] * 3)
    with pytest.raises(ValueError, match="incompatible"):
        Dot(axes=1)([torch.randn(2, 3), torch.randn(2, 4)])
    with pytest.raises(ValueError, match="batch axis"):
        Dot(axes=0)([torch.randn(2, 3), torch.randn(2, 3)])
    with pytest.raises(ValueError, match="normalize"):
        Dot(axes=1, normalize="yes")


def _model() -> epochal.Model:
    a = epochal.Input((3, 4), name="a")
    b = epochal.Input((5, 4), name="b")
    sim = Dot(axes=(2, 2), normalize=True, name="sim")([a, b])
    assert sim.shape == (None, 3, 5)
    return epochal.Model([a, b], Dense(2)(Flatten()(sim)))


def test_dot_in_a_functional_model_round_trips_every_format(tmp_path):
    model = _model()
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(4, 3, 4)).astype("float32"), rng.normal(size=(4, 5, 4)).astype("float32")]
    expected = model.predict(x, verbose=0)
    for suffix in (".keras", "own.keras", ".h5"):
        model.save(
            tmp_path / f"m{suffix}", keras_compatible=None if suffix != "own.keras" else False
        )
        loaded = load_model(tmp_path / f"m{suffix}")
        assert loaded.get_layer("sim").get_config()["axes"] == [2, 2]
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6, rtol=0)
    model.save_weights(tmp_path / "m.weights.h5")
    other = _model()
    other.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(other.predict(x, verbose=0), expected, atol=1e-6, rtol=0)
