"""Normalization layers: BatchNormalization, LayerNormalization."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from epochal import initializers
from epochal._validation import ArgumentTypeError, check_number, is_int
from epochal.layers._support import (
    check_bool,
    get_constraint,
    get_regularizer,
    resolve_initializer,
    serialize,
)
from epochal.layers.base import Layer, tag_weight

__all__ = ["BatchNormalization", "LayerNormalization"]


def _process_group_size() -> int:
    """The number of processes of the default torch.distributed group (1 without one)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return 1
    return int(torch.distributed.get_world_size())


class BatchNormalization(Layer):
    """Normalizes over the batch: in training with the batch's mean and (biased) variance,
    updating ``moving_mean`` / ``moving_variance`` by ``moving * momentum + batch * (1 -
    momentum)``; in inference with the moving statistics. ``(x - mean) / sqrt(variance +
    epsilon) * gamma + beta``, per index of ``axis``, as Keras 3.

    Args (Keras 3):
        axis: The feature axis (an integer, negative counts from the end; ``1`` for
            channels-first images; a one-item list, as tf.keras 2 files write it, is that
            axis). Defaults to `-1`.
        momentum: Of the moving statistics. Defaults to `0.99`.
        epsilon: Added to the variance. Defaults to `1e-3`.
        center: Learn ``beta``. Defaults to `True`. scale: Learn ``gamma``. Defaults to
            `True` (False drops the weight, as Keras).
        beta_initializer="zeros", gamma_initializer="ones",
        moving_mean_initializer="zeros", moving_variance_initializer="ones",
        beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
        gamma_constraint=None.
        renorm: Batch renormalization; only `False` (``True`` raises NotImplementedError).
            renorm_clipping / renorm_momentum are kept in the config (they act only with
            renorm, in Keras too).
        synchronized: Under an initialized ``torch.distributed`` process group of more than
            one process, the training statistics are those of the global batch (the sum,
            sum of squares and count all-reduced, gradients included); in one process it is
            the same as `False`. Keras on torch refuses `True`; TensorFlow's meaning is kept.

    ``call(inputs, training=None, mask=None)``: a frozen layer (``trainable=False``) runs in
    inference mode even in training (Keras' rule); with a ``mask`` (one axis fewer than the
    inputs) the training statistics are over the unmasked entries. Weights in Keras' order:
    ``gamma``, ``beta`` (each when enabled), ``moving_mean``, ``moving_variance``.
    """

    casts_inputs = True
    supports_masking = True
    moving_mean: torch.Tensor | None
    moving_variance: torch.Tensor | None

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        renorm: bool = False,
        renorm_clipping: Any = None,
        renorm_momentum: float = 0.99,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        given: Any = axis
        if isinstance(given, list | tuple) and len(given) == 1:
            given = given[0]  # tf.keras 2 files write the axis as a one-item list
        if not is_int(given):
            raise ArgumentTypeError(
                f"`axis` of BatchNormalization must be an integer. Received: axis={axis!r}"
            )
        self.axis = int(given)
        value = check_number("momentum", momentum, minimum=0.0, finite=True)
        assert value is not None
        self.momentum = value
        value = check_number("epsilon", epsilon, minimum=0.0, finite=True)
        assert value is not None
        self.epsilon = value
        self.center = check_bool("center", center)
        self.scale = check_bool("scale", scale)
        self.renorm = check_bool("renorm", renorm)
        if self.renorm:
            raise NotImplementedError(
                "BatchNormalization: renorm=True (batch renormalization) is not implemented "
                "in epochal. Received: renorm=True"
            )
        if renorm_clipping is not None and not isinstance(renorm_clipping, dict):
            raise ArgumentTypeError(
                "`renorm_clipping` must be a dict or None. "
                f"Received: renorm_clipping={renorm_clipping!r}"
            )
        self.renorm_clipping = renorm_clipping
        value = check_number("renorm_momentum", renorm_momentum, finite=True)
        assert value is not None
        self.renorm_momentum = value
        self.synchronized = check_bool("synchronized", synchronized)
        self._args = {
            "beta_initializer": beta_initializer,
            "gamma_initializer": gamma_initializer,
            "moving_mean_initializer": moving_mean_initializer,
            "moving_variance_initializer": moving_variance_initializer,
            "beta_regularizer": beta_regularizer,
            "gamma_regularizer": gamma_regularizer,
            "beta_constraint": beta_constraint,
            "gamma_constraint": gamma_constraint,
        }
        for role in ("beta", "gamma", "moving_mean", "moving_variance"):
            resolve_initializer(f"{role}_initializer", self._args[f"{role}_initializer"])
        for role in ("beta", "gamma"):
            get_regularizer(f"{role}_regularizer", self._args[f"{role}_regularizer"])
            get_constraint(f"{role}_constraint", self._args[f"{role}_constraint"])
        self.gamma: nn.Parameter | None = None
        self.beta: nn.Parameter | None = None
        # Buffers (torch's home for statistics: moved with the module, broadcast by DDP),
        # created by build().
        self.register_buffer("moving_mean", None)
        self.register_buffer("moving_variance", None)
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def _axis_of(self, rank: int) -> int:
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"BatchNormalization: axis={self.axis} is out of range for inputs of rank {rank}."
            )
        return self.axis % rank

    def build(self, input_shape: Sequence[int]) -> None:
        axis = self._axis_of(len(input_shape))
        shape = (int(input_shape[axis]),)
        if self.scale:
            self.gamma = self._weight("gamma", shape)
        if self.center:
            self.beta = self._weight("beta", shape)
        device = next((p.device for p in self.parameters()), None)
        for role in ("moving_mean", "moving_variance"):
            init = resolve_initializer(f"{role}_initializer", self._args[f"{role}_initializer"])
            tensor = initializers.make_weight(init, shape, torch.float32)
            if device is not None:
                tensor = tensor.to(device)
            self.register_buffer(role, tensor)
            tag_weight(tensor, role)  # type: ignore[arg-type]
        self.built = True

    def _weight(self, role: str, shape: tuple[int, ...]) -> nn.Parameter:
        return self.add_weight(
            shape,
            resolve_initializer(f"{role}_initializer", self._args[f"{role}_initializer"]),
            regularizer=get_regularizer(f"{role}_regularizer", self._args[f"{role}_regularizer"]),
            constraint=get_constraint(f"{role}_constraint", self._args[f"{role}_constraint"]),
            name=role,
        )

    def _load_from_state_dict(
        self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        # Older epochal checkpoints kept the statistics in a torch BatchNorm1d ``norm``.
        renamed = {
            "norm.weight": "gamma",
            "norm.bias": "beta",
            "norm.running_mean": "moving_mean",
            "norm.running_var": "moving_variance",
        }
        for old, new in renamed.items():
            if prefix + old in state_dict and prefix + new not in state_dict:
                state_dict[prefix + new] = state_dict.pop(prefix + old)
        state_dict.pop(prefix + "norm.num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _moments(
        self, x: torch.Tensor, reduce: list[int], mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's mean and biased variance over ``reduce`` (flat, one per feature)."""
        world = _process_group_size() if self.synchronized else 1
        if mask is None and world == 1:
            var, mean = torch.var_mean(x, dim=reduce, correction=0)
            return mean, var
        features = int(x.shape[self._axis_of(x.dim())])
        if mask is None:
            weights = None
            count = x.new_full((features,), float(x.numel() // max(features, 1)))
        else:
            weights = mask.unsqueeze(-1).expand(x.shape).to(x.dtype)
            count = weights.sum(dim=reduce)
        if world > 1:
            return self._global_moments(x, reduce, weights, count)
        assert weights is not None
        keep = [int(x.shape[d]) if d not in reduce else 1 for d in range(x.dim())]
        # Keras: sums over the unmasked entries divided by (count + 1e-7).
        mean = (x * weights).sum(dim=reduce) / (count + 1e-7)
        diff = (x - mean.reshape(keep)) * weights
        var = (diff * diff).sum(dim=reduce) / (count + 1e-7)
        return mean, var

    @staticmethod
    def _global_moments(
        x: torch.Tensor, reduce: list[int], weights: torch.Tensor | None, count: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of the batch of every process (an autograd all-reduce)."""
        from torch.distributed.nn import functional as dist_functional

        xw = x if weights is None else x * weights
        stats = torch.stack([xw.sum(dim=reduce), (xw * x).sum(dim=reduce), count])
        stats = dist_functional.all_reduce(stats)
        total = stats[2]
        mean = stats[0] / total
        var = torch.clamp(stats[1] / total - mean * mean, min=0.0)
        return mean, var

    def call(
        self, x: torch.Tensor, training: bool | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if mask is not None and mask.dim() != x.dim() - 1:
            raise ValueError(
                "BatchNormalization: the mask must have one dimension less than the inputs. "
                f"Received: mask.shape={tuple(mask.shape)}, inputs.shape={tuple(x.shape)}"
            )
        assert self.moving_mean is not None and self.moving_variance is not None
        dtype = x.dtype
        if dtype in (torch.float16, torch.bfloat16):
            x = x.float()  # statistics in float32, as Keras
        axis = self._axis_of(x.dim())
        shape = [1] * x.dim()
        shape[axis] = int(x.shape[axis])
        if training is None:
            training = self.training
        # A frozen layer runs in inference mode, even in training (Keras' rule): it uses and
        # keeps its moving statistics.
        if training and self._trainable:
            reduce = [d for d in range(x.dim()) if d != axis]
            mean, var = self._moments(x, reduce, mask)
            with torch.no_grad():
                m = self.momentum
                self.moving_mean.copy_(self.moving_mean * m + mean.detach() * (1.0 - m))
                self.moving_variance.copy_(self.moving_variance * m + var.detach() * (1.0 - m))
        else:
            mean, var = self.moving_mean, self.moving_variance
        inv = torch.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma
        out = (x - mean.reshape(shape)) * inv.reshape(shape)
        if self.beta is not None:
            out = out + self.beta.reshape(shape)
        return out.to(dtype) if out.dtype != dtype else out

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **{k: serialize(k, v) for k, v in self._args.items()},
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        }


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
