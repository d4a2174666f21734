"""Round trips of every format: weights, optimizer state and compile config, bit for bit."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
import torch

import epochal
from epochal.layers import Dense
from epochal.saving import load_model, read_bundle

MODEL_SUFFIXES = [".keras", ".h5", ".hdf5"]
WEIGHT_SUFFIXES = [".weights.h5", ".h5", ".safetensors", ".pt"]


def _net(input_shape=(4,)):
    torch.manual_seed(0)
    return epochal.Sequential(
        [Dense(8, activation="relu", input_shape=input_shape), Dense(2, activation="softmax")],
        device="cpu",
    )


def _trained(tiny_data, optimizer="adam", **compile_kwargs):
    model = _net()
    kwargs = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
    kwargs.update(compile_kwargs)
    model.compile(optimizer=optimizer, **kwargs)
    model.fit(*tiny_data, epochs=2, batch_size=8, verbose=0)
    return model


def _same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(wa, wb, strict=True)
    )


def _same_tree(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same_tree(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same_tree, a, b))
    return type(a) is type(b) and (a == b or (a != a and b != b))


@pytest.mark.parametrize("suffix", MODEL_SUFFIXES)
@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_whole_model_round_trip_is_bit_identical(tmp_path, tiny_data, suffix, optimizer):
    model = _trained(tiny_data, optimizer=optimizer)
    path = tmp_path / f"model{suffix}"
    model.save(path)
    loaded = load_model(path)
    assert _same_weights(model, loaded)
    assert _same_tree(model.optimizer.state_dict(), loaded.optimizer.state_dict())
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.loss_fn.name == model.loss_fn.name
    assert loaded.metrics_names == model.metrics_names
    assert loaded.evaluate(*tiny_data, verbose=0) == model.evaluate(*tiny_data, verbose=0)


@pytest.mark.parametrize("suffix", MODEL_SUFFIXES)
def test_loaded_model_continues_training_like_one_that_never_stopped(tmp_path, tiny_data, suffix):
    model = _trained(tiny_data, optimizer=epochal.optimizers.SGD(0.05, momentum=0.9))
    model.save(tmp_path / f"m{suffix}")
    loaded = load_model(tmp_path / f"m{suffix}")
    torch.manual_seed(123)
    expected = model.fit(*tiny_data, epochs=3, batch_size=8, verbose=0).history
    torch.manual_seed(123)
    got = loaded.fit(*tiny_data, epochs=3, batch_size=8, verbose=0).history
    assert got == expected
    assert _same_weights(model, loaded)
    assert loaded.optimizer.iterations == model.optimizer.iterations


def test_decay_and_loss_objects_round_trip(tmp_path, tiny_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # legacy `lr` and `decay`
        optimizer = epochal.optimizers.SGD(lr=0.1, decay=0.01)
    loss = epochal.losses.SparseCategoricalCrossentropy(from_logits=False)
    model = _trained(tiny_data, optimizer=optimizer, loss=loss)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.optimizer.decay == 0.01
    assert loaded.optimizer.iterations == model.optimizer.iterations
    assert loaded.optimizer.current_learning_rate() == model.optimizer.current_learning_rate()
    assert type(loaded.loss_fn) is type(loss)
    assert loaded.loss_fn.kwargs == loss.kwargs


def test_wrapped_torch_optimizer_round_trips(tmp_path, tiny_data):
    model = _net()
    model.build_from_batch(torch.zeros(1, 4))
    model.compile(
        optimizer=torch.optim.Adam(model.module.parameters(), lr=0.01, betas=(0.8, 0.9)),
        loss="sparse_categorical_crossentropy",
    )
    model.fit(*tiny_data, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    saved, restored = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    assert type(loaded.optimizer.torch_optimizer) is torch.optim.Adam
    assert _same_tree(saved["torch"]["state"], restored["torch"]["state"])
    assert restored["torch"]["param_groups"][0]["betas"] == (0.8, 0.9)
    # The facade keeps learning rates float32-rounded (Keras' variables), also after loading.
    assert restored["learning_rate"] == saved["learning_rate"]


@pytest.mark.parametrize("suffix", WEIGHT_SUFFIXES)
def test_weights_round_trip_into_a_fresh_model(tmp_path, tiny_data, suffix):
    model = _trained(tiny_data)
    path = tmp_path / f"w{suffix}"
    model.save_weights(path)
    fresh = _net()  # its layers got other automatic names: matched by position
    assert not _same_weights(model, fresh)
    fresh.load_weights(path)
    assert _same_weights(model, fresh)


def test_model_built_by_fit_is_rebuilt_from_the_recorded_input_shape(tmp_path, tiny_data):
    model = epochal.Sequential([Dense(8, activation="relu"), Dense(2)], device="cpu")
    model.compile(optimizer="adam", loss="mse")
    model.fit(tiny_data[0], np.zeros((40, 2), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "w.safetensors")
    assert _same_weights(model, load_model(tmp_path / "m.keras"))
    lazy = epochal.Sequential([Dense(8, activation="relu"), Dense(2)], device="cpu")
    lazy.load_weights(tmp_path / "w.safetensors")
    assert _same_weights(model, lazy)


def test_hdf5_is_readable_with_plain_h5py(tmp_path, tiny_data):
    model = _trained(tiny_data)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        names = list(model.module.state_dict())
        first_layer = names[0].split(".")[0]
        kernel = f[f"model_weights/{first_layer}/kernel"][()]
        assert "model_config" in f.attrs
        assert "compile_config" in f.attrs
        assert "optimizer_weights" in f
    np.testing.assert_array_equal(kernel, model.get_weights()[0])


def test_keras_zip_layout(tmp_path, tiny_data):
    import zipfile

    _trained(tiny_data).save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]


def test_bfloat16_and_integer_buffers_round_trip(tmp_path):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2).to(torch.bfloat16)
            self.register_buffer("count", torch.tensor([7, 9], dtype=torch.int64))

    model = epochal.Model(Net(), device="cpu")
    model.save_weights(tmp_path / "w.weights.h5")
    bundle = read_bundle(tmp_path / "w.weights.h5")
    for name, tensor in model.module.state_dict().items():
        assert bundle.weights[name].dtype == tensor.dtype
        assert torch.equal(bundle.weights[name], tensor)


@pytest.mark.parametrize("bad", ["m.txt", "m.json", "m"])
def test_bad_suffixes_are_refused(tmp_path, tiny_data, bad):
    model = _trained(tiny_data)
    with pytest.raises(ValueError, match=r"must end in"):
        model.save(tmp_path / bad)
    with pytest.raises(ValueError, match=r"must end in"):
        model.save_weights(tmp_path / bad)
    with pytest.raises(ValueError, match=r"must end in"):
        model.save_weights(tmp_path / "m.keras")


def test_overwrite_false_refuses_an_existing_file(tmp_path, tiny_data):
    model = _trained(tiny_data)
    model.save(tmp_path / "m.keras")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.keras", overwrite=False)
