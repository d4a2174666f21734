"""Records what real Keras 3 layers compute, for tests that compare epochal's layers.

Run with the test-only Keras environment (Keras is never an epochal dependency)::

    KERAS_BACKEND=torch /work/kerasenv/bin/python scripts/record_keras_layers.py [family ...]

For every case of a family it builds the Keras layers (one layer called directly, or several
in a ``keras.Sequential``), gives them seeded random weights through ``set_weights``, runs
them in inference mode on a seeded random input and writes, per family, one small JSON file
``tests/fixtures/keras/layers_<family>.json``: the layer specs (Keras class names and
arguments), the input (and mask), every layer's ``get_weights()`` and the outputs. The tests
(``tests/layers/test_<family>.py``) rebuild the same layers in epochal, ``set_weights`` and
compare, without Keras.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras"


def case(
    layers: list[tuple[str, dict[str, Any]]],
    shape: tuple[int, ...],
    *,
    ints: int | None = None,
    zero_tail: bool = False,
    mask: list[list[bool]] | None = None,
    call: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One case: layer specs (class name, Keras arguments) and how to draw the input.

    ``ints``: integer ids in ``[0, ints)`` (for Embedding); ``zero_tail``: the last timesteps
    of the second sample are zeros (for Masking / mask_zero); ``mask``: a mask passed to
    the single layer's call.
    """
    return {
        "layers": [{"class_name": c, "config": k} for c, k in layers],
        "shape": list(shape),
        "ints": ints,
        "zero_tail": zero_tail,
        "mask": mask,
        "call": call or {},
    }


RNN_MASK = [[True, True, True, True], [True, True, False, False]]


def _recurrent() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    for cls in ("SimpleRNN", "LSTM", "GRU"):
        base = {"units": 3}
        cases[f"{cls}_last"] = case([(cls, base)], (2, 4, 2))
        cases[f"{cls}_sequences"] = case([(cls, {**base, "return_sequences": True})], (2, 4, 2))
        cases[f"{cls}_state"] = case(
            [(cls, {**base, "return_sequences": True, "return_state": True})], (2, 4, 2)
        )
        cases[f"{cls}_backwards"] = case(
            [(cls, {**base, "go_backwards": True, "return_sequences": True})], (2, 4, 2)
        )
        cases[f"{cls}_mask_call"] = case(
            [(cls, {**base, "return_sequences": True})], (2, 4, 2), mask=RNN_MASK
        )
        cases[f"{cls}_mask_backwards"] = case(
            [(cls, {**base, "return_sequences": True, "go_backwards": True})],
            (2, 4, 2),
            mask=RNN_MASK,
        )
        cases[f"{cls}_embedding_mask"] = case(
            [
                ("Embedding", {"input_dim": 5, "output_dim": 2, "mask_zero": True}),
                (cls, base),
            ],
            (2, 4),
            ints=5,
            zero_tail=True,
        )
        cases[f"{cls}_masking"] = case(
            [
                ("Masking", {"mask_value": 0.0}),
                (cls, {**base, "return_sequences": True}),
                (cls, {"units": 2}),
            ],
            (2, 4, 2),
            zero_tail=True,
        )
        cases[f"{cls}_no_bias_relu"] = case(
            [(cls, {**base, "use_bias": False, "activation": "relu"})], (2, 4, 2)
        )
    cases["GRU_reset_before"] = case([("GRU", {"units": 3, "reset_after": False})], (2, 4, 2))
    cases["GRU_reset_before_mask"] = case(
        [("GRU", {"units": 3, "reset_after": False, "return_sequences": True})],
        (2, 4, 2),
        mask=RNN_MASK,
    )
    cases["LSTM_hard_sigmoid"] = case(
        [("LSTM", {"units": 3, "recurrent_activation": "hard_sigmoid"})], (2, 4, 2)
    )
    for mode in ("concat", "sum", "mul", "ave"):
        cases[f"Bidirectional_{mode}"] = case(
            [
                (
                    "Bidirectional",
                    {
                        "layer": {
                            "class_name": "LSTM",
                            "config": {"units": 3, "return_sequences": True},
                        },
                        "merge_mode": mode,
                    },
                )
            ],
            (2, 4, 2),
        )
    cases["Bidirectional_gru_last_masked"] = case(
        [
            ("Embedding", {"input_dim": 5, "output_dim": 2, "mask_zero": True}),
            ("Bidirectional", {"layer": {"class_name": "GRU", "config": {"units": 2}}}),
        ],
        (2, 4),
        ints=5,
        zero_tail=True,
    )
    cases["Bidirectional_seq_masked"] = case(
        [
            ("Masking", {}),
            (
                "Bidirectional",
                {
                    "layer": {
                        "class_name": "SimpleRNN",
                        "config": {"units": 2, "return_sequences": True},
                    }
                },
            ),
        ],
        (2, 4, 2),
        zero_tail=True,
    )
    cases["Bidirectional_state"] = case(
        [
            (
                "Bidirectional",
                {"layer": {"class_name": "LSTM", "config": {"units": 2, "return_state": True}}},
            )
        ],
        (2, 4, 2),
    )
    cases["TimeDistributed_dense"] = case(
        [("TimeDistributed", {"layer": {"class_name": "Dense", "config": {"units": 3}}})],
        (2, 4, 2),
    )
    cases["TimeDistributed_then_lstm"] = case(
        [
            (
                "TimeDistributed",
                {"layer": {"class_name": "Dense", "config": {"units": 3, "activation": "relu"}}},
            ),
            ("LSTM", {"units": 2}),
        ],
        (2, 4, 2),
    )
    return cases


