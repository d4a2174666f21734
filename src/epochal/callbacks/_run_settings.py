"""The run settings a tracking logger records (MLflow params, W&B config)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from epochal.callbacks.host import CallbackHost

__all__ = ["run_settings"]


def run_settings(model: CallbackHost, params: Mapping[str, Any]) -> dict[str, Any]:
    """``epochs``/``steps`` from ``params``, the model class and parameter count, the
    optimizer's config (``optimizer.<key>``), the loss name and the compiled metric names."""
    values: dict[str, Any] = {k: v for k, v in params.items() if k in ("epochs", "steps")}
    values["model"] = type(model).__name__
    values["model.params"] = sum(p.numel() for p in model.module.parameters())
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "get_config"):
        values.update({f"optimizer.{k}": v for k, v in optimizer.get_config().items()})
    loss_fn = getattr(model, "loss_fn", None)
    if loss_fn is not None:
        values["loss"] = getattr(loss_fn, "name", type(loss_fn).__name__)
    names = getattr(model, "metrics_names", None)
    if names:
        values["metrics"] = list(names[1:])
    return values
