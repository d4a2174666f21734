"""Test helpers: a callback that records every hook call, a stub model for hook-level tests."""

from __future__ import annotations

import threading
import types
from typing import Any

from epochal.callbacks import Callback
from epochal.callbacks.callback import HOOKS


class RecordingCallback(Callback):
    """Records (hook, index or None, sorted logs keys) for every hook, reading no values."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int | None, tuple[str, ...]]] = []


def _make_hook(name: str):
    takes_index = "batch" in name or "epoch_" in name

    if takes_index:

        def hook(self, index, logs=None):
            self.calls.append((name, index, tuple(sorted(logs or {}))))
    else:

        def hook(self, logs=None):
            self.calls.append((name, None, tuple(sorted(logs or {}))))

    hook.__name__ = name
    return hook


for _name in HOOKS:
    setattr(RecordingCallback, _name, _make_hook(_name))


class StubOptimizer:
    def __init__(self, learning_rate: float = 0.1) -> None:
        self.learning_rate = learning_rate
        self.lr = learning_rate


class StubModel:
    """What a callback may touch, without a network: for driving hooks directly."""

    def __init__(self, directions: dict[str, str] | None = None) -> None:
        self.stop_training = False
        self.optimizer = StubOptimizer()
        self.weights = [0.0]
        self.history = None
        self.directions = directions or {"loss": "down", "accuracy": "up"}
        self.rank, self.world_size, self.is_main_process = 0, 1, True

    def get_weights(self) -> list[Any]:
        return list(self.weights)

    def set_weights(self, weights: list[Any]) -> None:
        self.weights = list(weights)

    def metric_direction(self, name: str) -> str | None:
        return self.directions.get(name[4:] if name.startswith("val_") else name)


class FakeNvmlError(Exception):
    pass


def fake_pynvml(devices: int = 2, power: bool = True) -> types.ModuleType:
    """A stand-in for nvidia-ml-py's ``pynvml``: fixed readings, device 1 without power."""
    module = types.ModuleType("pynvml")
    module.NVMLError = FakeNvmlError
    module.NVML_TEMPERATURE_GPU = 0
    module.calls = {"init": 0, "shutdown": 0, "threads": set()}

    def init():
        module.calls["init"] += 1

    def shutdown():
        module.calls["shutdown"] += 1

    def utilization(handle):
        module.calls["threads"].add(threading.get_ident())
        return types.SimpleNamespace(gpu=40 + 10 * handle, memory=5)

    def memory(handle):
        return types.SimpleNamespace(used=(handle + 1) * 1024**3, total=80 * 1024**3, free=0)

    def power_usage(handle):
        if not power or handle == 1:
            raise FakeNvmlError("Not Supported")
        return 250_000  # milliwatts

    module.nvmlInit = init
    module.nvmlShutdown = shutdown
    module.nvmlDeviceGetCount = lambda: devices
    module.nvmlDeviceGetHandleByIndex = lambda index: index
    module.nvmlDeviceGetUtilizationRates = utilization
    module.nvmlDeviceGetMemoryInfo = memory
    module.nvmlDeviceGetTemperature = lambda handle, sensor: 60 + handle
    module.nvmlDeviceGetPowerUsage = power_usage
    return module
