"""Logs: values fetched from the device on first read, in one transfer; a dict for readers."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest
import torch

from epochal.logs import Logs, convert_logs, to_python


def _lazy(counter):
    def source():
        counter.append(1)
        return to_python({"accuracy": torch.tensor(0.5), "loss": torch.tensor(2.0)})

    return Logs.lazy(["accuracy", "loss"], source)


def test_keys_cost_nothing_values_cost_one_fetch():
    calls = []
    logs = _lazy(calls)
    assert list(logs) == ["accuracy", "loss"] and "loss" in logs and len(logs) == 2
    assert calls == []
    assert logs["loss"] == 2.0 and isinstance(logs["loss"], float)
    assert logs.get("accuracy") == 0.5
    assert calls == [1]


@pytest.mark.parametrize(
    "read",
    [
        lambda logs: dict(logs),
        lambda logs: {**logs},
        lambda logs: logs.copy(),
        lambda logs: json.loads(json.dumps(logs)),
        lambda logs: dict(logs.items()),
        lambda logs: dict(zip(logs.keys(), logs.values(), strict=True)),
        lambda logs: pickle.loads(pickle.dumps(logs)),
        lambda logs: copy.deepcopy(logs),
    ],
)
def test_every_dict_reading_path_sees_floats(read):
    assert read(_lazy([])) == {"accuracy": 0.5, "loss": 2.0}


def test_equality_repr_and_writes():
    logs = _lazy([])
    logs["learning_rate"] = 0.1
    assert logs == {"accuracy": 0.5, "loss": 2.0, "learning_rate": 0.1}
    assert "2.0" in repr(logs)


def test_a_written_key_is_not_overwritten_by_the_fetch():
    logs = _lazy([])
    logs["loss"] = 9.0
    assert logs["accuracy"] == 0.5 and logs["loss"] == 9.0


def test_to_python_one_transfer_of_many_values():
    values = {
        "a": torch.tensor(1.5),
        "b": torch.tensor([2.5]),
        "c": torch.tensor(3, dtype=torch.int64),
    }
    assert to_python(values) == {"a": 1.5, "b": 2.5, "c": 3.0}
    assert to_python({}) == {}


def test_convert_logs_sorts_flattens_and_converts():
    out = convert_logs(
        {
            "b": np.float32(1.0),
            "a": torch.tensor(2.0),
            "n": {"x": 3},
            "arr": torch.tensor([1.0, 2.0]),
        }
    )
    assert list(out) == ["a", "arr", "b", "x"]
    assert out["a"] == 2.0 and isinstance(out["b"], float) and out["x"] == 3
    np.testing.assert_array_equal(out["arr"], [1.0, 2.0])
    assert convert_logs(None) == {}
