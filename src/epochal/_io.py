"""The one door for files that a crash must never leave half-written.

:func:`atomic_write` writes to a temporary file in the destination's folder, flushes and
fsyncs it, renames it over the destination with ``os.replace`` and fsyncs the folder: after
a crash at any instant the path holds either the previous complete file or the new one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "ensure_parent",
    "fsync_dir",
    "write_buffers",
]


def ensure_parent(path: str | os.PathLike[str]) -> Path:
    """Creates the folder of ``path`` if needed and returns ``path`` as a Path.

    Raises:
        PermissionError / OSError: when the folder cannot be created, naming it.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(
            exc.errno, f"Cannot create the folder for {target}: {exc.strerror}", str(target.parent)
        ) from exc
    return target


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Makes a rename inside ``folder`` durable (no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_stale_temporaries(target: Path) -> None:
    """Removes temporary files that a writer killed mid-write left beside ``target``.

    Only files named by :func:`_temporary_beside` for this very target are touched; one
    process writes a given path at a time (rank 0 in distributed runs).
    """
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


@contextlib.contextmanager
def _temporary_beside(target: Path) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], Any]) -> Path:
    """Calls ``write(tmp_path)`` to fill a temporary file, then swaps it in atomically.

    ``write`` may open the path itself (h5py, zipfile, safetensors need a path). If it
    raises, the destination is untouched and the temporary file is removed.
    """
    target = ensure_parent(path)
    if target.is_dir():
        raise IsADirectoryError(f"Cannot write {target}: it is an existing directory.")
    _remove_stale_temporaries(target)
    with _temporary_beside(target) as tmp:
        write(tmp)
        with open(tmp, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    fsync_dir(target.parent)
    return target


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Writes ``data`` to ``path`` atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(data)

    return atomic_write(path, write)


def write_buffers(path: str | os.PathLike[str], buffers: Iterable[Any]) -> None:
    """Writes the concatenation of ``buffers`` (bytes-like) to a new file at ``path``, one
    unbuffered ``write`` per piece: nothing is joined in memory, and the interpreter lock
    is free while each piece goes out (a background writer does not stall training)."""
    with open(path, "wb", buffering=0) as handle:
        for buffer in buffers:
            view = memoryview(buffer).cast("B")
            while view.nbytes:
                view = view[handle.write(view) :]


def open_for_append(path: str | os.PathLike[str], mode: str = "a") -> IO[str]:
    """Opens a text log for appending, creating its folder (used by loggers)."""
    return open(ensure_parent(path), mode, newline="", encoding="utf-8")
