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
from dataclasses import dataclass
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
from epochal.optimizers import schedules as schedules_module
from epochal.saving import _tree
from epochal.saving._bundle import digest, to_numpy
from epochal.saving.keras_format import _CHILD_ORDER, keras_layer_paths

__all__ = [
    "KERAS_TARGET_VERSION",
    "KerasSnapshot",
    "keras_obstacle",
    "snapshot",
    "write_keras_model",
    "write_keras_weights",
    "write_snapshot",
]

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
    if config.get("use_cudnn") == "auto":
        config.pop("use_cudnn")  # Keras' recurrent layers do not write their default
    if name == "SimpleRNN" and config.get("seed") is None:
        config.pop("seed", None)  # nor does Keras' SimpleRNN write its seed
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
            if key == "backward_layer":
                sub = getattr(layer, "backward_layer", None)
            else:  # Bidirectional keeps the wrapped layer as forward_layer
                sub = getattr(layer, "forward_layer", None) or getattr(layer, "layer", None)
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
    rate = config.get("learning_rate")
    if isinstance(rate, dict):  # a schedule, serialized as Keras serializes it
        schedule = optimizer.schedule
        if getattr(schedules_module, type(schedule).__name__, None) is not type(schedule):
            raise NotKerasExpressible(
                f"the learning-rate schedule {type(schedule).__name__} is not one of Keras' "
                "schedules"
            )
    elif not isinstance(rate, int | float):
        raise NotKerasExpressible(f"the learning rate {rate!r} cannot be written for Keras")
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


