"""Keras files both ways: files written by real Keras 3.15.1 (tests/fixtures/keras_files/,
recorded by scripts/record_keras_files.py) load with equal predictions, and what epochal
writes has the layout Keras reads (checked against the recorded files' structure always,
and with real Keras when it is importable)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import epochal
from epochal.layers import (
    GRU,
    LSTM,
    Activation,
    Add,
    BatchNormalization,
    Bidirectional,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    MaxPooling2D,
)
from epochal.saving import CheckpointError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras_files"
KINDS = ["mlp", "cnn", "bn", "rnn", "functional"]
# every other layer family epochal has: read from Keras' files, written back for Keras
FAMILIES = [
    "conv1d",  # Conv1D, DepthwiseConv1D, SeparableConv1D, Conv1DTranspose, 1D pooling/padding
    "conv2d",  # Conv2DTranspose, DepthwiseConv2D, SeparableConv2D, 2D pooling/padding/cropping
    "conv3d",  # Conv3D, Conv3DTranspose, 3D pooling
    "recurrent",  # Bidirectional(LSTM/GRU/SimpleRNN; concat/sum/ave/mul), TimeDistributed, ...
    "masked",  # Embedding(mask_zero=True) into Bidirectional(LSTM) and GRU
    "reshaping",  # Rescaling, LayerNormalization, activation layers, Reshape, Permute, ...
    "normalized",  # an adapted Normalization
    "merging",  # Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate
]
KERAS_PYTHON = Path("/work/kerasenv/bin/python")


def _record(name):
    rec = json.loads((FIXTURES / f"{name}.json").read_text())
    return np.array(rec["input"], dtype=rec["input_dtype"]), np.array(rec["predictions"])


@pytest.mark.parametrize("name", KINDS + FAMILIES)
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_written_models_load_and_predict_as_keras(name, suffix):
    x, expected = _record(name)
    model = epochal.load_model(FIXTURES / f"{name}{suffix}")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5, rtol=0)
    assert model.compiled and type(model.optimizer).__name__ == "Adam"


@pytest.mark.parametrize("name", FAMILIES)
def test_keras_weights_files_of_every_layer_family_load(name):
    x, expected = _record(name)
    model = epochal.load_model(FIXTURES / f"{name}.keras", compile=False)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(FIXTURES / f"{name}.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5, rtol=0)
    other = epochal.load_model(FIXTURES / f"{name}.h5", compile=False)
    other.set_weights([np.zeros_like(w) for w in other.get_weights()])
    other.load_weights(FIXTURES / f"{name}.h5")  # legacy layout: by the order of layers
    np.testing.assert_allclose(other.predict(x, verbose=0), expected, atol=1e-5, rtol=0)


def test_recurrent_weights_load_into_the_same_model_built_in_code():
    """Gate order and the Bidirectional/TimeDistributed sub-paths, with other layer names."""
    from epochal.layers import SimpleRNN, TimeDistributed

    x, expected = _record("recurrent")
    model = epochal.Sequential(
        [
            Input(shape=(6, 3)),
            Bidirectional(LSTM(4, return_sequences=True)),
            Bidirectional(GRU(3, return_sequences=True), merge_mode="sum"),
            Bidirectional(SimpleRNN(2, return_sequences=True), merge_mode="ave"),
            Bidirectional(GRU(2, reset_after=False, return_sequences=True), merge_mode="mul"),
            TimeDistributed(Dense(3, activation="relu")),
            SimpleRNN(4, return_sequences=True, go_backwards=True),
            GRU(3, reset_after=False, return_sequences=True),
            LSTM(3, unit_forget_bias=False),
            Dense(2),
        ]
    )
    for suffix in (".weights.h5", ".keras", ".h5"):
        model.set_weights([np.zeros_like(w) for w in model.get_weights()])
        model.load_weights(FIXTURES / f"recurrent{suffix}")
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5, rtol=0)


def test_optimizer_slots_skip_frozen_tensors():
    """Normalization's statistics are torch parameters without gradients: Keras has no
    optimizer slots for them, and the Dense layers' moments still come back."""
    model = epochal.load_model(FIXTURES / "normalized.keras")
    assert model.optimizer.iterations == 2
    dense = next(layer for layer in model.layers if isinstance(layer, Dense))
    with h5py.File(
        io.BytesIO(zipfile.ZipFile(FIXTURES / "normalized.keras").read("model.weights.h5"))
    ) as f:
        m_kernel = f["optimizer/vars/2"][()]
    state = model.optimizer.torch_optimizer.state[dense.kernel]
    np.testing.assert_array_equal(state["exp_avg"].numpy(), m_kernel)


