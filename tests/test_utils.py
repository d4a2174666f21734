"""utils: to_categorical, set_random_seed and the public names of epochal.utils."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from epochal import utils
from epochal.utils import set_random_seed, to_categorical


def test_to_categorical_one_hot_rows():
    out = to_categorical([0, 2, 1])
    assert out.shape == (3, 3)
    assert out.dtype == np.float32
    assert out.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]


def test_to_categorical_drops_a_trailing_axis_of_one():
    out = to_categorical(np.array([[1], [0], [3]]))
    assert out.shape == (3, 4)
    assert out.argmax(axis=-1).tolist() == [1, 0, 3]


def test_to_categorical_keeps_other_leading_axes():
    labels = np.array([[0, 1, 2], [2, 1, 0]])
    out = to_categorical(labels, num_classes=3)
    assert out.shape == (2, 3, 3)
    assert np.array_equal(out.argmax(axis=-1), labels)


def test_to_categorical_with_num_classes_pads_columns():
    out = to_categorical([1, 1], num_classes=5)
    assert out.shape == (2, 5)
    assert out.sum(axis=-1).tolist() == [1.0, 1.0]
    assert out[:, 1].tolist() == [1.0, 1.0]


def test_to_categorical_accepts_float_labels_tensors_and_dtype():
    assert to_categorical(np.array([1.0, 0.0])).tolist() == [[0, 1], [1, 0]]
    assert to_categorical(torch.tensor([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert to_categorical([1], num_classes=2, dtype="int64").dtype == np.int64


def test_to_categorical_single_row_and_scalar():
    assert to_categorical([3], num_classes=4).shape == (1, 4)
    assert to_categorical(2, num_classes=3).tolist() == [0, 0, 1]


def test_to_categorical_label_out_of_range_is_a_value_error():
    with pytest.raises(ValueError, match="num_classes"):
        to_categorical([0, 3], num_classes=3)


def test_to_categorical_negative_label_is_a_value_error():
    with pytest.raises(ValueError, match="non-negative"):
        to_categorical([0, -1])


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_set_random_seed_makes_python_numpy_and_torch_reproducible():
    set_random_seed(1234)
    first = _draws()
    set_random_seed(1234)
    assert _draws() == first
    set_random_seed(4321)
    assert _draws() != first


def test_set_random_seed_makes_layer_initialisation_reproducible():
    from epochal.layers import Dense

    set_random_seed(7)
    a = Dense(3, input_dim=4).kernel.detach().clone()
    set_random_seed(7)
    b = Dense(3, input_dim=4).kernel.detach().clone()
    assert torch.equal(a, b)


def test_public_names():
    assert set(utils.__all__) == {
        "PyDataset",
        "Sequence",
        "get_file",
        "model_to_dot",
        "normalize",
        "pad_sequences",
        "plot_model",
        "set_random_seed",
        "to_categorical",
    }
    assert all(callable(getattr(utils, name)) for name in utils.__all__)
