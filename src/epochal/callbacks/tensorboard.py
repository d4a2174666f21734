"""TensorBoard: Keras' event files (same runs and tags), written with tensorboard's writer."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal

from epochal._validation import check_bool, check_callable, check_int, check_str
from epochal.callbacks import _tensorboard_utils as tbu
from epochal.callbacks.callback import Callback

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Writes Keras' TensorBoard logs: scalars, histograms, images, graph, profile, projector.

    Events go to ``<log_dir>/train`` and ``<log_dir>/validation`` with Keras' tags:
    ``epoch_<metric>`` and ``epoch_learning_rate`` (step = epoch), ``batch_<metric>`` every
    ``update_freq`` batches (step = batch counter of the run, from 1), and
    ``evaluation_<metric>_vs_iterations`` after each evaluation (step = optimizer updates).
    Histograms are tagged ``<weight path>/histogram`` (``dense/kernel/histogram``),
    gradients ``<weight path>_grad/histogram`` (the epoch's last training batch), images
    ``<weight path>/image``. Writing uses ``torch.utils.tensorboard``; values are copied on
    the training thread and everything else (binning, encoding, file I/O) runs on a
    background thread, so logging never blocks a step. Only the main process writes.

    A weight with inf/NaN (a diverged run) or huge values is histogrammed as far as it can
    be, with one warning per tensor; it never stops ``fit``. With ``BackupAndRestore``,
    everything logged up to a backup is flushed to disk when the backup is taken, and a
    resumed run first removes from the event files what the interrupted run logged past
    the backup (each tag by its own step: batches, epochs or optimizer updates), so every
    step appears exactly once.

    Args:
        log_dir: Folder of the runs. Defaults to `"logs"`.
        histogram_freq: Write weight histograms every N epochs (0: never). Defaults to `0`.
        write_graph: Write the model config (tag ``keras``) and the traced graph. Defaults to
            `True`.
        write_images: With histograms, also write weights as images. Defaults to `False`.
        write_steps_per_second: Also log ``steps_per_second``. Defaults to `False`.
        update_freq: ``"epoch"``, ``"batch"`` or an int N: batch scalars every N batches.
            Defaults to `"epoch"`.
        profile_batch: Batches to profile with ``torch.profiler``: an int, ``(start, stop)``
            or ``"start,stop"`` (1-based); the trace goes to ``<log_dir>/plugins/profile``.
            Defaults to `0` (off).
        embeddings_freq: Write Embedding weights for the projector every N epochs. Defaults
            to `0`.
        embeddings_metadata: A labels file name for every Embedding layer, or a dict layer
            name -> file name. It is recorded in ``<log_dir>/projector_config.pbtxt`` and
            never opened (TensorBoard reads it, a relative name from ``log_dir``), as in
            Keras. Defaults to `None`.
        batch_size: Keras 2 argument, ignored (warning). Defaults to `None`.
        write_grads: Keras 2 argument (warning): also histogram gradients. Defaults to `None`.
        embeddings_layer_names: Keras 2, ignored (warning). Defaults to `None`.
        embeddings_data: Keras 2, ignored (warning). Defaults to `None`.
        writer_factory: ``factory(run_dir)`` returning a ``SummaryWriter``-like object.
            Defaults to `None` (``torch.utils.tensorboard.SummaryWriter``).
        clock: Seconds clock for ``steps_per_second``. Defaults to `None` (``time.perf_counter``).

    Raises:
        ValueError: for a malformed ``profile_batch``, a bad ``update_freq`` or frequency, or
            (at train begin) metadata naming a layer that is not an Embedding.

    Example:
        >>> import tempfile, numpy as np, torch, epochal
        >>> model = epochal.Model(torch.nn.Linear(2, 1), device="cpu")
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> tb = epochal.callbacks.TensorBoard(log_dir=tempfile.mkdtemp())
        >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0, callbacks=[tb])
    """

    main_process_only = True  # writes files / sends data: rank 0 of a distributed job only

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: Literal["epoch", "batch"] | int = "epoch",
        profile_batch: int | tuple[int, int] | str = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: str | Mapping[str, str] | None = None,
        batch_size: int | None = None,
        write_grads: bool | None = None,
        embeddings_layer_names: Any = None,
        embeddings_data: Any = None,
        *,
        writer_factory: Callable[[str], Any] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        where = "TensorBoard: "
        check_str("log_dir", log_dir, non_empty=True, path=True, where=where)
        for flag, value in (
            ("write_graph", write_graph),
            ("write_images", write_images),
            ("write_steps_per_second", write_steps_per_second),
        ):
            check_bool(flag, value, where=where)
        if write_grads is not None:
            check_bool("write_grads", write_grads, where=where)
        check_int("batch_size", batch_size, minimum=1, allow_none=True, where=where)
        check_callable("writer_factory", writer_factory, allow_none=True, where=where)
        check_callable("clock", clock, allow_none=True, where=where)
        check_int("histogram_freq", histogram_freq, minimum=0)
        check_int("embeddings_freq", embeddings_freq, minimum=0)
        update_freq = check_int("update_freq", update_freq, minimum=1, also=("epoch", "batch"))
        if update_freq == "batch":
            update_freq = 1
        legacy = {
            "batch_size": batch_size,
            "embeddings_layer_names": embeddings_layer_names,
            "embeddings_data": embeddings_data,
        }
        for name, value in legacy.items():
            if value is not None:
                warnings.warn(
                    f"TensorBoard: `{name}` is a Keras 2 argument; it is ignored.",
                    DeprecationWarning,
                    stacklevel=2,
                )
        if write_grads is not None:
            warnings.warn(
                "TensorBoard: `write_grads` is a Keras 2 argument (gone in Keras 3); "
                "epochal still writes gradient histograms with it when "
                "histogram_freq > 0.",
                DeprecationWarning,
                stacklevel=2,
            )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = update_freq
        self.profile_batch = profile_batch
        self._start_batch, self._stop_batch = tbu.parse_profile_batch(profile_batch)
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self.write_grads = bool(write_grads)
        self.writer_factory = writer_factory or tbu.default_writer
        self.clock = clock or time.perf_counter
        self._writers: dict[str, Any] = {}
        self._queue = tbu.WriteQueue()
        self._epoch_start = self._batch_start = 0.0
        self._epoch_iterations = self._global_batch = 0
        self._warned_histograms: set[str] = set()
        self._embeddings: list[tuple[str, str, str | None]] = []
        self._profiler: Any = None

    def implements(self, hook: str) -> bool:
        # Batch hooks only when batch scalars or profiling need them: a run logging per
        # epoch pays nothing per step.
        if hook in ("on_train_batch_begin", "on_train_batch_end"):
            return self.update_freq != "epoch" or self._stop_batch > 0
        return super().implements(hook)

    # ------------------------------------------------------------------ writing
    @property
    def state_key(self) -> str:
        return self._generate_state_key(log_dir=self.log_dir)

    def state_dict(self) -> dict[str, Any]:
        """The global batch counter, so batch-level steps continue after a resume.

        Called when a backup is taken: everything logged so far is written out first, so
        that what the backup covers is on disk before the backup counts as done.
        """
        self.flush()
        return {"global_batch": self._global_batch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        value = state.get("global_batch") if isinstance(state, dict) else None
        self._global_batch = check_int(
            "global_batch", value, minimum=0, where="TensorBoard state: "
        )

    def flush(self) -> None:
        """Waits for every queued write and flushes the event files to disk."""
        self._queue.drain()
        for writer in self._writers.values():
            flush = getattr(writer, "flush", None)
            if callable(flush):
                flush()

    def _writer(self, run: str) -> Any:
        if run not in self._writers:
            self._writers[run] = self.writer_factory(os.path.join(self.log_dir, run))
        return self._writers[run]

    def _purge_past_backup(self) -> None:
        """Removes what the interrupted run logged after the backup this run resumes from.

        Batch tags count batches (kept up to the restored counter), ``evaluation_*`` tags
        optimizer updates (kept up to the restored count), every other tag epochs (kept for
        the epochs the backup had finished). The graph and config are written again.
        """
        batches, updates = self._global_batch, self._iterations()
        epochs = int(getattr(self.model.train_state, "epoch", 0))
        rewrite_graph = self.write_graph

        def keep(event: Any) -> bool:
            if event.HasField("file_version"):
                return True
            if event.HasField("session_log"):
                return False  # restart markers of earlier versions
            if any(
                event.HasField(f) for f in ("graph_def", "meta_graph_def", "tagged_run_metadata")
            ):
                return not rewrite_graph
            if not event.HasField("summary") or not event.summary.value:
                return True
            tag = event.summary.value[0].tag
            if tag in ("keras", "keras/text_summary"):
                return not rewrite_graph
            if tag.startswith("batch_"):
                return event.step <= batches
            if tag.startswith("evaluation_") and tag.endswith("_vs_iterations"):
                return event.step <= updates
            return event.step < epochs

        for run in ("train", "validation"):
            try:
                tbu.purge_events(os.path.join(self.log_dir, run), keep)
            except (OSError, ImportError) as exc:
                warnings.warn(
                    f"TensorBoard could not remove the events logged past the backup in "
                    f"{os.path.join(self.log_dir, run)!r}: {exc}",
                    stacklevel=3,
                )

    def _scalar(self, run: str, tag: str, value: Any, step: int) -> None:
        self._queue.submit(self._writer(run).add_scalar, tag, float(value), step)

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            self._queue.submit(writer.close)
        self._writers = {}
        self._queue.close()

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Batch numbers restart with each run (Keras), but a resumed run continues them,
        # after removing what the interrupted run logged past its backup.
        if not self.resuming:
            self._global_batch = 0
        else:
            self._purge_past_backup()
        if self.write_graph:
            self._write_graph()
        if self.embeddings_freq and isinstance(self.embeddings_metadata, Mapping):
            unknown = set(self.embeddings_metadata) - set(tbu.embedding_layers(self.model.module))
            if unknown:
                raise ValueError(
                    "Unrecognized `Embedding` layer names passed to "
                    f"`TensorBoard` `embeddings_metadata` argument: {sorted(unknown)}"
                )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = self.clock()
        self._epoch_iterations = self._iterations()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._global_batch += 1
        self._batch_start = self.clock()
        if self._global_batch == self._start_batch and self._profiler is None:
            self._start_profiler()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        step = self._global_batch
        if self.update_freq != "epoch" and step % self.update_freq == 0:
            if self.write_steps_per_second:
                elapsed = max(self.clock() - self._batch_start, 1e-9)
                self._scalar("train", "batch_steps_per_second", 1.0 / elapsed, step)
            for name, value in (logs or {}).items():
                self._scalar("train", "batch_" + name, value, step)
        if self._profiler is not None and step >= self._stop_batch:
            self._stop_profiler()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        train["learning_rate"] = self.model.optimizer.learning_rate
        if self.write_steps_per_second:
            elapsed = max(self.clock() - self._epoch_start, 1e-9)
            train["steps_per_second"] = (self._iterations() - self._epoch_iterations) / elapsed
        for name, value in train.items():
            self._scalar("train", "epoch_" + name, value, epoch)
        for name, value in logs.items():
            if name.startswith("val_"):
                self._scalar("validation", "epoch_" + name[4:], value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_histograms(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self._write_embeddings(epoch)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        step = self._iterations()
        for name, value in (logs or {}).items():
            self._scalar("validation", f"evaluation_{name}_vs_iterations", value, step)
        self._queue.submit(self._writer("validation").flush)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._profiler is not None:
            self._stop_profiler()
        self._close_writers()

    # ------------------------------------------------------------------ pieces
    def _iterations(self) -> int:
        return int(getattr(getattr(self.model, "optimizer", None), "iterations", 0) or 0)

    def _write_graph(self) -> None:
        writer = self._writer("train")
        get_config = getattr(self.model, "get_config", None)
        if callable(get_config):
            self._queue.submit(writer.add_text, "keras", json.dumps(get_config()), 0)
        example = getattr(self.model, "example_input", None)
        if example is None:
            return
        tbu.add_graph(writer, self.model.module, example)

    def _write_histograms(self, epoch: int) -> None:
        tbu.queue_histograms(
            self._queue,
            self._writer("train"),
            self.model.module,
            epoch,
            images=self.write_images,
            grads=self.write_grads,
            warned=self._warned_histograms,
        )

    def _write_embeddings(self, epoch: int) -> None:
        matrices = []
        for name, weight in tbu.embedding_layers(self.model.module).items():
            metadata = self.embeddings_metadata
            if isinstance(metadata, Mapping):
                metadata = metadata.get(name)
            tensor_path = tbu.embedding_path(epoch, name)
            self._embeddings.append(
                (f"{name}:{epoch:05d}", tensor_path, os.fspath(metadata) if metadata else None)
            )
            matrices.append((tensor_path, weight.detach().cpu().numpy().copy()))
        self._queue.submit(tbu.write_embeddings, self.log_dir, list(self._embeddings), matrices)

    def _start_profiler(self) -> None:
        self._profiler = tbu.start_profiler(os.path.join(self.log_dir, "plugins", "profile"))

    def _stop_profiler(self) -> None:
        self._profiler.stop()  # writes the trace
        self._profiler = None
