"""Array helpers with Keras' semantics: ``pad_sequences`` and ``normalize``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["normalize", "pad_sequences"]


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pads (and truncates) variable-length sequences into one ``(n, maxlen, ...)`` array.

    Keras' ``keras.utils.pad_sequences``: by default sequences are padded *and* truncated at
    the front (``"pre"``), so the last ``maxlen`` items of each are kept, right-aligned.

    Args:
        sequences: A list of sequences (lists or arrays); items may be scalars or arrays of
            one common shape.
        maxlen: Length of the output; defaults to the longest sequence.
        dtype: Output dtype, `"int32"` by default (`object` for variable-length strings).
        padding: `"pre"` or `"post"`: where the padding goes.
        truncating: `"pre"` or `"post"`: which end of a longer sequence is cut off.
        value: The padding value, `0.0` by default.

    Raises:
        ValueError: for a non-iterable ``sequences`` or item, an unknown ``padding`` or
            ``truncating``, a string ``value`` with a non-string ``dtype``, or items whose
            shapes differ.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
        [[2, 3], [0, 4]]
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            f"`sequences` must be a list of sequences. Received: {type(sequences).__name__}"
        )
    if padding not in ("pre", "post"):
        raise ValueError(f'`padding` must be "pre" or "post". Received: padding={padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(
            f'`truncating` must be "pre" or "post". Received: truncating={truncating!r}'
        )
    lengths = []
    item_shape: tuple[int, ...] = ()
    found_shape = False
    for seq in sequences:
        try:
            lengths.append(len(seq))
        except TypeError as exc:
            raise ValueError(
                f"`sequences` must be a list of sequences; found a non-iterable item: {seq!r}"
            ) from exc
        if not found_shape and len(seq):
            item_shape = np.asarray(seq).shape[1:]
            found_shape = True
    if maxlen is None:
        maxlen = int(max(lengths)) if lengths else 0
    elif isinstance(maxlen, bool) or not isinstance(maxlen, int | np.integer) or maxlen < 0:
        raise ValueError(f"`maxlen` must be a non-negative int or None. Received: {maxlen!r}")
    string_dtype = dtype is not object and (
        np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    )
    if isinstance(value, str) and dtype is not object and not string_dtype:
        raise ValueError(
            f"`dtype` {dtype} cannot hold the string padding `value` {value!r}: pass "
            "dtype=object for variable-length strings."
        )
    out = np.full((len(sequences), int(maxlen), *item_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for index, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if kept.shape[1:] != item_shape:
            raise ValueError(
                f"Sequence {index} has items of shape {kept.shape[1:]}, but the first non-empty "
                f"sequence has items of shape {item_shape}."
            )
        if padding == "post":
            out[index, : len(kept)] = kept
        else:
            out[index, -len(kept) :] = kept
    return out


def normalize(x: Any, axis: int | None = -1, order: int | float | str | None = 2) -> Any:
    """Divides ``x`` by its ``order``-norm along ``axis`` (Keras' ``keras.utils.normalize``).

    A numpy array gives a numpy array (zero norms count as 1, so all-zero rows stay zero);
    a torch tensor gives a tensor (computed as Keras' backend op: norms below Keras' epsilon,
    1e-7, count as epsilon, and ``order`` must then be an int >= 1).

    Args:
        x: A numpy array or a torch tensor.
        axis: The axis to normalize along; `-1` by default.
        order: The norm's order (`2` by default; anything ``numpy.linalg.norm`` takes for
            arrays).

    Example:
        >>> normalize(np.array([[3.0, 4.0]])).tolist()
        [[0.6, 0.8]]
    """
    if isinstance(x, torch.Tensor):
        if not isinstance(order, int) or isinstance(order, bool) or order < 1:
            raise ValueError(f"`order` must be an int >= 1 for a tensor. Received: order={order!r}")
        dim = -1 if axis is None else axis
        t = x if x.is_floating_point() else x.float()
        if t.ndim == 0:
            t = t.unsqueeze(0)
        if order == 2:  # x * rsqrt(sum(x^2)), capped at 1/epsilon, as Keras' backend op
            inv = torch.rsqrt(t.square().sum(dim=dim, keepdim=True)).clamp_max(1.0 / 1e-7)
            return t * inv
        norm = torch.linalg.vector_norm(t, order, dim=dim, keepdim=True)
        return t / norm.clamp_min(1e-7)
    array = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(array, order, axis))  # type: ignore[arg-type]
    norm[norm == 0] = 1
    return array / np.expand_dims(norm, axis or -1)
