"""Records what real Keras 3 attention and Dot layers compute, and Keras files with them.

Run with the test-only Keras environment (Keras is never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_attention.py

Writes ``tests/fixtures/keras/layers_attention.json``: per case the layer (Keras class name
and arguments), the seeded random inputs and masks, how it is called, the weights Keras
holds (seeded random values set through ``set_weights``) and Keras' outputs in inference
mode. ``tests/layers/test_attention.py`` and ``tests/layers/test_merging.py`` replay them
without Keras.

It also writes, under ``tests/fixtures/keras_files/``, a functional model with
MultiHeadAttention, Attention, Dot and a Lambda of a named function (``attention.keras``,
``attention.weights.h5``, ``attention.h5``, with ``attention.json``: inputs and
predictions), and a model whose Lambda is a Python lambda (``lambda_python.keras`` and
``lambda_python.json``): Keras stores that one as marshalled bytecode, which epochal must
refuse to run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "keras"
FILES = ROOT / "tests" / "fixtures" / "keras_files"


def _short(array: Any) -> Any:
    return np.round(np.asarray(array, dtype=np.float64), 7).tolist()


def case(
    cls: str,
    config: dict[str, Any],
    shapes: dict[str, tuple[int, ...]],
    style: str,
    masks: dict[str, Any] | None = None,
    call: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``style``: ``"list"`` calls ``layer([query, value(, key)], mask=[...])`` (Attention,
    Dot: inputs named ``x0``, ``x1``, ...); ``"mha"`` calls ``layer(query, value, key=...,
    <name>_mask=..., attention_mask=...)``."""
    return {
        "class_name": cls,
        "config": config,
        "shapes": {k: list(v) for k, v in shapes.items()},
        "style": style,
        "masks": masks or {},
        "call": call or {},
    }


QM = [[True, True, False], [True, False, False]]
VM = [[True, True, True, False, False], [True, False, False, False, False]]
SQ = {"query": (2, 3, 4), "value": (2, 5, 4)}
SELF = {"query": (2, 4, 4), "value": (2, 4, 4)}
CAUSAL_VM = [[True, True, True, False], [True, True, False, False]]


