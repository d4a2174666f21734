"""Argument checks: one wording for "bad input" everywhere.

Every check raises an error that names the argument, repeats the value received and says
what is accepted (``"`period` must be a positive integer. Received: period=0"``), so the
same mistake reads the same in ``fit``, in a callback's constructor and in a restored state.

A value of the wrong type raises :class:`ArgumentTypeError`, which is both a ``TypeError``
(what it is) and a ``ValueError`` (what Keras raises for most of these arguments, so code
written against Keras that catches ``ValueError`` keeps working). A value of the right type
but out of range raises ``ValueError``. ``bool`` is never accepted as a number: ``True`` is
an ``int`` to Python, not a batch count to a user.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Sequence
from typing import Any, Literal, overload

import numpy as np

__all__ = [
    "ArgumentTypeError",
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "is_int",
    "is_number",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` and, as Keras raises, a ``ValueError``)."""


def _received(name: str, value: Any) -> str:
    return f"Received: {name}={value!r}"


def _fail(
    name: str, value: Any, accepted: str, where: str, error: type[Exception] = ValueError
) -> None:
    raise error(f"{where}`{name}` must be {accepted}. {_received(name, value)}")


def _int_words(minimum: int | None) -> str:
    if minimum is None:
        return "an integer"
    if minimum == 0:
        return "a non-negative integer"
    if minimum == 1:
        return "a positive integer"
    return f"an integer >= {minimum}"


