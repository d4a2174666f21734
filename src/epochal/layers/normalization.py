"""Normalization layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from epochal._validation import check_number
from epochal.layers.base import Layer, tag_weight

__all__ = ["BatchNormalization"]


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
