"""Training curves from a History, a dict of lists or a CSVLogger file (headless matplotlib)."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from epochal._io import atomic_write

__all__ = ["load_history_csv", "plot_history"]

_LR_KEYS = ("learning_rate", "lr")
_UP_WORDS = (
    "acc",
    "auc",
    "precision",
    "recall",
    "f1",
    "fbeta",
    "iou",
    "r2",
    "cosine",
    "correlation",
)


def load_history_csv(path: str | os.PathLike[str]) -> dict[str, list[float]]:
    """Reads a CSVLogger file into ``{key: [values]}`` (``NA`` and text become NaN).

    The delimiter is detected among ``,``, ``;``, tab and ``|``.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        text = handle.read()
    if not text.strip():
        return {}
    try:
        dialect: Any = csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.DictReader(text.splitlines(), dialect=dialect))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if key is None:
                continue
            columns.setdefault(key, []).append(_number(value))
    return columns


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _history_dict(history_or_csv: Any) -> dict[str, list[float]]:
    if isinstance(history_or_csv, str | os.PathLike):
        return load_history_csv(history_or_csv)
    source = getattr(history_or_csv, "history", history_or_csv)
    if not isinstance(source, Mapping):
        raise TypeError(
            "`history_or_csv` must be a History, a dict of lists or a CSV path. "
            f"Received: {type(history_or_csv).__name__}"
        )
    return {str(k): [_number(v) for v in values] for k, values in source.items()}


def _higher_is_better(name: str) -> bool:
    return "loss" not in name and any(word in name for word in _UP_WORDS)


def _best_index(values: Sequence[float], name: str) -> int | None:
    finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
    if not finite:
        return None
    return (max(finite) if _higher_is_better(name) else min(finite, key=lambda p: (p[0], p[1])))[1]


def plot_history(
    history_or_csv: Any,
    metrics: Sequence[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    sets: Sequence[str] = (),
) -> Figure:
    """Draws train and validation curves, one panel per metric, best epoch marked.

    The curves of ``fit``'s ``evaluation_data`` sets named in ``sets`` (``test_loss`` for
    ``"test"``) are drawn in the panel of their metric. Keys with a ``/`` (the
    ``system/...`` keys of ``SystemMonitor``) get no panel unless ``metrics`` names them.

    The best epoch is taken on the validation curve when there is one (lowest for losses
    and errors, highest for accuracy-like metrics). When a learning rate was logged
    (``learning_rate`` or ``lr``) it is drawn on a second, logarithmic axis of the first
    panel. No display is needed: the figure is drawn with matplotlib's Agg canvas.

    Args:
        history_or_csv: A :class:`~epochal.callbacks.History`, a dict of lists (its
            ``history``) or the path of a CSVLogger file.
        metrics: Metric names to draw (without ``val_``). Defaults to `None` (every logged
            metric, ``loss`` first).
        path: Where to save the figure (format from the extension), written atomically.
            Defaults to `None` (not saved).
        sets: Names of evaluation sets to overlay. Defaults to `()`.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        TypeError: when ``history_or_csv`` is none of the accepted kinds.
        ValueError: when there is nothing to draw or a requested metric was not logged.

    Example:
        >>> from epochal import plot_history
        >>> fig = plot_history({"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.7, 0.8]})
        >>> fig.axes[0].get_title()
        'loss (best epoch 2: 0.7)'
    """
    data = _history_dict(history_or_csv)
    epochs_column = data.pop("epoch", None)
    lr_key = next((k for k in _LR_KEYS if k in data), None)
    ignored = {*_LR_KEYS, *(f"val_{k}" for k in _LR_KEYS)}
    prefixes = ("val_", *(f"{name}_" for name in sets))
    available = [
        k for k in data if not k.startswith(prefixes) and k not in ignored and "/" not in k
    ]
    available.sort(key=lambda k: (k != "loss", k))
    if metrics is None:
        metrics = available
    missing = [m for m in metrics if not any(p + m in data for p in ("", *prefixes))]
    if missing or not metrics:
        raise ValueError(
            f"Nothing to plot for {missing or 'any metric'}; logged keys: {sorted(data)}"
        )
    figure = Figure(figsize=(6.4, 3.2 * len(metrics)), layout="constrained")
    axes = figure.subplots(len(metrics), 1, squeeze=False)[:, 0]
    for index, (axis, name) in enumerate(zip(axes, metrics, strict=True)):
        _draw_metric(axis, name, data, epochs_column, sets)
        if index == 0 and lr_key is not None:
            _draw_learning_rate(axis, data[lr_key], epochs_column)
    axes[-1].set_xlabel("epoch")
    if path is not None:
        target = Path(path)
        fmt = target.suffix.lstrip(".") or "png"
        atomic_write(target, lambda tmp: figure.savefig(tmp, format=fmt, dpi=100))
    return figure


def _epochs(count: int, column: list[float] | None) -> list[float]:
    if column is not None and len(column) >= count:
        return [c + 1 for c in column[:count]]  # CSV epochs are 0-based; people count from 1
    return list(range(1, count + 1))


def _draw_metric(
    axis: Any,
    name: str,
    data: dict[str, list[float]],
    column: list[float] | None,
    sets: Sequence[str] = (),
) -> None:
    curves = [
        (key, label)
        for key, label in ((name, "train"), (f"val_{name}", "validation"))
        if key in data
    ]
    for key, label in curves:
        values = data[key]
        axis.plot(_epochs(len(values), column), values, marker=".", label=label)
    for set_name in sets:
        values = data.get(f"{set_name}_{name}", [])
        # A set evaluated every N epochs has NaN in the others: draw its points only.
        xs_all = _epochs(len(values), column)
        points = [(x, v) for x, v in zip(xs_all, values, strict=True) if math.isfinite(v)]
        if points:
            xs, ys = zip(*points, strict=True)
            axis.plot(xs, ys, marker="s", linestyle="--", label=set_name)
    if not curves:
        axis.set_title(name)
        axis.legend(loc="best", fontsize="small")
        return
    key = curves[-1][0]  # the validation curve when there is one
    best = _best_index(data[key], name)
    title = name
    if best is not None:
        x = _epochs(len(data[key]), column)[best]
        value = data[key][best]
        axis.plot(
            [x],
            [value],
            "o",
            markersize=10,
            markerfacecolor="none",
            color="red",
            label=f"best ({'max' if _higher_is_better(name) else 'min'})",
        )
        axis.axvline(x, color="red", linewidth=0.8, linestyle=":")
        title = f"{name} (best epoch {x:g}: {value:.4g})"
    axis.set_title(title)
    axis.set_ylabel(name)
    axis.grid(True, alpha=0.3)
    axis.legend(loc="best", fontsize="small")


def _draw_learning_rate(axis: Any, values: list[float], column: list[float] | None) -> None:
    twin = axis.twinx()
    twin.plot(
        _epochs(len(values), column), values, color="gray", linestyle="--", label="learning rate"
    )
    if all(v > 0 for v in values if math.isfinite(v)):
        twin.set_yscale("log")
    twin.set_ylabel("learning rate", color="gray")
    twin.legend(loc="upper center", fontsize="small")
