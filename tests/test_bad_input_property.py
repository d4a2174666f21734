"""Property: every public constructor and fit/evaluate/predict argument refuses a value of
the wrong type with a typed error naming the argument (before any work), and the arguments
with a range refuse values outside it.

The argument kinds are read from the signatures' annotations, so a new argument is covered
as soon as it is written.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import epochal
from epochal import callbacks, initializers, layers, optimizers
from epochal.layers import Dense

_SIMPLE = {"int", "float", "bool", "str", "None", "Callable", "PathLike"}


def _kinds(annotation: Any) -> set[str] | None:
    """The basic kinds an annotation string accepts, or None when it is not simple."""
    if not isinstance(annotation, str):
        return None
    kinds = set()
    for part in (p.strip() for p in annotation.split("|")):
        if part.startswith("Callable"):
            kinds.add("Callable")
        elif part.startswith("os.PathLike"):
            kinds.add("PathLike")
        elif part in _SIMPLE:
            kinds.add(part)
        else:
            return None
    return kinds


_CANDIDATES: list[tuple[str, Any]] = [
    ("str", "text"),
    ("float", 2.5),
    ("int", 3),
    ("bool", True),
    ("None", None),
    ("list", [1]),
    ("dict", {"k": 1}),
    ("object", object()),
]


def _accepts(kinds: set[str], kind: str) -> bool:
    if kind == "int":
        return bool({"int", "float"} & kinds)
    if kind == "str":
        return bool({"str", "PathLike"} & kinds)
    if kind == "object":
        return False
    return kind in kinds


def _wrong_values(kinds: set[str], name: str = "") -> list[Any]:
    accepted = set(kinds)
    if name == "verbose":
        accepted.add("bool")  # `verbose=True` means 1, as in Keras
    if name == "activation":
        accepted.add("None")  # Keras' identity
    values = [v for kind, v in _CANDIDATES if not _accepts(accepted, kind)]
    if "Callable" in kinds:
        values = [v for v in values if not callable(v)]
    return values


def _required(tmp: str) -> dict[type, dict[str, Any]]:
    return {
        callbacks.BackupAndRestore: {"backup_dir": f"{tmp}/backup"},
        callbacks.CSVLogger: {"filename": f"{tmp}/log.csv"},
        callbacks.ModelCheckpoint: {"filepath": f"{tmp}/m.keras"},
        callbacks.LearningRateScheduler: {"schedule": lambda epoch, lr: lr},
    }


# Required arguments of layers, by name: any layer whose required arguments are among these
# is covered (new layers included).
_LAYER_REQUIRED: dict[str, Any] = {
    "units": 2,
    "filters": 2,
    "kernel_size": 3,
    "input_dim": 5,
    "output_dim": 2,
    "rate": 0.5,
    "target_shape": (2,),
    "activation": "relu",
    "axes": 1,
    "num_heads": 2,
    "key_dim": 2,
    "function": abs,
    "height": 3,
    "width": 3,
    "factor": 0.1,
    "height_factor": 0.1,
    "width_factor": 0.1,
}


def _layer_required(cls: type) -> dict[str, Any] | None:
    required = {}
    for param in inspect.signature(cls).parameters.values():
        if param.default is param.empty and param.kind in (
            param.POSITIONAL_OR_KEYWORD,
            param.KEYWORD_ONLY,
        ):
            if param.name not in _LAYER_REQUIRED:
                return None
            required[param.name] = _LAYER_REQUIRED[param.name]
    return required


def _layer_classes() -> list[type]:
    found = []
    for module in (layers, initializers):
        for name in module.__all__:
            cls = getattr(module, name)
            if inspect.isclass(cls) and _layer_required(cls) is not None:
                found.append(cls)
    return found


def _callback_classes() -> list[type]:
    found = []
    for name in callbacks.__all__:
        cls = getattr(callbacks, name)
        if (
            inspect.isclass(cls)
            and issubclass(cls, callbacks.Callback)
            and cls not in (callbacks.Callback, callbacks.CallbackList)
        ):
            found.append(cls)
    return found


def _optimizer_classes() -> list[type]:
    return [
        getattr(optimizers, n)
        for n in optimizers.__all__
        if inspect.isclass(getattr(optimizers, n))
        and issubclass(getattr(optimizers, n), optimizers.Optimizer)
        and getattr(optimizers, n) is not optimizers.Optimizer
    ]


# Arguments that take several shapes of value by design, checked by their own tests.
_OPEN = {
    "print_fn",  # any callable, or None for the logger
    "stateful_metrics",
    "name",  # optimizers: any str, None for the default
}


def _cases() -> list[tuple[type, str, set[str]]]:
    cases = []
    for cls in _callback_classes() + _optimizer_classes() + _layer_classes():
        for param in inspect.signature(cls).parameters.values():
            if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL) or param.name in _OPEN:
                continue
            kinds = _kinds(param.annotation)
            if kinds and _wrong_values(kinds, param.name):
                cases.append((cls, param.name, kinds))
    return cases


CASES = _cases()


def _assert_refused(make: Callable[[], Any], name: str, value: Any) -> None:
    with pytest.raises((TypeError, ValueError)) as caught:
        make()
    assert name in str(caught.value), (name, value, caught.value)


@pytest.mark.parametrize(
    ("cls", "name", "kinds"), CASES, ids=[f"{c.__name__}.{n}" for c, n, _ in CASES]
)
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_constructor_arguments_of_the_wrong_type_are_refused(tmp_path, cls, name, kinds, data):
    value = data.draw(st.sampled_from(_wrong_values(kinds, name)))
    required = _required(str(tmp_path)).get(cls) or _layer_required(cls) or {}
    kwargs = {**required, name: value}
    _assert_refused(lambda: cls(**kwargs), name, value)


def test_the_property_covers_every_exported_callback_optimizer_and_layer():
    covered = {cls for cls, _, _ in CASES}
    # History takes no argument, BaseLogger only the open `stateful_metrics`; LambdaCallback's
    # hooks are checked by its own tests.
    exempt = {callbacks.History, callbacks.BaseLogger, callbacks.LambdaCallback}
    assert set(_callback_classes()) - exempt <= covered
    assert set(_optimizer_classes()) <= covered
    assert {layers.Dense, layers.Conv2D, layers.Embedding, layers.Dropout} <= covered


RANGES: list[tuple[Callable[..., Any], dict[str, Any], str]] = [
    (callbacks.EarlyStopping, {"patience": -1}, "patience"),
    (callbacks.EarlyStopping, {"start_from_epoch": -1}, "start_from_epoch"),
    (callbacks.EarlyStopping, {"min_delta": math.nan}, "min_delta"),
    (callbacks.EarlyStopping, {"monitor": 5}, "monitor"),
    (callbacks.EarlyStopping, {"baseline": math.nan}, "baseline"),
    (callbacks.ReduceLROnPlateau, {"factor": -0.5}, "factor"),
    (callbacks.ReduceLROnPlateau, {"factor": 1.0}, "factor"),
    (callbacks.ReduceLROnPlateau, {"patience": -1}, "patience"),
    (callbacks.ReduceLROnPlateau, {"cooldown": -1}, "cooldown"),
    (callbacks.ReduceLROnPlateau, {"min_lr": -1.0}, "min_lr"),
    (callbacks.ReduceLROnPlateau, {"min_delta": math.inf}, "min_delta"),
    (callbacks.TensorBoard, {"histogram_freq": -1}, "histogram_freq"),
    (callbacks.TensorBoard, {"embeddings_freq": -1}, "embeddings_freq"),
    (callbacks.TensorBoard, {"update_freq": 0}, "update_freq"),
    (callbacks.RemoteMonitor, {"timeout": -1.0}, "timeout"),
    (callbacks.RemoteMonitor, {"timeout": math.nan}, "timeout"),
    (callbacks.ProgbarLogger, {"interval": -1.0}, "interval"),
    (callbacks.ProgbarLogger, {"count_mode": "rows"}, "count_mode"),
    (callbacks.CSVLogger, {"filename": "x.csv", "separator": ""}, "separator"),
    (optimizers.Adam, {"learning_rate": math.inf}, "learning_rate"),
    (optimizers.SGD, {"momentum": 1.5}, "momentum"),
    (optimizers.Adam, {"beta_1": 1.0}, "beta_1"),
    (optimizers.Adam, {"clipnorm": -1.0}, "clipnorm"),
    (optimizers.Adam, {"clipvalue": -1.0}, "clipvalue"),
]


@pytest.mark.parametrize(
    ("make", "kwargs", "name"), RANGES, ids=[f"{m.__name__}-{n}" for m, _, n in RANGES]
)
def test_arguments_out_of_range_are_refused(tmp_path, make, kwargs, name):
    kwargs = {**_required(str(tmp_path)).get(make, {}), **kwargs}
    _assert_refused(lambda: make(**kwargs), name, kwargs[name])


def _model() -> epochal.Model:
    model = epochal.Sequential([Dense(2, input_dim=3)])
    model.compile(optimizer="sgd", loss="mse")
    return model


X = np.ones((8, 3), "float32")
Y = np.zeros((8, 2), "float32")

FIT = [
    ("epochs", ["3", 2.5, -1, True]),
    ("batch_size", [0, "8", 2.5, True]),
    ("verbose", [5, "loud", -1, 2.5]),
    ("validation_split", [1.5, -0.1, "0.2"]),
    ("shuffle", ["yes", 1]),
    ("initial_epoch", [-1, "0", 1.5]),
    ("steps_per_epoch", [0, "2", 1.5]),
    ("validation_steps", [0, "2"]),
    ("validation_batch_size", [0, "2"]),
    ("validation_freq", [0, "1", [0]]),
    ("class_weight", [[1.0], {0: "heavy"}, {0: math.nan}]),
    ("sample_weight", [np.ones(3), "w"]),
    ("callbacks", [[object()], object()]),
    ("validation_data", [(X,), "data"]),
]


@pytest.mark.parametrize(("name", "values"), FIT, ids=[n for n, _ in FIT])
def test_fit_arguments_are_checked_before_training(name, values):
    for value in values:
        model = _model()
        kwargs = {"epochs": 1, "verbose": 0, name: value}
        _assert_refused(lambda kw=kwargs, m=model: m.fit(X, Y, **kw), name, value)
        assert model.optimizer.iterations == 0, (name, value)


EVALUATE_PREDICT = [
    ("evaluate", "batch_size", [0, "8"]),
    ("evaluate", "verbose", [7]),
    ("evaluate", "steps", [0, "1"]),
    ("evaluate", "return_dict", ["yes"]),
    ("evaluate", "sample_weight", [np.ones(3)]),
    ("evaluate", "callbacks", [[object()]]),
    ("predict", "batch_size", [0, "8"]),
    ("predict", "verbose", [7]),
    ("predict", "steps", [0, "1"]),
    ("predict", "callbacks", [[object()]]),
]


@pytest.mark.parametrize(
    ("method", "name", "values"), EVALUATE_PREDICT, ids=[f"{m}-{n}" for m, n, _ in EVALUATE_PREDICT]
)
def test_evaluate_and_predict_arguments_are_checked(method, name, values):
    model = _model()
    for value in values:
        call = getattr(model, method)
        args = (X, Y) if method == "evaluate" else (X,)
        _assert_refused(lambda v=value, a=args, c=call: c(*a, **{name: v}), name, value)
