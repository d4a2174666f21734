"""Keras' learning-rate schedules: the rate as a function of the optimizer's step count.

Pass one as ``learning_rate=`` to any epochal optimizer. Before each update the optimizer
asks ``schedule(iterations)`` (``iterations`` = updates already applied, so the first update
uses ``schedule(0)``), exactly as Keras 3 does; the value is computed in float32 with the
same operations Keras uses, so the rates agree with Keras to the last bit or two.

A schedule of your own subclasses :class:`LearningRateSchedule`, implements
``__call__(step)`` (returning a float or a 0-d tensor) and, to be saved with a model,
``get_config()``. Subclasses are found by class name when a saved model is loaded.

Schedules compute on the CPU (never on the default device), so asking for the rate of the
next update never waits for the accelerator.

A schedule's rate is not settable: ``optimizer.learning_rate = 0.01`` raises ``TypeError``
as in Keras, and so do ``LearningRateScheduler`` and ``ReduceLROnPlateau`` when they try to
change it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "deserialize",
    "get",
    "serialize",
]

_F32 = torch.float32

#: Every subclass by class name, so a saved optimizer config can name its schedule.
_REGISTRY: dict[str, type[LearningRateSchedule]] = {}


def _f32(value: Any) -> torch.Tensor:
    """``value`` as a float32 0-d tensor on the CPU (Keras casts every operand so)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(device="cpu", dtype=_F32)
    return torch.tensor(value, dtype=_F32, device="cpu")


def _check_steps(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value!r}")


