"""Mixed precision: Keras' policies, autocast training on the CPU (bfloat16 and float16), the
float16 loss scale, its skipped steps in the logs and in backups (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import epochal
from epochal import mixed_precision
from epochal.callbacks import BackupAndRestore, Callback
from epochal.layers import Dense, Dropout, Flatten
from epochal.saving import state_file as _state_io

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(autouse=True)
def float32_policy():
    """Every test starts and ends with the default global policy."""
    mixed_precision.set_global_policy("float32")
    yield
    mixed_precision.set_global_policy("float32")


# ---------------------------------------------------------------------- policies
@pytest.mark.parametrize(
    ("name", "compute", "variable"),
    [
        ("float32", "float32", "float32"),
        ("mixed_float16", "float16", "float32"),
        ("mixed_bfloat16", "bfloat16", "float32"),
        ("bfloat16", "bfloat16", "bfloat16"),
        ("float64", "float64", "float64"),
    ],
)
def test_policy_dtypes_as_keras(name, compute, variable):
    policy = mixed_precision.Policy(name)
    assert (policy.name, policy.compute_dtype, policy.variable_dtype) == (name, compute, variable)
    assert repr(policy) == f'<DTypePolicy "{name}">'
    assert policy.get_config() == {"name": name}
    assert mixed_precision.DTypePolicy.from_config(policy.get_config()) == policy
    assert policy.quantization_mode is None


def test_global_policy_set_and_read_with_both_keras_spellings():
    assert mixed_precision.global_policy().name == "float32"
    mixed_precision.set_global_policy("mixed_bfloat16")
    assert mixed_precision.global_policy() == mixed_precision.Policy("mixed_bfloat16")
    mixed_precision.set_dtype_policy(mixed_precision.DTypePolicy("mixed_float16"))
    assert mixed_precision.dtype_policy().name == "mixed_float16"
    assert epochal.mixed_precision is mixed_precision


def test_bad_policies_are_refused_with_keras_messages():
    with pytest.raises(ValueError, match="Cannot convert 'foo' to a mixed precision DTypePolicy"):
        mixed_precision.set_global_policy("foo")
    for bad in (None, 3):
        with pytest.raises(ValueError, match=r"Invalid `policy` argument.*Received: policy="):
            mixed_precision.set_global_policy(bad)
    assert mixed_precision.global_policy().name == "float32"  # unchanged


def _mlp(**compile_kwargs) -> epochal.Sequential:
    torch.manual_seed(0)
    model = epochal.Sequential(
        [
            Flatten(input_shape=(8, 8)),
            Dense(32, activation="relu"),
            Dense(10, activation="softmax"),
        ],
        device="cpu",
    )
    kwargs = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"}
    model.compile(metrics=["accuracy"], **{**kwargs, **compile_kwargs})
    return model


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float64"])
def test_policies_without_float32_weights_are_refused_at_compile(name):
    with pytest.raises(ValueError, match=f"policy '{name}' keeps the weights in {name}"):
        _mlp(precision=name)
    mixed_precision.set_global_policy(name)
    with pytest.raises(ValueError, match="epochal trains float32 weights"):
        _mlp()
    with pytest.raises(ValueError, match="Invalid `precision` argument"):
        _mlp(precision=16)
    with pytest.raises(TypeError, match="auto_scale_loss"):
        _mlp(auto_scale_loss="yes")


def test_model_reads_the_global_policy_at_compile_and_precision_wins():
    mixed_precision.set_global_policy("mixed_bfloat16")
    model = _mlp()
    assert model.precision.dtype is torch.bfloat16 and model.precision.scaler is None
    mixed_precision.set_global_policy("float32")
    assert model.precision.dtype is torch.bfloat16  # compiled under it: kept
    assert _mlp(precision="mixed_float16").precision.scaler is not None
    assert _mlp(precision="mixed_float16", auto_scale_loss=False).precision.scaler is None
    assert not _mlp(precision=mixed_precision.Policy("float32")).precision.enabled


# ---------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def digits():
    (x, y), (xt, yt) = epochal.datasets.digits.load_data()
    return x.astype("float32") / 16.0, y, xt.astype("float32") / 16.0, yt


def _fit(digits, precision, epochs=5):
    x, y, xt, yt = digits
    model = _mlp(precision=precision)
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, validation_data=(xt, yt))
    return model, history.history


def test_bfloat16_on_cpu_trains_the_mlp_to_the_float32_accuracy_band(digits):
    _, fp32 = _fit(digits, "float32")
    model, bf16 = _fit(digits, "mixed_bfloat16")
    assert fp32["val_accuracy"][-1] > 0.85
    assert abs(bf16["val_accuracy"][-1] - fp32["val_accuracy"][-1]) < 0.03
    assert abs(bf16["loss"][-1] - fp32["loss"][-1]) < 0.05
    assert sorted(bf16) == sorted(fp32)  # no loss scale: no extra keys
    # master weights float32; logs are Python floats; predictions float32 numpy
    assert all(p.dtype == torch.float32 for p in model.module.parameters())
    assert all(isinstance(v, float) for values in bf16.values() for v in values)
    assert model.predict(digits[2][:4], verbose=0).dtype == np.float32
    assert model.predict_on_batch(digits[2][:4]).dtype == np.float32
    assert model.optimizer.iterations == 5 * -(-len(digits[0]) // 32)


class _Probe(torch.nn.Module):
    """Records the dtype its linear layer computes in; returns float logits."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.seen: list[torch.dtype] = []

    def forward(self, x):
        out = self.linear(x)
        self.seen.append(out.dtype)
        return out


