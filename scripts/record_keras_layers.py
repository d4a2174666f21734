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


def _convolutional() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    conv1 = {
        "valid": {"filters": 3, "kernel_size": 3},
        "same_stride": {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
        "causal_dilated": {"filters": 2, "kernel_size": 2, "padding": "causal", "dilation_rate": 2},
        "groups": {"filters": 4, "kernel_size": 2, "groups": 2, "activation": "relu"},
        "first": {
            "filters": 2,
            "kernel_size": 3,
            "data_format": "channels_first",
            "padding": "same",
        },
    }
    for key, cfg in conv1.items():
        shape = (2, 4, 7) if cfg.get("data_format") == "channels_first" else (2, 7, 4)
        cases[f"Conv1D_{key}"] = case([("Conv1D", cfg)], shape)
    conv2 = {
        "valid": {"filters": 3, "kernel_size": (2, 3)},
        "same_stride": {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
        "same_even": {"filters": 2, "kernel_size": 2, "padding": "same"},
        "dilated_same": {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "padding": "same"},
        "groups": {"filters": 4, "kernel_size": 2, "groups": 2, "use_bias": False},
        "first": {
            "filters": 2,
            "kernel_size": 3,
            "strides": (1, 2),
            "data_format": "channels_first",
        },
    }
    for key, cfg in conv2.items():
        shape = (2, 4, 5, 6) if cfg.get("data_format") == "channels_first" else (2, 5, 6, 4)
        cases[f"Conv2D_{key}"] = case([("Conv2D", cfg)], shape)
    cases["Conv3D_same"] = case(
        [("Conv3D", {"filters": 2, "kernel_size": 2, "padding": "same"})], (1, 3, 4, 3, 2)
    )
    transposed = {
        "valid": {"filters": 2, "kernel_size": 3},
        "valid_stride": {"filters": 2, "kernel_size": 3, "strides": 2},
        "valid_small_kernel": {"filters": 2, "kernel_size": 1, "strides": 2},
        "same_stride": {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
        "same_even": {"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same"},
        "output_padding": {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1},
        "same_output_padding": {
            "filters": 2,
            "kernel_size": 3,
            "strides": 2,
            "padding": "same",
            "output_padding": 1,
        },
        "dilated": {"filters": 2, "kernel_size": 2, "dilation_rate": 2},
        "first": {"filters": 2, "kernel_size": 2, "strides": 2, "data_format": "channels_first"},
    }
    for key, cfg in transposed.items():
        shape = (2, 3, 3, 4) if cfg.get("data_format") == "channels_first" else (2, 3, 4, 3)
        cases[f"Conv2DTranspose_{key}"] = case([("Conv2DTranspose", cfg)], shape)
    cases["Conv1DTranspose_same"] = case(
        [("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"})],
        (2, 4, 3),
    )
    cases["DepthwiseConv2D_valid"] = case([("DepthwiseConv2D", {"kernel_size": 2})], (2, 4, 4, 3))
    cases["DepthwiseConv2D_multiplier"] = case(
        [
            (
                "DepthwiseConv2D",
                {"kernel_size": 3, "depth_multiplier": 2, "padding": "same", "strides": 2},
            )
        ],
        (2, 5, 5, 3),
    )
    cases["DepthwiseConv1D"] = case(
        [("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2})], (2, 6, 3)
    )
    cases["SeparableConv2D_valid"] = case(
        [("SeparableConv2D", {"filters": 4, "kernel_size": 2})], (2, 4, 4, 3)
    )
    cases["SeparableConv2D_same"] = case(
        [
            (
                "SeparableConv2D",
                {
                    "filters": 2,
                    "kernel_size": 3,
                    "padding": "same",
                    "depth_multiplier": 2,
                    "strides": 2,
                    "activation": "relu",
                },
            )
        ],
        (2, 5, 5, 3),
    )
    cases["SeparableConv1D"] = case(
        [("SeparableConv1D", {"filters": 3, "kernel_size": 2, "dilation_rate": 2})], (2, 6, 2)
    )
    return cases


def _pooling() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    for cls in ("MaxPooling1D", "AveragePooling1D"):
        cases[f"{cls}_valid"] = case([(cls, {"pool_size": 2})], (2, 7, 3))
        cases[f"{cls}_same"] = case(
            [(cls, {"pool_size": 3, "strides": 2, "padding": "same"})], (2, 7, 3)
        )
        cases[f"{cls}_first"] = case(
            [(cls, {"pool_size": 2, "strides": 1, "data_format": "channels_first"})], (2, 3, 5)
        )
    for cls in ("MaxPooling2D", "AveragePooling2D"):
        cases[f"{cls}_valid"] = case([(cls, {"pool_size": (2, 2)})], (2, 5, 4, 2))
        cases[f"{cls}_same"] = case(
            [(cls, {"pool_size": 3, "strides": 2, "padding": "same"})], (2, 5, 6, 2)
        )
        cases[f"{cls}_same_stride1"] = case(
            [(cls, {"pool_size": 2, "strides": 1, "padding": "same"})], (2, 3, 3, 2)
        )
        cases[f"{cls}_first"] = case(
            [(cls, {"pool_size": (2, 1), "data_format": "channels_first"})], (2, 2, 4, 3)
        )
    for cls in ("GlobalMaxPooling1D", "GlobalAveragePooling1D"):
        cases[cls] = case([(cls, {})], (2, 5, 3))
        cases[f"{cls}_keepdims_first"] = case(
            [(cls, {"keepdims": True, "data_format": "channels_first"})], (2, 3, 5)
        )
    for cls in ("GlobalMaxPooling2D", "GlobalAveragePooling2D"):
        cases[cls] = case([(cls, {})], (2, 3, 4, 2))
        cases[f"{cls}_keepdims"] = case([(cls, {"keepdims": True})], (2, 3, 4, 2))
    cases["GlobalAveragePooling1D_masked"] = case(
        [("Masking", {}), ("GlobalAveragePooling1D", {})], (2, 4, 3), zero_tail=True
    )
    cases["MaxPooling3D"] = case([("MaxPooling3D", {"padding": "same"})], (1, 3, 4, 3, 2))
    cases["AveragePooling3D"] = case(
        [("AveragePooling3D", {"pool_size": 2, "padding": "same"})], (1, 3, 4, 3, 2)
    )
    return cases


def _reshaping() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    cases["UpSampling2D_nearest"] = case([("UpSampling2D", {"size": (2, 3)})], (2, 2, 3, 2))
    cases["UpSampling2D_bilinear"] = case(
        [("UpSampling2D", {"interpolation": "bilinear"})], (2, 3, 3, 2)
    )
    cases["UpSampling2D_first"] = case(
        [("UpSampling2D", {"data_format": "channels_first"})], (2, 2, 2, 3)
    )
    cases["UpSampling1D"] = case([("UpSampling1D", {"size": 3})], (2, 3, 2))
    cases["ZeroPadding2D_int"] = case([("ZeroPadding2D", {"padding": 1})], (2, 2, 3, 2))
    cases["ZeroPadding2D_pairs"] = case(
        [("ZeroPadding2D", {"padding": ((1, 0), (2, 1))})], (2, 2, 3, 2)
    )
    cases["ZeroPadding2D_first"] = case(
        [("ZeroPadding2D", {"padding": (1, 2), "data_format": "channels_first"})], (2, 2, 2, 3)
    )
    cases["ZeroPadding1D"] = case([("ZeroPadding1D", {"padding": (2, 1)})], (2, 3, 2))
    cases["Cropping2D_pairs"] = case([("Cropping2D", {"cropping": ((1, 0), (1, 2))})], (2, 4, 5, 2))
    cases["Cropping2D_first"] = case(
        [("Cropping2D", {"cropping": 1, "data_format": "channels_first"})], (2, 2, 4, 4)
    )
    cases["Cropping1D"] = case([("Cropping1D", {"cropping": (1, 2)})], (2, 5, 2))
    cases["Permute"] = case([("Permute", {"dims": (2, 3, 1)})], (2, 2, 3, 4))
    cases["RepeatVector"] = case([("RepeatVector", {"n": 3})], (2, 4))
    cases["Flatten_first"] = case([("Flatten", {"data_format": "channels_first"})], (2, 2, 3, 2))
    cases["Reshape_minus_one"] = case([("Reshape", {"target_shape": (-1, 2)})], (2, 3, 4))
    return cases


def _misc() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    cases["LayerNormalization"] = case([("LayerNormalization", {})], (2, 3, 4))
    cases["LayerNormalization_axes"] = case(
        [("LayerNormalization", {"axis": [1, 2], "epsilon": 0.01, "center": False})], (2, 3, 4)
    )
    cases["LayerNormalization_no_scale"] = case(
        [("LayerNormalization", {"scale": False, "epsilon": 0.1})], (2, 3, 4)
    )
    cases["BatchNormalization_inference"] = case([("BatchNormalization", {})], (3, 4))
    cases["ReLU"] = case([("ReLU", {})], (2, 5))
    cases["ReLU_args"] = case(
        [("ReLU", {"max_value": 0.5, "negative_slope": 0.1, "threshold": 0.2})], (2, 6)
    )
    cases["LeakyReLU"] = case([("LeakyReLU", {})], (2, 5))
    cases["LeakyReLU_slope"] = case([("LeakyReLU", {"negative_slope": 0.05})], (2, 5))
    cases["PReLU"] = case([("PReLU", {})], (2, 3, 4))
    cases["PReLU_shared"] = case([("PReLU", {"shared_axes": [1]})], (2, 3, 4))
    cases["ELU"] = case([("ELU", {"alpha": 0.7})], (2, 5))
    cases["Softmax"] = case([("Softmax", {})], (2, 5))
    cases["Softmax_axis"] = case([("Softmax", {"axis": 1})], (2, 3, 4))
    cases["Softmax_axes"] = case([("Softmax", {"axis": [1, 2]})], (2, 3, 4))
    cases["Softmax_mask"] = case(
        [("Softmax", {})], (2, 4), mask=[[True, False, True, True], [False, False, False, False]]
    )
    cases["Rescaling"] = case([("Rescaling", {"scale": 0.5, "offset": -1.0})], (2, 3))
    cases["Normalization_given"] = case(
        [("Normalization", {"mean": [0.5, -0.2, 0.1], "variance": [4.0, 0.25, 1.0]})], (2, 3)
    )
    cases["Normalization_invert"] = case(
        [("Normalization", {"mean": 1.0, "variance": 4.0, "invert": True})], (2, 3)
    )
    cases["Normalization_weights"] = case([("Normalization", {"axis": -1})], (2, 2, 3))
    cases["Dropout_inference"] = case(
        [("Dropout", {"rate": 0.5, "noise_shape": (None, 1, 3)})], (2, 2, 3)
    )
    cases["GaussianNoise_inference"] = case([("GaussianNoise", {"stddev": 0.3})], (2, 3))
    cases["SpatialDropout2D_inference"] = case([("SpatialDropout2D", {"rate": 0.3})], (1, 2, 2, 3))
    return cases


def record_adapt() -> dict[str, Any]:
    """Normalization.adapt on fixed data: the statistics Keras learns, and its outputs."""
    rng = np.random.default_rng(99)
    data = rng.uniform(-2.0, 3.0, size=(10, 2, 3)).round(2).astype(np.float32)
    out: dict[str, Any] = {"data": _short(data)}
    for key, axis in (("last", -1), ("pair", (1, 2)), ("none", None)):
        layer = keras.layers.Normalization(axis=axis)
        layer.adapt(data)
        out[key] = {
            "axis": axis,
            "weights": [_short(np.asarray(w)) for w in layer.get_weights()],
            "outputs": _short(np.asarray(keras.ops.convert_to_numpy(layer(data[:2])))),
        }
    return out


FAMILIES = {
    "misc": _misc,
    "recurrent": _recurrent,
    "convolutional": _convolutional,
    "pooling": _pooling,
    "reshaping": _reshaping,
}


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
        x = rng.uniform(-1.0, 1.0, size=shape).round(2).astype(np.float32)
    if c["zero_tail"]:
        x[1, -2:] = 0
    return x


def _random_weights(rng: np.random.Generator, layer: Any) -> list[np.ndarray]:
    out = []
    for w in layer.weights:
        shape = tuple(w.shape)
        if "variance" in w.path:
            out.append(rng.uniform(0.5, 1.5, size=shape).round(2).astype(np.float32))
        else:
            out.append(rng.uniform(-0.6, 0.6, size=shape).round(2).astype(np.float32))
    return out


def _short(array: np.ndarray) -> Any:
    """``array`` as nested lists of floats written with 7 significant digits (inputs and
    weights are multiples of 0.01, so they read back as the same float32)."""
    if array.dtype.kind in "iub":
        return array.tolist()
    return np.vectorize(lambda v: float(f"{v:.7g}"), otypes=[object])(array).tolist()


def _to_list(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_to_list(v) for v in value]
    return _short(np.asarray(keras.ops.convert_to_numpy(value)))


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
        "input": _short(x),
        "weights": [[_short(w) for w in layer.get_weights()] for layer in layers],
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
        payload: dict[str, Any] = {"keras_version": keras.__version__, "cases": recorded}
        if family == "misc":
            payload["adapt"] = record_adapt()
        path = OUT / f"layers_{family}.json"
        path.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
        print(f"{path}: {len(recorded)} cases, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
