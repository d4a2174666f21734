"""Image preprocessing layers against recorded Keras 3 outputs (no Keras here: the numbers
come from ``scripts/record_keras_preprocessing.py``), their training-only randomness, seeds,
argument checks and save/load round trips."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _keras_layers import save_round_trip

import epochal
from epochal import layers
from epochal.layers import LAYER_CLASSES

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "keras" / "layers_preprocessing.json"
ATOL = 1e-5


@cache
def _payload() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def _input(name: str) -> torch.Tensor:
    return torch.tensor(np.asarray(_payload()["inputs"][name], dtype=np.float32))


CASES = sorted(_payload()["cases"])


@pytest.mark.parametrize("name", CASES)
def test_matches_keras(name):
    case = _payload()["cases"][name]
    config = {k: list(v) if isinstance(v, list) else v for k, v in case["config"].items()}
    layer = LAYER_CLASSES[case["class_name"]](**config)
    with torch.no_grad():
        out = layer(_input(case["input"]), **case["call"])
    expected = np.asarray(case["output"], dtype=np.float32)
    assert tuple(out.shape) == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, atol=ATOL, rtol=0)


def test_every_fill_mode_and_interpolation_is_recorded():
    for cls in ("RandomRotation", "RandomZoom", "RandomTranslation"):
        for fill in ("reflect", "wrap", "constant", "nearest"):
            for interp in ("bilinear", "nearest"):
                assert any(n.startswith(cls) and n.endswith(f"_{fill}_{interp}") for n in CASES), (
                    cls,
                    fill,
                    interp,
                )


def test_resizing_keeps_integer_images_in_their_dtype_rounded():
    record = _payload()["uint8"]
    assert record["dtype"] == "uint8"
    pixels = torch.tensor(record["input"], dtype=torch.uint8)
    out = layers.Resizing(5, 7)(pixels)
    assert out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), np.asarray(record["output"]))


# ---------------------------------------------------------------- RandomFlip


def test_random_flip_flips_each_image_along_the_mode_axes():
    x = torch.arange(2 * 3 * 4 * 1, dtype=torch.float32).reshape(2, 3, 4, 1)
    both = layers.RandomFlip(seed=1)
    flips = torch.tensor([True, False])
    out = both.flip(x, flips)
    torch.testing.assert_close(out[0], torch.flip(x[0], dims=(0, 1)))
    torch.testing.assert_close(out[1], x[1])
    horizontal = layers.RandomFlip("horizontal").flip(x, flips)
    torch.testing.assert_close(horizontal[0], torch.flip(x[0], dims=(1,)))
    vertical = layers.RandomFlip("vertical", data_format="channels_first").flip(
        x.permute(0, 3, 1, 2), flips
    )
    torch.testing.assert_close(vertical[0], torch.flip(x[0].permute(2, 0, 1), dims=(1,)))


def test_random_flip_draws_per_image_and_each_output_is_a_flip():
    x = torch.rand(64, 3, 4, 2)
    out = layers.RandomFlip("horizontal", seed=3)(x, training=True)
    flipped = torch.tensor(
        [torch.equal(o, torch.flip(i, dims=(1,))) for o, i in zip(out, x, strict=True)]
    )
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert bool((flipped | kept).all())
    assert 10 < int(flipped.sum()) < 54


# ---------------------------------------------------------------- training only, seeds

RANDOM = [
    lambda **kw: layers.RandomFlip(**kw),
    lambda **kw: layers.RandomRotation(0.2, **kw),
    lambda **kw: layers.RandomZoom(0.3, 0.2, **kw),
    lambda **kw: layers.RandomTranslation(0.2, 0.3, **kw),
]


@pytest.mark.parametrize("make", RANDOM)
def test_random_layers_are_the_identity_in_inference(make):
    x = torch.rand(4, 6, 5, 3)
    layer = make(seed=0)
    assert torch.equal(layer(x, training=False), x)
    layer.eval()
    assert torch.equal(layer(x), x)
    assert not torch.equal(layer(x, training=True), x)


@pytest.mark.parametrize("make", RANDOM)
def test_same_seed_same_augmentations(make):
    x = torch.rand(4, 6, 5, 3)
    a, b, c = make(seed=5), make(seed=5), make(seed=6)
    first = [a(x, training=True) for _ in range(3)]
    second = [b(x, training=True) for _ in range(3)]
    for p, q in zip(first, second, strict=True):
        assert torch.equal(p, q)
    assert not all(torch.equal(p, c(x, training=True)) for p in first)


@pytest.mark.parametrize("make", RANDOM)
def test_random_layers_take_one_image(make):
    x = torch.rand(6, 5, 3)
    out = make(seed=2)(x, training=True)
    assert out.shape == x.shape


def _augmenting_model(seed: int) -> epochal.Sequential:
    torch.manual_seed(seed)
    model = epochal.Sequential(
        [
            layers.Input(shape=(6, 6, 1)),
            layers.RandomFlip(seed=1),
            layers.RandomRotation(0.1, seed=2),
            layers.RandomZoom(0.2, seed=3),
            layers.RandomTranslation(0.1, 0.1, seed=4),
            layers.Flatten(),
            layers.Dense(1),
        ],
        device="cpu",
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_fit_with_random_layers_is_deterministic_and_predict_is_not_augmented():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 6, 6, 1)).astype("float32")
    y = rng.uniform(size=(16, 1)).astype("float32")
    runs = []
    for _ in range(2):
        model = _augmenting_model(0)
        history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
        runs.append((history.history["loss"], model.get_weights(), model.predict(x, verbose=0)))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        np.testing.assert_array_equal(a, b)
    model = _augmenting_model(0)
    dense = model.layers[-1]
    flat = torch.from_numpy(x).reshape(16, -1)
    with torch.no_grad():
        expected = dense(flat).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(
        model.evaluate(x, y, verbose=0), float(np.mean((expected - y) ** 2)), rtol=1e-5
    )


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("make", "error", "word"),
    [
        (lambda: layers.RandomRotation(1.5), ValueError, "factor"),
        (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), ValueError, "factor"),
        (lambda: layers.RandomRotation("big"), TypeError, "factor"),
        (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), NotImplementedError, "fill_mode"),
        (
            lambda: layers.RandomRotation(0.1, interpolation="bicubic"),
            NotImplementedError,
            "interp",
        ),
        (lambda: layers.RandomRotation(0.1, seed=1.5), ValueError, "seed"),
        (lambda: layers.RandomZoom(-1.0), ValueError, "height_factor"),
        (lambda: layers.RandomZoom(0.2, (0.1, 1.2)), ValueError, "width_factor"),
        (lambda: layers.RandomTranslation(0.1, -1.1), ValueError, "width_factor"),
        (lambda: layers.RandomTranslation(0.1, 0.1, fill_value="x"), TypeError, "fill_value"),
        (lambda: layers.RandomFlip("diagonal"), ValueError, "mode"),
        (lambda: layers.Resizing(4, 4, interpolation="lanczos3"), ValueError, "lanczos3"),
        (lambda: layers.Resizing(4, 4, interpolation="area"), ValueError, "area"),
        (lambda: layers.Resizing(4, 4, fill_mode="reflect"), ValueError, "fill_mode"),
        (
            lambda: layers.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True),
            ValueError,
            "pad_to_aspect_ratio",
        ),
        (lambda: layers.Resizing(0, 4), ValueError, "height"),
        (lambda: layers.CenterCrop(3, 2.5), TypeError, "width"),
        (lambda: layers.CenterCrop(3, 3, data_format="NHWC"), ValueError, "data_format"),
    ],
)
def test_bad_arguments_are_refused_naming_them(make, error, word):
    with pytest.raises(error, match=word):
        make()


def test_factors_are_normalised_as_keras():
    assert layers.RandomRotation(0.2).factor == (-0.2, 0.2)
    assert layers.RandomRotation((0.3, -0.1)).factor == (-0.1, 0.3)
    assert layers.RandomRotation(-0.25).factor == (-0.25, 0.25)
    zoom = layers.RandomZoom(0.5)
    assert (zoom.height_lower, zoom.height_upper) == (-0.5, 0.5)
    assert zoom.get_config()["width_factor"] is None


def test_rank_two_images_are_refused():
    with pytest.raises(ValueError, match="rank-3"):
        layers.RandomRotation(0.1)(torch.zeros(3, 4), training=True)
    with pytest.raises(ValueError, match="rank-3"):
        layers.CenterCrop(1, 1)(torch.zeros(3, 4))


# ---------------------------------------------------------------- saving

_SAVED = {
    "CenterCrop": (lambda: [layers.CenterCrop(3, 2)], (2, 5, 4, 2)),
    "Resizing": (
        lambda: [layers.Resizing(3, 7, interpolation="nearest", pad_to_aspect_ratio=True)],
        (2, 4, 5, 1),
    ),
    "Random": (
        lambda: [
            layers.RandomFlip("vertical", seed=3),
            layers.RandomRotation((-0.2, 0.1), fill_mode="constant", fill_value=0.5, seed=1),
            layers.RandomZoom((0.1, 0.2), width_factor=0.3, interpolation="nearest"),
            layers.RandomTranslation(0.1, (0.0, 0.2), fill_mode="wrap", seed=7),
            layers.Flatten(),
            layers.Dense(2),
        ],
        (2, 5, 4, 2),
    ),
}


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_save_load_round_trip(tmp_path, name):
    make, shape = _SAVED[name]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    save_round_trip(tmp_path, make(), x)


def test_configs_survive_a_round_trip_through_keras_format(tmp_path):
    make, shape = _SAVED["Random"]
    model = epochal.Sequential([layers.Input(shape=shape[1:]), *make()], device="cpu")
    x = np.random.default_rng(1).uniform(-1, 1, shape).astype("float32")
    model.predict(x, verbose=0)  # builds
    model.save(tmp_path / "m.keras")
    loaded = epochal.load_model(tmp_path / "m.keras")
    for a, b in zip(loaded.layers, model.layers, strict=True):
        assert a.get_config() | {"name": None} == b.get_config() | {"name": None}
    model.save_weights(tmp_path / "m.weights.h5")
    other = epochal.Sequential([layers.Input(shape=shape[1:]), *make()], device="cpu")
    other.predict(x, verbose=0)
    other.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- files Keras wrote

KERAS_FILES = Path(__file__).resolve().parents[1] / "fixtures" / "keras_files"


def _keras_record() -> tuple[np.ndarray, np.ndarray]:
    record = json.loads((KERAS_FILES / "image_bn.json").read_text())
    return (
        np.asarray(record["input"], dtype=np.float32),
        np.asarray(record["predictions"], dtype=np.float32),
    )


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_models_keras_wrote_with_these_layers_load_and_predict_as_keras(suffix):
    x, expected = _keras_record()
    model = epochal.load_model(KERAS_FILES / f"image_bn{suffix}")
    assert [type(layer).__name__ for layer in model.layers] == [
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "CenterCrop",
        "Resizing",
        "BatchNormalization",
        "Flatten",
        "Dense",
    ]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=ATOL, rtol=0)


def test_keras_weights_file_loads_into_the_same_epochal_model():
    x, expected = _keras_record()
    model = epochal.Sequential(
        [
            layers.Input(shape=(5, 6, 2)),
            layers.RandomFlip("horizontal", seed=1),
            layers.RandomRotation(0.1, fill_mode="constant", seed=2),
            layers.RandomZoom((-0.2, 0.1), width_factor=0.2, interpolation="nearest"),
            layers.RandomTranslation(0.1, (0.0, 0.2), fill_mode="wrap", seed=4),
            layers.CenterCrop(4, 5),
            layers.Resizing(4, 4, interpolation="nearest", crop_to_aspect_ratio=True),
            layers.BatchNormalization(momentum=0.9, epsilon=0.01, center=False),
            layers.Flatten(),
            layers.Dense(2),
        ],
        device="cpu",
    )
    model.predict(x, verbose=0)  # builds
    model.load_weights(KERAS_FILES / "image_bn.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=ATOL, rtol=0)
