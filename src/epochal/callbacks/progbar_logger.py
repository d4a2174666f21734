"""ProgbarLogger: Keras' progress display, drawn with tqdm."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Mapping
from typing import IO, Any

from tqdm import tqdm

from epochal._validation import check_callable, check_choice, check_number
from epochal.callbacks.callback import Callback

__all__ = ["ProgbarLogger", "format_value"]


def format_value(value: Any) -> str:
    """Keras' number format: ``%.4f`` when ``|v| > 1e-3``, else ``%.4e``."""
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"
    return str(value)


def _format_metrics(logs: Mapping[str, Any]) -> str:
    return "".join(f" - {key}: {format_value(value)}" for key, value in logs.items())


def _format_per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds) // 3600}:{(int(seconds) % 3600) // 60:02d}:{int(seconds) % 60:02d}"
    if seconds > 60:
        return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
    return f"{seconds:.0f}s"


class ProgbarLogger(Callback):
    """Prints Keras' progress bar (``verbose=1``) or one line per epoch (``verbose=2``).

    Added by ``fit``, ``evaluate`` and ``predict`` unless ``verbose=0``. On a terminal the
    bar is a tqdm bar redrawn at most every ``interval`` seconds — metrics are read from the
    device only at those moments, never per batch. When the stream is not a terminal (a log
    file, a pipe) the bar is not redrawn in place: a progress line is written at most every
    ``static_interval`` seconds, plus the final line of each epoch, so logs stay short.

    Args:
        count_mode: Keras 2 argument, accepted and ignored (with a warning). Defaults to
            `None`.
        stateful_metrics: Keras 2 argument, accepted and ignored. Defaults to `None`.
        stream: Where to write. Defaults to `None` (``sys.stdout`` at write time).
        clock: Monotonic clock in seconds (inject one in tests). Defaults to `None`
            (``time.monotonic``).
        interval: Minimum seconds between terminal redraws. Defaults to `0.05`.
        static_interval: Minimum seconds between progress lines on a non-terminal stream.
            Defaults to `30.0`.

    Example:
        >>> import io
        >>> from epochal.callbacks import ProgbarLogger
        >>> bar = ProgbarLogger(stream=io.StringIO())
    """

    main_process_only = True  # one bar per job, not one per process

    def __init__(
        self,
        count_mode: str | None = None,
        stateful_metrics: Any = None,
        *,
        stream: IO[str] | None = None,
        clock: Callable[[], float] | None = None,
        interval: float = 0.05,
        static_interval: float = 30.0,
    ) -> None:
        super().__init__()
        where = "ProgbarLogger: "
        check_choice("count_mode", count_mode, (None, "steps", "samples"), where=where)
        check_callable("clock", clock, allow_none=True, where=where)
        check_number("interval", interval, minimum=0.0, finite=True, unit="seconds", where=where)
        check_number(
            "static_interval",
            static_interval,
            minimum=0.0,
            finite=True,
            unit="seconds",
            where=where,
        )
        if count_mode is not None or stateful_metrics is not None:
            warnings.warn(
                "ProgbarLogger's `count_mode` and `stateful_metrics` are Keras 2 arguments; "
                "they are ignored (progress is counted in steps).",
                DeprecationWarning,
                stacklevel=2,
            )
        self.stream = stream
        self.clock = clock or time.monotonic
        self.interval = interval
        self.static_interval = static_interval
        self.verbose = 1
        self.epochs = 1
        self.target: int | None = None
        self._in_fit = False
        self._bar: tqdm | None = None
        self._seen = 0
        self._start = 0.0
        self._first_step_end: float | None = None
        self._last_draw = 0.0

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = int(params.get("epochs") or 1)
        self.target = params.get("steps")

    def _out(self) -> IO[str]:
        return self.stream if self.stream is not None else sys.stdout

    def _dynamic(self) -> bool:
        isatty = getattr(self._out(), "isatty", None)
        return bool(isatty and isatty())

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Validation inside fit is silent (Keras): remember that a fit is running.
        self._in_fit = True

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.verbose and self.epochs > 1:
            self._out().write(f"Epoch {epoch + 1}/{self.epochs}\n")
            self._out().flush()
        self._start_bar()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._update(batch + 1, logs or {})

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._finish(logs or {})

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._in_fit:
            self._start_bar()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._in_fit:
            self._update(batch + 1, logs or {})

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self._in_fit:
            self._finish(logs or {})

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._start_bar()

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._update(batch + 1, {})

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        self._finish({})

    # ------------------------------------------------------------------ drawing
    def _start_bar(self) -> None:
        self._seen = 0
        self._start = self.clock()
        self._last_draw = self._start
        self._first_step_end = None
        if self.verbose == 1 and self._dynamic():
            self._bar = tqdm(
                total=self.target,
                file=self._out(),
                bar_format="{n_fmt}/{total_fmt} {bar:20} {postfix}",
                ascii=" ━",
                mininterval=0,
                miniters=0,
                leave=True,
                dynamic_ncols=False,
            )

    def _update(self, seen: int, logs: Mapping[str, Any]) -> None:
        self._seen = seen
        if self.verbose != 1:
            return
        now = self.clock()
        if self._first_step_end is None:
            self._first_step_end = now
        limit = self.interval if self._bar is not None else self.static_interval
        if now - self._last_draw < limit:
            return
        self._last_draw = now
        self._draw(logs, now, final=False)

    def _finish(self, logs: Mapping[str, Any]) -> None:
        if not self.verbose:
            return
        now = self.clock()
        if self.target is None:
            self.target = self._seen
        if self.verbose == 2:
            elapsed = now - self._start
            line = (
                f"{self._seen}/{self.target} - {elapsed:.0f}s - "
                f"{_format_per_step(self._per_step(now))}{_format_metrics(logs)}\n"
            )
            self._out().write(line)
            self._out().flush()
            return
        self._draw(logs, now, final=True)

    def _per_step(self, now: float) -> float:
        if self._seen >= 2 and self._first_step_end is not None:
            return (now - self._first_step_end) / (self._seen - 1)
        return (now - self._start) / max(self._seen, 1)

    def _draw(self, logs: Mapping[str, Any], now: float, final: bool) -> None:
        per_step = self._per_step(now)
        if final:
            timing = f"{now - self._start:.0f}s"
        elif self.target:
            timing = _format_eta(per_step * max(self.target - self._seen, 0))
        else:
            timing = f"{now - self._start:.0f}s"
        text = f"{timing} {_format_per_step(per_step)}{_format_metrics(logs)}"
        if self._bar is not None:
            if final and self._bar.total is None:
                self._bar.total = self._seen
            self._bar.n = self._seen
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.refresh()
            if final:
                self._bar.close()
                self._bar = None
            return
        total = self.target if self.target else None
        counter = f"{self._seen}/{total}" if total else f"{self._seen:7d}/Unknown"
        bar = ""
        if total:
            done = min(20, int(20 * self._seen / total))
            bar = " " + "━" * done + " " * (20 - done)
        self._out().write(f"{counter}{bar} {text}\n")
        self._out().flush()
