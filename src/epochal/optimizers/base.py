"""Keras-named optimizers over torch optimizers, with a settable learning rate.

``model.optimizer`` is always an :class:`Optimizer`: a thin facade that owns a
``torch.optim.Optimizer`` and gives it Keras' surface — ``learning_rate`` (alias ``lr``)
readable and assignable by callbacks and user code, ``iterations`` (updates applied so far),
and the Keras 2 time-based ``decay`` argument the older tutorials use.

Time-based decay (Keras 2): each update uses ``lr0 / (1 + decay * iterations)``
where ``iterations`` counts updates already applied — per batch, not per epoch, never
compounded. ``learning_rate`` reads and writes ``lr0``, so LR callbacks keep working and the
decay applies on top of what they set.

Learning rates are stored rounded to float32, as Keras' variables are, so values written to
the logs by LR callbacks match Keras digit for digit. ``optimizer.learning_rate`` is a
:class:`LearningRate`: a live float32 scalar with the Keras variable surface (``numpy()``,
``assign()``, ``value``, ``float()``, arithmetic, comparisons in float32).

Weight decay is Keras 3's, decoupled, on every optimizer: before each update every decayed
weight (each trainable one with a gradient, unless excluded with
:meth:`Optimizer.exclude_from_weight_decay`) becomes ``w - w * weight_decay * lr``. The torch
optimizers underneath run without their own (coupled, L2) ``weight_decay``.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch

from epochal._validation import check_bool, check_number, check_str
from epochal.optimizers._ema import ModelAverage, check_ema_arguments
from epochal.optimizers.schedules import LearningRateSchedule
from epochal.optimizers.schedules import serialize as serialize_schedule

__all__ = ["LearningRate", "Optimizer", "gradient_sync"]

# Set by the engine around a data-parallel step it does not own (a model's own train_step):
# every update first averages the gradients it applies over the ranks.
_GRADIENT_SYNC: list[Callable[[list[torch.Tensor]], None]] = []


@contextlib.contextmanager
def gradient_sync(sync: Callable[[list[torch.Tensor]], None]) -> Iterator[None]:
    """Within the block, each :meth:`Optimizer.step` / :meth:`Optimizer.apply` first calls
    ``sync(gradients)`` (in place, e.g. an all-reduce average over processes)."""
    _GRADIENT_SYNC.append(sync)
    try:
        yield
    finally:
        _GRADIENT_SYNC.pop()


#: Keras 3's message when code sets the rate of an optimizer driven by a schedule.
SCHEDULE_NOT_SETTABLE = (
    "This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` "
    "constructor argument, hence its learning rate is not settable. If you need the learning "
    "rate to be settable, you should instantiate the optimizer with a float `learning_rate` "
    "argument."
)


def _warn_lr_attribute(class_name: str) -> None:
    import warnings

    warnings.warn(
        f"`lr` is deprecated in {class_name}; use `learning_rate` instead.",
        DeprecationWarning,
        stacklevel=3,
    )


def _float32(value: float) -> float:
    return float(np.float32(value))


def _as_float32(value: Any) -> Any:
    """``value`` as Keras would see it next to a float32 variable."""
    if isinstance(value, LearningRate):
        return value.numpy()
    if isinstance(value, bool | int | float | np.number):
        return np.float32(value)
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(torch.float32)
    return value


def _operator_pair(
    op: Callable[[Any, Any], Any],
) -> tuple[Callable[[LearningRate, Any], Any], Callable[[LearningRate, Any], Any]]:
    """``LearningRate``'s ``__op__`` and ``__rop__`` for the binary operator ``op``."""

    def forward(self: LearningRate, other: Any) -> Any:
        return self._binary(other, op, False)

    def reflected(self: LearningRate, other: Any) -> Any:
        return self._binary(other, op, True)

    return forward, reflected


