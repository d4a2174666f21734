"""Shared helpers of the recurrent, attention, normalization and preprocessing layers:
argument checks with Keras' accepted values, initializers by name or object (with
``"orthogonal"``), config (de)serialization of initializers, seeded randomness, and
activity regularization.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from epochal import _validation, activations, constraints, initializers, regularizers

__all__ = [
    "SeededRandom",
    "activation_name",
    "add_activity_loss",
    "check_bool",
    "check_choice",
    "check_rate",
    "check_units",
    "resolve_initializer",
    "serialize",
]


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` when it is one of ``choices`` (see :func:`epochal._validation.check_choice`)."""
    return _validation.check_choice(name, value, choices)


def check_bool(name: str, value: Any) -> bool:
    """``value`` when it is `True` or `False`; else an ``ArgumentTypeError`` naming it."""
    return _validation.check_bool(name, value)


def check_units(name: str, value: Any, *, allow_none: bool = False) -> Any:
    """A positive integer (or `None` when allowed), else an error naming ``name``."""
    return _validation.check_int(name, value, minimum=1, allow_none=allow_none)


def check_rate(name: str, value: Any) -> float:
    """A number in ``[0, 1]``, else an error naming ``name``."""
    rate = _validation.check_number(name, value, minimum=0.0, finite=True)
    assert rate is not None
    if rate > 1:
        raise ValueError(f"`{name}` must be a number between 0 and 1. Received: {name}={value!r}")
    return rate


def _orthogonal(shape: tuple[int, ...], dtype: Any = None) -> torch.Tensor:
    tensor = torch.empty(shape)
    if len(shape) < 2:
        raise ValueError(f"The orthogonal initializer needs a 2-D or larger shape; got {shape}.")
    flat = tensor.reshape(-1, shape[-1])
    nn.init.orthogonal_(flat)
    return flat.reshape(shape)


def resolve_initializer(name: str, value: Any) -> Any:
    """What :meth:`Layer.add_weight` accepts for ``value`` (a Keras name, ``"orthogonal"``, an
    :class:`~epochal.initializers.Initializer` or a callable).

    Raises:
        ValueError: for an unknown name, naming the argument.
    """
    if isinstance(value, dict):
        value = _deserialize_initializer(name, value)
    if isinstance(value, str):
        if value.lower() == "orthogonal":
            return _orthogonal
        initializers.check_name(name, value)
        return value.lower()
    if callable(value):
        return value
    raise ValueError(
        f"`{name}` must be an initializer name such as 'glorot_uniform', an Initializer or a "
        f"callable (shape, dtype) -> tensor. Received: {name}={value!r}"
    )


def _deserialize_initializer(name: str, entry: dict[str, Any]) -> Any:
    cls = getattr(initializers, str(entry.get("class_name")), None)
    if not (isinstance(cls, type) and issubclass(cls, initializers.Initializer)):
        raise ValueError(f"Unknown initializer class in `{name}`: {entry!r}")
    return cls(**(entry.get("config") or {}))


def serialize(name: str, value: Any) -> Any:
    """``value`` (as the user gave it) in a form ``get_config`` can hold.

    Raises:
        TypeError: for a callable that is not a named object, naming the argument.
    """
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return value
    if isinstance(value, initializers.Initializer):
        return {"class_name": type(value).__name__, "config": value.get_config()}
    raise TypeError(
        f"`{name}`={value!r} cannot be written into the layer's config: pass it by name "
        "(a string) to save the model's architecture."
    )


def activation_name(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return getattr(value, "__name__", "custom")


def get_activation(name: str, value: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        return activations.get(value)
    except ValueError as error:
        raise ValueError(f"Invalid `{name}`: {error}") from None


def get_regularizer(name: str, value: Any) -> Any:
    try:
        return regularizers.get(value)
    except ValueError as error:
        raise ValueError(f"Invalid `{name}`: {error}") from None


def get_constraint(name: str, value: Any) -> Any:
    try:
        return constraints.get(value)
    except ValueError as error:
        raise ValueError(f"Invalid `{name}`: {error}") from None


def add_activity_loss(layer: Any, regularizer: Any, outputs: Any) -> None:
    """Keras' activity regularization: ``regularizer(output) / batch_size`` per output."""
    if regularizer is None:
        return
    items = outputs if isinstance(outputs, list | tuple) else [outputs]
    for out in items:
        if isinstance(out, torch.Tensor):
            loss = regularizer(out)
            if out.dim() > 0 and out.shape[0] > 0:
                loss = loss / out.shape[0]
            layer.add_loss(loss)


class SeededRandom:
    """Random draws of one layer: from the global torch RNG when ``seed`` is `None`, else from
    a generator seeded once with ``seed`` (one per device), so a seeded layer repeats its
    sequence of draws from construction on, as Keras' ``SeedGenerator`` does."""

    def __init__(self, seed: int | None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        self.seed = seed
        self._generators: dict[str, torch.Generator] = {}

    def generator(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return None
        key = str(device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            self._generators[key] = gen
        return gen

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The state of each generator made so far, by device (empty before any draw)."""
        return {key: gen.get_state() for key, gen in self._generators.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continues the draws from a :meth:`state_dict` (a resumed run's backup).

        Raises:
            ValueError: when ``state`` is not a mapping of device names to generator states.
        """
        if self.seed is None or not isinstance(state, Mapping):
            raise ValueError(
                f"A seeded layer's generator state must be a mapping of devices to generator "
                f"states, for a layer with a seed. Received: {type(state).__name__}"
            )
        generators: dict[str, torch.Generator] = {}
        for key, value in state.items():
            if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8:
                raise ValueError(
                    f"A seeded layer's generator state for {key!r} must be a uint8 tensor. "
                    f"Received: {type(value).__name__}"
                )
            gen = torch.Generator(device=torch.device(str(key)))
            gen.set_state(value.cpu())
            generators[str(key)] = gen
        self._generators = generators

    def uniform(self, shape: Any, device: torch.device, low: float = 0.0, high: float = 1.0):
        out = torch.empty(tuple(shape), device=device)
        return out.uniform_(low, high, generator=self.generator(device))

    def dropout_mask(self, shape: Any, rate: float, device: torch.device) -> torch.Tensor:
        """Zeros with probability ``rate``, else ``1 / (1 - rate)``."""
        keep = self.uniform(shape, device) >= rate
        return keep.float() / (1.0 - rate)
