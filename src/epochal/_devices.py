"""Device names checked before any work: ``"cuda"`` without CUDA is a clear error, not a
torch assertion at the first tensor moved."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["resolve_device"]


def resolve_device(device: Any, arg: str = "device") -> torch.device:
    """``device`` as a ``torch.device`` that exists on this machine.

    Raises:
        TypeError: when ``device`` is not a string or ``torch.device``.
        ValueError: for an unknown device name, or a CUDA/MPS device this machine lacks.
    """
    if not isinstance(device, str | torch.device):
        raise TypeError(
            f"`{arg}` must be a string such as 'cpu' or 'cuda:0', or a torch.device. "
            f"Received: {arg}={device!r}"
        )
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"`{arg}`={device!r} is not a device name (e.g. 'cpu', 'cuda', 'cuda:1', 'mps')."
        ) from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"`{arg}`={device!r} asks for CUDA, but CUDA is not available here (torch "
                f"{torch.__version__}). Use device='cpu', or leave it unset to pick CUDA when "
                "there is one."
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(
                f"`{arg}`={device!r} names CUDA device {resolved.index}, but this machine has "
                f"{count} (cuda:0 to cuda:{count - 1})."
            )
    if resolved.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError(f"`{arg}`={device!r} asks for MPS, which is not available here.")
    return resolved
