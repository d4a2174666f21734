"""Text summary of a model: layers, output shapes, parameter counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from epochal._modes import evaluating

__all__ = ["summarize", "summarize_graph"]


def summarize(
    model_name: str,
    module: torch.nn.Module,
    layers: Sequence[torch.nn.Module],
    input_shape: tuple[int, ...] | None,
) -> str:
    """Keras-like table of ``layers`` (sub-modules of the built ``module``). Output shapes
    are traced with one zero batch when ``input_shape`` is known."""
    layers = list(layers) or [module]
    shapes: dict[int, str] = {}
    if input_shape is not None:
        handles = [
            layer.register_forward_hook(
                lambda mod, _inp, out, i=i: shapes.__setitem__(
                    i, str((None, *tuple(out.shape[1:]))) if isinstance(out, torch.Tensor) else "?"
                )
            )
            for i, layer in enumerate(layers)
        ]
        try:
            with evaluating(module):
                device = next(iter(module.parameters()), torch.zeros(0)).device
                module(torch.zeros((1, *input_shape), device=device))
        finally:
            for handle in handles:
                handle.remove()
    rows = []
    for i, layer in enumerate(layers):
        name = getattr(layer, "name", None) or f"{type(layer).__name__.lower()}_{i}"
        params = _count_weights(layer)
        rows.append((f"{name} ({type(layer).__name__})", shapes.get(i, "?"), f"{params:,}"))
    widths = [
        max(len(h), *(len(r[c]) for r in rows)) if rows else len(h)
        for c, h in enumerate(("Layer (type)", "Output Shape", "Param #"))
    ]
    rule = "━" * (sum(widths) + 6)

    def line(cells: tuple[str, str, str]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    total = _count_weights(module)
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    out = [f'Model: "{model_name}"', rule, line(("Layer (type)", "Output Shape", "Param #")), rule]
    out += [line(r) for r in rows]
    out += [
        rule,
        f" Total params: {total:,}",
        f" Trainable params: {trainable:,}",
        f" Non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(out)


def _count_weights(module: torch.nn.Module) -> int:
    """Parameters plus floating-point buffers (BatchNormalization's moving statistics), which
    Keras counts as non-trainable weights."""
    params = sum(p.numel() for p in module.parameters())
    return params + sum(b.numel() for b in module.buffers() if b.is_floating_point())


def summarize_graph(
    model_name: str, module: torch.nn.Module, rows: Sequence[tuple[str, str, Any, str]]
) -> str:
    """Keras' table of a functional model: one row per layer (``InputLayer`` s included)
    of ``(label, output shape, the layer's module, connected to)``; parameters are counted
    per layer once however often it is called."""
    cells = [
        (label, shape, f"{_count_weights(m):,}", connected) for label, shape, m, connected in rows
    ]
    headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    widths = [max(len(h), *(len(r[c]) for r in cells)) for c, h in enumerate(headers)]
    rule = "━" * (sum(widths) + 2 * (len(widths) - 1))

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    total = _count_weights(module)
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    out = [f'Model: "{model_name}"', rule, line(headers), rule, *(line(r) for r in cells)]
    out += [
        rule,
        f" Total params: {total:,}",
        f" Trainable params: {trainable:,}",
        f" Non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(out)
