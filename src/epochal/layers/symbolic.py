"""Symbolic tensors and the call graph of Keras' functional API.

``epochal.Input(shape=...)`` returns a :class:`KerasTensor`: a placeholder with a shape (the
batch axis ``None``), a dtype and a name, but no values. Calling an epochal layer (or a
model) on placeholders does not compute anything: it records a :class:`Node` (the layer,
the placeholders it was called on, the call's keyword arguments) and returns new
placeholders for the outputs. ``epochal.Model(inputs, outputs)`` then walks those nodes
back from the outputs (see :mod:`epochal.models.functional`).

How shapes are known: the layer is built and run once, in inference mode and without
gradients, on a small zero tensor (batch of 1, or the declared ``batch_size``; an unknown
non-batch axis is tried at two lengths, 32 and 33, and the output axes that follow it are
``None``). This is a real forward pass, so any layer that can run can be placed in a graph,
custom ones included; it happens once per call at graph construction, never while training.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from epochal import initializers
from epochal._modes import evaluating

__all__ = [
    "KerasTensor",
    "Node",
    "dtype_name",
    "flatten",
    "is_symbolic",
    "map_structure",
    "symbolic_call",
]

_UNKNOWN_LENGTHS = (32, 33)  # the two lengths an unknown non-batch axis is probed with
_TENSOR_IDS = itertools.count()


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"`` (Keras writes dtypes as strings)."""
    return str(dtype).removeprefix("torch.")


def flatten(structure: Any) -> list[Any]:
    """The leaves of nested lists, tuples and dicts (dicts in insertion order)."""
    if isinstance(structure, list | tuple):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for item in structure.values() for leaf in flatten(item)]
    return [structure]


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    """``structure`` with every leaf replaced by ``fn(leaf)``."""
    if isinstance(structure, list | tuple):
        return type(structure)(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(fn, item) for key, item in structure.items()}
    return fn(structure)


def is_symbolic(structure: Any) -> bool:
    """Whether ``structure`` is, or holds, a :class:`KerasTensor`."""
    if isinstance(structure, KerasTensor):
        return True
    if isinstance(structure, list | tuple):
        return any(is_symbolic(item) for item in structure)
    if isinstance(structure, dict):
        return any(is_symbolic(item) for item in structure.values())
    return False


class KerasTensor:
    """A symbolic tensor: what ``Input`` and layers called on symbolic inputs return.

    Attributes:
        shape: The full shape, the batch axis (and any unknown axis) ``None``.
        dtype: The dtype as Keras writes it (``"float32"``, ``"int32"``).
        name: The input's name for an ``Input``, else an automatic ``keras_tensor_N``.
        ndim: ``len(shape)``.
    """

    def __init__(
        self,
        shape: Sequence[int | None],
        dtype: Any = "float32",
        name: str | None = None,
    ) -> None:
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.torch_dtype = initializers.torch_dtype(dtype)
        self.dtype = dtype_name(self.torch_dtype)
        self.name = name or f"keras_tensor_{next(_TENSOR_IDS)}"
        self.node: Node | None = None  # the call that produced it
        self.index = 0  # its position among that call's outputs

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def sparse(self) -> bool:
        return False

    @property
    def _keras_history(self) -> tuple[Any, int, int]:
        """``(layer, node index, tensor index)``, as Keras records it."""
        if self.node is None:
            raise ValueError(f"{self!r} was not produced by a layer.")
        return self.node.owner, self.node.node_index, self.index

    def __repr__(self) -> str:
        return (
            f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, name={self.name}>"
        )

    def __bool__(self) -> bool:
        raise TypeError(
            f"A symbolic KerasTensor ({self.name}) has no value: it cannot be used as a Python "
            "bool. Symbolic tensors only describe the graph passed to epochal.Model(inputs, "
            "outputs)."
        )

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"A symbolic KerasTensor ({self.name}) has no value and cannot become an array. "
            "Build the model with epochal.Model(inputs, outputs), then call it on data."
        )

    @classmethod
    def __torch_function__(
        cls, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None
    ) -> Any:
        raise TypeError(
            f"{getattr(func, '__name__', func)} was called on a symbolic KerasTensor. Only "
            "epochal layers and models can be called on the outputs of epochal.Input(...); "
            "wrap the computation in a layer (a Layer subclass with call()), or use the "
            "merging layers (epochal.layers.Add, Concatenate)."
        )


