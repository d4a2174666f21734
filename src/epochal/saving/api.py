"""``save_model`` / ``load_model`` / ``save_weights`` / ``load_weights``.

Loading reads and validates the whole file first (names, shapes, dtypes, optimizer state)
and only then assigns, so a bad file never leaves a half-loaded model.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from epochal._modes import evaluating
from epochal._validation import check_bool
from epochal.saving import keras_format, keras_writer
from epochal.saving._bundle import Bundle, CheckpointError
from epochal.saving.formats import (
    MODEL_SUFFIXES,
    WEIGHTS_SUFFIXES,
    read_bundle,
    suffix_of,
    write_bundle,
)
from epochal.saving.protocol import Saveable
from epochal.saving.serialization import (
    _resolve_loss,
    _resolve_metric,
    compile_config,
    model_config,
    model_from_config,
    resolve_compile,
    resolve_compile_extras,
)

__all__ = [
    "PendingSave",
    "load_model",
    "load_weights",
    "prepare_save",
    "save_bundle",
    "save_model",
    "save_weights",
]

logger = logging.getLogger("epochal.saving")
_warned_legacy = False
_warned_obstacles: set[str] = set()


def _check_target(
    path: str | os.PathLike[str], overwrite: bool, accepted: tuple[str, ...], what: str
) -> None:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"`filepath` must be a str or os.PathLike. Received: filepath={path!r}")
    suffix = suffix_of(path)
    if suffix not in accepted:
        raise ValueError(
            f"Invalid filepath extension for {what}: {os.fspath(path)!r}. The filename must end "
            f"in one of {', '.join(f'`{s}`' for s in accepted)}. Received: filepath={path!r}"
        )
    if Path(path).is_dir():
        raise IsADirectoryError(f"Cannot save to {os.fspath(path)!r}: it is an existing directory.")
    if not overwrite and Path(path).exists():
        raise FileExistsError(f"{os.fspath(path)!r} exists and overwrite=False.")


def _weights(model: Saveable) -> dict[str, torch.Tensor]:
    """The module's tensors on the CPU, uncopied unless two share memory (tied weights:
    safetensors refuses shared storage, and each name is written on its own)."""
    weights, seen = {}, set()
    for name, tensor in model.module.state_dict().items():
        tensor = tensor.detach().cpu()
        key = tensor.untyped_storage().data_ptr()
        weights[name] = tensor.clone() if key in seen or tensor.numel() == 0 else tensor
        seen.add(key)
    return weights


def _build_config(model: Saveable) -> dict[str, Any] | None:
    shape = getattr(model, "build_input_shape", None)
    if shape is None:
        return None
    return {"input_shape": list(shape[0]), "dtype": str(shape[1]).removeprefix("torch.")}


def _keras_choice(
    model: Saveable, filepath: Any, keras_compatible: bool | None, whole: bool
) -> bool:
    """Whether to write ``filepath`` in Keras' format (see docs/saving.md)."""
    suffix = suffix_of(filepath)
    native = ".keras" if whole else ".weights.h5"
    if keras_compatible not in (None, True, False):
        raise TypeError(
            f"`keras_compatible` must be None, True or False. Received: {keras_compatible!r}"
        )
    if suffix != native:
        if keras_compatible:
            raise ValueError(
                f"keras_compatible=True writes Keras' format, which needs a {native!r} file; "
                f"{suffix!r} files are epochal's format. Received: filepath={filepath!r}"
            )
        return False
    if keras_compatible is False:
        return False
    obstacle = keras_writer.keras_obstacle(model, whole=whole)
    if obstacle is None:
        return True
    if keras_compatible:
        raise ValueError(f"Cannot write {os.fspath(filepath)!r} in Keras' format: {obstacle}.")
    if obstacle not in _warned_obstacles:
        _warned_obstacles.add(obstacle)
        logger.warning(
            "Writing %s in epochal's own format, which Keras cannot read: %s. "
            "(keras_compatible=False silences this.)",
            os.fspath(filepath),
            obstacle,
        )
    return False


