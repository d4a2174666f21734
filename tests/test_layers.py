"""Keras-named layers: shapes, lazy building, activations, modes and configs."""

from __future__ import annotations

import math

import pytest
import torch

from epochal import layers
from epochal.layers import (
    LAYER_CLASSES,
    Activation,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    InputLayer,
    MaxPooling2D,
    Reshape,
    get_activation,
)

# ---------------------------------------------------------------- Dense


def test_dense_kernel_is_in_by_out_with_glorot_uniform_limits():
    layer = Dense(40, input_dim=60)
    assert tuple(layer.kernel.shape) == (60, 40)
    assert tuple(layer.bias.shape) == (40,)
    limit = math.sqrt(6.0 / (60 + 40))
    kernel = layer.kernel.detach()
    assert kernel.abs().max().item() <= limit
    # 2400 uniform draws reach close to both ends of the interval.
    assert kernel.max().item() > 0.95 * limit
    assert kernel.min().item() < -0.95 * limit
    assert torch.count_nonzero(layer.bias) == 0


def test_dense_is_built_lazily_on_first_call():
    layer = Dense(3)
    assert not layer.built
    assert layer.kernel is None
    assert list(layer.parameters()) == []
    out = layer(torch.ones(2, 5))
    assert layer.built
    assert tuple(layer.kernel.shape) == (5, 3)
    assert out.shape == (2, 3)


@pytest.mark.parametrize("kwargs", [{"input_shape": (5,)}, {"input_dim": 5}])
def test_dense_input_shape_or_input_dim_builds_eagerly(kwargs):
    layer = Dense(3, **kwargs)
    assert layer.built
    assert tuple(layer.kernel.shape) == (5, 3)
    assert layer.input_shape_hint == (5,)


def test_dense_computes_x_kernel_plus_bias_on_last_axis():
    layer = Dense(2, input_dim=3)
    with torch.no_grad():
        layer.kernel.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))
        layer.bias.copy_(torch.tensor([0.5, -0.5]))
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.allclose(layer(x), torch.tensor([[4.5, -1.5]]))
    # A 3-D input applies the kernel to the last axis.
    out = layer(x.reshape(1, 1, 3).expand(2, 4, 3))
    assert out.shape == (2, 4, 2)
    assert torch.allclose(out[1, 3], torch.tensor([4.5, -1.5]))


def test_dense_without_bias_has_only_a_kernel():
    layer = Dense(2, use_bias=False, input_dim=3)
    assert [name for name, _ in layer.named_parameters()] == ["kernel"]


@pytest.mark.parametrize("units", [0, -1, 2.5, True, "4"])
def test_dense_rejects_bad_units(units):
    with pytest.raises(ValueError, match="units"):
        Dense(units)


def test_unknown_initializer_is_a_value_error_naming_the_argument():
    with pytest.raises(ValueError, match="kernel_initializer"):
        Dense(2, kernel_initializer="nope")


@pytest.mark.parametrize(
    ("name", "zeros_expected"), [("zeros", True), ("ones", False), ("he_normal", False)]
)
def test_initializer_names(name, zeros_expected):
    layer = Dense(4, kernel_initializer=name, input_dim=4)
    assert bool(torch.all(layer.kernel == 0)) is zeros_expected
    if name == "ones":
        assert torch.all(layer.kernel == 1)


# ---------------------------------------------------------------- activations


@pytest.mark.parametrize(
    ("name", "x", "expected"),
    [
        ("relu", [-1.0, 2.0], [0.0, 2.0]),
        ("linear", [-1.0, 2.0], [-1.0, 2.0]),
        ("sigmoid", [0.0, 0.0], [0.5, 0.5]),
        ("tanh", [0.0, 0.0], [0.0, 0.0]),
        ("softmax", [1.0, 1.0], [0.5, 0.5]),
        ("exponential", [0.0, 1.0], [1.0, math.e]),
        ("softplus", [0.0, 0.0], [math.log(2.0), math.log(2.0)]),
        ("RELU", [-3.0, 3.0], [0.0, 3.0]),
    ],
)
def test_activation_by_name(name, x, expected):
    out = get_activation(name)(torch.tensor([x]))
    assert torch.allclose(out, torch.tensor([expected]), atol=1e-6)
    assert torch.allclose(Activation(name)(torch.tensor([x])), torch.tensor([expected]), atol=1e-6)