class Node:
    """One symbolic call: ``module(*args, **kwargs)`` returned ``outputs``.

    Attributes:
        module: The ``nn.Module`` that runs when the graph runs.
        owner: What the user called (the layer, or the model whose ``module`` it is); it
            names the node in summaries and configs.
        args / kwargs: The call's arguments, :class:`KerasTensor` leaves included.
        outputs: The produced structure of :class:`KerasTensor`.
        inputs: The :class:`KerasTensor` leaves of ``args`` and ``kwargs``, in order.
        node_index: Position of this node among the owner's symbolic calls.
    """

    def __init__(
        self,
        module: nn.Module,
        owner: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        outputs: Any,
    ) -> None:
        self.module = module
        self.owner = owner
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        self.inputs = [t for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
        self.flat_outputs: list[KerasTensor] = [
            t for t in flatten(outputs) if isinstance(t, KerasTensor)
        ]
        nodes = inbound_nodes(owner)
        self.node_index = len(nodes)
        nodes.append(self)
        for index, tensor in enumerate(self.flat_outputs):
            tensor.node, tensor.index = self, index

    @property
    def is_input(self) -> bool:
        return not self.inputs and not self.args

    @property
    def parent_nodes(self) -> list[Node]:
        return [t.node for t in self.inputs if t.node is not None]


def inbound_nodes(owner: Any) -> list[Node]:
    """The symbolic calls of ``owner`` (a layer or a model), oldest first."""
    nodes = owner.__dict__.get("_inbound_nodes")
    if nodes is None:
        nodes = []
        owner.__dict__["_inbound_nodes"] = nodes
    return nodes


def _device_of(module: nn.Module) -> torch.device | None:
    tensor = next(itertools.chain(module.parameters(), module.buffers()), None)
    return tensor.device if tensor is not None else None


def _probe(tensor: KerasTensor, length: int, device: torch.device | None) -> torch.Tensor:
    dims = [(1 if i == 0 else length) if d is None else d for i, d in enumerate(tensor.shape)]
    return torch.zeros(dims, dtype=tensor.torch_dtype, device=device)


def symbolic_call(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], owner: Any = None
) -> Any:
    """Records ``module(*args, **kwargs)`` on symbolic inputs and returns symbolic outputs.

    ``module`` is built (and its output shapes found) by running it once on zeros; see the
    module docstring.

    Raises:
        TypeError: when the module does not return tensors (or lists/dicts of them).
    """
    owner = module if owner is None else owner
    inputs = [t for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
    unknown = any(d is None for t in inputs for d in t.shape[1:])
    device = _device_of(module)

    def run(length: int) -> Any:
        def concrete(value: Any) -> Any:
            return _probe(value, length, device) if isinstance(value, KerasTensor) else value

        with evaluating(module):
            out = module(*map_structure(concrete, args), **map_structure(concrete, kwargs))
        clear = getattr(module, "_clear_losses", None)
        if clear is not None:
            clear()  # the probe's add_loss() terms are not a training loss
        return out

    first = run(_UNKNOWN_LENGTHS[0])
    second = run(_UNKNOWN_LENGTHS[1]) if unknown else first
    batch_unknown = any(t.shape and t.shape[0] is None for t in inputs)
    pairs = iter(flatten(second))

    def symbolic(value: Any) -> Any:
        other = next(pairs)
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{getattr(owner, 'name', type(owner).__name__)} returned a "
                f"{type(value).__name__} when called on symbolic inputs; a layer in a "
                "functional model must return tensors (or lists/dicts of them)."
            )
        shape = [
            None if (i == 0 and batch_unknown) or d != other.shape[i] else int(d)
            for i, d in enumerate(value.shape)
        ]
        return KerasTensor(shape, value.dtype)

    outputs = map_structure(symbolic, first)
    Node(module, owner, args, kwargs, outputs)
    return outputs