def save_model(
    model: Saveable,
    filepath: str | os.PathLike[str],
    overwrite: bool = True,
    keras_compatible: bool | None = None,
) -> None:
    """Writes architecture, weights, compile settings and optimizer state atomically.

    A ``.keras`` file is written in Keras 3's format (``keras.models.load_model`` reads it)
    whenever Keras has every piece of the model: a Sequential or functional model of
    epochal's built-in layers, an epochal optimizer, losses and metrics by name or Keras
    class. Otherwise, or with ``keras_compatible=False``, and always for ``.h5``/``.hdf5``,
    it is epochal's own format (any module, torch optimizers; ``metadata.json`` says
    ``"format": "epochal"``). epochal reads both.

    Args:
        model: The model.
        filepath: A ``.keras``, ``.h5`` or ``.hdf5`` path.
        overwrite: Whether to replace an existing file. Defaults to `True`.
        keras_compatible: `None` (Keras' format when possible, else epochal's with a
            one-time warning naming why), `True` (Keras' format or a ``ValueError`` naming
            what Keras cannot hold), `False` (epochal's format). Defaults to `None`.

    Raises:
        ValueError: for an unsupported suffix, or a model whose architecture cannot be
            described (the message says to save weights only or register the class).
    """
    _check_target(filepath, overwrite, MODEL_SUFFIXES, "model.save()")
    if _keras_choice(model, filepath, keras_compatible, whole=True):
        keras_writer.write_keras_model(filepath, model)
        return
    write_bundle(filepath, save_bundle(model, filepath, overwrite=overwrite))


def save_bundle(
    model: Saveable,
    filepath: str | os.PathLike[str],
    overwrite: bool = True,
    *,
    weights_only: bool = False,
) -> Bundle:
    """What :func:`save_model` (or, ``weights_only``, :func:`save_weights`) writes to
    ``filepath``, checked against it, without writing it: ``write_bundle(filepath, bundle)``
    does. Its tensors are the live ones (CPU models): copy them before training goes on.
    Always epochal's own format (what an asynchronous ModelCheckpoint writes).

    Raises:
        ValueError / IsADirectoryError / FileExistsError: as :func:`save_model` does.
    """
    if weights_only:
        _check_target(filepath, overwrite, WEIGHTS_SUFFIXES, "model.save_weights()")
        return Bundle(weights=_weights(model), config={"build_config": _build_config(model)})
    _check_target(filepath, overwrite, MODEL_SUFFIXES, "model.save()")
    global _warned_legacy
    if suffix_of(filepath) in (".h5", ".hdf5") and not _warned_legacy:
        _warned_legacy = True  # once per process, not at every checkpoint
        logger.warning(
            "Saving the whole model as HDF5 (%s): a legacy format; `.keras` is recommended.",
            os.fspath(filepath),
        )
    optimizer = model.optimizer
    return Bundle(
        weights=_weights(model),
        optimizer=optimizer.state_dict() if optimizer is not None and optimizer.built else None,
        config={
            "model_config": model_config(model),
            "compile_config": compile_config(model),
            "build_config": _build_config(model),
        },
    )


@dataclass
class PendingSave:
    """A save taken apart at the step boundary: what to write, and how.

    ``tensors`` is a tree of the live tensors the file needs (copy it, e.g. with
    :meth:`~epochal.saving.async_writer.AsyncWriter.host_copy`, before training goes on);
    ``write(tensors)`` writes the file from such a copy, on any thread, in the format a
    synchronous ``save`` / ``save_weights`` of the same path would write.

    Attributes:
        path: The target file.
        keras_format: Whether the file is in Keras' format (else epochal's own).
        tensors: The live tensors.
        write: Writes the file from a copy of ``tensors``.
    """

    path: str
    keras_format: bool
    tensors: Any
    write: Callable[[Any], Any]


