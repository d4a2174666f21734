"""No per-step host-device synchronisation unless a callback reads batch logs (issue 8).

Every way a tensor's value can reach Python (``item``, ``tolist``, ``numpy``, ``cpu``,
``float()``, ``int()``, ``bool()``) is counted during ``fit``; the count must not grow with
the number of steps when nobody reads batch logs.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch

import epochal
from epochal.callbacks import Callback, CallbackList, ProgbarLogger
from epochal.engine import CompiledMetrics
from epochal.layers import Dense

_READERS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


@pytest.fixture
def host_reads(monkeypatch):
    """A dict counting calls of each tensor-to-host method on torch.Tensor."""
    counts = dict.fromkeys(_READERS, 0)
    for name in _READERS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    return counts


def _model(optimizer: str) -> epochal.Sequential:
    torch.manual_seed(0)
    model = epochal.Sequential(
        [Dense(8, activation="relu", input_shape=(4,)), Dense(3)], device="cpu"
    )
    chosen: Any = optimizer
    if optimizer == "adam_ema":  # Keras' EMA: averages and overwrites on the device
        chosen = epochal.optimizers.Adam(use_ema=True, ema_overwrite_frequency=3)
    model.compile(
        optimizer=chosen,
        loss=epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy", "mse"] if optimizer == "sgd" else ["accuracy"],
    )
    return model


def _data(samples: int):
    rng = np.random.default_rng(0)
    return rng.normal(size=(samples, 4)).astype("float32"), rng.integers(0, 3, samples)


def _reads_during_fit(host_reads, samples: int, optimizer: str, **fit_kwargs) -> int:
    model = _model(optimizer)
    x, y = _data(samples)
    for key in host_reads:
        host_reads[key] = 0
    model.fit(x, y, batch_size=4, epochs=2, **fit_kwargs)
    return sum(host_reads.values())


class _BatchHookNoRead(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def on_train_batch_end(self, batch, logs=None):
        self.calls += 1
        assert "loss" in logs  # keys cost nothing


class _BatchHookReads(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.losses: list = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adam_ema"])
def test_host_reads_do_not_grow_with_steps(host_reads, optimizer):
    few = _reads_during_fit(host_reads, 16, optimizer, verbose=0)  # 4 steps per epoch
    many = _reads_during_fit(host_reads, 160, optimizer, verbose=0)  # 40 steps per epoch
    assert many == few
    assert few < 20  # a handful per fit (the seed, one transfer per epoch), not per step


def test_batch_hook_that_does_not_read_logs_causes_no_sync(host_reads):
    hook = _BatchHookNoRead()
    few = _reads_during_fit(host_reads, 16, "sgd", verbose=0, callbacks=[hook])
    many = _reads_during_fit(host_reads, 160, "sgd", verbose=0, callbacks=[hook])
    assert hook.calls == 2 * 4 + 2 * 40
    assert many == few


def test_progress_bar_to_a_pipe_reads_only_at_its_refresh_times(host_reads, monkeypatch):
    stream = io.StringIO()  # not a terminal: a line at most every 30 s, plus each epoch's end
    monkeypatch.setattr("sys.stdout", stream)
    few = _reads_during_fit(host_reads, 16, "sgd", verbose=1)
    many = _reads_during_fit(host_reads, 160, "sgd", verbose=1)
    assert many == few
    assert "40/40" in stream.getvalue()


def test_a_batch_hook_reading_loss_gets_a_float_and_the_counter_sees_it(host_reads):
    quiet = _reads_during_fit(host_reads, 16, "sgd", verbose=0)
    reader = _BatchHookReads()
    reading = _reads_during_fit(host_reads, 16, "sgd", verbose=0, callbacks=[reader])
    assert len(reader.losses) == 8
    assert all(type(value) is float for value in reader.losses)
    assert reading >= quiet + 8  # one transfer per read batch: the counter does count syncs


def test_batch_logs_are_snapshots_of_their_batch():
    """A logs mapping kept and read later still holds its own batch's running mean."""
    kept: list = []

    class Keep(Callback):
        def on_train_batch_end(self, batch, logs=None):
            kept.append(logs)

    model = _model("sgd")
    x, y = _data(400)  # 100 steps: crosses the metric's periodic fold
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Keep()])
    late = [logs["loss"] for logs in kept]  # read after the whole epoch

    seen: list = []

    class ReadNow(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(logs["loss"])

    model = _model("sgd")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[ReadNow()])
    np.testing.assert_allclose(late, seen, rtol=1e-6)
    assert len(set(late)) > 50


# ---------------------------------------------------------------- hook skipping


class _EpochOnly(Callback):
    def on_epoch_end(self, epoch, logs=None):
        pass


class _LegacyBatch(Callback):
    def on_batch_end(self, batch, logs=None):
        pass


def test_callback_list_skips_hooks_nobody_overrides(monkeypatch):
    callbacks = CallbackList([_EpochOnly()])
    assert callbacks.implements("on_epoch_end")
    assert not callbacks.implements("on_train_batch_end")
    assert not callbacks.implements("on_train_batch_begin")
    assert CallbackList([_LegacyBatch()]).implements("on_train_batch_end")

    made = []
    original = CompiledMetrics.lazy_logs

    def counting(self):
        made.append(1)
        return original(self)

    monkeypatch.setattr(CompiledMetrics, "lazy_logs", counting)
    model = _model("sgd")
    x, y = _data(40)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[_EpochOnly()])
    assert made == []  # no batch logs built when no callback has a batch hook
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[_LegacyBatch()])
    assert len(made) == 10