def cases() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    qv = {"x0": (2, 3, 4), "x1": (2, 5, 4)}
    qvk = {"x0": (2, 3, 4), "x1": (2, 5, 2), "x2": (2, 5, 4)}
    out["Attention_dot"] = case("Attention", {}, qv, "list")
    out["Attention_key"] = case("Attention", {}, qvk, "list")
    out["Attention_scale"] = case("Attention", {"use_scale": True}, qv, "list")
    out["Attention_concat"] = case("Attention", {"score_mode": "concat"}, qv, "list")
    out["Attention_concat_scale"] = case(
        "Attention", {"score_mode": "concat", "use_scale": True}, qvk, "list"
    )
    out["Attention_masks"] = case("Attention", {}, qv, "list", masks={"mask": [QM, VM]})
    out["Attention_value_mask_only"] = case(
        "Attention", {"use_scale": True}, qv, "list", masks={"mask": [None, VM]}
    )
    out["Attention_causal"] = case(
        "Attention", {}, {"x0": (2, 4, 3), "x1": (2, 4, 3)}, "list", call={"use_causal_mask": True}
    )
    out["Attention_causal_masked_scores"] = case(
        "Attention",
        {"score_mode": "concat"},
        {"x0": (2, 4, 3), "x1": (2, 4, 3)},
        "list",
        masks={"mask": [None, CAUSAL_VM]},
        call={"use_causal_mask": True, "return_attention_scores": True},
    )
    out["Attention_scores"] = case(
        "Attention",
        {},
        qv,
        "list",
        masks={"mask": [QM, VM]},
        call={"return_attention_scores": True},
    )
    out["Attention_dropout_inference"] = case(
        "Attention", {"dropout": 0.4, "seed": 3}, qv, "list", call={"return_attention_scores": True}
    )

    mha = {"num_heads": 2, "key_dim": 3}
    out["MHA_basic"] = case("MultiHeadAttention", mha, SQ, "mha")
    out["MHA_key_value_dim"] = case(
        "MultiHeadAttention",
        {"num_heads": 3, "key_dim": 2, "value_dim": 4},
        {"query": (2, 3, 4), "value": (2, 5, 6), "key": (2, 5, 3)},
        "mha",
    )
    out["MHA_no_bias"] = case("MultiHeadAttention", {**mha, "use_bias": False}, SQ, "mha")
    out["MHA_output_shape_int"] = case("MultiHeadAttention", {**mha, "output_shape": 6}, SQ, "mha")
    out["MHA_output_shape_tuple"] = case(
        "MultiHeadAttention", {**mha, "output_shape": (2, 3)}, SQ, "mha"
    )
    out["MHA_scores"] = case(
        "MultiHeadAttention", mha, SQ, "mha", call={"return_attention_scores": True}
    )
    out["MHA_value_mask"] = case("MultiHeadAttention", mha, SQ, "mha", masks={"value_mask": VM})
    out["MHA_key_mask_scores"] = case(
        "MultiHeadAttention",
        mha,
        {**SQ, "key": (2, 5, 3)},
        "mha",
        masks={"key_mask": VM},
        call={"return_attention_scores": True},
    )
    out["MHA_query_mask"] = case(
        "MultiHeadAttention", mha, SQ, "mha", masks={"query_mask": QM, "value_mask": VM}
    )
    out["MHA_query_mask_scores"] = case(
        "MultiHeadAttention",
        mha,
        SQ,
        "mha",
        masks={"query_mask": QM},
        call={"return_attention_scores": True},
    )
    attention_mask = np.ones((2, 3, 5), bool)
    attention_mask[0, 1, :] = False
    attention_mask[1, :, 3:] = False
    out["MHA_attention_mask"] = case(
        "MultiHeadAttention", mha, SQ, "mha", masks={"attention_mask": attention_mask.tolist()}
    )
    out["MHA_attention_mask_scores"] = case(
        "MultiHeadAttention",
        mha,
        SQ,
        "mha",
        masks={"attention_mask": attention_mask.tolist()},
        call={"return_attention_scores": True},
    )
    out["MHA_causal"] = case("MultiHeadAttention", mha, SELF, "mha", call={"use_causal_mask": True})
    out["MHA_causal_scores"] = case(
        "MultiHeadAttention",
        mha,
        SELF,
        "mha",
        call={"use_causal_mask": True, "return_attention_scores": True},
    )
    out["MHA_causal_value_mask"] = case(
        "MultiHeadAttention",
        mha,
        SELF,
        "mha",
        masks={"value_mask": CAUSAL_VM},
        call={"use_causal_mask": True},
    )
    four = {"query": (2, 2, 3, 4), "value": (2, 2, 3, 4)}
    out["MHA_4d_default_axes"] = case("MultiHeadAttention", mha, four, "mha")
    out["MHA_attention_axes_2"] = case(
        "MultiHeadAttention",
        {**mha, "attention_axes": 2},
        four,
        "mha",
        call={"return_attention_scores": True},
    )
    out["MHA_attention_axes_pair_output_shape"] = case(
        "MultiHeadAttention",
        {**mha, "attention_axes": (1, 2), "output_shape": 5},
        four,
        "mha",
    )
    out["MHA_attention_axes_negative"] = case(
        "MultiHeadAttention", {**mha, "attention_axes": -3}, four, "mha"
    )
    out["MHA_dropout_inference"] = case(
        "MultiHeadAttention", {**mha, "dropout": 0.3, "seed": 1}, SQ, "mha"
    )
    out["MHA_gate"] = case("MultiHeadAttention", {**mha, "use_gate": True}, SQ, "mha")
    out["MHA_sliding_window"] = case(
        "MultiHeadAttention", {**mha, "sliding_window": 2}, SELF, "mha"
    )

    out["Dot_2d"] = case("Dot", {"axes": 1}, {"x0": (3, 4), "x1": (3, 4)}, "list")
    out["Dot_2d_negative"] = case("Dot", {"axes": -1}, {"x0": (3, 4), "x1": (3, 4)}, "list")
    out["Dot_3d_pair"] = case("Dot", {"axes": (2, 2)}, {"x0": (2, 3, 4), "x1": (2, 5, 4)}, "list")
    out["Dot_3d_axis1"] = case("Dot", {"axes": 1}, {"x0": (2, 3, 4), "x1": (2, 3, 2)}, "list")
    out["Dot_3d_2d"] = case("Dot", {"axes": (2, 1)}, {"x0": (2, 3, 4), "x1": (2, 4)}, "list")
    out["Dot_2d_3d"] = case("Dot", {"axes": (1, 2)}, {"x0": (2, 4), "x1": (2, 3, 4)}, "list")
    out["Dot_normalize"] = case(
        "Dot", {"axes": -1, "normalize": True}, {"x0": (2, 3, 4), "x1": (2, 5, 4)}, "list"
    )
    out["Dot_negative_pair"] = case(
        "Dot", {"axes": [-2, -1], "normalize": True}, {"x0": (2, 4, 3), "x1": (2, 5, 4)}, "list"
    )
    out["Dot_4d_3d"] = case("Dot", {"axes": (3, 1)}, {"x0": (2, 2, 3, 4), "x1": (2, 4, 2)}, "list")
    return out


