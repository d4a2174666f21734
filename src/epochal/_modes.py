"""``evaluating(module)``: run a module in inference mode and put its mode back after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["evaluating"]


@contextlib.contextmanager
def evaluating(module: torch.nn.Module, *, no_grad: bool = True) -> Iterator[torch.nn.Module]:
    """Switches ``module`` to eval mode (and, by default, autograd off) for the block, then
    restores the mode it had, also when the block raises.

    Example:
        >>> net = torch.nn.Dropout(0.5)
        >>> with evaluating(net):
        ...     net.training
        False
        >>> net.training
        True
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            yield module
    finally:
        module.train(was_training)
