"""Helpers of the TensorBoard callback: argument parsing, images, embeddings, a write queue."""

from __future__ import annotations

import concurrent.futures
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from epochal._modes import evaluating

__all__ = [
    "WriteQueue",
    "add_graph",
    "default_writer",
    "embedding_layers",
    "parse_profile_batch",
    "queue_histograms",
    "read_metadata",
    "start_profiler",
    "weight_image",
]

_PROFILE_ERROR = (
    "profile_batch must be a non-negative integer or 2-tuple of positive integers. A pair of "
    "positive integers signifies a range of batches to profile. Found: {!r}"
)


def parse_profile_batch(profile_batch: Any) -> tuple[int, int]:
    """``(start, stop)`` global batch numbers (1-based) to profile; ``(0, 0)`` means off.

    Raises:
        ValueError: for anything but an int >= 0, a pair or a ``"start,stop"`` string of
            positive ints with ``start <= stop``.
    """
    value = profile_batch
    if isinstance(value, str):
        try:
            value = tuple(int(part) for part in value.split(","))
        except ValueError:
            raise ValueError(_PROFILE_ERROR.format(profile_batch)) from None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(_PROFILE_ERROR.format(profile_batch))
        return value, value
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 0 < value[0] <= value[1]
    ):
        return int(value[0]), int(value[1])
    raise ValueError(_PROFILE_ERROR.format(profile_batch))


def default_writer(log_dir: str) -> Any:
    """tensorboard's own event writer (it encodes and writes from its own thread too)."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=log_dir)


def mark_restart(writer: Any, step: int) -> None:
    """Tells TensorBoard that a run restarted at ``step``: events that the interrupted run
    wrote at ``step`` or later are hidden (the mechanism behind SummaryWriter's
    ``purge_step``). Writers without an event file (test doubles) are left alone."""
    get_file_writer = getattr(writer, "_get_file_writer", None)
    if get_file_writer is None:
        return
    from tensorboard.compat.proto.event_pb2 import Event, SessionLog

    file_writer = get_file_writer()
    file_writer.add_event(Event(step=step, file_version="brain.Event:2"))
    file_writer.add_event(Event(step=step, session_log=SessionLog(status=SessionLog.START)))


def _sample(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x[:1]
    if isinstance(x, list | tuple):
        return type(x)(_sample(v) for v in x)
    return x


def add_graph(writer: Any, module: torch.nn.Module, example: Any) -> None:
    """Traces ``module`` on one sample of ``example`` into the graph view (best effort)."""
    try:
        # Tracing with dropout active would record random masks.
        with evaluating(module, no_grad=False), warnings.catch_warnings():
            # add_graph relies on torch.jit.trace, which torch now marks deprecated.
            warnings.simplefilter("ignore", DeprecationWarning)
            writer.add_graph(module, _sample(example))
    except Exception as exc:  # tracing is best effort; training must go on
        warnings.warn(f"TensorBoard could not trace the model graph: {exc}", stacklevel=3)


def queue_histograms(
    queue: WriteQueue,
    writer: Any,
    module: torch.nn.Module,
    epoch: int,
    *,
    images: bool,
    grads: bool,
) -> None:
    """Queues a histogram (and image, and gradient histogram) of every float weight."""
    for name, tensor in module.state_dict(keep_vars=True).items():
        if not tensor.is_floating_point():
            continue
        tag = name.replace(".", "/")
        values = tensor.detach().cpu().numpy().copy()
        queue.submit(writer.add_histogram, f"{tag}/histogram", values, epoch)
        image = weight_image(values) if images else None
        if image is not None:
            queue.submit(writer.add_image, f"{tag}/image", image, epoch)
        # optimizer.zero_grad() runs before each backward, so .grad now holds the
        # epoch's last training batch: no hook and no per-step cost.
        grad = getattr(tensor, "grad", None)
        if grads and grad is not None:
            queue.submit(
                writer.add_histogram,
                f"{tag}_grad/histogram",
                grad.detach().cpu().numpy().copy(),
                epoch,
            )


def start_profiler(trace_dir: str) -> Any:
    """A started ``torch.profiler`` whose trace goes to ``trace_dir`` when it stops."""
    from torch.profiler import ProfilerActivity, profile, tensorboard_trace_handler

    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    profiler = profile(activities=activities, on_trace_ready=tensorboard_trace_handler(trace_dir))
    profiler.start()
    return profiler


def weight_image(weight: np.ndarray) -> np.ndarray | None:
    """A weight as a 1-channel CHW image scaled to [0, 1], or None for scalars."""
    if weight.ndim == 0:
        return None
    if weight.ndim == 1:
        image = weight.reshape(1, -1)
    else:
        image = weight.reshape(weight.shape[0], -1)
        if image.shape[0] > image.shape[1]:  # landscape, as Keras draws kernels
            image = image.T
    image = image.astype(np.float32)
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return scaled[None]


def embedding_layers(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Embedding weight matrices by layer name (epochal ``Embedding`` or ``nn.Embedding``)."""
    from epochal.layers import Embedding

    found: dict[str, torch.Tensor] = {}
    for path, sub in module.named_modules():
        if isinstance(sub, Embedding):
            found[sub.name] = sub.embeddings
        elif isinstance(sub, torch.nn.Embedding):
            found[path or "embedding"] = sub.weight
    return found


def read_metadata(path: str | os.PathLike[str]) -> tuple[list[Any], list[str] | None]:
    """Labels of a projector metadata file: one per line, or tab-separated with a header."""
    with open(path, encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle if line.strip()]
    if lines and "\t" in lines[0]:
        return [line.split("\t") for line in lines[1:]], lines[0].split("\t")
    return lines, None


class WriteQueue:
    """Runs summary writes on one background thread, in order, so steps never wait on them.

    Values are copied to host numpy on the caller's thread (the weights keep changing);
    histogram binning, protobuf encoding and file I/O happen on the worker.
    """

    def __init__(self) -> None:
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: list[concurrent.futures.Future[Any]] = []

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, "epochal-tensorboard")
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]
        self._pending.append(self._pool.submit(fn, *args, **kwargs))

    def drain(self) -> None:
        """Waits for every queued write; re-raises the first error a write hit."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
