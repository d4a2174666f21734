"""Keras' probabilistic and hinge metrics: crossentropies, KL divergence, Poisson and the
three hinges, each the weighted mean of the loss function of the same name.
"""

from __future__ import annotations

from epochal import losses
from epochal.metrics._state import _FunctionMetric, _simple

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "Hinge",
    "KLDivergence",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
]


class BinaryCrossentropy(_FunctionMetric):
    _fn = staticmethod(losses.binary_crossentropy)
    _default_direction = "down"

    def __init__(
        self,
        name: str = "binary_crossentropy",
        from_logits: bool = False,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(name, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_FunctionMetric):
    _fn = staticmethod(losses.categorical_crossentropy)
    _default_direction = "down"

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
    ) -> None:
        super().__init__(name, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(_FunctionMetric):
    _fn = staticmethod(losses.sparse_categorical_crossentropy)
    _default_direction = "down"

    def __init__(
        self, name: str = "sparse_categorical_crossentropy", from_logits: bool = False
    ) -> None:
        super().__init__(name, from_logits=from_logits)


KLDivergence = _simple(
    losses.kl_divergence, "kl_divergence", "down", __name__, class_name="KLDivergence"
)
Poisson = _simple(losses.poisson, "poisson", "down", __name__)
Hinge = _simple(losses.hinge, "hinge", "down", __name__)
SquaredHinge = _simple(losses.squared_hinge, "squared_hinge", "down", __name__)
CategoricalHinge = _simple(losses.categorical_hinge, "categorical_hinge", "down", __name__)