@pytest.mark.parametrize(
    ("precision", "dtype"),
    [
        ("float32", torch.float32),
        ("mixed_bfloat16", torch.bfloat16),
        ("mixed_float16", torch.float16),
    ],
)
def test_forward_runs_in_the_compute_dtype_loss_and_metrics_in_float32(tiny_data, precision, dtype):
    probe = _Probe()
    model = epochal.Model(probe, device="cpu")
    model.compile(
        optimizer="sgd",
        loss=epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        precision=precision,
    )
    x, y = tiny_data
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.train_on_batch(x[:8], y[:8])
    assert set(probe.seen) == {dtype}
    assert probe.linear.weight.dtype == torch.float32
    assert model.compiled_metrics.loss_tracker.result().dtype == torch.float32


# ---------------------------------------------------------------------- float16 loss scale
def _overflowing_scaler(model, init_scale=2.0**30, growth_interval=3):
    """A scale so large that the first float16 backward passes overflow (skipped steps)."""
    model.precision.scaler = torch.amp.GradScaler(
        "cpu", init_scale=init_scale, growth_interval=growth_interval
    )


def test_float16_overflow_skips_updates_and_shows_in_the_logs(tiny_data):
    model = _mlp(precision="mixed_float16")
    x, y = np.random.default_rng(0).normal(size=(64, 8, 8)).astype("float32"), np.arange(64) % 10
    _overflowing_scaler(model)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    skipped = history["skipped_steps"]
    assert skipped[0] > 0 and skipped == sorted(skipped)  # counted since compile
    assert model.precision.skipped_steps == skipped[-1]
    assert model.optimizer.iterations == 16 - skipped[-1]  # skipped updates do not count
    assert history["loss_scale"][-1] < 2.0**30  # halved at each overflow
    assert all(np.isfinite(w).all() for w in model.get_weights())
    state = model.precision.state_dict()
    assert state["scaler"]["scale"] == history["loss_scale"][-1]
    assert "precision" in model.snapshot()
    assert "precision" not in _mlp().snapshot()  # float32: nothing to save


