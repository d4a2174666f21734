"""MonitorCallback: the shared "watch one logs key, decide if it improved" logic."""

from __future__ import annotations

import difflib
import math
import re
import warnings
from typing import Any, Literal

import numpy as np

from epochal._validation import check_number, check_str
from epochal.callbacks.callback import Callback
from epochal.metrics import accuracy_alias

__all__ = ["MonitorCallback"]

Mode = Literal["auto", "min", "max"]

# Names Keras 3 treats as "higher is better" / "lower is better" when the model itself cannot
# tell (an uncompiled stub, a metric object without a declared direction).
_MAX_NAMES = frozenset(
    {
        "acc",
        "accuracy",
        "binary_accuracy",
        "categorical_accuracy",
        "sparse_categorical_accuracy",
        "top_k_categorical_accuracy",
        "sparse_top_k_categorical_accuracy",
        "auc",
        "prc",
        "precision",
        "recall",
        "f1_score",
        "fbeta_score",
        "iou",
        "mean_iou",
        "binary_iou",
        "one_hot_iou",
        "one_hot_mean_iou",
        "r2_score",
        "cosine_similarity",
        "pearson_correlation",
        "concordance_correlation",
    }
)
_MIN_NAMES = frozenset(
    {
        "loss",
        "mse",
        "mae",
        "mape",
        "msle",
        "rmse",
        "mean_squared_error",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_squared_logarithmic_error",
        "root_mean_squared_error",
        "logcosh",
        "log_cosh",
        "kl_divergence",
        "kld",
        "kullback_leibler_divergence",
        "poisson",
        "hinge",
        "squared_hinge",
        "categorical_hinge",
    }
)
_AT_METRIC = re.compile(r"^\w+_at_\w+$")  # precision_at_recall, sensitivity_at_specificity...


def _direction_by_name(name: str) -> str | None:
    if name in _MAX_NAMES or _AT_METRIC.match(name):
        return "max"
    if name in _MIN_NAMES or name.endswith(("loss", "error", "crossentropy")):
        return "min"
    return None