class LearningRateSchedule:
    """Base class of learning-rate schedules (Keras' ``LearningRateSchedule``).

    Subclasses implement ``__call__(step)`` and ``get_config()``; ``from_config(config)``
    calls the constructor with the config's keys.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY.setdefault(cls.__name__, cls)

    def __call__(self, step: Any) -> Any:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` in "
            "order to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        try:
            config = self.get_config()
        except NotImplementedError:
            return f"{type(self).__name__}()"
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    Args:
        initial_learning_rate: The rate at step 0.
        decay_steps: Steps per factor of ``decay_rate`` (> 0).
        decay_rate: The factor.
        staircase: Floor ``step / decay_steps`` (the rate changes in steps). Defaults to `False`.
        name: Defaults to `"ExponentialDecay"`.

    Raises:
        ValueError: for ``decay_steps <= 0``.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        _check_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step: Any) -> torch.Tensor:
        exponent = _f32(step) / _f32(self.decay_steps)
        if self.staircase:
            exponent = torch.floor(exponent)
        return _f32(self.initial_learning_rate) * torch.pow(_f32(self.decay_rate), exponent)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to and including step ``boundaries[0]``, ``values[i]`` for
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last boundary.

    Args:
        boundaries: Increasing step numbers, one fewer than ``values``.
        values: The rate in each interval.
        name: Defaults to `"PiecewiseConstant"`.

    Raises:
        ValueError: when ``len(boundaries) != len(values) - 1``.
    """

    def __init__(
        self, boundaries: list[Any], values: list[Any], name: str = "PiecewiseConstant"
    ) -> None:
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}."
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step: Any) -> torch.Tensor:
        step_t = torch.as_tensor(step, device="cpu")
        if not step_t.is_floating_point():  # an integer step compares with whole boundaries
            bounds = [torch.as_tensor(b, device="cpu").to(step_t.dtype) for b in self.boundaries]
        else:
            bounds = [torch.as_tensor(b, dtype=step_t.dtype, device="cpu") for b in self.boundaries]
        values = [_f32(v) for v in self.values]
        result = (step_t <= bounds[0]).to(_F32) * values[0]
        result = result + (step_t > bounds[-1]).to(_F32) * values[-1]
        for low, high, value in zip(bounds[:-1], bounds[1:], values[1:-1], strict=True):
            result = result + ((step_t > low) & (step_t <= high)).to(_F32) * value
        return result

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` along
    ``(1 - step / decay_steps) ** power``; constant afterwards unless ``cycle``, which
    restarts with ``decay_steps`` stretched to the next multiple past ``step``.

    Args:
        initial_learning_rate: The rate at step 0.
        decay_steps: Steps to reach ``end_learning_rate`` (> 0).
        end_learning_rate: Defaults to `0.0001`.
        power: Defaults to `1.0` (linear).
        cycle: Defaults to `False`.
        name: Defaults to `"PolynomialDecay"`.

    Raises:
        ValueError: for ``decay_steps <= 0``.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        _check_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step: Any) -> torch.Tensor:
        start = _f32(self.initial_learning_rate)
        end = _f32(self.end_learning_rate)
        now = _f32(step)
        horizon = _f32(self.decay_steps)
        if self.cycle:
            laps = torch.where(now == 0, _f32(1.0), torch.ceil(now / self.decay_steps))
            horizon = horizon * laps
        else:
            now = torch.minimum(now, horizon)
        fraction = now / horizon
        return (start - end) * torch.pow(1 - fraction, _f32(self.power)) + end

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``.

    Args:
        initial_learning_rate: The rate at step 0.
        decay_steps: Steps per unit of ``decay_rate`` (> 0).
        decay_rate: The rate of decay.
        staircase: Floor ``step / decay_steps``. Defaults to `False`.
        name: Defaults to `"InverseTimeDecay"`.

    Raises:
        ValueError: for ``decay_steps <= 0``.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ) -> None:
        _check_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step: Any) -> torch.Tensor:
        progress = _f32(step) / _f32(self.decay_steps)
        if self.staircase:
            progress = torch.floor(progress)
        denominator = _f32(1.0) + _f32(self.decay_rate) * progress
        return _f32(self.initial_learning_rate) / denominator

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


def _cosine(alpha: Any, fraction: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    """``peak * ((1 - alpha) * (1 + cos(pi * fraction)) / 2 + alpha)`` in float32."""
    half_cosine = 0.5 * (1.0 + torch.cos(_f32(math.pi) * fraction))
    return peak * ((1 - alpha) * half_cosine + alpha)


class CosineDecay(LearningRateSchedule):
    """Cosine decay from the start rate to ``alpha`` times it over ``decay_steps``, after an
    optional linear warmup from ``initial_learning_rate`` to ``warmup_target`` over
    ``warmup_steps`` (then the cosine starts from ``warmup_target``).

    Args:
        initial_learning_rate: The rate at step 0.
        decay_steps: Length of the cosine part (> 0).
        alpha: Final rate as a fraction of the start. Defaults to `0.0`.
        name: Defaults to `"CosineDecay"`.
        warmup_target: The rate reached after warmup; `None` means no warmup.
        warmup_steps: Length of the warmup. Defaults to `0`.

    Raises:
        ValueError: for ``decay_steps <= 0``.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        _check_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def __call__(self, step: Any) -> torch.Tensor:
        start = _f32(self.initial_learning_rate)
        length = _f32(self.decay_steps)
        now = _f32(step)
        if self.warmup_target is None:
            now = torch.minimum(now, length)
            return _cosine(self.alpha, now / length, start)
        target = _f32(self.warmup_target)
        warmup = _f32(self.warmup_steps)
        now = torch.minimum(now, length + warmup)
        if float(step) < float(self.warmup_steps):  # min() above never moves a step below
            return (target - start) * (now / warmup) + start
        return _cosine(self.alpha, (now - warmup) / length, target)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): the first period lasts ``first_decay_steps``,
    each next one ``t_mul`` times longer and starting ``m_mul`` times lower.

    Args:
        initial_learning_rate: The rate at step 0.
        first_decay_steps: Length of the first period (> 0).
        t_mul: Period growth factor. Defaults to `2.0`.
        m_mul: Restart rate factor. Defaults to `1.0`.
        alpha: Floor as a fraction of ``initial_learning_rate``. Defaults to `0.0`.
        name: Defaults to `"SGDRDecay"`.

    Raises:
        ValueError: for ``first_decay_steps <= 0``.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        _check_steps("first_decay_steps", first_decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step: Any) -> torch.Tensor:
        alpha = _f32(self.alpha)
        t_mul = _f32(self.t_mul)
        fraction = _f32(step) / _f32(self.first_decay_steps)
        if float(np.float32(self.t_mul)) == 1.0:
            restart = torch.floor(fraction)
            fraction = fraction - restart
        else:
            restart = torch.floor(torch.log(1.0 - fraction * (1.0 - t_mul)) / torch.log(t_mul))
            elapsed = (1.0 - torch.pow(t_mul, restart)) / (1.0 - t_mul)
            fraction = (fraction - elapsed) / torch.pow(t_mul, restart)
        scale = torch.pow(_f32(self.m_mul), restart)
        half_cosine = 0.5 * scale * (1.0 + torch.cos(_f32(math.pi) * fraction))
        return _f32(self.initial_learning_rate) * ((1 - alpha) * half_cosine + alpha)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_BUILT_IN = frozenset(
    {
        "ExponentialDecay",
        "PiecewiseConstantDecay",
        "PolynomialDecay",
        "InverseTimeDecay",
        "CosineDecay",
        "CosineDecayRestarts",
    }
)


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """Keras' serialized form: ``{"module", "class_name", "config", "registered_name"}``."""
    cls = type(schedule)
    built_in = cls.__name__ in _BUILT_IN and _REGISTRY.get(cls.__name__) is cls
    return {
        "module": "keras.optimizers.schedules" if built_in else cls.__module__,
        "class_name": cls.__name__,
        "config": schedule.get_config(),
        "registered_name": None if built_in else cls.__name__,
    }


def deserialize(
    config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> LearningRateSchedule:
    """Rebuilds a schedule from :func:`serialize`'s output (or ``{"class_name", "config"}``).

    Raises:
        ValueError: when the class is neither built in, a defined subclass, nor in
            ``custom_objects``.
    """
    name = config.get("registered_name") or config["class_name"]
    cls = (custom_objects or {}).get(name) or (custom_objects or {}).get(config["class_name"])
    cls = cls or _REGISTRY.get(config["class_name"])
    if cls is None:
        raise ValueError(
            f"Unknown learning rate schedule {config['class_name']!r}. Known: "
            f"{', '.join(sorted(_REGISTRY))}; define the subclass (or pass it in "
            "custom_objects) before loading."
        )
    return cls.from_config(dict(config.get("config", {})))


def get(identifier: Any) -> LearningRateSchedule:
    """A schedule from a :class:`LearningRateSchedule` or its serialized dict.

    Raises:
        TypeError: for anything else.
    """
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(
        f"Expected a LearningRateSchedule or its serialized dict. Received: {identifier!r}"
    )
