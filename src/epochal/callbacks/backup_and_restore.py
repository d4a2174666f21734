"""BackupAndRestore: survive a killed process and continue the run exactly."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from epochal._validation import check_bool, check_callable, check_str
from epochal.callbacks import _backup_files
from epochal.callbacks._save_schedule import SaveSchedule
from epochal.callbacks.callback import Callback, RunGuard
from epochal.saving import state_file as _state_io
from epochal.saving.async_writer import AsyncWriter

__all__ = ["BackupAndRestore"]

BACKUP_NAME = "training_state.safetensors"
_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Writer = Callable[[Path, Any, list[list[Any]]], Any]


class BackupAndRestore(Callback, RunGuard):
    """Backs the run up while it trains; the next ``fit`` with the same ``backup_dir``
    continues it exactly where the last backup was taken.

    A backup holds the weights and buffers, the optimizer (moments, learning rate, step
    counts), the epoch and the batch in it, the shuffle seed and order, the running metric
    sums, every random generator (torch CPU/CUDA, numpy, ``random``: dropout included) and
    the ``state_dict()`` of every callback of the run. Kill the process at any instant, run
    the same script again, and the final weights are bit-identical to an uninterrupted run.
    Unlike Keras, an integer ``save_freq`` resumes mid-epoch, at the saved batch, without
    replaying the batches already seen (inputs that cannot be rewound resume at the next
    epoch boundary, with a warning).

    The backup is one file, ``backup_dir/training_state.safetensors``, written atomically and
    checked by a checksum (xxh3_128) on load. With ``async_save`` (the default) the step
    that saves only copies the state to host memory (reused buffers, page-locked for
    accelerator tensors) and a background thread writes the file while training goes on:
    at most one write is in
    flight (the next save waits for it), so the last complete backup is never older than
    two save intervals, a failed write raises :class:`~epochal.saving.async_writer.
    BackgroundWriteError` naming the file at the next step, and the write in flight is
    finished before ``fit`` returns or the process exits on a signal. On SIGTERM or a first
    Ctrl-C, training finishes the current step, writes a backup (synchronously, after the
    write in flight), calls ``on_train_end`` and exits (``SystemExit``, status 128 + the
    signal number) telling how to resume; a second Ctrl-C aborts at once.

    Under ``torchrun`` every rank restores the backup rank 0 reads, rank 0 alone writes it
    (with every rank's random state and running metric sums, each restored on its rank), and
    a signal received by one rank stops all ranks after the same step.

    Args:
        backup_dir: Folder of the backup (created when needed). Use one folder per run.
        save_freq: ``"epoch"`` (at each epoch end) or an integer N (after every N batches,
            counted across epochs). Defaults to `"epoch"`.
        double_checkpoint: Keep the previous backup as ``*.bkp``, used when the latest one is
            corrupted. Defaults to `False`.
        delete_checkpoint: Remove ``backup_dir`` when training ends normally. Defaults to
            `True`.
        handle_signals: Catch SIGTERM and Ctrl-C as described (main thread only). Defaults to
            `True`.
        async_save: Write backups on a background thread (see above). Defaults to `True`
            (measured: ``benchmarks/backup_overhead.py``; a synchronous backup of a 16 MiB
            MLP with Adam every 10 steps made the run about 1.7x longer).
        writer: ``writer(path, state, fingerprint)`` writes one backup file (on the writer
            thread with ``async_save``: ``state`` is then a private copy). Defaults to
            `None` (an atomic safetensors writer).
        stream: Where the interruption message goes. Defaults to `None` (``sys.stderr``).

    Raises:
        ValueError: an empty ``backup_dir`` or a ``save_freq`` that is neither ``"epoch"``
            nor an integer; in ``fit``, a backup written for another model or by an
            incompatible version (``IncompatibleStateError``) or a corrupted backup with no
            intact previous one (``CorruptStateError``).

    Example:
        >>> import numpy as np, tempfile, epochal
        >>> model = epochal.Sequential([epochal.layers.Dense(1, input_shape=(3,))])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> backup = epochal.callbacks.BackupAndRestore(tempfile.mkdtemp(), save_freq=2)
        >>> _ = model.fit(np.ones((8, 3)), np.zeros((8, 1)), batch_size=2, epochs=2,
        ...               callbacks=[backup], verbose=0)
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike[str],
        save_freq: str | int = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
        *,
        handle_signals: bool = True,
        async_save: bool = True,
        writer: Writer | None = None,
        stream: IO[str] | None = None,
    ) -> None:
        super().__init__()
        where = "BackupAndRestore: "
        if isinstance(backup_dir, str | os.PathLike) and not os.fspath(backup_dir):
            raise ValueError(f"Empty `backup_dir` argument passed. Received: {backup_dir!r}")
        check_str("backup_dir", backup_dir, path=True, where=where)
        self.backup_dir = Path(backup_dir)
        self._schedule = SaveSchedule(save_freq)
        self.save_freq = save_freq
        self.double_checkpoint = check_bool("double_checkpoint", double_checkpoint, where=where)
        self.delete_checkpoint = check_bool("delete_checkpoint", delete_checkpoint, where=where)
        self.handle_signals = check_bool("handle_signals", handle_signals, where=where)
        self.async_save = check_bool("async_save", async_save, where=where)
        check_callable("writer", writer, allow_none=True, where=where)
        self._async = AsyncWriter("BackupAndRestore")
        self._writer: Writer = writer or _state_io.write_state
        self._stream = stream
        self._pending_signal: int | None = None
        self._interrupted_by: int | None = None
        self._interrupted = False
        self._written_at: tuple[int, int] | None = None
        self._previous_handlers: dict[int, Any] = {}

    @property
    def backup_path(self) -> Path:
        return self.backup_dir / BACKUP_NAME

    @property
    def previous_path(self) -> Path:
        return self.backup_dir / (BACKUP_NAME + ".bkp")

    # ------------------------------------------------------------------ state protocol
    @property
    def state_key(self) -> str:
        return self._generate_state_key(backup_dir=os.fspath(self.backup_dir))

    def state_dict(self) -> dict[str, Any]:
        return self._schedule.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._schedule.load_state_dict(state)

    # ------------------------------------------------------------------ restore
    def restore_run(self) -> None:
        # Per-run state; a backup, if any, then overrides the schedule's count.
        self._async.wait(raise_errors=False)  # a write left by an earlier fit that raised
        self._schedule.reset()
        self._pending_signal = self._interrupted_by = None
        self._interrupted = False
        self._written_at = None
        model, strategy = self.model, self.model.strategy
        # Rank 0 alone reads and hands the backup to every rank: all restore the same state
        # (or raise the same error), with or without a file system shared between machines.
        found: Any = None
        if strategy.is_main_process:
            for stale in self.backup_dir.glob(f".{BACKUP_NAME}*.tmp"):
                stale.unlink(missing_ok=True)  # left by a process killed while writing
            try:
                found = _backup_files.read_backup(
                    (self.backup_path, self.previous_path), model.state_dict()
                )
            except Exception as exc:  # raised on every rank below
                found = exc
        found = strategy.broadcast_object(found)
        if isinstance(found, BaseException):
            raise found
        if (state := found) is None:
            return
        # This rank's own random state and metric sums, gathered to rank 0 by _save.
        train = state["train"]
        train.update(_backup_files.own_share(state.get("ranks"), strategy, self.backup_dir))
        if "metrics" in train:
            train["metrics"] = _backup_files.to_device(train["metrics"], model.device)
        for name, stateful in model.snapshot().items():
            if state.get(name) is not None:
                stateful.load_state_dict(state[name])

    # ------------------------------------------------------------------ backup
    def _save(self, *, interrupt: bool = False) -> list[dict[str, Any]]:
        """Writes a backup. Called on every rank alike: each rank's random state and running
        metric sums (they differ between ranks) are gathered, and rank 0 writes them all.

        Returns what every rank reported (its stop flag and pending signal). A run that some
        rank asked to stop is not backed up (resuming would continue it), unless interrupted.
        """
        model, train_state = self.model, self.model.train_state
        everyone = model.strategy.all_gather_object(
            _backup_files.rank_report(model, self._pending_signal)
        )
        position = (train_state.epoch, train_state.step)
        if interrupt and self._written_at == position:
            return everyone  # the scheduled backup of this very step is already written
        if not interrupt and any(r["stop"] for r in everyone):
            return everyone
        self._written_at = position
        if not model.is_main_process:
            return everyone
        # What the host hands over (as Ignite's Checkpoint(to_save=...)), and every rank's
        # own random state and metric sums.
        state = {
            "epochal_version": _backup_files.version(),
            **{name: stateful.state_dict() for name, stateful in model.snapshot().items()},
            "ranks": [_backup_files.share(report) for report in everyone],
        }
        fingerprint = _state_io.fingerprint(model.state_dict())
        if self.async_save and not interrupt:
            # The snapshot of this step (after the write in flight, whose buffers it
            # reuses), then the file on the writer thread: no collective runs there.
            state = self._async.host_copy(state)
            self._async.submit(self.backup_path, lambda: self._write(state, fingerprint))
        else:
            self._async.wait()  # never two writes of the file in flight
            self._write(state, fingerprint)
        return everyone

    def _write(self, state: dict[str, Any], fingerprint: list[list[Any]]) -> None:
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        if self.double_checkpoint and self.backup_path.is_file():
            os.replace(self.backup_path, self.previous_path)
        self._writer(self.backup_path, state, fingerprint)

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.handle_signals and threading.current_thread() is threading.main_thread():
            for signum in _SIGNALS:
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._async.check()  # a failed background write stops the run at the next step
        if self._pending_signal is not None:
            # The loop agrees on it with the other ranks, then calls interrupt_run everywhere.
            self.model.train_state.interrupt_requested = True
        if self._schedule.batch_done():
            self._save()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._schedule.by_epoch:
            self._save()

    def interrupt_run(self) -> None:
        # Synchronous: the scheduled backup of this step, if in flight, is finished first.
        everyone = self._save(interrupt=True)
        self._async.wait()
        self.model.strategy.barrier()  # the backup is whole before any rank may exit
        self._interrupted = True
        signals = [r["signal"] for r in everyone if r["signal"]]
        self._interrupted_by = max(signals) if signals else None

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._async.wait()  # the last backup is whole (or its error raised) before anything
        self._restore_handlers()
        strategy, signum, late = self.model.strategy, self._interrupted_by, None
        if signum is None:  # a signal after the last step, on some rank: all exit alike
            late = max(strategy.all_gather_object(self._pending_signal or 0)) or None
        if not self._interrupted and self.delete_checkpoint and strategy.is_main_process:
            shutil.rmtree(self.backup_dir, ignore_errors=True)
        signum = signum or late
        if signum is None:
            return
        message = _backup_files.exit_message(
            signum, late is not None, self.model.train_state, self.backup_dir
        )
        if strategy.is_main_process or self._pending_signal is not None:
            print(message, file=self._stream or sys.stderr, flush=True)
        raise SystemExit(128 + signum)

    def end_run(self) -> None:
        # fit may have raised: never leave our handlers installed after it, nor a write
        # in flight (its error, if any, would mask the one fit raised: on_train_end, which
        # ran when fit did not raise, has raised it already).
        self._restore_handlers()
        self._async.wait(raise_errors=False)

    # ------------------------------------------------------------------ signals
    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._pending_signal is not None:
            if signum == signal.SIGINT:  # a second Ctrl-C: abort now
                self._restore_handlers()
                raise KeyboardInterrupt
            return
        self._pending_signal = signum
        print(
            f"\n{signal.Signals(signum).name} received: finishing the current step and writing "
            "a backup (press Ctrl-C again to abort at once).",
            file=self._stream or sys.stderr,
            flush=True,
        )

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}
