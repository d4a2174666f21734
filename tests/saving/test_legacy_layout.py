"""Files written in epochal's weight layout 1 (Conv2D kernels in torch's layout) still load,
converted to today's Keras layout; the fixtures come from scripts/make_layout1_fixtures.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import epochal
from epochal.layers import Conv2D, Dense, Flatten

FIXTURES = Path(__file__).parent.parent / "fixtures" / "layout1"
X = np.random.default_rng(0).standard_normal((4, 6, 6, 2)).astype("float32")


def _fresh() -> epochal.Model:
    return epochal.Sequential([Conv2D(3, 3, input_shape=(6, 6, 2)), Flatten(), Dense(2)])


def test_a_layout_1_whole_model_file_predicts_as_when_it_was_saved():
    model = epochal.load_model(FIXTURES / "old.keras")
    np.testing.assert_array_equal(model.predict(X, verbose=0), np.load(FIXTURES / "pred.npy"))
    assert model.get_weights()[0].shape == (3, 3, 2, 3)  # Keras' (kh, kw, in, filters)


@pytest.mark.parametrize("name", ["old.weights.h5", "old.safetensors"])
def test_layout_1_weights_load_into_todays_model(name):
    model = _fresh()
    model.load_weights(FIXTURES / name)
    np.testing.assert_array_equal(model.predict(X, verbose=0), np.load(FIXTURES / "pred.npy"))


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5", ".safetensors"])
def test_files_written_today_are_layout_2_and_round_trip(tmp_path, suffix):
    model = epochal.load_model(FIXTURES / "old.keras")
    path = tmp_path / f"m{suffix}"
    if suffix == ".keras":
        model.save(path)
        again = epochal.load_model(path)
    else:
        model.save_weights(path)
        again = _fresh()
        again.load_weights(path)
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))
