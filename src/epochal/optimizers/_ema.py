"""Keras 3's exponential moving average of the model weights (``use_ema=True``).

The optimizer keeps one average per weight it updates ("Polyak averaging"). After every
``step()`` call -- an accumulating call of ``gradient_accumulation_steps`` included, as in
Keras -- each average becomes::

    average = momentum * average + (1 - momentum) * weight

where ``momentum`` is ``ema_momentum``, except while ``iterations`` (updates applied before
this call) is 0: then ``momentum`` is 0 and the average takes the weight's value. Every
``ema_overwrite_frequency`` iterations (when ``(iterations + 1) % frequency == 0``, counted
before the call increments them) the weights are overwritten with their averages. At the end
of ``fit`` the weights are finalized: overwritten with their averages.

Everything here runs on the weights' device with ``torch._foreach_*`` kernels over all
weights at once; no value is read on the host, so a step stays free of synchronisation.
The products are rounded separately, as Keras' ``momentum * average + (1 - momentum) * var``
is, so the averages agree with Keras to float32 rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from epochal._validation import ArgumentTypeError, check_bool, check_number

__all__ = ["ModelAverage", "check_ema_arguments"]


def check_ema_arguments(
    owner: str, use_ema: Any, ema_momentum: Any, ema_overwrite_frequency: Any
) -> tuple[bool, float, int | None]:
    """The three EMA arguments, checked as Keras checks them (and for their types).

    Keras accepts ``ema_overwrite_frequency=0`` as "never" (it tests the value's truth);
    so does epochal.

    Raises:
        ArgumentTypeError: ``use_ema`` is not a bool, ``ema_momentum`` not a number,
            ``ema_overwrite_frequency`` not an int or None.
        ValueError: ``ema_momentum`` outside ``[0, 1]``, ``ema_overwrite_frequency`` < 0.
    """
    where = f"{owner}: "
    use_ema = check_bool("use_ema", use_ema, where=where)
    momentum = check_number("ema_momentum", ema_momentum, finite=True, where=where)
    assert momentum is not None
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(
            f"{where}`ema_momentum` must be in the range [0, 1]. "
            f"Received: ema_momentum={ema_momentum!r}"
        )
    frequency = ema_overwrite_frequency
    if frequency is not None:
        if isinstance(frequency, bool) or not isinstance(frequency, int | np.integer):
            raise ArgumentTypeError(
                f"{where}`ema_overwrite_frequency` must be an integer >= 1 or None. "
                f"Received: ema_overwrite_frequency={frequency!r}"
            )
        if frequency < 0:
            raise ValueError(
                f"{where}`ema_overwrite_frequency` must be an integer >= 1 or None. "
                f"Received: ema_overwrite_frequency={frequency!r}"
            )
        frequency = int(frequency)
    return use_ema, momentum, frequency


class ModelAverage:
    """The averages of one optimizer's weights, and the operations Keras applies to them.

    Args:
        momentum: ``ema_momentum``.
        overwrite_frequency: ``ema_overwrite_frequency`` (`None` or 0: never).
    """

    def __init__(self, momentum: float, overwrite_frequency: int | None) -> None:
        self.momentum = float(np.float32(momentum))
        # Keras computes ``1 - momentum`` on a float32 momentum: the same float32 number.
        self.complement = float(np.float32(1.0) - np.float32(momentum))
        self.overwrite_frequency = overwrite_frequency or None
        self.averages: list[torch.Tensor] = []

    def ensure(self, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """The averages for ``params`` (zeros, as Keras' variables start, when first seen)."""
        if len(self.averages) != len(params):
            self.averages = [
                torch.zeros_like(p, memory_format=torch.preserve_format).detach() for p in params
            ]
        return self.averages

    @torch.no_grad()
    def update(self, params: list[torch.Tensor], iterations: int) -> None:
        """One update of the averages after a ``step()`` call (``iterations``: the
        optimizer's ``iterations`` before the call counts), then the overwrite when due."""
        if not params:
            return
        averages = self.ensure(params)
        weights = [p.detach() for p in params]
        if iterations == 0:
            torch._foreach_copy_(averages, weights)  # momentum 0: 0 * average + 1 * weight
        else:
            scaled = torch._foreach_mul(weights, self.complement)
            torch._foreach_mul_(averages, self.momentum)
            torch._foreach_add_(averages, scaled)
        if self.overwrite_frequency and (iterations + 1) % self.overwrite_frequency == 0:
            torch._foreach_copy_(weights, averages)

    @torch.no_grad()
    def overwrite(self, params: list[torch.Tensor]) -> None:
        """The weights take their averages' values (Keras' finalization)."""
        if params:
            torch._foreach_copy_([p.detach() for p in params], self.ensure(params))

    @torch.no_grad()
    def swap(self, params: list[torch.Tensor]) -> None:
        """Exchanges the weights and their averages (``SwapEMAWeights``)."""
        if not params:
            return
        averages = self.ensure(params)
        weights = [p.detach() for p in params]
        held = [w.clone() for w in weights]
        torch._foreach_copy_(weights, averages)
        torch._foreach_copy_(averages, held)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {str(i): t for i, t in enumerate(self.averages)}

    def load_state_dict(self, state: dict[str, Any], params: list[torch.Tensor]) -> None:
        averages = self.ensure(params)
        with torch.no_grad():
            for index, (average, param) in enumerate(zip(averages, params, strict=True)):
                saved = state.get(str(index))
                if saved is None:
                    continue
                if tuple(saved.shape) != tuple(param.shape):
                    raise ValueError(
                        f"The saved EMA average {index} has shape {tuple(saved.shape)}; the "
                        f"weight it averages has shape {tuple(param.shape)}."
                    )
                average.copy_(saved.to(param.device, param.dtype))
