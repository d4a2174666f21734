"""``plot_model`` / ``model_to_dot``: a model's layer graph drawn with pydot and graphviz.

pydot builds the graph (``pip install pydot``); graphviz's ``dot`` program renders images.
A ``.dot`` / ``.gv`` file is the graph's source and needs pydot only. The model is read by
duck typing (blocks know nothing of ``epochal.models``): a model whose ``get_config()`` has
Keras' functional schema (``layers`` with ``inbound_nodes``) gives its real edges; any other
is drawn as the chain of its ``layers``.
"""

from __future__ import annotations

import os
from typing import Any

import torch

__all__ = ["model_to_dot", "plot_model"]

_SOURCE_FORMATS = {"dot": "raw", "gv": "raw", "raw": "raw"}
_PYDOT_MISSING = "You must install pydot (`pip install pydot`) for `plot_model` to work."
_GRAPHVIZ_MISSING = (
    "You must install graphviz (the `dot` program: `apt-get install graphviz`, `brew install "
    "graphviz`, or see https://graphviz.org/download/) for `plot_model` to write "
    "{ext!r} files; a '.dot' file needs pydot only."
)


def _pydot() -> Any:
    try:
        import pydot
    except ImportError as exc:
        raise ImportError(_PYDOT_MISSING) from exc
    return pydot


def _graph(model: Any) -> list[tuple[str, Any, list[str]]]:
    """``(name, layer, names of the layers feeding it)`` in drawing order."""
    layers = list(getattr(model, "layers", []))
    get_config = getattr(model, "get_config", None)
    config: Any = None
    if callable(get_config):
        try:
            config = get_config()
        except (TypeError, ValueError, NotImplementedError):
            config = None
    entries = config.get("layers") if isinstance(config, dict) else None
    if isinstance(entries, list) and entries and all("inbound_nodes" in e for e in entries):
        by_name = {getattr(layer, "name", None): layer for layer in layers}
        graph = []
        for entry in entries:
            inbound: list[str] = []
            _histories(entry["inbound_nodes"], inbound)
            name = str(entry.get("name", entry.get("config", {}).get("name")))
            graph.append((name, by_name.get(name, entry), list(dict.fromkeys(inbound))))
        return graph
    graph = []
    previous: list[str] = []
    for index, layer in enumerate(layers):
        name = str(getattr(layer, "name", None) or f"{type(layer).__name__.lower()}_{index}")
        graph.append((name, layer, previous))
        previous = [name]
    return graph


