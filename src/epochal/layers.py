"""Keras-named layers as ``torch.nn.Module`` s, for the code of the tutorials.

Layers follow Keras' conventions: inputs are channels-last, ``Dense`` kernels are stored as
``(in, out)`` (so ``get_weights()`` matches Keras' shapes), kernels start ``glorot_uniform``
and biases at zero. Input sizes are inferred on the first call, so ``Dense(10)`` needs no
``input_dim``; ``input_shape`` / ``input_dim`` on the first layer let a model be built (and
summarised) before it sees data.

User layers subclass :class:`Layer` as in Keras 3: weights from :meth:`Layer.add_weight`,
``build(input_shape)`` once on the first call, ``call(inputs, training=None)``,
``get_config()``, ``add_loss()`` (summed into the training loss by the engine's steps through
:func:`collect_losses`), and ``trainable`` with Keras' weight lists.
"""

from __future__ import annotations

import inspect
import math
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from epochal._naming import snake_case

__all__ = [
    "Activation",
    "BatchNormalization",
    "Constant",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Initializer",
    "Input",
    "InputLayer",
    "Layer",
    "LecunNormal",
    "LecunUniform",
    "MaxPooling2D",
    "Ones",
    "RandomNormal",
    "RandomUniform",
    "Reshape",
    "Zeros",
    "collect_losses",
    "get_activation",
    "non_trainable_weights_of",
    "set_trainable",
    "trainable_weights_of",
    "weights_of",
]

_NAME_COUNTS: dict[str, int] = {}


def _unique_name(base: str) -> str:
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: F.softmax(x, dim=-1),
    "log_softmax": lambda x: F.log_softmax(x, dim=-1),
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "swish": F.silu,
    "silu": F.silu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "exponential": torch.exp,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "hard_sigmoid": F.hardsigmoid,
    "relu6": F.relu6,
}


def get_activation(
    identifier: str | Callable[[torch.Tensor], torch.Tensor] | None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Resolves a Keras activation name (or a callable, or ``None`` for linear).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if identifier is None:
        return _ACTIVATIONS["linear"]
    if callable(identifier):
        return identifier
    fn = _ACTIVATIONS.get(str(identifier).lower())
    if fn is None:
        raise ValueError(
            f"Unknown activation {identifier!r}. Known names: {', '.join(sorted(_ACTIVATIONS))}."
        )
    return fn


_INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "uniform",
    "random_uniform",
    "normal",
    "random_normal",
    "truncated_normal",
    "zeros",
    "ones",
    "constant",
    "lecun_uniform",
    "lecun_normal",
)


def _initialize(tensor: torch.Tensor, name: str, fan_in: int, fan_out: int) -> None:
    name = name.lower()
    with torch.no_grad():
        if name == "glorot_uniform":
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            tensor.uniform_(-limit, limit)
        elif name == "glorot_normal":
            tensor.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))
        elif name == "he_uniform":
            limit = math.sqrt(6.0 / fan_in)
            tensor.uniform_(-limit, limit)
        elif name == "he_normal":
            tensor.normal_(0.0, math.sqrt(2.0 / fan_in))
        elif name == "lecun_uniform":
            limit = math.sqrt(3.0 / fan_in)
            tensor.uniform_(-limit, limit)
        elif name == "lecun_normal":
            tensor.normal_(0.0, math.sqrt(1.0 / fan_in))
        elif name in ("uniform", "random_uniform"):
            tensor.uniform_(-0.05, 0.05)
        elif name in ("normal", "random_normal"):
            tensor.normal_(0.0, 0.05)
        elif name == "truncated_normal":
            nn.init.trunc_normal_(tensor, 0.0, 0.05, -0.1, 0.1)
        elif name in ("zeros", "constant"):
            tensor.zero_()
        elif name == "ones":
            tensor.fill_(1.0)


def _check_initializer(arg: str, value: str) -> str:
    if value.lower() not in _INITIALIZERS:
        raise ValueError(
            f"Unknown initializer {arg}={value!r}. Known names: {', '.join(_INITIALIZERS)}."
        )
    return value