def prepare_save(
    model: Saveable,
    filepath: str | os.PathLike[str],
    *,
    weights_only: bool = False,
    overwrite: bool = True,
    keras_compatible: bool | None = None,
) -> PendingSave:
    """What :func:`save_model` (or, ``weights_only``, :func:`save_weights`) would write to
    ``filepath``, in the same format (Keras' or epochal's, chosen as they choose it), split
    into the tensors to snapshot and the write. Asynchronous checkpoints use it: the
    snapshot on the training thread, the write in the background.

    Raises:
        ValueError / IsADirectoryError / FileExistsError: as :func:`save_model` does.
    """
    accepted = WEIGHTS_SUFFIXES if weights_only else MODEL_SUFFIXES
    what = "model.save_weights()" if weights_only else "model.save()"
    _check_target(filepath, overwrite, accepted, what)
    target = os.fspath(filepath)
    if _keras_choice(model, filepath, keras_compatible, whole=not weights_only):
        snap = keras_writer.snapshot(model, whole=not weights_only)
        return PendingSave(
            target,
            True,
            snap.tensors,
            lambda tensors: keras_writer.write_snapshot(target, snap, tensors),
        )
    bundle = save_bundle(model, filepath, overwrite, weights_only=weights_only)
    config = copy.deepcopy(bundle.config)

    def write(tensors: Any) -> None:
        write_bundle(target, Bundle(tensors["weights"], tensors["opt"], config))

    return PendingSave(target, False, {"weights": bundle.weights, "opt": bundle.optimizer}, write)


def save_weights(
    model: Saveable,
    filepath: str | os.PathLike[str],
    overwrite: bool = True,
    keras_compatible: bool | None = None,
) -> None:
    """Writes the module's weights atomically (HDF5, safetensors or ``.pt``).

    ``.weights.h5`` is written in Keras 3's layout (``keras.Model.load_weights`` reads it)
    when the model is a Sequential or functional model of epochal's built-in layers; else,
    or with ``keras_compatible=False``, in epochal's layout (any module). Other suffixes are
    epochal's formats. ``keras_compatible`` works as in :func:`save_model`.
    """
    _check_target(filepath, overwrite, WEIGHTS_SUFFIXES, "model.save_weights()")
    if _keras_choice(model, filepath, keras_compatible, whole=False):
        keras_writer.write_keras_weights(filepath, model)
        return
    write_bundle(filepath, save_bundle(model, filepath, overwrite, weights_only=True))


def _build(model: Saveable, bundle: Bundle, path: Any) -> None:
    if model.built:
        return
    build = bundle.config.get("build_config")
    declared = model.declared_input_shape()
    if declared is not None:
        build = {"input_shape": list(declared), "dtype": "float32"}
    if not build:
        raise CheckpointError(
            path,
            "the model is not built (its layers have no weights yet) and "
            "the file does not record an input shape; call the model on a "
            "batch, or give the first layer input_shape=..., then load",
        )
    dtype = getattr(torch, build.get("dtype", "float32"))
    model.build_from_batch(
        torch.zeros((1, *build["input_shape"]), dtype=dtype, device=model.device)
    )


def _check_declared_shapes(
    bundle: Bundle, custom_objects: Mapping[str, Any] | None, path: Any
) -> None:
    """Builds the saved architecture on the meta device (no memory) and compares every
    tensor it declares with what the file stores, before anything real is allocated: a
    crafted config asking for a huge layer is refused here, not by the allocator.
    """
    try:
        with torch.device("meta"):
            probe = model_from_config(bundle.config["model_config"], custom_objects)
            build = bundle.config.get("build_config")
            declared = probe.declared_input_shape()
            shape = list(declared) if declared is not None else (build or {}).get("input_shape")
            if shape is not None and not probe.built:
                with evaluating(probe.module):
                    probe.module(torch.zeros((1, *shape)))
            tensors = probe.module.state_dict()
    except (ValueError, TypeError, KeyError):
        raise  # a config error: reported by the real build with the same message
    except Exception:
        return  # a module that cannot run on the meta device: checked after building
    stored = list(bundle.weights.items())
    for index, (name, tensor) in enumerate(tensors.items()):
        saved = bundle.weights.get(name)
        if saved is None and index < len(stored) and len(stored) == len(tensors):
            saved = stored[index][1]
        if saved is None or tuple(saved.shape) != tuple(tensor.shape):
            found = "no such tensor" if saved is None else f"{tuple(saved.shape)}"
            raise CheckpointError(
                path,
                f"the architecture declares tensor {name!r} of shape {tuple(tensor.shape)} "
                f"but the file stores {found}; refusing to build it",
            )


