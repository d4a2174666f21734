"""Writing files Keras 3 reads: ``.keras`` (``keras.models.load_model``) and ``.weights.h5``
(``keras.Model.load_weights``).

A model can be written in Keras' format when Keras has every piece of it: a ``Sequential``
or functional model of epochal's built-in layers (they take Keras' arguments and keep
Keras' weight layout), an epochal optimizer (or none), and losses and metrics given by name
or as epochal's Keras-named classes. :func:`keras_obstacle` says what stands in the way
otherwise; ``save_model`` / ``save_weights`` then write epochal's own format (see
``docs/saving.md``).

What only epochal reads rides along where Keras does not look, so the file stays one file
and Keras ignores it: ``metadata.json`` carries ``epochal_version`` and
``epochal_format: "keras"`` (the marker that tells the two formats apart); the weights file
carries root attributes ``epochal_format``, ``epochal_weights_sha256`` (checked on reading)
and, for an optimizer whose state Keras' ``optimizer/vars`` cannot hold, the full state in
an ``epochal_optimizer`` group. Adam and AdamW moments are written once, in Keras'
``optimizer/vars`` (iterations, learning rate, each weight's two moments), which both Keras
and epochal restore.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from epochal import losses as losses_module
from epochal import metrics as metrics_module
from epochal import optimizers as optimizers_module
from epochal._io import atomic_write
from epochal._version import __version__
from epochal.layers import LAYER_CLASSES, InputLayer, Layer
from epochal.saving import _tree
from epochal.saving._bundle import digest, to_numpy
from epochal.saving.keras_format import keras_layer_paths

__all__ = ["KERAS_TARGET_VERSION", "keras_obstacle", "write_keras_model", "write_keras_weights"]

#: The Keras version whose schema the files follow (written as ``keras_version``).
KERAS_TARGET_VERSION = "3.15.1"
MARKER = "keras"
_POLICY = {
    "module": "keras",
    "class_name": "DTypePolicy",
    "config": {"name": "float32"},
    "registered_name": None,
}
_OPTIMIZER_KEYS = {"betas": None, "eps": "epsilon", "alpha": "rho"}


class NotKerasExpressible(ValueError):
    """The model has a piece Keras' format cannot hold (the message names it)."""


def _layer_entry(layer: Any) -> dict[str, Any]:
    name = type(layer).__name__
    if not isinstance(layer, Layer) or LAYER_CLASSES.get(name) is not type(layer):
        raise NotKerasExpressible(
            f"the layer {getattr(layer, 'name', name)!r} is a {name}, not one of epochal's "
            "built-in layers that Keras also has"
        )
    config = dict(layer.get_config())
    config.pop("input_shape", None)
    for key, value in config.items():
        if key in ("activation", "recurrent_activation") and value == "custom":
            raise NotKerasExpressible(
                f"the layer {layer.name!r} has a custom {key} function, which Keras cannot rebuild"
            )
        if isinstance(value, dict) and value.get("class_name") == "__lambda__":
            raise NotKerasExpressible(
                f"the Lambda layer {layer.name!r} wraps a Python lambda, which Keras can only "
                "rebuild from its code (epochal writes functions by name only)"
            )
        if key in ("layer", "backward_layer") and isinstance(value, dict):
            sub = getattr(layer, "forward_layer" if key == "layer" else key, None)
            config[key] = _layer_entry(sub) if isinstance(sub, Layer) else value
    if isinstance(layer, InputLayer):
        config.pop("trainable", None)
        config.setdefault("ragged", False)
        config.setdefault("optional", False)
    else:
        config["dtype"] = dict(_POLICY)
    return {"module": "keras.layers", "class_name": name, "config": config, "registered_name": None}


def _input_entry(model: Any) -> dict[str, Any] | None:
    shape = model.declared_input_shape()
    if shape is None and model.build_input_shape is not None:
        shape = model.build_input_shape[0]
    if shape is None:
        return None
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": [None, *shape],
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": "input_layer",
            "optional": False,
        },
        "registered_name": None,
    }


def model_entry(model: Any) -> dict[str, Any]:
    """The architecture in Keras 3's ``config.json`` schema."""
    kind = type(model).__name__
    if kind == "Sequential":
        layers = [_layer_entry(layer) for layer in model.layers]
        if not (layers and layers[0]["class_name"] == "InputLayer"):
            first = _input_entry(model)
            if first is None:
                raise NotKerasExpressible("the model is not built (no input shape is known)")
            layers.insert(0, first)
        shape = layers[0]["config"]["batch_shape"]
        config: dict[str, Any] = {
            "name": model.name,
            "trainable": True,
            "dtype": dict(_POLICY),
            "layers": layers,
        }
        return {
            "module": "keras",
            "class_name": "Sequential",
            "config": config,
            "registered_name": None,
            "build_config": {"input_shape": shape},
        }
    if kind == "Functional":
        for layer in model.layers:
            if hasattr(layer, "module") and hasattr(layer, "layers"):
                raise NotKerasExpressible(
                    f"the nested model {layer.name!r} is not written in Keras' format yet"
                )
        config = model.architecture(_layer_entry)
        for entry in config["layers"]:
            entry["config"].setdefault("name", entry["name"])
        return {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": config,
            "registered_name": None,
        }
    raise NotKerasExpressible(
        f"a {kind} is not a Sequential or functional model (Keras cannot rebuild its module)"
    )


