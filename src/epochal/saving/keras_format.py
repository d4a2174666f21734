"""Files Keras wrote: Keras 3 ``.keras`` and ``.weights.h5``, legacy HDF5 ``.h5``.

Reading turns a Keras file into what epochal's loaders need: the architecture (Keras'
``{module, class_name, config}`` schema mapped onto epochal's layers, which take Keras'
argument names), the weights keyed by the epochal model's own ``state_dict`` names, and the
compile settings. Three layouts are read:

- Keras 3 (inside ``.keras`` as ``model.weights.h5``, and ``.weights.h5``): one group per
  layer, ``layers/<path>/vars/<i>``, where ``<path>`` is the layer's class name in snake
  case made unique by a counter (``dense``, ``dense_1``, ...; not the layer's name), and
  sub-layers below it (``layers/lstm/cell/vars/0``);
- legacy HDF5 (Keras 2.x, tf.keras 2, Keras 3's ``model.save("x.h5")``): ``model_weights``
  with ``layer_names`` and per layer ``weight_names`` (``dense/kernel:0`` in tf.keras 2),
  the architecture in the root attribute ``model_config``.

Layers already keep Keras' layout (``Dense`` kernels ``(in, out)``, convolution kernels
``(kh, kw, in, out)``, recurrent kernels in Keras' gate order), so the weights are assigned
as stored, after every count and shape is checked. Anything epochal cannot honour (a class
it does not have, a non-default option it lacks) is refused with an error naming the layer
and the option, before the model is touched: never a partial or approximate load.

Security as everywhere in :mod:`epochal.saving`: only JSON and HDF5 are read, nothing is
unpickled, and the ``module`` field Keras writes is never imported: classes are looked up by
name among epochal's layers, ``custom_objects`` and the registered classes.
"""

from __future__ import annotations

import inspect
import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from epochal import optimizers as optimizers_module
from epochal.layers import LAYER_CLASSES, InputLayer, Layer
from epochal.saving import _tree
from epochal.saving._bundle import CheckpointError, Refused, digest_matches, from_numpy
from epochal.saving._h5 import dataset_array
from epochal.saving.protocol import model_class
from epochal.saving.serialization import get_registered_object

__all__ = [
    "KerasFile",
    "bundle_weights",
    "compile_from_keras",
    "keras_layer_paths",
    "model_from_keras",
    "read_keras_file",
    "restore_optimizer",
    "sniff",
]

logger = logging.getLogger("epochal.saving")

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_MEMBER_LIMIT = 1 << 40
_KERAS_MEMBERS = ("metadata.json", "config.json", "model.weights.h5")
_MAX_CONFIG_DEPTH = 64
# Keras options epochal's layers do not take, dropped only at these (Keras' default) values.
# Anything else is refused, naming the option. Values are compared after normalisation
# (initializers by name).
_TOLERATED: dict[str, tuple[Any, ...]] = {
    "sparse": (False, None),
    "ragged": (False, None),
    "optional": (False,),
    "synchronized": (False,),
    "renorm": (False,),
    "renorm_momentum": (0.99,),
    "center": (True,),
    "scale": (True,),
    "axis": (-1, [-1]),
    "beta_initializer": ("zeros",),
    "gamma_initializer": ("ones",),
    "moving_mean_initializer": ("zeros",),
    "moving_variance_initializer": ("ones",),
    "use_cudnn": ("auto",),
    "trainable": (True,),
    "unroll": (False,),
    "rms_scaling": (False,),
}
# Defaults of Keras' initializers: an initializer at its defaults is written by name.
_INITIALIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "Orthogonal": {"gain": 1.0},
    "RandomUniform": {"minval": -0.05, "maxval": 0.05},
    "RandomNormal": {"mean": 0.0, "stddev": 0.05},
    "TruncatedNormal": {"mean": 0.0, "stddev": 0.05},
    "GlorotUniform": {"input_axes": None, "output_axes": None},
    "GlorotNormal": {"input_axes": None, "output_axes": None},
}
_INITIALIZER_NAMES = {"RandomUniform": "uniform", "RandomNormal": "random_normal"}
# Optimizer options Keras writes that epochal's optimizers lack, at their defaults.
_OPTIMIZER_TOLERATED: dict[str, tuple[Any, ...]] = {
    "loss_scale_factor": (None,),
    "gradient_accumulation_steps": (None,),
    "jit_compile": (False, True),
    "is_legacy_optimizer": (False,),
}
# Sub-layer groups in the order their weights come in ``layer.weights`` (then the others);
# MultiHeadAttention's projections in the order Keras creates them.
_CHILD_ORDER = (
    "forward_layer",
    "backward_layer",
    "cell",
    "layer",
    "query_dense",
    "key_dense",
    "gate_dense",
    "value_dense",
    "output_dense",
)


