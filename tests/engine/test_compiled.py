"""``compile(jit_compile=...)``: torch.compile of the steps, equal to eager, with callbacks,
lazy logs, exact resume and a clear fallback (issue 14).

The fast tests compile with dynamo's ``"eager"`` backend (graph capture without code
generation, seconds); the inductor tests, which build C++ kernels, are marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import epochal
from epochal.callbacks import BackupAndRestore, Callback
from epochal.engine.compiled import CompiledModule, resolve_jit_compile
from epochal.layers import Dense, Dropout

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 8)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int64") + (x[:, 2] > 1)


def _model(jit_compile, device="cpu", dropout=0.0, **kwargs):
    torch.manual_seed(0)
    layers = [Dense(16, activation="relu", input_shape=(8,))]
    if dropout:
        layers.append(Dropout(dropout))
    model = epochal.Sequential([*layers, Dense(3, activation="softmax")], device=device)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=jit_compile,
        **kwargs,
    )
    return model


def test_jit_compile_values():
    assert resolve_jit_compile(False) is None
    assert resolve_jit_compile("auto") is None  # Keras on torch: eager
    assert resolve_jit_compile(True) == {}
    assert resolve_jit_compile("max-autotune") == {"mode": "max-autotune"}
    assert resolve_jit_compile({"backend": "eager", "dynamic": False}) == {
        "backend": "eager",
        "dynamic": False,
    }
    with pytest.raises(ValueError, match="`jit_compile` must be True, False, 'auto'"):
        resolve_jit_compile("fast")
    with pytest.raises(ValueError, match=r"Unknown: \['fused'\]"):
        resolve_jit_compile({"fused": True})
    with pytest.raises(ValueError, match="`jit_compile\\['mode'\\]`"):
        resolve_jit_compile({"mode": "turbo"})
    with pytest.raises(TypeError, match="of type int"):
        resolve_jit_compile(1)
    with pytest.raises(ValueError, match="jit_compile"):
        _model(jit_compile="yes")


@pytest.mark.parametrize("jit_compile", [False, "auto"])
def test_auto_and_false_stay_eager(data, jit_compile):
    model = _model(jit_compile)
    model.fit(*data, batch_size=16, verbose=0)
    assert model._jit_cache == {}


class _ReadsBatchLogs(Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


def _train(model, data, **kwargs):
    reader = _ReadsBatchLogs()
    history = model.fit(
        *data, batch_size=16, epochs=3, verbose=0, callbacks=[reader], validation_data=data
    )
    return (
        history.history,
        reader.losses,
        model.evaluate(*data, verbose=0),
        model.predict(data[0], verbose=0),
    )


def _assert_close(eager, compiled, atol):
    for got, want in zip(compiled[0].values(), eager[0].values(), strict=True):
        np.testing.assert_allclose(got, want, atol=atol, rtol=0)
    np.testing.assert_allclose(compiled[1], eager[1], atol=atol, rtol=0)
    np.testing.assert_allclose(compiled[2], eager[2], atol=atol, rtol=0)
    np.testing.assert_allclose(compiled[3], eager[3], atol=atol, rtol=0)


def test_dynamo_capture_equals_eager_with_callbacks_and_lazy_logs(data):
    eager = _train(_model(False, dropout=0.25), data)
    model = _model({"backend": "eager"}, dropout=0.25)
    compiled = _train(model, data)
    _assert_close(eager, compiled, atol=1e-6)
    modules = [entry[1] for entry in model._jit_cache.values()]
    assert modules and all(isinstance(m, CompiledModule) and m.compiled for m in modules)
    assert not any("_orig_mod" in key for key in model.state_dict())  # the module's own names


def test_impossible_compilation_warns_once_and_runs_eagerly(data):
    def failing_backend(graph, example_inputs):
        raise RuntimeError("this backend cannot compile")

    eager = _train(_model(False), data)
    model = _model({"backend": failing_backend})
    with pytest.warns(RuntimeWarning, match="torch.compile cannot compile this model") as caught:
        compiled = _train(model, data)
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) <= 2  # per module
    _assert_close(eager, compiled, atol=0)
    assert all(not entry[1].compiled for entry in model._jit_cache.values())


def test_a_model_error_is_not_hidden_by_the_fallback(data):
    model = _model({"backend": "eager"})
    with pytest.raises((RuntimeError, ValueError)):
        model.fit(np.ones((16, 5), "float32"), data[1][:16], verbose=0)


class _Interrupt(Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if self.model.train_state.epoch * 3 + batch == self.at:
            raise RuntimeError("interrupted")


def _resumable(data, backup, at):
    torch.manual_seed(1)
    np.random.seed(1)
    model = _model({"backend": "eager"}, dropout=0.25)
    callbacks = [_Interrupt(at)] + ([BackupAndRestore(backup, save_freq=1)] if backup else [])
    try:
        model.fit(*data, batch_size=16, epochs=3, verbose=0, callbacks=callbacks)
    except RuntimeError:
        return None
    return model


def test_compiled_run_resumes_bit_identically(data, tmp_path):
    reference = _resumable(data, None, None)
    for at in (2, 5):
        assert _resumable(data, tmp_path, at) is None
    resumed = _resumable(data, tmp_path, None)
    for got, want in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        assert np.array_equal(got, want)
    assert resumed.history.history == reference.history.history


@pytest.mark.slow
def test_inductor_on_cpu_equals_eager_to_1e_5(data):
    eager = _train(_model(False), data)
    model = _model(True)
    compiled = _train(model, data)
    _assert_close(eager, compiled, atol=1e-5)
    assert all(entry[1].compiled for entry in model._jit_cache.values())
    # inductor draws dropout masks its own way; with fallback_random they are eager's
    eager = _train(_model(False, dropout=0.25), data)
    options = {"options": {"fallback_random": True}}
    _assert_close(eager, _train(_model(options, dropout=0.25), data), atol=1e-5)


@pytest.mark.slow
def test_inductor_with_bfloat16_autocast_trains(data):
    model = _model(True, precision="mixed_bfloat16")
    history = model.fit(*data, batch_size=16, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert all(entry[1].compiled for entry in model._jit_cache.values())


@pytest.mark.gpu
@CUDA
@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_cuda_compiled_equals_eager(data, precision):
    eager = _train(_model(False, device="cuda", precision=precision), data)
    compiled = _train(_model(True, device="cuda", precision=precision), data)
    atol = 1e-5 if precision == "float32" else 2e-2
    _assert_close(eager, compiled, atol=atol)
