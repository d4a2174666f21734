"""CSVLogger: one CSV row per epoch, flushed as it is written."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from typing import IO, Any

import numpy as np

from epochal._io import open_for_append
from epochal._validation import check_bool, check_int, check_str
from epochal.callbacks.callback import Callback

__all__ = ["CSVLogger"]


def _cell(value: Any) -> Any:
    """Keras' cell text: iterables become ``"[a, b]"`` (quotes included), 0-d arrays numbers."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class CSVLogger(Callback):
    """Writes each epoch's logs as a row of a CSV file, as Keras does.

    The columns are fixed at the first epoch end of each ``fit``: ``epoch`` then the sorted
    logs keys (plus ``val_<key>`` for every key when no validation key is there yet). Missing
    values are written ``NA``; keys that appear only later are left out, as in Keras. Lists
    and arrays are written as ``"[a, b]"``. Each row is flushed at once, so a crash loses no
    finished epoch. Lines end with ``\\r\\n`` (Excel dialect). In a distributed run only
    the main process writes.

    The callback is resumable: :meth:`state_dict` records the columns and the file length
    after the last row, and a run restored from it (``BackupAndRestore``) cuts the file back
    to that length before writing, so no row is duplicated or lost.

    Args:
        filename: Path of the CSV file; its folder is created when missing.
        separator: One-character field delimiter. Defaults to `","`.
        append: Append to an existing file (its header is kept) instead of overwriting it.
            Defaults to `False`.

    Raises:
        TypeError: at the first epoch end when ``separator`` is not one character (Keras
            raises there too).
        OSError: at the start of ``fit`` when the file cannot be opened.

    Example:
        >>> import os, tempfile, numpy as np, torch, epochal
        >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
        >>> model = epochal.Model(torch.nn.Linear(2, 1), device="cpu")
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
        ...               callbacks=[epochal.callbacks.CSVLogger(path)])
        >>> open(path).read().splitlines()[0]
        'epoch,loss,val_loss'
    """

    main_process_only = True  # writes files / sends data: rank 0 of a distributed job only

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        super().__init__()
        if not isinstance(filename, str | os.PathLike):
            raise TypeError(
                f"`filename` must be a str or os.PathLike. Received: filename={filename!r}"
            )
        check_str("separator", separator, non_empty=True, where="CSVLogger: ")
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = check_bool("append", append, where="CSVLogger: ")
        self.append_header = True
        self.keys: list[str] | None = None
        self.csv_file: IO[str] | None = None
        self.writer: csv.DictWriter[str] | None = None
        self._offset = 0
        self._truncate_to: int | None = None
        self._pending_restore: dict[str, Any] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # A file left open by an earlier run that raised is closed before reopening.
        self._close()
        restore, self._pending_restore = self._pending_restore, None
        if restore is not None:
            self._apply(restore)
        else:
            # Each run fixes its own columns (Keras).
            self.keys, self.writer = None, None
            if self.append:
                if os.path.exists(self.filename):
                    with open(self.filename, encoding="utf-8") as handle:
                        self.append_header = not handle.readline()
                self._truncate_to = None
            else:
                self._truncate_to = 0
        # Opened for appending whatever the mode: overwriting happens at the first row, so
        # a run restored after this hook can still keep the rows written before the crash.
        self.csv_file = open_for_append(self.filename)
        self._offset = self._truncate_to if self._truncate_to is not None else self.csv_file.tell()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend(f"val_{key}" for key in list(self.keys))
        if self.csv_file is None:  # driven without on_train_begin
            self.csv_file = open_for_append(self.filename, "w")
        if self.writer is None:
            separator = self.sep

            class _Dialect(csv.excel):
                delimiter = separator

            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch", *self.keys], dialect=_Dialect
            )
            self._cut()
            if self.append_header:
                self.writer.writeheader()
        self._cut()
        row = {"epoch": epoch, **{key: _cell(logs.get(key, "NA")) for key in self.keys}}
        self.writer.writerow(row)
        self.csv_file.flush()
        self._offset = self.csv_file.tell()
        # Later runs of a resumed job append below this header.
        self.append_header = False

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._close()
        self.writer = None

    # ------------------------------------------------------------------ resume
    @property
    def state_key(self) -> str:
        return self._generate_state_key(filename=self.filename)

    def state_dict(self) -> dict[str, Any]:
        """Columns of the run and the file length after its last complete row."""
        return {
            "keys": None if self.keys is None else list(self.keys),
            "offset": int(self._offset),
            "append_header": bool(self.append_header),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues the file of an earlier run from the recorded position.

        Raises:
            ValueError: when ``state`` is not what :meth:`state_dict` returns.
        """
        keys, offset = state.get("keys"), state.get("offset")
        valid_keys = isinstance(keys, list | tuple) and all(isinstance(k, str) for k in keys)
        if keys is not None and not valid_keys:
            raise ValueError(
                f"CSVLogger state: `keys` must be a list of str or None. Received: {keys!r}"
            )
        offset = check_int("offset", offset, minimum=0, where="CSVLogger state: ")
        state = {
            "keys": None if keys is None else list(keys),
            "offset": offset,
            "append_header": bool(state.get("append_header", offset == 0)),
        }
        if self.csv_file is None:
            self._pending_restore = state  # applied when the next run opens the file
        else:
            self._apply(state)

    def _apply(self, state: dict[str, Any]) -> None:
        self.keys, self.writer = state["keys"], None
        self.append_header = state["append_header"]
        self._truncate_to = self._offset = state["offset"]

    def _cut(self) -> None:
        if self._truncate_to is not None and self.csv_file is not None:
            self.csv_file.flush()
            self.csv_file.truncate(self._truncate_to)
            self._truncate_to = None

    def _close(self) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = None
