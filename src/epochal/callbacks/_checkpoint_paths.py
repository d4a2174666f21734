"""File-name rules of ModelCheckpoint: suffixes, templates, folders, keep-top-k."""

from __future__ import annotations

import os
import re
import string
import warnings
from pathlib import Path
from typing import Any

from epochal.metrics import accuracy_alias

__all__ = ["check_suffix", "check_writable", "format_filepath", "owned_by_template", "top_k"]

_WEIGHTS_SUFFIXES = (".weights.h5", ".safetensors", ".pt", ".pth")
_LEGACY_SUFFIXES = (".h5", ".hdf5")


class _PathFormatter(string.Formatter):
    """``str.format`` whose substituted values cannot add folders (``/``, ``\\`` -> ``_``)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        return super().format_field(value, format_spec).replace("/", "_").replace("\\", "_")


def check_suffix(filepath: str, weights_only: bool) -> None:
    """Keras' suffix rules, plus the legacy HDF5 suffixes (accepted with a warning).

    Raises:
        ValueError: with Keras' phrases, for a suffix that cannot hold what is saved.
    """
    name = filepath.lower()
    if not weights_only and name.endswith(".weights.h5"):
        # Keras writes a whole legacy HDF5 model under this weights name; epochal refuses
        # the ambiguous name up front rather than at the first save, epochs into the run.
        raise ValueError(
            f"ModelCheckpoint: filepath={filepath!r} names a weights file (`.weights.h5`) but "
            "save_weights_only=False saves the whole model. Pass save_weights_only=True to "
            "save weights, or end the filepath in `.keras` (or `.h5`) to save the model."
        )
    if name.endswith(_WEIGHTS_SUFFIXES if weights_only else (".keras", ".h5")):
        return
    if name.endswith(_LEGACY_SUFFIXES):
        warnings.warn(
            f"ModelCheckpoint: {filepath!r} uses a legacy HDF5 suffix; it is saved as "
            "HDF5 (Keras 3 expects `.weights.h5` for weights, `.keras` for models).",
            UserWarning,
            stacklevel=4,
        )
        return
    if weights_only:
        raise ValueError(
            "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath "
            "provided must end in `.weights.h5` (or `.safetensors`, `.pt`). "
            f"Received: filepath={filepath}"
        )
    raise ValueError(
        "The filepath provided must end in `.keras` (Keras model format) or `.h5`. "
        f"Received: filepath={filepath}"
    )


def format_filepath(template: str, epoch: int, logs: dict[str, Any], batch: int | None) -> str:
    """``template`` filled with ``epoch + 1``, ``batch + 1`` (batch saves) and ``logs``.

    Raises:
        KeyError: Keras' "Failed to format this callback filepath" with the available keys.
        TypeError: when ``logs`` itself has an ``epoch`` key (as Keras).
    """
    values = dict(logs)
    for key in list(values):  # templates of the Keras 2 era name `{val_acc}`
        alias = accuracy_alias(key)
        if alias is not None and alias not in values:
            values[alias] = values[key]
    if batch is not None and "batch" not in values:
        values["batch"] = batch + 1
    values = dict(epoch=epoch + 1, **values)
    try:
        return _PathFormatter().vformat(template, (), values)
    except KeyError as exc:
        raise KeyError(
            f'Failed to format this callback filepath: "{template}". Reason: {exc}. '
            f"Available keys: {', '.join(values)}"
        ) from None


def check_writable(template: str) -> None:
    """Fails early when the folder of ``template`` cannot be created or written.

    Raises:
        NotADirectoryError: a component of the folder is a file.
        PermissionError: the nearest existing folder is not writable.
    """
    static = template.split("{", 1)[0]
    folder = Path(static).parent if static else Path(".")
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise NotADirectoryError(
            f"ModelCheckpoint cannot create the folder {str(folder)!r}: {str(probe)!r} is a file."
        )
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(
            f"ModelCheckpoint cannot write to {str(probe)!r} (for {template!r}): permission denied."
        )


_SEPARATORS = re.compile("|".join(re.escape(s) for s in {os.sep, os.altsep or os.sep}))


def _component_pattern(component: str) -> re.Pattern[str] | None:
    """A regex matching what ``format_filepath`` can make of one path component of a
    template, or None when the component has no placeholder (it must then match exactly)."""
    parts, templated = [], False
    for literal, field, _spec, _conversion in string.Formatter().parse(component):
        parts.append(re.escape(literal))
        if field is not None:
            templated = True
            parts.append(r"[^/\\]*")  # substituted values never hold a separator
    return re.compile("".join(parts)) if templated else None


def owned_by_template(path: Any, template: str) -> bool:
    """Whether ``path`` is a file name that ``format_filepath(template, ...)`` can produce:
    the same folders, component by component, each templated component matching its
    pattern and never ``.`` or ``..``. Anything else (``/tmp/victim``, ``../x``) is not a
    file of this callback, so it is never deleted.
    """
    if not isinstance(path, str) or not path or "\0" in path:
        return False
    try:
        template_parts = _SEPARATORS.split(template)
        path_parts = _SEPARATORS.split(path)
    except (TypeError, ValueError):
        return False
    if len(template_parts) != len(path_parts):
        return False
    for want, got in zip(template_parts, path_parts, strict=True):
        try:
            pattern = _component_pattern(want)
        except ValueError:  # a malformed template component: only itself matches
            pattern = None
        if pattern is None:
            if want != got:
                return False
        elif got in (".", "..") or pattern.fullmatch(got) is None:
            return False
    return True


Kept = tuple[str, "float | None", int]


def top_k(kept: list[Kept], direction: str | None, k: int) -> tuple[list[Kept], list[str]]:
    """Splits ``(path, value, save number)`` entries into the ``k`` best and the paths to
    delete: best value first (``direction`` "min"/"max"), newest first on ties and when a
    value is missing (those rank last)."""
    sign = 1.0 if direction == "min" else -1.0

    def rank(entry: Kept) -> tuple[bool, float, int]:
        value = entry[1]
        return (value is None, 0.0 if value is None else sign * value, -entry[2])

    ordered = sorted(kept, key=rank)
    return ordered[:k], [path for path, _, _ in ordered[k:]]
