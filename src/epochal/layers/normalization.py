"""Normalization layers: BatchNormalization, LayerNormalization."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from epochal._validation import check_number
from epochal.layers._support import (
    check_bool,
    get_constraint,
    get_regularizer,
    resolve_initializer,
    serialize,
)
from epochal.layers.base import Layer, tag_weight

__all__ = ["BatchNormalization", "LayerNormalization"]


class BatchNormalization(Layer):
    """Batch normalization over the last axis (Keras' ``axis=-1``)."""

    casts_inputs = True

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_number("momentum", momentum, minimum=0.0, finite=True)
        check_number("epsilon", epsilon, minimum=0.0, finite=True)
        self.momentum = momentum
        self.epsilon = epsilon
        self.norm: nn.BatchNorm1d | None = None
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def build(self, input_shape: Sequence[int]) -> None:
        self.norm = nn.BatchNorm1d(
            int(input_shape[-1]), eps=self.epsilon, momentum=1 - self.momentum
        )
        tag_weight(self.norm.weight, "gamma")
        tag_weight(self.norm.bias, "beta")
        self.built = True

    def call(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        assert self.norm is not None
        flat = x.reshape(-1, x.shape[-1])
        norm = self.norm
        if training is None:
            training = self.training
        # The mode is this layer's: ``norm`` may be created (in training mode) after eval().
        # A frozen layer runs in inference mode, even in training (Keras' rule): it uses and
        # keeps its moving statistics.
        if not training or not self._trainable:
            out = F.batch_norm(
                flat,
                norm.running_mean,
                norm.running_var,
                norm.weight,
                norm.bias,
                False,
                0.0,
                norm.eps,
            )
            return out.reshape(x.shape)
        var, mean = torch.var_mean(flat, dim=0, correction=0)
        out = (flat - mean) * torch.rsqrt(var + norm.eps) * norm.weight + norm.bias
        # Keras' moving variance averages the batch (biased) variance, torch's the unbiased one.
        assert norm.running_mean is not None and norm.running_var is not None
        assert norm.num_batches_tracked is not None
        with torch.no_grad():
            norm.running_mean.lerp_(mean.detach(), 1 - self.momentum)
            norm.running_var.lerp_(var.detach(), 1 - self.momentum)
            norm.num_batches_tracked.add_(1)
        return out.reshape(x.shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis``: ``(x - mean) / sqrt(var + epsilon) * gamma +
    beta`` (biased variance), as Keras.

    Args (Keras 3): axis=-1 (an axis or a list of axes), epsilon=1e-3, center=True,
        scale=True, beta_initializer="zeros", gamma_initializer="ones",
        beta/gamma_regularizer=None, beta/gamma_constraint=None. Weights ``[gamma, beta]``
        of the shape of the normalized axes.
    """

    casts_inputs = True
    supports_masking = True

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        axes = [axis] if isinstance(axis, int) and not isinstance(axis, bool) else axis
        if not isinstance(axes, list | tuple) or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in axes
        ):
            raise ValueError(
                f"`axis` must be an integer or a list of integers. Received: axis={axis!r}"
            )
        self.axis: int | list[int] = axis if isinstance(axis, int) else list(axes)
        self._axes = [int(a) for a in axes]
        value = check_number("epsilon", epsilon, minimum=0.0, finite=True)
        assert value is not None
        self.epsilon = value
        self.center = check_bool("center", center)
        self.scale = check_bool("scale", scale)
        self._args = {
            "beta_initializer": beta_initializer,
            "gamma_initializer": gamma_initializer,
            "beta_regularizer": beta_regularizer,
            "gamma_regularizer": gamma_regularizer,
            "beta_constraint": beta_constraint,
            "gamma_constraint": gamma_constraint,
        }
        for role in ("beta", "gamma"):
            resolve_initializer(f"{role}_initializer", self._args[f"{role}_initializer"])
            get_regularizer(f"{role}_regularizer", self._args[f"{role}_regularizer"])
            get_constraint(f"{role}_constraint", self._args[f"{role}_constraint"])
        self.gamma: nn.Parameter | None = None
        self.beta: nn.Parameter | None = None
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def _weight(self, role: str, shape: tuple[int, ...]) -> nn.Parameter:
        return self.add_weight(
            shape,
            resolve_initializer(f"{role}_initializer", self._args[f"{role}_initializer"]),
            regularizer=get_regularizer(f"{role}_regularizer", self._args[f"{role}_regularizer"]),
            constraint=get_constraint(f"{role}_constraint", self._args[f"{role}_constraint"]),
            name=role,
        )

    def build(self, input_shape: Sequence[int]) -> None:
        rank = len(input_shape)
        axes = sorted(a % rank for a in self._axes)
        if any(a == 0 for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(
                f"LayerNormalization: invalid axis {self.axis!r} for inputs of rank {rank}."
            )
        self._resolved = axes
        shape = tuple(int(input_shape[a]) for a in axes)
        if self.scale:
            self.gamma = self._weight("gamma", shape)
        if self.center:
            self.beta = self._weight("beta", shape)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        axes = getattr(self, "_resolved", None) or sorted(a % x.dim() for a in self._axes)
        var, mean = torch.var_mean(x, dim=axes, keepdim=True, correction=0)
        # Broadcast the weights to the normalized axes of the input.
        shape = [int(x.shape[a]) if a in axes else 1 for a in range(x.dim())]
        inv = torch.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma.reshape(shape)
        out = x * inv - mean * inv
        if self.beta is not None:
            out = out + self.beta.reshape(shape)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **{k: serialize(k, v) for k, v in self._args.items()},
        }
