"""``Precision``: how the steps of a model run under its dtype policy.

One object per compiled model (the loss scale lives as long as the optimizer it scales):

* ``autocast()`` — the context the forward pass runs in: ``torch.autocast`` with the
  policy's compute dtype for the mixed policies, nothing for ``"float32"``;
* ``outputs(y_pred)`` — the model's low-precision outputs as float32, so that the compiled
  loss, the metrics and the logs are computed in float32 (as Keras computes losses and
  metrics in float32 whatever the policy);
* ``backward(loss)`` / ``step(optimizer)`` — for ``"mixed_float16"`` the dynamic loss scale
  (``torch.amp.GradScaler``): the loss is scaled before ``backward``, the gradients are
  unscaled before clipping and the update, and an update whose gradients hold an inf or a
  NaN is skipped (the optimizer's ``iterations`` does not advance) and the scale halved;
* ``state_dict()`` — the scale, its growth tracker and the count of skipped updates, kept in
  the model's snapshot so that ``BackupAndRestore`` resumes a float16 run bit for bit;
* ``logs()`` — ``loss_scale`` and ``skipped_steps`` (updates skipped since compile), added to
  each epoch's logs when a loss scale is in use.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from epochal.mixed_precision import TORCH_DTYPES, DTypePolicy

__all__ = ["Precision", "to_float32"]

_LOW = (torch.float16, torch.bfloat16)
_NO_AUTOCAST = contextlib.nullcontext()  # stateless, so one instance serves every step


def to_float32(value: Any) -> Any:
    """``value`` with its float16/bfloat16 tensors cast to float32 (nested lists, tuples and
    dicts followed); other values unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in _LOW else value
    if isinstance(value, list | tuple):
        return type(value)(to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: to_float32(v) for k, v in value.items()}
    return value


class Precision:
    """The autocast context and the loss scale of one model.

    Args:
        policy: The resolved :class:`~epochal.mixed_precision.DTypePolicy`.
        device: The model's device (autocast is per device type).
        scale_loss: Whether ``"mixed_float16"`` uses a dynamic loss scale (Keras'
            ``compile(auto_scale_loss=True)``). Defaults to `True`.
    """

    def __init__(self, policy: DTypePolicy, device: torch.device, *, scale_loss: bool = True):
        self.policy = policy
        self.device_type = device.type
        self.dtype: torch.dtype | None = (
            TORCH_DTYPES[policy.compute_dtype] if policy.is_mixed else None
        )
        self.scaler: torch.amp.GradScaler | None = None
        if self.dtype is torch.float16 and scale_loss:
            self.scaler = torch.amp.GradScaler(self.device_type)
        #: Updates skipped because their gradients overflowed, since compile.
        self.skipped_steps = 0

    @property
    def enabled(self) -> bool:
        """Whether computations run in a lower precision than float32."""
        return self.dtype is not None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` in the policy's dtype; under float32 a shared no-op context."""
        if self.dtype is None:
            return _NO_AUTOCAST
        return torch.autocast(self.device_type, dtype=self.dtype)

    def outputs(self, y_pred: Any) -> Any:
        """The outputs the loss and the metrics see: float32."""
        return to_float32(y_pred) if self.dtype is not None else y_pred

    def backward(self, loss: torch.Tensor) -> None:
        if self.scaler is None:
            loss.backward()
        else:
            self.scaler.scale(loss).backward()

    def step(self, optimizer: Any) -> None:
        """One update of ``optimizer`` (an epochal optimizer), through the loss scale."""
        if self.scaler is None:
            optimizer.step()
            return
        before = optimizer._iterations  # step() calls (gradient accumulation included)
        # GradScaler unscales the gradients in place (before the facade clips them) and calls
        # optimizer.step() only when they are all finite; it reads them on the host to decide.
        self.scaler.step(optimizer)
        self.scaler.update()
        if optimizer._iterations == before:
            self.skipped_steps += 1

    def logs(self) -> dict[str, float]:
        """``loss_scale`` and ``skipped_steps`` while a loss scale is in use, else nothing."""
        if self.scaler is None:
            return {}
        return {"loss_scale": float(self.scaler.get_scale()), "skipped_steps": self.skipped_steps}

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"policy": self.policy.name, "skipped_steps": self.skipped_steps}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.skipped_steps = int(state.get("skipped_steps", 0))
        if self.scaler is not None and "scaler" in state:
            scaler = dict(state["scaler"])
            scaler["scale"] = float(scaler["scale"])
            scaler["_growth_tracker"] = int(scaler["_growth_tracker"])
            self.scaler.load_state_dict(scaler)

    def __repr__(self) -> str:
        scale = ", loss scale" if self.scaler is not None else ""
        return f"Precision({self.policy.name!r}{scale})"
