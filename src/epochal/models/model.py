"""``Model``: Keras' compile / fit / evaluate / predict around any ``torch.nn.Module``.

The facade validates arguments, resolves what ``compile`` names, builds data sources and the
callback list into a :class:`~epochal.engine.Run`, then hands over to
:mod:`epochal.engine.loop`. It holds no loop body.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from epochal import mixed_precision, saving
from epochal import optimizers as optimizers_module
from epochal._devices import resolve_device
from epochal._modes import evaluating
from epochal._naming import snake_case
from epochal._validation import check_bool, check_choice, check_int
from epochal.callbacks.callback import Callback
from epochal.callbacks.callback_list import CallbackList
from epochal.callbacks.history import History
from epochal.data import (
    ArraySource,
    EpochIterator,
    is_array_like,
    make_source,
    split_validation,
    to_tensor,
    tree_len,
    tree_map,
)
from epochal.distributed import Strategy, current_strategy
from epochal.engine import (
    CompiledMetrics,
    Run,
    TrainState,
    check_targets,
    model_outputs,
    run_evaluate,
    run_fit,
    run_predict,
    should_validate,
)
from epochal.engine.compile_loss import CompiledLoss
from epochal.engine.compiled import CompiledModule, resolve_jit_compile
from epochal.engine.custom_steps import (
    StepLogs,
    custom_predict_fn,
    custom_test_fn,
    custom_train_fn,
)
from epochal.engine.loop import to_numpy
from epochal.engine.precision import Precision
from epochal.engine.steps import forward, predict_step, test_step, train_step
from epochal.layers import Layer, set_trainable, training_scope
from epochal.layers._stack import LayerStack
from epochal.layers._support import SeededRandom
from epochal.layers.base import unique_name
from epochal.layers.symbolic import is_symbolic, symbolic_call
from epochal.metrics import Metric
from epochal.models._custom import StepAPI
from epochal.models._subclass import CallModule, module_of_value
from epochal.models.summary import summarize
from epochal.saving.protocol import ModuleBuilder, ModuleDescriber, register_model_class

__all__ = ["Model", "default_device"]

_VERBOSE = (0, 1, 2, "auto", True, False)
_SET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _subclass_kwargs(kwargs: dict[str, Any]) -> bool:
    """Keras' keyword arguments of ``Model.__init__`` for a subclass: ``trainable`` (returned)
    and ``dtype`` (float32 only).

    Raises:
        TypeError: for any other keyword, naming it.
        ValueError: for a dtype other than float32.
    """
    kwargs = dict(kwargs)
    trainable = kwargs.pop("trainable", True)
    check_bool("trainable", trainable)
    dtype = kwargs.pop("dtype", None)
    if dtype not in (None, "float32", torch.float32):
        raise ValueError(
            f"Model(dtype={dtype!r}) is not supported: epochal models compute in float32. "
            "Cast the module yourself (module.to(dtype)) for another precision."
        )
    if kwargs:
        raise TypeError(
            f"Model() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}. "
            "Accepted: module, device, name, trainable, dtype."
        )
    return bool(trainable)


def _positive_int_or_none(name: str, value: Any) -> None:
    check_int(name, value, minimum=1, allow_none=True)


def _check_verbose(value: Any) -> None:
    check_choice("verbose", value, _VERBOSE)


class _WeightsByPosition:
    """A module's ``state_dict``, given back by position: the names of a backup written by
    another process (``dense_3`` for ``dense``) need not match, the shapes were checked."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        names = list(self.module.state_dict())
        self.module.load_state_dict(dict(zip(names, state.values(), strict=True)))


