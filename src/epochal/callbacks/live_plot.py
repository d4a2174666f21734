"""LivePlot: the training curves redrawn while ``fit`` runs, in a notebook or to a PNG file."""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from epochal._validation import check_bool, check_number
from epochal.callbacks.callback import Callback
from epochal.plotting import plot_history

__all__ = ["LivePlot"]


def _in_notebook() -> bool:
    """Whether the code runs in a Jupyter kernel (IPython's ZMQ shell)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class LivePlot(Callback):
    """Redraws :func:`epochal.plot_history`'s curves (best epoch marked, learning rate on a
    second axis, ``evaluation_data`` sets overlaid) as epochs end.

    Outside notebooks the figure goes to ``path`` (PNG, written atomically, so a viewer
    never reads half a file); in Jupyter it is also shown in the cell, one output updated
    in place (an IPython display handle). Redraws are throttled: at most one per
    ``min_interval`` seconds, plus the first epoch and the end of ``fit`` (so the final
    curves are always drawn). The curves are kept by the callback itself (they include the
    epoch that is ending) and are part of :meth:`state_dict`, so a run resumed by
    ``BackupAndRestore`` goes on drawing its earlier epochs. Only the main process draws.

    Args:
        path: PNG file to write. Defaults to `"curves.png"`; `None` writes no file.
        metrics: Metrics to draw (without ``val_``). Defaults to `None` (every logged metric
            but ``system/...`` keys).
        min_interval: Seconds between two redraws. Defaults to `1.0`.
        notebook: Show the figure with IPython's display. Defaults to `None` (when running
            in a Jupyter kernel).
        clock: Seconds clock (inject one in tests). Defaults to `None` (``time.monotonic``).

    Raises:
        ValueError / TypeError: for a negative ``min_interval``, a non-bool ``notebook``,
            or neither a ``path`` nor a notebook to draw to.
        ImportError: at train begin when ``notebook=True`` and IPython is not installed.

    Example:
        >>> import os, tempfile, numpy as np, torch, epochal
        >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
        >>> model = epochal.Model(torch.nn.Linear(2, 1), device="cpu")
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
        ...               callbacks=[epochal.callbacks.LivePlot(path)])
        >>> os.path.getsize(path) > 0
        True
    """

    main_process_only = True  # writes files / displays: rank 0 of a distributed job only

    def __init__(
        self,
        path: str | os.PathLike[str] | None = "curves.png",
        metrics: Sequence[str] | None = None,
        min_interval: float = 1.0,
        notebook: bool | None = None,
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        if path is not None and not isinstance(path, str | os.PathLike):
            raise TypeError(f"`path` must be a str, os.PathLike or None. Received: {path!r}")
        if isinstance(metrics, str):
            raise TypeError(f"`metrics` must be a list of names. Received: metrics={metrics!r}")
        seconds = check_number("min_interval", min_interval, minimum=0.0, finite=True)
        assert seconds is not None
        if notebook is not None:
            check_bool("notebook", notebook)
        if path is None and notebook is False:
            raise ValueError("LivePlot has nowhere to draw: pass a `path` or notebook=True.")
        self.path = None if path is None else os.fspath(path)
        self.metrics = None if metrics is None else list(metrics)
        self.min_interval = seconds
        self.notebook = notebook
        if clock is not None and not callable(clock):
            raise TypeError(f"`clock` must be a callable or None. Received: clock={clock!r}")
        self.clock = clock or time.monotonic
        self.history: dict[str, list[float]] = {}
        self.draws = 0
        self._epochs = 0
        self._last_draw: float | None = None
        self._drawn_epochs = -1
        self._handle: Any = None
        self._show = False

    # ------------------------------------------------------------------ drawing
    def _record(self, logs: dict[str, Any]) -> None:
        for key, value in logs.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            column = self.history.setdefault(key, [math.nan] * self._epochs)
            column.append(number)
        self._epochs += 1
        for column in self.history.values():
            column.extend([math.nan] * (self._epochs - len(column)))

    def _sets(self) -> tuple[str, ...]:
        state = getattr(self.model, "train_state", None)
        return tuple(getattr(state, "evaluation_sets", ()) or ())

    def draw(self) -> None:
        """Redraws now: the PNG file and the notebook output."""
        if not self.history:
            return
        figure = plot_history(self.history, metrics=self.metrics, path=self.path, sets=self._sets())
        self.draws += 1
        self._drawn_epochs = self._epochs
        if self._show:
            from IPython.display import Image, display

            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=80)
            image = Image(data=buffer.getvalue(), format="png")
            if self._handle is None:
                self._handle = display(image, display_id=True)
            else:
                self._handle.update(image)

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._show = _in_notebook() if self.notebook is None else self.notebook
        if self._show:
            try:
                import IPython.display  # noqa: F401
            except ImportError as exc:
                raise ImportError(
                    "LivePlot(notebook=True) needs IPython: pip install ipython."
                ) from exc
        if not self.resuming:
            self.history, self._epochs = {}, 0
        self._handle, self._last_draw, self._drawn_epochs = None, None, -1

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._record(dict(logs or {}))
        now = self.clock()
        if self._last_draw is None or now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self.draw()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._drawn_epochs != self._epochs:
            self.draw()  # the last epochs, skipped by the throttle

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """The curves so far."""
        return {"history": {k: list(v) for k, v in self.history.items()}, "epochs": self._epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        history = state.get("history") or {}
        self.history = {str(k): [float(v) for v in values] for k, values in history.items()}
        self._epochs = int(state.get("epochs", 0))
