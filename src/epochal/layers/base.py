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
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from epochal import constraints, initializers, regularizers
from epochal._naming import snake_case
from epochal._validation import check_bool, check_int
from epochal.layers.symbolic import KerasTensor, Node, dtype_name, is_symbolic, symbolic_call

__all__ = [
    "Input",
    "InputLayer",
    "Layer",
    "collect_losses",
    "non_trainable_weights_of",
    "set_trainable",
    "trainable_weights_of",
    "weights_of",
]


_NAME_COUNTS: dict[str, int] = {}


def unique_name(base: str) -> str:
    """``base`` the first time, then ``base_1``, ``base_2``, ... (Keras' automatic names)."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


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
    first: list[torch.Tensor] = []
    second: list[torch.Tensor] = []
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


def tag_weight(param: nn.Parameter, name: str) -> nn.Parameter:
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
    # Whether a mask arriving with the input passes through this layer unchanged (Keras'
    # ``supports_masking``); see :meth:`compute_mask`.
    supports_masking = False
    _call_training = False
    _call_mask = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        try:
            parameters = inspect.signature(cls.call).parameters
        except (TypeError, ValueError):  # a call() whose signature cannot be read
            parameters = {}  # type: ignore[assignment]
        cls._call_training = "training" in parameters
        cls._call_mask = "mask" in parameters

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
        self.name = name or unique_name(snake_case(type(self).__name__))
        check_int("input_dim", input_dim, minimum=1, allow_none=True)
        check_bool("trainable", trainable)
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
        torch_dtype = initializers.torch_dtype(dtype)
        if trainable and not torch_dtype.is_floating_point:
            raise ValueError(
                f"A trainable weight must have a floating dtype; {name or 'the weight'} has "
                f"dtype {dtype!r}. Pass trainable=False."
            )
        regularizer = regularizers.get(regularizer)
        constraint = constraints.get(constraint)
        tensor = initializers.make_weight(initializer, shape_t, torch_dtype)
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
        tag_weight(param, base)
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
        elif is_symbolic(inputs) or (kwargs and is_symbolic(kwargs)):
            return symbolic_call(self, (inputs, *rest), kwargs)  # functional API: a graph node
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

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of this layer's output, given its input and the input's mask.

        Masks mark the valid timesteps of padded sequences (a boolean ``(batch, time)``
        tensor, ``True`` = valid), as in Keras: ``Embedding(mask_zero=True)`` and ``Masking``
        create one, recurrent layers read it through a ``mask`` argument of ``call``, and
        :class:`~epochal.Sequential` hands each layer's output mask to the next layer (as
        ``mask=`` when its ``call`` takes one). The default passes ``mask`` on when the class
        sets ``supports_masking = True``, else returns `None` (the mask stops here).
        """
        return mask if self.supports_masking else None

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
    """The entry point of a model: declares the input's shape and dtype; passes data through.

    ``Input(...)`` makes one and returns its symbolic output (:attr:`output`), the start of
    a functional model; as the first layer of :class:`~epochal.Sequential` it declares the
    input shape, so the model is built at once.

    Args:
        shape: Per-sample shape (batch axis excluded); ``None`` for an unknown axis.
        batch_size: A fixed batch size. Defaults to `None` (any).
        dtype: The input's dtype. Defaults to `None` (``"float32"``).
        sparse: Only `None`/`False`: sparse inputs are not supported (torch dense tensors).
        batch_shape: The full shape, batch axis included (instead of ``shape`` and
            ``batch_size``).
        name: Defaults to `None` (``input_layer``, ``input_layer_1``, ...).
        optional: Only `False`: optional (``None``) inputs are not supported.

    Raises:
        ValueError: for both ``shape`` and ``batch_shape``, or neither.
        NotImplementedError: for ``sparse=True``, ``optional=True`` or ``input_tensor``.
    """

    casts_inputs = True

    def __init__(
        self,
        shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        batch_shape: Sequence[int | None] | None = None,
        input_tensor: Any = None,
        optional: bool = False,
        name: str | None = None,
        **kwargs: Any,
    ):
        batch_size = check_int("batch_size", batch_size, minimum=1, allow_none=True)
        for arg, value in (("sparse", sparse), ("optional", optional)):
            if (value is not None or arg == "optional") and check_bool(arg, value):
                raise NotImplementedError(
                    f"InputLayer({arg}=True) is not supported by epochal: inputs are dense "
                    f"torch tensors that are always given. Remove `{arg}`."
                )
        if input_tensor is not None:
            raise NotImplementedError(
                "InputLayer(input_tensor=...) is not supported by epochal: call the layers "
                "on the output of epochal.Input(shape=...) instead."
            )
        legacy = kwargs.pop("input_shape", None)
        if shape is None and batch_shape is None and legacy is not None:
            shape = legacy
        if shape is not None and batch_shape is not None:
            raise ValueError(
                "InputLayer takes `shape` or `batch_shape`, not both. Received: "
                f"shape={shape!r}, batch_shape={batch_shape!r}"
            )
        if batch_shape is not None:
            batch_shape = tuple(batch_shape)
            if not batch_shape:
                raise ValueError("`batch_shape` must include the batch axis; received ().")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None:
            raise ValueError(
                "InputLayer needs a `shape` (per-sample, e.g. shape=(784,)) or a `batch_shape`."
            )
        if isinstance(shape, int):
            shape = (shape,)
        dims = tuple(None if d is None else int(d) for d in shape)
        super().__init__(name=name or unique_name("input_layer"), **kwargs)
        if None not in dims:
            self.input_shape_hint = dims  # type: ignore[assignment]
        self.batch_size = None if batch_size is None else int(batch_size)
        self.batch_shape: tuple[int | None, ...] = (self.batch_size, *dims)
        self.dtype = dtype_name(initializers.torch_dtype(dtype))
        self.built = True
        self.output = KerasTensor(self.batch_shape, self.dtype, name=self.name)
        Node(self, self, (), {}, self.output)

    def get_config(self) -> dict[str, Any]:
        return {
            "batch_shape": list(self.batch_shape),
            "dtype": self.dtype,
            "sparse": False,
            "name": self.name,
            "trainable": self._trainable,
        }


def Input(
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    sparse: bool | None = None,
    batch_shape: Sequence[int | None] | None = None,
    name: str | None = None,
    tensor: Any = None,
    optional: bool = False,
) -> KerasTensor:
    """Keras' ``Input``: a symbolic tensor to call layers on (the functional API), or the
    first entry of a ``Sequential`` model. Arguments as :class:`InputLayer` (``tensor`` is
    its ``input_tensor``).

    Example:
        >>> import epochal
        >>> x = epochal.Input(shape=(4,), name="features")
        >>> x.shape, x.dtype, x.name
        ((None, 4), 'float32', 'features')
    """
    layer = InputLayer(
        shape=shape,
        batch_size=batch_size,
        dtype=dtype,
        sparse=sparse,
        batch_shape=batch_shape,
        input_tensor=tensor,
        optional=optional,
        name=name,
    )
    return layer.output
