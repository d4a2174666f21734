"""The Keras optimizers: Keras 3 names, arguments and defaults over torch update rules."""

from __future__ import annotations

from typing import Any

import torch

from epochal._validation import check_number
from epochal.optimizers._rules import (
    KerasAdadelta,
    KerasAdamax,
    KerasLion,
    KerasSGD,
    keras_adam_epsilon,
)
from epochal.optimizers.base import Optimizer
from epochal.optimizers.schedules import LearningRateSchedule

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Lion", "Nadam", "RMSprop"]


class SGD(Optimizer):
    """Stochastic gradient descent with Keras' defaults and Keras' momentum rule
    (``m = momentum * m - lr * g``, exact when the rate changes between updates)."""

    torch_class = KerasSGD
    default_learning_rate = 0.01

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | None = None,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, **kwargs
        )


class _KerasEpsilon(Optimizer):
    """Adam's and AdamW's update as Keras computes it, on torch's (fused) kernel: before
    each update the torch groups get the ``eps`` and ``lr`` that make torch's formula equal
    Keras' (see :func:`~epochal.optimizers._rules.keras_adam_epsilon`); after it their
    ``lr`` and ``eps`` are the plain rate and ``epsilon`` again (config and saved state)."""

    def step(self) -> None:
        opt = self.torch_optimizer
        epsilon = self.torch_kwargs.get("eps")
        # Only over the torch class this facade made (not one given to ``wrap``).
        if opt is None or epsilon is None or type(opt) is not self.torch_class:
            super().step()
            return
        factors = keras_adam_epsilon(opt, float(epsilon), self.iterations + 1)
        scales = self._group_scales
        rate = self.current_learning_rate()  # what this update uses (step() sets it again)
        self._group_scales = [s * f for s, f in zip(scales, factors, strict=False)]
        try:
            self._apply_lr()
            super().step()
        finally:
            self._group_scales = scales
            for group, scale in zip(opt.param_groups, scales, strict=False):
                group["lr"] = rate * scale
                group["eps"] = epsilon  # the saved state holds the configured values


class Adam(_KerasEpsilon):
    """Adam with Keras' defaults and Keras' update
    (``w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + epsilon)``), on torch's fused
    kernel where it applies."""

    torch_class = torch.optim.Adam

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | None = None,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, betas=(beta_1, beta_2), eps=epsilon, amsgrad=amsgrad, **kwargs
        )


class AdamW(_KerasEpsilon):
    """Adam with Keras 3's decoupled weight decay (default 0.004) and Keras' update."""

    torch_class = torch.optim.AdamW

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | None = None,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        if weight_decay is None:
            raise ValueError(
                "AdamW: `weight_decay` must be a float (use Adam for none). "
                "Received: weight_decay=None"
            )
        super().__init__(
            learning_rate,
            betas=(beta_1, beta_2),
            eps=epsilon,
            amsgrad=amsgrad,
            weight_decay=weight_decay,
            **kwargs,
        )


class RMSprop(Optimizer):
    torch_class = torch.optim.RMSprop

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | None = None,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, alpha=rho, momentum=momentum, eps=epsilon, centered=centered, **kwargs
        )


class Adagrad(Optimizer):
    torch_class = torch.optim.Adagrad

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | None = None,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate,
            initial_accumulator_value=initial_accumulator_value,
            eps=epsilon,
            **kwargs,
        )


class Nadam(Optimizer):
    torch_class = torch.optim.NAdam

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | None = None,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, betas=(beta_1, beta_2), eps=epsilon, **kwargs)


class Adamax(Optimizer):
    """Adam with the infinity norm (Keras' update: epsilon added to the norm in the
    denominator, ``w -= lr * m / ((1 - beta_1**t) * (u + epsilon))``)."""

    torch_class = KerasAdamax

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | None = None,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, betas=(beta_1, beta_2), eps=epsilon, **kwargs)


class Adadelta(Optimizer):
    """Adadelta with Keras' defaults (``learning_rate=0.001``, ``rho=0.95``,
    ``epsilon=1e-7``)."""

    torch_class = KerasAdadelta

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | None = None,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, rho=rho, eps=epsilon, **kwargs)


class Lion(Optimizer):
    """Lion (sign of an interpolated momentum; Keras' defaults ``beta_1=0.9``,
    ``beta_2=0.99``).

    Raises:
        ValueError: for ``beta_1`` outside ``(0, 1]`` (Lion degenerates to SignSGD), or
            ``beta_2`` outside ``[0, 1]``.
    """

    torch_class = KerasLion

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | None = None,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
        **kwargs: Any,
    ) -> None:
        check_number("beta_1", beta_1, finite=True, where="Lion: ")
        check_number("beta_2", beta_2, finite=True, where="Lion: ")
        if not 0 < beta_1 <= 1:
            raise ValueError(
                "Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer "
                f"degenerates to SignSGD. Received: beta_1={beta_1}."
            )
        if not 0 <= beta_2 <= 1:
            raise ValueError(f"Argument `beta_2` must be in [0, 1]. Received: beta_2={beta_2}.")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, **kwargs)
