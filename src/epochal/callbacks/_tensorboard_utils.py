"""Helpers of the TensorBoard callback: argument parsing, images, embeddings, a write queue."""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import urllib.parse
import warnings
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from epochal._modes import evaluating
from epochal._validation import is_int

__all__ = [
    "WriteQueue",
    "add_graph",
    "default_writer",
    "embedding_layers",
    "histogram_input",
    "parse_profile_batch",
    "purge_events",
    "queue_histograms",
    "start_profiler",
    "weight_image",
    "write_embeddings",
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
    if is_int(value):
        if value < 0:
            raise ValueError(_PROFILE_ERROR.format(profile_batch))
        return value, value
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(is_int(v) for v in value)
        and 0 < value[0] <= value[1]
    ):
        return int(value[0]), int(value[1])
    raise ValueError(_PROFILE_ERROR.format(profile_batch))


def default_writer(log_dir: str) -> Any:
    """tensorboard's own event writer (it encodes and writes from its own thread too)."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=log_dir)


def purge_events(run_dir: str | os.PathLike[str], keep: Callable[[Any], bool]) -> int:
    """Rewrites the event files of ``run_dir`` without the events ``keep(event)`` refuses.

    What ``SummaryWriter(purge_step=...)`` asks TensorBoard to hide at read time, done on
    disk, so every reader sees one point per step; and unlike ``purge_step``, ``keep`` may
    judge each tag by its own step unit (batches, epochs, optimizer updates). A record torn
    by a killed writer ends the file. Each file is replaced atomically. Returns the number
    of events removed.
    """
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter

    removed = 0
    folder = Path(run_dir)
    if not folder.is_dir():
        return 0
    for path in sorted(folder.glob("*tfevents*")):
        if not path.is_file() or path.is_symlink() or path.name.endswith(".purge-tmp"):
            continue
        records, dropped = [], 0
        for raw in RawEventFileLoader(str(path)).Load():
            event = Event()
            try:
                event.ParseFromString(raw)
            except Exception:  # a corrupt record: drop it
                dropped += 1
                continue
            if keep(event):
                records.append(raw)
            else:
                dropped += 1
        size = sum(len(r) + 16 for r in records)  # 8 length + 4 + 4 CRC bytes per record
        if not dropped and size == path.stat().st_size:
            continue
        tmp = path.with_name(path.name + ".purge-tmp")
        with open(tmp, "wb") as handle:
            writer = RecordWriter(handle)
            for raw in records:
                writer.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        removed += dropped
    return removed


def histogram_input(values: np.ndarray) -> tuple[np.ndarray | None, Any, str | None]:
    """What can be binned of ``values``: ``(values, bins, problem)``.

    Non-finite values (a diverged weight) are left out; values beyond the fixed range of
    TensorBoard's default bins (about 1e12) get 30 even bins over their own range instead
    of vanishing from the histogram. ``values`` is None when nothing can be binned;
    ``problem`` says what was left out, for a warning.
    """
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = flat[np.isfinite(flat)]
    problem = None
    if finite.size < flat.size:
        problem = f"{flat.size - finite.size} of {flat.size} values are inf or NaN"
    if finite.size == 0:
        return None, None, problem
    low, high = float(finite.min()), float(finite.max())
    if max(abs(low), abs(high)) <= 1e12:
        return finite, "tensorflow", problem
    if not np.isfinite(high - low):  # only near the float64 limit
        return None, None, f"values span [{low:.3g}, {high:.3g}], too wide to bin"
    edges = np.unique(np.linspace(low, high, 31))  # strictly increasing, even when huge
    if edges.size < 2:  # one value: a single bin around it
        delta = abs(low) * 1e-6
        edges = np.array([low - delta, high + delta])
    return finite, edges, problem


def _sample(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x[:1]
    if isinstance(x, list | tuple):
        return type(x)(_sample(v) for v in x)
    return x


# Traced graphs by module: tracing (torch.jit.trace, run twice to check the trace) costs
# tens of milliseconds, paid again by every fit that writes the graph. A module whose
# structure, tensor shapes and sample input are unchanged traces to the same graph.
_GRAPHS: weakref.WeakKeyDictionary[torch.nn.Module, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def _shapes(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return (tuple(x.shape), x.dtype, x.device.type)
    if isinstance(x, list | tuple):
        return tuple(_shapes(v) for v in x)
    return repr(x)


def _graph_signature(module: torch.nn.Module, sample: Any) -> Any:
    """What the traced graph depends on, cheaply: every submodule's class and settings,
    every parameter's and buffer's shape and dtype, and the sample's shapes."""
    parts = tuple(
        (name, type(m).__module__, type(m).__qualname__, m.extra_repr())
        for name, m in module.named_modules()
    )
    tensors = tuple(
        (name, tuple(t.shape), t.dtype)
        for name, t in itertools.chain(module.named_parameters(), module.named_buffers())
    )
    return parts, tensors, _shapes(sample)