def _histories(value: Any, found: list[str]) -> None:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = value.get("config", {}).get("keras_history")
            if history:
                found.append(str(history[0]))
            return
        for item in value.values():
            _histories(item, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _histories(item, found)


def _output_shapes(model: Any) -> dict[int, Any]:
    """Each layer's output shape (batch axis ``None``), from one forward pass on zeros."""
    built = getattr(model, "build_input_shape", None)
    module = getattr(model, "module", model)
    if not built or not isinstance(module, torch.nn.Module):
        return {}
    shape, dtype = built
    shapes: dict[int, Any] = {}

    def record(layer: torch.nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            shapes[id(layer)] = (None, *output.shape[1:])
        elif isinstance(output, list | tuple):
            shapes[id(layer)] = [
                (None, *o.shape[1:]) for o in output if isinstance(o, torch.Tensor)
            ]

    hooks = [m.register_forward_hook(record) for m in module.modules() if m is not module]
    was_training = module.training
    try:
        device = next(iter(module.parameters()), torch.empty(0)).device
        module.eval()
        with torch.no_grad():
            module(torch.zeros((1, *shape), dtype=dtype, device=device))
    except Exception:  # shapes are a nicety: a model that needs other inputs gets none
        return shapes
    finally:
        module.train(was_training)
        for hook in hooks:
            hook.remove()
    return shapes


def _activation_name(layer: Any) -> str:
    get_config = getattr(layer, "get_config", None)
    if callable(get_config):
        try:
            config = get_config()
        except (TypeError, ValueError, NotImplementedError, AttributeError):
            config = {}
        if "activation" in config:
            return str(config["activation"] or "linear")
    activation = layer.activation
    return str(getattr(activation, "name", None) or getattr(activation, "__name__", activation))


def _label(name: str, layer: Any, shapes: dict[int, Any], options: dict[str, bool]) -> str:
    class_name = type(layer).__name__ if not isinstance(layer, dict) else layer["class_name"]
    lines = [f"{name} ({class_name})" if options["show_layer_names"] else class_name]
    if options["show_layer_activations"] and hasattr(layer, "activation"):
        lines.append(f"activation: {_activation_name(layer)}")
    if options["show_dtype"]:
        dtype = getattr(layer, "dtype", None) or getattr(layer, "compute_dtype", None)
        lines.append(f"dtype: {str(dtype).replace('torch.', '') if dtype else '?'}")
    if options["show_shapes"]:
        shape = shapes.get(id(layer))
        lines.append(f"output shape: {shape if shape is not None else '?'}")
    if options["show_trainable"]:
        trainable = getattr(layer, "trainable", None)
        if trainable is None and isinstance(layer, torch.nn.Module):
            trainable = any(p.requires_grad for p in layer.parameters())
        lines.append(f"trainable: {'?' if trainable is None else bool(trainable)}")
    return "\\n".join(lines)


def model_to_dot(
    model: Any,
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = True,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    subgraph: bool = False,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    splines: str = "ortho",
    **kwargs: Any,
) -> Any:
    """The model's layer graph as a ``pydot.Dot`` (Keras' ``keras.utils.model_to_dot``).

    Args:
        model: A built model (or anything with ``layers``).
        show_shapes / show_dtype / show_layer_names / show_layer_activations /
            show_trainable: What each node shows besides the layer's class.
        rankdir: Graphviz direction: `"TB"` (top to bottom) or `"LR"`.
        expand_nested: Not supported (nested models are drawn as one node): `True` raises.
        dpi: The image's resolution.
        subgraph: Return a ``pydot.Cluster`` instead of a ``pydot.Dot``.
        splines: Graphviz edge style, `"ortho"` by default.

    Raises:
        ImportError: when pydot is not installed.
        NotImplementedError: for ``expand_nested=True``.
        ValueError: for unknown keyword arguments or a bad ``rankdir``.
    """
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f'`rankdir` must be "TB", "LR", "BT" or "RL". Received: {rankdir!r}')
    if expand_nested:
        raise NotImplementedError(
            "plot_model(expand_nested=True) is not supported by epochal: nested models are "
            "drawn as one node. Plot the nested model on its own."
        )
    pydot = _pydot()
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=str(getattr(model, "name", "model")))
        dot.set("label", str(getattr(model, "name", "model")))
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
    dot.set_node_defaults(shape="record")
    options = {
        "show_shapes": show_shapes,
        "show_dtype": show_dtype,
        "show_layer_names": show_layer_names,
        "show_layer_activations": show_layer_activations,
        "show_trainable": show_trainable,
    }
    shapes = _output_shapes(model) if show_shapes else {}
    graph = _graph(model)
    ids = {name: f"node_{index}" for index, (name, _, _) in enumerate(graph)}
    for name, layer, _ in graph:
        dot.add_node(pydot.Node(ids[name], label=_label(name, layer, shapes, options)))
    for name, _, inbound in graph:
        for source in inbound:
            if source in ids:
                dot.add_edge(pydot.Edge(ids[source], ids[name], penwidth="2"))
    return dot


def plot_model(
    model: Any,
    to_file: str | os.PathLike[str] = "model.png",
    show_shapes: bool = False,
    show_dtype: bool = False,
    show_layer_names: bool = False,
    rankdir: str = "TB",
    expand_nested: bool = False,
    dpi: int = 200,
    show_layer_activations: bool = False,
    show_trainable: bool = False,
    splines: str = "ortho",
    **kwargs: Any,
) -> Any:
    """Draws the model's layer graph into ``to_file`` (Keras' ``keras.utils.plot_model``).

    The format follows the extension (``png`` when there is none). Images need pydot and
    graphviz; a ``.dot`` / ``.gv`` file (the graph's source) needs pydot only. Returns an
    ``IPython.display.Image`` when IPython is installed (not for PDFs), else `None`.

    Raises:
        ValueError: for a model that is not built, or ``layer_range`` / unknown keywords.
        ImportError: naming pydot or graphviz, whichever is missing.
    """
    if not getattr(model, "built", True):
        raise ValueError(
            "This model has not yet been built. Build the model first by calling `build()` "
            "or by calling the model on a batch of data."
        )
    pydot = _pydot()
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    if extension not in _SOURCE_FORMATS:
        try:
            pydot.Dot.create(pydot.Dot())
        except (OSError, pydot.PydotException) as exc:
            raise ImportError(_GRAPHVIZ_MISSING.format(ext="." + extension)) from exc
    dot = model_to_dot(
        model,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        rankdir=rankdir,
        expand_nested=expand_nested,
        dpi=dpi,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
        splines=splines,
        **kwargs,
    )
    dot.write(to_file, format=_SOURCE_FORMATS.get(extension, extension))
    if extension not in ("pdf", *_SOURCE_FORMATS):
        try:
            from IPython import display
        except ImportError:
            return None
        return display.Image(filename=to_file)
    return None