class LearningRate:
    """An optimizer's learning rate, with the surface of Keras' float32 scalar variable.

    A live view: reading it always gives the optimizer's current (base) rate and
    :meth:`assign` moves every parameter group, like ``optimizer.learning_rate = x``.
    Comparisons are made in float32, so ``lr == 0.01`` holds for a rate set to 0.01;
    arithmetic returns a float32 scalar tensor, as Keras on torch does.
    """

    __slots__ = ("_optimizer",)
    shape = ()
    dtype = "float32"
    name = "learning_rate"
    trainable = False

    def __init__(self, optimizer: Optimizer) -> None:
        self._optimizer = optimizer

    @property
    def path(self) -> str:
        return f"{self._optimizer.name}/learning_rate"

    def numpy(self) -> np.float32:
        return np.float32(self._optimizer._base_rate())

    @property
    def value(self) -> torch.Tensor:
        return torch.tensor(self.numpy())

    def item(self) -> float:
        return float(self.numpy())

    def assign(self, value: Any) -> LearningRate:
        self._optimizer.learning_rate = value
        return self

    def assign_add(self, delta: Any) -> LearningRate:
        return self.assign(float(self.numpy() + _as_float32(delta)))

    def assign_sub(self, delta: Any) -> LearningRate:
        return self.assign(float(self.numpy() - _as_float32(delta)))

    def __float__(self) -> float:
        return float(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __bool__(self) -> bool:
        return bool(self.numpy())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.numpy(), dtype=dtype)

    def __format__(self, spec: str) -> str:
        return format(float(self), spec)

    def __repr__(self) -> str:
        return f"<LearningRate path={self.path}, shape=(), dtype=float32, value={self.numpy()}>"

    __hash__ = object.__hash__

    def _compare(self, other: Any, op: Callable[[Any, Any], Any]) -> Any:
        other = _as_float32(other)
        if isinstance(other, torch.Tensor):
            return bool(op(self.value.to(other.device), other))
        return bool(op(self.numpy(), other))

    def __eq__(self, other: object) -> bool:
        return self._compare(other, operator.eq)

    def __ne__(self, other: object) -> bool:
        return self._compare(other, operator.ne)

    def __lt__(self, other: Any) -> bool:
        return self._compare(other, operator.lt)

    def __le__(self, other: Any) -> bool:
        return self._compare(other, operator.le)

    def __gt__(self, other: Any) -> bool:
        return self._compare(other, operator.gt)

    def __ge__(self, other: Any) -> bool:
        return self._compare(other, operator.ge)

    def _binary(self, other: Any, op: Callable[[Any, Any], Any], reflected: bool) -> Any:
        other = _as_float32(other)
        mine: Any = self.value
        if isinstance(other, torch.Tensor):
            mine = mine.to(other.device)
        elif isinstance(other, np.generic | float | int):
            other = torch.tensor(other)
        elif not isinstance(other, np.ndarray):
            return NotImplemented
        else:
            mine = self.numpy()
        return op(other, mine) if reflected else op(mine, other)

    # a + lr, lr - b, lr ** 2 ...: each operator and its reflection, through _binary.
    __add__, __radd__ = _operator_pair(operator.add)
    __sub__, __rsub__ = _operator_pair(operator.sub)
    __mul__, __rmul__ = _operator_pair(operator.mul)
    __truediv__, __rtruediv__ = _operator_pair(operator.truediv)
    __pow__, __rpow__ = _operator_pair(operator.pow)

    def __neg__(self) -> torch.Tensor:
        return -self.value

    def __pos__(self) -> torch.Tensor:
        return self.value

    def __abs__(self) -> torch.Tensor:
        return abs(self.value)


