"""Architecture and compile settings as plain JSON, and the registry of user classes.

Names are resolved in this order: ``custom_objects`` passed to the loader, classes and
functions registered with :func:`register_serializable`, then epochal's built-ins. A name
that none of them knows is an error naming it, never a silent default.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import torch
from torch import nn

from epochal import losses as losses_module
from epochal import metrics as metrics_module
from epochal import optimizers as optimizers_module
from epochal.layers import LAYER_CLASSES
from epochal.saving.protocol import Saveable, model_class

__all__ = [
    "compile_config",
    "get_registered_object",
    "model_config",
    "model_from_config",
    "register_serializable",
    "resolve_compile",
    "resolve_compile_extras",
]

_REGISTRY: dict[str, Any] = {}
T = TypeVar("T")


def register_serializable(obj: T | None = None, *, name: str | None = None) -> Any:
    """Registers a module class (with ``get_config``/``from_config``), a loss or a metric
    function, so whole-model files that name it load without ``custom_objects``.

    Usable bare (``@register_serializable``) or with a name
    (``@register_serializable(name="MyNet")``).

    Args:
        obj: The class or function. Defaults to `None` (decorator with arguments).
        name: The name stored in files. Defaults to `None` (``obj.__name__``).

    Raises:
        TypeError: when ``obj`` is neither a class nor a function.

    Example:
        >>> from epochal.saving import register_serializable
        >>> @register_serializable
        ... def my_metric(y_true, y_pred):
        ...     return (y_true - y_pred).abs().mean()
        >>> get_registered_object("my_metric") is my_metric
        True
    """

    def register(target: T) -> T:
        if not (inspect.isclass(target) or callable(target)):
            raise TypeError(
                f"register_serializable expects a class or a function. Received: {target!r}"
            )
        _REGISTRY[name or target.__name__] = target  # type: ignore[union-attr]
        return target

    return register if obj is None else register(obj)


def get_registered_object(name: str, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """The object registered (or passed in ``custom_objects``) under ``name``, else None."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _REGISTRY.get(name)


def _unknown(kind: str, name: str) -> ValueError:
    return ValueError(
        f"Unknown {kind} {name!r} in the saved model. Pass it when loading, e.g. "
        f"load_model(path, custom_objects={{{name!r}: {name}}}), or register it with "
        "@epochal.saving.register_serializable."
    )


# ---------------------------------------------------------------------------- architecture
def _module_entry(module: nn.Module) -> dict[str, Any]:
    get_config = getattr(module, "get_config", None)
    if get_config is None:
        raise ValueError(
            f"Cannot save the whole model: {type(module).__name__} has no get_config(), so its "
            "architecture cannot be written. Save the weights only (model.save_weights(...) "
            "or ModelCheckpoint(save_weights_only=True)), or give the class get_config() / "
            "from_config() and register it with @epochal.saving.register_serializable."
        )
    return {"class_name": type(module).__name__, "config": get_config()}


def model_config(model: Saveable) -> dict[str, Any]:
    """The architecture of ``model`` (its registered class and what it describes).

    Raises:
        ValueError: when a module cannot describe itself, saying what to do instead.
    """
    name = type(model).__name__
    if model_class(name) is None:
        raise ValueError(
            f"Cannot save the whole model: the model class {name} is not registered. Save the "
            "weights only, or register it with @epochal.saving.register_model_class."
        )
    return {"class_name": name, "config": model.architecture(_module_entry)}


def _build_module(entry: Mapping[str, Any], custom_objects: Mapping[str, Any] | None) -> nn.Module:
    class_name = entry["class_name"]
    cls = get_registered_object(class_name, custom_objects) or LAYER_CLASSES.get(class_name)
    if cls is None:
        raise _unknown("layer/module class", class_name)
    config = dict(entry.get("config") or {})
    activation = config.get("activation")
    if isinstance(activation, str):
        fn = get_registered_object(activation, custom_objects)
        if fn is not None:
            config["activation"] = fn
    from_config = getattr(cls, "from_config", None)
    if from_config is not None and "custom_objects" in inspect.signature(from_config).parameters:
        # a layer that rebuilds functions by name (Lambda): the registry, then custom_objects
        module = from_config(config, custom_objects={**_REGISTRY, **(custom_objects or {})})
    elif from_config is not None:
        module = from_config(config)
    else:
        module = cls(**config)
    if not isinstance(module, nn.Module):
        raise TypeError(f"{class_name}.from_config() did not return a torch.nn.Module.")
    return module