def _traced_graph(module: torch.nn.Module, sample: Any) -> Any:
    from torch.utils.tensorboard._pytorch_graph import graph

    signature = _graph_signature(module, sample)
    cached = _GRAPHS.get(module)
    if cached is not None and cached[0] == signature:
        return cached[1]
    traced = graph(module, sample, False, True)
    _GRAPHS[module] = (signature, traced)
    return traced


def add_graph(writer: Any, module: torch.nn.Module, example: Any) -> None:
    """Traces ``module`` on one sample of ``example`` into the graph view (best effort).

    With tensorboard's own writer the traced graph is kept for the next fit of the same,
    unchanged module; any other writer gets ``writer.add_graph(module, sample)``.
    """
    from torch.utils.tensorboard import SummaryWriter

    sample = _sample(example)
    try:
        # Tracing with dropout active would record random masks.
        with evaluating(module, no_grad=False), warnings.catch_warnings():
            # add_graph relies on torch.jit.trace, which torch now marks deprecated.
            warnings.simplefilter("ignore", DeprecationWarning)
            if type(writer) is SummaryWriter:
                writer._get_file_writer().add_graph(_traced_graph(module, sample))
            else:
                writer.add_graph(module, sample)
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
    warned: set[str] | None = None,
) -> None:
    """Queues a histogram (and image, and gradient histogram) of every float weight.

    A tensor with inf/NaN or huge values is logged as far as it can be; what is left out is
    warned about once per tensor name (``warned`` holds the names already warned about).
    """
    warned = set() if warned is None else warned

    def histogram(tag: str, values: np.ndarray) -> None:
        data, bins, problem = histogram_input(values)
        if problem is not None and tag not in warned:
            warned.add(tag)
            left = "skipped" if data is None else "logged without them"
            warnings.warn(
                f"TensorBoard: histogram `{tag}`: {problem}; {left}.", RuntimeWarning, stacklevel=4
            )
        if data is not None:
            queue.submit(_add_histogram, writer, tag, data, epoch, bins)

    for name, tensor in module.state_dict(keep_vars=True).items():
        if not tensor.is_floating_point():
            continue
        tag = name.replace(".", "/")
        values = tensor.detach().cpu().numpy().copy()
        histogram(f"{tag}/histogram", values)
        image = weight_image(values) if images else None
        if image is not None:
            queue.submit(writer.add_image, f"{tag}/image", image, epoch)
        # optimizer.zero_grad() runs before each backward, so .grad now holds the
        # epoch's last training batch: no hook and no per-step cost.
        grad = getattr(tensor, "grad", None)
        if grads and grad is not None:
            histogram(f"{tag}_grad/histogram", grad.detach().cpu().numpy().copy())


def _add_histogram(writer: Any, tag: str, values: np.ndarray, step: int, bins: Any) -> None:
    """On the writer thread: a histogram that cannot be encoded is dropped, never fatal."""
    try:
        writer.add_histogram(tag, values, step, bins=bins)
    except (ValueError, FloatingPointError, OverflowError, MemoryError) as exc:
        warnings.warn(
            f"TensorBoard: histogram `{tag}` skipped: {exc}", RuntimeWarning, stacklevel=2
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
    image = image.astype(np.float64)
    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros((1, *image.shape), dtype=np.float32)
    low, high = float(image[finite].min()), float(image[finite].max())
    image = np.where(finite, image, low)  # inf/NaN drawn as the lowest value
    span = high - low
    if span > 0 and np.isfinite(span):
        scaled = (image - low) / span
    elif span > 0:  # the span overflows float64: scale in two halves
        scaled = (image / 2 - low / 2) / (high / 2 - low / 2)
    else:
        scaled = np.zeros_like(image)
    return scaled.astype(np.float32)[None]


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


def write_embeddings(
    log_dir: str,
    entries: list[tuple[str, str, str | None]],
    matrices: Iterable[tuple[str, np.ndarray]],
) -> None:
    """Writes projector tensors and ``<log_dir>/projector_config.pbtxt``.

    ``matrices`` are ``(path relative to log_dir, 2-D array)`` to write as ``tensors.tsv``;
    ``entries`` the ``(tensor name, tensor path, metadata path)`` of every embedding so far.
    The metadata path is recorded as given and never opened (as Keras): TensorBoard reads
    it, relative to ``log_dir``.
    """
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    for relative, matrix in matrices:
        target = Path(log_dir, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        rows = np.asarray(matrix, dtype=np.float64).reshape(len(matrix), -1)
        target.write_text("".join("\t".join(repr(float(v)) for v in row) + "\n" for row in rows))
    config = ProjectorConfig()
    for name, tensor_path, metadata_path in entries:
        embedding = config.embeddings.add()
        embedding.tensor_name = name
        embedding.tensor_path = tensor_path
        if metadata_path:
            embedding.metadata_path = metadata_path
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    Path(log_dir, "projector_config.pbtxt").write_text(text_format.MessageToString(config))


def embedding_path(step: int, tag: str) -> str:
    """Where the tensors of embedding ``tag`` at ``step`` go, relative to the log folder."""
    return f"train/{step:05d}/{urllib.parse.quote(tag, safe='')}/tensors.tsv"


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
