"""SystemMonitor: CPU, memory and GPU statistics of a run, sampled off the training thread."""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import time
from typing import Any

import torch

from epochal._validation import check_bool, check_int, check_number
from epochal.callbacks.callback import Callback

__all__ = ["SYSTEM_KEYS", "SystemMonitor"]

_MIB = 1024.0 * 1024.0

#: The keys :class:`SystemMonitor` adds to the logs, and how each window's samples are
#: folded into one number (``{i}`` is the device index).
SYSTEM_KEYS: dict[str, str] = {
    "system/cpu_percent": "system-wide CPU use, % of all cores (mean; needs psutil)",
    "system/memory_percent": "system RAM in use, % (mean; needs psutil)",
    "system/process_cpu_percent": "this process's CPU time / wall time, % of one core (mean)",
    "system/process_rss_mib": "this process's resident memory, MiB (max)",
    "system/gpu{i}/utilization_percent": "NVML GPU utilisation, % (mean)",
    "system/gpu{i}/memory_used_mib": "NVML device memory used, MiB (max)",
    "system/gpu{i}/memory_total_mib": "NVML device memory total, MiB",
    "system/gpu{i}/temperature_c": "NVML GPU temperature, degrees C (max)",
    "system/gpu{i}/power_w": "NVML power draw, W (mean)",
    "system/cuda{i}/max_memory_allocated_mib": "torch.cuda.max_memory_allocated, MiB",
}

_NVML_READINGS = (
    "utilization_percent",
    "memory_used_mib",
    "memory_total_mib",
    "temperature_c",
    "power_w",
)

# How the samples of a window become one value: the peak for sizes and temperatures.
_PEAK_SUFFIXES = ("_rss_mib", "_used_mib", "_total_mib", "_temperature_c")