class Optimizer:
    """Keras-style facade over a torch optimizer.

    Subclasses name a ``torch_class`` and the keyword arguments it gets; the torch optimizer
    is created by :meth:`build` once the model's parameters exist (Keras creates optimizer
    variables lazily the same way).

    Args:
        learning_rate: Initial learning rate, or a
            :class:`~epochal.optimizers.schedules.LearningRateSchedule` asked for the rate
            of each update (``schedule(iterations)``). Defaults to the class' Keras default.
        weight_decay: Keras 3's decoupled weight decay (see the module docstring). Defaults
            to `None` (none; ``AdamW``: 0.004).
        decay: Keras 2 time-based decay (see module docstring). Defaults to `0.0`.
        clipnorm: Clip each parameter's gradient to this norm. Defaults to `None`.
        clipvalue: Clip gradients element-wise to ``[-clipvalue, clipvalue]``. Defaults to
            `None`.
        global_clipnorm: Clip the global gradient norm. Defaults to `None`.
        gradient_accumulation_steps: Keras 3's gradient accumulation: an int >= 2 applies
            one update every that many ``step()`` calls, with the mean of their gradients
            (clipping and weight decay on that mean); between updates the gradients are summed
            into accumulators (kept in :meth:`state_dict`, so a run resumes mid-accumulation).
            As in Keras, ``iterations`` counts updates (calls // steps) while a
            learning-rate schedule is asked with the count of calls. Defaults to `None`.
        use_ema: Keras 3's exponential moving average of the weights (see
            :mod:`epochal.optimizers._ema`): after every ``step()`` call each average becomes
            ``ema_momentum * average + (1 - ema_momentum) * weight`` (the weight itself while
            ``iterations`` is 0); ``fit`` ends by overwriting the weights with their averages
            (:meth:`finalize_variable_values`), and
            :class:`~epochal.callbacks.SwapEMAWeights` evaluates (and checkpoints) with them.
            The averages are part of :meth:`state_dict`. Defaults to `False`.
        ema_momentum: The averages' momentum, in ``[0, 1]``. Defaults to `0.99`.
        ema_overwrite_frequency: With ``use_ema``, overwrite the weights with their averages
            every that many iterations; `None` never does. Defaults to `None`.
        lr: Legacy alias of `learning_rate` (deprecated).

    Raises:
        ValueError: for a negative or non-finite learning rate or decay, or unknown keyword
            arguments.
    """

    torch_class: type[torch.optim.Optimizer] | None = None
    default_learning_rate = 0.001

    def __init__(
        self,
        learning_rate: float | LearningRateSchedule | None = None,
        *,
        weight_decay: float | None = None,
        decay: float = 0.0,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        gradient_accumulation_steps: int | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        name: str | None = None,
        lr: float | None = None,
        **torch_kwargs: Any,
    ) -> None:
        if lr is not None:
            import warnings

            warnings.warn(
                f"`lr` is deprecated in {type(self).__name__}; use `learning_rate` instead.",
                DeprecationWarning,
                stacklevel=2,
            )
            if learning_rate is not None:
                raise ValueError("Pass either `learning_rate` or the legacy `lr`, not both.")
            learning_rate = lr
        if learning_rate is None:
            learning_rate = self.default_learning_rate
        self._schedule: LearningRateSchedule | None = None
        self._schedule_cache: tuple[int, float] | None = None
        if isinstance(learning_rate, LearningRateSchedule):
            self._schedule = learning_rate
            learning_rate = 0.0
        else:
            _check_number("learning_rate", learning_rate)
        _check_number("decay", decay)
        if weight_decay is not None:
            _check_number("weight_decay", weight_decay)
        for clip_name, clip in (
            ("clipnorm", clipnorm),
            ("clipvalue", clipvalue),
            ("global_clipnorm", global_clipnorm),
        ):
            if clip is not None:
                _check_number(clip_name, clip)
        if gradient_accumulation_steps is not None and (
            isinstance(gradient_accumulation_steps, bool)
            or not isinstance(gradient_accumulation_steps, int)
            or gradient_accumulation_steps < 2
        ):
            raise ValueError(
                "`gradient_accumulation_steps` must be an integer >= 2. "
                f"Received: gradient_accumulation_steps={gradient_accumulation_steps!r}"
            )
        if name is not None:
            check_str("name", name, where=f"{type(self).__name__}: ")
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = check_ema_arguments(
            type(self).__name__, use_ema, ema_momentum, ema_overwrite_frequency
        )
        self._ema: ModelAverage | None = (
            ModelAverage(self.ema_momentum, self.ema_overwrite_frequency) if self.use_ema else None
        )
        if decay:
            import warnings

            warnings.warn(
                "`decay` is the Keras 2 time-based decay: each update uses "
                "learning_rate / (1 + decay * iterations). Keras 3 ignores it; epochal applies it.",
                DeprecationWarning,
                stacklevel=2,
            )
        self._check_torch_kwargs(torch_kwargs)
        self.name = name or type(self).__name__.lower()
        self.decay = float(decay)
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.torch_kwargs = torch_kwargs
        self.gradient_accumulation_steps = gradient_accumulation_steps
        # step() calls so far; ``iterations`` is this over gradient_accumulation_steps.
        self._iterations = 0
        self._accumulators: list[torch.Tensor | None] = []
        self.weight_decay = float(weight_decay) if weight_decay is not None else None
        self._learning_rate = _float32(learning_rate)
        self._lr_variable = LearningRate(self)
        self._group_scales: list[float] = []
        self.torch_optimizer: torch.optim.Optimizer | None = None
        self._exclude_ids: set[int] = set()
        self._exclude_pattern: re.Pattern[str] | None = None
        # Built with the torch optimizer: the weights decayed, those with a constraint.
        self._decayed: list[torch.Tensor] = []
        self._constrained: list[tuple[torch.Tensor, Callable[[torch.Tensor], Any]]] = []

    # ----------------------------------------------------------------- construction
    def _check_torch_kwargs(self, torch_kwargs: dict[str, Any]) -> None:
        if self.torch_class is None or not torch_kwargs:
            return
        accepted = set(inspect.signature(self.torch_class).parameters) - {
            "self",
            "params",
            "lr",
            "weight_decay",
        }
        unknown = sorted(set(torch_kwargs) - accepted)
        if unknown:
            raise ValueError(
                f"Argument(s) not recognized by {type(self).__name__}: {unknown}. "
                "Accepted: learning_rate, weight_decay, decay, clipnorm, clipvalue, "
                "global_clipnorm, gradient_accumulation_steps, use_ema, ema_momentum, "
                "ema_overwrite_frequency, name, "
                f"{', '.join(sorted(accepted))}."
            )
        _check_hyperparameters(type(self).__name__, torch_kwargs)

    @property
    def built(self) -> bool:
        return self.torch_optimizer is not None

    @property
    def iterations(self) -> int:
        """Updates applied so far (with gradient accumulation: ``step()`` calls // steps)."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._iterations = int(value) * (self.gradient_accumulation_steps or 1)

    def build(self, params: Iterable[torch.nn.Parameter | tuple[str, torch.nn.Parameter]]) -> None:
        """Creates the torch optimizer over ``params`` (called by ``Model`` when built).

        ``params`` are parameters or ``(name, parameter)`` pairs (``named_parameters()``);
        a name is what ``exclude_from_weight_decay(var_names=...)`` matches when the weight
        has no Keras name of its own (epochal layers name theirs: ``kernel``, ``bias``,
        ``gamma``, ``beta``, ``embeddings``, or ``add_weight``'s ``name``).
        """
        assert self.torch_class is not None
        names: dict[int, str] = {}
        plain: list[torch.nn.Parameter] = []
        for entry in params:
            if isinstance(entry, tuple):
                name, entry = entry
                names[id(entry)] = str(name).rsplit(".", 1)[-1]
            plain.append(entry)
        kwargs = dict(_fast_kwargs(self.torch_class, plain, self.torch_kwargs))
        if "weight_decay" in inspect.signature(self.torch_class).parameters:
            kwargs["weight_decay"] = 0.0  # decoupled, applied by step() (Keras 3)
        kwargs["lr"] = self.current_learning_rate()
        self.torch_optimizer = self.torch_class(plain, **kwargs)
        self._group_scales = [1.0 for _ in self.torch_optimizer.param_groups]
        if self._ema is not None:
            self._ema.ensure(self._params())
        self._decayed = [p for p in plain if self._use_weight_decay(p, names.get(id(p)))]
        self._constrained = [
            (p, p._keras_constraint)  # type: ignore[attr-defined]
            for p in plain
            if getattr(p, "_keras_constraint", None) is not None
        ]
        deferred = self.__dict__.pop("_deferred_state", None)
        if deferred is not None:  # restored before the weights it updates existed
            self.load_state_dict(deferred)

    def exclude_from_weight_decay(
        self,
        var_list: Iterable[torch.Tensor] | None = None,
        var_names: Iterable[str] | None = None,
    ) -> None:
        """Keeps weights out of weight decay: those in ``var_list``, and those whose name
        contains one of ``var_names`` (regular expressions, searched in the weight's Keras
        name, e.g. ``["bias", "gamma"]``). Replaces an earlier call's choice.

        Raises:
            ValueError: when the optimizer is already built.
        """
        if self.built:
            raise ValueError(
                "`exclude_from_weight_decay()` can only be configured before the optimizer is "
                "built (before compile() builds the model, or before its first fit())."
            )
        self._exclude_ids = {id(v) for v in var_list or ()}
        names = sorted(set(var_names or ()))
        self._exclude_pattern = re.compile("|".join(names)) if names else None

    def _use_weight_decay(self, param: torch.Tensor, name: str | None = None) -> bool:
        if id(param) in self._exclude_ids:
            return False
        if self._exclude_pattern is not None:
            name = getattr(param, "_keras_name", None) or name
            if name is not None and self._exclude_pattern.search(name):
                return False
        return True

    @classmethod
    def wrap(
        cls,
        torch_optimizer: torch.optim.Optimizer,
        *,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
    ) -> Optimizer:
        """Gives an existing torch optimizer the Keras surface, keeping its groups' ratios
        (and, with ``use_ema``, Keras' moving average of its weights)."""
        opt = cls.__new__(cls)
        Optimizer.__init__(
            opt,
            learning_rate=float(torch_optimizer.param_groups[0]["lr"]),
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
        )
        # A wrapped torch optimizer keeps its own weight_decay; the facade adds none.
        opt.name = type(torch_optimizer).__name__.lower()
        opt.torch_optimizer = torch_optimizer
        base = float(torch_optimizer.param_groups[0]["lr"]) or 1.0
        opt._group_scales = [float(g["lr"]) / base for g in torch_optimizer.param_groups]
        return opt

    # ----------------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> LearningRate:
        """The (base) learning rate, a :class:`LearningRate` (Keras' float32 variable);
        assigning it (or ``learning_rate.assign(x)``) moves every parameter group."""
        return self._lr_variable

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(value, LearningRateSchedule):
            self._schedule, self._schedule_cache = value, None
            self._apply_lr()
            return
        if self._schedule is not None:
            raise TypeError(SCHEDULE_NOT_SETTABLE)
        if isinstance(value, LearningRate):
            value = value.item()
        elif isinstance(value, torch.Tensor | np.ndarray):
            value = float(value)
        _check_number("learning_rate", value)
        self._learning_rate = _float32(value)
        self._apply_lr()

    # Keras 2 spelling, used by the seed tutorials: works, with a DeprecationWarning (README).
    @property
    def lr(self) -> LearningRate:
        """Deprecated alias of :attr:`learning_rate` (warns)."""
        _warn_lr_attribute(type(self).__name__)
        return self.learning_rate

    @lr.setter
    def lr(self, value: float) -> None:
        _warn_lr_attribute(type(self).__name__)
        self.learning_rate = value

    @property
    def schedule(self) -> LearningRateSchedule | None:
        """The learning-rate schedule given as ``learning_rate``, else None."""
        return self._schedule

    def _base_rate(self) -> float:
        """The rate before Keras 2 ``decay``: ``schedule(iterations)`` or the set rate."""
        if self._schedule is None:
            return self._learning_rate
        cache = self._schedule_cache
        calls = self._iterations  # Keras: schedules see every call, accumulating or not
        if cache is None or cache[0] != calls:
            value = self._schedule(calls)
            if isinstance(value, torch.Tensor):
                value = value.detach().to("cpu", torch.float32)
            cache = (calls, _float32(float(value)))
            self._schedule_cache = cache
        return cache[1]

    def current_learning_rate(self) -> float:
        """The rate the next update will use (``learning_rate`` with ``decay`` applied)."""
        if self.decay:
            return self._base_rate() / (1.0 + self.decay * self.iterations)
        return self._base_rate()

    def _apply_lr(self) -> None:
        if self.torch_optimizer is None:
            return
        rate = self.current_learning_rate()
        for group, scale in zip(
            self.torch_optimizer.param_groups, self._group_scales, strict=False
        ):
            group["lr"] = rate * scale

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self._require().param_groups

    # ----------------------------------------------------------------- updates
    def zero_grad(self, set_to_none: bool = True) -> None:
        self._require().zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        """Applies one update (gradient clipping and decay first, when configured); with
        ``gradient_accumulation_steps``, accumulates the gradients instead except on every
        N-th call, which updates with their mean."""
        opt = self._require()
        if self.gradient_accumulation_steps and not self._accumulate(opt):
            self._update_average(opt)  # Keras averages after every call, updating or not
            self._iterations += 1
            return
        if _GRADIENT_SYNC:
            _GRADIENT_SYNC[-1](
                [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
            )
        if self.clipnorm is not None or self.clipvalue is not None or self.global_clipnorm:
            self._clip(opt)
        if self.decay or self._schedule is not None:
            self._apply_lr()
        if self.weight_decay:
            self._apply_weight_decay()
        opt.step()
        if self._constrained:
            self._apply_constraints()
        self._update_average(opt)
        self._iterations += 1

    # ----------------------------------------------------------------- moving average
    def _params(self) -> list[torch.Tensor]:
        return [p for g in self._require().param_groups for p in g["params"]]

    def _update_average(self, opt: torch.optim.Optimizer) -> None:
        if self._ema is not None:
            self._ema.update([p for g in opt.param_groups for p in g["params"]], self.iterations)

    def _require_ema(self, what: str) -> ModelAverage:
        if self._ema is None:
            raise ValueError(
                f"{what} needs an optimizer with `use_ema=True`; {type(self).__name__} "
                f"{self.name!r} has use_ema=False."
            )
        return self._ema

    @property
    def ema_variables(self) -> list[torch.Tensor] | None:
        """The moving averages (Keras' ``average`` variables), one per weight in the
        optimizer's order, or `None` without ``use_ema``."""
        if self._ema is None:
            return None
        return self._ema.ensure(self._params()) if self.built else []

    def finalize_variable_values(self, var_list: Iterable[torch.Tensor] | None = None) -> None:
        """Keras' end-of-``fit`` step: with ``use_ema``, the weights take their moving
        averages' values (``var_list``: the weights, in the optimizer's order; defaults to
        those the optimizer holds). Without ``use_ema``, or before any update, nothing.

        Raises:
            ValueError: when ``var_list`` has another length than the averages.
        """
        if self._ema is None or not self.built or self._iterations == 0:
            return
        params = self._params()
        if var_list is not None:
            given = list(var_list)
            if len(given) != len(params):
                raise ValueError(
                    f"The length of model variables ({len(given)}) to override does not match "
                    f"the length of model variables stored in the optimizer ({len(params)})."
                )
            params = given
        self._ema.overwrite(params)

    def swap_ema_weights(self) -> bool:
        """Exchanges the weights and their moving averages, in place (what
        :class:`~epochal.callbacks.SwapEMAWeights` does around evaluation). Before the
        first update there is no average yet: nothing is exchanged.

        Returns:
            Whether the weights were exchanged.

        Raises:
            ValueError: without ``use_ema``.
        """
        ema = self._require_ema("Swapping the EMA weights")
        if not self.built or self._iterations == 0:
            return False
        ema.swap(self._params())
        return True

    def set_ema_to_weights(self) -> None:
        """The moving averages take the weights' current values (Keras' SwapEMAWeights
        does this at the last epoch end, once the averages are in the model).

        Raises:
            ValueError: without ``use_ema``.
        """
        ema = self._require_ema("Setting the EMA weights")
        params = self._params()
        with torch.no_grad():
            torch._foreach_copy_(ema.ensure(params), [p.detach() for p in params])

    def _accumulate(self, opt: torch.optim.Optimizer) -> bool:
        """Adds this call's gradients to the accumulators; on the update call, puts their
        mean in ``.grad`` and empties the accumulators. Returns whether to update now."""
        steps = self.gradient_accumulation_steps or 1
        params = [p for g in opt.param_groups for p in g["params"]]
        if len(self._accumulators) != len(params):
            self._accumulators = [None] * len(params)
        update = (self._iterations + 1) % steps == 0
        with torch.no_grad():
            for index, param in enumerate(params):
                grad, total = param.grad, self._accumulators[index]
                if grad is None:
                    continue
                if update:
                    param.grad = grad if total is None else grad + total
                    param.grad.div_(steps)
                    self._accumulators[index] = None
                elif total is None:
                    self._accumulators[index] = grad.detach().clone()
                else:
                    total.add_(grad)
        return update

    def apply(
        self,
        grads: Iterable[torch.Tensor | None],
        trainable_variables: Iterable[torch.Tensor] | None = None,
    ) -> None:
        """Keras' ``optimizer.apply(grads, trainable_variables)``: one update of exactly
        ``trainable_variables`` with ``grads`` (what a custom ``train_step`` calls).

        The first call builds the optimizer over ``trainable_variables`` (Keras' rule); later
        calls must pass variables it was built with. A `None` gradient leaves its variable
        alone; other weights the optimizer holds are not updated, whatever their ``.grad``.

        Raises:
            ValueError: when the lists differ in length, or a variable is unknown to the
                optimizer.
        """
        grad_list = list(grads)
        if trainable_variables is None:
            variables = [p for g in self._require().param_groups for p in g["params"]]
        else:
            variables = list(trainable_variables)
        if len(grad_list) != len(variables):
            raise ValueError(
                f"{type(self).__name__}.apply() got {len(grad_list)} gradients for "
                f"{len(variables)} variables; pass one gradient per variable."
            )
        if self.torch_optimizer is None:
            self.build(variables)
        opt = self._require()
        held = [p for g in opt.param_groups for p in g["params"]]
        known = {id(p) for p in held}
        unknown = [i for i, v in enumerate(variables) if id(v) not in known]
        if unknown:
            raise ValueError(
                f"{type(self).__name__}.apply(): variable {unknown[0]} (shape "
                f"{tuple(variables[unknown[0]].shape)}) is not one this optimizer was built "
                f"with ({len(held)} variables). An optimizer updates the variables of its "
                "first apply(); use one optimizer per set of variables."
            )
        with torch.no_grad():
            for variable, grad in zip(variables, grad_list, strict=True):
                if grad is not variable.grad:
                    variable.grad = None if grad is None else grad.to(variable.dtype)
            chosen = {id(v) for v in variables}
            parked = [(p, p.grad) for p in held if id(p) not in chosen and p.grad is not None]
            for param, _ in parked:
                param.grad = None
            try:
                self.step()
            finally:
                for param, grad in parked:
                    param.grad = grad

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, torch.Tensor]]) -> None:
        """Keras' ``apply_gradients(zip(grads, variables))``; see :meth:`apply`."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def _apply_weight_decay(self) -> None:
        # Keras 3: w -= w * weight_decay * lr, before the update, for each weight updated.
        params = [p for p in self._decayed if p.grad is not None]
        if params:
            with torch.no_grad():
                decay = self.weight_decay or 0.0
                torch._foreach_mul_(params, 1.0 - self.current_learning_rate() * decay)

    def _apply_constraints(self) -> None:
        with torch.no_grad():
            for param, constraint in self._constrained:
                if param.grad is not None:
                    param.copy_(constraint(param))

    def _clip(self, opt: torch.optim.Optimizer) -> None:
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        if self.clipvalue is not None:
            torch.nn.utils.clip_grad_value_(params, self.clipvalue)
        if self.clipnorm is not None:
            for p in params:
                torch.nn.utils.clip_grad_norm_([p], self.clipnorm)
        if self.global_clipnorm:
            torch.nn.utils.clip_grad_norm_(params, self.global_clipnorm)

    def _require(self) -> torch.optim.Optimizer:
        if self.torch_optimizer is None:
            raise RuntimeError(
                f"The optimizer {self.name!r} is not built yet: it is built with the model, "
                "at compile() when the input shape is known, else at the first fit()."
            )
        return self.torch_optimizer

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "torch": self._require().state_dict(),
            "learning_rate": self._base_rate(),
            "iterations": self._iterations,
            "decay": self.decay,
        }
        if self.gradient_accumulation_steps:
            state["accumulated"] = {
                str(i): t for i, t in enumerate(self._accumulators) if t is not None
            }
        if self._ema is not None:
            self._ema.ensure(self._params())
            state["average"] = self._ema.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict`; an optimizer not built yet (one a custom
        ``train_step`` builds at its first :meth:`apply`) loads it when it is built."""
        if self.torch_optimizer is None and self.torch_class is not None:
            self._deferred_state = state
            return
        opt = self._require()
        opt.load_state_dict(state["torch"])
        if self.torch_class is not None:  # decay is the facade's, never torch's coupled one
            for group in opt.param_groups:
                if "weight_decay" in group:
                    group["weight_decay"] = 0.0
        if self._schedule is None:  # a schedule's rate follows from `iterations`
            self._learning_rate = float(state["learning_rate"])
        self._iterations = int(state["iterations"])
        if self.gradient_accumulation_steps:
            params = [p for g in opt.param_groups for p in g["params"]]
            saved = state.get("accumulated", {})
            self._accumulators = [
                saved[str(i)].to(p.device, p.dtype, copy=True) if str(i) in saved else None
                for i, p in enumerate(params)
            ]
        if self._ema is not None and "average" in state:
            self._ema.load_state_dict(
                state["average"], [p for g in opt.param_groups for p in g["params"]]
            )
        self.decay = float(state.get("decay", self.decay))
        self._apply_lr()

    def get_config(self) -> dict[str, Any]:
        rate: Any = self._learning_rate
        if self._schedule is not None:
            rate = serialize_schedule(self._schedule)
        config: dict[str, Any] = {
            "name": self.name,
            "learning_rate": rate,
            "weight_decay": self.weight_decay,
            "decay": self.decay,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
        }
        for key in ("clipnorm", "clipvalue", "global_clipnorm", "gradient_accumulation_steps"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        config.update(self.torch_kwargs)
        return config

    def __repr__(self) -> str:
        rate = self._schedule if self._schedule is not None else self._learning_rate
        return f"{type(self).__name__}(learning_rate={rate})"


def _fast_kwargs(
    torch_class: type[torch.optim.Optimizer], params: list[Any], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """``kwargs`` plus ``fused=True`` where torch has a fused kernel that applies.

    torch's default for Adam/AdamW on the CPU is a Python loop over the parameters with
    several kernels each; the fused kernel is the same update in one pass per tensor (2-3x
    faster on the seed MLP). Users who pass ``fused`` or ``foreach`` keep their choice.
    """
    if torch_class not in (torch.optim.Adam, torch.optim.AdamW) or {
        "fused",
        "foreach",
        "differentiable",
        "capturable",
    } & set(kwargs):
        return kwargs
    tensors = [p for p in params if isinstance(p, torch.Tensor)]
    if (
        not tensors
        or len(tensors) != len(params)
        or len({p.device for p in tensors}) != 1
        or tensors[0].device.type not in ("cpu", "cuda")
        or not all(p.is_floating_point() for p in tensors)
    ):
        return kwargs
    return {**kwargs, "fused": True}


# Keras name, lowest, highest, whether the highest is allowed: by torch keyword.
_RANGES: dict[str, tuple[str, float, float, bool]] = {
    "momentum": ("momentum", 0.0, 1.0, True),
    "alpha": ("rho", 0.0, 1.0, False),
    "rho": ("rho", 0.0, 1.0, True),
    "eps": ("epsilon", 0.0, math.inf, False),
    "initial_accumulator_value": ("initial_accumulator_value", 0.0, math.inf, False),
}


# torch's boolean options: True or False only (``nesterov=1`` is refused, not guessed).
_FLAGS = {"amsgrad", "nesterov", "centered", "maximize", "foreach", "fused", "capturable"}


def _check_hyperparameters(owner: str, torch_kwargs: dict[str, Any]) -> None:
    """Refuses hyperparameters outside the range their update rule is defined on."""
    checks = [
        (name, torch_kwargs[key], *_RANGES[key][1:])
        for key in _RANGES
        if key in torch_kwargs
        for name in (_RANGES[key][0],)
    ]
    if "betas" in torch_kwargs:
        beta_1, beta_2 = torch_kwargs["betas"]
        checks += [("beta_1", beta_1, 0.0, 1.0, False), ("beta_2", beta_2, 0.0, 1.0, False)]
    for key in _FLAGS & set(torch_kwargs):
        check_bool(key, torch_kwargs[key], where=f"{owner}: ")
    for name, value, low, high, high_ok in checks:
        _check_number(name, value)
        if float(value) > high or (float(value) == high and not high_ok):
            bound = "]" if high_ok else ")"
            raise ValueError(
                f"{owner}: `{name}` must be in [{low:g}, {high:g}{bound}. "
                f"Received: {name}={value!r}"
            )


def _check_number(name: str, value: Any) -> None:
    check_number(name, value, minimum=0, finite=True)