@pytest.mark.parametrize("name", KINDS)
def test_keras_weights_files_load_into_a_model_built_in_code(name):
    x, expected = _record(name)
    model = epochal.load_model(FIXTURES / f"{name}.keras", compile=False)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(FIXTURES / f"{name}.weights.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5, rtol=0)
    fresh = _built_in_code(name)  # other automatic names: matched by Keras' paths
    fresh.load_weights(FIXTURES / f"{name}.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, atol=1e-5, rtol=0)


def _built_in_code(name):
    if name == "mlp":
        layers = [Input(shape=(6,)), Dense(8, "relu"), Dropout(0.25), Dense(3, "softmax")]
    elif name == "cnn":
        layers = [
            Input(shape=(8, 8, 2)),
            Conv2D(4, 3, activation="relu", padding="same"),
            MaxPooling2D(2),
            Conv2D(3, 2),
            Flatten(),
            Dense(2),
        ]
    elif name == "bn":
        layers = [
            Input(shape=(5,)),
            Dense(6),
            BatchNormalization(momentum=0.9),
            Activation("tanh"),
            Dense(1),
        ]
    elif name == "rnn":
        layers = [
            Input(shape=(7,)),
            Embedding(12, 4),
            LSTM(5, return_sequences=True),
            GRU(3),
            Dense(2),
        ]
    else:
        inputs = Input(shape=(4,))
        merged = Add()([Dense(5, activation="relu")(inputs), Dense(5, activation="tanh")(inputs)])
        return epochal.Model(inputs, Dense(2)(merged))
    return epochal.Sequential(layers)


def test_legacy_h5_from_tf_keras_2_with_colon_names_and_keras2_config():
    x, expected = _record("mlp")
    model = epochal.load_model(FIXTURES / "mlp_tf2.h5")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5, rtol=0)
    other = _built_in_code("mlp")
    other.load_weights(FIXTURES / "mlp_tf2.h5")
    np.testing.assert_allclose(other.predict(x, verbose=0), expected, atol=1e-5, rtol=0)


def test_keras_optimizer_slots_are_restored_and_training_continues():
    model = epochal.load_model(FIXTURES / "rnn.keras")
    assert model.optimizer.iterations == 2
    with h5py.File(
        io.BytesIO(zipfile.ZipFile(FIXTURES / "rnn.keras").read("model.weights.h5"))
    ) as f:
        m_embeddings = f["optimizer/vars/2"][()]
    embedding = next(layer for layer in model.layers if isinstance(layer, Embedding))
    state = model.optimizer.torch_optimizer.state[embedding.embeddings]
    np.testing.assert_array_equal(state["exp_avg"].numpy(), m_embeddings)
    x, _ = _record("rnn")
    model.fit(x, np.zeros((3, 2), "float32"), epochs=1, verbose=0)
    assert model.optimizer.iterations == 3


def test_an_optimizer_that_does_not_match_starts_fresh_with_a_warning(tmp_path, caplog):
    path = tmp_path / "sgd.keras"
    with zipfile.ZipFile(FIXTURES / "mlp.keras") as src, zipfile.ZipFile(path, "w") as dst:
        for member in src.namelist():
            data = src.read(member)
            if member == "config.json":
                config = json.loads(data)
                config["compile_config"]["optimizer"] = {"class_name": "SGD", "config": {}}
                data = json.dumps(config).encode()
            dst.writestr(member, data)
    with caplog.at_level(logging.WARNING, logger="epochal.saving"):
        model = epochal.load_model(path)
    assert type(model.optimizer).__name__ == "SGD"
    assert "starts fresh" in caplog.text


def _rewrite_config(tmp_path, edit, source="mlp.keras"):
    path = tmp_path / "edited.keras"
    with zipfile.ZipFile(FIXTURES / source) as src, zipfile.ZipFile(path, "w") as dst:
        for member in src.namelist():
            data = src.read(member)
            if member == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            dst.writestr(member, data)
    return path


def test_an_unknown_class_or_option_is_refused_naming_layer_and_option(tmp_path):
    def unknown(config):
        config["config"]["layers"][1]["class_name"] = "EinsumDense"

    with pytest.raises(CheckpointError, match=r"'dense' \(EinsumDense\).*no layer class"):
        epochal.load_model(_rewrite_config(tmp_path, unknown))

    def option(config):
        config["config"]["layers"][1]["config"]["lora_rank"] = 4

    with pytest.raises(CheckpointError, match=r"layer 'dense' \(Dense\).*lora_rank=4"):
        epochal.load_model(_rewrite_config(tmp_path, option))

    def policy(config):
        config["config"]["layers"][1]["config"]["dtype"] = "mixed_float16"

    with pytest.raises(CheckpointError, match=r"'dense'.*dtype='mixed_float16'"):
        epochal.load_model(_rewrite_config(tmp_path, policy))

    def bn_option(config):
        config["config"]["layers"][2]["config"]["renorm"] = True

    with pytest.raises(CheckpointError, match=r"batch_normalization.*renorm=True"):
        epochal.load_model(_rewrite_config(tmp_path, bn_option, "bn.keras"))


def test_the_module_field_is_never_imported(tmp_path):
    marker = "epochal_keras_test_never_imported"

    def evil(config):
        config["config"]["layers"][1]["module"] = marker
        config["module"] = marker

    epochal.load_model(_rewrite_config(tmp_path, evil))
    assert marker not in sys.modules


def test_a_huge_layer_in_a_keras_config_is_refused_before_allocating(tmp_path):
    def inflate(config):
        config["config"]["layers"][1]["config"]["units"] = 2**32

    with pytest.raises(CheckpointError, match=r"shape mismatch.*4294967296"):
        epochal.load_model(_rewrite_config(tmp_path, inflate))


def test_errors_name_the_part_of_a_keras_file_that_cannot_be_read(tmp_path):
    path = tmp_path / "broken.keras"
    with zipfile.ZipFile(FIXTURES / "mlp.keras") as src, zipfile.ZipFile(path, "w") as dst:
        for member in src.namelist():
            data = src.read(member)
            dst.writestr(member, data[:100] if member == "model.weights.h5" else data)
    with pytest.raises(CheckpointError, match=r"Keras file, but model\.weights\.h5 cannot be read"):
        epochal.load_model(path)
    with pytest.raises(CheckpointError, match="weights only"):
        epochal.load_model(FIXTURES / "mlp.weights.h5")
    model = _built_in_code("cnn")
    with pytest.raises(CheckpointError, match=r"missing in the file"):
        model.load_weights(FIXTURES / "mlp.weights.h5")


def test_keras_datasets_that_are_links_or_complex_are_refused(tmp_path):
    path = tmp_path / "w.weights.h5"
    path.write_bytes((FIXTURES / "mlp.weights.h5").read_bytes())
    with h5py.File(path, "a") as f:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.SoftLink("/layers/dense_1/vars/0")
    with pytest.raises(CheckpointError, match="SoftLink"):
        _built_in_code("mlp").load_weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = np.zeros((6, 8), np.complex64)
    with pytest.raises(CheckpointError, match="complex64"):
        _built_in_code("mlp").load_weights(path)


# ---------------------------------------------------------------------------- writing
def _epochal_models():
    models = {name: _built_in_code(name) for name in KINDS}
    models["rnn"] = epochal.Sequential(
        [
            Input(shape=(7,)),
            Embedding(12, 4),
            LSTM(5, return_sequences=True),
            Bidirectional(GRU(3)),
            Dense(2),
        ]
    )
    return models


def _tree(source):
    """Every group and dataset path of an HDF5 file with the datasets' shapes."""
    out = {}
    with h5py.File(source, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, getattr(o, "shape", None)))
    return out


