"""Torch optimizers with Keras 3's update rules where torch has none or a different one.

torch's SGD keeps the sum of gradients as momentum and scales it by the *current* rate,
Keras keeps ``momentum * m - lr * g``, so the two differ as soon as the rate changes (a
schedule, ReduceLROnPlateau); torch's ``Adamax`` adds epsilon inside the running maximum,
Keras adds it to the maximum in the denominator; torch has no Lion; torch's Adam adds
epsilon to the bias-corrected root of ``v`` (``keras_adam_epsilon`` gives it the epsilon
that makes its fused kernel's update Keras'). These classes apply
Keras' formulas, in the order Keras' torch backend computes them (``torch._foreach_*``
over each parameter group), so updates agree with Keras to float32 rounding. Decoupled
weight decay, clipping and the learning rate are the facade's
(:class:`epochal.optimizers.Optimizer`); these see only ``lr``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

__all__ = ["KerasAdadelta", "KerasAdamax", "KerasLion", "KerasSGD", "keras_adam_epsilon"]


_BLOCK = 1024  # updates whose corrections are computed together


@functools.lru_cache(maxsize=32)
def _adam_corrections(beta_1: float, beta_2: float, block: int) -> tuple[list[float], list[float]]:
    """For the updates ``t`` of ``block``: ``1 / sqrt(1 - b2^t)`` as torch computes it (in
    double), and Keras' ``sqrt(1 - b2^t) / (1 - b1^t)`` (float32 betas and powers) over
    torch's. One vectorised pass per 1024 updates, so an update costs two list lookups."""
    steps = np.arange(block * _BLOCK + 1, (block + 1) * _BLOCK + 1)
    torch_1 = 1.0 - np.power(beta_1, steps.astype(np.float64))
    torch_2 = 1.0 - np.power(beta_2, steps.astype(np.float64))
    # Keras' float32 powers of the float32 betas: taken in double and rounded once (the
    # float32 result, to the ulp that 1 - b2^t would turn into 1e-5)
    one = np.float32(1)
    exact = steps.astype(np.float64)
    keras_1 = one - np.power(np.float64(np.float32(beta_1)), exact).astype(np.float32)
    keras_2 = np.sqrt(one - np.power(np.float64(np.float32(beta_2)), exact).astype(np.float32))
    with np.errstate(divide="ignore", invalid="ignore"):
        usable = (torch_1 > 0) & (torch_2 > 0) & (keras_1 > 0)
        inverse = np.where(usable, 1.0 / np.sqrt(torch_2), 1.0)
        factor = np.where(
            usable,
            (keras_2.astype(np.float64) / keras_1.astype(np.float64))
            / (np.sqrt(torch_2) / torch_1),
            1.0,
        )
    return inverse.tolist(), factor.tolist()


def keras_adam_epsilon(
    optimizer: torch.optim.Optimizer, epsilon: float, update: int
) -> list[float]:
    """Sets the ``eps`` of each group of torch's Adam / AdamW so that its update is Keras',
    and returns the factor each group's ``lr`` needs for this update.

    torch divides by ``sqrt(v) / sqrt(1 - b2^t) + eps`` (``sqrt(v_max)`` with amsgrad), Keras
    by ``sqrt(v) + epsilon`` after folding ``sqrt(1 - b2^t)`` into the rate: the two agree
    when ``eps = epsilon / sqrt(1 - b2^t)``. Keras also takes the powers of float32 betas in
    float32 (``1 - 0.999^t`` differs by up to 1e-5 relative from torch's double), which the
    returned ``lr`` factor (Keras' correction over torch's, about ``1 +- 1e-5``) makes up.
    ``update`` is ``t`` (1 for the first update), a host-side count: no device read,
    whichever kernel (fused, foreach, loop) runs.
    """
    block, index = divmod(max(int(update), 1) - 1, _BLOCK)
    factors = []
    for group in optimizer.param_groups:
        beta_1, beta_2 = group["betas"]
        inverse, factor = _adam_corrections(float(beta_1), float(beta_2), block)
        group["eps"] = epsilon * inverse[index]
        factors.append(factor[index])
    return factors


