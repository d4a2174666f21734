"""Preprocessing layers: Rescaling, Normalization (with ``adapt()``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from epochal._validation import check_bool, check_number
from epochal.layers.base import Layer

__all__ = ["Normalization", "Rescaling"]


class Rescaling(Layer):
    """``inputs * scale + offset`` (``Rescaling(1 / 255)`` turns pixels into ``[0, 1]``).

    Args (Keras 3): scale, offset=0.0 (numbers).
    """

    casts_inputs = True
    supports_masking = True

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = float(check_number("scale", scale, finite=True) or 0.0)
        self.offset = float(check_number("offset", offset, finite=True) or 0.0)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.offset

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    """Shifts and scales inputs to zero mean and unit variance per feature:
    ``(x - mean) / max(sqrt(variance), 1e-7)`` (the inverse with ``invert=True``).

    ``mean`` / ``variance`` are given, or learned from data by :meth:`adapt` (the weights
    ``[mean, variance, count]``, non-trainable, as Keras stores them; ``count`` stays 0
    after ``adapt``, as in Keras 3).

    Args (Keras 3):
        axis: The feature axis (or axes) kept; the statistics are computed over the others.
            Defaults to `-1`. `None` computes one scalar mean and variance.
        mean / variance: Fixed statistics (broadcast to the kept axes). Defaults to `None`.
        invert: Apply the inverse transform. Defaults to `False`.
    """

    casts_inputs = True
    supports_masking = True
    _EPSILON = 1e-7

    def __init__(
        self,
        axis: int | Sequence[int] | None = -1,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if axis is None:
            self.axis: tuple[int, ...] = ()
        elif isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = (axis,)
        elif isinstance(axis, list | tuple) and all(
            isinstance(a, int) and not isinstance(a, bool) for a in axis
        ):
            self.axis = tuple(axis)
        else:
            raise ValueError(
                f"`axis` must be an integer, a tuple of integers or None. Received: axis={axis!r}"
            )
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization takes both `mean` and `variance`, or neither. Received: "
                f"mean={mean!r}, variance={variance!r}"
            )
        self.invert = check_bool("invert", invert)
        self._given = None
        if mean is not None:
            self._given = (
                np.asarray(mean, dtype=np.float32),
                np.asarray(variance, dtype=np.float32),
            )
        self.input_mean = mean
        self.input_variance = variance
        self.mean: torch.nn.Parameter | None = None
        self.variance: torch.nn.Parameter | None = None
        self.count: torch.nn.Parameter | None = None
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def _kept(self, rank: int) -> list[int]:
        kept = sorted(a % rank for a in self.axis)
        if any(a == 0 for a in kept):
            raise ValueError(f"Normalization: `axis` {self.axis} may not include the batch axis.")
        return kept

    def _stat_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(int(input_shape[a]) for a in self._kept(len(input_shape)))

    def build(self, input_shape: Sequence[int]) -> None:
        self._rank = len(input_shape)
        if self._given is None:
            shape = self._stat_shape(input_shape)
            self.mean = self.add_weight(shape, "zeros", trainable=False, name="mean")
            self.variance = self.add_weight(shape, "ones", trainable=False, name="variance")
            self.count = self.add_weight((), "zeros", "int32", trainable=False, name="count")
        self.built = True

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Computes ``mean`` and ``variance`` over ``data`` (an array or tensor of samples,
        or an iterable of batches), replacing any previous statistics.

        Raises:
            ValueError: when the layer was given fixed ``mean`` / ``variance``.
        """
        if self._given is not None:
            raise ValueError(
                "Normalization was given `mean` and `variance`: adapt() cannot change them."
            )
        if isinstance(data, np.ndarray | torch.Tensor | list):
            batches: Any = [data]
        else:
            batches = data
        total, total_sq, count = None, None, 0
        for taken, batch in enumerate(batches, start=1):
            if isinstance(batch, tuple | list) and not isinstance(data, list):
                batch = batch[0]
            x = torch.as_tensor(np.asarray(batch), dtype=torch.float64)
            if not self.built:
                self._build_now(tuple(x.shape))
            reduce = [a for a in range(x.dim()) if a not in self._kept(x.dim())]
            s = x.sum(dim=reduce)
            sq = (x * x).sum(dim=reduce)
            n = int(np.prod([x.shape[a] for a in reduce])) if reduce else 1
            total = s if total is None else total + s
            total_sq = sq if total_sq is None else total_sq + sq
            count += n
            if steps is not None and taken >= steps:
                break
        if total is None or total_sq is None or count == 0:
            raise ValueError("Normalization.adapt() received no data.")
        mean = total / count
        variance = torch.clamp(total_sq / count - mean * mean, min=0.0)
        assert self.mean is not None and self.variance is not None
        with torch.no_grad():
            self.mean.copy_(mean.reshape(self.mean.shape).to(self.mean))
            self.variance.copy_(variance.reshape(self.variance.shape).to(self.variance))

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kept = self._kept(x.dim())
        shape = [int(x.shape[a]) if a in kept else 1 for a in range(x.dim())]
        if self._given is not None:
            mean = torch.as_tensor(self._given[0], device=x.device)
            variance = torch.as_tensor(self._given[1], device=x.device)
            if mean.dim() > 0:
                mean, variance = mean.reshape(shape), variance.reshape(shape)
            return mean, variance
        assert self.mean is not None and self.variance is not None
        return self.mean.reshape(shape), self.variance.reshape(shape)

    def call(self, x: torch.Tensor) -> torch.Tensor:
        mean, variance = self._stats(x)
        std = torch.clamp(torch.sqrt(variance), min=self._EPSILON)
        if self.invert:
            return mean + x * std
        return (x - mean) / std

    def get_config(self) -> dict[str, Any]:
        axis: Any = (
            None if not self.axis else (self.axis[0] if len(self.axis) == 1 else list(self.axis))
        )
        config = {**super().get_config(), "axis": axis, "invert": self.invert}
        if self._given is not None:
            config["mean"] = self._given[0].tolist()
            config["variance"] = self._given[1].tolist()
        return config
