"""Keras-named layers as ``torch.nn.Module`` s, channels-last as in Keras.

One module per Keras family (``core``, ``convolutional``, ``pooling``, ``normalization``,
``regularization``, ``reshaping``, ``merging``, ``attention``, ``recurrent``);
:mod:`epochal.layers.base` holds :class:`Layer`, the class user layers subclass.
``LAYER_CLASSES`` maps every class exported here by name: it is what loading may build
without ``custom_objects``.
"""

from __future__ import annotations

from epochal.activations import get as get_activation
from epochal.initializers import (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Initializer,
    LecunNormal,
    LecunUniform,
    Ones,
    RandomNormal,
    RandomUniform,
    Zeros,
)
from epochal.layers.activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from epochal.layers.attention import Attention, MultiHeadAttention
from epochal.layers.base import (
    Input,
    InputLayer,
    Layer,
    collect_losses,
    non_trainable_weights_of,
    set_trainable,
    trainable_weights_of,
    training_scope,
    weights_of,
)
from epochal.layers.convolutional import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from epochal.layers.core import Activation, Dense, Embedding, Lambda, Masking
from epochal.layers.image_preprocessing import (
    CenterCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Resizing,
)
from epochal.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from epochal.layers.normalization import BatchNormalization, LayerNormalization
from epochal.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from epochal.layers.preprocessing import Normalization, Rescaling
from epochal.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN, TimeDistributed
from epochal.layers.regularization import Dropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D
from epochal.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Flatten,
    Permute,
    RepeatVector,
    Reshape,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)

__all__ = [
    "ELU",
    "GRU",
    "LSTM",
    "Activation",
    "Add",
    "Attention",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "BatchNormalization",
    "Bidirectional",
    "CenterCrop",
    "Concatenate",
    "Constant",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Cropping1D",
    "Cropping2D",
    "Dense",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
    "Dot",
    "Dropout",
    "Embedding",
    "Flatten",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "Input",
    "InputLayer",
    "Lambda",
    "Layer",
    "LayerNormalization",
    "LeakyReLU",
    "LecunNormal",
    "LecunUniform",
    "Masking",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "Maximum",
    "Minimum",
    "MultiHeadAttention",
    "Multiply",
    "Normalization",
    "Ones",
    "PReLU",
    "Permute",
    "RandomFlip",
    "RandomNormal",
    "RandomRotation",
    "RandomTranslation",
    "RandomUniform",
    "RandomZoom",
    "ReLU",
    "RepeatVector",
    "Rescaling",
    "Reshape",
    "Resizing",
    "SeparableConv1D",
    "SeparableConv2D",
    "SimpleRNN",
    "Softmax",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "Subtract",
    "TimeDistributed",
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "Zeros",
    "add",
    "average",
    "collect_losses",
    "concatenate",
    "dot",
    "get_activation",
    "maximum",
    "minimum",
    "multiply",
    "non_trainable_weights_of",
    "set_trainable",
    "subtract",
    "trainable_weights_of",
    "training_scope",
    "weights_of",
]

LAYER_CLASSES: dict[str, type[Layer]] = {
    name: value
    for name, value in globals().items()
    if name in __all__
    and isinstance(value, type)
    and issubclass(value, Layer)
    and value is not Layer
}