def test_softmax_activation_normalises_the_last_axis():
    out = Dense(5, activation="softmax", input_dim=3)(torch.randn(4, 3))
    assert torch.allclose(out.sum(dim=-1), torch.ones(4), atol=1e-6)
    assert torch.all(out > 0)


def test_none_is_linear_and_callables_pass_through():
    x = torch.tensor([[-2.0, 3.0]])
    assert torch.equal(get_activation(None)(x), x)
    assert get_activation(torch.abs) is torch.abs


def test_unknown_activation_lists_known_names():
    with pytest.raises(ValueError, match="relu") as info:
        get_activation("relux")
    assert "relux" in str(info.value)
    assert "softmax" in str(info.value)
    with pytest.raises(ValueError, match="relux"):
        Dense(2, activation="relux")


# ---------------------------------------------------------------- Dropout


def test_dropout_is_identity_in_eval_mode():
    layer = Dropout(0.5).eval()
    x = torch.arange(1.0, 101.0)
    assert torch.equal(layer(x), x)


def test_dropout_zeroes_and_rescales_in_training_mode():
    layer = Dropout(0.5).train()
    x = torch.ones(2000)
    out = layer(x)
    dropped = (out == 0).float().mean().item()
    assert 0.4 < dropped < 0.6
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 2.0))


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rejects_rates_outside_0_1(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


# ---------------------------------------------------------------- reshaping layers


def test_flatten_keeps_the_batch_axis():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    out = Flatten()(x)
    assert out.shape == (2, 60)
    assert torch.equal(out[1], x[1].reshape(-1))


def test_reshape_excludes_the_batch_axis():
    out = Reshape((3, 2))(torch.zeros(4, 6))
    assert out.shape == (4, 3, 2)


def test_input_layer_declares_a_shape_and_passes_data_through():
    tensor = Input(shape=(3,))  # Keras 3: a symbolic tensor, made by an InputLayer
    assert tensor.shape == (None, 3)
    layer = tensor.node.owner
    assert isinstance(layer, InputLayer)
    assert layer.input_shape_hint == (3,)
    x = torch.randn(2, 3)
    assert torch.equal(layer(x), x)


# ---------------------------------------------------------------- Conv2D / pooling


@pytest.mark.parametrize(
    ("padding", "strides", "kernel", "expected_hw"),
    [
        ("valid", 1, 3, (6, 6)),
        ("same", 1, 3, (8, 8)),
        ("valid", 2, 3, (3, 3)),
        ("same", 2, 3, (4, 4)),
        ("same", 3, 2, (3, 3)),
        ("valid", (2, 1), (3, 1), (3, 8)),
    ],
)
def test_conv2d_channels_last_output_shapes(padding, strides, kernel, expected_hw):
    layer = Conv2D(4, kernel, strides=strides, padding=padding)
    out = layer(torch.randn(2, 8, 8, 3))
    assert out.shape == (2, *expected_hw, 4)


def test_conv2d_same_padding_with_strides_pads_bottom_right_like_keras():
    # Keras ("same", stride 2, kernel 3, size 8) pads 0 rows on top and 1 at the bottom.
    layer = Conv2D(1, 3, strides=2, padding="same", kernel_initializer="ones", use_bias=False)
    out = layer(torch.ones(1, 8, 8, 1))
    assert out.shape == (1, 4, 4, 1)
    assert out[0, 0, 0, 0].item() == 9.0
    assert out[0, 3, 3, 0].item() == 4.0
    assert out[0, 0, 3, 0].item() == 6.0


def test_conv2d_reads_channels_from_the_last_axis():
    layer = Conv2D(2, 1, kernel_initializer="ones", use_bias=False)
    x = torch.zeros(1, 2, 2, 3)
    x[..., 0], x[..., 1], x[..., 2] = 1.0, 10.0, 100.0
    out = layer(x)
    assert out.shape == (1, 2, 2, 2)
    assert torch.allclose(out, torch.full((1, 2, 2, 2), 111.0))


def test_conv2d_builds_eagerly_from_input_shape_and_applies_activation():
    layer = Conv2D(3, 2, activation="relu", input_shape=(5, 5, 2))
    assert layer.built
    assert tuple(layer.kernel.shape) == (2, 2, 2, 3)  # Keras' (kh, kw, in, filters)
    assert torch.all(layer(torch.randn(4, 5, 5, 2)) >= 0)


def test_conv2d_rejects_unknown_padding():
    with pytest.raises(ValueError, match="padding"):
        Conv2D(1, 3, padding="full")


def test_max_pooling_2d_valid():
    x = torch.arange(16.0).reshape(1, 4, 4, 1)
    out = MaxPooling2D()(x)
    assert out.shape == (1, 2, 2, 1)
    assert out.flatten().tolist() == [5.0, 7.0, 13.0, 15.0]


def test_max_pooling_2d_pools_each_channel_separately():
    x = torch.stack([torch.arange(16.0), -torch.arange(16.0)], dim=-1).reshape(1, 4, 4, 2)
    out = MaxPooling2D(2)(x)
    assert out[0, :, :, 0].flatten().tolist() == [5.0, 7.0, 13.0, 15.0]
    assert out[0, :, :, 1].flatten().tolist() == [0.0, -2.0, -8.0, -10.0]


@pytest.mark.parametrize(
    ("size", "pool", "strides", "expected_hw"),
    [(5, 2, None, 3), (4, 3, 1, 4), (6, 3, 2, 3), (4, 2, None, 2)],
)
def test_max_pooling_2d_same_output_size_is_ceil_of_size_over_strides(
    size, pool, strides, expected_hw
):
    out = MaxPooling2D(pool, strides=strides, padding="same")(torch.randn(1, size, size, 1))
    assert out.shape == (1, expected_hw, expected_hw, 1)


def test_max_pooling_2d_same_never_picks_padding_values():
    x = -torch.arange(1.0, 26.0).reshape(1, 5, 5, 1)  # all negative
    out = MaxPooling2D(3, strides=1, padding="same")(x)
    assert torch.all(out < 0)
    assert out[0, 0, 0, 0].item() == -1.0
    assert out[0, 4, 4, 0].item() == -19.0


# ---------------------------------------------------------------- BatchNormalization


def test_batch_normalization_training_normalises_the_last_axis():
    layer = BatchNormalization().train()
    x = torch.randn(64, 3) * torch.tensor([1.0, 5.0, 2.0]) + torch.tensor([2.0, -3.0, 10.0])
    out = layer(x)
    assert torch.allclose(out.mean(dim=0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std(dim=0, unbiased=False), torch.ones(3), atol=1e-2)


def test_batch_normalization_updates_moving_stats_with_keras_momentum():
    layer = BatchNormalization(momentum=0.9, input_shape=(2,)).train()
    x = torch.tensor([[1.0, 10.0], [3.0, 30.0]])
    layer(x)
    mean = torch.tensor([2.0, 20.0])
    variance = torch.tensor([1.0, 100.0])  # Keras' moving variance uses the batch (biased) one
    state = layer.state_dict()
    means = next(v for k, v in state.items() if k.endswith("moving_mean"))
    variances = next(v for k, v in state.items() if k.endswith("moving_variance"))
    assert torch.allclose(means, 0.9 * torch.zeros(2) + 0.1 * mean)
    assert torch.allclose(variances, 0.9 * torch.ones(2) + 0.1 * variance)


def test_batch_normalization_eval_uses_moving_stats():
    layer = BatchNormalization(epsilon=0.0, input_shape=(2,)).eval()
    x = torch.tensor([[1.0, -2.0], [3.0, 4.0]])
    # Fresh moving stats: mean 0, variance 1 → identity.
    assert torch.allclose(layer(x), x)


def test_batch_normalization_built_lazily_in_eval_mode_stays_in_eval_mode():
    layer = BatchNormalization().eval()
    x = torch.tensor([[1.0, -2.0]])  # a batch of one
    assert torch.allclose(layer(x), x / math.sqrt(1 + 1e-3))
    state = layer.state_dict()
    assert torch.equal(
        next(v for k, v in state.items() if k.endswith("moving_mean")), torch.zeros(2)
    )


def test_batch_normalization_training_with_a_batch_of_one_gives_beta():
    layer = BatchNormalization(input_shape=(3,)).train()
    assert torch.allclose(layer(torch.tensor([[4.0, 5.0, 6.0]])), torch.zeros(1, 3))


def test_batch_normalization_gradients_flow_to_inputs_and_weights():
    layer = BatchNormalization(input_shape=(2,)).train()
    x = torch.randn(5, 2, requires_grad=True)
    (layer(x) * torch.arange(10.0).reshape(5, 2)).sum().backward()
    assert x.grad is not None
    assert all(p.grad is not None for p in layer.parameters())


def test_batch_normalization_works_on_channels_last_images():
    layer = BatchNormalization().train()
    x = torch.randn(4, 3, 3, 2) + torch.tensor([5.0, -5.0])
    out = layer(x)
    assert out.shape == x.shape
    assert torch.allclose(out.mean(dim=(0, 1, 2)), torch.zeros(2), atol=1e-5)
    assert sum(p.numel() for p in layer.parameters()) == 4


# ---------------------------------------------------------------- Embedding


def test_embedding_looks_up_rows():
    layer = Embedding(10, 4)
    ids = torch.tensor([[0, 3, 9], [3, 3, 1]])
    out = layer(ids)
    assert out.shape == (2, 3, 4)
    table = layer.embeddings.detach()
    assert torch.equal(out[0, 1], table[3])
    assert torch.equal(out[1, 2], table[1])
    assert table.abs().max().item() <= 0.05


def test_embedding_accepts_float_ids_and_the_legacy_input_length():
    with pytest.warns(UserWarning, match="input_length"):
        layer = Embedding(5, 2, input_length=3)
    out = layer(torch.tensor([[1.0, 4.0, 0.0]]))
    assert torch.equal(out[0, 1], layer.embeddings.detach()[4])


# ---------------------------------------------------------------- autocast, kwargs, names


def test_integer_inputs_are_autocast_to_float():
    layer = Dense(2, input_dim=3)
    ints = torch.tensor([[1, 2, 3]])
    out = layer(ints)
    assert out.dtype == torch.float32
    assert torch.allclose(out, layer(ints.float()))
    conv = Conv2D(1, 1, input_shape=(2, 2, 1))
    assert conv(torch.ones(1, 2, 2, 1, dtype=torch.uint8)).dtype == torch.float32
    assert Flatten()(torch.ones(1, 2, 2, dtype=torch.int64)).dtype == torch.float32


def _double(x, factor=2):
    return x * factor


_EXAMPLES = {
    "Activation": lambda **kw: Activation("relu", **kw),
    "CenterCrop": lambda **kw: layers.CenterCrop(3, 2, data_format="channels_first", **kw),
    "Resizing": lambda **kw: layers.Resizing(
        4, 5, interpolation="bicubic", pad_to_aspect_ratio=True, fill_value=0.5, **kw
    ),
    "RandomFlip": lambda **kw: layers.RandomFlip("vertical", seed=2, **kw),
    "RandomRotation": lambda **kw: layers.RandomRotation(
        (-0.1, 0.2), fill_mode="constant", fill_value=1.0, seed=1, **kw
    ),
    "RandomZoom": lambda **kw: layers.RandomZoom(0.2, (-0.1, 0.3), interpolation="nearest", **kw),
    "RandomTranslation": lambda **kw: layers.RandomTranslation(
        (0.0, 0.1), 0.2, fill_mode="wrap", **kw
    ),
    "BatchNormalization": lambda **kw: BatchNormalization(momentum=0.9, epsilon=1e-2, **kw),
    "Conv2D": lambda **kw: Conv2D(
        3,
        (2, 3),
        strides=(1, 2),
        padding="same",
        activation="relu",
        use_bias=False,
        kernel_initializer="he_uniform",
        **kw,
    ),
    "Dense": lambda **kw: Dense(
        3, activation="tanh", use_bias=False, kernel_initializer="lecun_normal", **kw
    ),
    "Dropout": lambda **kw: Dropout(0.25, **kw),
    "Embedding": lambda **kw: Embedding(7, 3, **kw),
    "Flatten": lambda **kw: Flatten(**kw),
    "InputLayer": lambda **kw: InputLayer(shape=(4,), **kw),
    "Add": lambda **kw: layers.Add(**kw),
    "Subtract": lambda **kw: layers.Subtract(**kw),
    "Multiply": lambda **kw: layers.Multiply(**kw),
    "Average": lambda **kw: layers.Average(**kw),
    "Maximum": lambda **kw: layers.Maximum(**kw),
    "Minimum": lambda **kw: layers.Minimum(**kw),
    "Concatenate": lambda **kw: layers.Concatenate(axis=1, **kw),
    "Dot": lambda **kw: layers.Dot(axes=(1, 2), normalize=True, **kw),
    "Attention": lambda **kw: layers.Attention(use_scale=True, score_mode="concat", **kw),
    "MultiHeadAttention": lambda **kw: layers.MultiHeadAttention(
        3, 2, value_dim=4, output_shape=5, attention_axes=1, kernel_regularizer="l2", **kw
    ),
    "Lambda": lambda **kw: layers.Lambda(_double, arguments={"factor": 3}, **kw),
    "MaxPooling2D": lambda **kw: MaxPooling2D(3, strides=2, padding="same", **kw),
    "Reshape": lambda **kw: Reshape((2, 2), **kw),
    "Masking": lambda **kw: layers.Masking(mask_value=-1.0, **kw),
    "SimpleRNN": lambda **kw: layers.SimpleRNN(
        3, activation="relu", return_sequences=True, go_backwards=True, **kw
    ),
    "LSTM": lambda **kw: layers.LSTM(
        2, recurrent_activation="hard_sigmoid", unit_forget_bias=False, dropout=0.1, **kw
    ),
    "GRU": lambda **kw: layers.GRU(2, reset_after=False, return_state=True, seed=3, **kw),
    "Bidirectional": lambda **kw: layers.Bidirectional(
        layers.LSTM(2, return_sequences=True), merge_mode="ave", **kw
    ),
    "TimeDistributed": lambda **kw: layers.TimeDistributed(Dense(2), **kw),
    "Conv1D": lambda **kw: layers.Conv1D(2, 3, padding="causal", dilation_rate=2, **kw),
    "Conv3D": lambda **kw: layers.Conv3D(2, 2, data_format="channels_first", **kw),
    "Conv1DTranspose": lambda **kw: layers.Conv1DTranspose(2, 3, strides=2, **kw),
    "Conv2DTranspose": lambda **kw: layers.Conv2DTranspose(
        2, 3, strides=2, padding="same", output_padding=1, **kw
    ),
    "Conv3DTranspose": lambda **kw: layers.Conv3DTranspose(2, 2, **kw),
    "DepthwiseConv1D": lambda **kw: layers.DepthwiseConv1D(3, depth_multiplier=2, **kw),
    "DepthwiseConv2D": lambda **kw: layers.DepthwiseConv2D(3, padding="same", **kw),
    "SeparableConv1D": lambda **kw: layers.SeparableConv1D(2, 3, **kw),
    "SeparableConv2D": lambda **kw: layers.SeparableConv2D(
        2, 3, depth_multiplier=2, pointwise_initializer="he_normal", **kw
    ),
    "MaxPooling1D": lambda **kw: layers.MaxPooling1D(3, padding="same", **kw),
    "MaxPooling3D": lambda **kw: layers.MaxPooling3D(**kw),
    "AveragePooling1D": lambda **kw: layers.AveragePooling1D(2, **kw),
    "AveragePooling2D": lambda **kw: layers.AveragePooling2D(3, 2, padding="same", **kw),
    "AveragePooling3D": lambda **kw: layers.AveragePooling3D(2, **kw),
    "GlobalMaxPooling1D": lambda **kw: layers.GlobalMaxPooling1D(keepdims=True, **kw),
    "GlobalMaxPooling2D": lambda **kw: layers.GlobalMaxPooling2D(**kw),
    "GlobalMaxPooling3D": lambda **kw: layers.GlobalMaxPooling3D(**kw),
    "GlobalAveragePooling1D": lambda **kw: layers.GlobalAveragePooling1D(**kw),
    "GlobalAveragePooling2D": lambda **kw: layers.GlobalAveragePooling2D(
        data_format="channels_first", **kw
    ),
    "GlobalAveragePooling3D": lambda **kw: layers.GlobalAveragePooling3D(**kw),
    "Cropping1D": lambda **kw: layers.Cropping1D((1, 2), **kw),
    "Cropping2D": lambda **kw: layers.Cropping2D(1, **kw),
    "Permute": lambda **kw: layers.Permute((2, 1), **kw),
    "RepeatVector": lambda **kw: layers.RepeatVector(3, **kw),
    "UpSampling1D": lambda **kw: layers.UpSampling1D(3, **kw),
    "UpSampling2D": lambda **kw: layers.UpSampling2D(interpolation="bilinear", **kw),
    "ZeroPadding1D": lambda **kw: layers.ZeroPadding1D(2, **kw),
    "ZeroPadding2D": lambda **kw: layers.ZeroPadding2D(((1, 0), (2, 1)), **kw),
    "ReLU": lambda **kw: layers.ReLU(max_value=6.0, **kw),
    "LeakyReLU": lambda **kw: layers.LeakyReLU(0.2, **kw),
    "PReLU": lambda **kw: layers.PReLU(shared_axes=[1, 2], **kw),
    "ELU": lambda **kw: layers.ELU(0.5, **kw),
    "Softmax": lambda **kw: layers.Softmax(axis=[1, 2], **kw),
    "LayerNormalization": lambda **kw: layers.LayerNormalization(epsilon=1e-5, **kw),
    "Normalization": lambda **kw: layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 4.0], **kw),
    "Rescaling": lambda **kw: layers.Rescaling(1 / 255.0, **kw),
    "GaussianNoise": lambda **kw: layers.GaussianNoise(0.1, seed=4, **kw),
    "SpatialDropout1D": lambda **kw: layers.SpatialDropout1D(0.2, **kw),
    "SpatialDropout2D": lambda **kw: layers.SpatialDropout2D(
        0.2, data_format="channels_first", **kw
    ),
}