def _fans(shape: Sequence[int]) -> tuple[int, int]:
    """Keras' fan-in / fan-out of a weight of ``shape`` (kernels are ``(..., in, out)``)."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive = math.prod(int(d) for d in shape[:-2])
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


class Initializer:
    """A weight initializer: ``initializer(shape, dtype=None)`` returns a new tensor.

    Subclasses fill a tensor in :meth:`fill`; any callable with the same ``(shape, dtype)``
    signature may be passed where an initializer is expected.
    """

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> torch.Tensor:
        tensor = torch.empty(tuple(int(d) for d in shape), dtype=_torch_dtype(dtype))
        fan_in, fan_out = _fans(tensor.shape)
        with torch.no_grad():
            self.fill(tensor, fan_in, fan_out)
        return tensor

    def fill(self, tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}


class _Named(Initializer):
    name = ""

    def fill(self, tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        _initialize(tensor, self.name, fan_in, fan_out)


class Zeros(_Named):
    """Fills with 0."""

    name = "zeros"


class Ones(_Named):
    """Fills with 1."""

    name = "ones"


class GlorotUniform(_Named):
    """Uniform in ``±sqrt(6 / (fan_in + fan_out))``."""

    name = "glorot_uniform"


class GlorotNormal(_Named):
    """Normal with standard deviation ``sqrt(2 / (fan_in + fan_out))``."""

    name = "glorot_normal"


class HeUniform(_Named):
    """Uniform in ``±sqrt(6 / fan_in)``."""

    name = "he_uniform"


class HeNormal(_Named):
    """Normal with standard deviation ``sqrt(2 / fan_in)``."""

    name = "he_normal"


class LecunUniform(_Named):
    """Uniform in ``±sqrt(3 / fan_in)``."""

    name = "lecun_uniform"


class LecunNormal(_Named):
    """Normal with standard deviation ``sqrt(1 / fan_in)``."""

    name = "lecun_normal"


class Constant(Initializer):
    """Fills with ``value``."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = float(value)

    def fill(self, tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        tensor.fill_(self.value)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal draws with ``mean`` and ``stddev`` (Keras defaults 0 and 0.05)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05) -> None:
        self.mean, self.stddev = float(mean), float(stddev)

    def fill(self, tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        tensor.normal_(self.mean, self.stddev)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev}