def _per_output(value: Any, one: Callable[[Any], Any]) -> Any:
    """A setting given once, or per output as a list or a dict, each entry written by
    ``one`` (Keras writes the same shapes)."""
    if isinstance(value, dict):
        return {str(k): None if v is None else _per_output(v, one) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [None if v is None else _per_output(v, one) for v in value]
    return one(value)


def compile_entry(model: Any) -> dict[str, Any] | None:
    if not model.compiled or model.optimizer is None:
        return None
    raw = model.compile_settings

    def loss(value: Any) -> Any:
        return _named(value, losses_module, "loss", "keras.losses")

    def metric(value: Any) -> Any:
        return _named(value, metrics_module, "metric", "keras.metrics")

    weights = raw.get("loss_weights")
    weighted = raw.get("weighted_metrics")
    return {
        "optimizer": optimizer_entry(model.optimizer),
        "loss": _per_output(raw.get("loss"), loss),
        "loss_weights": None if weights is None else _per_output(weights, float),
        "metrics": _per_output(list(raw.get("metrics") or []), metric)
        if not isinstance(raw.get("metrics"), dict)
        else _per_output(raw["metrics"], metric),
        "weighted_metrics": None if weighted is None else _per_output(weighted, metric),
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
            if type(getattr(model, "module", None)).__name__ == "CallModule":
                raise NotKerasExpressible(
                    f"a subclassed {type(model).__name__}'s weights are written in epochal's "
                    "layout (Keras names them by its attribute walk, which only Keras "
                    "rebuilds)"
                )
            for _, layer in keras_layer_paths(model):
                if not isinstance(layer, Layer):
                    raise NotKerasExpressible(f"{type(layer).__name__} is not an epochal layer")
    except NotKerasExpressible as exc:
        return str(exc)
    except TypeError as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------- weights file
@dataclass
class KerasSnapshot:
    """What a Keras-format file of a model holds, taken on the training thread: the JSON
    members already encoded, every tensor still a reference (``tensors``, a tree that
    :meth:`AsyncWriter.host_copy` can copy), and the layout to write them in.
    :func:`write_snapshot` turns it into the file, on any thread.

    ``tensors`` holds ``"layers"`` (one list of variables per group of the weights file),
    ``"slots"`` (Keras' optimizer variables, or `None`) and ``"optimizer"`` (epochal's
    optimizer state for an optimizer Keras' layout cannot hold, or `None`).
    """

    whole: bool
    model_name: str
    groups: list[tuple[str, str]]  # (group path under layers/, the vars' ``name`` attr)
    weighted: list[str]  # the layer paths (the checksum names each one's variables in order)
    tensors: dict[str, Any]
    optimizer_name: str | None = None
    config: str | None = None  # config.json (whole models)
    metadata: str | None = None  # metadata.json (whole models)


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


def _layer_groups(
    path: str, layer: Any, groups: list[tuple[str, str]], tensors: list[list[torch.Tensor]]
) -> None:
    own, children = _own_and_children(layer)
    groups.append((path, str(getattr(layer, "name", type(layer).__name__))))
    tensors.append(own)
    for key, child in children.items():
        if isinstance(child, list):  # a recurrent layer's cell, or a weightless sub-layer
            groups.append(
                (f"{path}/{key}", f"{layer.name}_cell" if key == "cell" else key.strip("_"))
            )
            tensors.append(child)
        else:
            _layer_groups(f"{path}/{key}", child, groups, tensors)


def _write_vars(group: h5py.Group, tensors: list[Any], name: str) -> None:
    variables = group.create_group("vars")
    variables.attrs["name"] = name
    for index, tensor in enumerate(tensors):
        if isinstance(tensor, np.ndarray):
            variables.create_dataset(str(index), data=tensor)
            continue
        array, raw = to_numpy(tensor)
        if raw is not None:
            array = tensor.detach().float().cpu().numpy()
        variables.create_dataset(str(index), data=array)


def _keras_slots(model: Any) -> list[Any] | None:
    """Adam/AdamW's variables in Keras' order: iterations, learning rate (not with a
    schedule), with ``use_ema`` each trainable weight's average, then each trainable
    weight's first and second moments (references; zeros where a weight has no state)."""
    optimizer = model.optimizer
    torch_opt = getattr(optimizer, "torch_optimizer", None)
    if type(optimizer).__name__ not in ("Adam", "AdamW") or torch_opt is None:
        return None
    if optimizer.torch_kwargs.get("amsgrad"):
        return None  # Keras keeps no maximum of the second moments: epochal's own copy
    slots: list[Any] = [np.asarray(optimizer.iterations, dtype=np.int64)]
    if optimizer.schedule is None:  # Keras keeps no rate variable beside a schedule
        slots.append(np.asarray(float(optimizer._base_rate()), dtype=np.float32))
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
            slots.append(np.zeros(tuple(weight.shape), np.float32) if average is None else average)
    for weight in trainable:
        state = torch_opt.state.get(weight, {})
        for key in ("exp_avg", "exp_avg_sq"):
            value = state.get(key)
            slots.append(np.zeros(tuple(weight.shape), np.float32) if value is None else value)
    return slots


def snapshot(model: Any, whole: bool) -> KerasSnapshot:
    """The Keras-format content of ``model`` (``whole``: a ``.keras`` archive, else a
    ``.weights.h5``), with live tensor references; cheap (no tensor is copied).

    Raises:
        NotKerasExpressible: naming what Keras' format cannot hold.
    """
    groups: list[tuple[str, str]] = []
    layer_tensors: list[list[torch.Tensor]] = []
    weighted: list[str] = []
    for path, layer in keras_layer_paths(model):
        weighted.append(path)
        _layer_groups(path, layer, groups, layer_tensors)
    snap = KerasSnapshot(
        whole=whole,
        model_name=str(model.name),
        groups=groups,
        weighted=weighted,
        tensors={"layers": layer_tensors, "slots": None, "optimizer": None},
    )
    optimizer = model.optimizer
    if optimizer is not None and optimizer.built:
        snap.optimizer_name = str(optimizer.name)
        snap.tensors["slots"] = _keras_slots(model)
        if whole and snap.tensors["slots"] is None:
            # Keras has no counterpart for this optimizer's state: epochal's own copy
            snap.tensors["optimizer"] = optimizer.state_dict()
    if whole:
        config = model_entry(model)
        compiled = compile_entry(model)
        if compiled is not None:
            config["compile_config"] = compiled
        snap.config = json.dumps(config)
        snap.metadata = json.dumps(
            {
                "keras_version": KERAS_TARGET_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "epochal_version": __version__,
                "epochal_format": MARKER,
            }
        )
    return snap


def encode_weights(snap: KerasSnapshot, tensors: dict[str, Any] | None = None) -> bytes:
    """The weights file of ``snap`` (Keras 3's ``layers/<path>/vars/<i>``, plus epochal's
    marker, checksum and optimizer state where Keras does not look), from ``tensors``
    (a host copy of ``snap.tensors``; defaults to them)."""
    tensors = snap.tensors if tensors is None else tensors
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["epochal_format"] = MARKER
        f.attrs["epochal_version"] = __version__
        layers = f.create_group("layers")
        for (path, name), variables in zip(snap.groups, tensors["layers"], strict=True):
            _write_vars(layers.require_group(path), variables, name)
        _write_vars(f, [], snap.model_name)
        checked = _checked(snap, tensors["layers"])
        f.attrs["epochal_weights_sha256"] = digest(sorted(checked, key=lambda item: item[0]))
        slots = tensors.get("slots")
        if slots is not None:
            group = f.create_group("optimizer").create_group("vars")
            group.attrs["name"] = snap.optimizer_name or "optimizer"
            for index, value in enumerate(slots):
                array = value if isinstance(value, np.ndarray) else value.detach().cpu().numpy()
                group.create_dataset(str(index), data=array)
        state = tensors.get("optimizer")
        if state is not None:
            stored: dict[str, torch.Tensor] = {}
            encoded = _tree.encode(state, "", stored)
            extra = f.create_group("epochal_optimizer")
            extra.attrs["optimizer_state"] = json.dumps(encoded)
            extra.attrs["tensor_names"] = json.dumps(list(stored))
            extra.attrs["tensors_sha256"] = digest(stored.items())
            for index, tensor in enumerate(stored.values()):
                array, raw = to_numpy(tensor)
                dataset = extra.create_dataset(f"t{index}", data=array)
                if raw is not None:
                    dataset.attrs["torch_dtype"] = raw
    return buffer.getvalue()


def _checked(snap: KerasSnapshot, variables: list[list[Any]]) -> list[tuple[str, torch.Tensor]]:
    """The tensors the checksum covers, named ``<layer path>/<i>`` with ``i`` counting each
    layer's variables in the order the reader flattens its group (own variables, then
    sub-groups: ``forward_layer``, ``backward_layer``, ``cell``, ``layer``, the rest sorted)."""
    by_group = dict(zip((g for g, _ in snap.groups), variables, strict=True))

    def flat(path: str) -> list[Any]:
        children = {g[len(path) + 1 :].split("/")[0] for g in by_group if g.startswith(path + "/")}
        order = [k for k in _CHILD_ORDER if k in children]
        order += sorted(k for k in children if k not in order)
        out = list(by_group.get(path, []))
        for key in order:
            out.extend(flat(f"{path}/{key}"))
        return out

    return [
        (f"{owner}/{i}", torch.as_tensor(value).detach().cpu())
        for owner in snap.weighted
        for i, value in enumerate(flat(owner))
    ]


def write_snapshot(
    path: str | os.PathLike[str], snap: KerasSnapshot, tensors: dict[str, Any] | None = None
) -> Path:
    """Writes ``snap`` (with ``tensors``, a host copy of its tensors) to ``path``
    atomically: the ``.keras`` archive or the ``.weights.h5``. Safe on a background
    thread: it reads only the snapshot."""
    weights = encode_weights(snap, tensors)
    if not snap.whole:

        def produce_weights(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                handle.write(weights)

        return atomic_write(path, produce_weights)
    assert snap.config is not None and snap.metadata is not None

    def produce(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("metadata.json", snap.metadata or "")
            zf.writestr("config.json", snap.config or "")
            zf.writestr("model.weights.h5", weights)

    return atomic_write(path, produce)


def write_keras_weights(path: str | os.PathLike[str], model: Any) -> Path:
    """Writes ``model``'s weights as Keras 3's ``.weights.h5`` (atomically), with Keras'
    optimizer variables when the optimizer is one whose state Keras' layout holds (as
    Keras' own ``save_weights`` does)."""
    return write_snapshot(path, snapshot(model, whole=False))


def write_keras_model(path: str | os.PathLike[str], model: Any) -> Path:
    """Writes ``model`` as a Keras 3 ``.keras`` archive (atomically)."""
    return write_snapshot(path, snapshot(model, whole=True))