def _trained(name, model):
    x, _ = _record(name)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    out = model.predict(x, verbose=0).shape[-1]
    model.fit(x, np.zeros((len(x), out), "float32"), epochs=1, verbose=0)
    return model


@pytest.mark.parametrize("name", ["mlp", "cnn", "bn", "functional"])
def test_written_files_have_the_layout_keras_writes(tmp_path, name):
    model = _trained(name, _built_in_code(name))
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    with (
        zipfile.ZipFile(tmp_path / "m.keras") as ours,
        zipfile.ZipFile(FIXTURES / f"{name}.keras") as ref,
    ):
        assert sorted(ours.namelist()) == sorted(ref.namelist())
        mine, theirs = json.loads(ours.read("config.json")), json.loads(ref.read("config.json"))
        assert json.loads(ours.read("metadata.json"))["epochal_format"] == "keras"
        weights_ours = _tree(io.BytesIO(ours.read("model.weights.h5")))
        weights_ref = _tree(io.BytesIO(ref.read("model.weights.h5")))
    assert mine["class_name"] == theirs["class_name"]
    layers = lambda c: [(e["class_name"], sorted(e["config"])) for e in c["config"]["layers"]]  # noqa: E731
    for (cls_a, keys_a), (cls_b, keys_b) in zip(layers(mine), layers(theirs), strict=True):
        assert cls_a == cls_b and set(keys_a) <= set(keys_b) | {"input_shape"}, (
            cls_a,
            set(keys_a) - set(keys_b),
        )
    assert set(mine["compile_config"]) == set(theirs["compile_config"])
    assert mine["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert set(mine["compile_config"]["optimizer"]["config"]) <= set(
        theirs["compile_config"]["optimizer"]["config"]
    )
    keras_part = {k: v for k, v in weights_ours.items() if not k.startswith("epochal")}
    assert keras_part == weights_ref
    plain = {
        k: v for k, v in _tree(tmp_path / "m.weights.h5").items() if not k.startswith("epochal")
    }
    assert plain == _tree(FIXTURES / f"{name}.weights.h5")  # Keras' optimizer vars included