def model_from_config(
    config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None = None
) -> Any:
    """Rebuilds an (unbuilt, uncompiled) model from :func:`model_config` output."""
    cls = model_class(str(config.get("class_name")))
    if cls is None:
        raise ValueError(f"Unknown model class {config.get('class_name')!r} in the saved config.")
    return cls.from_architecture(
        config.get("config") or {}, lambda entry: _build_module(entry, custom_objects)
    )


# ---------------------------------------------------------------------------- compile
def _fn_name(fn: Any) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _loss_entry(loss: Any) -> Any:
    if loss is None or isinstance(loss, str):
        return loss
    if isinstance(loss, Mapping):  # one loss per output of a multi-output model
        return {"per_output": {str(k): _loss_entry(v) for k, v in loss.items()}}
    if isinstance(loss, list | tuple):
        return {"per_output": [_loss_entry(v) for v in loss]}
    cls = type(loss)
    if cls is not losses_module.Loss and getattr(losses_module, cls.__name__, None) is cls:
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    if isinstance(loss, torch.nn.modules.loss._Loss):
        return {"torch_class": type(loss).__name__}
    fn = loss.fn if isinstance(loss, losses_module.Loss) else loss
    return {"function": _fn_name(fn)}


def _metric_entry(metric: Any) -> Any:
    if isinstance(metric, str):
        return metric
    if isinstance(metric, type):
        return {"class_name": metric.__name__}
    if isinstance(metric, metrics_module.Metric):
        cls = type(metric)
        public = getattr(metrics_module, cls.__name__, None) is cls
        if public and cls is not metrics_module.MeanMetricWrapper:
            return {"class_name": cls.__name__, "config": metric.get_config()}
        if cls is metrics_module.MeanMetricWrapper:
            return {"function": _fn_name(cast(metrics_module.MeanMetricWrapper, metric).fn)}
        return {"class_name": cls.__name__, "config": metric.get_config()}
    return {"function": _fn_name(metric)}


def _optimizer_entry(optimizer: Any) -> dict[str, Any]:
    if type(optimizer) in optimizers_module._BY_NAME.values():
        return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
    torch_optimizer = getattr(optimizer, "torch_optimizer", None)
    cls = (
        type(torch_optimizer)
        if torch_optimizer is not None
        else getattr(optimizer, "torch_class", None)
    )
    name = getattr(cls, "__name__", "")
    if cls is None or getattr(torch.optim, name, None) is not cls:
        raise ValueError(
            f"Cannot save the optimizer {optimizer!r}: only epochal optimizers and torch.optim "
            "classes can be rebuilt. Save the weights only, or compile with a built-in optimizer."
        )
    return {"torch_class": name}


def compile_config(model: Saveable) -> dict[str, Any] | None:
    """The compile settings of ``model`` (None when it was never compiled): the optimizer,
    the loss (one, a list or a dict per output), ``loss_weights``, ``metrics`` and
    ``weighted_metrics`` (lists, lists per output or dicts per output)."""
    if not model.compiled or model.optimizer is None:
        return None
    raw = model.compile_settings
    config = {
        "optimizer": _optimizer_entry(model.optimizer),
        "loss": _per_output(raw.get("loss"), _loss_entry),
        "metrics": _metrics_entry(raw.get("metrics") or []),
    }
    if raw.get("loss_weights") is not None:
        config["loss_weights"] = raw["loss_weights"]
    if raw.get("weighted_metrics") is not None:
        config["weighted_metrics"] = _metrics_entry(raw["weighted_metrics"])
    return config


_PER_OUTPUT = "per_output"  # marks a dict {output_name: setting} among entries


