"""Convolutional layers against recorded Keras 3 outputs, with save/load round trips."""

from __future__ import annotations

import pytest
from _keras_layers import check_case, load_cases

CASES = load_cases("convolutional")


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_keras(name):
    check_case(CASES[name])


import numpy as np  # noqa: E402
import torch  # noqa: E402
from _keras_layers import save_round_trip  # noqa: E402

from epochal import layers  # noqa: E402

_SAVED = {
    "Conv1D": (lambda: [layers.Conv1D(2, 3, padding="causal", dilation_rate=2)], (2, 6, 3)),
    "Conv2D": (
        lambda: [layers.Conv2D(4, 2, groups=2, data_format="channels_first", strides=2)],
        (2, 4, 5, 5),
    ),
    "Conv3D": (lambda: [layers.Conv3D(2, 2, padding="same")], (1, 3, 3, 3, 2)),
    "Conv1DTranspose": (lambda: [layers.Conv1DTranspose(2, 3, strides=2)], (2, 4, 3)),
    "Conv2DTranspose": (
        lambda: [layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1)],
        (2, 3, 3, 2),
    ),
    "Conv3DTranspose": (lambda: [layers.Conv3DTranspose(2, 2, strides=2)], (1, 2, 2, 2, 2)),
    "DepthwiseConv1D": (lambda: [layers.DepthwiseConv1D(2, depth_multiplier=2)], (2, 5, 3)),
    "DepthwiseConv2D": (
        lambda: [layers.DepthwiseConv2D(3, padding="same", activation="relu")],
        (2, 4, 4, 3),
    ),
    "SeparableConv1D": (lambda: [layers.SeparableConv1D(3, 2, padding="same")], (2, 5, 2)),
    "SeparableConv2D": (
        lambda: [layers.SeparableConv2D(3, 2, depth_multiplier=2, use_bias=False)],
        (2, 4, 4, 2),
    ),
}


@pytest.mark.parametrize("name", sorted(_SAVED))
def test_save_load_round_trip(tmp_path, name):
    make, shape = _SAVED[name]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    save_round_trip(tmp_path, make(), x)


def test_kernels_are_in_keras_layout():
    assert layers.Conv2D(5, (2, 3), input_shape=(8, 8, 4)).kernel.shape == (2, 3, 4, 5)
    assert layers.Conv2D(6, 2, groups=3, input_shape=(8, 8, 3)).kernel.shape == (2, 2, 1, 6)
    assert layers.Conv2DTranspose(5, 3, input_shape=(4, 4, 2)).kernel.shape == (3, 3, 5, 2)
    depthwise = layers.DepthwiseConv2D(3, depth_multiplier=2, input_shape=(5, 5, 4))
    assert [w.shape for w in depthwise.get_weights()] == [(3, 3, 4, 2), (8,)]
    separable = layers.SeparableConv2D(7, 3, input_shape=(5, 5, 4))
    assert [w.shape for w in separable.get_weights()] == [(3, 3, 4, 1), (1, 1, 4, 7), (7,)]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: layers.Conv2D(2, 3, padding="causal"), "padding"),
        (lambda: layers.Conv1D(3, 2, groups=2), "groups"),
        (lambda: layers.Conv2D(2, 0), "kernel_size"),
        (lambda: layers.Conv2D(2, 3, strides=2, dilation_rate=2), "dilation_rate"),
        (lambda: layers.Conv2D(2, 3, data_format="NHWC"), "data_format"),
        (lambda: layers.Conv2D(2, 3, lora_rank=4), "lora_rank"),
        (lambda: layers.Conv2DTranspose(2, 3, strides=2, output_padding=2), "output_padding"),
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    ],
)
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_groups_must_divide_the_input_channels():
    with pytest.raises(ValueError, match="groups"):
        layers.Conv2D(4, 2, groups=2)(torch.ones(1, 4, 4, 3))


def test_kernel_regularizer_and_activity_regularizer_add_losses():
    layer = layers.Conv2D(
        2, 2, kernel_regularizer="l2", activity_regularizer="l1", input_shape=(3, 3, 1)
    )
    layer(torch.ones(2, 3, 3, 1), training=True)
    assert len(layer.losses) == 2
