"""Bad input is refused before any work, with a typed error naming the argument and value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import epochal
from epochal import optimizers
from epochal.layers import Dense


def _classifier(units: int = 3) -> epochal.Model:
    model = epochal.Sequential([Dense(units, input_dim=4)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


X = np.ones((8, 4), "float32")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: optimizers.Adam(beta_1=2.0), r"`beta_1` must be in \[0, 1\)"),
        (lambda: optimizers.Adam(beta_2=1.0), r"`beta_2` must be in \[0, 1\)"),
        (lambda: optimizers.SGD(momentum=-1), r"`momentum`.*>= 0.*momentum=-1"),
        (lambda: optimizers.SGD(momentum=1.5), r"`momentum` must be in \[0, 1\]"),
        (lambda: optimizers.RMSprop(rho=1.0), r"`rho` must be in \[0, 1\)"),
        (lambda: optimizers.Adam(epsilon=float("nan")), r"`epsilon`.*finite"),
    ],
)
def test_optimizer_hyperparameters_out_of_range_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_missing_cuda_device_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match=r"`device`='cuda' asks for CUDA.*device='cpu'"):
        epochal.Model(torch.nn.Linear(2, 2), device="cuda")
    with pytest.raises(ValueError, match="not a device name"):
        epochal.Model(torch.nn.Linear(2, 2), device="gpu0")
    with pytest.raises(TypeError, match="`device` must be"):
        epochal.Model(torch.nn.Linear(2, 2), device=3)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 1, 2, 3, 0, 1, 2, 0], r"label 3 .* 3 outputs \(valid labels: 0 to 2\)"),
        ([0.5] * 8, r"contain 0\.5; it would be truncated"),
        ([np.nan] * 8, r"contain nan \(NaN or infinite\)"),
        ([-1] * 8, r"class indices >= 0.*-1"),
    ],
)
def test_bad_sparse_labels_name_the_label_and_the_classes(labels, message):
    model = _classifier()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=message):
        model.fit(X, np.array(labels), verbose=0)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_an_out_of_range_label_in_a_later_batch_is_named_too():
    model = _classifier()
    labels = np.zeros(8, "int64")
    labels[-1] = 7
    with pytest.raises(ValueError, match=r"label 7 .* 3 outputs"):
        model.fit(X, labels, batch_size=2, verbose=0)


def test_validation_data_with_the_wrong_feature_count_fails_before_training():
    model = _classifier()
    with pytest.raises(ValueError, match=r"`validation_data` does not fit.*\(4,\).*\(5,\)"):
        model.fit(
            X,
            np.zeros(8, "int64"),
            validation_data=(np.ones((4, 5), "float32"), np.zeros(4, "int64")),
            verbose=0,
        )
    assert model.optimizer.iterations == 0


def test_validation_inputs_of_another_length_that_the_model_accepts_are_fine():
    class MeanOverTime(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(2, 3)

        def forward(self, x):
            return self.linear(x.mean(dim=1))

    model = epochal.Model(MeanOverTime(), device="cpu")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    history = model.fit(
        np.ones((4, 5, 2), "float32"),
        np.zeros(4, "int64"),
        validation_data=(np.ones((2, 9, 2), "float32"), np.zeros(2, "int64")),
        verbose=0,
    )
    assert "val_loss" in history.history


@pytest.mark.parametrize(
    ("class_weight", "message"),
    [
        ({10**9: 1.0}, r"names class 1000000000.*at most 4194304 classes"),
        ({-1: 1.0}, r"keys must be class indices.*-1"),
        ({"a": 1.0}, r"keys must be class indices.*'a'"),
        ({True: 1.0}, r"keys must be class indices"),
    ],
)
def test_class_weight_keys_are_class_indices(class_weight, message):
    with pytest.raises(ValueError, match=message):
        _classifier().fit(X, np.zeros(8, "int64"), class_weight=class_weight, verbose=0)


def test_a_generator_without_steps_per_epoch_warns_and_says_what_to_pass():
    def batches():
        for _ in range(3):
            yield torch.ones(2, 4), torch.zeros(2, dtype=torch.long)

    model = _classifier()
    with pytest.warns(UserWarning, match=r"without a length.*steps_per_epoch=N"):
        model.fit(batches(), verbose=0)
    assert model.optimizer.iterations == 3