def _match_weights(
    model: Saveable, weights: Mapping[str, torch.Tensor], path: Any
) -> dict[str, torch.Tensor]:
    """The file's tensors keyed by the model's names, validated, before anything is assigned.

    Names match exactly, or, as Keras matches a fresh Sequential whose layers got other
    automatic names (``dense_4`` vs ``dense``), by position when the counts, the tensors'
    own names (``kernel``) and the shapes all agree.
    """
    current = model.module.state_dict()
    if set(weights) == set(current):
        pairs = [(name, name) for name in current]
    elif len(weights) == len(current) and all(
        a.rsplit(".", 1)[-1] == b.rsplit(".", 1)[-1] for a, b in zip(current, weights, strict=True)
    ):
        pairs = list(zip(current, weights, strict=True))
    else:
        missing = [k for k in current if k not in weights]
        extra = [k for k in weights if k not in current]
        raise CheckpointError(
            path,
            f"the tensor names do not match the model: missing in the "
            f"file {missing}, not in the model {extra}",
        )
    matched = {}
    for name, saved_name in pairs:
        tensor, saved = current[name], weights[saved_name]
        label = name if name == saved_name else f"{name} (file: {saved_name})"
        if tuple(saved.shape) != tuple(tensor.shape):
            raise CheckpointError(
                path,
                f"shape mismatch for tensor {label!r}: the model has "
                f"{tuple(tensor.shape)}, the file {tuple(saved.shape)}",
            )
        if saved.dtype.is_floating_point != tensor.dtype.is_floating_point:
            raise CheckpointError(
                path,
                f"dtype mismatch for tensor {label!r}: the model has "
                f"{tensor.dtype}, the file {saved.dtype}",
            )
        matched[name] = saved
    return matched