FAMILIES = {"recurrent": _recurrent}


def _keras_layer(spec: dict[str, Any]) -> Any:
    config = dict(spec["config"])
    cls = getattr(keras.layers, spec["class_name"])
    for key in ("layer", "backward_layer"):
        if isinstance(config.get(key), dict):
            inner = config[key]
            config[key] = getattr(keras.layers, inner["class_name"])(**inner["config"])
    return cls(**config)


def _draw(rng: np.random.Generator, c: dict[str, Any]) -> np.ndarray:
    shape = tuple(c["shape"])
    if c["ints"]:
        x = rng.integers(1, c["ints"], size=shape)
    else:
        x = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    if c["zero_tail"]:
        x[1, -2:] = 0
    return x


def _random_weights(rng: np.random.Generator, layer: Any) -> list[np.ndarray]:
    out = []
    for w in layer.weights:
        shape = tuple(w.shape)
        if "variance" in w.path:
            out.append(rng.uniform(0.5, 1.5, size=shape).astype(np.float32))
        else:
            out.append(rng.uniform(-0.6, 0.6, size=shape).astype(np.float32))
    return out


def _to_list(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_to_list(v) for v in value]
    return keras.ops.convert_to_numpy(value).tolist()


def record_case(name: str, c: dict[str, Any], seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = _draw(rng, c)
    layers = [_keras_layer(spec) for spec in c["layers"]]
    if len(layers) == 1:
        layer = layers[0]
        kwargs = dict(c["call"])
        if c["mask"] is not None:
            kwargs["mask"] = np.asarray(c["mask"])
        layer(x, **kwargs)
        layer.set_weights(_random_weights(rng, layer))
        out = layer(x, training=False, **kwargs)
    else:
        model = keras.Sequential([keras.Input(shape=x.shape[1:], dtype=str(x.dtype)), *layers])
        for layer in layers:
            layer.set_weights(_random_weights(rng, layer))
        out = model(x, training=False)
    outputs = out if isinstance(out, list | tuple) else [out]
    return {
        **c,
        "input": x.tolist(),
        "weights": [[w.tolist() for w in layer.get_weights()] for layer in layers],
        "outputs": [_to_list(o) for o in outputs],
    }


def main(argv: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    for family in argv or list(FAMILIES):
        cases = FAMILIES[family]()
        recorded = {
            name: record_case(name, c, seed) for seed, (name, c) in enumerate(sorted(cases.items()))
        }
        payload = {"keras_version": keras.__version__, "cases": recorded}
        path = OUT / f"layers_{family}.json"
        path.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
        print(f"{path}: {len(recorded)} cases, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
