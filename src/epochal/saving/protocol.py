"""``Saveable``: what saving needs of a model, and the registry of model classes.

:mod:`epochal.saving` never imports the model classes: a model class registers itself with
:func:`register_model_class` (``Model`` and ``Sequential`` do so where they are defined) and
describes its architecture through :meth:`Saveable.architecture`; loading looks the class
name up here and calls its ``from_architecture``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch
from torch import nn

__all__ = [
    "ModuleBuilder",
    "ModuleDescriber",
    "Saveable",
    "model_class",
    "register_model_class",
]

#: Turns one module into ``{"class_name": ..., "config": ...}`` (raises when it cannot).
ModuleDescriber = Callable[[nn.Module], dict[str, Any]]
#: Turns such an entry back into a module (names resolved with custom objects).
ModuleBuilder = Callable[[Mapping[str, Any]], nn.Module]


@runtime_checkable
class Saveable(Protocol):
    """A model that :func:`epochal.saving.save_model` can write and ``load_model`` rebuild.

    Attributes:
        name: The model's name (stored in the architecture).
        device: Where its module lives (loaded tensors go there).
        build_input_shape: ``(per-sample shape, dtype)`` that built the layers, or `None`.
    """

    name: str
    build_input_shape: tuple[tuple[int, ...], torch.dtype] | None

    @property
    def module(self) -> nn.Module: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def optimizer(self) -> Any: ...

    @property
    def built(self) -> bool: ...

    @property
    def compiled(self) -> bool: ...

    @property
    def compile_settings(self) -> Mapping[str, Any]:
        """What ``compile`` was given: ``optimizer``, ``loss``, ``loss_weights``, ``metrics``,
        ``weighted_metrics``."""
        ...

    def declared_input_shape(self) -> tuple[int, ...] | None: ...

    def build_from_batch(self, x: Any) -> None: ...

    def compile(
        self,
        optimizer: Any = ...,
        loss: Any = ...,
        loss_weights: Any = ...,
        metrics: Any = ...,
        weighted_metrics: Any = ...,
    ) -> None: ...

    def architecture(self, describe: ModuleDescriber) -> dict[str, Any]:
        """The class-specific part of the architecture (``describe`` each sub-module)."""
        ...


M = TypeVar("M")
_MODEL_CLASSES: dict[str, Any] = {}


def register_model_class(cls: M) -> M:
    """Registers a model class by its name: files naming it are rebuilt with
    ``cls.from_architecture(config, build_module)``."""
    _MODEL_CLASSES[cls.__name__] = cls  # type: ignore[attr-defined]
    return cls


def model_class(name: str) -> Any:
    """The registered model class called ``name``, or `None`."""
    return _MODEL_CLASSES.get(name)