def test_gradient_clipping_sees_unscaled_gradients():
    torch.manual_seed(0)
    seen = []

    class Clip(epochal.optimizers.SGD):
        def _clip(self, opt):
            seen.append(
                max(float(p.grad.abs().max()) for p in self._require().param_groups[0]["params"])
            )
            super()._clip(opt)

    model = epochal.Model(torch.nn.Linear(4, 1), device="cpu")
    model.compile(optimizer=Clip(clipnorm=1.0), loss="mse", precision="mixed_float16")
    x = np.ones((8, 4), "float32")
    model.fit(x, np.ones((8, 1), "float32"), batch_size=8, epochs=4, verbose=0)
    # the first updates overflow at the initial scale (skipped, not clipped); the others clip
    assert len(seen) == 4 - model.precision.skipped_steps > 0
    assert max(seen) < 100.0  # a scaled gradient would be ~65536 times larger


N, BATCH = 48, 8
STEPS = N // BATCH


class _Interrupt(Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if self.model.train_state.epoch * STEPS + batch == self.at:
            raise RuntimeError("interrupted")


def _float16_run(backup_dir=None, interrupt_at=None, save_freq=1):
    torch.manual_seed(1)
    np.random.seed(1)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(N, 8, 8)).astype("float32"), np.arange(N) % 10
    model = epochal.Sequential(
        [Flatten(input_shape=(8, 8)), Dense(16, activation="relu"), Dropout(0.3), Dense(10)],
        device="cpu",
    )
    model.compile(
        optimizer="adam",
        loss=epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        precision="mixed_float16",
    )
    _overflowing_scaler(model, init_scale=2.0**24, growth_interval=2)
    callbacks = [_Interrupt(interrupt_at)]
    if backup_dir is not None:
        callbacks.append(BackupAndRestore(backup_dir, save_freq=save_freq))
    try:
        model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=callbacks)
    except RuntimeError:
        return None
    return model


def test_float16_loss_scale_resumes_bit_identically_from_a_backup(tmp_path):
    reference = _float16_run()
    assert reference.history.history["skipped_steps"][-1] > 0
    for at in (1, 4, 8, 13):
        assert _float16_run(tmp_path, interrupt_at=at) is None
        if at == 4:
            state = _state_io.read_state(tmp_path / "training_state.safetensors")
            assert state["precision"]["scaler"]["scale"] < 2.0**24
    resumed = _float16_run(tmp_path)
    for got, want in zip(resumed.get_weights(), reference.get_weights(), strict=True):
        assert np.array_equal(got, want)
    assert resumed.history.history == reference.history.history
    assert resumed.precision.state_dict() == reference.precision.state_dict()


# ---------------------------------------------------------------------- CUDA
@pytest.mark.gpu
@CUDA
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_cuda_mixed_precision_trains_to_the_float32_band(digits, precision):
    x, y, xt, yt = digits
    results = {}
    for name in ("float32", precision):
        torch.manual_seed(0)
        model = epochal.Sequential(
            [
                Flatten(input_shape=(8, 8)),
                Dense(64, activation="relu"),
                Dense(10, activation="softmax"),
            ],
            device="cuda",
        )
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            precision=name,
        )
        history = model.fit(x, y, epochs=5, batch_size=32, verbose=0, validation_data=(xt, yt))
        results[name] = history.history["val_accuracy"][-1]
        assert all(p.dtype == torch.float32 for p in model.module.parameters())
    assert results["float32"] > 0.85
    assert abs(results[precision] - results["float32"]) < 0.03


@pytest.mark.gpu
@CUDA
def test_cuda_float16_loss_scale_state_round_trips():
    model = epochal.Model(torch.nn.Linear(4, 2), device="cuda")
    model.compile(optimizer="adam", loss="mse", precision="mixed_float16")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    history = model.fit(x, x[:, :2], batch_size=8, epochs=2, verbose=0).history
    assert "loss_scale" in history and history["skipped_steps"][-1] >= 0
    state = model.precision.state_dict()
    other = epochal.Model(torch.nn.Linear(4, 2), device="cuda")
    other.compile(optimizer="adam", loss="mse", precision="mixed_float16")
    other.precision.load_state_dict(state)
    assert other.precision.state_dict() == state