def _assign(model: Saveable, weights: Mapping[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, tensor in model.module.state_dict().items():
            tensor.copy_(weights[name].to(dtype=tensor.dtype))


def load_weights(model: Saveable, filepath: str | os.PathLike[str]) -> None:
    """Loads weights from any supported file (weights-only or whole-model) into ``model``.

    Raises:
        FileNotFoundError: when the file does not exist.
        CheckpointError: corrupt/foreign/unsafe file, or a name/shape mismatch (naming the
            tensor); the model is left untouched.
    """
    kind = keras_format.sniff(filepath)
    if kind is not None:  # a file in Keras' own format (see keras_format.py)
        kfile = keras_format.read_keras_file(filepath, kind, optimizer_state=False)
        _build(model, Bundle(weights={}, config=_keras_build_config(kfile)), filepath)
        weights = keras_format.bundle_weights(model, kfile, filepath)
        _assign(model, _match_weights(model, weights, filepath))
        return
    bundle = read_bundle(filepath)
    _build(model, bundle, filepath)
    _assign(model, _match_weights(model, bundle.weights, filepath))


def _keras_build_config(kfile: keras_format.KerasFile) -> dict[str, Any]:
    build = (kfile.model_config or {}).get("build_config") or {}
    shape = build.get("input_shape")
    if isinstance(shape, list) and shape and all(isinstance(d, int | None) for d in shape):
        return {"build_config": {"input_shape": shape[1:], "dtype": "float32"}}
    return {}


def _load_keras_model(
    filepath: Any, kind: str, custom_objects: Mapping[str, Any] | None, compile: bool
) -> Any:
    """``load_model`` for a file in Keras' format: the architecture mapped onto epochal's
    layers, the weights checked against it, then compile settings and optimizer slots."""
    kfile = keras_format.read_keras_file(filepath, kind)
    if kfile.model_config is None:
        raise CheckpointError(
            filepath,
            "it holds weights only (no architecture); build the model "
            "in code and call model.load_weights() instead",
        )
    build = Bundle(weights={}, config=_keras_build_config(kfile))
    try:  # first on the meta device: a config declaring a huge layer allocates nothing
        with torch.device("meta"):
            probe = keras_format.model_from_keras(kfile.model_config, custom_objects, filepath)
            declared = probe.declared_input_shape()
            shape = (build.config.get("build_config") or {}).get("input_shape")
            shape = list(declared) if declared is not None else shape
            if shape is not None:
                if not probe.built:
                    with evaluating(probe.module):
                        probe.module(torch.zeros((1, *shape)))
                keras_format.bundle_weights(probe, kfile, filepath)
    except CheckpointError:
        raise
    except Exception:
        pass  # a module that cannot run on the meta device: checked after building
    model = keras_format.model_from_keras(kfile.model_config, custom_objects, filepath)
    _build(model, build, filepath)
    weights = _match_weights(model, keras_format.bundle_weights(model, kfile, filepath), filepath)
    settings = kfile.compile_config
    if compile and settings:
        optimizer, keywords = keras_format.compile_from_keras(settings, filepath)
        try:
            keywords["loss"] = _keras_resolved(keywords["loss"], _resolve_loss, custom_objects)
            for key in ("metrics", "weighted_metrics"):
                if key in keywords:
                    keywords[key] = _keras_resolved(keywords[key], _resolve_metric, custom_objects)
            model.compile(optimizer=optimizer, **keywords)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(filepath, f"the compile settings cannot be read: {exc}") from exc
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.module.parameters())
        entry = settings.get("optimizer")
        keras_class = entry.get("class_name") if isinstance(entry, dict) else entry
        keras_format.restore_optimizer(model, kfile, keras_class)
    _assign(model, weights)
    return model


def _keras_resolved(value: Any, resolve: Any, custom_objects: Mapping[str, Any] | None) -> Any:
    """Keras' per-output settings (lists, dicts, lists per output) with each name or
    ``{class_name, config}`` resolved to epochal's loss or metric."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_keras_resolved(v, resolve, custom_objects) for v in value]
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _keras_resolved(v, resolve, custom_objects) for k, v in value.items()}
    return resolve(value, custom_objects)


def load_model(
    filepath: str | os.PathLike[str],
    custom_objects: Mapping[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """Rebuilds a model saved by :func:`save_model`: architecture, weights and (with
    ``compile=True``) optimizer, loss, metrics and optimizer state, so ``fit`` continues
    where it stopped.

    Args:
        filepath: A ``.keras``, ``.h5`` or ``.hdf5`` file written by ``model.save``.
        custom_objects: Custom layers, modules, losses and metrics by the name stored in
            the file. Defaults to `None`.
        compile: Whether to compile with the saved settings. Defaults to `True`.
        safe_mode: Keras' guard against running code stored in a file (lambdas). epochal
            never stores or runs code (no pickle, JSON and tensors only), so every load is
            safe and `False` allows nothing more. Defaults to `True`.

    Raises:
        FileNotFoundError: when the file does not exist.
        CheckpointError: corrupt/foreign/unsafe file, a weights-only file, or mismatches.
        ValueError: naming a custom object that is neither passed nor registered.
    """
    check_bool("compile", compile)
    check_bool("safe_mode", safe_mode)
    kind = keras_format.sniff(filepath)
    if kind is not None:  # a file in Keras' own format (see keras_format.py)
        return _load_keras_model(filepath, kind, custom_objects, compile)
    bundle = read_bundle(filepath)
    if "model_config" not in bundle.config:
        raise CheckpointError(
            filepath,
            "it holds weights only (no architecture); build the model "
            "in code and call model.load_weights() instead",
        )
    _check_declared_shapes(bundle, custom_objects, filepath)
    model = model_from_config(bundle.config["model_config"], custom_objects)
    settings = bundle.config.get("compile_config")
    if compile and settings:
        make_optimizer, loss, metrics = resolve_compile(settings, custom_objects)
        _build(model, bundle, filepath)
        model.compile(
            optimizer=make_optimizer(model.module),
            loss=loss,
            metrics=metrics,
            **resolve_compile_extras(settings, custom_objects),
        )
    _build(model, bundle, filepath)
    weights = _match_weights(model, bundle.weights, filepath)
    if compile and settings and bundle.optimizer is not None and model.optimizer is not None:
        if not model.optimizer.built:
            model.optimizer.build(model.module.parameters())
        try:
            model.optimizer.load_state_dict(bundle.optimizer)
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise CheckpointError(filepath, f"the optimizer state does not fit: {exc}") from exc
    _assign(model, weights)
    return model