def keras_snake_case(name: str) -> str:
    """Keras' automatic name for a class (``Conv2D`` -> ``conv2d``, ``LSTM`` -> ``lstm``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


# ---------------------------------------------------------------------------- reading
@dataclass
class _Node:
    """One saved object of the Keras 3 layout: its variables and its sub-objects."""

    name: str | None
    arrays: list[np.ndarray] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)


@dataclass
class KerasFile:
    """What a Keras file holds, read and checked, before any model is touched.

    Attributes:
        kind: ``"keras"`` (a ``.keras`` zip), ``"weights"`` (Keras 3 ``.weights.h5``) or
            ``"legacy"`` (legacy HDF5).
        model_config: The architecture in Keras' schema, or `None` (weights only).
        compile_config: Keras 3's ``compile_config`` (legacy ``training_config`` mapped to
            it), or `None`.
        layers: Keras 3 layout: the saved layer objects by path (``dense_1``).
        roots: Keras 3 layout: other groups at the root (a subclassed model's attributes).
        legacy_layers: legacy layout: ``(layer name, arrays)`` in the file's order.
        optimizer: The optimizer's variables in Keras' order, or `None`.
        keras_version: The writer's version, when recorded.
    """

    kind: str
    model_config: dict[str, Any] | None = None
    compile_config: dict[str, Any] | None = None
    layers: dict[str, _Node] = field(default_factory=dict)
    roots: dict[str, _Node] = field(default_factory=dict)
    legacy_layers: list[tuple[str, list[np.ndarray]]] = field(default_factory=list)
    optimizer: list[np.ndarray] | None = None
    keras_version: str | None = None
    epochal: dict[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [_text(v) for v in np.asarray(value).reshape(-1).tolist()]


def _array(group: h5py.Group, key: str, what: str) -> np.ndarray:
    link = group.get(key, getlink=True)
    if link is not None and not isinstance(link, h5py.HardLink):
        raise Refused(f"{what} is a {type(link).__name__}, not stored data")
    dataset = group.get(key)
    if not isinstance(dataset, h5py.Dataset):
        raise Refused(f"{what} is missing")
    if dataset.is_virtual or dataset.external:
        raise Refused(f"{what} is a virtual or external dataset; only stored data is read")
    if dataset.dtype.kind not in "biuf":
        raise Refused(f"{what} has dtype {dataset.dtype}; accepted: numeric tensors")
    return dataset_array(dataset)  # memory-mapped when large and stored plainly


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    array = np.asarray(array)
    return torch.from_numpy(array if array.flags.c_contiguous else np.array(array))


def _tensor(group: h5py.Group, key: str, what: str) -> torch.Tensor:
    raw = group[key].attrs.get("torch_dtype") if key in group else None
    return from_numpy(_array(group, key, what), None if raw is None else _text(raw))


def sniff(path: str | os.PathLike[str]) -> str | None:
    """``"keras"``, ``"weights"`` or ``"legacy"`` for a file Keras wrote (or epochal wrote
    in Keras' format), `None` for anything else (epochal's own files included)."""
    target = Path(path)
    if not target.is_file():
        return None
    with open(target, "rb") as handle:
        head = handle.read(8)
    try:
        if head.startswith(b"PK"):
            with zipfile.ZipFile(target) as zf:
                if "metadata.json" not in zf.namelist():
                    return None
                info = zf.getinfo("metadata.json")
                if info.file_size > 1 << 20:
                    return None
                metadata = json.loads(zf.read(info).decode("utf-8"))
            if isinstance(metadata, dict) and metadata.get("format") != "epochal":
                return "keras" if "keras_version" in metadata else None
            return None
        if head == _HDF5_MAGIC:
            with h5py.File(target, "r") as f:
                if f.attrs.get("epochal_format") is not None and "layers" not in f:
                    return None
                if "layers" in f or "vars" in f:
                    return "weights"
                group = f.get("model_weights", f)
                if "layer_names" in group.attrs:
                    return "legacy"
    except Exception:
        return None  # not readable as a Keras file: epochal's readers report it
    return None


def _read_node(group: h5py.Group, where: str) -> _Node:
    node = _Node(name=None)
    variables = group.get("vars")
    if isinstance(variables, h5py.Group):
        name = variables.attrs.get("name")
        node.name = None if name is None else _text(name)
        keys = sorted(variables.keys(), key=lambda k: int(k) if k.isdigit() else 1 << 30)
        node.arrays = [_array(variables, k, f"the variable {where}/vars/{k}") for k in keys]
    for key in group:
        child = group.get(key, getlink=True)
        if key != "vars" and isinstance(child, h5py.HardLink):
            sub = group[key]
            if isinstance(sub, h5py.Group):
                node.children[key] = _read_node(sub, f"{where}/{key}")
    return node


def _read_v3_h5(source: Any, kfile: KerasFile, optimizer_state: bool) -> None:
    with h5py.File(source, "r") as f:
        layers = f.get("layers")
        if isinstance(layers, h5py.Group):
            kfile.layers = {k: _read_node(layers[k], f"layers/{k}") for k in layers}
        for key in f:
            if key in ("layers", "optimizer", "vars", "epochal_optimizer"):
                continue
            if isinstance(f.get(key, getlink=True), h5py.HardLink) and isinstance(
                f[key], h5py.Group
            ):
                kfile.roots[key] = _read_node(f[key], key)
        optimizer = f.get("optimizer") if optimizer_state else None
        if isinstance(optimizer, h5py.Group):
            kfile.optimizer = _read_node(optimizer, "optimizer").arrays
        expected = f.attrs.get("epochal_weights_sha256")
        if expected is not None:  # written by epochal: the checksum it recorded must match
            stored = sorted(
                (f"{key}/{i}", _as_tensor(a))
                for key, node in kfile.layers.items()
                for i, a in enumerate(_flatten(node))
            )
            if not digest_matches(stored, _text(expected)):
                raise Refused("the tensor data is corrupt (epochal_weights_sha256 does not match)")
        extra = f.get("epochal_optimizer") if optimizer_state else None
        if isinstance(extra, h5py.Group):
            names = json.loads(_text(extra.attrs["tensor_names"]))
            tensors = {
                n: _tensor(extra, f"t{i}", f"the optimizer tensor {n}") for i, n in enumerate(names)
            }
            if not digest_matches(tensors.items(), extra.attrs.get("tensors_sha256")):
                raise Refused("the optimizer state is corrupt (tensors_sha256 does not match)")
            state = json.loads(_text(extra.attrs["optimizer_state"]))
            kfile.epochal["optimizer"] = _tree.decode(state, tensors)


def _legacy_compile(training: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not training:
        return None
    return {
        "optimizer": training.get("optimizer_config"),
        "loss": training.get("loss"),
        "metrics": training.get("metrics"),
        "loss_weights": training.get("loss_weights"),
        "weighted_metrics": training.get("weighted_metrics"),
    }


def _read_legacy(path: Path, kfile: KerasFile, optimizer_state: bool) -> None:
    with h5py.File(path, "r") as f:
        kfile.keras_version = (
            _text(f.attrs["keras_version"]) if "keras_version" in f.attrs else None
        )
        if "model_config" in f.attrs:
            kfile.model_config = json.loads(_text(f.attrs["model_config"]))
        if "training_config" in f.attrs:
            kfile.compile_config = _legacy_compile(json.loads(_text(f.attrs["training_config"])))
        group = f.get("model_weights", f)
        for name in _names(group.attrs.get("layer_names")):
            layer = group.get(name)
            if not isinstance(layer, h5py.Group):
                raise Refused(f"the legacy weights of layer {name!r} are missing")
            weights = _names(layer.attrs.get("weight_names"))
            arrays = [_array(layer, w, f"the weight {name}/{w}") for w in weights]
            kfile.legacy_layers.append((name, arrays))
        optimizer = f.get("optimizer_weights") if optimizer_state else None
        if isinstance(optimizer, h5py.Group):
            names = _names(optimizer.attrs.get("weight_names"))
            kfile.optimizer = [_array(optimizer, n, f"the optimizer weight {n}") for n in names]


def read_keras_file(
    path: str | os.PathLike[str], kind: str, optimizer_state: bool = True
) -> KerasFile:
    """Reads a file :func:`sniff` recognised (the optimizer's variables only when
    ``optimizer_state``: ``load_weights`` skips them).

    Raises:
        CheckpointError: naming the part of the file that cannot be read.
    """
    target = Path(path)
    kfile = KerasFile(kind=kind)
    part = "the file"
    try:
        if kind == "keras":
            with zipfile.ZipFile(target) as zf:
                names = zf.namelist()
                unexpected = [n for n in names if n not in _KERAS_MEMBERS]
                if unexpected:
                    raise CheckpointError(
                        path,
                        f"unexpected member(s) {unexpected} in the .keras archive, which "
                        "epochal does not read (assets, pickles); only "
                        f"{list(_KERAS_MEMBERS)} are read, and nothing is ever unpickled",
                    )
                for member in ("config.json", "model.weights.h5"):
                    if member not in names:
                        raise CheckpointError(path, f"the .keras archive has no {member}")
                part = "metadata.json"
                metadata = json.loads(_member(zf, "metadata.json", path))
                kfile.keras_version = metadata.get("keras_version")
                kfile.epochal = {k: v for k, v in metadata.items() if k.startswith("epochal")}
                part = "config.json"
                config = json.loads(_member(zf, "config.json", path))
                if not isinstance(config, dict):
                    raise CheckpointError(path, "config.json is not a JSON object")
                if _depth(config) > _MAX_CONFIG_DEPTH:
                    raise CheckpointError(
                        path, f"config.json is nested too deeply ({_MAX_CONFIG_DEPTH}+ levels)"
                    )
                kfile.model_config = config
                kfile.compile_config = config.get("compile_config")
                part = "model.weights.h5"
                _read_v3_h5(
                    io.BytesIO(_member(zf, "model.weights.h5", path)), kfile, optimizer_state
                )
        elif kind == "weights":
            part = "the Keras 3 weights layout"
            _read_v3_h5(target, kfile, optimizer_state)
        else:
            part = "the legacy HDF5 layout"
            _read_legacy(target, kfile, optimizer_state)
    except CheckpointError:
        raise
    except Refused as exc:
        raise CheckpointError(path, f"in {part}: {exc}") from exc
    except RecursionError as exc:
        raise CheckpointError(
            path, f"{part} is nested too deeply to be a model config; refusing it"
        ) from exc
    except Exception as exc:
        raise CheckpointError(
            path,
            f"it is a Keras file, but {part} cannot be read ({type(exc).__name__}: {exc})",
        ) from exc
    return kfile


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def _member(zf: zipfile.ZipFile, name: str, path: Any) -> bytes:
    info = zf.getinfo(name)
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _MEMBER_LIMIT or (info.file_size > 64 << 20 and ratio > 200):
        raise CheckpointError(path, f"the member {name!r} inflates too far (a zip bomb?)")
    with zf.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise CheckpointError(path, f"the member {name!r} is larger than its header says")
    return data


# ---------------------------------------------------------------------------- architecture
def _strip(value: Any) -> Any:
    """A serialized Keras object without the fields epochal never reads (``module`` is
    never imported; ``registered_name`` and ``shared_object_id`` are bookkeeping)."""
    if isinstance(value, dict):
        return {
            k: _strip(v)
            for k, v in value.items()
            if k not in ("module", "registered_name", "shared_object_id")
        }
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _initializer(value: Any) -> Any:
    if not (isinstance(value, dict) and "class_name" in value):
        return value
    name = str(value["class_name"])
    config = dict(value.get("config") or {})
    defaults = _INITIALIZER_DEFAULTS.get(name, {})
    if all(v is None or defaults.get(k, object()) == v for k, v in config.items()):
        return _INITIALIZER_NAMES.get(name, keras_snake_case(name))
    return {"class_name": name, "config": config}


def _dtype_name(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    return None if value is None else str(value)


def _accepted(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {
            p.name
            for p in params
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        }
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
        if klass is Layer:
            break
    names.discard("self")
    return names


def _refuse(path: Any, layer: str, class_name: str, reason: str) -> CheckpointError:
    return CheckpointError(path, f"the Keras layer {layer!r} ({class_name}): {reason}")


def _layer_class(class_name: str, custom_objects: Mapping[str, Any] | None) -> Any:
    return get_registered_object(class_name, custom_objects) or LAYER_CLASSES.get(class_name)


def _layer_config(
    entry: Mapping[str, Any], custom_objects: Mapping[str, Any] | None, path: Any
) -> tuple[Any, dict[str, Any]]:
    """(epochal class, constructor arguments) for one Keras layer entry."""
    entry = _strip(entry)
    class_name = str(entry.get("class_name"))
    raw = dict(entry.get("config") or {})
    name = str(raw.get("name") or entry.get("name") or class_name)
    cls = _layer_class(class_name, custom_objects)
    if cls is None:
        raise _refuse(
            path,
            name,
            class_name,
            f"epochal has no layer class {class_name!r}; pass one in "
            f"load_model(..., custom_objects={{{class_name!r}: ...}}) or register it",
        )
    custom = get_registered_object(class_name, custom_objects) is not None
    resolve = getattr(cls, "resolve_functions", None)
    if resolve is not None:  # Lambda: its functions by name, never Keras' marshalled code
        try:
            raw = resolve(raw, lambda key: get_registered_object(key, custom_objects))
        except ValueError as exc:
            raise _refuse(path, name, class_name, str(exc)) from exc
    config: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "dtype" and cls is not InputLayer:
            dtype = _dtype_name(value)
            if dtype not in (None, "float32"):
                raise _refuse(
                    path,
                    name,
                    class_name,
                    f"dtype={dtype!r} cannot be honoured (epochal layers compute in float32; "
                    "mixed precision is a compile/fit option)",
                )
            continue
        if key == "batch_input_shape":
            config["input_shape"] = list(value[1:])
            continue
        if key.endswith("_initializer"):
            value = _initializer(value)
        elif key in ("layer", "backward_layer") and isinstance(value, dict):
            sub_cls, sub_config = _layer_config(value, custom_objects, path)
            value = sub_cls(**sub_config) if custom else _rebuilt(sub_cls, sub_config, path, value)
        elif key in ("activation", "recurrent_activation") and isinstance(value, dict):
            fn_name = str(value.get("class_name") or value.get("config", {}).get("name"))
            fn = get_registered_object(fn_name, custom_objects)
            if fn is None:
                raise _refuse(
                    path, name, class_name, f"the activation {fn_name!r} is not known to epochal"
                )
            value = fn
        config[key] = value
    if custom:
        return cls, config
    accepted = _accepted(cls)
    for key in list(config):
        if key in accepted:
            continue
        value = config.pop(key)
        if value is None or value in _TOLERATED.get(key, ()):
            continue
        raise _refuse(
            path,
            name,
            class_name,
            f"the option {key}={value!r} is not supported by epochal's {class_name} "
            "(only its Keras default is accepted); refusing an approximate load",
        )
    return cls, config


def _rebuilt(cls: Any, config: dict[str, Any], path: Any, entry: Mapping[str, Any]) -> Any:
    name = str(config.get("name") or entry.get("class_name"))
    try:
        return cls(**config)
    except (TypeError, ValueError, NotImplementedError) as exc:
        raise _refuse(path, name, str(entry.get("class_name")), str(exc)) from exc


def _keras2_nodes(inbound: Any) -> list[dict[str, Any]]:
    """Keras 2 ``inbound_nodes`` (``[[["dense", 0, 0, {}], ...]]``) in Keras 3's form."""
    nodes = []
    for node in inbound:
        if isinstance(node, dict):
            nodes.append(node)
            continue
        specs = []
        kwargs: dict[str, Any] = {}
        for item in node:
            layer, index, tensor = item[0], item[1], item[2]
            if len(item) > 3 and item[3]:
                kwargs.update(item[3])
            specs.append(
                {
                    "class_name": "__keras_tensor__",
                    "config": {"keras_history": [layer, index, tensor]},
                }
            )
        nodes.append({"args": [specs[0]] if len(specs) == 1 else [specs], "kwargs": kwargs})
    return nodes


def _endpoints(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return value if len(value) > 1 else value[0]
    return value


def model_from_keras(
    config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None, path: Any
) -> Any:
    """An unbuilt, uncompiled epochal model for a Keras architecture (Sequential or
    functional), or a :class:`CheckpointError` naming what epochal cannot build."""
    raw = config
    config = _strip(config)
    class_name = str(config.get("class_name"))
    inner = dict(config.get("config") or {})
    if class_name == "Model" and "layers" in inner:
        class_name = "Functional"
    cls = model_class(class_name)
    if cls is None or class_name not in ("Sequential", "Functional"):
        return _subclassed_from_keras(raw, custom_objects, path)

    def build(entry: Mapping[str, Any]) -> nn.Module:
        if entry.get("class_name") in ("Sequential", "Functional", "Model"):
            return model_from_keras(entry, custom_objects, path)
        layer_cls, layer_config = _layer_config(entry, custom_objects, path)
        return _rebuilt(layer_cls, layer_config, path, entry)

    try:
        if class_name == "Sequential":
            layers = list(inner.get("layers") or [])
            return cls.from_architecture({"name": inner.get("name"), "layers": layers}, build)
        entries = []
        for entry in inner.get("layers") or []:
            entry = dict(entry)
            entry["name"] = entry.get("name") or (entry.get("config") or {}).get("name")
            entry["inbound_nodes"] = _keras2_nodes(entry.get("inbound_nodes") or [])
            entries.append(entry)
        arch = {
            "name": inner.get("name"),
            "trainable": inner.get("trainable", True),
            "layers": entries,
            "input_layers": _endpoints(inner.get("input_layers")),
            "output_layers": _endpoints(inner.get("output_layers")),
        }
        return cls.from_architecture(arch, lambda entry: _functional_entry(entry, build))
    except CheckpointError:
        raise
    except (TypeError, ValueError, KeyError, NotImplementedError) as exc:
        raise CheckpointError(
            path, f"the Keras architecture cannot be rebuilt ({type(exc).__name__}: {exc})"
        ) from exc


def _subclassed_from_keras(
    config: Mapping[str, Any], custom_objects: Mapping[str, Any] | None, path: Any
) -> Any:
    """A subclassed Keras model (its own class, registered in Keras): rebuilt only from the
    epochal class ``custom_objects`` (or ``register_serializable``) gives for its registered
    name or class name, with that class' ``from_config``. The ``module`` the file names is
    never imported."""
    class_name = str(config.get("class_name"))
    registered = config.get("registered_name")
    names = [n for n in (registered, class_name) if isinstance(n, str) and n]
    cls = next((c for n in names if (c := get_registered_object(n, custom_objects))), None)
    if cls is None or not isinstance(cls, type) or not hasattr(cls, "compile"):
        found = "" if cls is None else f" (custom_objects gives {cls!r}, not a model class)"
        raise CheckpointError(
            path,
            f"the Keras model class {class_name!r} (registered as {registered!r}) is a "
            f"subclassed model epochal cannot rebuild by itself{found}; pass the epochal "
            f"Model subclass in load_model(..., custom_objects={{{names[0]!r}: YourModel}}) "
            "(it needs get_config/from_config), or build the model in code and call "
            "load_weights(). The module named in the file is never imported.",
        )
    inner = dict(_strip(config.get("config") or {}))
    dtype = _dtype_name(inner.pop("dtype", None))
    if dtype not in (None, "float32"):
        raise CheckpointError(
            path, f"the Keras model {class_name!r}: dtype={dtype!r} cannot be honoured"
        )
    try:
        make = getattr(cls, "from_config", None)
        return make(inner) if callable(make) else cls(**inner)
    except (TypeError, ValueError, NotImplementedError) as exc:
        raise CheckpointError(
            path,
            f"the Keras model class {class_name!r} cannot be rebuilt by {cls.__name__}"
            f".from_config ({type(exc).__name__}: {exc})",
        ) from exc


def _functional_entry(entry: Mapping[str, Any], build: Any) -> nn.Module:
    return build(entry)


# ---------------------------------------------------------------------------- weights
def keras_layer_paths(model: Any) -> list[tuple[str, nn.Module]]:
    """The Keras 3 weight paths of ``model``'s layers (``dense``, ``dense_1``, nested models
    as ``sequential/layers/dense``), in Keras' order."""
    layers = getattr(model, "layers", None)
    if layers is None:
        raise TypeError(f"a {type(model).__name__} wrapping a torch module has no Keras layer list")
    if type(getattr(model, "module", None)).__name__ == "CallModule":
        return _subclassed_paths(model)
    sequential = type(model).__name__ == "Sequential"
    used: dict[str, int] = {}
    out: list[tuple[str, nn.Module]] = []
    for layer in layers:
        if sequential and isinstance(layer, InputLayer):
            continue
        base = keras_snake_case(type(layer).__name__)
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        name = base if count is None else f"{base}_{count + 1}"
        if hasattr(layer, "layers") and hasattr(layer, "module"):
            out.extend((f"{name}/layers/{p}", m) for p, m in keras_layer_paths(layer))
        else:
            out.append((name, layer))
    return out


def _subclassed_paths(model: Any) -> list[tuple[str, nn.Module]]:
    """Keras' weight paths of a subclassed model's layers. Keras walks the model's
    attributes in sorted order: a layer attribute whose name sorts before ``layers`` is
    saved under that name at the file's root (path ``/hidden``); the ``layers`` list then
    names the others by class and position among all tracked layers (``dense_1``, under
    ``layers/``)."""
    out: list[tuple[str, nn.Module]] = []
    used: dict[str, int] = {}
    for attr, layer in model.module.named_children():
        if not isinstance(layer, Layer) or hasattr(layer, "module"):
            raise TypeError(
                f"the subclassed model's attribute {attr!r} is a {type(layer).__name__}; "
                "Keras' layout is mapped for epochal layers assigned as attributes only"
            )
        base = keras_snake_case(type(layer).__name__)
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        name = base if count is None else f"{base}_{count + 1}"
        out.append((f"/{attr}" if attr < "layers" else name, layer))
    return out


def _layer_weights(layer: nn.Module) -> list[torch.Tensor]:
    weights = getattr(layer, "weights", None)
    if isinstance(weights, list):
        return weights
    return [t for t in layer.state_dict(keep_vars=True).values() if t.is_floating_point()]


def _flatten(node: _Node) -> list[np.ndarray]:
    arrays = list(node.arrays)
    order = [k for k in _CHILD_ORDER if k in node.children]
    order += sorted(k for k in node.children if k not in order)
    for key in order:
        arrays.extend(_flatten(node.children[key]))
    return arrays


def _lookup(kfile: KerasFile, path: str) -> _Node | None:
    if path.startswith("/"):  # a subclassed model's attribute, at the file's root
        head, *rest = path[1:].split("/")
        node = kfile.roots.get(head)
    else:
        head, *rest = path.split("/")
        node = kfile.layers.get(head)
    for key in rest:
        if node is None:
            return None
        node = node.children.get(key)
    return node


def bundle_weights(model: Any, kfile: KerasFile, path: Any) -> dict[str, torch.Tensor]:
    """The file's weights keyed by ``model.module``'s ``state_dict`` names, every count and
    shape checked (buffers Keras has no counterpart for, such as ``num_batches_tracked``,
    keep their current values)."""
    names = {id(t): n for n, t in model.module.state_dict(keep_vars=True).items()}
    out: dict[str, torch.Tensor] = {}
    try:
        pairs = keras_layer_paths(model)
    except TypeError as exc:
        raise CheckpointError(
            path, f"weights from a Keras file load into Sequential and functional models: {exc}"
        ) from exc
    if kfile.kind == "legacy":
        stored = [(n, a) for n, a in kfile.legacy_layers if a]
        targets = [(p, m) for p, m in pairs if _layer_weights(m)]
        if len(stored) != len(targets):
            raise CheckpointError(
                path,
                f"the file has weights for {len(stored)} layers {[n for n, _ in stored]}, the "
                f"model has {len(targets)} layers with weights {[_name(m) for _, m in targets]}",
            )
        plan = [
            (m, _name(m), arrays, name)
            for (_, m), (name, arrays) in zip(targets, stored, strict=True)
        ]
    else:
        plan = []
        for layer_path, module in pairs:
            weights = _layer_weights(module)
            node = _lookup(kfile, layer_path)
            if node is None:
                if weights:
                    raise CheckpointError(
                        path,
                        f"the weights of layer {_name(module)!r} (Keras path layers/"
                        f"{layer_path}) are missing in the file; it holds {sorted(kfile.layers)}",
                    )
                continue
            plan.append((module, _name(module), _flatten(node), f"layers/{layer_path}"))
        extra = set(kfile.layers) - {p.split("/")[0] for p, _ in pairs if not p.startswith("/")}
        extra = {e for e in extra if _flatten(kfile.layers[e])}
        if extra:
            raise CheckpointError(
                path, f"the file has weights for layers the model lacks: {sorted(extra)}"
            )
    for module, label, arrays, where in plan:
        weights = _layer_weights(module)
        if len(arrays) != len(weights):
            raise CheckpointError(
                path,
                f"layer {label!r} has {len(weights)} weights, the file ({where}) stores "
                f"{len(arrays)}",
            )
        for index, (tensor, array) in enumerate(zip(weights, arrays, strict=True)):
            if tuple(array.shape) != tuple(tensor.shape):
                raise CheckpointError(
                    path,
                    f"shape mismatch for tensor {names[id(tensor)]!r} (weight {index} of layer "
                    f"{label!r}): the model has {tuple(tensor.shape)}, the file ({where}) "
                    f"{tuple(array.shape)}",
                )
            out[names[id(tensor)]] = _as_tensor(array)
    for name, tensor in model.module.state_dict().items():
        out.setdefault(name, tensor.detach().cpu())
    return out


def _name(module: nn.Module) -> str:
    return str(getattr(module, "name", None) or type(module).__name__)


# ---------------------------------------------------------------------------- compile
def _object_name(value: Any) -> Any:
    if isinstance(value, dict) and "class_name" in value:
        stripped = _strip(value)
        return {"class_name": stripped["class_name"], "config": stripped.get("config") or {}}
    return value


def _per_output_names(value: Any, what: str, path: Any) -> Any:
    """A loss or metric setting as Keras wrote it (a name or serialized object, a list or
    dict of them per output, metrics as lists per output), objects reduced to
    ``{class_name, config}``."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, dict) and "class_name" in value:
        return _object_name(value)
    if isinstance(value, dict):
        return {str(k): _per_output_names(v, what, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_per_output_names(v, what, path) for v in value]
    raise CheckpointError(path, f"the compiled {what} {value!r} cannot be read")


def compile_from_keras(config: Mapping[str, Any], path: Any) -> tuple[Any, dict[str, Any]]:
    """(epochal optimizer, ``compile`` keywords: ``loss``, ``metrics``, ``loss_weights``,
    ``weighted_metrics``) for Keras' ``compile_config``, per output where Keras has them
    per output (lists or dicts); a learning-rate schedule is rebuilt from its serialized
    form. Names and classes are resolved by the caller.

    Raises:
        CheckpointError: naming the optimizer option, loss or metric epochal cannot honour.
    """
    entry = _strip(config.get("optimizer"))
    if isinstance(entry, str):
        entry = {"class_name": entry, "config": {}}
    if not isinstance(entry, dict):
        raise CheckpointError(path, f"the compiled optimizer {entry!r} cannot be read")
    class_name = str(entry.get("class_name"))
    options = dict(entry.get("config") or {})
    if "lr" in options:
        options["learning_rate"] = options.pop("lr")
    for key, allowed in _OPTIMIZER_TOLERATED.items():
        if key in options:
            value = options.pop(key)
            if value not in allowed:
                raise CheckpointError(
                    path,
                    f"the optimizer option {key}={value!r} ({class_name}) is not supported by "
                    "epochal (only its Keras default is accepted)",
                )
    for key in ("clipnorm", "clipvalue", "global_clipnorm", "weight_decay"):
        if key in options and options[key] is None:
            options.pop(key)
    try:
        optimizer = optimizers_module.from_config(class_name, options)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            path, f"the Keras optimizer {class_name} cannot be rebuilt by epochal: {exc}"
        ) from exc
    settings: dict[str, Any] = {
        "loss": _per_output_names(config.get("loss"), "loss", path),
        "metrics": _per_output_names(config.get("metrics"), "metrics", path) or [],
    }
    for key in ("loss_weights", "weighted_metrics"):
        if config.get(key) is not None:
            settings[key] = _per_output_names(config[key], key, path)
    return optimizer, settings


def restore_optimizer(model: Any, kfile: KerasFile, keras_class: str | None) -> bool:
    """Loads Keras' optimizer slots into ``model.optimizer`` when it is the same optimizer
    (Adam and AdamW: iterations, moments); otherwise warns that the optimizer starts fresh.
    Returns whether the slots were restored."""
    optimizer = model.optimizer
    variables = kfile.optimizer
    saved = kfile.epochal.get("optimizer")
    if saved is not None and optimizer is not None:  # epochal's own full state
        try:
            optimizer.load_state_dict(saved)
            return True
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            logger.warning(
                "The optimizer state in the file does not fit (%s); it starts fresh.", exc
            )
            return False
    if not variables or optimizer is None:
        return False
    name = type(optimizer).__name__
    torch_opt = getattr(optimizer, "torch_optimizer", None)
    trainable: list[torch.Tensor] = []
    for _, layer in keras_layer_paths(model):
        trainable.extend(getattr(layer, "trainable_weights", []) or [])
    supported = name in ("Adam", "AdamW") and keras_class == name
    # Keras' order: iterations, the learning rate (a constant rate only, not a schedule),
    # [one EMA average per weight,] the moments.
    head = 1 if getattr(optimizer, "schedule", None) is not None else 2
    averaged = len(trainable) if getattr(optimizer, "use_ema", False) else 0
    expected = head + averaged + 2 * len(trainable)
    if supported and torch_opt is not None and len(variables) == expected:
        averages, slots = variables[head : head + averaged], variables[head + averaged :]
        if all(
            tuple(slots[2 * i].shape) == tuple(t.shape) == tuple(slots[2 * i + 1].shape)
            for i, t in enumerate(trainable)
        ):
            position = {id(t): i for i, t in enumerate(trainable)}
            state = torch_opt.state_dict()
            params = [p for g in torch_opt.param_groups for p in g["params"]]
            # frozen tensors (Normalization's statistics) have no Keras slots and no state
            if all(id(p) in position or not p.requires_grad for p in params):
                iterations = int(np.asarray(variables[0]))
                new_state = {}
                for index, param in enumerate(params):
                    if id(param) not in position:
                        continue
                    k = position[id(param)]
                    new_state[index] = {
                        "step": torch.tensor(float(iterations)),
                        "exp_avg": torch.from_numpy(np.array(slots[2 * k])).to(param.device),
                        "exp_avg_sq": torch.from_numpy(np.array(slots[2 * k + 1])).to(param.device),
                    }
                state["state"] = new_state
                full = optimizer.state_dict()
                full["torch"] = state
                full["iterations"] = iterations
                if head == 2:
                    full["learning_rate"] = float(np.asarray(variables[1]))
                if averaged:
                    full["average"] = {
                        str(index): torch.from_numpy(np.array(averages[position[id(param)]]))
                        for index, param in enumerate(params)
                    }
                optimizer.load_state_dict(full)
                return True
    logger.warning(
        "The Keras file's optimizer state (%d variables of %s) does not map onto epochal's %s; "
        "the optimizer starts fresh (weights, loss and metrics are loaded).",
        len(variables),
        keras_class,
        name,
    )
    return False
