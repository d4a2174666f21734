"""ModelCheckpoint: save the model (or its weights) during ``fit``, atomically."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from epochal._validation import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_number,
    check_verbose,
    is_int,
    is_number,
)
from epochal.callbacks._checkpoint_paths import (
    check_suffix,
    check_writable,
    format_filepath,
    owned_by_template,
    top_k,
)
from epochal.callbacks._save_schedule import SaveSchedule
from epochal.callbacks.callback import canonical_hook
from epochal.callbacks.monitor_callback import Mode, MonitorCallback
from epochal.saving import PendingSave, prepare_save
from epochal.saving.async_writer import AsyncWriter

__all__ = ["ModelCheckpoint"]

_UNRECOGNIZED_SAVE_FREQ = (
    "Unrecognized save_freq: {value!r}. Expected 'epoch' or an integer number of batches."
)


def _write_file(pending: PendingSave, tensors: Any) -> None:
    """The background half of an asynchronous save (one seam, for tests)."""
    pending.write(tensors)


class ModelCheckpoint(MonitorCallback):
    """Saves the model or its weights at the end of every epoch or every N batches.

    ``filepath`` may hold ``str.format`` placeholders: ``{epoch}`` (1-based), ``{batch}``
    (1-based within the epoch, with an integer ``save_freq``) and any logs key such as
    ``{val_loss:.2f}``; ``{acc}``/``{val_acc}`` also accept the ``accuracy`` keys. Slashes
    inside substituted values become ``_``, so no stray folders appear; folders in the
    template itself are created. Every file is written atomically (temporary file, fsync,
    rename): a crash leaves the previous file or the new one, never a torn one. With
    ``save_best_only`` the best value persists across ``fit`` calls (as in Keras); when the
    monitored value is missing from the logs (the default ``val_loss`` without validation
    data), the model is saved every time, as Keras 3 does, with one warning per ``fit``.

    With ``max_to_keep``, only files this callback may own are ever deleted: paths that
    match its own filepath template inside its own folder. A restored state
    (:meth:`load_state_dict`, e.g. from a backup) is validated entry by entry; an entry
    naming any other file is dropped with a warning, and every path is checked again just
    before it is removed, and only once the file that replaces it is durable.

    With ``async_save=True`` the save copies the model (and, for whole models, the
    optimizer state) to host memory at the step boundary, and one background thread per
    callback writes the file while training goes on: one write at a time (a save waits for
    the one in flight), files pruned by ``max_to_keep`` deleted after their replacement is
    renamed into place and fsynced, a failed write raised as
    :class:`~epochal.saving.async_writer.BackgroundWriteError` naming the file at the next
    batch or epoch end, and the write in flight finished by ``on_train_end``. The default
    is `False`, as in Keras: the file exists when the hook that saved it returns, which code
    reading it from a later callback of the same epoch relies on; checkpoints every few
    steps of a large model should turn it on (``benchmarks/backup_overhead.py`` measures
    both).

    Args:
        filepath: Path or template. Whole models end in ``.keras`` or ``.h5`` (``.hdf5`` is
            accepted with a warning); weights in ``.weights.h5``, ``.safetensors``, ``.pt``
            (``.h5``/``.hdf5`` accepted with a warning).
        monitor: Logs key compared with ``save_best_only``. Defaults to `"val_loss"`.
        verbose: 1 prints a line per decision. Defaults to `0`.
        save_best_only: Save only when ``monitor`` improves. Defaults to `False`.
        save_weights_only: Save weights (``save_weights``) instead of the model. Defaults
            to `False`.
        mode: ``"auto"``, ``"min"`` or ``"max"``. Defaults to `"auto"`.
        save_freq: ``"epoch"`` or an integer number of batches. Defaults to `"epoch"`.
        initial_value_threshold: Value the first save must beat. Defaults to `None`.
        max_to_keep: With a templated path, keep only this many files: the best by
            ``monitor`` (newest first on ties, or when it is not logged). Defaults to `None`.
        period: Keras 2: save every ``period`` epochs (deprecated). Defaults to `None`.
        print_fn: Where verbose lines go. Defaults to `None` (``print``).
        async_save: Write files on a background thread (see above), in the format the
            synchronous ``save`` / ``save_weights`` of the same path writes (Keras' format
            for ``.keras`` / ``.weights.h5`` when Keras can hold the model, see
            ``docs/saving.md``), through :func:`epochal.saving.prepare_save` rather than
            the host's ``save`` / ``save_weights``. Defaults to `False`.

    Raises:
        TypeError: ``filepath`` is not a str/PathLike.
        ValueError: bad extension, ``save_freq``, ``period`` or ``max_to_keep``.
        PermissionError / NotADirectoryError: the folder cannot be created or written.

    Example:
        >>> from epochal.callbacks import ModelCheckpoint
        >>> cb = ModelCheckpoint("ckpt/w-{epoch:02d}.weights.h5", save_weights_only=True)
        >>> cb.format_path(0, {"loss": 0.5})
        'ckpt/w-01.weights.h5'
    """

    missing_message = (
        "Can save best model only with {monitor} available; saving the model anyway. "
        "Available metrics are: {available}."
    )

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: Mode | str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
        *,
        max_to_keep: int | None = None,
        period: int | None = None,
        print_fn: Callable[[str], Any] | None = None,
        async_save: bool = False,
    ) -> None:
        super().__init__(monitor=monitor, mode=mode)
        if not isinstance(filepath, str | os.PathLike):
            raise TypeError(f"`filepath` must be a str or os.PathLike. Received: {filepath!r}")
        self.filepath = os.fspath(filepath)
        where = "ModelCheckpoint: "
        self.save_best_only = check_bool("save_best_only", save_best_only, where=where)
        self.save_weights_only = check_bool("save_weights_only", save_weights_only, where=where)
        self.verbose = check_verbose(verbose, where=where)
        check_number(
            "initial_value_threshold",
            initial_value_threshold,
            allow_none=True,
            finite=True,
            where=where,
        )
        self.print_fn = check_callable("print_fn", print_fn, allow_none=True, where=where) or print
        check_suffix(self.filepath, self.save_weights_only)
        # The "epoch" / every-N-batches rule is BackupAndRestore's too: one SaveSchedule.
        self._schedule = SaveSchedule(save_freq, message=_UNRECOGNIZED_SAVE_FREQ)
        check_int("period", period, minimum=1, allow_none=True)
        if period is not None:
            warnings.warn(
                "`period` is deprecated; use `save_freq` (epochs between saves = period).",
                DeprecationWarning,
                stacklevel=2,
            )
        check_int("max_to_keep", max_to_keep, minimum=1, allow_none=True)
        if max_to_keep is not None and "{" not in self.filepath:
            raise ValueError(
                "`max_to_keep` needs a templated filepath (one file name per "
                f"save, e.g. 'w-{{epoch:02d}}.keras'). Received: {self.filepath!r}"
            )
        check_writable(self.filepath)
        self.async_save = check_bool("async_save", async_save, where=where)
        self._async = AsyncWriter("ModelCheckpoint")
        self.save_freq = save_freq
        self.period = period or 1
        self.max_to_keep = max_to_keep
        # Keras sets `best` once: it survives between fit calls.
        self.best: float | None = initial_value_threshold
        self.kept: list[tuple[str, float | None, int]] = []  # (path, monitored value, save #)
        self._current_epoch = 0
        self._epochs_since_save = 0
        self._saves = 0

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._async.wait()  # a write left by an earlier fit that raised
        self._reset_monitor_warnings()  # warn once per fit

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._async.wait()  # fit returns once the last file is whole (or its error raised)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._async.check()  # a failed background write stops the run at the next step
        if self._schedule.batch_done():
            self._save(self._current_epoch, batch, logs or {})

    def implements(self, hook: str) -> bool:
        if canonical_hook(hook) == "on_train_batch_end":
            return not self._schedule.by_epoch
        return super().implements(hook)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._async.check()
        self.resolve_direction(logs)
        if not self._schedule.by_epoch:
            return
        self._epochs_since_save += 1
        if self._epochs_since_save >= self.period:
            self._epochs_since_save = 0
            self._save(epoch, None, logs or {})

    # ------------------------------------------------------------------ saving
    def format_path(self, epoch: int, logs: dict[str, Any], batch: int | None = None) -> str:
        """The file name for a save at 0-based ``epoch`` (and ``batch``) with ``logs``.

        Raises:
            KeyError: a placeholder names a key that is not available, listing the keys.
        """
        return format_filepath(self.filepath, epoch, logs, batch)

    def _save(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> None:
        current = None
        if self.save_best_only or self.max_to_keep is not None:
            current = (
                self.get_monitor_value(logs) if self.save_best_only else logs.get(self.monitor)
            )
        if self.save_best_only and current is None:
            # Keras 3: nothing to compare, so save every time (warned once per fit).
            path = self.format_path(epoch, logs, batch)
            self._say(f"\nEpoch {epoch + 1}: saving model to {path}")
        elif self.save_best_only:
            assert current is not None
            self.resolve_direction(logs)
            previous = "None" if self.best is None else f"{self.best:.5f}"
            if not self.is_improvement(current, self.best):
                self._say(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {previous}")
                return
            path = self.format_path(epoch, logs, batch)
            self._say(
                f"\nEpoch {epoch + 1}: {self.monitor} improved from {previous} to "
                f"{float(current):.5f}, saving model to {path}"
            )
            self.best = float(current)
        else:
            path = self.format_path(epoch, logs, batch)
            self._say(f"\nEpoch {epoch + 1}: saving model to {path}")
        if Path(path).is_dir():  # raised on every rank alike
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. "
                f"Filepath used is an existing directory: {path}"
            )
        # Every rank keeps the same books (best, kept files) ...
        stale = self._keep(path, None if current is None else float(current))
        # ... and this is the one rank check: rank 0 alone writes and deletes files.
        if self.model.is_main_process and self.async_save:
            self._submit(path, stale)
        elif self.model.is_main_process:
            self._write(path)
            self._remove(stale)
        self._say(f"\nEpoch {epoch + 1}: finished saving model to {path}")

    def _write(self, path: str) -> None:
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)

    def _submit(self, path: str, stale: list[str]) -> None:
        """This step's snapshot, written (then ``stale`` pruned) on the writer thread, in
        the format the synchronous save of ``path`` writes (Keras' or epochal's)."""
        pending = prepare_save(self.model, path, weights_only=self.save_weights_only)  # type: ignore[arg-type]
        tensors = self._async.host_copy(pending.tensors)

        def write() -> None:
            _write_file(pending, tensors)  # renamed into place and fsynced ...
            self._remove(stale)  # ... before any file it replaces is deleted

        self._async.submit(path, write)

    def _keep(self, path: str, value: float | None) -> list[str]:
        """Records a save of ``path``; returns the files ``max_to_keep`` drops."""
        if self.max_to_keep is None:
            return []
        if self.direction is None:
            self.resolve_direction()
        self._saves += 1
        entries = [k for k in self.kept if k[0] != path] + [(path, value, self._saves)]
        self.kept, stale = top_k(entries, self.direction, self.max_to_keep)
        return stale

    def _remove(self, stale: list[str]) -> None:
        for old in stale:
            if not owned_by_template(old, self.filepath):  # never trust a path blindly
                warnings.warn(
                    f"ModelCheckpoint: not deleting {old!r}: it does not match "
                    f"{self.filepath!r} in its folder.",
                    UserWarning,
                    stacklevel=2,
                )
                continue
            with contextlib.suppress(FileNotFoundError):
                os.remove(old)

    def _say(self, message: str) -> None:
        if self.verbose > 0:
            self.print_fn(message)

    # ------------------------------------------------------------------ state
    @property
    def state_key(self) -> str:
        return self._generate_state_key(filepath=self.filepath, monitor=self.monitor)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "direction": self.direction,
            "kept": [list(k) for k in self.kept],
            "batches_since_save": self._schedule.since_save,
            "epochs_since_save": self._epochs_since_save,
            "saves": self._saves,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"best", "kept", "batches_since_save", "epochs_since_save"} - set(state)
        if missing:
            raise ValueError(f"ModelCheckpoint state is missing {sorted(missing)}.")
        where = "ModelCheckpoint state: "
        # NaN and inf are numbers here: they rank last/first among the kept files.
        best = check_number("best", state["best"], allow_none=True, where=where)
        direction = check_choice(
            "direction", state.get("direction", self.direction), ("min", "max", None), where=where
        )
        counters = {
            key: check_int(key, state.get(key, 0), minimum=0, where=where)
            for key in ("batches_since_save", "epochs_since_save", "saves")
        }
        kept = state["kept"]
        if not isinstance(kept, list | tuple):
            raise ValueError(f"ModelCheckpoint state: `kept` must be a list. Received: {kept!r}")
        self.best = best
        self.direction = direction
        self.kept = [entry for entry in map(self._checked_entry, kept) if entry is not None]
        self._schedule.since_save = counters["batches_since_save"]
        self._epochs_since_save = counters["epochs_since_save"]
        self._saves = counters["saves"] if "saves" in state else len(self.kept)

    def _checked_entry(self, entry: Any) -> tuple[str, float | None, int] | None:
        """A restored ``[path, value, save #]`` entry, or None (warned) when it is malformed
        or names a file this callback does not own (the path may then never be deleted)."""
        ok = (
            isinstance(entry, list | tuple)
            and len(entry) == 3
            and isinstance(entry[0], str)
            and (entry[1] is None or is_number(entry[1]))
            and is_int(entry[2])
            and entry[2] >= 0
            and owned_by_template(entry[0], self.filepath)
        )
        if not ok:
            warnings.warn(
                f"ModelCheckpoint: ignoring the restored kept-file entry {entry!r}: it is not "
                f"a [path, value, save number] of a file matching {self.filepath!r}.",
                UserWarning,
                stacklevel=3,
            )
            return None
        path, value, number = entry
        return path, None if value is None else float(value), int(number)
