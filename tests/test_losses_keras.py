"""The Keras losses against values recorded from Keras 3 (tests/fixtures/keras/
losses_extra.json, from scripts/record_keras_schedules_metrics.py): plain, weighted,
label_smoothing, from_logits and every reduction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from epochal import losses

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras"
DATA = json.loads((FIXTURES / "losses_extra.json").read_text(encoding="utf-8"))


def inputs(key: str) -> torch.Tensor:
    if key == "logits3":
        return torch.tensor(DATA["arrays"]["logits"])[:, :3]
    return torch.tensor(DATA["arrays"][key])


@pytest.mark.parametrize("case", sorted(DATA["cases"]))
def test_loss_matches_keras(case):
    spec = DATA["cases"][case]
    loss = getattr(losses, spec["class_name"])(**spec["kwargs"])
    y_true, y_pred = inputs(spec["y_true"]), inputs(spec["y_pred"])
    weights = torch.tensor(DATA["arrays"]["weights"])
    np.testing.assert_allclose(loss(y_true, y_pred).numpy(), spec["value"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        loss(y_true, y_pred, weights).numpy(), spec["weighted"], rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "name",
    ["hinge", "squared_hinge", "categorical_hinge", "kl_divergence", "kld", "poisson",
     "log_cosh", "logcosh", "cosine_similarity", "mape", "msle",
     "binary_focal_crossentropy", "categorical_focal_crossentropy"],
)  # fmt: skip
def test_loss_strings_resolve(name):
    loss = losses.get(name)
    value = loss(torch.rand(4, 3), torch.rand(4, 3) + 0.1)
    assert value.dim() == 0 and torch.isfinite(value)


def test_bad_reduction_and_ignore_class_are_refused():
    with pytest.raises(ValueError, match="Invalid value for argument `reduction`"):
        losses.Hinge(reduction="avg")
    with pytest.raises(NotImplementedError, match="ignore_class"):
        losses.SparseCategoricalCrossentropy(ignore_class=0)


def test_configs_rebuild_the_same_loss():
    for loss in (
        losses.BinaryFocalCrossentropy(alpha=0.3, apply_class_balancing=True),
        losses.CategoricalFocalCrossentropy(gamma=1.0, reduction="sum"),
        losses.Hinge(name="h"),
        losses.KLDivergence(),
        losses.CosineSimilarity(axis=-1),
    ):
        clone = type(loss)(**loss.get_config())
        assert clone.get_config() == loss.get_config()
    assert type(losses.KLDivergence()).__name__ == "KLDivergence"


def test_hinge_label_conversion_needs_no_host_read():
    # 0/1 labels are mapped to -1/1 on the device: the result is a graph of tensors only.
    y_true, y_pred = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.3, -0.2]])
    assert float(losses.hinge(y_true, y_pred)) == pytest.approx((1.3 + 1.2) / 2)