def _per_output(value: Any, entry: Callable[[Any], Any]) -> Any:
    """One loss entry, or a list / dict of them (one per output)."""
    if isinstance(value, Mapping):
        return {_PER_OUTPUT: {k: None if v is None else entry(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return [None if v is None else entry(v) for v in value]
    return entry(value)


def _metrics_entry(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {_PER_OUTPUT: {k: _metrics_entry(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return [_metrics_entry(v) for v in value]
    return _metric_entry(value)


def _resolve_per_output(entry: Any, resolve: Callable[[Any], Any]) -> Any:
    if isinstance(entry, Mapping) and _PER_OUTPUT in entry:
        return {k: None if v is None else resolve(v) for k, v in entry[_PER_OUTPUT].items()}
    if isinstance(entry, list):
        return [None if v is None else resolve(v) for v in entry]
    return resolve(entry)


def _resolve_metrics(entry: Any, custom_objects: Mapping[str, Any] | None) -> Any:
    if entry is None:
        return None
    if isinstance(entry, Mapping) and _PER_OUTPUT in entry:
        return {k: _resolve_metrics(v, custom_objects) for k, v in entry[_PER_OUTPUT].items()}
    if isinstance(entry, list):
        return [_resolve_metrics(v, custom_objects) for v in entry]
    return _resolve_metric(entry, custom_objects)


def resolve_compile_extras(
    config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The ``loss_weights`` and ``weighted_metrics`` of :func:`compile_config` output, as
    ``compile`` keywords (empty when they were not given)."""
    extras: dict[str, Any] = {}
    if config.get("loss_weights") is not None:
        extras["loss_weights"] = config["loss_weights"]
    if config.get("weighted_metrics") is not None:
        extras["weighted_metrics"] = _resolve_metrics(config["weighted_metrics"], custom_objects)
    return extras


def _resolve_loss(entry: Any, custom_objects: Mapping[str, Any] | None) -> Any:
    if entry is None or isinstance(entry, str):
        return entry
    if "per_output" in entry:
        per_output = entry["per_output"]
        if isinstance(per_output, Mapping):
            return {k: _resolve_loss(v, custom_objects) for k, v in per_output.items()}
        return [_resolve_loss(v, custom_objects) for v in per_output]
    if "class_name" in entry:
        cls = get_registered_object(entry["class_name"], custom_objects) or getattr(
            losses_module, entry["class_name"], None
        )
        if cls is None:
            raise _unknown("loss class", entry["class_name"])
        return cls(**entry.get("config", {}))
    if "torch_class" in entry:
        return getattr(torch.nn, entry["torch_class"])()
    name = entry["function"]
    fn = get_registered_object(name, custom_objects)
    if fn is None:
        if name.lower() in losses_module._BY_NAME:
            return name
        raise _unknown("loss function", name)
    return fn


def _resolve_metric(entry: Any, custom_objects: Mapping[str, Any] | None) -> Any:
    if isinstance(entry, str):
        return entry
    if "function" in entry:
        name = entry["function"]
        fn = get_registered_object(name, custom_objects)
        if fn is None:
            raise _unknown("metric function", name)
        return fn
    class_name = entry["class_name"]
    cls = get_registered_object(class_name, custom_objects) or getattr(
        metrics_module, class_name, None
    )
    if cls is None:
        raise _unknown("metric class", class_name)
    config = entry.get("config")
    return cls(**config) if config else cls


def resolve_compile(
    config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None
) -> tuple[Callable[[Any], Any], Any, list[Any]]:
    """(optimizer factory taking the module, loss, metrics) from :func:`compile_config` output.

    Raises:
        ValueError: naming a custom loss, metric or class that cannot be found.
    """
    loss = _resolve_per_output(config.get("loss"), lambda e: _resolve_loss(e, custom_objects))
    metrics = _resolve_metrics(config.get("metrics") or [], custom_objects)
    entry = config["optimizer"]

    def make_optimizer(module: nn.Module) -> Any:
        if "torch_class" in entry:
            return getattr(torch.optim, entry["torch_class"])(module.parameters())
        return optimizers_module.from_config(entry["class_name"], entry["config"])

    return make_optimizer, loss, metrics
