"""Shared by tests/layers/: replay the Keras layer cases recorded by
``scripts/record_keras_layers.py`` in epochal, and save/load round trips of one layer."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

import epochal
from epochal.layers import LAYER_CLASSES
from epochal.layers._stack import LayerStack
from epochal.saving import load_model

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras"
ATOL = 1e-5


@cache
def load_cases(family: str) -> dict[str, dict[str, Any]]:
    payload = json.loads((FIXTURES / f"layers_{family}.json").read_text())
    return payload["cases"]


def load_adapt() -> dict[str, Any]:
    return json.loads((FIXTURES / "layers_misc.json").read_text())["adapt"]


def make_layer(spec: dict[str, Any]) -> Any:
    return LAYER_CLASSES[spec["class_name"]](**spec["config"])


def _tensor(value: Any, ints: bool) -> torch.Tensor:
    array = np.asarray(value, dtype=np.int64 if ints else np.float32)
    return torch.from_numpy(array)


def run_case(c: dict[str, Any]) -> list[torch.Tensor]:
    """Epochal's outputs for a recorded case, with Keras' weights set."""
    x = _tensor(c["input"], bool(c["ints"]))
    layers = [make_layer(spec) for spec in c["layers"]]
    kwargs = dict(c["call"])
    if c["mask"] is not None:
        kwargs["mask"] = torch.tensor(c["mask"])
    if len(layers) == 1:
        layer = layers[0].eval()
        layer(x, **kwargs)  # builds
        layer.set_weights([np.asarray(w, dtype=np.float32) for w in c["weights"][0]])
        with torch.no_grad():
            out = layer(x, training=False, **kwargs)
    else:
        stack = LayerStack(*layers).eval()
        stack(x)
        for layer, weights in zip(layers, c["weights"], strict=True):
            layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
        with torch.no_grad():
            out = stack(x)
    return list(out) if isinstance(out, list | tuple) else [out]


def check_case(c: dict[str, Any], atol: float = ATOL) -> None:
    outs = run_case(c)
    assert len(outs) == len(c["outputs"])
    for got, expected in zip(outs, c["outputs"], strict=True):
        expected = np.asarray(expected, dtype=np.float32)
        got_np = got.detach().cpu().numpy()
        assert got_np.shape == expected.shape
        np.testing.assert_allclose(got_np, expected, atol=atol, rtol=0)


def save_round_trip(tmp_path: Path, layers: list[Any], x: Any, suffixes=(".keras", ".h5")) -> None:
    """A Sequential of ``layers``, saved whole in each format and loaded back, gives the same
    outputs and weights."""
    model = epochal.Sequential(layers)
    x = torch.as_tensor(np.asarray(x))
    if x.is_floating_point():
        x = x.float()
    model.build_from_batch(x)
    x = x.to(model.device)
    model.module.eval()
    with torch.no_grad():
        expected = model.module(x)
    for suffix in suffixes:
        path = tmp_path / f"model{suffix}"
        model.save(path)
        loaded = load_model(path)
        assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
        for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        loaded.module.eval()
        with torch.no_grad():
            got = loaded.module(x.to(loaded.device))
        torch.testing.assert_close(got.cpu(), expected.cpu(), atol=1e-6, rtol=0)
