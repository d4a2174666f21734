"""The argument checks of epochal._validation: what they accept, and what their errors say."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from epochal._validation import (
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_int,
    check_number,
)

names = st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True)
minimums = st.integers(-1000, 1000)
not_ints = st.one_of(
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.builds(complex, st.integers(), st.integers()),
)


@given(name=names, minimum=minimums, data=st.data())
def test_check_int_accepts_every_int_at_or_above_the_minimum(name, minimum, data):
    value = data.draw(st.integers(min_value=minimum, max_value=minimum + 10**12))
    assert check_int(name, value, minimum=minimum) == value
    assert check_int(name, np.int64(value), minimum=minimum) == value
    assert type(check_int(name, np.int64(value), minimum=minimum)) is int


@given(name=names, minimum=minimums, data=st.data())
def test_check_int_refuses_ints_below_the_minimum_naming_name_and_value(name, minimum, data):
    value = data.draw(st.integers(max_value=minimum - 1))
    with pytest.raises(ValueError) as caught:
        check_int(name, value, minimum=minimum)
    assert not isinstance(caught.value, TypeError)
    message = str(caught.value)
    assert f"`{name}`" in message and f"{name}={value!r}" in message


@given(name=names, minimum=minimums, value=not_ints)
def test_check_int_refuses_anything_but_an_int(name, minimum, value):
    with pytest.raises(ArgumentTypeError) as caught:
        check_int(name, value, minimum=minimum)
    # Both a TypeError and, as Keras raises for these, a ValueError.
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)
    assert f"`{name}`" in str(caught.value) and f"{name}={value!r}" in str(caught.value)


def test_check_int_messages_say_what_is_accepted():
    with pytest.raises(ValueError, match=r"^`period` must be a positive integer\. Received: "):
        check_int("period", 0, minimum=1)
    with pytest.raises(ValueError, match=r"a non-negative integer or None\. Received: x=-1$"):
        check_int("x", -1, minimum=0, allow_none=True)
    with pytest.raises(ValueError, match=r"an integer >= 3"):
        check_int("x", 2, minimum=3)
    with pytest.raises(ValueError, match=r"^CSVLogger state: `offset`"):
        check_int("offset", -1, minimum=0, where="CSVLogger state: ")
    with pytest.raises(ValueError, match=r"a positive integer, 'epoch' or 'batch'"):
        check_int("update_freq", "step", minimum=1, also=("epoch", "batch"))
    assert check_int("x", None, allow_none=True) is None
    assert check_int("update_freq", "epoch", minimum=1, also=("epoch",)) == "epoch"
    with pytest.raises(ArgumentTypeError):
        check_int("x", None)


@given(name=names, value=st.floats(allow_nan=False, allow_infinity=False, min_value=0))
def test_check_number_accepts_reals_in_range(name, value):
    assert check_number(name, value, minimum=0, finite=True) == value
    assert check_number(name, int(value), minimum=0) == int(value)


def test_check_number_ranges_and_types():
    with pytest.raises(ValueError, match=r"`timeout` must be a positive number of seconds"):
        check_number("timeout", 0, positive=True, unit="seconds")
    with pytest.raises(ValueError, match="positive"):
        check_number("timeout", math.nan, positive=True)
    with pytest.raises(ValueError, match=r"a finite number >= 0\. Received: lr=inf"):
        check_number("lr", math.inf, minimum=0, finite=True)
    with pytest.raises(TypeError, match=r"`lr` must be a number\. Received: lr=True"):
        check_number("lr", True)
    with pytest.raises(TypeError, match=r"lr='0\.1'"):
        check_number("lr", "0.1")
    assert math.isnan(check_number("best", math.nan))  # no range: NaN is a number
    assert check_number("best", None, allow_none=True) is None


def test_check_bool_and_check_choice():
    assert check_bool("shuffle", np.bool_(True)) is True
    with pytest.raises(TypeError, match=r"`shuffle` must be True or False\. Received: shuffle=1"):
        check_bool("shuffle", 1)
    assert check_choice("verbose", "auto", (0, 1, 2, "auto")) == "auto"
    with pytest.raises(ValueError, match=r"one of 0, 1, 2 or 'auto'\. Received: verbose=True"):
        check_choice("verbose", True, (0, 1, 2, "auto"))  # True is not 1 here
    with pytest.raises(ValueError, match="one of 'min' or 'max'"):
        check_choice("mode", np.zeros(3), ("min", "max"))  # an array compares elementwise
