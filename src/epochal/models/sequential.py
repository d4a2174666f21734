"""``Sequential``: a stack of layers, Keras style."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from torch import nn

from epochal.layers import LAYER_CLASSES, InputLayer, Lambda, Layer
from epochal.layers._stack import LayerStack
from epochal.layers.symbolic import KerasTensor
from epochal.models.model import Model
from epochal.saving.protocol import ModuleBuilder, ModuleDescriber, register_model_class

__all__ = ["Sequential"]


@register_model_class
class Sequential(Model):
    """A model that applies its layers one after the other.

    Layers are epochal layers (:mod:`epochal.layers`) or any ``torch.nn.Module``. A Keras
    mask made by one layer (``Embedding(mask_zero=True)``, ``Masking``) reaches the next
    layers as ``mask=`` (see :class:`~epochal.layers._stack.LayerStack`).

    Args:
        layers: Initial layers. Defaults to `None`.
        name: Model name. Defaults to `None`.
        device: Where to train. Defaults to `None` (CUDA when available, else CPU).

    Example:
        >>> from epochal import Sequential
        >>> from epochal.layers import Dense
        >>> model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)])
        >>> model.compile(optimizer="adam", loss="mse")
        >>> model.count_params()
        21
    """

    def __init__(
        self,
        layers: Iterable[nn.Module] | None = None,
        name: str | None = None,
        *,
        device: Any = None,
    ) -> None:
        super().__init__(LayerStack(), device=device, name=name)
        for layer in layers or []:
            self.add(layer)

    @property
    def _stack(self) -> nn.Sequential:
        return self.module  # type: ignore[return-value]

    @property
    def layers(self) -> list[nn.Module]:
        """The layers, without an ``InputLayer`` (as Keras lists them)."""
        return [layer for layer in self._stack if not isinstance(layer, InputLayer)]

    def add(self, layer: nn.Module) -> None:
        """Appends a layer.

        Raises:
            TypeError: when ``layer`` is not a ``torch.nn.Module``.
        """
        if isinstance(layer, KerasTensor) and isinstance(
            getattr(layer.node, "owner", None), InputLayer
        ):
            layer = layer.node.owner  # type: ignore[union-attr]  # Sequential([Input(...), ...])
        if not isinstance(layer, nn.Module):
            raise TypeError(
                f"Sequential.add() expects a layer (a torch.nn.Module). Received: {layer!r}"
            )
        name = getattr(layer, "name", None) if isinstance(layer, Layer) else None
        index = len(self._stack)
        self.module.add_module(name or f"{type(layer).__name__.lower()}_{index}", layer)

    def pop(self) -> nn.Module:
        """Removes and returns the last layer."""
        if not len(self._stack):
            raise IndexError("There are no layers in the model.")
        last = list(self.module._modules)[-1]
        return self.module._modules.pop(last)  # type: ignore[return-value]

    def get_config(self) -> dict[str, Any]:
        """Architecture as plain data (epochal layers only)."""
        entries = []
        for layer in self._stack:
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"Layer {type(layer).__name__} has no get_config(); save weights only, or "
                    "use epochal layers."
                )
            entries.append({"class_name": type(layer).__name__, "config": layer.get_config()})
        return {"name": self.name, "layers": entries}

    def architecture(self, describe: ModuleDescriber) -> dict[str, Any]:
        """The architecture saved by :meth:`save`: the name and every layer, in order."""
        return {"name": self.name, "layers": [describe(layer) for layer in self._stack]}

    @classmethod
    def from_architecture(cls, config: Mapping[str, Any], build: ModuleBuilder) -> Sequential:
        """Rebuilds what :meth:`architecture` described (unbuilt, uncompiled)."""
        return cls([build(entry) for entry in config.get("layers", [])], name=config.get("name"))

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Sequential:
        classes: dict[str, Any] = {**LAYER_CLASSES, **(custom_objects or {})}
        layers = []
        for entry in config["layers"]:
            layer_cls = classes.get(entry["class_name"])
            if layer_cls is None:
                raise ValueError(
                    f"Unknown layer class {entry['class_name']!r}; pass it in `custom_objects`."
                )
            layer_config = dict(entry["config"])
            if layer_cls is Lambda:  # its function comes back by name from custom_objects
                layers.append(Lambda.from_config(layer_config, custom_objects))
            else:
                layers.append(layer_cls.from_config(layer_config))
        return cls(layers, name=config.get("name"))
