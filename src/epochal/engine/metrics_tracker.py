"""What ``compile`` resolves: the loss, the metrics and their running state."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from epochal import losses as losses_module
from epochal import metrics as metrics_module
from epochal.engine.compile_loss import CompiledLoss, OutputStructure
from epochal.logs import Logs, to_python
from epochal.metrics import Mean, Metric

__all__ = ["CompiledMetrics", "check_targets"]


class _Entry:
    """One compiled metric: its logs key, the output it reads and whether it is weighted."""

    __slots__ = ("key", "metric", "output", "weighted")

    def __init__(self, key: str, metric: Metric, output: int, weighted: bool) -> None:
        self.key, self.metric, self.output, self.weighted = key, metric, output, weighted


def _check_metrics_argument(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str) or not isinstance(value, Sequence | Mapping):
        raise TypeError(
            f"`{name}` must be a list (one output), a list with one entry per output or a dict "
            f"{{output_name: metrics}}, e.g. {name}=['accuracy']. Received: {value!r}"
        )


def _is_flat(value: Any) -> bool:
    """A plain list of metrics (no per-output structure)."""
    return value is None or (
        isinstance(value, Sequence)
        and not any(isinstance(v, Sequence | Mapping) and not isinstance(v, str) for v in value)
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence | Mapping):
        return [value]
    if isinstance(value, Mapping):
        return [m for v in value.values() for m in _as_list(v)]
    return [m for v in value for m in _as_list(v)]


class CompiledMetrics:
    """The loss tracker, the per-output loss trackers and the compiled metrics; keys of
    ``logs`` come from here.

    Args:
        metrics: Keras' ``compile(metrics=...)``: a list (one output, or one entry per
            output), or a dict ``{output_name: metric or list}``. Never sample-weighted.
        loss_name: The loss' name, which picks the ``"accuracy"`` variant of one output.
        weighted_metrics: Keras' ``compile(weighted_metrics=...)``, same forms; these, and
            only these, are weighted by ``sample_weight`` and ``class_weight``.
        loss: The :class:`~epochal.engine.compile_loss.CompiledLoss`, whose ``<name>_loss``
            trackers are logged with the metrics.
        output_names: The model's declared output names, or `None`.

    Keys follow Keras 3: a metric of a named output of a multi-output model is logged as
    ``<output>_<metric>``; a repeated key gets ``_1``, ``_2``...; a weighted metric whose key
    is taken is logged as ``weighted_<metric>`` (with the output prefix). With one output
    the plain metric names are used.

    ``update`` only queues device work. ``lazy_logs`` returns logs whose values are read
    from frozen snapshots of the accumulators (updates are out of place, so a shallow copy
    is a snapshot); ``results`` fetches every value in one transfer.
    """

    def __init__(
        self,
        metrics: Any,
        loss_name: str | None,
        weighted_metrics: Any = None,
        *,
        loss: CompiledLoss | None = None,
        output_names: Sequence[str] | None = None,
    ) -> None:
        _check_metrics_argument("metrics", metrics)
        _check_metrics_argument("weighted_metrics", weighted_metrics)
        _refuse_weighted_torchmetrics(weighted_metrics)
        self.loss_tracker = Mean(name="loss")
        self._user = (metrics, weighted_metrics)
        self._loss_name = loss_name
        self._compiled_loss = loss
        self._output_names = list(output_names) if output_names else None
        self.structure: OutputStructure | None = None
        self._pending_state: Mapping[str, Any] | None = None
        self._reducer: Callable[[list[Metric]], list[Metric]] | None = None
        self._single_output_entries: list[_Entry] | None = None
        if _is_flat(metrics) and _is_flat(weighted_metrics):
            # Resolved now for one output (the common case), so names are known at once.
            self._single_output_entries = self._entries(
                [[metrics_module.get(m, loss_name=loss_name) for m in metrics or []]],
                [[metrics_module.get(m, loss_name=loss_name) for m in weighted_metrics or []]],
                [None],
            )
            self._install(self._single_output_entries)
        else:
            for identifier in _as_list(metrics) + _as_list(weighted_metrics):
                if identifier is not None:
                    metrics_module.get(identifier, loss_name=loss_name)  # unknown names now
            self._install([])
        self.built = False

    # ------------------------------------------------------------------ building
    def _install(self, entries: list[_Entry]) -> None:
        self.entries = entries
        self.metrics: list[Metric] = [e.metric for e in entries]
        loss_trackers = self._compiled_loss.trackers if self._compiled_loss is not None else []
        self._all: list[Metric] = [self.loss_tracker, *loss_trackers, *self.metrics]
        self._keys_in_order = [
            "loss",
            *(t.name for t in loss_trackers),
            *(e.key for e in entries),
        ]
        self._loss_keys = {"loss", *(t.name for t in loss_trackers)}
        clash = self._loss_keys & {e.key for e in entries}
        if clash:
            raise ValueError(
                f"Metric names must not be the loss' names: {sorted(clash)}. Give the metric "
                "another name."
            )
        self.keys: list[str] = sorted(self._keys_in_order)

    def _entries(
        self,
        plain: list[list[Metric]],
        weighted: list[list[Metric]],
        prefixes: list[str | None],
    ) -> list[_Entry]:
        entries: list[_Entry] = []
        counters: dict[str, int] = {}
        seen: set[int] = set()
        for is_weighted, per_output in ((False, plain), (True, weighted)):
            for output, (metrics, prefix) in enumerate(zip(per_output, prefixes, strict=True)):
                for metric in metrics:
                    if id(metric) in seen:
                        raise ValueError(
                            f"The metric object {metric!r} is given twice in `metrics` / "
                            "`weighted_metrics`; one object keeps one state. Pass a new "
                            "object (or a name) for each use."
                        )
                    seen.add(id(metric))
                    base = f"{prefix}_{metric.name}" if prefix else metric.name
                    key = base
                    if key in counters:
                        if is_weighted:
                            weighted_name = f"weighted_{metric.name}"
                            key = f"{prefix}_{weighted_name}" if prefix else weighted_name
                        if key in counters:
                            index = counters[key]
                            counters[key] += 1
                            key = f"{key}_{index}"
                        else:
                            counters[key] = 1
                    else:
                        counters[key] = 1
                    entries.append(_Entry(key, metric, output, is_weighted))
        return entries

    def build(self, y_pred: Any) -> None:
        """Resolves the metric settings against the outputs of one batch (Keras' rules)."""
        structure = OutputStructure(y_pred, self._output_names)
        if structure.count == 1 and self._single_output_entries is not None:
            entries = self._single_output_entries
        else:
            entries = self._build_per_output(structure)
        self.structure = structure
        self._install(entries)
        self.built = True
        if self._pending_state is not None:
            state, self._pending_state = self._pending_state, None
            self.load_state_dict(state)

    def _build_per_output(self, structure: OutputStructure) -> list[_Entry]:
        n = structure.count
        loss_names: list[str | None] = [self._loss_name] * n
        if self._compiled_loss is not None and self._compiled_loss.built:
            loss_names = list(self._compiled_loss.loss_names)

        def resolve(config: Any, argument: str) -> list[list[Metric]]:
            if not config:
                return [[] for _ in range(n)]
            if n == 1:
                per_output = [_as_list(config)]
            else:
                if isinstance(config, Sequence) and len(config) != n:
                    raise ValueError(
                        f"The model has {n} outputs"
                        + (f" {structure.names}" if structure.named else "")
                        + f", but `{argument}` is a list of {len(config)} entries. Give one "
                        f"entry (a metric, a list of metrics or None) per output"
                        + (", or a dict {output_name: metrics}." if structure.named else ".")
                        + f" Received: {argument}={config!r}"
                    )
                per_output = [_as_list(entry) for entry in structure.spread(config, argument)]
            return [
                [metrics_module.get(m, loss_name=loss_names[i]) for m in ms if m is not None]
                for i, ms in enumerate(per_output)
            ]

        metrics, weighted = self._user
        prefixes: list[str | None] = structure.names if n > 1 else [None]
        return self._entries(
            resolve(metrics, "metrics"), resolve(weighted, "weighted_metrics"), prefixes
        )

    def set_reducer(self, reducer: Callable[[list[Metric]], list[Metric]] | None) -> None:
        """Installs a function that merges metric states across processes before results."""
        self._reducer = reducer

    # ------------------------------------------------------------------ per step
    def update(
        self,
        y_true: Any,
        y_pred: Any,
        sample_weight: Any,
        loss: torch.Tensor,
        batch_size: int,
    ) -> None:
        """Adds one batch: the total loss (batch-size weighted), then each metric on its
        output, the weighted ones with ``sample_weight``."""
        self.loss_tracker.update(loss.detach(), batch_size)
        if not self.built:
            self.build(y_pred)
        entries = self.entries
        if not entries:
            return
        structure = self.structure
        assert structure is not None
        if structure.kind == "single" and (
            type(y_true) is torch.Tensor or not isinstance(y_true, list | tuple | Mapping)
        ):
            y_pred = y_pred.detach()
            for entry in entries:
                entry.metric.update(y_true, y_pred, sample_weight if entry.weighted else None)
            return
        preds = [p.detach() for p in structure.flatten_pred(y_pred)]
        trues = structure.flatten_target(y_true, "y", self._wanted_targets())
        weights = structure.flatten_weights(sample_weight)
        for entry in entries:
            i = entry.output
            if trues[i] is None:
                continue
            entry.metric.update(trues[i], preds[i], weights[i] if entry.weighted else None)

    def _wanted_targets(self) -> list[bool] | None:
        loss = self._compiled_loss
        return loss._wanted if loss is not None and loss.built else None

    def reset(self) -> None:
        for metric in self._all:
            metric.reset()

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Keras' ``self.compiled_metrics.update_state(y, y_pred, sample_weight)`` of a
        custom ``train_step``: updates the compiled metrics (not the loss tracker)."""
        for metric in self.metrics:
            metric.update_state(y_true, y_pred, sample_weight)

    def direction(self, name: str) -> str | None:
        """``"up"``/``"down"``/``None`` for a logs key (the losses are ``"down"``)."""
        if name in self._loss_keys:
            return "down"
        for entry in self.entries:
            if entry.key == name:
                return entry.metric.direction
        return None

    def ordered_keys(self, logs: Mapping[str, Any]) -> list[str]:
        """The keys of ``logs`` in the order Keras' ``evaluate`` returns them as a list: the
        loss, the metrics' own (unprefixed) names that are keys, the output losses, then
        every other key sorted. As in Keras, a key named twice is returned twice."""
        trackers = self._compiled_loss.trackers if self._compiled_loss is not None else []
        preferred = ["loss", *(m.name for m in self.metrics), *(t.name for t in trackers)]
        ordered = [k for k in preferred if k in logs]
        return ordered + sorted(k for k in logs if k not in ordered)

    @property
    def names(self) -> list[str]:
        """Every logs key, the loss first, then per-output losses, then metrics in order."""
        return list(self._keys_in_order)

    def _frozen(self) -> list[Metric]:
        metrics = [copy.copy(m) for m in self._all]
        return self._reducer(metrics) if self._reducer is not None else metrics

    def results(self) -> dict[str, float]:
        """Current values, sorted by key, fetched in one transfer."""
        frozen = self._frozen()
        values = to_python(
            {key: m.result() for key, m in zip(self._keys_in_order, frozen, strict=True)}
        )
        return {k: values[k] for k in self.keys}

    def lazy_logs(self) -> Logs:
        """Logs of the current running means, fetched only when somebody reads a value.

        They are this process's own values: a cross-process reduction here would wait for
        ranks that never read their batch logs.
        """
        # Called every batch when a batch hook exists: snapshot the attribute dicts and
        # rebuild metric objects on read. epochal's metrics replace their accumulators, so a
        # shallow copy is a snapshot; a user metric may update a tensor in place
        # (``self.total += x``), so its tensors are copied on the device (no host sync).
        snapshot = [
            (key, type(m), _state_snapshot(m))
            for key, m in zip(self._keys_in_order, self._all, strict=True)
        ]
        return Logs.lazy(self.keys, lambda: _read_snapshot(snapshot))

    def state_dict(self) -> dict[str, Any]:
        if self._pending_state is not None:
            return dict(self._pending_state)
        return {key: m.state_dict() for key, m in zip(self._keys_in_order, self._all, strict=True)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not self.built and any(key not in self._keys_in_order for key in state):
            # Per-output metrics exist once the first batch shows the outputs.
            self._pending_state = dict(state)
        for key, metric in zip(self._keys_in_order, self._all, strict=True):
            if key in state:
                metric.load_state_dict(state[key])


def _refuse_weighted_torchmetrics(weighted_metrics: Any) -> None:
    for identifier in _as_list(weighted_metrics):
        inner = identifier.metric if isinstance(identifier, metrics_module.TorchMetric) else None
        if metrics_module.is_torchmetric_class(identifier):
            inner = identifier
        elif inner is None and metrics_module.is_torchmetric(identifier):
            inner = type(identifier)
        if inner is not None:
            shown = getattr(inner, "__name__", type(inner).__name__)
            raise TypeError(
                f"`weighted_metrics` got the torchmetrics metric {shown}, which takes no "
                "sample_weight (its update is update(preds, target)). Pass it in `metrics`."
            )


def _state_snapshot(metric: Metric) -> dict[str, Any]:
    if isinstance(metric, metrics_module.TorchMetric):  # copies its states on the device
        return copy.copy(metric).__dict__
    attributes = metric.__dict__.copy()
    if type(metric).__module__.startswith("epochal."):
        return attributes
    for key, value in attributes.items():
        if isinstance(value, torch.Tensor):
            attributes[key] = value.detach().clone()
        elif isinstance(value, (list, dict, set)):
            attributes[key] = copy.copy(value)
    return attributes


def _read_snapshot(snapshot: list[tuple[str, type[Any], dict[str, Any]]]) -> dict[str, float]:
    frozen = {}
    for key, cls, attributes in snapshot:
        metric = object.__new__(cls)
        metric.__dict__.update(attributes)
        frozen[key] = metric
    return to_python({key: m.result() for key, m in frozen.items()})


def check_targets(loss: losses_module.Loss, y: Any) -> None:
    """Rejects targets that cannot fit the loss, before any training happens.

    Raises:
        ValueError: one-hot targets with a sparse crossentropy, integer class indices with a
            categorical crossentropy.
    """
    if not isinstance(y, torch.Tensor):
        return
    name = loss.name
    if name == "sparse_categorical_crossentropy":
        _check_class_indices(y)
        if y.dim() >= 2 and y.shape[-1] > 1:
            raise ValueError(
                f"loss='sparse_categorical_crossentropy' expects integer class indices of shape "
                f"(batch,) or (batch, 1), but the targets have shape {tuple(y.shape)} (one-hot?). "
                "Use loss='categorical_crossentropy' or pass integer labels."
            )
    elif name == "categorical_crossentropy" and (y.dim() == 1 or y.shape[-1] == 1):
        raise ValueError(
            f"loss='categorical_crossentropy' expects one-hot targets of shape (batch, classes), "
            f"but the targets have shape {tuple(y.shape)}. Use "
            "loss='sparse_categorical_crossentropy' for integer labels, or convert them with "
            "epochal.utils.to_categorical."
        )


def _check_class_indices(y: torch.Tensor) -> None:
    """Sparse labels must be whole, finite, non-negative: a float label would be truncated
    and a NaN would index far out of the table."""
    if y.is_floating_point():
        finite = torch.isfinite(y)
        if not bool(finite.all()):
            raise ValueError(
                "loss='sparse_categorical_crossentropy' expects integer class indices, but the "
                f"targets contain {y[~finite].flatten()[0].item()} (NaN or infinite)."
            )
        fractional = y != y.round()
        if bool(fractional.any()):
            raise ValueError(
                "loss='sparse_categorical_crossentropy' expects integer class indices, but the "
                f"targets contain {y[fractional].flatten()[0].item()}; it would be truncated. "
                "Pass integer labels (e.g. y.astype('int64'))."
            )
    if y.numel() and bool((y < 0).any()):
        raise ValueError(
            "loss='sparse_categorical_crossentropy' expects class indices >= 0, but the "
            f"targets contain {y.min().item()}."
        )