def run(c: dict[str, Any], seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    arrays = {k: rng.normal(size=tuple(v)).astype(np.float32) for k, v in c["shapes"].items()}
    layer = getattr(keras.layers, c["class_name"])(**c["config"])
    masks = c["masks"]
    call = dict(c["call"])

    def invoke() -> Any:
        if c["style"] == "list":
            inputs = [arrays[k] for k in sorted(arrays)]
            kwargs = dict(call)
            if "mask" in masks:
                kwargs["mask"] = [None if m is None else np.asarray(m) for m in masks["mask"]]
            return layer(inputs, training=False, **kwargs)
        query = torch.from_numpy(arrays["query"])
        kwargs = dict(call)
        for key, value in masks.items():
            if key == "query_mask":  # Keras reads the query's own mask (from a masking layer)
                query._keras_mask = torch.tensor(value)
            else:
                kwargs[key] = np.asarray(value)
        if "key" in arrays:
            kwargs["key"] = arrays["key"]
        return layer(query, arrays["value"], training=False, **kwargs)

    invoke()  # builds
    weights = [rng.normal(0.0, 0.5, size=tuple(w.shape)).astype(np.float32) for w in layer.weights]
    if c["class_name"] == "Attention":
        weights = [w + 1.0 for w in weights]
    layer.set_weights(weights)
    result = invoke()
    outputs = list(result) if isinstance(result, list | tuple) else [result]
    return {
        **c,
        "inputs": {k: _short(v) for k, v in arrays.items()},
        "weights": [_short(w) for w in weights],
        "weight_paths": [w.path for w in layer.weights],
        "outputs": [_short(keras.ops.convert_to_numpy(o)) for o in outputs],
    }


def scale_by(x: Any, factor: float = 2.0) -> Any:
    """The named function of the recorded Lambda (the tests define the same)."""
    return x * factor


def files() -> None:
    keras.utils.set_random_seed(5)
    query = keras.Input((3, 4), name="query")
    value = keras.Input((5, 4), name="value")
    attended = keras.layers.MultiHeadAttention(2, 3, name="mha")(query, value)
    luong = keras.layers.Attention(use_scale=True, score_mode="concat", name="luong")(
        [query, value]
    )
    scaled = keras.layers.Lambda(scale_by, arguments={"factor": 3.0}, name="scaled")(attended)
    merged = keras.layers.Add()([scaled, luong])
    similarity = keras.layers.Dot(axes=(2, 2), normalize=True, name="similarity")([merged, value])
    flat = keras.layers.Flatten()(similarity)
    output = keras.layers.Dense(2, name="head")(flat)
    model = keras.Model([query, value], output)
    rng = np.random.default_rng(9)
    model.set_weights([rng.normal(0, 0.5, size=w.shape).astype("float32") for w in model.weights])
    model.compile(optimizer="adam", loss="mse")
    x = [rng.normal(size=(4, 3, 4)).astype("float32"), rng.normal(size=(4, 5, 4)).astype("float32")]
    model.fit(x, rng.normal(size=(4, 2)).astype("float32"), epochs=1, verbose=0)
    probe = [
        rng.normal(size=(2, 3, 4)).astype("float32"),
        rng.normal(size=(2, 5, 4)).astype("float32"),
    ]
    predictions = np.asarray(model.predict(probe, verbose=0))
    model.save(FILES / "attention.keras")
    model.save(FILES / "attention.h5")
    model.save_weights(FILES / "attention.weights.h5")
    (FILES / "attention.json").write_text(
        json.dumps(
            {
                "keras_version": keras.__version__,
                "inputs": [p.tolist() for p in probe],
                "predictions": predictions.tolist(),
            }
        )
    )

    inputs = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(4, name="dense")(inputs)
    shifted = keras.layers.Lambda(lambda t: t * 2.0 + 1.0, name="shift")(hidden)
    lam = keras.Model(inputs, keras.layers.Dense(1, name="out")(shifted))
    lam.set_weights([rng.normal(0, 0.5, size=w.shape).astype("float32") for w in lam.weights])
    probe1 = rng.normal(size=(2, 3)).astype("float32")
    lam.save(FILES / "lambda_python.keras")
    (FILES / "lambda_python.json").write_text(
        json.dumps(
            {
                "keras_version": keras.__version__,
                "inputs": probe1.tolist(),
                "predictions": np.asarray(lam.predict(probe1, verbose=0)).tolist(),
            }
        )
    )


def main() -> None:
    recorded = {name: run(c, seed) for seed, (name, c) in enumerate(sorted(cases().items()))}
    payload = {"keras_version": keras.__version__, "cases": recorded}
    (OUT / "layers_attention.json").write_text(json.dumps(payload) + "\n")
    print(f"{len(recorded)} cases -> {OUT / 'layers_attention.json'}")
    files()
    print(f"files -> {FILES}")


if __name__ == "__main__":
    main()
