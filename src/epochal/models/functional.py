"""Functional models: ``epochal.Model(inputs, outputs)`` over a graph of layer calls.

Calling layers on the output of ``epochal.Input(...)`` records nodes (see
:mod:`epochal.layers.symbolic`); :class:`Functional` walks them back from the outputs once,
orders them as Keras does (by depth from the inputs, then by discovery order) and compiles
the walk into :class:`GraphModule`, a plain ``nn.Module`` whose ``forward`` executes a
precomputed list of steps over a list of value slots. Nothing about the graph is looked up
while training: one forward is one loop over the steps, each calling a layer.

Several inputs and outputs may be given as lists, tuples or dicts (nested too); data is then
passed as a list in the same order or a dict keyed by the inputs' names (the dict keys of
``inputs``, else the ``Input`` names). A layer called more than once is one layer (shared
weights); a model may be called on symbolic inputs like a layer (a nested model).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from epochal.layers import LAYER_CLASSES, InputLayer, Lambda, Layer, set_trainable
from epochal.layers import base as layer_base
from epochal.layers.symbolic import KerasTensor, Node, flatten, inbound_nodes, map_structure
from epochal.models.model import Model, _check_summary_layout
from epochal.models.summary import summarize_graph
from epochal.saving.protocol import (
    ModuleBuilder,
    ModuleDescriber,
    model_class,
    register_model_class,
)

__all__ = ["Functional", "GraphModule"]


class _Slot:
    """A placeholder in a call template: the value in slot ``index``."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __deepcopy__(self, memo: Any) -> _Slot:
        return self


def _fill(template: Any, values: list[Any]) -> Any:
    if isinstance(template, _Slot):
        return values[template.index]
    if isinstance(template, list | tuple):
        return type(template)(_fill(t, values) for t in template)
    if isinstance(template, dict):
        return {k: _fill(t, values) for k, t in template.items()}
    return template


def _owner_name(owner: Any) -> str:
    return str(getattr(owner, "name", None) or type(owner).__name__)