def _load_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _rss_from_proc() -> float | None:
    """Resident set size from /proc (Linux), when psutil is not installed."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / _MIB


class _Nvml:
    """The NVML queries of a sample; a query a device does not support gives no key."""

    def __init__(self, module: Any) -> None:
        self.module = module
        module.nvmlInit()
        self.handles = [
            module.nvmlDeviceGetHandleByIndex(i) for i in range(module.nvmlDeviceGetCount())
        ]

    def _read(self, handle: Any, name: str) -> float:
        nvml = self.module
        if name == "utilization_percent":
            return float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        if name == "memory_used_mib":
            return nvml.nvmlDeviceGetMemoryInfo(handle).used / _MIB
        if name == "memory_total_mib":
            return nvml.nvmlDeviceGetMemoryInfo(handle).total / _MIB
        if name == "temperature_c":
            sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
            return float(nvml.nvmlDeviceGetTemperature(handle, sensor))
        return nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0  # milliwatts

    def sample(self, values: dict[str, float]) -> None:
        error = getattr(self.module, "NVMLError", Exception)
        for index, handle in enumerate(self.handles):
            for name in _NVML_READINGS:
                try:
                    values[f"system/gpu{index}/{name}"] = self._read(handle, name)
                except error:
                    continue  # not supported by this device (power on some boards, say)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # shutting down must not fail a run
            self.module.nvmlShutdown()


class SystemMonitor(Callback):
    """Adds CPU, memory and GPU statistics to the logs: per epoch, and every N batches.

    A background thread takes a sample every ``interval`` seconds from ``on_train_begin``
    to the end of ``fit``; at each epoch end (after one last sample) the samples of the
    epoch are folded into one value per key — the mean for rates (CPU %, utilisation,
    power), the peak for sizes and temperatures — and written into the epoch logs, where
    ``CSVLogger``, ``TensorBoard``, ``MLflowLogger``, ``WandbLogger``, ``History`` and the
    monitors find them. The callback runs before the others (``run_first``), so every
    callback of the list sees its keys. Nothing is read from tensors: the training loop is
    never synchronised with the device for it.

    Keys (``{i}`` the device index; see :data:`SYSTEM_KEYS`):

    * ``system/cpu_percent``, ``system/memory_percent``: the machine's CPU and RAM use
      (with ``psutil``, ``pip install epochal[monitor]``);
    * ``system/process_cpu_percent``, ``system/process_rss_mib``: this process (RSS from
      ``psutil``, else ``/proc``);
    * ``system/gpu{i}/utilization_percent``, ``memory_used_mib``, ``memory_total_mib``,
      ``temperature_c``, ``power_w``: every NVIDIA device NVML sees (index as in
      ``nvidia-smi``; with ``nvidia-ml-py``);
    * ``system/cuda{i}/max_memory_allocated_mib``: PyTorch's peak allocation on each
      initialised CUDA device (torch's index), at epoch ends.

    What a machine lacks gives no key and no error (no GPU, no NVML, a device that does
    not report its power). With ``log_every_n_batches=N`` the batch logs get the same keys
    every N batches, folded over the samples since the last report. In a distributed run
    only the main process samples (it sees every GPU of its node through NVML).

    Args:
        interval: Seconds between background samples. Defaults to `1.0`.
        log_every_n_batches: Also add the keys to the batch logs every N training batches.
            Defaults to `None` (epoch logs only).
        gpu: Query NVML and torch's CUDA allocator. Defaults to `True`.

    Raises:
        ValueError / TypeError: for a non-positive ``interval`` or ``log_every_n_batches``.

    Example:
        >>> import numpy as np, torch, epochal
        >>> model = epochal.Model(torch.nn.Linear(2, 1), device="cpu")
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> history = model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0,
        ...                     callbacks=[epochal.callbacks.SystemMonitor()])
        >>> "system/process_rss_mib" in history.history
        True
    """

    main_process_only = True  # one view of the machine: rank 0's
    run_first = True  # a producer of log keys: every other callback sees them

    def __init__(
        self,
        interval: float = 1.0,
        log_every_n_batches: int | None = None,
        gpu: bool = True,
    ) -> None:
        super().__init__()
        seconds = check_number("interval", interval, positive=True, finite=True)
        assert seconds is not None
        self.interval = seconds
        self.log_every_n_batches = check_int(
            "log_every_n_batches", log_every_n_batches, minimum=1, allow_none=True
        )
        self.gpu = check_bool("gpu", gpu)
        self.background_samples = 0
        self._lock = threading.Lock()
        self._window: list[dict[str, float]] = []
        self._last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._psutil: Any = None
        self._process: Any = None
        self._nvml: _Nvml | None = None
        self._cpu_mark: tuple[float, float] | None = None
        self._batches = 0

    def implements(self, hook: str) -> bool:
        # Batch hooks only when batch logging is on: otherwise the loop makes no batch logs.
        if hook == "on_train_batch_end":
            return self.log_every_n_batches is not None
        return super().implements(hook)

    # ------------------------------------------------------------------ sampling
    def _open(self) -> None:
        self._psutil = _load_module("psutil")
        self._process = self._psutil.Process() if self._psutil is not None else None
        if self._psutil is not None:
            self._psutil.cpu_percent(None)  # the baseline of the first window
        self._cpu_mark = (time.perf_counter(), time.process_time())
        self._nvml = None
        if self.gpu:
            module = _load_module("pynvml")
            if module is not None:
                try:
                    self._nvml = _Nvml(module)
                except Exception:  # no driver, no device: no GPU keys, no error
                    self._nvml = None

    def _sample(self) -> dict[str, float]:
        """One reading of every source (called on the sampler thread, and at epoch ends)."""
        values: dict[str, float] = {}
        now, cpu = time.perf_counter(), time.process_time()
        with self._lock:
            mark, self._cpu_mark = self._cpu_mark, (now, cpu)
        if mark is not None and now > mark[0]:
            values["system/process_cpu_percent"] = 100.0 * (cpu - mark[1]) / (now - mark[0])
        if self._psutil is not None:
            values["system/cpu_percent"] = float(self._psutil.cpu_percent(None))
            values["system/memory_percent"] = float(self._psutil.virtual_memory().percent)
            values["system/process_rss_mib"] = self._process.memory_info().rss / _MIB
        else:
            rss = _rss_from_proc()
            if rss is not None:
                values["system/process_rss_mib"] = rss
        if self._nvml is not None:
            self._nvml.sample(values)
        return values

    def _record(self, values: dict[str, float]) -> None:
        with self._lock:
            self._window.append(values)

    def _run_sampler(self) -> None:
        while not self._stop.wait(self.interval):
            self._record(self._sample())
            self.background_samples += 1

    def _fold(self) -> dict[str, float]:
        """The window's samples as one value per key; starts a new window."""
        with self._lock:
            window, self._window = self._window, []
        if not window:
            return dict(self._last)
        folded: dict[str, float] = {}
        for key in sorted({k for sample in window for k in sample}):
            values = [sample[key] for sample in window if key in sample]
            peak = key.endswith(_PEAK_SUFFIXES)
            folded[key] = max(values) if peak else sum(values) / len(values)
        self._last = folded
        return folded

    def _torch_cuda(self) -> dict[str, float]:
        if not (self.gpu and torch.cuda.is_available() and torch.cuda.is_initialized()):
            return {}
        return {
            f"system/cuda{i}/max_memory_allocated_mib": torch.cuda.max_memory_allocated(i) / _MIB
            for i in range(torch.cuda.device_count())
        }

    def _stop_sampler(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        if self._nvml is not None:
            self._nvml.close()
            self._nvml = None

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._stop_sampler()  # a sampler left by an earlier fit that raised
        self._open()
        with self._lock:
            self._window, self._last = [], {}
        self._record(self._sample())  # the first window is never empty
        self._batches = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run_sampler, name="epochal-system-monitor", daemon=True
        )
        self._thread.start()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batches += 1
        if logs is None or self.log_every_n_batches is None:
            return
        if self._batches % self.log_every_n_batches == 0:
            # Writing keys into the batch logs reads none of their values: no device sync.
            logs.update(self._fold())

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._thread is None:  # driven without on_train_begin
            self._open()
        self._record(self._sample())
        values = {**self._fold(), **self._torch_cuda()}
        if logs is not None:
            logs.update(values)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.close()

    def close(self) -> None:
        """Stops the sampler thread (``on_train_end`` does; a ``fit`` that raised leaves it
        to the next ``fit``, or to this call)."""
        self._stop_sampler()
