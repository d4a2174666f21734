"""Reading CIFAR's Python-version batches (pickled dicts) without unpickling code.

Each batch file is a pickle of ``{b"data": uint8 array (n, 3072), b"labels": [...], ...}``
written by Python 2; it is read with :class:`~epochal.datasets._files.SafeUnpickler`
(numpy arrays, lists, dicts, numbers and bytes only). A batch is found in a folder, or
read straight out of the ``.tar.gz`` archive without extracting it.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from epochal.backend import image_data_format
from epochal.datasets._files import safe_unpickle
from epochal.utils.file_utils import get_file, keras_home


def load_batch(source: Any, label_key: str = "labels") -> tuple[np.ndarray, list[int]]:
    """``(data (n, 3, 32, 32) uint8, labels)`` from a batch file path or an open binary file.

    Raises:
        ValueError: when the pickle is not a CIFAR batch.
        pickle.UnpicklingError: when it holds anything but arrays, lists and numbers.
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            batch = safe_unpickle(handle, encoding="bytes")
    else:
        batch = safe_unpickle(source, encoding="bytes")
    if not isinstance(batch, dict):
        raise ValueError(f"{source} is not a CIFAR batch (a pickled dict).")
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise ValueError(
            f"{source} is not a CIFAR batch with {label_key!r}: it has keys {sorted(batch)}."
        )
    data = np.asarray(batch["data"])
    return data.reshape(data.shape[0], 3, 32, 32), batch[label_key]


class BatchReader:
    """Reads named batches from a folder or from the (unextracted) ``.tar.gz``."""

    def __init__(self, root: Path, inner: str) -> None:
        self.root, self.inner = root, inner

    def read(self, name: str, label_key: str) -> tuple[np.ndarray, list[int]]:
        if self.root.is_file():
            with tarfile.open(self.root) as tar:
                for member in (f"{self.inner}/{name}", name):
                    try:
                        handle = tar.extractfile(member)
                    except KeyError:
                        continue
                    if handle is not None:
                        with handle:
                            return load_batch(handle, label_key)
            raise FileNotFoundError(f"{self.root} has no {self.inner}/{name}.")
        for folder in (self.root / self.inner, self.root):
            if (folder / name).is_file():
                return load_batch(folder / name, label_key)
        raise FileNotFoundError(
            f"No CIFAR batch {name!r} in {self.root} or {self.root / self.inner}."
        )


def find(
    path: str | os.PathLike[str] | None, dirname: str, inner: str, origin: str, file_hash: str
) -> BatchReader:
    """The batches' home: ``path`` (a folder or the archive), else Keras' cache (its
    extraction folder, the Keras 2 layout, or the cached archive), else a verified
    download (kept and read as an archive, not extracted)."""
    if path is not None:
        root = Path(path).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"`path` {root} does not exist.")
        return BatchReader(root, inner)
    cache = Path(keras_home()).expanduser() / "datasets"
    for folder in (cache / dirname, cache):
        if (folder / inner).is_dir():
            return BatchReader(folder, inner)
    archive = get_file(f"{dirname}_archive", origin, file_hash=file_hash)
    return BatchReader(Path(archive), inner)


def to_layout(x: np.ndarray) -> np.ndarray:
    """Channels-last images, as Keras returns them with ``image_data_format()``."""
    return x.transpose(0, 2, 3, 1) if image_data_format() == "channels_last" else x
