"""What ``compile(loss=..., loss_weights=...)`` resolves to, for one or several outputs.

A model's outputs are one tensor, a tuple/list of tensors or a dict of tensors. As in Keras 3:

* the outputs are named by the model's ``output_names`` when it has them (a functional
  model), by the dict's keys when the module returns a dict (in ``output_names`` order
  when they match, else sorted, as Keras flattens dicts), and are unnamed otherwise;
* ``loss`` is one loss (applied to every output), a list with one entry per output, or a
  dict ``{output_name: loss}`` (outputs left out, or given `None`, have no loss);
* ``loss_weights`` is a number (one output), a list with one weight per output, or a dict
  ``{output_name: weight}``; the total loss is the weighted sum of the output losses;
* ``y`` and ``sample_weight`` are given like the outputs (a list in output order or a dict
  by name); one ``sample_weight`` array weights every output;
* with several losses each output's *unweighted* loss is logged as ``<name>_loss``, where
  ``<name>`` is the output name or, for unnamed outputs, the loss name.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from epochal import losses as losses_module
from epochal.metrics import Mean

__all__ = ["CompiledLoss", "OutputStructure"]


class OutputStructure:
    """The flat view of a model's outputs: how many, their names, how ``y`` maps onto them.

    Args:
        y_pred: One batch of the model's outputs (a tensor, a tuple/list or a dict of them).
        model_names: The model's declared ``output_names``, or `None`.
    """

    def __init__(self, y_pred: Any, model_names: Sequence[str] | None = None) -> None:
        declared = list(model_names) if model_names else None
        if isinstance(y_pred, Mapping):
            _refuse_nested(y_pred.values())
            keys = list(y_pred)
            if declared and set(declared) == set(keys):
                self.names: list[str | None] = list(declared)
            else:
                self.names = sorted(keys)
            self.kind = "dict"
        elif isinstance(y_pred, list | tuple):
            _refuse_nested(y_pred)
            self.kind = "sequence"
            self.names = list(declared) if declared and len(declared) == len(y_pred) else []
            if not self.names:
                self.names = [None] * len(y_pred)
        else:
            self.kind = "single"
            self.names = [declared[0] if declared and len(declared) == 1 else None]

    @property
    def count(self) -> int:
        return len(self.names)

    @property
    def named(self) -> bool:
        return all(name is not None for name in self.names)

    def flatten_pred(self, y_pred: Any) -> list[Any]:
        if self.kind == "dict":
            return [y_pred[name] for name in self.names]
        if self.kind == "sequence":
            return list(y_pred)
        return [y_pred]

    def flatten_target(
        self, value: Any, argument: str, wanted: Sequence[bool] | None = None
    ) -> list[Any]:
        """``y`` (or a per-output ``sample_weight``) as one entry per output.

        ``wanted`` marks the outputs that need a target; a list with one entry per wanted
        output is spread over them (Keras accepts that when some outputs have no loss).

        Raises:
            ValueError: when the structure does not match the outputs, naming both.
        """
        n = self.count
        if n == 1:
            if isinstance(value, Mapping) and len(value) == 1:
                return list(value.values())
            if isinstance(value, list | tuple) and len(value) == 1:
                return [value[0]]
            return [value]
        if isinstance(value, Mapping):
            if not self.named:
                raise ValueError(
                    f"`{argument}` is a dict with keys {sorted(value)}, but the model's "
                    f"{n} outputs have no names (the module returns a "
                    "tuple/list). Pass a list in output order, or return a dict from the "
                    "module to name its outputs."
                )
            unknown = sorted(set(value) - set(self.names))
            if unknown:
                raise ValueError(
                    f"`{argument}` has keys {unknown}: unknown outputs; the model's outputs "
                    f"are {self.names}."
                )
            return [value.get(name) for name in self.names]
        if isinstance(value, list | tuple):
            if len(value) == n:
                return list(value)
            if wanted is not None and len(value) == sum(wanted):
                items = iter(value)
                return [next(items) if need else None for need in wanted]
            raise ValueError(
                f"`{argument}` is a {type(value).__name__} of {len(value)} entries, but the "
                f"model has {n} outputs{self._describe()}. Give one entry per output."
            )
        raise ValueError(
            f"The model has {n} outputs{self._describe()}, but `{argument}` is a single "
            f"{type(value).__name__}. Pass a list with one entry per output"
            + (" or a dict keyed by output name." if self.named else ".")
        )

    def flatten_weights(self, sample_weight: Any) -> list[Any]:
        """``sample_weight`` per output: one array weights every output."""
        if sample_weight is None:
            return [None] * self.count
        if isinstance(sample_weight, Mapping | list | tuple):
            return self.flatten_target(sample_weight, "sample_weight")
        return [sample_weight] * self.count

    def spread(self, config: Any, argument: str) -> list[Any]:
        """A per-output compile setting (list or dict) as one entry per output.

        Raises:
            ValueError: a list of the wrong length, a dict with unknown keys or for
                unnamed outputs, naming the setting and the outputs.
        """
        n = self.count
        if isinstance(config, Mapping):
            if not self.named:
                raise ValueError(
                    f"`{argument}` is a dict with keys {sorted(config)}, but the model's "
                    f"outputs have no names (the module returns a {self.kind}). Pass a list "
                    "with one entry per output, or return a dict from the module."
                )
            unknown = sorted(set(config) - set(self.names))
            if unknown:
                raise ValueError(
                    f"`{argument}` names unknown outputs {unknown}; the model's outputs are "
                    f"{self.names}."
                )
            return [config.get(name) for name in self.names]
        if isinstance(config, list | tuple):
            if len(config) != n:
                raise ValueError(
                    f"`{argument}` has {len(config)} entries, but the model has {n} "
                    f"output{'s' if n != 1 else ''}{self._describe()}. Give one entry per "
                    "output" + (" or a dict keyed by output name." if self.named else ".")
                )
            return list(config)
        raise TypeError(f"`{argument}` must be a list or a dict. Received: {config!r}")

    def _describe(self) -> str:
        return f" {self.names}" if self.named else ""


def _refuse_nested(values: Any) -> None:
    for value in values:
        if isinstance(value, Mapping | list | tuple):
            raise TypeError(
                "epochal supports model outputs that are a tensor, a flat tuple/list or a "
                f"flat dict of tensors; one output is a nested {type(value).__name__}. "
                "Flatten the outputs of the module."
            )


def _check_weight(argument: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{argument}` entries must be numbers. Received: {value!r}")
    return float(value)


def _resolve(identifier: Any) -> losses_module.Loss | None:
    return None if identifier is None else losses_module.get(identifier)


class CompiledLoss:
    """The total loss of a batch: each output's loss, weighted and summed (Keras' rules).

    Args:
        loss: One loss identifier (see :func:`epochal.losses.get`), a list with one per
            output, or a dict ``{output_name: loss}``.
        loss_weights: `None`, a number (one output), a list with one weight per output or a
            dict ``{output_name: weight}``. Defaults to `None` (every weight 1).
        output_names: The model's declared output names, or `None`.

    Calling it as ``loss(y_true, y_pred, sample_weight)`` returns the total (a 0-d tensor)
    and updates the ``<name>_loss`` trackers in :attr:`trackers` when there are several
    losses. The structure is resolved on the first call, from the outputs.

    Raises:
        TypeError / ValueError: for unknown losses or malformed settings, naming them (now
            for what compile can see, on the first batch for what needs the outputs).
    """

    def __init__(
        self,
        loss: Any,
        loss_weights: Any = None,
        output_names: Sequence[str] | None = None,
    ) -> None:
        if isinstance(loss, Mapping):
            self._spec: Any = {key: _resolve(value) for key, value in loss.items()}
        elif isinstance(loss, list | tuple):
            self._spec = [_resolve(value) for value in loss]
        else:
            self._spec = losses_module.get(loss)
        if loss_weights is not None:
            if isinstance(loss_weights, Mapping):
                loss_weights = {
                    k: _check_weight("loss_weights", v) for k, v in loss_weights.items()
                }
            elif isinstance(loss_weights, list | tuple):
                loss_weights = [_check_weight("loss_weights", v) for v in loss_weights]
            elif isinstance(loss_weights, numbers.Real) and not isinstance(loss_weights, bool):
                loss_weights = float(loss_weights)
            else:
                raise ValueError(
                    "`loss_weights` must be a number (one output), a list or a dict (several "
                    f"outputs). Received: {loss_weights!r}"
                )
        self._weights_spec = loss_weights
        self.output_names = list(output_names) if output_names else None
        self.structure: OutputStructure | None = None
        self.trackers: list[Mean] = []
        self._flat: list[tuple[losses_module.Loss, float | None, Mean | None]] = []
        self._wanted: list[bool] = []
        self.loss_names: list[str | None] = []
        self._fast: losses_module.Loss | None = None
        self._fast_weight: float | None = None

    @property
    def single(self) -> losses_module.Loss | None:
        """The one loss when ``loss`` was not given per output, else `None`."""
        return self._spec if isinstance(self._spec, losses_module.Loss) else None

    @property
    def name(self) -> str:
        single = self.single
        return str(single.name) if single is not None else "compile_loss"

    @property
    def built(self) -> bool:
        return self.structure is not None

    def loss_for(self, key: str | int) -> losses_module.Loss | None:
        """The loss of one output by name (dict spec) or position (list spec), if known."""
        if isinstance(self._spec, losses_module.Loss):
            return self._spec
        if isinstance(self._spec, Mapping):
            return self._spec.get(key) if isinstance(key, str) else None
        if isinstance(key, int) and 0 <= key < len(self._spec):
            return self._spec[key]
        return None

    def build(self, y_pred: Any) -> None:
        """Resolves the loss and weight settings against the outputs of one batch."""
        structure = OutputStructure(y_pred, self.output_names)
        n = structure.count
        if isinstance(self._spec, losses_module.Loss):
            flat_losses: list[losses_module.Loss | None] = [self._spec] * n
        elif isinstance(self._spec, list | tuple) and n == 1 and len(self._spec) != 1:
            raise ValueError(
                f"`loss` is a list of {len(self._spec)} losses, but the model has one output. "
                "Pass one loss (or a list with one entry per output)."
            )
        else:
            flat_losses = structure.spread(self._spec, "loss")
        weights_spec = self._weights_spec
        if weights_spec is None:
            flat_weights: list[float | None] = [None] * n
        elif isinstance(weights_spec, float):
            if n != 1:
                raise ValueError(
                    f"`loss_weights={weights_spec!r}` is one number, but the model has {n} "
                    "outputs. Pass a list with one weight per output, or a dict "
                    "{output_name: weight}."
                )
            flat_weights = [weights_spec]
        else:
            flat_weights = structure.spread(weights_spec, "loss_weights")
        if not any(fn is not None for fn in flat_losses):
            raise ValueError("`loss` gives no loss for any output of the model.")
        several = sum(fn is not None for fn in flat_losses) > 1
        used: dict[str, int] = {}
        self._flat = []
        self.trackers = []
        for fn, weight, name in zip(flat_losses, flat_weights, structure.names, strict=True):
            if fn is None:
                continue
            tracker = None
            if several:
                base = f"{name if name is not None else fn.name}_loss"
                count = used.get(base, 0)
                used[base] = count + 1
                # Keras lets two unnamed outputs with the same loss share one key (one value
                # is lost); epochal keeps both, numbering the second as Keras numbers metrics.
                tracker = Mean(name=base if count == 0 else f"{base}_{count}")
                self.trackers.append(tracker)
            self._flat.append((fn, weight, tracker))
        self.loss_names = [fn.name if fn is not None else None for fn in flat_losses]
        self._wanted = [fn is not None for fn in flat_losses]
        self._index = [i for i, fn in enumerate(flat_losses) if fn is not None]
        if structure.kind == "single":
            self._fast, self._fast_weight = self._flat[0][0], self._flat[0][1]
        self.structure = structure

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        if self.structure is None:
            self.build(y_pred)
        fast = self._fast
        if fast is not None:
            if type(y_true) is not torch.Tensor and isinstance(y_true, list | tuple | Mapping):
                y_true = self.structure.flatten_target(y_true, "y")[0]  # type: ignore[union-attr]
            if sample_weight is not None and isinstance(sample_weight, list | tuple | Mapping):
                sample_weight = self.structure.flatten_weights(sample_weight)[0]  # type: ignore[union-attr]
            value = fast(y_true, y_pred, sample_weight)
            return value if self._fast_weight is None else value * self._fast_weight
        structure = self.structure
        assert structure is not None
        preds = structure.flatten_pred(y_pred)
        trues = structure.flatten_target(y_true, "y", self._wanted)
        weights = structure.flatten_weights(sample_weight)
        total: torch.Tensor | None = None
        for (fn, weight, tracker), i in zip(self._flat, self._index, strict=True):
            if trues[i] is None:
                raise ValueError(
                    f"No target for output {structure.names[i] or i} of the model, which has "
                    f"a loss ({fn.name}). Give `y` for every output with a loss."
                )
            value = fn(trues[i], preds[i], weights[i])
            if tracker is not None:
                tracker.update(value.detach(), int(preds[i].shape[0]))
            if weight is not None:
                value = value * weight
            total = value if total is None else total + value
        assert total is not None
        return total

    def check_targets(self, y: Any, check: Any) -> None:
        """Runs ``check(loss, y)`` for every output whose target can be matched without
        the outputs (one loss and one target, or the same list/dict structure)."""
        single = self.single
        if single is not None and not isinstance(y, list | tuple | Mapping):
            check(single, y)
        elif isinstance(self._spec, Mapping) and isinstance(y, Mapping):
            for key, fn in self._spec.items():
                if fn is not None and key in y:
                    check(fn, y[key])
        elif isinstance(self._spec, list | tuple) and isinstance(y, list | tuple):
            if len(y) == len(self._spec):
                for fn, target in zip(self._spec, y, strict=True):
                    if fn is not None:
                        check(fn, target)
        elif single is not None and isinstance(y, list | tuple):
            for target in y:
                check(single, target)
        elif single is not None and isinstance(y, Mapping):
            for target in y.values():
                check(single, target)