def test_examples_cover_every_layer_class():
    assert set(_EXAMPLES) == set(LAYER_CLASSES)


@pytest.mark.parametrize("class_name", sorted(LAYER_CLASSES))
def test_get_config_from_config_round_trip(class_name):
    layer = _EXAMPLES[class_name](name=f"my_{class_name.lower()}")
    assert type(layer) is LAYER_CLASSES[class_name]
    config = layer.get_config()
    assert config["name"] == f"my_{class_name.lower()}"
    if class_name == "Lambda":  # its function comes back by name from custom_objects
        clone = layers.Lambda.from_config(config, custom_objects={"_double": _double})
    else:
        clone = LAYER_CLASSES[class_name].from_config(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == config


def test_from_config_keeps_the_declared_input_shape():
    layer = Dense(2, input_shape=(3,))
    clone = Dense.from_config(layer.get_config())
    assert clone.built
    assert tuple(clone.kernel.shape) == (3, 2)


@pytest.mark.parametrize("class_name", sorted(LAYER_CLASSES))
def test_unexpected_keyword_arguments_are_type_errors(class_name):
    with pytest.raises(TypeError, match="bogus_arg"):
        _EXAMPLES[class_name](bogus_arg=1)


def test_default_names_are_keras_snake_case_and_unique():
    first, second = Conv2D(1, 1), Conv2D(1, 1)
    assert first.name.startswith("conv2d")
    assert second.name.startswith("conv2d")
    assert first.name != second.name
    assert MaxPooling2D().name.startswith("max_pooling2d")
    assert BatchNormalization().name.startswith("batch_normalization")
    assert Dense(1, name="head").name == "head"


def test_get_weights_returns_numpy_copies():
    layer = Dense(2, input_dim=2)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (2, 2)
    assert bias.shape == (2,)
    kernel[:] = 99.0
    assert layer.kernel.detach().max().item() < 99.0


def test_public_names_are_exported():
    for name in layers.__all__:
        assert hasattr(layers, name)