class MonitorCallback(Callback):
    """Base of the callbacks that watch one metric: ``EarlyStopping``, ``ReduceLROnPlateau``,
    ``ModelCheckpoint``.

    It owns the monitored key, the direction (``min``/``max``, inferred in ``auto`` mode from
    the compiled metric: losses and errors minimise, accuracy, AUC, precision, recall and any
    metric declaring ``direction = "up"`` maximise), the ``min_delta`` margin and the pure
    improvement test. The direction is resolved at the first epoch end and then cached.

    Monitoring ``acc`` when the logs hold ``accuracy`` (or ``val_acc`` / ``val_accuracy``,
    either way round) uses the spelling that exists, with a warning once per ``fit``; this
    is an epochal extension for Keras 2 code (Keras 3 raises). A monitor missing from the
    logs warns once per ``fit`` and the epoch is skipped, as in Keras.

    Args:
        monitor: logs key to watch. Defaults to `"val_loss"`.
        mode: ``"auto"``, ``"min"`` or ``"max"``; anything else warns and means ``"auto"``.
            Defaults to `"auto"`.
        baseline: initial reference value, or ``None``. Defaults to `None`.
        min_delta: smallest change that counts as an improvement; its sign is dropped.
            Defaults to `0.0`.

    Raises:
        ValueError: at the first epoch end, in ``auto`` mode, when the direction of
            ``monitor`` cannot be determined.

    Example:
        >>> from epochal.callbacks.monitor_callback import MonitorCallback
        >>> cb = MonitorCallback(monitor="loss", mode="min", min_delta=-0.1)
        >>> cb.min_delta, cb.is_improvement(0.85, 1.0), cb.is_improvement(0.95, 1.0)
        (0.1, True, False)
    """

    #: Format of the missing-monitor warning; subclasses use Keras' wording.
    missing_message = (
        "Monitored metric `{monitor}` is not available. Available metrics are: {available}."
    )

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: Mode | str = "auto",
        baseline: float | None = None,
        min_delta: float = 0.0,
    ) -> None:
        super().__init__()
        where = f"{type(self).__name__}: "
        check_str("monitor", monitor, non_empty=True, where=where)
        check_number("baseline", baseline, finite=True, allow_none=True, where=where)
        check_number("min_delta", min_delta, finite=True, where=where)
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                UserWarning,
                stacklevel=3,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.baseline = baseline
        self.min_delta = abs(min_delta)
        self.direction: str | None = None
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ direction
    def resolve_direction(self, logs: dict[str, Any] | None = None) -> None:
        """Sets ``self.direction`` to ``"min"`` or ``"max"`` (once; cached afterwards).

        Raises:
            ValueError: in ``auto`` mode when neither the model nor the metric name tells
                whether the monitored value should go up or down.
        """
        if self.direction is not None:
            return
        if self.mode in ("min", "max"):
            self.direction = self.mode
            return
        for key in (self.monitor, accuracy_alias(self.monitor)):
            if key is None:
                continue
            name = key[4:] if key.startswith("val_") else key
            if name == "loss":
                self.direction = "min"
                return
            model_direction = None
            if self.model is not None and hasattr(self.model, "metric_direction"):
                model_direction = self.model.metric_direction(name)
            if model_direction is not None:
                self.direction = "max" if model_direction == "up" else "min"
                return
            by_name = _direction_by_name(name)
            if by_name is not None:
                self.direction = by_name
                return
        known = sorted(logs) if logs else list(getattr(self.model, "metrics_names", []) or [])
        raise ValueError(
            f"{type(self).__name__} callback received monitor={self.monitor!r}, but it isn't able "
            "to automatically determine whether that metric should be maximized or minimized. "
            "Pass `mode='max'` in order to monitor based on the highest metric value, or pass "
            "`mode='min'` in order to use the lowest value. "
            f"Available metrics: {', '.join(known) or '(none)'}."
        )

    # ------------------------------------------------------------------ reading logs
    def _reset_monitor_warnings(self) -> None:
        """Lets the once-per-fit warnings fire again; call from ``on_train_begin``."""
        self._warned = set()

    def _warn_once(self, key: str, message: str, category: type[Warning] = UserWarning) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, category, stacklevel=4)

    def get_monitor_value(self, logs: dict[str, Any] | None) -> float | None:
        """The monitored value from ``logs``, or ``None`` (with a once-per-fit warning)."""
        logs = logs or {}
        if self.monitor in logs:
            return logs[self.monitor]
        alias = accuracy_alias(self.monitor)
        if alias is not None and alias in logs:
            self._warn_once(
                "alias",
                f"{type(self).__name__}: monitor `{self.monitor}` is not in the logs; using "
                f"`{alias}` instead (Keras 2 spelling). Pass monitor='{alias}' to silence this.",
            )
            return logs[alias]
        available = ",".join(logs)
        message = self.missing_message.format(monitor=self.monitor, available=available)
        close = difflib.get_close_matches(self.monitor, list(logs), n=1)
        if close:
            message += f" Did you mean `{close[0]}`?"
        self._warn_once("missing", message)
        return None

    # ------------------------------------------------------------------ decision
    def is_improvement(self, current: Any, reference: Any) -> bool:
        """Whether ``current`` beats ``reference`` by more than ``min_delta`` (pure).

        A ``None`` reference is always beaten, even by NaN (Keras' rule); NaN never beats a
        number. Values are compared as float32, like Keras, so near-ties are ties.
        """
        if reference is None:
            return True
        direction = self.direction or ("max" if self.mode == "max" else "min")
        cur, ref, delta = np.float32(current), np.float32(reference), np.float32(self.min_delta)
        if math.isnan(cur):
            return False
        # Keras' exact float32 arithmetic: shift `current`, never the reference.
        if direction == "min":
            return bool(cur + delta < ref)
        return bool(cur - delta > ref)
