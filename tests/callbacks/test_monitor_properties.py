"""Property tests: EarlyStopping and ReduceLROnPlateau against tiny references from the spec.

The references restate SPEC §4, §5 and §9 in the most direct way, independently of the
callbacks' code, and are checked on the spec's scripted (Keras-verified) cases first.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _helpers import StubModel
from hypothesis import given, settings
from hypothesis import strategies as st

from epochal.callbacks import EarlyStopping, ReduceLROnPlateau


def better(current, reference, mode, delta):
    """SPEC §4.5: strict comparison in float32; NaN never wins; no reference: always."""
    if reference is None:
        return True
    c, r, d = np.float32(current), np.float32(reference), np.float32(delta)
    return bool(c + d < r) if mode == "min" else bool(c - d > r)


def reference_stop_epoch(values, mode, delta, patience, baseline, start):
    """Epoch at which training stops, or None (SPEC §5).

    The wait counter grows on every counted epoch and is reset only by an epoch that improves
    on the best so far *and* on the baseline; so at epoch e it equals e - last_reset. Only a
    non-improving epoch can stop, once that count reaches patience (0 acts as 1).
    """
    best, last_reset = None, start - 1
    for epoch, value in enumerate(values):
        if epoch < start:
            continue
        if better(value, best, mode, delta):
            best = value
            if baseline is None or better(value, baseline, mode, delta):
                last_reset = epoch
            continue
        if epoch - last_reset >= max(patience, 1) and epoch > 0:
            return epoch
    return None


def reference_lr_sequence(values, mode, delta, patience, factor, cooldown, min_lr, lr0=1.0):
    """LR in force after each epoch end (SPEC §9).

    After a reduction, the next ``cooldown`` epoch ends only count the cooldown down (and
    still record improvements); the wait then restarts from 0.
    """
    lr, best, wait, cooling, out = lr0, None, 0, 0, []
    for value in values:
        if cooling:
            cooling -= 1
            wait = 0
        if better(value, best, mode, delta):
            best, wait = value, 0
        elif cooling == 0:
            wait += 1
            if wait >= patience and lr > np.float32(min_lr):
                lr = max(lr * factor, min_lr)
                wait, cooling = 0, cooldown
        out.append(lr)
    return out


def run_es(values, mode, delta, patience, baseline, start):
    cb = EarlyStopping(
        monitor="m",
        mode=mode,
        min_delta=delta,
        patience=patience,
        baseline=baseline,
        start_from_epoch=start,
    )
    cb.model = StubModel()
    cb.on_train_begin()
    for epoch, value in enumerate(values):
        cb.on_epoch_end(epoch, {"m": value})
        if cb.model.stop_training:
            return epoch
    return None


def run_rlrop(values, mode, delta, patience, factor, cooldown, min_lr):
    cb = ReduceLROnPlateau(
        monitor="m",
        mode=mode,
        min_delta=delta,
        patience=patience,
        factor=factor,
        cooldown=cooldown,
        min_lr=min_lr,
    )
    cb.model = StubModel()
    cb.model.optimizer.learning_rate = 1.0
    cb.on_train_begin()
    out = []
    for epoch, value in enumerate(values):
        cb.on_epoch_end(epoch, {"m": value})
        out.append(cb.model.optimizer.learning_rate)
    return out


# The spec's Keras-verified scripted cases, as a check of the references themselves.
@pytest.mark.parametrize(
    ("values", "kwargs", "expected"),
    [
        ([5, 4, 4.5, 4.2], {"patience": 2}, 3),
        ([5, 4.8, 4.9], {"delta": 0.5, "patience": 1}, 1),
        ([5, 6], {"baseline": 1, "patience": 2}, 1),
        ([5, 4, 3, 2, 1.5], {"baseline": 1, "patience": 2}, None),
        ([1, 2, 3, 4, 5], {"start": 2, "patience": 0}, 3),
        ([math.nan, 1, 0.5], {"patience": 2}, 2),
    ],
)
def test_es_reference_matches_the_spec_cases(values, kwargs, expected):
    args = {"mode": "min", "delta": 0.0, "patience": 0, "baseline": None, "start": 0, **kwargs}
    assert reference_stop_epoch(values, **args) == expected
    assert run_es(values, **args) == expected


@pytest.mark.parametrize(("cooldown", "expected"), [(0, [2, 4, 6]), (1, [2, 4, 6]), (2, [2, 5])])
def test_rlrop_reference_matches_the_spec_cases(cooldown, expected):
    lrs = reference_lr_sequence([1.0] * 8, "min", 0.0, 2, 0.5, cooldown, 0.0)
    assert [e for e in range(8) if lrs[e] < (lrs[e - 1] if e else 1.0)] == expected


values_st = st.lists(
    st.one_of(
        st.sampled_from([0.0, 0.5, 1.0, 1.0, 1.5, 2.0]),  # ties and plateaus
        st.floats(-10, 10, width=32),
        st.just(math.nan),
    ),
    min_size=1,
    max_size=25,
)
mode_st = st.sampled_from(["min", "max"])
delta_st = st.sampled_from([0.0, 0.0, 0.1, 0.5, -0.25])


@settings(max_examples=300, deadline=None)
@given(
    values=values_st,
    mode=mode_st,
    delta=delta_st,
    patience=st.integers(0, 5),
    baseline=st.one_of(st.none(), st.sampled_from([0.0, 1.0, 5.0])),
    start=st.integers(0, 4),
)
def test_early_stopping_matches_reference(values, mode, delta, patience, baseline, start):
    expected = reference_stop_epoch(values, mode, abs(delta), patience, baseline, start)
    assert run_es(values, mode, delta, patience, baseline, start) == expected


@settings(max_examples=300, deadline=None)
@given(
    values=values_st,
    mode=mode_st,
    delta=delta_st,
    patience=st.integers(0, 4),
    factor=st.sampled_from([0.1, 0.5, 0.9]),
    cooldown=st.integers(0, 3),
    min_lr=st.sampled_from([0.0, 0.01, 0.3]),
)
def test_reduce_lr_on_plateau_matches_reference(
    values, mode, delta, patience, factor, cooldown, min_lr
):
    expected = reference_lr_sequence(values, mode, abs(delta), patience, factor, cooldown, min_lr)
    assert run_rlrop(values, mode, delta, patience, factor, cooldown, min_lr) == expected
