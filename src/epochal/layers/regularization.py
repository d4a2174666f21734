"""Regularization layers: Dropout, SpatialDropout1D/2D, GaussianNoise (active only in
training; seeded when given a ``seed``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from epochal._validation import check_number
from epochal.layers._support import SeededRandom
from epochal.layers.base import Layer
from epochal.layers.convolutional import check_data_format

__all__ = ["Dropout", "GaussianNoise", "SpatialDropout1D", "SpatialDropout2D"]


def _check_rate(rate: Any) -> float:
    check_number("rate", rate)
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate!r}")
    return float(rate)


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of inputs during training and scales the rest by
    ``1 / (1 - rate)`` (inverted dropout); the identity in inference.

    Args (Keras 3):
        rate: Fraction of the inputs to drop, in ``[0, 1)``.
        noise_shape: Shape of the keep/drop mask, broadcast over the input (``None``
            entries take the input's size): ``(batch, 1, features)`` drops the same
            features at every timestep. Defaults to `None` (the input's shape).
        seed: Seeds this layer's own generator, so its masks repeat from construction
            on. Defaults to `None` (torch's global generator).
    """

    casts_inputs = True
    supports_masking = True

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rate = _check_rate(rate)
        if noise_shape is not None:
            if not isinstance(noise_shape, list | tuple) or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1)
                for d in noise_shape
            ):
                raise ValueError(
                    "`noise_shape` must be a tuple of positive integers or None. Received: "
                    f"noise_shape={noise_shape!r}"
                )
            noise_shape = list(noise_shape)
        self.noise_shape: list[int | None] | None = noise_shape
        self.seed = seed
        self._random = SeededRandom(seed)
        self.built = True

    def _mask_shape(self, x: torch.Tensor) -> list[int] | None:
        if self.noise_shape is None:
            return None
        if len(self.noise_shape) != x.dim():
            raise ValueError(
                f"`noise_shape` {tuple(self.noise_shape)} has {len(self.noise_shape)} axes; "
                f"the input has {x.dim()} (shape {tuple(x.shape)})."
            )
        return [int(x.shape[i]) if d is None else d for i, d in enumerate(self.noise_shape)]

    def call(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not training or self.rate == 0.0:
            return x
        shape = self._mask_shape(x)
        if shape is None and self.seed is None:
            return F.dropout(x, self.rate, True)
        mask = self._random.dropout_mask(shape or x.shape, self.rate, x.device)
        return x * mask.to(x.dtype)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "rate": self.rate}
        if self.noise_shape is not None:
            config["noise_shape"] = self.noise_shape
        if self.seed is not None:
            config["seed"] = self.seed
        return config


class SpatialDropout1D(Dropout):
    """Drops whole feature channels of ``(batch, steps, channels)`` (the same channels at
    every step), in training only.

    Args (Keras 3): rate, seed=None.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, **kwargs)

    def _mask_shape(self, x: torch.Tensor) -> list[int] | None:
        if x.dim() != 3:
            raise ValueError(
                f"SpatialDropout1D expects inputs of shape (batch, steps, channels); received "
                f"shape {tuple(x.shape)}."
            )
        return [int(x.shape[0]), 1, int(x.shape[2])]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("noise_shape", None)
        return config


class SpatialDropout2D(Dropout):
    """Drops whole feature maps of images, in training only.

    Args (Keras 3): rate, data_format=None (channels-last), seed=None.
    """

    def __init__(
        self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = check_data_format(data_format)

    def _mask_shape(self, x: torch.Tensor) -> list[int] | None:
        if x.dim() != 4:
            raise ValueError(
                f"SpatialDropout2D expects inputs with 4 axes; received shape {tuple(x.shape)}."
            )
        if self.data_format == "channels_last":
            return [int(x.shape[0]), 1, 1, int(x.shape[3])]
        return [int(x.shape[0]), int(x.shape[1]), 1, 1]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("noise_shape", None)
        config["data_format"] = self.data_format
        return config


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev``, in training only.

    Args (Keras 3): stddev, seed=None.
    """

    casts_inputs = True
    supports_masking = True

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        value = check_number("stddev", stddev, minimum=0.0, finite=True)
        assert value is not None
        self.stddev = value
        self.seed = seed
        self._random = SeededRandom(seed)
        self.built = True

    def call(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not training or self.stddev == 0.0:
            return x
        noise = torch.empty(x.shape, device=x.device, dtype=x.dtype)
        noise.normal_(0.0, self.stddev, generator=self._random.generator(x.device))
        return x + noise

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "stddev": self.stddev}
        if self.seed is not None:
            config["seed"] = self.seed
        return config
