"""One background writer per callback: the step takes a snapshot, a thread writes it.

A backup or checkpoint has two halves. The *snapshot* must happen at the step boundary, on
the training thread: every tensor the file needs is copied to host memory (page-locked when
it comes from an accelerator), into buffers reused from one save to the next, so that the
copy costs a memcpy and no allocation. The *write* (encode, checksum, temporary file, fsync,
rename, then pruning of older files) is what takes long, and it only reads the snapshot: it
runs on a background thread while training goes on.

:class:`AsyncWriter` holds at most one write in flight. Before a new snapshot is taken the
previous write is waited for, so the snapshot buffers are free, two writes of one target are
never in flight together, and when a save is handed over the one before it is durable: the
last durable file is never older than two save intervals. A write that fails is reported
on the training thread at the next :meth:`AsyncWriter.check` (each step) or
:meth:`AsyncWriter.wait`, as a :class:`BackgroundWriteError` naming the file.

The writer thread is started per write and is not a daemon: a process that ends (also after
``fit`` raised) finishes the write in flight before exiting. The thread runs no collective
and touches no training state, so under DDP rank 0 writes while every rank trains on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["AsyncWriter", "BackgroundWriteError"]


class BackgroundWriteError(RuntimeError):
    """A background write failed; raised on the training thread, naming the file.

    The original exception is the ``__cause__`` (and :attr:`cause`).
    """

    def __init__(self, path: str | os.PathLike[str], cause: BaseException, owner: str) -> None:
        self.path = os.fspath(path)
        self.cause = cause
        super().__init__(
            f"{owner}: the background write of {self.path} failed "
            f"({type(cause).__name__}: {cause}); the file there is the previous complete one, "
            "if any."
        )


class AsyncWriter:
    """A background writer with at most one write in flight, and reused host buffers.

    Args:
        owner: Named in errors (``"BackupAndRestore"``, ``"ModelCheckpoint"``).
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._in_flight: Path | None = None
        self._error: BackgroundWriteError | None = None
        self._buffers: dict[str, torch.Tensor] = {}
        # CUDA events recorded after the last snapshot's copies, waited for by its write.
        self._copies: list[Any] = []
        self.writes = 0  # writes handed over, for tests and benchmarks

    # ------------------------------------------------------------------ state
    @property
    def in_flight(self) -> Path | None:
        """The file being written now, or None."""
        with self._lock:
            return self._in_flight

    def check(self) -> None:
        """Raises a finished write's error (once), without waiting for a write in flight.

        Raises:
            BackgroundWriteError: naming the file whose write failed.
        """
        if self._error is None:  # the common case: no lock taken
            return
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error from error.cause

    def wait(self, *, raise_errors: bool = True) -> None:
        """Blocks until no write is in flight, then raises its error if it failed.

        With ``raise_errors=False`` a failure is only returned to nobody (used when ``fit``
        is already unwinding from another error, which must not be masked).
        """
        with self._lock:
            while self._in_flight is not None:
                self._lock.wait()
        if raise_errors:
            self.check()
        else:
            self._error = None

    # ------------------------------------------------------------------ snapshot
    def host_copy(self, tree: Any) -> Any:
        """A copy of ``tree`` that no later training step can change.

        Every tensor is copied into a host buffer kept from the previous snapshot when its
        shape and dtype match; dicts, lists and tuples are rebuilt, numpy arrays copied,
        everything else (numbers, strings) kept. Waits for the write in flight first: it
        reads the buffers being reused.

        A CUDA tensor goes into a page-locked buffer with a non-blocking copy queued on the
        tensor's current stream, behind the kernels of the step that produced it (so the
        copy sees exactly this step's values) and before any later kernel that changes it.
        The training thread does not wait for the copies: one CUDA event per device is
        recorded after them, and :meth:`submit`'s write waits for those events on the
        writer thread before it reads the buffers (:meth:`copies_done` waits here, for a
        snapshot used otherwise).
        """
        self.wait()
        used: dict[str, torch.Tensor] = {}
        pending: list[torch.device] = []
        copy = self._copy(tree, "", used, pending)
        events = []
        for device in dict.fromkeys(pending):
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(device))
            events.append(event)
        self._copies = events
        self._buffers = used
        return copy

    def copies_done(self) -> None:
        """Blocks until the last snapshot's device-to-host copies have landed."""
        events, self._copies = self._copies, []
        for event in events:
            event.synchronize()

    def _copy(
        self, obj: Any, key: str, used: dict[str, torch.Tensor], pending: list[torch.device]
    ) -> Any:
        if isinstance(obj, torch.Tensor):
            return self._tensor(obj.detach(), key, used, pending)
        if isinstance(obj, dict):
            return {k: self._copy(v, f"{key}/{k}", used, pending) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            items = [self._copy(v, f"{key}/{i}", used, pending) for i, v in enumerate(obj)]
            return type(obj)(items) if type(obj) in (list, tuple) else type(obj)(*items)
        if isinstance(obj, np.ndarray):
            return obj.copy()
        return obj

    def _tensor(
        self,
        tensor: torch.Tensor,
        key: str,
        used: dict[str, torch.Tensor],
        pending: list[torch.device],
    ) -> torch.Tensor:
        if tensor.is_sparse or tensor.layout != torch.strided:
            return tensor.to("cpu", copy=True)
        buffer = self._buffers.get(key)
        accelerated = tensor.device.type == "cuda"
        if (
            key in used
            or buffer is None
            or buffer.shape != tensor.shape
            or buffer.dtype != tensor.dtype
            or buffer.is_pinned() != accelerated
        ):
            buffer = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=accelerated)
        buffer.copy_(tensor, non_blocking=accelerated)
        if accelerated:
            pending.append(tensor.device)
        used[key if key not in used else f"{key}#{len(used)}"] = buffer
        return buffer

    # ------------------------------------------------------------------ write
    def submit(self, path: str | os.PathLike[str], write: Callable[[], Any]) -> None:
        """Runs ``write()`` on the writer thread, after the write in flight (waited for,
        its error raised here).

        Raises:
            BackgroundWriteError: the previous write failed.
        """
        self.wait()
        target = Path(path)
        events, self._copies = self._copies, []
        thread = threading.Thread(
            target=self._run,
            args=(target, write, events),
            name=f"epochal-{self.owner}-writer",
            daemon=False,
        )
        with self._lock:
            self._in_flight = target
            self._thread = thread
            self.writes += 1
        thread.start()

    def _run(self, target: Path, write: Callable[[], Any], events: list[Any]) -> None:
        error: BackgroundWriteError | None = None
        try:
            for event in events:  # the snapshot's device-to-host copies have landed
                event.synchronize()
            write()
        except BaseException as exc:  # reported on the training thread
            error = BackgroundWriteError(target, exc, self.owner)
        with self._lock:
            self._error = error or self._error
            self._in_flight = None
            self._thread = None
            self._lock.notify_all()