def _named(value: Any, module: Any, where: str, keras_module: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    cls = type(value)
    if getattr(module, cls.__name__, None) is cls and hasattr(value, "get_config"):
        if cls.__name__ in ("Loss", "MeanMetricWrapper"):
            raise NotKerasExpressible(f"the {where} {value!r} is a wrapped function")
        return {
            "module": keras_module,
            "class_name": cls.__name__,
            "config": value.get_config(),
            "registered_name": None,
        }
    if isinstance(value, type):
        class_name = str(value.__name__)
        if getattr(module, class_name, None) is value:
            return {"module": keras_module, "class_name": class_name, "config": {}}
    raise NotKerasExpressible(
        f"the {where} {getattr(value, '__name__', value)!r} is not a Keras name or class"
    )


def optimizer_entry(optimizer: Any) -> dict[str, Any]:
    cls = type(optimizer)
    if cls not in optimizers_module._BY_NAME.values():
        raise NotKerasExpressible(f"the optimizer {optimizer!r} is not one of Keras' optimizers")
    if getattr(optimizer, "decay", 0.0):
        raise NotKerasExpressible("the optimizer uses Keras 2's `decay`, which Keras 3 refuses")
    config = dict(optimizer.get_config())
    config.pop("decay", None)
    if not isinstance(config.get("learning_rate"), int | float):
        raise NotKerasExpressible("the learning-rate schedule is not written in Keras' format yet")
    for key in list(config):
        if key in _OPTIMIZER_KEYS:
            value = config.pop(key)
            if key == "betas":
                config["beta_1"], config["beta_2"] = value
            else:
                config[_OPTIMIZER_KEYS[key] or key] = value
    return {
        "module": "keras.optimizers",
        "class_name": cls.__name__,
        "config": config,
        "registered_name": None,
    }


def compile_entry(model: Any) -> dict[str, Any] | None:
    if not model.compiled or model.optimizer is None:
        return None
    raw = model.compile_settings
    if raw.get("loss_weights") is not None or isinstance(raw.get("loss"), dict | list):
        raise NotKerasExpressible("per-output losses are not written in Keras' format yet")
    return {
        "optimizer": optimizer_entry(model.optimizer),
        "loss": _named(raw.get("loss"), losses_module, "loss", "keras.losses"),
        "loss_weights": None,
        "metrics": [
            _named(m, metrics_module, "metric", "keras.metrics") for m in raw.get("metrics") or []
        ],
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def keras_obstacle(model: Any, whole: bool) -> str | None:
    """Why ``model`` cannot be written in Keras' format (`None` when it can)."""
    try:
        if whole:
            model_entry(model)
            compile_entry(model)
        else:
            keras_layer_paths(model)
            for _, layer in keras_layer_paths(model):
                if not isinstance(layer, Layer):
                    raise NotKerasExpressible(f"{type(layer).__name__} is not an epochal layer")
    except NotKerasExpressible as exc:
        return str(exc)
    except TypeError as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------- weights file
def _own_and_children(layer: Any) -> tuple[list[torch.Tensor], dict[str, Any]]:
    """A layer's own variables and its Keras sub-objects (``cell`` of a recurrent layer,
    ``forward_layer``/``backward_layer`` of Bidirectional, ``layer`` of TimeDistributed)."""
    name = type(layer).__name__
    if name in ("SimpleRNN", "LSTM", "GRU"):
        return [], {"cell": list(layer.weights)}
    if name == "Bidirectional":
        return [], {
            "forward_layer": layer.forward_layer,
            "backward_layer": layer.backward_layer,
        }
    if name == "TimeDistributed":
        return [], {"layer": layer.layer}
    if name == "MultiHeadAttention":
        keys = ("query_dense", "key_dense", "gate_dense", "value_dense", "output_dense")
        children: dict[str, Any] = {k: getattr(layer, k) for k in keys if hasattr(layer, k)}
        return [], {**children, "_softmax": [], "_dropout_layer": []}
    return list(layer.weights), {}


def _write_vars(group: h5py.Group, tensors: list[torch.Tensor], name: str) -> None:
    variables = group.create_group("vars")
    variables.attrs["name"] = name
    for index, tensor in enumerate(tensors):
        array, raw = to_numpy(tensor)
        if raw is not None:
            array = tensor.detach().float().cpu().numpy()
        variables.create_dataset(str(index), data=array)


def _write_layer(group: h5py.Group, layer: Any) -> None:
    own, children = _own_and_children(layer)
    _write_vars(group, own, str(getattr(layer, "name", type(layer).__name__)))
    for key, child in children.items():
        sub = group.create_group(key)
        if isinstance(child, list):  # a recurrent layer's cell, or a weightless sub-layer
            _write_vars(sub, child, f"{layer.name}_cell" if key == "cell" else key.strip("_"))
        else:
            _write_layer(sub, child)


def _keras_slots(model: Any) -> list[np.ndarray] | None:
    """Adam/AdamW's variables in Keras' order: iterations, learning rate, with ``use_ema``
    each trainable weight's average, then each trainable weight's first and second moments."""
    optimizer = model.optimizer
    torch_opt = getattr(optimizer, "torch_optimizer", None)
    if type(optimizer).__name__ not in ("Adam", "AdamW") or torch_opt is None:
        return None
    if optimizer.torch_kwargs.get("amsgrad"):
        return None  # Keras keeps no maximum of the second moments: epochal's own copy
    slots: list[np.ndarray] = [
        np.asarray(optimizer.iterations, dtype=np.int64),
        np.asarray(float(optimizer._base_rate()), dtype=np.float32),
    ]
    trainable = [
        weight
        for _, layer in keras_layer_paths(model)
        for weight in getattr(layer, "trainable_weights", [])
    ]
    averages = optimizer.ema_variables if getattr(optimizer, "use_ema", False) else None
    if averages is not None:
        params = [p for g in torch_opt.param_groups for p in g["params"]]
        by_param = {id(p): a for p, a in zip(params, averages, strict=True)}
        for weight in trainable:
            average = by_param.get(id(weight))
            slots.append(
                np.zeros(tuple(weight.shape), np.float32)
                if average is None
                else average.detach().cpu().numpy()
            )
    for weight in trainable:
        state = torch_opt.state.get(weight, {})
        for key in ("exp_avg", "exp_avg_sq"):
            value = state.get(key)
            slots.append(
                np.zeros(tuple(weight.shape), np.float32)
                if value is None
                else value.detach().cpu().numpy()
            )
    return slots


def weights_h5(model: Any, with_optimizer: bool) -> bytes:
    """Keras 3's weights layout for ``model`` (``layers/<path>/vars/<i>``), plus epochal's
    marker, checksum and optimizer state where Keras does not look."""
    buffer = io.BytesIO()
    tensors: list[tuple[str, torch.Tensor]] = []
    with h5py.File(buffer, "w") as f:
        f.attrs["epochal_format"] = MARKER
        f.attrs["epochal_version"] = __version__
        layers = f.create_group("layers")
        for path, layer in keras_layer_paths(model):
            group = layers.require_group(path)
            _write_layer(group, layer)
            weights: list[torch.Tensor] = getattr(layer, "weights", [])
            tensors.extend((f"{path}/{i}", t) for i, t in enumerate(weights))
        _write_vars(f, [], model.name)
        f.attrs["epochal_weights_sha256"] = digest(
            sorted((n, t.detach().cpu()) for n, t in tensors)
        )
        optimizer = model.optimizer
        slots = None
        if with_optimizer and optimizer is not None and optimizer.built:
            slots = _keras_slots(model)
            if slots is not None:
                group = f.create_group("optimizer").create_group("vars")
                group.attrs["name"] = optimizer.name
                for index, array in enumerate(slots):
                    group.create_dataset(str(index), data=array)
        if with_optimizer and optimizer is not None and optimizer.built and slots is None:
            # Keras has no counterpart for this optimizer's state: epochal's own copy
            stored: dict[str, torch.Tensor] = {}
            state = _tree.encode(optimizer.state_dict(), "", stored)
            extra = f.create_group("epochal_optimizer")
            extra.attrs["optimizer_state"] = json.dumps(state)
            extra.attrs["tensor_names"] = json.dumps(list(stored))
            extra.attrs["tensors_sha256"] = digest(stored.items())
            for index, tensor in enumerate(stored.values()):
                array, raw = to_numpy(tensor)
                dataset = extra.create_dataset(f"t{index}", data=array)
                if raw is not None:
                    dataset.attrs["torch_dtype"] = raw
    return buffer.getvalue()


def _write(path: str | os.PathLike[str], produce: Callable[[Path], None]) -> Path:
    return atomic_write(path, produce)


def write_keras_weights(path: str | os.PathLike[str], model: Any) -> Path:
    """Writes ``model``'s weights as Keras 3's ``.weights.h5`` (atomically)."""
    data = weights_h5(model, with_optimizer=False)

    def produce(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    return _write(path, produce)


def write_keras_model(path: str | os.PathLike[str], model: Any) -> Path:
    """Writes ``model`` as a Keras 3 ``.keras`` archive (atomically)."""
    config = model_entry(model)
    compiled = compile_entry(model)
    if compiled is not None:
        config["compile_config"] = compiled
    metadata = {
        "keras_version": KERAS_TARGET_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "epochal_version": __version__,
        "epochal_format": MARKER,
    }
    weights = weights_h5(model, with_optimizer=True)

    def produce(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("metadata.json", json.dumps(metadata))
            zf.writestr("config.json", json.dumps(config))
            zf.writestr("model.weights.h5", weights)

    return _write(path, produce)
