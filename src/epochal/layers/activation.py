"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax (Keras 3 arguments)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from epochal._validation import check_number
from epochal.layers._support import (
    get_constraint,
    get_regularizer,
    resolve_initializer,
    serialize,
)
from epochal.layers.base import Layer

__all__ = ["ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"]


class ReLU(Layer):
    """``max_value`` at and above ``max_value``, ``x`` from ``threshold`` up,
    ``negative_slope * (x - threshold)`` below.

    Args (Keras 3): max_value=None, negative_slope=0.0, threshold=0.0.
    """

    casts_inputs = True
    supports_masking = True

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_value = check_number("max_value", max_value, minimum=0.0, allow_none=True)
        self.negative_slope = check_number("negative_slope", negative_slope, minimum=0.0)
        self.threshold = check_number("threshold", threshold, minimum=0.0)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        threshold = float(self.threshold or 0.0)
        slope = float(self.negative_slope or 0.0)
        if slope == 0.0 and threshold == 0.0:
            out = F.relu(x)
        else:
            out = torch.where(x >= threshold, x, slope * (x - threshold))
        if self.max_value is not None:
            out = torch.clamp(out, max=self.max_value)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(Layer):
    """``x`` for ``x >= 0``, ``negative_slope * x`` below.

    Args (Keras 3): negative_slope=0.3 (Keras 2's ``alpha`` is accepted with a warning, as
        Keras 3 does).
    """

    casts_inputs = True
    supports_masking = True

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn(
                "Argument `alpha` of LeakyReLU is deprecated (Keras 3): use `negative_slope`.",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(**kwargs)
        value = check_number("negative_slope", negative_slope, minimum=0.0)
        assert value is not None
        self.negative_slope = value
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """Leaky ReLU whose slopes ``alpha`` are learned (one per input element, shared along
    ``shared_axes``).

    Args (Keras 3): alpha_initializer="Zeros", alpha_regularizer=None,
        alpha_constraint=None, shared_axes=None (axes counted from 1, the batch axis being
        0). ``alpha`` has the input's per-sample shape with the shared axes set to 1.
    """

    casts_inputs = True
    supports_masking = True

    def __init__(
        self,
        alpha_initializer: Any = "Zeros",
        alpha_regularizer: Any = None,
        alpha_constraint: Any = None,
        shared_axes: int | Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        initializer = alpha_initializer
        if isinstance(initializer, str) and initializer in ("Zeros", "Ones"):
            initializer = initializer.lower()
        self._args = {
            "alpha_initializer": alpha_initializer,
            "alpha_regularizer": alpha_regularizer,
            "alpha_constraint": alpha_constraint,
        }
        self._init = resolve_initializer("alpha_initializer", initializer)
        self._regularizer = get_regularizer("alpha_regularizer", alpha_regularizer)
        self._constraint = get_constraint("alpha_constraint", alpha_constraint)
        if shared_axes is None:
            self.shared_axes: list[int] | None = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in axes):
                raise ValueError(
                    "`shared_axes` takes axes counted from 1 (the batch axis is 0). "
                    f"Received: shared_axes={shared_axes!r}"
                )
            self.shared_axes = axes
        self.alpha: torch.nn.Parameter | None = None
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def build(self, input_shape: Sequence[int]) -> None:
        shape = [int(d) for d in input_shape[1:]]
        for axis in self.shared_axes or []:
            if axis > len(shape):
                raise ValueError(
                    f"PReLU: shared axis {axis} is past the input's last axis "
                    f"(shape {tuple(input_shape)})."
                )
            shape[axis - 1] = 1
        self.alpha = self.add_weight(
            tuple(shape),
            self._init,
            regularizer=self._regularizer,
            constraint=self._constraint,
            name="alpha",
        )
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        assert self.alpha is not None
        return F.relu(x) - self.alpha * F.relu(-x)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            **{k: serialize(k, v) for k, v in self._args.items()},
            "shared_axes": self.shared_axes,
        }


class ELU(Layer):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below.

    Args (Keras 3): alpha=1.0.
    """

    casts_inputs = True
    supports_masking = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        value = check_number("alpha", alpha)
        assert value is not None
        self.alpha = value
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(x, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer):
    """Softmax over ``axis`` (an axis or a list of axes).

    Args (Keras 3): axis=-1. ``call(inputs, mask=None)``: masked positions (``False``) get
    probability 0, the others share the mass, as Keras.
    """

    casts_inputs = True
    supports_masking = True

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, int) and not isinstance(axis, bool):
            self.axis: int | list[int] = axis
        elif isinstance(axis, list | tuple) and all(
            isinstance(a, int) and not isinstance(a, bool) for a in axis
        ):
            self.axis = list(axis)
        else:
            raise ValueError(
                f"`axis` must be an integer or a list of integers. Received: axis={axis!r}"
            )
        self.built = True

    def call(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            mask = torch.as_tensor(mask, device=x.device)
            if mask.dtype != torch.bool:
                mask = mask > 0.5
            x = torch.where(mask, x, torch.full_like(x, -1e9))
        if isinstance(self.axis, int) or len(self.axis) == 1:
            axis = self.axis if isinstance(self.axis, int) else self.axis[0]
            out = torch.softmax(x, dim=axis)
        else:
            out = torch.exp(x - torch.logsumexp(x, dim=self.axis, keepdim=True))
        if mask is not None:
            out = torch.where(mask, out, torch.zeros_like(out))
        return out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