def _with_grads(group: dict[str, Any]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    params = [p for p in group["params"] if p.grad is not None]
    return params, [p.grad.to(p.dtype) for p in params if p.grad is not None]


def _buffers(
    optimizer: torch.optim.Optimizer, params: list[torch.Tensor], *names: str
) -> list[list[torch.Tensor]]:
    """Each named state buffer for each of ``params`` (zeros when first seen)."""
    columns: list[list[torch.Tensor]] = [[] for _ in names]
    for param in params:
        state = optimizer.state[param]
        if not state:
            for name in names:
                state[name] = torch.zeros_like(param, memory_format=torch.preserve_format)
        for column, name in zip(columns, names, strict=True):
            column.append(state[name])
    return columns


class _KerasRule(torch.optim.Optimizer):
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                group["step"] = group.get("step", 0) + 1  # Keras' `iterations + 1`
                params, grads = _with_grads(group)
                if params:
                    self._update(group, params, grads)
        return loss

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        raise NotImplementedError


class KerasAdamax(_KerasRule):
    """``m += (g - m)(1 - b1)``; ``u = max(b2 u, |g|)``;
    ``w -= lr m / ((1 - b1^t)(u + eps))``."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
    ) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        beta_1, beta_2 = group["betas"]
        moments, norms = _buffers(self, params, "exp_avg", "exp_inf")
        # Keras' `iterations + 1` in float32; the group counts its updates.
        power = torch.pow(torch.tensor(beta_1, dtype=torch.float32), float(group["step"]))
        bias = float(1 - power)
        torch._foreach_mul_(moments, beta_1)
        torch._foreach_add_(moments, grads, alpha=1 - beta_1)
        torch._foreach_mul_(norms, beta_2)
        torch._foreach_maximum_(norms, torch._foreach_abs(grads))
        updates = torch._foreach_div(
            torch._foreach_mul(moments, group["lr"]),
            torch._foreach_mul(torch._foreach_add(norms, group["eps"]), bias),
        )
        torch._foreach_add_(params, updates, alpha=-1)


class KerasAdadelta(_KerasRule):
    """``a = rho a + (1 - rho) g^2``; ``d = -sqrt(s + eps) g / sqrt(a + eps)``;
    ``s = rho s + (1 - rho) d^2``; ``w += lr d``."""

    def __init__(
        self, params: Iterable[Any], lr: float = 0.001, rho: float = 0.95, eps: float = 1e-7
    ) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps})

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        rho, eps = group["rho"], group["eps"]
        grad_sq, delta_sq = _buffers(self, params, "square_avg", "acc_delta")
        torch._foreach_mul_(grad_sq, rho)
        torch._foreach_add_(grad_sq, torch._foreach_mul(grads, grads), alpha=1 - rho)
        scale = torch._foreach_sqrt(torch._foreach_add(delta_sq, eps))
        deltas = torch._foreach_div(
            torch._foreach_mul(scale, grads), torch._foreach_sqrt(torch._foreach_add(grad_sq, eps))
        )
        deltas = torch._foreach_mul(deltas, -1)
        torch._foreach_mul_(delta_sq, rho)
        torch._foreach_add_(delta_sq, torch._foreach_mul(deltas, deltas), alpha=1 - rho)
        torch._foreach_add_(params, deltas, alpha=group["lr"])


class KerasLion(_KerasRule):
    """``w -= lr sign(b1 m + (1 - b1) g)``; then ``m = b2 m + (1 - b2) g``."""

    def __init__(
        self, params: Iterable[Any], lr: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.99
    ) -> None:
        super().__init__(params, {"lr": lr, "beta_1": beta_1, "beta_2": beta_2})

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        beta_1, beta_2 = group["beta_1"], group["beta_2"]
        (moments,) = _buffers(self, params, "exp_avg")
        directions = torch._foreach_mul(moments, beta_1)
        torch._foreach_add_(directions, grads, alpha=1 - beta_1)
        signs = [d.sign() for d in directions]
        torch._foreach_add_(params, torch._foreach_mul(signs, group["lr"]), alpha=-1)
        torch._foreach_mul_(moments, beta_2)
        torch._foreach_add_(moments, grads, alpha=1 - beta_2)


class KerasSGD(_KerasRule):
    """SGD with Keras' momentum: ``m = momentum * m - lr * g``; ``w += m`` (Nesterov:
    ``w += momentum * m - lr * g``). Equal to torch's SGD while the rate is constant."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "nesterov": nesterov})

    def _update(
        self, group: dict[str, Any], params: list[torch.Tensor], grads: list[torch.Tensor]
    ) -> None:
        lr, momentum = group["lr"], group["momentum"]
        if not momentum:
            torch._foreach_add_(params, grads, alpha=-lr)
            return
        for param in params:  # a state saved by torch's SGD: its buffer in Keras' form
            state = self.state[param]
            if "momentum_buffer" in state and "keras_momentum" not in state:
                state["keras_momentum"] = state.pop("momentum_buffer") * -lr
        (moments,) = _buffers(self, params, "keras_momentum")
        torch._foreach_mul_(moments, momentum)
        torch._foreach_add_(moments, grads, alpha=-lr)
        if group["nesterov"]:
            torch._foreach_add_(params, grads, alpha=-lr)
            torch._foreach_add_(params, moments, alpha=momentum)
        else:
            torch._foreach_add_(params, moments)
