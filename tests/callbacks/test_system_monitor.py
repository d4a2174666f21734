"""SystemMonitor: documented keys in the logs, a background sampler, NVML through a fake."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
import torch
from _helpers import FakeNvmlError, fake_pynvml

import epochal
from epochal.callbacks import Callback, CSVLogger, SystemMonitor
from epochal.callbacks.system_monitor import SYSTEM_KEYS
from epochal.plotting import load_history_csv

DEADLINE = 10.0  # seconds a poll may wait for the sampler thread before the test fails


def _model() -> epochal.Model:
    torch.manual_seed(0)
    model = epochal.Model(torch.nn.Linear(4, 2), device="cpu")
    model.compile(optimizer="sgd", loss="mse")
    return model


def _data(samples: int = 32):
    rng = np.random.default_rng(0)
    return rng.normal(size=(samples, 4)).astype("float32"), rng.normal(size=(samples, 2))


class _Keys(Callback):
    """Placed BEFORE the monitor in the list: sees its keys all the same (run_first)."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[dict] = []
        self.batches: list[dict] = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append({k: logs[k] for k in logs if k.startswith("system/")})

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(dict(logs))


def test_epoch_logs_get_the_process_keys_and_every_callback_sees_them(tmp_path):
    x, y = _data()
    seen = _Keys()
    csv_path = tmp_path / "log.csv"
    history = _model().fit(
        x,
        y,
        epochs=2,
        verbose=0,
        callbacks=[seen, CSVLogger(csv_path), SystemMonitor(gpu=False)],
    )
    for logs in seen.epochs:
        assert logs["system/process_rss_mib"] > 1.0
        assert logs["system/process_cpu_percent"] >= 0.0
        assert 0.0 <= logs["system/cpu_percent"] <= 100.0
        assert 0.0 < logs["system/memory_percent"] <= 100.0
        assert not any("gpu" in key or "cuda" in key for key in logs)
    columns = load_history_csv(csv_path)
    assert columns["system/process_rss_mib"] == pytest.approx(
        history.history["system/process_rss_mib"]
    )


def test_every_key_is_documented():
    x, y = _data()
    seen = _Keys()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[SystemMonitor(), seen])
    patterns = {key.replace("{i}", "0") for key in SYSTEM_KEYS}
    assert {k for k in seen.epochs[0] if k.startswith("system/")} <= patterns


def test_nvml_devices_are_reported_and_unsupported_queries_give_no_key(monkeypatch):
    nvml = fake_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    x, y = _data()
    seen = _Keys()
    _model().fit(x, y, epochs=2, verbose=0, callbacks=[SystemMonitor(), seen])
    logs = seen.epochs[-1]
    assert logs["system/gpu0/utilization_percent"] == 40.0
    assert logs["system/gpu1/utilization_percent"] == 50.0
    assert logs["system/gpu0/memory_used_mib"] == 1024.0
    assert logs["system/gpu1/memory_used_mib"] == 2048.0
    assert logs["system/gpu1/memory_total_mib"] == 80 * 1024.0
    assert logs["system/gpu0/temperature_c"] == 60.0
    assert logs["system/gpu0/power_w"] == 250.0
    assert "system/gpu1/power_w" not in logs  # the device does not report it
    assert nvml.calls["init"] == nvml.calls["shutdown"] == 1


def test_a_broken_nvml_gives_no_gpu_keys_and_no_error(monkeypatch):
    nvml = fake_pynvml()

    def fail():
        raise FakeNvmlError("Driver Not Loaded")

    nvml.nvmlInit = fail
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    x, y = _data()
    seen = _Keys()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[SystemMonitor(), seen])
    assert not any("gpu" in key for key in seen.epochs[0])
    assert "system/process_rss_mib" in seen.epochs[0]


def test_without_psutil_the_process_keys_come_from_the_standard_library(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil raises ImportError
    x, y = _data()
    seen = _Keys()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[SystemMonitor(gpu=False), seen])
    keys = {k for k in seen.epochs[0] if k.startswith("system/")}
    expected = {"system/process_cpu_percent"}
    if sys.platform.startswith("linux"):
        expected.add("system/process_rss_mib")
    assert keys == expected


class _WaitForSamples(Callback):
    """Polls (with a deadline, no fixed sleep) until the sampler thread has sampled twice."""

    def __init__(self, monitor: SystemMonitor) -> None:
        super().__init__()
        self.monitor = monitor
        self.threads: set[int] = set()

    def on_epoch_begin(self, epoch, logs=None):
        deadline = time.monotonic() + DEADLINE
        while self.monitor.background_samples < 2 and time.monotonic() < deadline:
            time.sleep(0.001)  # a poll step, not a wait for a fixed time
        assert self.monitor.background_samples >= 2, "the sampler thread did not sample"


def test_samples_are_taken_on_a_background_thread_that_stops_with_fit(monkeypatch):
    nvml = fake_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    monitor = SystemMonitor(interval=0.001)
    x, y = _data()
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[monitor, _WaitForSamples(monitor)])
    assert nvml.calls["threads"] - {threading.get_ident()}  # sampled off the training thread
    assert not any(t.name == "epochal-system-monitor" for t in threading.enumerate())
    assert nvml.calls["shutdown"] == 1


def test_a_sampler_left_by_a_fit_that_raised_is_stopped_by_close_or_the_next_fit():
    class Boom(Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("boom")

    x, y = _data()
    monitor = SystemMonitor(interval=0.001)
    with pytest.raises(RuntimeError, match="boom"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[monitor, Boom()])
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[monitor])  # restarts, then stops it
    assert not any(t.name == "epochal-system-monitor" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="boom"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[monitor, Boom()])
    monitor.close()
    assert not any(t.name == "epochal-system-monitor" for t in threading.enumerate())


def test_batch_logs_get_the_keys_every_n_batches(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(devices=1))
    x, y = _data(32)
    seen = _Keys()
    _model().fit(
        x,
        y,
        batch_size=4,
        epochs=1,
        verbose=0,
        callbacks=[seen, SystemMonitor(interval=0.001, log_every_n_batches=3)],
    )
    with_keys = [i for i, keys in enumerate(seen.batches) if keys]
    assert with_keys == [2, 5]
    assert seen.batches[2]["system/gpu0/utilization_percent"] == 40.0


def test_without_batch_logging_no_batch_hook_is_declared():
    assert not SystemMonitor().implements("on_train_batch_end")
    assert SystemMonitor(log_every_n_batches=2).implements("on_train_batch_end")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"interval": 0}, ValueError),
        ({"interval": "1"}, TypeError),
        ({"log_every_n_batches": 0}, ValueError),
        ({"gpu": "yes"}, TypeError),
    ],
)
def test_bad_arguments_are_refused(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        SystemMonitor(**kwargs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_real_gpu_keys():
    pytest.importorskip("pynvml")
    model = epochal.Model(torch.nn.Linear(4, 2), device="cuda")
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data()
    seen = _Keys()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[SystemMonitor(), seen])
    logs = seen.epochs[0]
    assert logs["system/gpu0/memory_total_mib"] > 0
    assert logs["system/cuda0/max_memory_allocated_mib"] > 0
