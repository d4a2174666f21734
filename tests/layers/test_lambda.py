"""Lambda: calls, masks and training, configs by function name only, and files: refused
without the function in custom_objects (never unmarshalled), loaded and equal with it."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

import epochal
from epochal.layers import Dense, Embedding, Lambda
from epochal.layers.core import LambdaFunctionError
from epochal.saving import CheckpointError, load_model, register_serializable


def times(x, factor=2.0):
    return x * factor


def test_call_passes_arguments_as_keywords():
    layer = Lambda(times, arguments={"factor": 3.0})
    torch.testing.assert_close(layer(torch.ones(2, 2)), torch.full((2, 2), 3.0))
    assert Lambda(lambda t: t + 1)(torch.zeros(1)).item() == 1.0


def test_mask_and_training_reach_functions_that_take_them():
    seen = {}

    def spy(x, mask=None, training=None):
        seen.update(mask=mask, training=training)
        return x

    model = epochal.Sequential([Embedding(5, 2, mask_zero=True), Lambda(spy)])
    model.module.train()
    model.module(torch.tensor([[1, 2, 0]]))
    assert seen["mask"].tolist() == [[True, True, False]] and seen["training"] is True
    layer = Lambda(times, mask=lambda inputs, mask: inputs[..., 0] > 0)
    assert layer.supports_masking
    assert layer.compute_mask(torch.tensor([[[1.0], [-1.0]]])).tolist() == [[True, False]]


def test_config_holds_the_function_by_name_only():
    config = Lambda(times, output_shape=(3,), arguments={"factor": 2.0}, name="t").get_config()
    assert config["function"]["class_name"] == "function"
    assert config["function"]["config"] == "times"
    assert config["output_shape"] == [3]
    assert "code" not in json.dumps(config)
    lam = Lambda(lambda t: t, name="anon").get_config()
    assert lam["function"] == {
        "class_name": "__lambda__",
        "config": {"layer": "anon", "argument": "function"},
    }


def test_from_config_needs_the_function():
    config = Lambda(times, name="t").get_config()
    with pytest.raises(LambdaFunctionError, match=r"'t'.*'times'.*custom_objects"):
        Lambda.from_config(config)
    assert Lambda.from_config(config, custom_objects={"times": times}).function is times


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"function": 3}, "function"), ({"function": times, "arguments": [1]}, "arguments"),
     ({"function": times, "output_shape": "3"}, "output_shape")],
)  # fmt: skip
def test_bad_arguments_are_refused(kwargs, word):
    with pytest.raises((TypeError, ValueError), match=word):
        Lambda(**kwargs)


def _model(fn=times, **kwargs):
    torch.manual_seed(0)
    return epochal.Sequential(
        [Dense(3, input_shape=(4,)), Lambda(fn, name="scale", **kwargs), Dense(1)]
    )


@pytest.mark.parametrize("suffix", [".keras", "own.keras", ".h5"])
def test_files_round_trip_with_the_function_in_custom_objects(tmp_path, suffix):
    model = _model(arguments={"factor": 0.5})
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    expected = model.predict(x, verbose=0)
    path = tmp_path / f"m{suffix}"
    model.save(path, keras_compatible=None if suffix != "own.keras" else False)
    with pytest.raises((CheckpointError, LambdaFunctionError), match=r"scale.*times.*custom_obj"):
        load_model(path)
    loaded = load_model(path, custom_objects={"times": times})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6, rtol=0)


def test_a_registered_function_needs_no_custom_objects(tmp_path):
    @register_serializable(name="halve_it")
    def halve_it(x):
        return x / 2

    model = _model(halve_it)
    x = np.ones((2, 4), np.float32)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(load_model(tmp_path / "m.keras").predict(x, verbose=0), expected)


def test_a_python_lambda_is_saved_by_layer_name_and_loaded_by_it(tmp_path):
    model = _model(lambda t: t - 1.0)
    x = np.ones((2, 4), np.float32)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")  # Keras cannot rebuild it: epochal's own format
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert json.loads(zf.read("metadata.json")).get("format") == "epochal"
    with pytest.raises((CheckpointError, LambdaFunctionError), match=r"'scale'.*lambda"):
        load_model(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", custom_objects={"scale": lambda t: t - 1.0})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected)


def test_a_named_lambda_model_is_written_in_keras_format(tmp_path):
    model = _model()
    model.predict(np.ones((1, 4), np.float32), verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        config = json.loads(zf.read("config.json"))
    entry = config["config"]["layers"][2]
    assert entry["class_name"] == "Lambda"
    assert entry["config"]["function"] == {
        "module": "builtins",
        "class_name": "function",
        "config": "times",
        "registered_name": "function",
    }


def test_model_from_config_takes_the_function_in_custom_objects():
    model = _model(arguments={"factor": 0.5})
    x = np.ones((2, 4), np.float32)
    model.predict(x, verbose=0)
    with pytest.raises(LambdaFunctionError, match="times"):
        epochal.Sequential.from_config(model.get_config())
    clone = epochal.Sequential.from_config(model.get_config(), custom_objects={"times": times})
    assert clone.layers[1].function is times and clone.layers[1].arguments == {"factor": 0.5}
    inputs = epochal.Input((4,))
    functional = epochal.Model(inputs, Lambda(times, name="t")(inputs))
    again = type(functional).from_config(functional.get_config(), custom_objects={"times": times})
    np.testing.assert_allclose(again.predict(x, verbose=0), 2 * x)
