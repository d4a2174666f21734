"""The container :class:`~epochal.Sequential` runs: layers one after the other, with masks.

A Keras mask (a boolean ``(batch, time)`` tensor marking the valid timesteps of padded
sequences) is made by a layer's :meth:`~epochal.layers.Layer.compute_mask`
(``Embedding(mask_zero=True)``, ``Masking``) and read by the layers after it whose ``call``
takes a ``mask`` argument (recurrent and attention layers). :class:`LayerStack` hands each
layer's output mask to the next one; a stack in which no layer can create a mask runs as a
plain ``nn.Sequential``.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from epochal.layers.base import Layer

__all__ = ["LayerStack"]


def _makes_masks(module: nn.Module) -> bool:
    return isinstance(module, Layer) and type(module).compute_mask is not Layer.compute_mask


class LayerStack(nn.Sequential):
    """``nn.Sequential`` that passes Keras masks from layer to layer.

    A layer receives ``mask=`` when its ``call`` has a ``mask`` argument; its output mask is
    ``layer.compute_mask(inputs, mask)``. A mask reaching a layer that neither reads it
    nor passes it on (``supports_masking``) stops there, with one warning per layer, as
    Keras warns.
    """

    def forward(self, x: Any) -> Any:
        layers = list(self._modules.values())
        if not any(_makes_masks(m) for m in layers):
            for layer in layers:
                x = layer(x)
            return x
        mask = None
        for layer in layers:
            if not isinstance(layer, Layer):
                if mask is not None:
                    self._warn_dropped(layer)
                x, mask = layer(x), None
                continue
            if mask is not None and layer._call_mask:
                out = layer(x, mask=mask)
            else:
                if mask is not None and not (layer.supports_masking or _makes_masks(layer)):
                    self._warn_dropped(layer)
                out = layer(x)
            mask = layer.compute_mask(x, mask)
            x = out
        return x

    def _warn_dropped(self, layer: nn.Module) -> None:
        if getattr(layer, "_mask_warned", False):
            return
        layer.__dict__["_mask_warned"] = True
        warnings.warn(
            f"Layer {getattr(layer, 'name', type(layer).__name__)!r} (of type "
            f"{type(layer).__name__}) does not support masking: the mask of its input is "
            "dropped here.",
            UserWarning,
            stacklevel=3,
        )