class _LayerGenerators:
    """The generators of the seeded random layers (``Dropout(seed=...)``, the ``Random*``
    image layers...), by the layer's position: a resumed run continues their draws where
    the interrupted one was, instead of starting again from the seed."""

    def __init__(self, owners: list[SeededRandom]) -> None:
        self.owners = owners

    @classmethod
    def of(cls, module: nn.Module) -> _LayerGenerators | None:
        owners = [
            value
            for m in module.modules()
            for value in vars(m).values()
            if isinstance(value, SeededRandom) and value.seed is not None
        ]
        return cls(owners) if owners else None

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        return {str(i): owner.state_dict() for i, owner in enumerate(self.owners)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or set(state) != {
            str(i) for i in range(len(self.owners))
        }:
            raise ValueError(
                f"The backup holds generator states of {len(state)} seeded layers; this "
                f"model has {len(self.owners)}. It was written for another architecture."
            )
        for i, owner in enumerate(self.owners):
            owner.load_state_dict(state[str(i)])


def _check_callbacks(callbacks: Any) -> None:
    """Refuses anything but a Callback, a CallbackList, a sequence of Callbacks or None."""
    if callbacks is None or isinstance(callbacks, Callback | CallbackList):
        return
    if isinstance(callbacks, Sequence) and not isinstance(callbacks, str | bytes):
        for index, item in enumerate(callbacks):
            if not isinstance(item, Callback):
                raise TypeError(
                    "`callbacks` must be a Callback or a flat list of Callback objects "
                    f"(subclass Callback or use LambdaCallback). Entry {index} is "
                    f"{type(item).__name__}: {item!r}"
                )
        return
    raise TypeError(
        "`callbacks` must be a Callback, a list of Callbacks, a CallbackList or None. "
        f"Received: {callbacks!r}"
    )


@register_model_class
class Model(StepAPI):
    """A trainable model: Keras' training API over a ``torch.nn.Module``.

    Two ways to make one: ``Model(my_module)`` trains any ``nn.Module``; a subclass (Keras'
    subclassing API) calls ``super().__init__()``, creates its layers as attributes in
    ``__init__`` and runs them in ``call(self, inputs, training=None)``. A subclass may
    also override ``train_step`` / ``test_step`` / ``predict_step`` / ``compute_loss`` /
    ``metrics`` (Keras' "Customizing what happens in fit()"): they are then the steps
    ``fit``, ``evaluate`` and ``predict`` run, with every callback around them.

    Args:
        module: The network; it is called with the batch's ``x`` (a tuple/list is unpacked
            into positional arguments, a dict into keyword arguments). Defaults to `None`
            (a subclass' own layers; :class:`~epochal.Sequential` provides its own).
        device: Where to train. Defaults to `None`: CUDA when available, else the CPU.
        name: The model's name. Defaults to `None` (the class name in snake case).
        trainable: Keras' ``trainable=`` of a subclassed model. Defaults to `True`.
        dtype: Keras' ``dtype=``; only float32 (`None`, ``"float32"``) is supported.

    Attributes:
        stop_training: Set it in a callback to end ``fit`` after the current batch.
        history: The :class:`~epochal.callbacks.History` of the last ``fit``.
        train_state: The last ``fit``'s :class:`~epochal.engine.TrainState`.
        optimizer: The :class:`~epochal.optimizers.Optimizer` (``learning_rate`` settable).
        example_input: The ``x`` of the first batch of the last ``fit``/``evaluate`` (what
            TensorBoard traces the graph with); ``None`` before.

    Example:
        >>> import numpy as np, torch, epochal
        >>> model = epochal.Model(torch.nn.Linear(3, 1), device="cpu")
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> history = model.fit(np.ones((8, 3)), np.zeros((8, 1)), epochs=2, verbose=0)
        >>> sorted(history.history)
        ['loss']
    """

    # The class ``Model(inputs, outputs)`` makes (set by epochal.models.functional).
    _functional_class: type | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        target = Model._functional_class
        if (
            cls is Model
            and target is not None
            and ("inputs" in kwargs or "outputs" in kwargs or (args and is_symbolic(args[0])))
        ):
            return object.__new__(target)  # Keras: Model(inputs, outputs) is a Functional
        return object.__new__(cls)

    def __init__(
        self,
        module: nn.Module | None = None,
        *,
        device: str | torch.device | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if module is not None and not isinstance(module, nn.Module):
            raise TypeError(
                f"`module` must be a torch.nn.Module. Received: {type(module).__name__}"
            )
        trainable = _subclass_kwargs(kwargs)
        # Attributes a subclass assigns: metrics and optimizers are tracked, modules
        # registered on its CallModule (see __setattr__).
        self.__dict__["_tracked_metrics"] = {}
        self.__dict__["_tracked_optimizers"] = {}
        self.__dict__["_built_flag"] = False
        self.__dict__["_compiling"] = False
        self._compiled_loss_fn: Any = None
        self._compile_loss: CompiledLoss | None = None
        self.name = name or unique_name(snake_case(type(self).__name__))
        if module is None and type(self) is not Model:
            user_build = getattr(type(self), "build", None) is not getattr(Model, "build", None)
            module = CallModule(self, self.name, user_build=user_build)
        self._module = module
        self.device = resolve_device(device) if device is not None else default_device()
        self.optimizer: optimizers_module.Optimizer | None = None
        self.compiled_metrics = CompiledMetrics([], None)
        self.precision = Precision(mixed_precision.DTypePolicy("float32"), self.device)
        self.compiled = False
        # compile(jit_compile=...): torch.compile's arguments (None: eager) and, per module
        # the steps call, the compiled callable.
        self._jit_options: dict[str, Any] | None = None
        self._jit_cache: dict[int, tuple[nn.Module, CompiledModule]] = {}
        self.stop_training = False
        self.stop_evaluating = False
        self.stop_predicting = False
        self.history: History | None = None
        self.strategy: Strategy = current_strategy()
        self._compile_settings: dict[str, Any] = {}
        # Per-call state lives in a Run; the model keeps the calls in flight (a callback may
        # call evaluate inside fit) and the last fit's run, for train_state/example_input.
        self._active_runs: list[Run] = []
        self._last_run: Run | None = None
        self._fit_state = TrainState()
        # The data-parallel wrapper of the module, kept while the strategy is the same.
        self._wrapped: tuple[Strategy, nn.Module] | None = None
        # (per-sample input shape, dtype) of the batch that built the layers; saved with the
        # model so a loaded one can be built before its weights are assigned.
        self.build_input_shape: tuple[tuple[int, ...], torch.dtype] | None = None
        if trainable is False and module is not None:
            set_trainable(module, False)

    # ------------------------------------------------------------------ subclassing
    def __setattr__(self, name: str, value: Any) -> None:
        """Tracks what a subclass assigns: layers, modules and models (alone or in a list,
        tuple or dict) become part of its module; metrics join :attr:`metrics`; optimizers
        are saved with a backup of the run."""
        d = self.__dict__
        tracked_metrics = d.get("_tracked_metrics")
        if tracked_metrics is not None:
            tracked_metrics.pop(name, None)
            d["_tracked_optimizers"].pop(name, None)
            if isinstance(value, Metric):
                tracked_metrics[name] = value
            elif isinstance(value, optimizers_module.Optimizer) and name != "optimizer":
                d["_tracked_optimizers"][name] = value
        body = d.get("_module")
        if isinstance(body, CallModule) and name != "_module":
            body._modules.pop(name, None)
            child = module_of_value(value, Model)
            if child is not None and child is not body:
                body._modules[name] = child
        if name == "loss_fn":
            # Keras' guides keep their own loss in ``self.loss_fn``: compile() does not
            # clobber it, and the engine keeps using the compiled one.
            d["_user_loss_fn" if not d.get("_compiling") else "_compiled_loss_fn"] = value
            return
        object.__setattr__(self, name, value)

    @property
    def loss_fn(self) -> Any:
        """The compiled loss, or what the model assigned to ``self.loss_fn`` itself."""
        d = self.__dict__
        return d["_user_loss_fn"] if "_user_loss_fn" in d else d.get("_compiled_loss_fn")

    # ------------------------------------------------------------------ module access
    @property
    def module(self) -> nn.Module:
        if self._module is None:
            raise ValueError("This model has no module yet.")
        return self._module

    @property
    def train_state(self) -> TrainState:
        """Where the current (or last) ``fit`` is; see :class:`~epochal.engine.TrainState`."""
        return self._fit_state

    @property
    def example_input(self) -> Any:
        """The ``x`` of the first batch of the current (or last) call; `None` before."""
        run = self._active_runs[-1] if self._active_runs else self._last_run
        return run.example_input if run is not None else None

    @property
    def compile_settings(self) -> Mapping[str, Any]:
        """What ``compile`` was given (``optimizer``, ``loss``, ``metrics``), for saving."""
        return self._compile_settings

    def snapshot(self) -> dict[str, Any]:
        """The stateful objects a backup of this model holds, by name (as Ignite's
        ``Checkpoint(to_save=...)``): the weights and buffers (restored by position, since
        automatic layer names differ between processes, not architectures), the optimizer
        when compiled, and the run's :class:`~epochal.engine.TrainState` (position, data
        order, running metrics, random state and the callbacks' states); the generators of
        seeded random layers; under a mixed policy, the
        :class:`~epochal.engine.precision.Precision` (the float16 loss scale)."""
        objects: dict[str, Any] = {"model": _WeightsByPosition(self.module)}
        if self.optimizer is not None:
            objects["optimizer"] = self.optimizer
        for key, optimizer in self._tracked_optimizers.items():
            if optimizer.built:
                objects[f"optimizer:{key}"] = optimizer
        if self.precision.enabled:
            objects["precision"] = self.precision  # the float16 loss scale
        generators = _LayerGenerators.of(self.module)
        if generators is not None:
            objects["layer_generators"] = generators
        objects["train"] = self._fit_state
        return objects

    @property
    def layers(self) -> list[nn.Module]:
        return list(self.module.children())

    def get_layer(self, name: str | None = None, index: int | None = None) -> Any:
        """A layer of :attr:`layers` by ``name`` or by ``index`` (Keras' ``get_layer``).

        Raises:
            ValueError: when both or neither are given, or no layer has that name or index.
        """
        if (name is None) == (index is None):
            raise ValueError(
                "get_layer() takes a layer `name` or an `index`, exactly one of them. "
                f"Received: name={name!r}, index={index!r}"
            )
        layers = self.layers
        if index is not None:
            if (
                isinstance(index, bool)
                or not isinstance(index, int)
                or not (-len(layers) <= index < len(layers))
            ):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index!r} but the model only has "
                    f"{len(layers)} layers."
                )
            return layers[index]
        for layer in layers:
            if getattr(layer, "name", None) == name:
                return layer
        raise ValueError(
            f"No such layer: {name}. Existing layers are: "
            f"{[getattr(layer, 'name', type(layer).__name__) for layer in layers]}."
        )

    @property
    def rank(self) -> int:
        return self.strategy.rank

    @property
    def world_size(self) -> int:
        return self.strategy.world_size

    @property
    def is_main_process(self) -> bool:
        return self.strategy.is_main_process

    @property
    def built(self) -> bool:
        """Whether every layer has its weights (or the model set ``self.built = True``)."""
        if self.__dict__.get("_built_flag"):
            return True
        return not any(isinstance(m, Layer) and not m.built for m in self.module.modules())

    @built.setter
    def built(self, value: bool) -> None:
        self.__dict__["_built_flag"] = bool(value)

    def __call__(
        self, x: Any = None, *args: Any, training: bool | None = None, **kwargs: Any
    ) -> Any:
        """Runs the model on ``x`` (``training=True/False`` sets the mode of its epochal
        layers for this call, as Keras' ``model(x, training=...)``)."""
        if x is None and "inputs" in kwargs:
            x = kwargs.pop("inputs")
        if is_symbolic(x):  # functional API: this model becomes a node of a graph
            if training is not None:
                kwargs["training"] = training
            return symbolic_call(self.module, (x, *args), kwargs, owner=self)
        if isinstance(x, np.ndarray):
            x = to_tensor(x).to(self.device)
        module = self.module
        if isinstance(module, Layer):
            if training is not None:
                kwargs["training"] = training
            return module(x, *args, **kwargs)
        with training_scope(training):
            return module(x, *args, **kwargs)

    def parameters(self) -> Iterable[nn.Parameter]:
        return self.module.parameters()

    def to(self, device: str | torch.device) -> Model:
        self.device = resolve_device(device)
        self.module.to(self.device)
        if self.precision.device_type != self.device.type:  # autocast is per device type
            state = self.precision.state_dict()
            self.precision = Precision(
                self.precision.policy, self.device, scale_loss=self.precision.scaler is not None
            )
            self.precision.load_state_dict(state)
        return self

    # ------------------------------------------------------------------ compile / build
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
        auto_scale_loss: bool = True,
        *,
        precision: Any = None,
        **kwargs: Any,
    ) -> None:
        """Chooses the optimizer, the loss and the metrics (Keras names or objects).

        Args:
            optimizer: Name (``"adam"``), :class:`~epochal.optimizers.Optimizer` or
                ``torch.optim.Optimizer``. Defaults to `"rmsprop"`.
            loss: Name, :class:`~epochal.losses.Loss`, torch loss module or callable
                ``fn(y_true, y_pred)``; for a model with several outputs also a list with
                one loss per output or a dict ``{output_name: loss}`` (one loss alone is
                applied to every output). Defaults to `None` (``fit`` then refuses to run).
            loss_weights: Coefficients of the output losses in the total loss: a number
                (one output), a list (one per output) or a dict ``{output_name: weight}``.
                Defaults to `None` (every weight 1).
            metrics: List of names (``"accuracy"``, ``"acc"``, ``"mse"``...), functions or
                :class:`~epochal.metrics.Metric` objects; for several outputs a list with
                one entry per output or a dict ``{output_name: metrics}``, logged as
                ``<output>_<metric>``. Never weighted by ``sample_weight`` /
                ``class_weight``. Defaults to `None`.
            weighted_metrics: Same forms as ``metrics``; these are weighted by
                ``sample_weight`` and ``class_weight``. Defaults to `None`.
            run_eagerly: Accepted: epochal always runs the Python step eagerly.
                Defaults to `False`.
            steps_per_execution: Only 1 is supported; another value warns once and runs
                one step per call. Defaults to `1`.
            jit_compile: Keras' ``jit_compile``: `True` runs the steps' forward and backward
                passes through ``torch.compile``; `False` and ``"auto"`` run eagerly (as Keras
                on torch). A ``torch.compile`` mode (``"max-autotune"``...) or a dict of its
                arguments also compiles; see :mod:`epochal.engine.compiled`. Defaults to
                `"auto"`.
            auto_scale_loss: With the ``"mixed_float16"`` policy, scale the loss dynamically
                (``torch.amp.GradScaler``; Keras wraps the optimizer in a
                ``LossScaleOptimizer``). Defaults to `True`.
            precision: epochal's per-model dtype policy: ``"float32"``, ``"mixed_float16"``,
                ``"mixed_bfloat16"`` or a :class:`~epochal.mixed_precision.DTypePolicy`.
                Defaults to `None`: the global policy
                (:func:`epochal.mixed_precision.set_global_policy`) at compile time.

        Raises:
            ValueError / TypeError: for unknown names or unsupported objects, naming them.
        """
        if kwargs:
            raise TypeError(
                f"compile() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}"
            )
        check_bool("run_eagerly", run_eagerly)
        check_bool("auto_scale_loss", auto_scale_loss)
        check_int("steps_per_execution", steps_per_execution, minimum=1)
        if steps_per_execution != 1:
            _warn_once(
                "steps_per_execution",
                f"compile(steps_per_execution={steps_per_execution}): epochal runs one step "
                "per call (it does not sync the host per step, which is what the setting "
                "saves in Keras); callbacks still see every batch.",
            )
        for name, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and (
                isinstance(value, str) or not isinstance(value, Sequence | Mapping)
            ):
                raise TypeError(
                    f"`{name}` must be a list, e.g. {name}=['accuracy'], a list with one entry "
                    f"per output or a dict {{output_name: metrics}}. Received: {value!r}"
                )
        if loss is None and loss_weights is not None:
            raise ValueError("`loss_weights` was given without a `loss`.")
        jit_options = resolve_jit_compile(jit_compile)
        policy = mixed_precision.resolve(precision)
        output_names = getattr(self, "output_names", None)
        self.__dict__["_compiling"] = True
        self.optimizer = optimizers_module.get(optimizer)
        self._compile_loss = (
            CompiledLoss(loss, loss_weights, output_names=output_names)
            if loss is not None
            else None
        )
        single = self._compile_loss.single if self._compile_loss is not None else None
        # The one resolved loss when there is one, else the per-output compiled loss.
        self.loss_fn = single if single is not None else self._compile_loss  # type: ignore[misc]
        self.precision = Precision(policy, self.device, scale_loss=auto_scale_loss)
        self._jit_options = jit_options
        self._jit_cache.clear()
        self.compiled_metrics = CompiledMetrics(
            metrics,
            single.name if single is not None else None,
            weighted_metrics,
            loss=self._compile_loss,
            output_names=output_names,
        )
        self._compile_settings = {
            "optimizer": optimizer,
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics if isinstance(metrics, Mapping) else list(metrics or []),
            "weighted_metrics": weighted_metrics,
        }
        self.compiled = True
        self.__dict__["_compiling"] = False
        # Keras builds a model whose input shape is declared; a user module's forward is not
        # run here (its side effects would fire once more): it builds on the first batch.
        if _only_library_modules(self.module) and not isinstance(self.module, CallModule):
            self._maybe_build_from_shape()
        if self.built:
            self._finish_build()

    def _maybe_build_from_shape(self) -> None:
        """Builds lazily-shaped layers when the first layer declares ``input_shape``."""
        shape = self.declared_input_shape()
        if shape is not None and not self.built:
            with evaluating(self.module):
                self.module(torch.zeros((1, *shape)))

    def declared_input_shape(self) -> tuple[int, ...] | None:
        """The per-sample input shape a layer declares (``input_shape=``), or `None`."""
        for module in self.module.modules():
            if isinstance(module, Layer) and module.input_shape_hint is not None:
                return module.input_shape_hint
        return None

    def build_from_batch(self, x: Any) -> None:
        """Creates lazily-shaped weights by running the module once on ``x`` (no grad)."""
        if not self.built and self._can_call():
            if isinstance(x, torch.Tensor):
                self.build_input_shape = (tuple(x.shape[1:]), x.dtype)
            with evaluating(self.module.to(self.device)):
                forward(self.module, x)
        for value in list(self.__dict__.values()):
            if isinstance(value, Model) and value is not self:
                # a sub-model that declares its input shape (a GAN's generator and
                # discriminator) has its weights before the first step, as in Keras
                value._maybe_build_from_shape()
        self._finish_build()

    def build(self, input_shape: Any) -> None:
        """Creates the weights for inputs of ``input_shape``, as Keras' ``model.build``.

        Args:
            input_shape: The full input shape, batch axis included (``None`` allowed for
                any axis a layer does not size by), e.g. ``(None, 784)``; a list or dict of
                shapes for several inputs. The module runs once on zeros of that shape.

        Raises:
            ValueError: for something that is not a shape.
        """

        def is_shape(value: Any) -> bool:
            return isinstance(value, list | tuple) and all(
                d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool))
                for d in value
            )

        def zeros(value: Any) -> Any:
            if is_shape(value) and len(value) >= 1:
                return torch.zeros([1 if d is None else int(d) for d in value], device=self.device)
            if isinstance(value, dict):
                return {k: zeros(v) for k, v in value.items()}
            if isinstance(value, list | tuple) and value and not is_shape(value):
                return [zeros(v) for v in value]
            raise ValueError(
                "`input_shape` must be a shape with the batch axis, e.g. (None, 784), or a "
                f"list/dict of such shapes. Received: input_shape={input_shape!r}"
            )

        x = zeros(input_shape)
        self.build_from_batch(tuple(x) if isinstance(x, list) else x)

    def _can_call(self) -> bool:
        """Whether the module can run on a batch (a subclass without ``call`` cannot)."""
        return not isinstance(self._module, CallModule) or self._defines_call()

    def _finish_build(self) -> None:
        self.module.to(self.device)
        has_parameters = next(iter(self.module.parameters()), None) is not None
        if self.optimizer is not None and not self.optimizer.built and has_parameters:
            self.optimizer.build(self.module.parameters())
        for metric in self.compiled_metrics._all:
            metric.to(self.device)

    def _require_compiled(self, need_loss: bool = True) -> None:
        if not self.compiled:
            raise RuntimeError("You must call `compile()` before using the model.")
        if need_loss and self._compiled_loss_fn is None:
            raise ValueError("The model was compiled without a loss; pass `loss=` to compile().")

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Callback | Sequence[Callback] | CallbackList | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: Mapping[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int | Sequence[int] = 1,
        *,
        evaluation_data: Mapping[str, Any] | None = None,
        evaluation_freq: int | Sequence[int] = 1,
    ) -> History:
        """Trains for ``epochs`` (the final epoch index), firing Keras' callback hooks.

        Beyond Keras' arguments, ``evaluation_data`` evaluates more sets during training:
        ``{"test": (x_test, y_test), "ood": loader}``, each given as ``validation_data`` is,
        evaluated after validation every ``evaluation_freq`` epochs (an int or the 1-based
        epochs, as ``validation_freq``), with ``validation_batch_size`` (else
        ``batch_size``). Results join the epoch logs as ``test_loss``, ``test_accuracy``,
        ... before ``on_epoch_end``, so ``EarlyStopping(monitor="test_loss")``,
        ``ModelCheckpoint`` and the loggers see them; the ``on_test_*`` hooks fire for each
        set (``model.train_state.evaluation`` names it), and under data parallelism each
        set is sharded and its metrics reduced over the ranks, like validation.

        Returns:
            The :class:`~epochal.callbacks.History` of the run.

        Raises:
            ValueError / TypeError: for bad arguments, before any training happens.
        """
        self._require_compiled(
            need_loss=not self._steps_own_loss("train_step") and not self._plain_module()
        )
        _check_verbose(verbose)
        _positive_int_or_none("batch_size", batch_size)
        _positive_int_or_none("validation_batch_size", validation_batch_size)
        _positive_int_or_none("validation_steps", validation_steps)
        check_int("epochs", epochs, minimum=0)
        check_int("initial_epoch", initial_epoch, minimum=0)
        check_bool("shuffle", shuffle)
        _check_callbacks(callbacks)
        if not isinstance(validation_split, numbers.Real) or not 0.0 <= validation_split < 1.0:
            raise ValueError(
                f"`validation_split` must be a float in [0, 1). Received: {validation_split!r}"
            )
        if x is None:
            raise ValueError(
                "`x` is required: pass arrays, a Dataset, a DataLoader or an iterable."
            )
        if validation_split and validation_data is None:
            if not is_array_like(x):
                raise ValueError(
                    "`validation_split` is only supported for numpy arrays and tensors; with a "
                    "DataLoader or iterable, pass `validation_data` instead."
                )
            (x, y, sample_weight), validation_data = split_validation(
                x, y, sample_weight, validation_split
            )
        self._attach_strategy()
        seed = self.strategy.broadcast_seed(int(torch.randint(0, 2**31 - 1, (1,)).item()))
        source = make_source(
            x,
            y,
            sample_weight,
            batch_size=batch_size,
            shuffle=shuffle,
            device=self.device,
            seed=seed,
        )
        train = EpochIterator(self.strategy.shard(source, pad=True), steps_per_epoch, seed=seed)
        validation = self._validation_iterator(
            validation_data, validation_batch_size or batch_size, validation_steps
        )
        should_validate(0, validation_freq)  # reject a bad validation_freq now
        evaluations = self._evaluation_iterators(
            evaluation_data, validation_batch_size or batch_size
        )
        should_validate(0, evaluation_freq, "evaluation_freq")
        class_weights = _class_weight_table(class_weight)
        if self._compile_loss is None and not self._uses_own_steps():
            model_outputs.refuse_weights(sample_weight, class_weight)  # the model's own loss
        if self._compile_loss is not None and y is not None and is_array_like(y):
            # every label, not just the first batch
            self._compile_loss.check_targets(tree_map(to_tensor, y), check_targets)
        if steps_per_epoch is None and isinstance(x, Iterator):
            warnings.warn(
                "fit() got a generator or iterator without a length and no steps_per_epoch: "
                "the first epoch runs until it is exhausted (an endless generator never ends "
                "it) and later epochs find it empty. Pass steps_per_epoch=N to set the length "
                "of an epoch.",
                UserWarning,
                stacklevel=2,
            )
        first = self._prepare(train, class_weight)
        if validation is not None and self._can_call():
            _check_validation_fits(self.module, first, validation)
        for name, data in evaluations.items():
            _check_validation_fits(self.module, first, data, f"evaluation_data[{name!r}]")
        callback_list = self._callback_list(
            callbacks, add_history=True, verbose=verbose, epochs=epochs, steps=train.steps
        )
        run = self._new_run(callback_list, first, training=True, state=self._fit_state)
        run.class_weights = None if class_weights is None else class_weights.to(self.device)
        with self._running(run):
            run_fit(
                run,
                train,
                epochs=int(epochs),
                initial_epoch=int(initial_epoch),
                validation=validation,
                validation_freq=validation_freq,
                evaluations=evaluations,
                evaluation_freq=evaluation_freq,
            )
        self.strategy.barrier()  # rank 0's callbacks have finished writing when fit returns
        if self.history is None:  # a CallbackList without a History was passed
            raise RuntimeError("fit() ran without a History callback to return.")
        return self.history

    def _evaluation_iterators(
        self, evaluation_data: Any, batch_size: int | None
    ) -> dict[str, EpochIterator]:
        """``fit``'s ``evaluation_data``: a dict of named sets, each as ``validation_data``."""
        if evaluation_data is None:
            return {}
        if not isinstance(evaluation_data, Mapping):
            raise TypeError(
                "`evaluation_data` must be a dict of named sets, such as "
                "{'test': (x_test, y_test)}. "
                f"Received: {type(evaluation_data).__name__}"
            )
        iterators: dict[str, EpochIterator] = {}
        for name, data in evaluation_data.items():
            if not isinstance(name, str) or not _SET_NAME.fullmatch(name) or name == "val":
                raise ValueError(
                    "`evaluation_data` keys must be identifiers (letters, digits, `_`; "
                    "not starting with a digit) other than 'val', used as the logs prefix "
                    f"('test' gives test_loss). Received: {name!r}"
                )
            iterator = self._validation_iterator(
                data, batch_size, None, argument=f"evaluation_data[{name!r}]"
            )
            if iterator is None:
                raise ValueError(f"`evaluation_data[{name!r}]` is None: pass a data set.")
            iterators[name] = iterator
        return iterators

    def _validation_iterator(
        self,
        validation_data: Any,
        batch_size: int | None,
        steps: int | None,
        argument: str = "validation_data",
    ) -> EpochIterator | None:
        if validation_data is None:
            return None
        if (
            isinstance(validation_data, tuple | list)
            and len(validation_data) in (2, 3)
            and is_array_like(validation_data[0])
        ):
            vx, vy, *rest = validation_data
            vsw = rest[0] if rest else None
        elif isinstance(validation_data, tuple | list) and (
            is_array_like(validation_data)
            or (len(validation_data) not in (2, 3) and is_array_like(validation_data[:1] or None))
        ):
            raise ValueError(
                f"`{argument}` must be (x_val, y_val) or (x_val, y_val, val_sample_weight). "
                f"Received a {type(validation_data).__name__} of length {len(validation_data)}."
            )
        else:
            vx, vy, vsw = validation_data, None, None
        try:
            source = make_source(
                vx, vy, vsw, batch_size=batch_size, shuffle=False, device=self.device
            )
        except TypeError as exc:
            raise TypeError(
                "`validation_data` must be (x_val, y_val), (x_val, y_val, val_sample_weight), a "
                "torch Dataset, a DataLoader or an iterable of batches. "
                f"Received: {type(validation_data).__name__} ({exc})"
            ) from None
        return EpochIterator(self.strategy.shard(source, pad=False), steps)

    def _attach_strategy(self) -> None:
        """Picks up a process group created after the model, and reduces logs over it."""
        self.strategy = current_strategy()
        reducer = self.strategy.reduce_metrics if self.strategy.world_size > 1 else None
        self.compiled_metrics.set_reducer(reducer)

    def _prepare(self, data: EpochIterator, class_weight: Any = None) -> Any:
        """Builds the model from a first batch if needed and checks targets against the loss
        (and that ``class_weight`` has one output to weigh); returns that batch's ``x``."""
        first = data.first_batch()
        targets = first[1]
        if (
            class_weight is not None
            and isinstance(targets, list | tuple | Mapping)
            and len(targets) > 1
        ):
            raise ValueError(
                "`class_weight` is only supported for models with a single output (as in "
                f"Keras); the targets have {len(targets)} entries. Pass a per-output "
                "`sample_weight` (a list or dict of arrays) instead."
            )
        self.build_from_batch(first[0])
        if self._compile_loss is not None and first[1] is not None:
            self._compile_loss.check_targets(first[1], check_targets)
        return first[0]

    def _training_module(self) -> nn.Module:
        """The module the training step calls: wrapped for data parallelism when needed."""
        if self._wrapped is None or self._wrapped[0] is not self.strategy:
            wrapped = self.strategy.wrap_module(self.module, self.device)
            if getattr(self.module, "whole_inputs", False):
                # the wrapper passes x on as one argument too
                wrapped.__dict__["whole_inputs"] = True
            self._wrapped = (self.strategy, wrapped)
        return self._wrapped[1]

    def _steps_own_loss(self, step: str) -> bool:
        """Whether the model's own ``step`` or ``compute_loss`` decides the loss (then
        ``compile`` needs no ``loss``)."""
        cls = type(self)
        return cls._overrides(step) or cls._overrides("compute_loss")

    def _plain_module(self) -> bool:
        """Whether the module is a plain ``torch.nn.Module`` (not epochal's layer stack,
        graph or subclass module): it may take a dict batch as keyword arguments and return
        its own loss (see :mod:`epochal.engine.model_outputs`)."""
        module = self._module
        return (
            module is not None
            and not isinstance(module, Layer | LayerStack)
            and not getattr(module, "whole_inputs", False)
        )

    def _structured_outputs(self, example_input: Any) -> bool:
        """Whether the run reads outputs through :mod:`epochal.engine.model_outputs`: a
        plain module given a dict batch, a transformers model, or one compiled without a
        loss (its own loss is then the loss). Decided once per call: tensors in, tensors out
        keep the engine's steps as they are."""
        if not self._plain_module():
            return False
        return (
            isinstance(example_input, Mapping)
            or type(self._module).__module__.startswith("transformers.")
            or (self.compiled and self._compile_loss is None)
        )

    def _jit(self, module: nn.Module) -> nn.Module | CompiledModule:
        """``module`` through ``torch.compile`` with ``jit_compile``; kept across calls, so
        each fit or evaluate reuses the compiled graphs."""
        if self._jit_options is None:
            return module
        cached = self._jit_cache.get(id(module))
        if cached is None or cached[0] is not module:
            cached = (module, CompiledModule(module, self._jit_options))
            self._jit_cache[id(module)] = cached
        return cached[1]

    def _new_run(
        self,
        callbacks: CallbackList,
        example_input: Any,
        *,
        training: bool,
        state: TrainState | None = None,
    ) -> Run:
        own_steps = self._uses_own_steps()
        if own_steps and self.precision.enabled:
            raise NotImplementedError(
                f"{type(self).__name__} has its own train_step/test_step/compute_loss and "
                "a mixed precision policy: epochal applies mixed precision around its own "
                "steps only. Compile with precision='float32' (or set the global policy to "
                "'float32'), or use the default steps."
            )
        if own_steps:
            # The model's steps call its layers themselves: no DDP wrapper; under data
            # parallelism every optimizer update averages its gradients instead.
            training_module = self.module
            if training and self.strategy.world_size > 1:
                self.strategy.broadcast_module(self.module)
        else:
            training_module = self._training_module() if training else self.module
        run = Run(
            host=self,
            module=self.module,
            training_module=training_module if own_steps else self._jit(training_module),
            eval_module=(
                self._jit(self.module) if self._jit_options is not None and not own_steps else None
            ),
            metrics=self.compiled_metrics,
            strategy=self.strategy,
            callbacks=callbacks,
            loss_fn=self._compile_loss,
            optimizer=self.optimizer if training else None,
            example_input=example_input,
            state=state if state is not None else TrainState(),
            optimizers=dict(self._tracked_optimizers),
            precision=self.precision,
        )
        if own_steps:
            run.metrics = StepLogs(self, self.compiled_metrics, self.strategy)
            run.train_fn = custom_train_fn(self.train_step)
            run.test_fn = custom_test_fn(self.test_step)
        if type(self)._overrides("predict_step"):
            run.predict_fn = custom_predict_fn(self.predict_step)
        if not own_steps and self._structured_outputs(example_input):
            model_outputs.check_keywords(self.module, example_input)
            model_outputs.attach(run, own_loss=self._compile_loss is None)
        return run

    @contextlib.contextmanager
    def _running(self, run: Run) -> Iterator[Run]:
        self._active_runs.append(run)
        try:
            yield run
        finally:
            self._active_runs.pop()
            if not self._active_runs:
                self._last_run = run

    def _callback_list(
        self,
        callbacks: Callback | Sequence[Callback] | CallbackList | None,
        *,
        add_history: bool,
        verbose: int | str,
        epochs: int,
        steps: int | None,
    ) -> CallbackList:
        _check_callbacks(callbacks)
        if isinstance(callbacks, CallbackList):
            # Keras uses a CallbackList as given; fit still needs a History to return.
            if add_history:
                callbacks.ensure_history()
            callbacks.set_model(self)
            if not callbacks.params:
                callbacks.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
            return callbacks
        show_progress = verbose != 0 and self.strategy.is_main_process
        return CallbackList(
            callbacks,
            add_history=add_history,
            add_progbar=show_progress,
            model=self,
            verbose=verbose,
            epochs=epochs,
            steps=steps,
        )

    # ------------------------------------------------------------------ evaluate / predict
    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Callback | Sequence[Callback] | CallbackList | None = None,
        return_dict: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Loss and metrics over ``x``: a scalar (loss only), a list ``[loss, metrics...]`` in
        compile order, or a dict with ``return_dict=True``."""
        if kwargs:
            raise ValueError(f"Arguments not recognized: {kwargs}")
        self._require_compiled(
            need_loss=not self._steps_own_loss("test_step") and not self._plain_module()
        )
        _check_verbose(verbose)
        _positive_int_or_none("batch_size", batch_size)
        check_bool("return_dict", return_dict)
        _check_callbacks(callbacks)
        if x is None:
            raise ValueError("`x` is required.")
        self._attach_strategy()
        source = make_source(
            x, y, sample_weight, batch_size=batch_size, shuffle=False, device=self.device
        )
        data = EpochIterator(self.strategy.shard(source, pad=False), steps)
        first = self._prepare(data)
        callback_list = self._callback_list(
            callbacks, add_history=False, verbose=verbose, epochs=1, steps=data.steps
        )
        with self._running(self._new_run(callback_list, first, training=False)) as run:
            logs = run_evaluate(run, data)
        if return_dict:
            return logs
        return self._ordered_results(logs)

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: Callback | Sequence[Callback] | CallbackList | None = None,
    ) -> Any:
        """The model's outputs over ``x`` as numpy arrays, in input order."""
        _check_verbose(verbose)
        _positive_int_or_none("batch_size", batch_size)
        self._attach_strategy()
        source = make_source(
            x, None, None, batch_size=batch_size, shuffle=False, device=self.device
        )
        data = EpochIterator(self.strategy.shard(source, pad=False), steps)
        first = data.first_batch()[0]
        self.build_from_batch(first)  # a subclass without call() is not run here
        callback_list = self._callback_list(
            callbacks, add_history=False, verbose=verbose, epochs=1, steps=data.steps
        )
        with self._running(self._new_run(callback_list, first, training=False)) as run:
            return run_predict(run, data)

    # ------------------------------------------------------------------ single batches
    def _single_batch(self, x: Any, y: Any, sample_weight: Any) -> Any:
        source = make_source(
            x, y, sample_weight, batch_size=max(tree_len(x), 1), shuffle=False, device=self.device
        )
        assert isinstance(source, ArraySource)
        return source.batch(None, 0)

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: Mapping[int, float] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """One update on one batch (the model's own ``train_step`` when it has one);
        returns the batch's loss and metrics."""
        self._require_compiled(
            need_loss=not self._steps_own_loss("train_step") and not self._plain_module()
        )
        batch = self._single_batch(x, y, sample_weight)
        self.build_from_batch(batch[0])
        run = self._new_run(CallbackList(), batch[0], training=False)
        # The data-parallel wrapper once fit made one; the bare module otherwise.
        wrapped = self._wrapped
        if not isinstance(run.metrics, StepLogs):
            run.training_module = self._jit(
                wrapped[1] if wrapped and wrapped[0] is self.strategy else run.module
            )
            model_outputs.rewrap_training(run)
        run.optimizer = self.optimizer
        table = _class_weight_table(class_weight)
        run.class_weights = None if table is None else table.to(self.device)
        run.metrics.reset()
        self.module.train()
        with self._running(run):
            (run.train_fn or train_step)(run, batch)
        return self._batch_result(run, return_dict)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """Loss and metrics of one batch, without updating."""
        self._require_compiled(
            need_loss=not self._steps_own_loss("test_step") and not self._plain_module()
        )
        batch = self._single_batch(x, y, sample_weight)
        self.build_from_batch(batch[0])
        run = self._new_run(CallbackList(), batch[0], training=False)
        run.metrics.reset()
        with self._running(run), evaluating(self.module):
            (run.test_fn or test_step)(run, batch)
        return self._batch_result(run, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch (the model's own ``predict_step`` when it has one), as
        numpy."""
        batch = self._single_batch(x, None, None)
        self.build_from_batch(batch[0])
        run = self._new_run(CallbackList(), batch[0], training=False)
        with self._running(run), evaluating(self.module), self.precision.autocast():
            out = (run.predict_fn or predict_step)(run, batch)
        return to_numpy(self.precision.outputs(out))

    def _ordered_results(self, logs: Mapping[str, Any]) -> Any:
        """Keras' list form of logs: compile order (loss, per-output losses, metrics) for the
        default steps, the ``metrics`` names first for a model's own steps."""
        if self._uses_own_steps():
            return self._flatten_in_order(logs)
        ordered = [logs[k] for k in self.compiled_metrics.ordered_keys(logs)]
        return ordered[0] if len(ordered) == 1 else ordered

    def _batch_result(self, run: Run, return_dict: bool) -> Any:
        logs = run.metrics.results()
        if return_dict:
            return logs
        return self._ordered_results(logs)

    # ------------------------------------------------------------------ weights
    def get_weights(self) -> list[np.ndarray]:
        """Every parameter and buffer as numpy arrays, in ``state_dict`` order."""
        return [t.detach().cpu().numpy().copy() for t in self.module.state_dict().values()]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Sets every parameter and buffer from arrays in :meth:`get_weights` order.

        Raises:
            ValueError: on a count or shape mismatch, naming the tensor.
        """
        state = self.module.state_dict()
        if len(weights) != len(state):
            raise ValueError(
                f"set_weights() expects {len(state)} arrays (one per tensor of the model: "
                f"{', '.join(state)}); received {len(weights)}."
            )
        new_state = {}
        for (name, current), value in zip(state.items(), weights, strict=True):
            tensor = torch.as_tensor(
                np.asarray(value) if not isinstance(value, torch.Tensor) else value
            )
            if tuple(tensor.shape) != tuple(current.shape):
                raise ValueError(
                    f"Weight shape mismatch for {name!r}: the model has {tuple(current.shape)}, "
                    f"received {tuple(tensor.shape)}."
                )
            new_state[name] = tensor.to(dtype=current.dtype)
        self.module.load_state_dict(new_state)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)

    def metric_direction(self, name: str) -> str | None:
        """``"up"``, ``"down"`` or ``None`` for a logs key (``val_`` prefix allowed, and the
        prefix of an ``evaluation_data`` set: ``test_accuracy``): a compiled metric's, else
        that of the metric of that name in :attr:`metrics`."""
        key = name
        for prefix in ("val", *self._fit_state.evaluation_sets):
            if name.startswith(prefix + "_"):
                key = name[len(prefix) + 1 :]
                break
        direction = self.compiled_metrics.direction(key)
        if direction is None and self._uses_own_steps():
            direction = next((m.direction for m in self.metrics if m.name == key), None)
        return direction

    @property
    def metrics_names(self) -> list[str]:
        return self.compiled_metrics.names

    # ------------------------------------------------------------------ summary
    def count_params(self) -> int:
        """Parameters plus floating-point buffers (moving statistics), as Keras counts."""
        self._maybe_build_from_shape()
        buffers = sum(b.numel() for b in self.module.buffers() if b.is_floating_point())
        return sum(p.numel() for p in self.module.parameters()) + buffers

    def summary(
        self,
        line_length: int | None = None,
        positions: Any = None,
        print_fn: Any = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
        layer_range: Any = None,
    ) -> None:
        """Prints a table of layers, output shapes and parameter counts.

        Args:
            print_fn: Called with the table instead of ``print``. Defaults to `None`.
            line_length, positions, expand_nested, show_trainable, layer_range: Keras'
                layout options; only their defaults are supported (another value raises).

        Raises:
            ValueError: for a layout option epochal does not implement, naming it.
        """
        _check_summary_layout(line_length, positions, expand_nested, show_trainable, layer_range)
        input_shape = self.declared_input_shape()
        if input_shape is not None and not self.built:
            self._maybe_build_from_shape()  # Keras builds a model with a declared input at once
        traced = input_shape if self.built else None
        (print_fn or print)(summarize(self.name, self.module, self.layers, traced))

    # ------------------------------------------------------------------ saving
    def architecture(self, describe: ModuleDescriber) -> dict[str, Any]:
        """The architecture saved by :meth:`save`: the name and the wrapped module.

        Raises:
            TypeError: for a subclassed model (its architecture is its Python code).
        """
        if isinstance(self._module, CallModule):
            raise TypeError(
                f"{type(self).__name__} is a subclassed model: save() cannot describe its "
                "architecture (its Python code). Save its weights with save_weights() and "
                "load them into a new instance with load_weights()."
            )
        return {"name": self.name, "module": describe(self.module)}

    @classmethod
    def from_architecture(cls, config: Mapping[str, Any], build: ModuleBuilder) -> Model:
        """Rebuilds what :meth:`architecture` described (unbuilt, uncompiled)."""
        return cls(build(config["module"]), name=config.get("name"))

    def save(
        self,
        filepath: Any,
        overwrite: bool = True,
        zipped: bool | None = None,
        *,
        keras_compatible: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Saves architecture, weights, compile settings and optimizer state atomically
        (``.keras``, or the legacy ``.h5`` / ``.hdf5``); see :func:`epochal.saving.save_model`.
        A ``.keras`` file is in Keras 3's format when Keras has every piece of the model
        (``keras_compatible=None``, the default), else epochal's own; ``True`` requires
        Keras' format, ``False`` asks for epochal's.

        Args:
            filepath: Where to write; the suffix picks the format.
            overwrite: Whether to replace an existing file. Defaults to `True`.
            zipped: `None` or `True` (a zipped ``.keras`` archive); `False` (Keras' unzipped
                directory) is refused. Defaults to `None`.
            keras_compatible: See above. Defaults to `None`.
            **kwargs: Keras' legacy ``save_format`` (only the format the suffix names) and
                ``include_optimizer`` (only `True`); anything else is refused.

        Raises:
            ValueError: for another suffix, an architecture that cannot be described, or
                a setting epochal does not honour, naming it.
            FileExistsError: with ``overwrite=False`` when the file exists.
        """
        check_bool("overwrite", overwrite)
        if zipped is not None:
            check_bool("zipped", zipped)
        if zipped is False:
            raise ValueError(
                "save(zipped=False) (an unzipped directory) is not supported: epochal writes "
                "a zipped .keras archive. Pass zipped=None or True."
            )
        include_optimizer = kwargs.pop("include_optimizer", True)
        if include_optimizer is not True:
            raise ValueError(
                f"save(include_optimizer={include_optimizer!r}) is not supported: the optimizer "
                "state is always saved. Use save_weights() for the weights alone."
            )
        save_format = kwargs.pop("save_format", None)
        if save_format:
            suffix = str(filepath).lower()
            matches = (save_format == "keras" and suffix.endswith(".keras")) or (
                save_format in ("h5", "hdf5") and suffix.endswith((".h5", ".hdf5"))
            )
            if not matches:
                raise ValueError(
                    "The `save_format` argument is deprecated in Keras 3: the suffix of "
                    f"`filepath` picks the format ('.keras' or '.h5'). Received: "
                    f"save_format={save_format!r} for filepath={str(filepath)!r}"
                )
        if kwargs:
            raise ValueError(f"The following argument(s) are not supported: {sorted(kwargs)}")
        saving.save_model(self, filepath, overwrite=overwrite, keras_compatible=keras_compatible)

    def save_weights(
        self,
        filepath: Any,
        overwrite: bool = True,
        max_shard_size: Any = None,
        *,
        keras_compatible: bool | None = None,
    ) -> None:
        """Saves the weights atomically (``.weights.h5``, ``.h5``, ``.hdf5``, ``.safetensors``,
        ``.pt``/``.pth``); see :func:`epochal.saving.save_weights`. ``.weights.h5`` is in
        Keras 3's layout when the model is made of epochal's built-in layers
        (``keras_compatible`` as in :meth:`save`).

        Raises:
            ValueError: for ``max_shard_size`` (sharded weights files are not supported).
        """
        check_bool("overwrite", overwrite)
        if max_shard_size is not None:
            raise ValueError(
                f"save_weights(max_shard_size={max_shard_size!r}) is not supported: epochal "
                "writes the weights to one file. Leave max_shard_size=None."
            )
        saving.save_weights(self, filepath, overwrite=overwrite, keras_compatible=keras_compatible)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False, **kwargs: Any) -> None:
        """Loads weights saved by :meth:`save_weights` or :meth:`save` (or by Keras); a bad
        file raises :class:`epochal.saving.CheckpointError` and leaves the model untouched.

        Raises:
            ValueError: for ``skip_mismatch=True`` (a mismatch always raises) and for Keras
                2's ``by_name`` / ``objects_to_skip`` or any other keyword, naming them.
        """
        check_bool("skip_mismatch", skip_mismatch)
        if skip_mismatch:
            raise ValueError(
                "load_weights(skip_mismatch=True) is not supported: a weight that does not "
                "fit the model raises a CheckpointError and nothing is loaded."
            )
        if kwargs:
            raise ValueError(f"Invalid keyword arguments: {kwargs}")
        saving.load_weights(self, filepath)


def _sample_shapes(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return tuple(x.shape[1:])
    if isinstance(x, dict):
        return {k: _sample_shapes(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_sample_shapes(v) for v in x]
    return None


def _check_validation_fits(
    module: nn.Module, train_x: Any, validation: EpochIterator, argument: str = "validation_data"
) -> None:
    """Refuses validation inputs the model cannot take before the first epoch, not after it.

    Inputs shaped like the training inputs fit; others (variable-length sequences, say) get
    one forward pass of their first batch, without gradients or training-mode effects.
    """
    val_x = validation.first_batch()[0]
    if _sample_shapes(val_x) == _sample_shapes(train_x):
        return
    try:
        with evaluating(module):
            forward(module, val_x)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise ValueError(
            f"`{argument}` does not fit the model: the training inputs have per-sample "
            f"shape {_sample_shapes(train_x)}, the validation inputs {_sample_shapes(val_x)}, "
            f"and the model refused them ({type(exc).__name__}: {exc})."
        ) from exc


_MAX_CLASSES = 1 << 22  # a 16 MiB weight table; beyond it a key is a label value


def _check_summary_layout(
    line_length: Any, positions: Any, expand_nested: Any, show_trainable: Any, layer_range: Any
) -> None:
    """Refuses Keras' summary layout options epochal does not implement, naming them."""
    layout = {
        "line_length": (line_length, None),
        "positions": (positions, None),
        "expand_nested": (expand_nested, False),
        "show_trainable": (show_trainable, False),
        "layer_range": (layer_range, None),
    }
    for name, (value, default) in layout.items():
        if value != default:
            raise ValueError(
                f"summary({name}={value!r}) is not supported by epochal's summary; leave "
                f"it at {default!r}."
            )


_WARNED: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    """A warning for a Keras setting epochal tolerates without honouring, once a process."""
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, UserWarning, stacklevel=3)


def _class_weight_table(class_weight: Mapping[int, float] | None) -> torch.Tensor | None:
    if class_weight is None:
        return None
    if not isinstance(class_weight, Mapping) or not class_weight:
        raise ValueError(
            f"`class_weight` must be a non-empty dict {{class: weight}}. Received: {class_weight!r}"
        )
    for key in class_weight:
        if isinstance(key, bool) or not isinstance(key, numbers.Integral) or key < 0:
            raise ValueError(
                "`class_weight` keys must be class indices (integers >= 0). "
                f"Received key {key!r} in class_weight={class_weight!r}"
            )
    size = max(int(k) for k in class_weight) + 1
    if size > _MAX_CLASSES:
        raise ValueError(
            f"`class_weight` names class {size - 1}, but epochal weights at most "
            f"{_MAX_CLASSES} classes (indices 0 to {_MAX_CLASSES - 1}): the key looks like a "
            "label value, not a class index. Map labels to 0..num_classes-1 first."
        )
    table = torch.ones(size)
    for key, value in class_weight.items():
        if not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
            raise ValueError(
                f"`class_weight` values must be finite numbers. Received {key}: {value!r}"
            )
        table[int(key)] = float(value)
    return table


def _only_library_modules(module: nn.Module) -> bool:
    """Whether every sub-module is an epochal layer (or container) or a torch.nn built-in
    (no user code)."""
    return all(
        isinstance(m, Layer) or type(m).__module__.startswith(("torch.nn.", "epochal.layers."))
        for m in module.modules()
    )
