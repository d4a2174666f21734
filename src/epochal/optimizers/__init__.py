"""Keras-named optimizers over torch optimizers, with a settable learning rate or a schedule.

See :mod:`epochal.optimizers.base` for the facade (learning rate, ``iterations``, Keras 2
``decay``, decoupled weight decay, clipping) and :mod:`epochal.optimizers.schedules` for the
learning-rate schedules.
"""

from __future__ import annotations

from typing import Any

import torch

from epochal.optimizers import schedules
from epochal.optimizers.base import SCHEDULE_NOT_SETTABLE, LearningRate, Optimizer
from epochal.optimizers.classes import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Lion,
    Nadam,
    RMSprop,
)

__all__ = [
    "SCHEDULE_NOT_SETTABLE",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "LearningRate",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "from_config",
    "get",
    "schedules",
]

_BY_NAME: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "nadam": Nadam,
    "adamax": Adamax,
    "adadelta": Adadelta,
    "lion": Lion,
}


def get(identifier: Any) -> Optimizer:
    """Resolves ``"adam"``, an :class:`Optimizer` or a ``torch.optim.Optimizer``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
        TypeError: for anything else.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Unknown optimizer {identifier!r}. Known names: {', '.join(sorted(_BY_NAME))}."
            )
        return cls()
    if isinstance(identifier, torch.optim.Optimizer):
        return Optimizer.wrap(identifier)
    raise TypeError(
        "`optimizer` must be a name such as 'adam', an epochal.optimizers.Optimizer or a "
        f"torch.optim.Optimizer. Received: {identifier!r}"
    )


def from_config(
    class_name: str, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> Optimizer:
    """Rebuilds an optimizer saved by :meth:`Optimizer.get_config` (used by loading); a
    learning-rate schedule saved in Keras' serialized form is rebuilt too (custom schedule
    classes are found by name among the defined subclasses, or in ``custom_objects``)."""
    cls = _BY_NAME.get(class_name.lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer class {class_name!r} in the saved configuration.")
    config = dict(config)
    config.pop("name", None)
    if isinstance(config.get("learning_rate"), dict):
        config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
    decay = config.pop("decay", 0.0)
    opt = cls(**_keras_kwargs(cls, config))
    opt.decay = float(decay)
    return opt


def _keras_kwargs(cls: type[Optimizer], config: dict[str, Any]) -> dict[str, Any]:
    """Maps saved torch keyword names back to the Keras constructor's names."""
    mapped = dict(config)
    if "betas" in mapped:
        mapped["beta_1"], mapped["beta_2"] = mapped.pop("betas")
    if "eps" in mapped:
        mapped["epsilon"] = mapped.pop("eps")
    if "alpha" in mapped:
        mapped["rho"] = mapped.pop("alpha")
    return mapped