@pytest.mark.parametrize("name", FAMILIES)
def test_every_layer_family_is_written_in_the_layout_keras_writes(tmp_path, name):
    """A model read from Keras' file and written back has Keras' config keys per layer and
    exactly Keras' weights tree (sub-layers, optimizer variables)."""
    model = epochal.load_model(FIXTURES / f"{name}.keras")
    model.save(tmp_path / "m.keras", keras_compatible=True)
    model.save_weights(tmp_path / "m.weights.h5", keras_compatible=True)
    with (
        zipfile.ZipFile(tmp_path / "m.keras") as ours,
        zipfile.ZipFile(FIXTURES / f"{name}.keras") as ref,
    ):
        mine, theirs = json.loads(ours.read("config.json")), json.loads(ref.read("config.json"))
        weights_ours = _tree(io.BytesIO(ours.read("model.weights.h5")))
        weights_ref = _tree(io.BytesIO(ref.read("model.weights.h5")))
    _same_layer_schema(mine["config"]["layers"], theirs["config"]["layers"])
    assert {k: v for k, v in weights_ours.items() if not k.startswith("epochal")} == weights_ref
    plain = {
        k: v for k, v in _tree(tmp_path / "m.weights.h5").items() if not k.startswith("epochal")
    }
    assert plain == _tree(FIXTURES / f"{name}.weights.h5")
    x, expected = _record(name)
    again = epochal.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, atol=1e-5, rtol=0)


def _same_layer_schema(mine, theirs):
    """Each layer entry: the same class, and only config keys Keras writes too (wrapped
    layers compared the same way)."""
    assert [e["class_name"] for e in mine] == [e["class_name"] for e in theirs]
    for a, b in zip(mine, theirs, strict=True):
        extra = set(a["config"]) - set(b["config"]) - {"input_shape"}
        assert not extra, (a["class_name"], extra)
        assert a.get("module") == b.get("module"), a["class_name"]
        for key in ("layer", "backward_layer"):
            if isinstance(b["config"].get(key), dict):
                _same_layer_schema([a["config"][key]], [b["config"][key]])