def is_int(value: Any) -> bool:
    """An integer (Python or NumPy), never a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number (int, float, NumPy scalar), never a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@overload
def check_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = ...,
    allow_none: Literal[False] = ...,
    where: str = ...,
) -> int: ...
@overload
def check_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = ...,
    allow_none: bool,
    where: str = ...,
) -> int | None: ...
@overload
def check_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = ...,
    allow_none: bool = ...,
    where: str = ...,
    also: Sequence[Any],
) -> Any: ...
def check_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    allow_none: bool = False,
    where: str = "",
    also: Sequence[Any] = (),
) -> Any:
    """``value`` as an ``int`` when it is an integer ``>= minimum`` (or ``None`` when allowed).

    Args:
        name: The argument's name, for the message.
        value: What was passed.
        minimum: The smallest accepted value. Defaults to `None` (any integer).
        allow_none: Whether ``None`` is accepted (and returned). Defaults to `False`.
        where: A prefix naming the owner, e.g. ``"CSVLogger state: "``. Defaults to `""`.
        also: Other accepted values, returned unchanged (``("epoch",)``). Defaults to `()`.

    Raises:
        ArgumentTypeError: ``value`` is not an integer (a bool is not one).
        ValueError: ``value`` is below ``minimum``.

    Example:
        >>> check_int("period", 3, minimum=1)
        3
        >>> check_int("period", 0, minimum=1)
        Traceback (most recent call last):
        ...
        ValueError: `period` must be a positive integer. Received: period=0
    """
    if value is None and allow_none:
        return None
    if any(_same(value, option) for option in also):
        return value
    accepted = _alternatives(
        [_int_words(minimum), *map(repr, also), *(["None"] if allow_none else [])]
    )
    if not is_int(value):
        _fail(name, value, accepted, where, ArgumentTypeError)
    if minimum is not None and value < minimum:
        _fail(name, value, accepted, where)
    return int(value)


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    positive: bool = False,
    finite: bool = False,
    allow_none: bool = False,
    where: str = "",
    unit: str = "",
) -> float | None:
    """``value`` as a ``float`` when it is a real number (``>= minimum``, ``> 0`` when
    ``positive``), or ``None`` when allowed.

    Args:
        name: The argument's name, for the message.
        value: What was passed.
        minimum: The smallest accepted value. Defaults to `None`.
        positive: Accept only values ``> 0``. Defaults to `False`.
        finite: Refuse ``inf`` and ``NaN``. Defaults to `False`.
        allow_none: Whether ``None`` is accepted (and returned). Defaults to `False`.
        where: A prefix naming the owner. Defaults to `""`.
        unit: What the number counts, for the message (``"seconds"``). Defaults to `""`.

    Raises:
        ArgumentTypeError: ``value`` is not a real number (a bool is not one).
        ValueError: ``value`` is out of range (NaN is out of every range).

    Example:
        >>> check_number("timeout", 0, positive=True, unit="seconds")
        Traceback (most recent call last):
        ...
        ValueError: `timeout` must be a positive number of seconds. Received: timeout=0
    """
    if value is None and allow_none:
        return None
    words = "a positive" if positive else "a"
    words += " finite number" if finite else " number"
    if unit:
        words += f" of {unit}"
    if minimum is not None:
        words += f" >= {minimum}"
    accepted = words + (" or None" if allow_none else "")
    if not is_number(value):
        _fail(name, value, accepted, where, ArgumentTypeError)
    number = float(value)
    out_of_range = (
        (positive and not number > 0)
        or (minimum is not None and not number >= minimum)
        or (finite and not math.isfinite(number))
    )
    if out_of_range:
        _fail(name, value, accepted, where)
    return number


def check_bool(name: str, value: Any, *, where: str = "") -> bool:
    """``value`` when it is ``True`` or ``False`` (NumPy's ``bool_`` too).

    Raises:
        ArgumentTypeError: for anything else (``0``, ``"yes"``, ``None``).
    """
    if not isinstance(value, bool | np.bool_):
        _fail(name, value, "True or False", where, ArgumentTypeError)
    return bool(value)


def check_verbose(value: Any, *, name: str = "verbose", where: str = "") -> int:
    """``value`` as an ``int`` verbosity: a non-negative integer or a bool (``True`` is 1, as
    Keras treats it).

    Raises:
        ArgumentTypeError: for anything else (``"loud"``, ``2.5``, ``None``).
        ValueError: for a negative integer.
    """
    if isinstance(value, bool | np.bool_):
        return int(value)
    return check_int(name, value, minimum=0, where=where)


def check_str(
    name: str,
    value: Any,
    *,
    allow_none: bool = False,
    non_empty: bool = False,
    path: bool = False,
    where: str = "",
) -> Any:
    """``value`` when it is a ``str`` (a path-like too when ``path``; ``None`` when allowed).

    Raises:
        ArgumentTypeError: ``value`` is not a string (or path).
        ValueError: ``value`` is empty and ``non_empty``.
    """
    if value is None and allow_none:
        return None
    words = "a non-empty string" if non_empty else "a string"
    if path:
        words += " or path"
    accepted = words + (" or None" if allow_none else "")
    if not (isinstance(value, str) or (path and isinstance(value, os.PathLike))):
        _fail(name, value, accepted, where, ArgumentTypeError)
    if non_empty and not os.fspath(value):
        _fail(name, value, accepted, where)
    return value


def check_callable(name: str, value: Any, *, allow_none: bool = False, where: str = "") -> Any:
    """``value`` when it is callable (or ``None`` when allowed).

    Raises:
        ArgumentTypeError: ``value`` cannot be called.
    """
    if (value is None and allow_none) or callable(value):
        return value
    _fail(name, value, "a callable" + (" or None" if allow_none else ""), where, ArgumentTypeError)


def check_choice(name: str, value: Any, choices: Iterable[Any], *, where: str = "") -> Any:
    """``value`` when it is one of ``choices`` (``True`` is not ``1`` here, unless listed).

    Raises:
        ValueError: naming the accepted values.

    Example:
        >>> check_choice("verbose", 3, (0, 1, 2, "auto"))
        Traceback (most recent call last):
        ...
        ValueError: `verbose` must be one of 0, 1, 2 or 'auto'. Received: verbose=3
    """
    options = list(choices)
    if not any(_same(value, option) for option in options):
        _fail(name, value, f"one of {_alternatives([repr(o) for o in options])}", where)
    return value


def _alternatives(words: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b or c"``."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _same(value: Any, option: Any) -> bool:
    if isinstance(value, bool) != isinstance(option, bool):
        return False
    try:
        return bool(value == option)
    except Exception:  # an array compared with a scalar, a broken __eq__
        return False
