"""pad_sequences and normalize against Keras 3 (tests/fixtures/keras/utils.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from epochal.utils import normalize, pad_sequences

FIXTURE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures/keras/utils.json").read_text()
)


@pytest.mark.parametrize("case", FIXTURE["pad_sequences"], ids=lambda c: str(c["kwargs"]))
def test_pad_sequences_equals_keras(case):
    sequences = case.get("sequences", FIXTURE["sequences"])
    kwargs = dict(case["kwargs"])
    if "sequences" in case:
        kwargs["dtype"] = "float32"
    out = pad_sequences(sequences, **kwargs)
    assert str(out.dtype) == case["out"]["dtype"]
    assert list(out.shape) == case["out"]["shape"]
    assert out.tolist() == case["out"]["values"]


def test_pad_sequences_defaults_pad_and_truncate_at_the_front():
    assert pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist() == [[2, 3], [0, 4]]


def test_pad_sequences_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="padding"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        pad_sequences([[1]], truncating="middle")
    with pytest.raises(ValueError, match="dtype=object"):
        pad_sequences([["a"]], value="x")
    with pytest.raises(ValueError, match="non-iterable"):
        pad_sequences([1, 2])
    with pytest.raises(ValueError, match="shape"):
        pad_sequences([[[1, 2]], [[1, 2, 3]]])


def test_pad_sequences_strings_with_object_dtype():
    out = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert out.tolist() == [["a", "b"], ["<pad>", "c"]]


@pytest.mark.parametrize("case", FIXTURE["normalize"], ids=lambda c: f"{c['axis']}-{c['order']}")
def test_normalize_array_equals_keras(case):
    order = np.inf if case["order"] == "inf" else case["order"]
    out = normalize(np.array(FIXTURE["x"]), axis=case["axis"], order=order)
    np.testing.assert_allclose(out, case["out"], rtol=1e-12)


@pytest.mark.parametrize(
    "case", FIXTURE["normalize_tensor"], ids=lambda c: f"{c['axis']}-{c['order']}"
)
def test_normalize_tensor_equals_keras(case):
    x = torch.tensor(FIXTURE["x"], dtype=torch.float32)
    out = normalize(x, axis=case["axis"], order=case["order"])
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), case["out"], rtol=1e-6, atol=1e-7)


def test_normalize_tensor_rejects_a_non_int_order():
    with pytest.raises(ValueError, match="order"):
        normalize(torch.ones(2, 2), order=0.5)
