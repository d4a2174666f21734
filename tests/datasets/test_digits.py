"""The bundled 8x8 digits: shapes, dtypes, values, a deterministic split."""

from __future__ import annotations

import numpy as np
import pytest

from epochal.datasets import digits


@pytest.fixture(scope="module")
def default_split():
    return digits.load_data()


def test_shapes_and_dtypes(default_split):
    (x_train, y_train), (x_test, y_test) = default_split
    assert x_train.shape == (1438, 8, 8)
    assert x_test.shape == (359, 8, 8)
    assert y_train.shape == (1438,)
    assert y_test.shape == (359,)
    assert x_train.dtype == np.float32
    assert x_test.dtype == np.float32
    assert y_train.dtype == np.int64
    assert y_test.dtype == np.int64


def test_values_are_integers_from_0_to_16(default_split):
    (x_train, y_train), (x_test, y_test) = default_split
    pixels = np.concatenate([x_train.ravel(), x_test.ravel()])
    assert pixels.min() == 0.0
    assert pixels.max() == 16.0
    assert np.array_equal(pixels, np.round(pixels))
    labels = np.concatenate([y_train, y_test])
    counts = np.bincount(labels, minlength=10)
    assert len(counts) == 10
    assert counts.sum() == 1797
    assert counts.min() >= 170  # each digit has about 180 images


def test_split_is_deterministic(default_split):
    (x_train, y_train), (x_test, y_test) = default_split
    (x_train2, y_train2), (x_test2, y_test2) = digits.load_data()
    assert np.array_equal(x_train, x_train2)
    assert np.array_equal(y_train, y_train2)
    assert np.array_equal(x_test, x_test2)
    assert np.array_equal(y_test, y_test2)


def test_seed_changes_the_order_but_not_the_content(default_split):
    (x_train, y_train), (x_test, y_test) = default_split
    (x_other, y_other), (x_other_test, y_other_test) = digits.load_data(seed=1)
    assert not np.array_equal(y_train, y_other)
    everything = np.concatenate([y_train, y_test])
    other = np.concatenate([y_other, y_other_test])
    assert np.array_equal(np.bincount(everything), np.bincount(other))
    assert np.isclose(
        np.concatenate([x_train, x_test]).sum(), np.concatenate([x_other, x_other_test]).sum()
    )


def test_train_and_test_partition_the_data(default_split):
    (x_train, _), (x_test, _) = default_split
    (x_all, _), (x_none, _) = digits.load_data(test_split=0.0)
    assert x_all.shape == (1797, 8, 8)
    assert x_none.shape == (0, 8, 8)
    # The default split is the same shuffle cut in two.
    assert np.array_equal(np.concatenate([x_train, x_test]), x_all)


@pytest.mark.parametrize("test_split", [0.5, 0.1])
def test_test_split_fraction(test_split):
    (x_train, _), (x_test, _) = digits.load_data(test_split=test_split)
    assert len(x_test) == round(1797 * test_split)
    assert len(x_train) + len(x_test) == 1797


@pytest.mark.parametrize("test_split", [1.0, -0.1, 2.0])
def test_bad_test_split_is_a_value_error(test_split):
    with pytest.raises(ValueError, match="test_split"):
        digits.load_data(test_split=test_split)
