"""The ``nn.Module`` behind a subclassed :class:`~epochal.Model` (Keras' subclassing API).

``class M(epochal.Model)`` creates its layers in ``__init__`` (after ``super().__init__()``)
and runs them in ``call(self, inputs, training=None)``. The facade keeps such a model's
weights in a :class:`CallModule`: every ``nn.Module``, epochal layer or other ``Model``
assigned as an attribute (alone, or in a list, tuple or dict) is registered on it, so
``state_dict``, ``.to(device)``, the optimizer, saving of weights and data parallelism see
them; its ``forward`` is the model's ``call``, with the whole ``inputs`` structure as one
argument (as Keras passes it) and ``training`` when ``call`` takes it.

Keras' torch guides read a weight's tensor as ``v.value`` (``[v.value.grad for v in
self.trainable_weights]``). epochal's weights are the ``nn.Parameter`` s themselves, so
``nn.Parameter.value`` is defined here as the parameter itself (torch defines no such
attribute).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Mapping
from typing import Any

from torch import nn

from epochal.layers import Layer

__all__ = ["CallModule", "module_of_value"]

if not hasattr(nn.Parameter, "value"):
    nn.Parameter.value = property(  # type: ignore[attr-defined]
        lambda self: self, doc="The parameter itself (Keras' ``variable.value``)."
    )


class CallModule(Layer):
    """Holds a subclassed model's layers; ``forward(inputs, training=None)`` is its ``call``.

    Args:
        model: The facade whose ``call`` (and ``build``, when overridden) it runs. Kept
            through a weak reference: the facade owns the module, not the other way round.
        name: The model's name.
        user_build: Whether the model overrides ``build(input_shape)``.
    """

    #: Steps call it with the batch's ``x`` as one argument (tuples and dicts included).
    whole_inputs = True

    def __init__(self, model: Any, name: str, user_build: bool) -> None:
        super().__init__(name=name)
        self.__dict__["_owner"] = weakref.ref(model)
        try:
            parameters = inspect.signature(type(model).call).parameters
        except (TypeError, ValueError):
            parameters = {}  # type: ignore[assignment]
        self._passes_training = "training" in parameters
        self._user_build = user_build

    def _model(self) -> Any:
        model = self.__dict__["_owner"]()
        if model is None:
            raise RuntimeError("The model of this module no longer exists.")
        return model

    def build(self, input_shape: Any) -> None:
        if self._user_build:
            self._model().build(input_shape)
        self.built = True

    def call(self, inputs: Any, *args: Any, training: Any = None, **kwargs: Any) -> Any:
        if self._passes_training:
            kwargs["training"] = training
        return self._model().call(inputs, *args, **kwargs)

    def get_config(self) -> dict[str, Any]:
        raise TypeError(
            f"The subclassed model {self.name!r} has no architecture config: save its weights "
            "(save_weights/load_weights), and rebuild it from its class."
        )


def module_of_value(value: Any, model_type: type[Any]) -> nn.Module | None:
    """The ``nn.Module`` to register for an attribute value: the module itself, a model's
    module, a ``ModuleList`` / ``ModuleDict`` for a list, tuple or dict made only of those,
    `None` for anything else."""
    if isinstance(value, nn.Module):
        return value
    if isinstance(value, model_type):
        module = value.__dict__.get("_module")
        return module if isinstance(module, nn.Module) else None
    if isinstance(value, list | tuple) and value:
        modules = [module_of_value(v, model_type) for v in value]
        present = [m for m in modules if m is not None]
        if len(present) == len(modules):
            return nn.ModuleList(present)
    if isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
        entries = {k: module_of_value(v, model_type) for k, v in value.items()}
        if all(m is not None for m in entries.values()) and all(k.isidentifier() for k in entries):
            return nn.ModuleDict(entries)  # type: ignore[arg-type]
    return None