def test_callback_list_calls_a_batch_hook_only_on_callbacks_that_override_it():
    calls = []

    class Spy(Callback):
        def on_train_batch_end(self, batch, logs=None):
            calls.append(batch)

    class Silent(Callback):
        def __getattribute__(self, name):
            if name == "on_train_batch_end":
                raise AssertionError("a callback without the hook was called")
            return super().__getattribute__(name)

    callbacks = CallbackList([Silent(), Spy(), ProgbarLogger(stream=io.StringIO())])
    callbacks.on_train_batch_end(0, {"loss": 1.0})
    assert calls == [0]


def test_system_monitor_adds_no_per_step_sync(host_reads, monkeypatch):
    """SystemMonitor samples on its own thread and writes batch logs without reading them."""
    import sys

    from _helpers import fake_pynvml

    from epochal.callbacks import SystemMonitor

    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml())
    quiet = _reads_during_fit(host_reads, 16, "sgd", verbose=0)
    few = _reads_during_fit(
        host_reads, 16, "sgd", verbose=0, callbacks=[SystemMonitor(log_every_n_batches=2)]
    )
    many = _reads_during_fit(
        host_reads, 160, "sgd", verbose=0, callbacks=[SystemMonitor(log_every_n_batches=2)]
    )
    assert many == few == quiet


# ---------------------------------------------------------------- Keras metrics, schedules


def _keras_metrics() -> list:
    from epochal import metrics as m

    return [
        m.CategoricalCrossentropy(), m.TopKCategoricalAccuracy(k=2, name="top2"),
        m.Precision(top_k=2), m.Recall(class_id=1), m.TruePositives(thresholds=[0.3, 0.6]),
        m.FalseNegatives(), m.TrueNegatives(), m.FalsePositives(),
        m.AUC(multi_label=True), m.AUC(curve="PR", name="pr"), m.AUC(from_logits=True, name="l"),
        m.F1Score(average="macro"), m.FBetaScore(beta=2.0, threshold=0.4),
        m.R2Score(num_regressors=1), m.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False),
        m.CosineSimilarity(name="cos"), m.KLDivergence(), m.RootMeanSquaredError(),
        m.LogCoshError(),
        m.BinaryCrossentropy(label_smoothing=0.1), m.Poisson(), m.SquaredHinge(),
        m.CategoricalHinge(),
        m.IoU(3, [0, 2], sparse_y_true=False, sparse_y_pred=False), m.BinaryIoU(),
        m.OneHotIoU(3, [1]), m.OneHotMeanIoU(3, dtype="float32"),
        m.SensitivityAtSpecificity(0.5), m.SpecificityAtSensitivity(0.8, num_thresholds=20),
        m.PrecisionAtRecall(0.5, class_id=1), m.RecallAtPrecision(0.7),
        "mape", "msle", "top_k_categorical_accuracy", "hinge", "cosine_similarity",
    ]  # fmt: skip


def _reads_with_keras_metrics(host_reads, samples: int, schedule=None) -> int:
    from epochal.optimizers import SGD

    torch.manual_seed(0)
    model = epochal.Sequential(
        [Dense(8, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")],
        device="cpu",
    )
    model.compile(
        optimizer=SGD(learning_rate=schedule or 0.05, momentum=0.9),
        loss=epochal.losses.CategoricalFocalCrossentropy(label_smoothing=0.1),
        metrics=_keras_metrics(),
    )
    x, labels = _data(samples)
    y = np.eye(3, dtype="float32")[labels]
    for key in host_reads:
        host_reads[key] = 0
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    return sum(host_reads.values())


def test_keras_metrics_and_losses_add_no_per_step_sync(host_reads):
    few = _reads_with_keras_metrics(host_reads, 16)
    many = _reads_with_keras_metrics(host_reads, 160)
    assert many == few


def test_a_schedule_reads_only_its_own_cpu_scalar_per_step(monkeypatch):
    """The rate of each update is read from the schedule's CPU tensor (no device wait, even
    with another default device); nothing else is read per step."""
    from epochal.optimizers import schedules

    devices: list[str] = []
    for name in _READERS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, **kwargs):
            devices.append(self.device.type)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    schedule = schedules.CosineDecay(0.0, 50, warmup_target=0.1, warmup_steps=5)
    _reads_with_keras_metrics(dict.fromkeys(_READERS, 0), 160, schedule)
    assert 2 * 40 <= len(devices) <= 2 * 40 + 20  # one scalar per update (2 x 40 steps)
    with torch.device("meta"):  # another default device: the schedule stays on the CPU
        assert schedule(3).device.type == "cpu"


def test_torchmetrics_metric_adds_no_per_step_sync(host_reads):
    """A torchmetrics metric is updated on the device each step and computed only when its
    value is read (once per epoch here), with and without a batch hook that keeps logs."""
    torchmetrics = pytest.importorskip("torchmetrics")

    def reads(samples: int, **fit_kwargs) -> int:
        model = _model("sgd")
        model.compile(
            optimizer="sgd",
            loss=epochal.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[
                torchmetrics.classification.MulticlassAccuracy(
                    num_classes=3, average="micro", validate_args=False
                )
            ],
        )
        x, y = _data(samples)
        for key in host_reads:
            host_reads[key] = 0
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, **fit_kwargs)
        assert len(history.history["multiclass_accuracy"]) == 2
        return sum(host_reads.values())

    assert reads(160) == reads(16)
    hook = _BatchHookNoRead()
    assert reads(160, callbacks=[hook]) == reads(16, callbacks=[hook])