def _sorted_flatten(structure: Any) -> list[Any]:
    """The leaves of ``structure`` as Keras' ``tree.flatten`` orders them (dict keys sorted)."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _sorted_flatten(structure[key])]
    if isinstance(structure, list | tuple):
        return [leaf for item in structure for leaf in _sorted_flatten(item)]
    return [structure]


def _map_graph(
    inputs: list[KerasTensor], outputs: list[KerasTensor]
) -> tuple[list[Node], list[Any]]:
    """The nodes between ``inputs`` and ``outputs`` in execution order, and their owners in
    Keras' layer order: by decreasing depth (distance to the outputs), then in the order a
    depth-first walk from the outputs first met them."""
    input_ids = {id(t) for t in inputs}
    finished: set[int] = set()
    in_progress: set[int] = set()
    ordered: list[Node] = []  # parents before children
    owner_index: dict[int, int] = {}

    def visit(tensor: KerasTensor) -> None:
        node = tensor.node
        if node is None:
            raise ValueError(f"{tensor!r} was not produced by a layer or an Input.")
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise ValueError("The layer graph has a cycle.")
        owner_index.setdefault(id(node.owner), len(owner_index))
        in_progress.add(id(node))
        if id(tensor) not in input_ids:
            if node.is_input:
                raise ValueError(
                    f"Graph disconnected: the outputs need the input {tensor.name!r}, which "
                    f"is not among the model's inputs {[t.name for t in inputs]}."
                )
            for parent in node.inputs:
                visit(parent)
        in_progress.discard(id(node))
        finished.add(id(node))
        ordered.append(node)

    for tensor in outputs:
        visit(tensor)
    depth: dict[int, int] = {}
    owner_depth: dict[int, int] = {}
    for node in reversed(ordered):
        d = max(depth.setdefault(id(node), 0), owner_depth.get(id(node.owner), 0))
        owner_depth[id(node.owner)] = d
        depth[id(node)] = d
        for parent in node.parent_nodes:
            depth[id(parent)] = max(d + 1, depth.get(id(parent), 0))
    for tensor in inputs:
        if tensor.node is not None and id(tensor.node) not in depth:
            depth[id(tensor.node)] = 0  # an input the outputs do not use
            owner_depth[id(tensor.node.owner)] = 0
            owner_index.setdefault(id(tensor.node.owner), len(owner_index))
            ordered.insert(0, tensor.node)
    owners = {id(n.owner): n.owner for n in ordered}
    by_depth = sorted(owners, key=lambda k: (-owner_depth[k], owner_index[k]))
    nodes = sorted(ordered, key=lambda n: -depth[id(n)])  # stable: parents stay first
    return nodes, [owners[k] for k in by_depth]


class GraphModule(Layer):
    """The ``nn.Module`` of a functional model: runs the recorded layer calls in order.

    Its children are the graph's layers (and nested models' modules), registered under
    their names, so ``state_dict`` keys read ``<layer>.<weight>`` as in ``Sequential``.

    Args:
        inputs: The ``Input`` tensors (one, or a list/tuple/dict, nested allowed).
        outputs: Symbolic tensors computed from them (same structures allowed).
        name: The module's name (the model's).
    """

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None) -> None:
        super().__init__(name=name or "functional_graph")
        flat_inputs, flat_outputs = flatten(inputs), flatten(outputs)
        for what, flat in (("inputs", flat_inputs), ("outputs", flat_outputs)):
            bad = [t for t in flat if not isinstance(t, KerasTensor)]
            if bad or not flat:
                raise TypeError(
                    f"`{what}` of a functional model must be symbolic tensors (from "
                    "epochal.Input(...) and layers called on them), alone or in lists/dicts. "
                    f"Received: {bad[0] if bad else what + '=' + repr(flat)!s}"
                )
        for tensor in flat_inputs:
            if tensor.node is None or not isinstance(tensor.node.owner, InputLayer):
                raise ValueError(
                    f"Each of `inputs` must come from epochal.Input(...); {tensor!r} is the "
                    f"output of layer {_owner_name(tensor.node.owner if tensor.node else None)!r}."
                )
        if len({id(t) for t in flat_inputs}) != len(flat_inputs):
            raise ValueError("The same Input appears twice in `inputs`.")
        self.input_structure = inputs
        self.output_structure = outputs
        self.flat_inputs: list[KerasTensor] = flat_inputs
        self.flat_outputs: list[KerasTensor] = flat_outputs
        # Keras walks the outputs flattened with dict keys sorted: its layer order (and
        # so the layer paths of its weight files) follows that walk
        self.nodes, self.operations = _map_graph(flat_inputs, _sorted_flatten(outputs))
        names: dict[str, Any] = {}
        for owner in self.operations:
            name_ = _owner_name(owner)
            if name_ in names and names[name_] is not owner:
                raise ValueError(
                    f"All layer names should be unique; {name_!r} names two layers of the model."
                )
            names[name_] = owner
        self._compile_plan()
        self.built = True

    # ----------------------------------------------------------------- the plan
    def _compile_plan(self) -> None:
        slots: dict[int, int] = {id(t): i for i, t in enumerate(self.flat_inputs)}
        steps: list[tuple[Any, ...]] = []
        for node in self.nodes:
            if node.is_input:
                continue
            key = _owner_name(node.owner).replace(".", "_")
            if key not in self._modules:
                self.add_module(key, node.module)

            def template(value: Any) -> Any:
                return _Slot(slots[id(value)]) if isinstance(value, KerasTensor) else value

            outs = []
            for tensor in node.flat_outputs:
                slots[id(tensor)] = len(slots)
                outs.append(slots[id(tensor)])
            single_out = isinstance(node.outputs, KerasTensor)
            simple = (
                len(node.args) == 1
                and isinstance(node.args[0], KerasTensor)
                and not node.kwargs
                and single_out
            )
            if simple:
                steps.append((0, key, slots[id(node.args[0])], outs[0]))
            else:
                args = map_structure(template, node.args)
                kwargs = map_structure(template, node.kwargs)
                steps.append((1, key, args, kwargs, tuple(outs), single_out))
        self._steps = tuple(steps)
        self._n_slots = len(slots)
        self._n_inputs = len(self.flat_inputs)
        self._output_template = map_structure(lambda t: _Slot(slots[id(t)]), self.output_structure)
        keys: list[str] = []
        if isinstance(self.input_structure, Mapping):
            for key, value in self.input_structure.items():
                if isinstance(value, KerasTensor):
                    keys.append(str(key))
                else:  # a nested structure under a key: its Inputs go by their names
                    keys.extend(t.name for t in flatten(value))
        else:
            keys = [t.name for t in self.flat_inputs]
        self._input_keys = keys

    # ----------------------------------------------------------------- running
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        training = kwargs.pop("training", None) if kwargs else None
        if (
            len(args) == 1
            and not kwargs
            and self._n_inputs == 1
            and isinstance(args[0], torch.Tensor)
        ):
            flat: Sequence[Any] = args
        else:
            flat = self._bind(args, kwargs)
        if training is None and not layer_base._losses_seen:
            return self.call(flat)
        return self._call_in_context(flat, (), {}, training)

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        values: list[Any] = [None] * self._n_slots
        values[: self._n_inputs] = inputs
        modules = self._modules
        for step in self._steps:
            if step[0] == 0:
                values[step[3]] = modules[step[1]](values[step[2]])  # type: ignore[misc]
                continue
            _, key, args_t, kwargs_t, outs, single = step
            out = modules[key](*_fill(args_t, values), **_fill(kwargs_t, values))  # type: ignore[misc]
            if single:
                values[outs[0]] = out
            else:
                for slot, value in zip(outs, flatten(out), strict=True):
                    values[slot] = value
        template = self._output_template
        if isinstance(template, _Slot):
            return values[template.index]
        return _fill(template, values)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        """The inputs as a flat list in the model's input order."""
        if kwargs:
            if args:
                raise TypeError(
                    "Pass the inputs either positionally or as keywords (a dict keyed by the "
                    f"input names {self._input_keys}), not both."
                )
            flat = self._by_name(kwargs)
        elif len(args) == 1 and isinstance(args[0], Mapping):
            flat = self._by_name(args[0])
        else:
            value: Any = args[0] if len(args) == 1 else list(args)
            flat = flatten(value) if isinstance(value, list | tuple) else [value]
            if len(flat) != self._n_inputs:
                raise ValueError(
                    f"The model expects {self._n_inputs} input(s) {self._input_keys}; received "
                    f"{len(flat)}. Pass a list in this order or a dict keyed by these names."
                )
        return [self._as_tensor(v) for v in flat]

    def _by_name(self, data: Mapping[str, Any]) -> list[Any]:
        names = [t.name for t in self.flat_inputs]
        missing = [
            k
            for k, n in zip(self._input_keys, names, strict=True)
            if k not in data and n not in data
        ]
        known = set(self._input_keys) | set(names)
        unknown = [k for k in data if k not in known]
        if missing or unknown:
            raise ValueError(
                f"The model's inputs are {self._input_keys}; the data "
                + (f"lacks {missing}" if missing else "")
                + (" and " if missing and unknown else "")
                + (f"has unknown keys {unknown}" if unknown else "")
                + "."
            )
        return [
            data[k] if k in data else data[n] for k, n in zip(self._input_keys, names, strict=True)
        ]

    def _as_tensor(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            tensor = torch.from_numpy(np.ascontiguousarray(value))
            if tensor.dtype == torch.float64:
                tensor = tensor.float()
            device = next((p.device for p in self.parameters()), None)
            return tensor.to(device) if device is not None else tensor
        return value

    # ----------------------------------------------------------------- the graph
    def model_nodes(self, owner: Any) -> list[Node]:
        """The nodes of ``owner`` that belong to this graph, in call order."""
        mine = {id(n) for n in self.nodes}
        return [n for n in inbound_nodes(owner) if id(n) in mine]

    def node_index(self, node: Node) -> int:
        """``node``'s index among its owner's calls in this graph."""
        return [id(n) for n in self.model_nodes(node.owner)].index(id(node))

    def history(self, tensor: KerasTensor) -> list[Any]:
        """``[layer name, node index, tensor index]`` of ``tensor`` in this graph."""
        assert tensor.node is not None
        return [_owner_name(tensor.node.owner), self.node_index(tensor.node), tensor.index]


# ---------------------------------------------------------------------------- the model
@register_model_class
class Functional(Model):
    """A model defined by its inputs and outputs: ``epochal.Model(inputs, outputs)``.

    ``epochal.Model(inputs=..., outputs=...)`` (or positionally) returns a ``Functional``.

    Args:
        inputs: ``epochal.Input(...)`` tensors: one, or a list/tuple/dict (nested allowed).
        outputs: Tensors computed from them by calling layers; same structures allowed.
        name: Defaults to `None` (``functional``, ``functional_1``, ...).
        trainable: Whether the weights train. Defaults to `True`.
        device: Where to train. Defaults to `None` (CUDA when available, else CPU).

    Example:
        >>> import epochal
        >>> from epochal.layers import Dense
        >>> inputs = epochal.Input(shape=(3,))
        >>> outputs = Dense(1)(Dense(4, activation="relu")(inputs))
        >>> model = epochal.Model(inputs, outputs)
        >>> type(model).__name__, model.count_params()
        ('Functional', 21)
    """

    def __init__(
        self,
        inputs: Any = None,
        outputs: Any = None,
        name: str | None = None,
        *,
        trainable: bool = True,
        device: str | torch.device | None = None,
    ) -> None:
        if inputs is None or outputs is None:
            raise TypeError(
                "A functional model needs `inputs` and `outputs`: "
                "epochal.Model(inputs=epochal.Input(shape=...), outputs=...)."
            )
        graph = GraphModule(inputs, outputs)
        super().__init__(graph, device=device, name=name)
        graph.name = self.name
        if not trainable:
            set_trainable(graph, False)

    @property
    def graph(self) -> GraphModule:
        module = self.module
        assert isinstance(module, GraphModule)
        return module

    # ----------------------------------------------------------------- introspection
    @property
    def layers(self) -> list[Any]:
        """The layers (and nested models) in Keras' order: by depth from the inputs, the
        ``InputLayer`` s included (Keras 3 lists them for functional models, unlike
        ``Sequential``)."""
        return list(self.graph.operations)

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self.graph.flat_inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self.graph.flat_outputs)

    @property
    def input(self) -> Any:
        return self.graph.input_structure

    @property
    def output(self) -> Any:
        return self.graph.output_structure

    @property
    def input_names(self) -> list[str]:
        return list(self.graph._input_keys)

    @property
    def output_names(self) -> list[str]:
        """The names of the layers that produce the outputs (Keras' rule)."""
        return [_owner_name(t.node.owner) for t in self.graph.flat_outputs if t.node]

    def _output_keys(self) -> list[str]:
        """How targets, losses and loss weights for each output are keyed: the keys of a
        dict ``outputs``, else the output layers' names."""
        structure = self.graph.output_structure
        if isinstance(structure, Mapping) and all(
            isinstance(v, KerasTensor) for v in structure.values()
        ):
            return [str(k) for k in structure]
        return self.output_names

    def build(self, input_shape: Any = None) -> None:
        """A functional model is built when it is made; accepted for Keras compatibility."""

    def summary(
        self,
        line_length: int | None = None,
        positions: Any = None,
        print_fn: Any = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
        layer_range: Any = None,
    ) -> None:
        """Prints layers (``InputLayer`` s included), output shapes, parameter counts and
        what each layer is connected to, as Keras does for functional models. Keras' layout
        options are refused for values other than their defaults, as in :meth:`Model.summary`.
        """
        _check_summary_layout(line_length, positions, expand_nested, show_trainable, layer_range)
        graph = self.graph
        rows = []
        for owner in graph.operations:
            nodes = graph.model_nodes(owner)
            shapes = {
                str(n.outputs.shape)
                if isinstance(n.outputs, KerasTensor)
                else str(map_structure(lambda t: t.shape, n.outputs))
                for n in nodes
            }
            shape = shapes.pop() if len(shapes) == 1 else "multiple"
            connected = [graph.history(t) for n in nodes for t in n.inputs]
            text = ", ".join(f"{a}[{b}][{c}]" for a, b, c in connected) or "-"
            module = owner.module if isinstance(owner, Model) else owner
            rows.append((f"{_owner_name(owner)} ({type(owner).__name__})", shape, module, text))
        (print_fn or print)(summarize_graph(self.name, graph, rows))

    # ----------------------------------------------------------------- config
    def _describe(self, describe: Any) -> dict[str, Any]:
        graph = self.graph

        def tensor_entry(value: Any) -> Any:
            if isinstance(value, KerasTensor):
                return {
                    "class_name": "__keras_tensor__",
                    "config": {
                        "shape": list(value.shape),
                        "dtype": value.dtype,
                        "keras_history": graph.history(value),
                    },
                }
            if value is None or isinstance(value, bool | str | numbers.Number):
                return value
            raise TypeError(
                f"Cannot describe the call argument {value!r} of a functional model: only "
                "tensors, numbers, strings, booleans and None can be saved."
            )

        layers = []
        for owner in graph.operations:
            entry = dict(describe(owner))
            entry["name"] = _owner_name(owner)
            entry["inbound_nodes"] = [
                {
                    "args": map_structure(tensor_entry, list(n.args)),
                    "kwargs": map_structure(tensor_entry, n.kwargs),
                }
                for n in graph.model_nodes(owner)
                if not n.is_input
            ]
            layers.append(entry)
        return {
            "name": self.name,
            "trainable": graph.trainable,
            "layers": layers,
            "input_layers": map_structure(graph.history, graph.input_structure),
            "output_layers": map_structure(graph.history, graph.output_structure),
        }

    def get_config(self) -> dict[str, Any]:
        """Keras' functional schema: ``layers`` (each with ``inbound_nodes``),
        ``input_layers`` and ``output_layers`` as ``[layer name, node index, tensor index]``."""

        def describe(owner: Any) -> dict[str, Any]:
            if isinstance(owner, Model):
                get_config = getattr(owner, "get_config", None)
                if get_config is None:
                    raise TypeError(f"Model {owner.name!r} has no get_config().")
                return {"class_name": type(owner).__name__, "config": get_config()}
            if not isinstance(owner, Layer):
                raise TypeError(f"Layer {type(owner).__name__} has no get_config().")
            return {"class_name": type(owner).__name__, "config": owner.get_config()}

        return self._describe(describe)

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Functional:
        """Rebuilds an (uncompiled) functional model from :meth:`get_config` output."""
        classes: dict[str, Any] = {**LAYER_CLASSES, **(custom_objects or {})}

        def make(entry: Mapping[str, Any]) -> Any:
            name = entry["class_name"]
            model_cls = model_class(name)
            if model_cls is not None and name not in (custom_objects or {}):
                return model_cls.from_config(dict(entry["config"]), custom_objects)
            layer_cls = classes.get(name)
            if layer_cls is None:
                raise ValueError(f"Unknown layer class {name!r}; pass it in `custom_objects`.")
            if layer_cls is Lambda:  # its function comes back by name from custom_objects
                return Lambda.from_config(dict(entry["config"]), custom_objects)
            return layer_cls.from_config(dict(entry["config"]))

        return cls._rebuild(config, make)

    def architecture(self, describe: ModuleDescriber) -> dict[str, Any]:
        """The architecture saved by :meth:`save`: :meth:`get_config`'s schema, each layer
        described by the saving registry (custom layers included)."""

        def entry(owner: Any) -> dict[str, Any]:
            if isinstance(owner, Model):
                return {
                    "class_name": type(owner).__name__,
                    "config": owner.architecture(describe),
                    "is_model": True,
                }
            return describe(owner)

        return self._describe(entry)

    @classmethod
    def from_architecture(cls, config: Mapping[str, Any], build: ModuleBuilder) -> Functional:
        def make(entry: Mapping[str, Any]) -> Any:
            if entry.get("is_model"):
                model_cls = model_class(entry["class_name"])
                if model_cls is None:
                    raise ValueError(f"Unknown model class {entry['class_name']!r}.")
                return model_cls.from_architecture(entry["config"], build)
            return build(entry)

        return cls._rebuild(config, make)

    @classmethod
    def _rebuild(cls, config: Mapping[str, Any], make: Any) -> Functional:
        entries = list(config["layers"])
        owners = {entry["name"]: make(entry) for entry in entries}
        produced: dict[tuple[str, int], list[KerasTensor]] = {}
        for entry in entries:
            owner = owners[entry["name"]]
            if isinstance(owner, InputLayer):
                produced[(entry["name"], 0)] = [owner.output]
        pending = {entry["name"]: list(entry.get("inbound_nodes", [])) for entry in entries}
        done = dict.fromkeys(pending, 0)

        def tensor(spec: Any) -> Any:
            if isinstance(spec, Mapping) and spec.get("class_name") == "__keras_tensor__":
                layer, node, index = spec["config"]["keras_history"]
                return produced[(layer, int(node))][int(index)]
            if isinstance(spec, list):
                return [tensor(s) for s in spec]
            if isinstance(spec, Mapping):
                return {k: tensor(v) for k, v in spec.items()}
            return spec

        def ready(spec: Any) -> bool:
            if isinstance(spec, Mapping) and spec.get("class_name") == "__keras_tensor__":
                layer, node, _ = spec["config"]["keras_history"]
                return (layer, int(node)) in produced
            if isinstance(spec, list):
                return all(ready(s) for s in spec)
            if isinstance(spec, Mapping):
                return all(ready(v) for v in spec.values())
            return True

        progress = True
        while progress:
            progress = False
            for entry in entries:
                name = entry["name"]
                while done[name] < len(pending[name]):
                    call = pending[name][done[name]]
                    if not (ready(call.get("args", [])) and ready(call.get("kwargs", {}))):
                        break
                    args, kwargs = tensor(call.get("args", [])), tensor(call.get("kwargs", {}))
                    produced[(name, done[name])] = flatten(owners[name](*args, **kwargs))
                    done[name] += 1
                    progress = True
        left = [n for n in pending if done[n] < len(pending[n])]
        if left:
            raise ValueError(
                f"The saved graph cannot be rebuilt: layers {left} never get their inputs."
            )

        def endpoint(spec: Any) -> Any:
            if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
                return produced[(spec[0], int(spec[1]))][int(spec[2])]
            if isinstance(spec, list):
                return [endpoint(s) for s in spec]
            if isinstance(spec, Mapping):
                return {k: endpoint(v) for k, v in spec.items()}
            raise ValueError(f"Bad input/output entry {spec!r} in the saved functional config.")

        return cls(
            endpoint(config["input_layers"]),
            endpoint(config["output_layers"]),
            name=config.get("name"),
            trainable=bool(config.get("trainable", True)),
        )

    # ----------------------------------------------------------------- compile
    def compile(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`Model.compile` (per-output ``loss`` / ``loss_weights`` / ``metrics`` /
        ``weighted_metrics`` by output name or position). The outputs are known here, so
        settings that do not fit them are refused now rather than on the first batch."""
        super().compile(*args, **kwargs)
        structure = self.graph.output_structure
        if self._compile_loss is not None:
            self._compile_loss.build(structure)
        self.compiled_metrics.build(structure)


Model._functional_class = Functional