class RandomUniform(Initializer):
    """Uniform draws in ``[minval, maxval)`` (Keras defaults -0.05 and 0.05)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05) -> None:
        self.minval, self.maxval = float(minval), float(maxval)

    def fill(self, tensor: torch.Tensor, fan_in: int, fan_out: int) -> None:
        tensor.uniform_(self.minval, self.maxval)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval}


_DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


def _torch_dtype(dtype: Any) -> torch.dtype:
    if dtype is None:
        return torch.float32  # Keras' floatx
    if isinstance(dtype, torch.dtype):
        return dtype
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in _DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}. Known names: {', '.join(_DTYPES)}.")
    return _DTYPES[key]


def _make_weight(initializer: Any, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    if initializer is None:
        initializer = "glorot_uniform" if dtype.is_floating_point else "zeros"
    if isinstance(initializer, str):
        if initializer.lower() not in _INITIALIZERS:
            raise ValueError(
                f"Unknown initializer {initializer!r}. Known names: {', '.join(_INITIALIZERS)}."
            )
        tensor = torch.empty(shape, dtype=dtype)
        _initialize(tensor, initializer, *_fans(shape))
        return tensor
    if not callable(initializer):
        raise TypeError(
            "`initializer` must be a name such as 'glorot_uniform' or a callable "
            f"(shape, dtype) -> tensor. Received: {initializer!r}"
        )
    value = initializer(shape, dtype=str(dtype).removeprefix("torch."))
    tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    tensor = tensor.to(dtype).detach().clone()
    if tuple(tensor.shape) != shape:
        raise ValueError(
            f"The initializer returned a tensor of shape {tuple(tensor.shape)} for a weight "
            f"of shape {shape}."
        )
    return tensor


_REGULARIZERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "l1": lambda w: 0.01 * w.abs().sum(),
    "l2": lambda w: 0.01 * w.square().sum(),
    "l1_l2": lambda w: 0.01 * w.abs().sum() + 0.01 * w.square().sum(),
}


def _get_regularizer(value: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    if value is None or callable(value):
        return value
    fn = _REGULARIZERS.get(str(value).lower())
    if fn is None:
        raise ValueError(
            f"Unknown regularizer {value!r}. Known names: {', '.join(_REGULARIZERS)}; or pass "
            "a callable weight -> scalar tensor."
        )
    return fn


def _get_constraint(value: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    if value is None or callable(value):
        return value
    if str(value).lower() == "non_neg":
        return lambda w: w.clamp(min=0.0)
    raise ValueError(
        f"Unknown constraint {value!r}. Known names: non_neg; or pass a callable weight -> tensor."
    )


class _WeightSpec:
    """What ``add_weight`` was told about one weight (kept by the layer, under its key)."""

    __slots__ = ("constraint", "name", "regularizer", "trainable")

    def __init__(self, name: str, trainable: bool, regularizer: Any, constraint: Any) -> None:
        self.name = name
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint


class _CallContext(threading.local):
    """Per-thread state of the layer call in progress: nesting depth and the ``training``
    value an outer call was given explicitly (inherited by the calls inside it)."""

    depth = 0
    training: bool | None = None


_CONTEXT = _CallContext()
# Whether any layer ever called add_loss() or has a regularized weight: until then, calls
# and steps skip all loss bookkeeping.
_losses_seen = False


def _mark_losses_seen() -> None:
    global _losses_seen
    _losses_seen = True


def _shape_of(value: Any) -> Any:
    if isinstance(value, torch.Tensor | np.ndarray):
        return tuple(int(d) for d in value.shape)
    if isinstance(value, list | tuple):
        return [_shape_of(v) for v in value]
    if isinstance(value, dict):
        return {k: _shape_of(v) for k, v in value.items()}
    return None


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, list | tuple):
        for v in value:
            found = _first_tensor(v)
            if found is not None:
                return found
    if isinstance(value, dict):
        return _first_tensor(list(value.values()))
    return None


def _own_weights(module: nn.Module) -> list[torch.Tensor]:
    """``module``'s direct weights, in Keras' order: trainable-at-creation parameters, then
    the other parameters, then floating-point persistent buffers (moving statistics)."""
    specs: dict[str, _WeightSpec] = getattr(module, "_weight_specs", {})
    first, second = [], []
    for key, param in module._parameters.items():
        if param is None:
            continue
        spec = specs.get(key)
        (second if spec is not None and not spec.trainable else first).append(param)
    skip = module._non_persistent_buffers_set
    buffers = [
        b
        for key, b in module._buffers.items()
        if b is not None and key not in skip and b.is_floating_point()
    ]
    return first + second + buffers


def weights_of(module: nn.Module) -> list[torch.Tensor]:
    """Every weight of ``module`` (parameters and moving statistics), in Keras' order: a
    module's own weights, then its children's, depth first, each tensor once."""
    out: list[torch.Tensor] = []
    seen: set[int] = set()

    def visit(m: nn.Module) -> None:
        for w in _own_weights(m):
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        for child in m.children():
            visit(child)

    visit(module)
    return out


def _is_trainable(module: nn.Module) -> bool:
    return getattr(module, "_trainable", True) is not False


def trainable_weights_of(module: nn.Module) -> list[torch.Tensor]:
    """The weights the optimizer updates: parameters that require gradients (none when
    ``module`` is a frozen layer)."""
    if not _is_trainable(module):
        return []
    return [w for w in weights_of(module) if isinstance(w, nn.Parameter) and w.requires_grad]


def non_trainable_weights_of(module: nn.Module) -> list[torch.Tensor]:
    """Frozen parameters and moving statistics (every weight of a frozen layer)."""
    if not _is_trainable(module):
        return weights_of(module)
    return [w for w in weights_of(module) if not (isinstance(w, nn.Parameter) and w.requires_grad)]


def set_trainable(module: nn.Module, value: bool) -> None:
    """Freezes (``False``) or unfreezes ``module`` and everything inside it: sets
    ``requires_grad`` of its parameters and the ``trainable`` flag of its epochal layers.
    Weights created with ``add_weight(trainable=False)`` stay frozen."""
    value = bool(value)
    fixed: set[int] = set()
    for m in module.modules():
        if isinstance(m, Layer):
            m.__dict__["_trainable"] = value
            for key, spec in m._weight_specs.items():
                param = m._parameters.get(key)
                if param is not None and not spec.trainable:
                    fixed.add(id(param))
    for param in module.parameters():
        if id(param) not in fixed and param.is_floating_point():
            param.requires_grad_(value)


def collect_losses(module: nn.Module) -> torch.Tensor | None:
    """The sum of the losses the epochal layers inside ``module`` added in their last call
    (``add_loss``) and of their weight regularizers, or `None` when there are none.

    The training and evaluation steps add it to the compiled loss, as Keras does. Free
    (`None` at once) until some layer has called ``add_loss`` or has a regularizer.
    """
    if not _losses_seen:
        return None
    terms: list[torch.Tensor] = []
    for m in module.modules():
        if isinstance(m, Layer):
            terms.extend(m._own_losses())
    if not terms:
        return None
    total = terms[0].sum()
    for term in terms[1:]:
        total = total + term.sum()
    return total


def _tag(param: nn.Parameter, name: str) -> nn.Parameter:
    param._keras_name = name  # type: ignore[attr-defined]  # read by optimizers' var_names
    return param


class Layer(nn.Module):
    """Base of epochal layers and of user layers, Keras style.

    Subclasses create weights with :meth:`add_weight` (in ``__init__`` or in
    ``build(input_shape)``, which runs once, on the first call, with the full input shape,
    batch axis included) and compute in ``call(inputs, ...)``; a ``training`` argument of
    ``call`` receives the mode (an explicit ``training=`` of this or an enclosing call, else
    the module's ``training`` flag). ``add_loss`` adds a term to the training loss.

    Args:
        name: The layer's name. Defaults to the class name in snake case, made unique.
        input_shape: Per-sample input shape (batch axis excluded), as in Keras.
        input_dim: Shorthand for ``input_shape=(input_dim,)``.
        trainable: Whether the layer's weights are trained. Defaults to `True`.
    """

    # Built-in layers cast integer inputs to float32; user layers get inputs as they come.
    casts_inputs = False
    _call_training = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        try:
            cls._call_training = "training" in inspect.signature(cls.call).parameters
        except (TypeError, ValueError):  # a call() whose signature cannot be read
            cls._call_training = False

    def __init__(
        self,
        name: str | None = None,
        input_shape: Sequence[int] | None = None,
        input_dim: int | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s): "
                f"{', '.join(sorted(kwargs))}"
            )
        self.name = name or _unique_name(snake_case(type(self).__name__))
        if input_dim is not None:
            input_shape = (int(input_dim),)
        self.input_shape_hint: tuple[int, ...] | None = (
            tuple(int(d) for d in input_shape) if input_shape is not None else None
        )
        self.built = False
        self._trainable = bool(trainable)
        self._losses: list[torch.Tensor] = []
        self._weight_specs: dict[str, _WeightSpec] = {}

    # ----------------------------------------------------------------- attributes
    def __setattr__(self, name: str, value: Any) -> None:
        # ``self.w = self.add_weight(...)``: keep one entry for the weight, under ``w``.
        if isinstance(value, nn.Parameter):
            params = self.__dict__.get("_parameters")
            if params is not None and name not in params:
                old = next((k for k, p in params.items() if p is value), None)
                if old is not None:
                    self._rename_weight(old, name)
                    return
        super().__setattr__(name, value)

    def _rename_weight(self, old: str, new: str) -> None:
        for store in (self.__dict__, self._buffers, self._modules):
            store.pop(new, None)
        self._non_persistent_buffers_set.discard(new)
        items = list(self._parameters.items())
        self._parameters.clear()
        for key, param in items:
            self._parameters[new if key == old else key] = param
        if old in self._weight_specs:
            self._weight_specs[new] = self._weight_specs.pop(old)

    # ----------------------------------------------------------------- weights
    def add_weight(
        self,
        shape: Sequence[int] | None = None,
        initializer: Any = None,
        dtype: Any = None,
        trainable: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        name: str | None = None,
    ) -> nn.Parameter:
        """Creates a weight, registers it on the layer and returns it.

        Args:
            shape: The weight's shape. Defaults to `()` (a scalar).
            initializer: A name (``"glorot_uniform"``, ``"zeros"``, ``"random_normal"``, ...),
                an :class:`Initializer` or any callable ``(shape, dtype) -> array``. Defaults
                to `None`: ``"glorot_uniform"`` for floating dtypes, else ``"zeros"``.
            dtype: Defaults to `None` (float32).
            trainable: Whether the optimizer updates it. Defaults to `True`.
            regularizer: ``"l1"``, ``"l2"``, ``"l1_l2"`` or a callable ``weight -> scalar``
                whose value is added to the training loss. Defaults to `None`.
            constraint: ``"non_neg"`` or a callable ``weight -> weight`` applied after each
                optimizer update. Defaults to `None`.
            name: The weight's name. Defaults to `None` (``variable``, ``variable_1``, ...).
                ``self.<attr> = self.add_weight(...)`` registers the weight under ``<attr>``.

        Raises:
            ValueError: for an unknown initializer, regularizer, constraint or dtype, or a
                trainable weight of a non-floating dtype.
        """
        shape_t = tuple(int(d) for d in (shape if shape is not None else ()))
        torch_dtype = _torch_dtype(dtype)
        if trainable and not torch_dtype.is_floating_point:
            raise ValueError(
                f"A trainable weight must have a floating dtype; {name or 'the weight'} has "
                f"dtype {dtype!r}. Pass trainable=False."
            )
        regularizer = _get_regularizer(regularizer)
        constraint = _get_constraint(constraint)
        tensor = _make_weight(initializer, shape_t, torch_dtype)
        device = next((p.device for p in self.parameters()), None)
        if device is not None:
            tensor = tensor.to(device)
        param = nn.Parameter(
            tensor, requires_grad=bool(trainable) and self._trainable and tensor.is_floating_point()
        )
        base = name or "variable"
        key = re.sub(r"\W", "_", base)
        if not key.isidentifier():
            key = f"w_{key}"
        stem, n = key, 0
        while key in self._parameters or key in self._modules or hasattr(self, key):
            n += 1
            key = f"{stem}_{n}"
        self.register_parameter(key, param)
        self._weight_specs[key] = _WeightSpec(base, bool(trainable), regularizer, constraint)
        _tag(param, base)
        if constraint is not None:
            param._keras_constraint = constraint  # type: ignore[attr-defined]
        if regularizer is not None:
            _mark_losses_seen()
        return param

    @property
    def weights(self) -> list[torch.Tensor]:
        """Every weight (own first, then sub-layers'), moving statistics included."""
        return weights_of(self)

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        """The weights the optimizer updates (none when the layer is frozen)."""
        return trainable_weights_of(self)

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        """Frozen weights and moving statistics (every weight when the layer is frozen)."""
        return non_trainable_weights_of(self)

    @property
    def trainable_variables(self) -> list[torch.Tensor]:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[torch.Tensor]:
        return self.non_trainable_weights

    @property
    def trainable(self) -> bool:
        """Whether the layer trains; setting it freezes or unfreezes the layer and its
        sub-layers (a frozen :class:`BatchNormalization` also runs in inference mode)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        set_trainable(self, value)

    def count_params(self) -> int:
        return sum(int(w.numel()) for w in self.weights)

    def get_weights(self) -> list[Any]:
        """The layer's :attr:`weights` as numpy copies."""
        return [t.detach().cpu().numpy().copy() for t in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Assigns arrays in :meth:`get_weights` order.

        Raises:
            ValueError: on a count or shape mismatch.
        """
        targets = self.weights
        if len(weights) != len(targets):
            raise ValueError(
                f"Layer {self.name!r} expects {len(targets)} weights; received {len(weights)}."
            )
        with torch.no_grad():
            for target, value in zip(targets, weights, strict=True):
                value = torch.as_tensor(np.asarray(value))
                if tuple(value.shape) != tuple(target.shape):
                    raise ValueError(
                        f"Layer {self.name!r}: weight of shape {tuple(target.shape)} received "
                        f"an array of shape {tuple(value.shape)}."
                    )
                target.copy_(value.to(target.dtype))

    # ----------------------------------------------------------------- losses
    def add_loss(self, loss: Any) -> None:
        """Adds a scalar (or a tensor, summed) to the loss of the current forward pass.

        Call it inside ``call()``; the losses of the last call are in :attr:`losses` and
        ``fit``/``evaluate`` add them to the compiled loss.
        """
        values = list(loss) if isinstance(loss, list | tuple) else [loss]
        for value in values:
            if callable(value) and not isinstance(value, torch.Tensor):
                raise TypeError(
                    "add_loss() takes a tensor (Keras 3): compute the loss inside call() "
                    "instead of passing a function."
                )
            if not isinstance(value, torch.Tensor):
                value = torch.as_tensor(value, dtype=torch.float32)
            self._losses.append(value)
        _mark_losses_seen()

    def _own_losses(self) -> list[torch.Tensor]:
        terms = list(self._losses)
        if self._weight_specs:
            for key, spec in self._weight_specs.items():
                param = self._parameters.get(key)
                if spec.regularizer is not None and param is not None and param.requires_grad:
                    terms.append(spec.regularizer(param))
        return terms

    @property
    def losses(self) -> list[torch.Tensor]:
        """Losses added by this layer and its sub-layers in the last call, then the weight
        regularization terms of its trainable weights."""
        terms: list[torch.Tensor] = []
        for m in self.modules():
            if isinstance(m, Layer):
                terms.extend(m._losses)
        for m in self.modules():
            if isinstance(m, Layer):
                terms.extend(t for t in m._own_losses()[len(m._losses) :])
        return terms

    def _clear_losses(self) -> None:
        for m in self.modules():
            if isinstance(m, Layer) and m._losses:
                m._losses.clear()

    # ----------------------------------------------------------------- calling
    def build(self, input_shape: Any) -> None:
        """Creates the layer's weights for inputs of ``input_shape`` (batch axis included).

        Runs once, before the first ``call``; ``input_shape`` is a tuple for a tensor input,
        a list (or dict) of tuples for several inputs.
        """
        self.built = True

    def _build_now(self, input_shape: Any) -> None:
        self.build(input_shape)
        self.built = True
        if not self._trainable:
            set_trainable(self, False)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            inputs, rest = args[0], args[1:]
        elif "inputs" in kwargs:
            inputs, rest = kwargs.pop("inputs"), ()
        else:
            raise TypeError(f"Layer {self.name!r} was called without inputs.")
        if isinstance(inputs, torch.Tensor):
            if self.casts_inputs and not inputs.is_floating_point():
                inputs = inputs.float()  # Keras layers autocast integer inputs to float32
        elif isinstance(inputs, np.ndarray):
            inputs = self._from_numpy(inputs)
        if not self.built:
            self._build_now(_shape_of(inputs))
            first = _first_tensor(inputs)
            if first is not None:
                self.to(first.device)
        training = kwargs.pop("training", None) if kwargs else None
        if training is None:
            training = _CONTEXT.training
        if self._call_training:
            kwargs["training"] = self.training if training is None else bool(training)
        if training is None and not _losses_seen:
            return self.call(inputs, *rest, **kwargs)
        return self._call_in_context(inputs, rest, kwargs, training)

    def _call_in_context(
        self, inputs: Any, rest: tuple[Any, ...], kwargs: dict[str, Any], training: Any
    ) -> Any:
        context = _CONTEXT
        outer = context.training
        if context.depth == 0 and _losses_seen:
            self._clear_losses()
        context.depth += 1
        context.training = None if training is None else bool(training)
        try:
            return self.call(inputs, *rest, **kwargs)
        finally:
            context.depth -= 1
            context.training = outer

    def _from_numpy(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if tensor.is_floating_point():
            tensor = tensor.float()
        device = next((p.device for p in self.parameters()), None)
        return tensor.to(device) if device is not None else tensor

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """The layer's computation; the default returns ``inputs`` unchanged."""
        return inputs

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "trainable": self._trainable}
        if self.input_shape_hint is not None:
            config["input_shape"] = list(self.input_shape_hint)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)


class InputLayer(Layer):
    """Declares the input shape of a :class:`~epochal.Sequential` model; passes data through."""

    casts_inputs = True

    def __init__(self, shape: Sequence[int] | None = None, name: str | None = None, **kwargs: Any):
        if shape is not None:
            kwargs["input_shape"] = shape
        super().__init__(name=name, **kwargs)


def Input(shape: Sequence[int], name: str | None = None) -> InputLayer:
    """Keras' ``Input(shape=...)``, usable as the first entry of ``Sequential``."""
    return InputLayer(shape=shape, name=name)


class Dense(Layer):
    """Densely connected layer: ``activation(x @ kernel + bias)`` on the last axis.

    Args:
        units: Output size.
        activation: Activation name or callable. Defaults to `None` (linear).
        use_bias: Whether to add a bias. Defaults to `True`.
        kernel_initializer: Defaults to `"glorot_uniform"`.
        bias_initializer: Defaults to `"zeros"`.
        input_dim / input_shape / name: as in Keras.
    """

    casts_inputs = True

    def __init__(
        self,
        units: int,
        activation: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive integer. Received: units={units!r}")
        self.units = units
        self.activation_name = (
            activation
            if isinstance(activation, str) or activation is None
            else getattr(activation, "__name__", "custom")
        )
        self.activation = get_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = _check_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = _check_initializer("bias_initializer", bias_initializer)
        self.kernel: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def build(self, input_shape: Sequence[int]) -> None:
        fan_in = int(input_shape[-1])
        self.kernel = _tag(nn.Parameter(torch.empty(fan_in, self.units)), "kernel")
        _initialize(self.kernel, self.kernel_initializer, fan_in, self.units)
        if self.use_bias:
            self.bias = _tag(nn.Parameter(torch.empty(self.units)), "bias")
            _initialize(self.bias, self.bias_initializer, fan_in, self.units)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        assert self.kernel is not None
        if self.bias is not None and x.dim() == 2:
            out = torch.addmm(self.bias, x, self.kernel)
        else:
            out = x @ self.kernel
            if self.bias is not None:
                out = out + self.bias
        return self.activation(out)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }


class Activation(Layer):
    """Applies an activation by name (``Activation("softmax")``)."""

    casts_inputs = True

    def __init__(self, activation: str | Callable[[torch.Tensor], torch.Tensor], **kwargs: Any):
        super().__init__(**kwargs)
        self.activation_name = activation if isinstance(activation, str) else "custom"
        self.activation = get_activation(activation)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation_name}


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of inputs during training (inverted dropout)."""

    casts_inputs = True

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.built = True

    def call(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        return F.dropout(x, self.rate, self.training if training is None else bool(training))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


class Flatten(Layer):
    """Flattens every axis but the batch axis."""

    casts_inputs = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


class Reshape(Layer):
    """Reshapes to ``target_shape`` (batch axis excluded)."""

    casts_inputs = True

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.target_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


def _same_padding(
    size: Sequence[int], kernel: tuple[int, int], strides: tuple[int, int]
) -> tuple[int, int, int, int]:
    pads = []
    for n, k, st in zip(size, kernel, strides, strict=True):
        total = max((math.ceil(n / st) - 1) * st + k - n, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return (left, right, top, bottom)


class Conv2D(Layer):
    """2-D convolution on channels-last images ``(batch, height, width, channels)``.

    The kernel is stored in torch's ``(out, in, kh, kw)`` layout.
    """

    casts_inputs = True

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        activation: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = padding
        self.activation_name = (
            activation if isinstance(activation, str) or activation is None else "custom"
        )
        self.activation = get_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = _check_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = _check_initializer("bias_initializer", bias_initializer)
        self.kernel: nn.Parameter | None = None
        self.bias: nn.Parameter | None = None
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def build(self, input_shape: Sequence[int]) -> None:
        in_channels = int(input_shape[-1])
        kh, kw = self.kernel_size
        self.kernel = _tag(nn.Parameter(torch.empty(self.filters, in_channels, kh, kw)), "kernel")
        _initialize(
            self.kernel, self.kernel_initializer, in_channels * kh * kw, self.filters * kh * kw
        )
        if self.use_bias:
            self.bias = _tag(nn.Parameter(torch.zeros(self.filters)), "bias")
            _initialize(self.bias, self.bias_initializer, 1, 1)
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        padding: str | int = self.padding
        if self.padding == "same" and self.strides != (1, 1):
            x = F.pad(x, _same_padding(x.shape[-2:], self.kernel_size, self.strides))
            padding = 0
        y = F.conv2d(x, self.kernel, self.bias, self.strides, padding)
        return self.activation(y.permute(0, 2, 3, 1))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        }


class MaxPooling2D(Layer):
    """Max pooling on channels-last images."""

    casts_inputs = True

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size)
        self.strides = _pair(strides) if strides is not None else self.pool_size
        if padding not in ("valid", "same"):
            raise ValueError(f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}")
        self.padding = padding
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2)
        if self.padding == "same":
            # Keras pads (extra on the bottom/right) so the output is ceil(size / strides);
            # -inf padding is never the max.
            pads = _same_padding(x.shape[-2:], self.pool_size, self.strides)
            x = F.pad(x, pads, value=-math.inf)
        y = F.max_pool2d(x, self.pool_size, self.strides)
        return y.permute(0, 2, 3, 1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }


class BatchNormalization(Layer):
    """Batch normalization over the last axis (Keras' ``axis=-1``)."""

    casts_inputs = True

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon
        self.norm: nn.BatchNorm1d | None = None
        if self.input_shape_hint is not None:
            self._build_now((1, *self.input_shape_hint))

    def build(self, input_shape: Sequence[int]) -> None:
        self.norm = nn.BatchNorm1d(
            int(input_shape[-1]), eps=self.epsilon, momentum=1 - self.momentum
        )
        _tag(self.norm.weight, "gamma")
        _tag(self.norm.bias, "beta")
        self.built = True

    def call(self, x: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        assert self.norm is not None
        flat = x.reshape(-1, x.shape[-1])
        norm = self.norm
        if training is None:
            training = self.training
        # The mode is this layer's: ``norm`` may be created (in training mode) after eval().
        # A frozen layer runs in inference mode, even in training (Keras' rule): it uses and
        # keeps its moving statistics.
        if not training or not self._trainable:
            out = F.batch_norm(
                flat,
                norm.running_mean,
                norm.running_var,
                norm.weight,
                norm.bias,
                False,
                0.0,
                norm.eps,
            )
            return out.reshape(x.shape)
        var, mean = torch.var_mean(flat, dim=0, correction=0)
        out = (flat - mean) * torch.rsqrt(var + norm.eps) * norm.weight + norm.bias
        # Keras' moving variance averages the batch (biased) variance, torch's the unbiased one.
        with torch.no_grad():
            norm.running_mean.lerp_(mean.detach(), 1 - self.momentum)
            norm.running_var.lerp_(var.detach(), 1 - self.momentum)
            norm.num_batches_tracked.add_(1)
        return out.reshape(x.shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


class Embedding(Layer):
    """Maps integer ids to vectors of size ``output_dim``."""

    casts_inputs = False

    def __init__(self, input_dim: int, output_dim: int, **kwargs: Any) -> None:
        kwargs.pop("input_length", None)
        super().__init__(**kwargs)
        self.vocab_size = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings = _tag(
            nn.Parameter(torch.empty(self.vocab_size, self.output_dim).uniform_(-0.05, 0.05)),
            "embeddings",
        )
        self.built = True

    def call(self, x: torch.Tensor) -> torch.Tensor:
        return F.embedding(x.long(), self.embeddings)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(input_dim=self.vocab_size, output_dim=self.output_dim)
        return config


LAYER_CLASSES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Activation,
        BatchNormalization,
        Conv2D,
        Dense,
        Dropout,
        Embedding,
        Flatten,
        InputLayer,
        MaxPooling2D,
        Reshape,
    )
}