def test_epochal_reads_back_its_keras_files_exactly(tmp_path):
    for name, model in _epochal_models().items():
        model = _trained(name, model)
        x, _ = _record(name)
        model.save(tmp_path / f"{name}.keras")
        model.save_weights(tmp_path / f"{name}.weights.h5")
        again = epochal.load_model(tmp_path / f"{name}.keras")
        np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
        assert again.optimizer.iterations == model.optimizer.iterations
        fresh = _epochal_models()[name]
        fresh.load_weights(tmp_path / f"{name}.weights.h5")
        np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
        if name == "mlp":
            continue  # Dropout draws differ between the two models
        y = np.ones((len(x), model.predict(x, verbose=0).shape[-1]), "float32")
        for resumed in (model, again):  # the optimizer state came back: training agrees
            resumed.fit(x, y, epochs=2, shuffle=False, verbose=0)
        for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
            if a.dtype.kind == "f":  # BN's num_batches_tracked has no Keras counterpart
                np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def test_keras_compatible_chooses_the_format_and_says_why(tmp_path, caplog):
    import torch

    model = epochal.Sequential([Dense(2, input_shape=(3,))])
    model.compile(optimizer=torch.optim.SGD(model.module.parameters(), lr=0.1), loss="mse")
    model.fit(np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"Keras' format.*not one of Keras' optimizers"):
        model.save(tmp_path / "m.keras", keras_compatible=True)
    with caplog.at_level(logging.WARNING, logger="epochal.saving"):
        model.save(tmp_path / "m.keras")
    assert "epochal's own format" in caplog.text
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert json.loads(zf.read("metadata.json"))["format"] == "epochal"
    mlp = _trained("mlp", _built_in_code("mlp"))
    mlp.save(tmp_path / "own.keras", keras_compatible=False)
    with zipfile.ZipFile(tmp_path / "own.keras") as zf:
        assert json.loads(zf.read("metadata.json"))["format"] == "epochal"
    with pytest.raises(ValueError, match=r"needs a '\.keras' file"):
        mlp.save(tmp_path / "m.h5", keras_compatible=True)
    mlp.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5") as f:
        assert f.attrs["epochal_format"] == "keras" and "layers" in f


def test_a_corrupt_keras_layout_file_written_by_epochal_is_detected(tmp_path):
    model = _trained("mlp", _built_in_code("mlp"))
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "a") as f:
        f["layers/dense/vars/0"][0, 0] += 1.0
    with pytest.raises(CheckpointError, match="corrupt"):
        _built_in_code("mlp").load_weights(tmp_path / "w.weights.h5")


