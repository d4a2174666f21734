"""Keras-named layers as ``torch.nn.Module`` s, channels-last as in Keras.

One module per Keras family (``core``, ``convolutional``, ``pooling``, ``normalization``,
``regularization``, ``reshaping``); :mod:`epochal.layers.base` holds :class:`Layer`, the
class user layers subclass. ``LAYER_CLASSES`` maps every class exported here by name: it is
what loading may build without ``custom_objects``.
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
from epochal.layers.convolutional import Conv2D
from epochal.layers.core import Activation, Dense, Embedding
from epochal.layers.normalization import BatchNormalization
from epochal.layers.pooling import MaxPooling2D
from epochal.layers.regularization import Dropout
from epochal.layers.reshaping import Flatten, Reshape

__all__ = [
    "Activation",
    "BatchNormalization",
    "Constant",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "Input",
    "InputLayer",
    "Layer",
    "LecunNormal",
    "LecunUniform",
    "MaxPooling2D",
    "Ones",
    "RandomNormal",
    "RandomUniform",
    "Reshape",
    "Zeros",
    "collect_losses",
    "get_activation",
    "non_trainable_weights_of",
    "set_trainable",
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