_KERAS_CHECK = """
import json, os, sys
os.environ["KERAS_BACKEND"] = "torch"
import keras, numpy as np
def first(p):
    return p["reg"] if isinstance(p, dict) else p[0] if isinstance(p, list) else p
out = {}
for name, x in json.load(open(sys.argv[1])).items():
    data = x[2] if len(x) > 2 else None
    x = np.array(x[0], dtype=x[1])
    model = keras.models.load_model(sys.argv[2] + f"/{name}.keras")
    loaded = first(model.predict(x, verbose=0))
    logs = None
    if data is not None:  # the compiled per-output losses and metrics, as Keras runs them
        y = [np.array(v, "float32") for v in data["y"]]
        if data["dict"]:
            y = {"reg": y[0], "cls": y[1]}
        xs = np.array(data["x"], "float32")
        logs = model.evaluate(xs, y, batch_size=16, verbose=0, return_dict=True)
    model.load_weights(sys.argv[2] + f"/{name}.weights.h5")
    out[name] = [loaded.tolist(), first(model.predict(x, verbose=0)).tolist(), logs]
print(json.dumps(out))
"""


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.skipif(not KERAS_PYTHON.exists(), reason="needs the Keras oracle environment")
def test_real_keras_loads_what_epochal_writes(tmp_path):
    inputs, expected, evaluated = {}, {}, {}
    for name, model in _epochal_models().items():
        model = _trained(name, model)
        x, _ = _record(name)
        model.save(tmp_path / f"{name}.keras")
        model.save_weights(tmp_path / f"{name}.weights.h5")
        inputs[name] = [x.tolist(), str(x.dtype)]
        expected[name] = model.predict(x, verbose=0)
    for name in ("heads_dict", "heads_list"):  # per-output compile settings, schedules
        rec = json.loads((FIXTURES / f"{name}.json").read_text())
        model = epochal.load_model(FIXTURES / f"{name}.keras")
        model.save(tmp_path / f"{name}.keras", keras_compatible=True)
        model.save_weights(tmp_path / f"{name}.weights.h5", keras_compatible=True)
        data = {"x": rec["x"], "y": rec["y"], "dict": name == "heads_dict"}
        inputs[name] = [rec["input"], "float32", data]
        expected[name] = np.array(rec["predictions"][0])  # the first output
        evaluated[name] = rec["evaluate"]
    for name in FAMILIES:  # read from Keras' files, written back by epochal
        model = epochal.load_model(FIXTURES / f"{name}.keras")
        model.save(tmp_path / f"{name}.keras", keras_compatible=True)
        model.save_weights(tmp_path / f"{name}.weights.h5", keras_compatible=True)
        x, expected[name] = _record(name)
        inputs[name] = [x.tolist(), str(x.dtype)]
    (tmp_path / "inputs.json").write_text(json.dumps(inputs))
    script = tmp_path / "check.py"
    script.write_text(_KERAS_CHECK)
    done = subprocess.run(
        [str(KERAS_PYTHON), str(script), str(tmp_path / "inputs.json"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"KERAS_BACKEND": "torch", "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0 and "No module named 'keras'" in done.stderr:
        pytest.skip("keras is not importable")
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    for name, (loaded, reloaded, logs) in got.items():
        np.testing.assert_allclose(np.array(loaded), expected[name], atol=1e-5, rtol=0)
        np.testing.assert_allclose(np.array(reloaded), expected[name], atol=1e-5, rtol=0)
        if name in evaluated:
            assert set(logs) == set(evaluated[name])
            for key, value in evaluated[name].items():
                assert logs[key] == pytest.approx(value, abs=1e-5), (name, key)


# ---------------------------------------------------------------------------- compile config
def _heads(name):
    rec = json.loads((FIXTURES / f"{name}.json").read_text())
    x, y = np.array(rec["x"], "float32"), [np.array(v, "float32") for v in rec["y"]]
    if name == "heads_dict":
        y = {"reg": y[0], "cls": y[1]}
    return rec, x, y


def _as_list(predictions):
    return (
        [predictions["reg"], predictions["cls"]] if isinstance(predictions, dict) else predictions
    )


@pytest.mark.parametrize("name", ["heads_dict", "heads_list"])
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_per_output_compile_settings_and_schedules_are_read(name, suffix):
    """Per-output losses, loss_weights and metrics (dict or list), an optimizer on a
    learning-rate schedule, and its slots: evaluate gives Keras' numbers, and one more
    step lands where Keras' did."""
    rec, x, y = _heads(name)
    probe = np.array(rec["input"], "float32")
    model = epochal.load_model(FIXTURES / f"{name}{suffix}")
    for got, want in zip(
        _as_list(model.predict(probe, verbose=0)), rec["predictions"], strict=True
    ):
        np.testing.assert_allclose(got, np.array(want), atol=1e-5, rtol=0)
    schedule = model.optimizer.schedule
    assert type(schedule).__name__ == (
        "ExponentialDecay" if name == "heads_dict" else "CosineDecay"
    )
    assert model.optimizer.iterations == 2
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert set(logs) == set(rec["evaluate"])
    for key, value in rec["evaluate"].items():
        assert logs[key] == pytest.approx(value, abs=1e-5), key
    batch = {k: v[:8] for k, v in y.items()} if isinstance(y, dict) else [v[:8] for v in y]
    model.train_on_batch(x[:8], batch)
    for got, want in zip(_as_list(model.predict(probe, verbose=0)), rec["after_step"], strict=True):
        np.testing.assert_allclose(got, np.array(want), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["heads_dict", "heads_list"])
def test_per_output_compile_settings_and_schedules_are_written_for_keras(tmp_path, name):
    rec, x, y = _heads(name)
    model = epochal.load_model(FIXTURES / f"{name}.keras")
    model.save(tmp_path / "m.keras", keras_compatible=True)
    with (
        zipfile.ZipFile(tmp_path / "m.keras") as ours,
        zipfile.ZipFile(FIXTURES / f"{name}.keras") as ref,
    ):
        mine = json.loads(ours.read("config.json"))["compile_config"]
        theirs = json.loads(ref.read("config.json"))["compile_config"]
        weights_ours = _tree(io.BytesIO(ours.read("model.weights.h5")))
        weights_ref = _tree(io.BytesIO(ref.read("model.weights.h5")))
    for key in ("loss", "loss_weights", "metrics", "weighted_metrics"):
        assert mine[key] == theirs[key], key
    assert (
        mine["optimizer"]["config"]["learning_rate"]
        == theirs["optimizer"]["config"]["learning_rate"]
    )
    # no learning-rate variable beside a schedule, as Keras writes it
    assert {k: v for k, v in weights_ours.items() if not k.startswith("epochal")} == weights_ref
    again = epochal.load_model(tmp_path / "m.keras")
    logs = again.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    for key, value in rec["evaluate"].items():
        assert logs[key] == pytest.approx(value, abs=1e-5), key


def test_a_custom_schedule_is_not_written_in_keras_format(tmp_path):
    from epochal.optimizers import Adam
    from epochal.optimizers.schedules import LearningRateSchedule

    class Halving(LearningRateSchedule):
        def __call__(self, step):
            return 0.1 * 0.5**step

        def get_config(self):
            return {}

    model = epochal.Sequential([Input(shape=(3,)), Dense(2)])
    model.compile(optimizer=Adam(Halving()), loss="mse")
    with pytest.raises(ValueError, match=r"schedule Halving is not one of Keras' schedules"):
        model.save(tmp_path / "m.keras", keras_compatible=True)


# ---------------------------------------------------------------------------- subclassed
class TwoDense(epochal.Model):
    """epochal's counterpart of the subclassed Keras model in subclassed.keras."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = Dense(units, activation="relu")
        self.out = Dense(2)

    def call(self, x):
        return self.out(self.hidden(x))

    def get_config(self):
        return {"name": self.name, "units": self.units}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        return cls(**config)


def test_a_subclassed_keras_model_loads_with_its_epochal_class_in_custom_objects():
    x, expected = _record("subclassed")
    for key in ("demo>TwoDense", "TwoDense"):
        model = epochal.load_model(FIXTURES / "subclassed.keras", custom_objects={key: TwoDense})
        assert isinstance(model, TwoDense) and model.units == 5
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5, rtol=0)
        assert model.optimizer.iterations == 2  # Adam's slots, by Keras' paths
    fresh = TwoDense(5)
    fresh.predict(x, verbose=0)  # built first, as Keras needs for a subclassed model
    fresh.load_weights(FIXTURES / "subclassed.weights.h5")  # hidden at the root, out in layers/
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, atol=1e-5, rtol=0)


def test_a_subclassed_keras_model_without_its_class_is_refused_naming_it(tmp_path):
    marker = "epochal_keras_subclass_never_imported"

    def module(config):
        config["module"] = marker

    path = _rewrite_config(tmp_path, module, "subclassed.keras")
    with pytest.raises(
        CheckpointError,
        match=r"'TwoDense' \(registered as 'demo>TwoDense'\).*"
        r"custom_objects=\{'demo>TwoDense'",
    ):
        epochal.load_model(path)
    assert marker not in sys.modules
    with pytest.raises(CheckpointError, match="not a model class"):
        epochal.load_model(path, custom_objects={"TwoDense": len})


def test_a_subclassed_epochal_model_is_written_in_epochal_format_saying_why(tmp_path):
    model = TwoDense(5)
    model.compile(optimizer="adam", loss="mse")
    x, _ = _record("subclassed")
    model.fit(x, np.zeros((3, 2), "float32"), verbose=0)
    with pytest.raises(ValueError, match="not a Sequential or functional model"):
        model.save(tmp_path / "m.keras", keras_compatible=True)
    with pytest.raises(ValueError, match="subclassed TwoDense's weights"):
        model.save_weights(tmp_path / "m.weights.h5", keras_compatible=True)
    model.save_weights(tmp_path / "m.weights.h5")
    again = TwoDense(5)
    again.predict(x, verbose=0)
    again.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
