"""WandbLogger: a ``fit`` run to Weights & Biases: config, metrics, learning rate, checkpoints."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

from epochal._validation import check_int
from epochal.callbacks._run_settings import run_settings
from epochal.callbacks.callback import Callback

__all__ = ["WandbLogger"]


def _number(value: Any) -> float | None:
    """A finite real as a float (numpy scalars too); anything else `None`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class WandbLogger(Callback):
    """Logs a ``fit`` run to Weights & Biases (W&B), with the keys of wandb's Keras logger.

    At train begin a run is started (``wandb.init``) unless one is active or given, and its
    config gets ``epochs``, ``steps``, the optimizer's config (``optimizer.*``), the
    compiled loss and metrics, the model's class and parameter count, plus ``config``.
    Each epoch end logs every numeric log as ``epoch/<key>`` (``epoch/loss``,
    ``epoch/val_accuracy``, ``epoch/test_loss``, ``epoch/system/cpu_percent``...), with
    ``epoch/learning_rate`` and ``epoch/epoch`` (0-based, the step metric of
    ``epoch/*``). With ``log_freq=N`` every N-th training batch logs ``batch/<key>``,
    ``batch/learning_rate`` and ``batch/batch_step`` (reading batch logs: one device sync
    per logged batch). Each file of ``checkpoint_paths`` that changed since it was last
    logged (a ``ModelCheckpoint`` output, before or after this callback in the list) is
    logged as a ``model`` artifact (aliases ``latest`` and ``epoch_<n>``, the epoch that
    wrote it). A run this callback started is finished at train end, and the next ``fit``
    starts a new one; an active or given run is left open. A ``fit`` that raises leaves
    its run open: wandb finishes it at exit, or a resumed ``fit`` goes on in it.

    The run id and the batch counter are part of :meth:`state_dict`: after
    ``BackupAndRestore`` the resumed ``fit`` continues the same W&B run
    (``wandb.init(id=..., resume="allow")``). Epochs that the interrupted run logged past
    its last backup are logged again (W&B keeps history rows; ``epoch/epoch`` tells them
    apart). Only the main process logs. Offline runs (``WANDB_MODE=offline``, or
    ``mode="offline"``) are written under ``dir`` for a later ``wandb sync``.

    Needs the optional ``wandb`` package (``pip install epochal[wandb]``).

    Args:
        project: W&B project. Defaults to `None` (``$WANDB_PROJECT``, else `"epochal"`).
        name: Display name of the run. Defaults to `None` (W&B picks one).
        entity: Team or user. Defaults to `None`.
        dir: Folder for W&B's local files. Defaults to `None` (``$WANDB_DIR`` or the
            current folder).
        config: Extra config values. Defaults to `None`.
        tags: Run tags. Defaults to `None`.
        mode: ``"online"``, ``"offline"`` or ``"disabled"``. Defaults to `None`
            (``$WANDB_MODE``, else online).
        log_freq: ``"epoch"``, or an int N: also log every N-th training batch. Defaults to
            `"epoch"`.
        checkpoint_paths: Files to log as model artifacts when they change. Defaults to
            `None`.
        init_kwargs: More ``wandb.init`` arguments (``group``, ``job_type``, ``notes``,
            ``settings``...). Defaults to `None`.
        run: A W&B run to log into (left open at the end). Defaults to `None`.

    Raises:
        ImportError: at train begin when wandb is not installed and no ``run`` is given.
        TypeError / ValueError: for a bad ``log_freq``, a string ``checkpoint_paths``.

    Example:
        >>> from epochal.callbacks import WandbLogger
        >>> WandbLogger(project="demo", mode="offline").log_freq
        'epoch'
    """

    main_process_only = True  # writes files / sends data: rank 0 of a distributed job only

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        entity: str | None = None,
        dir: str | os.PathLike[str] | None = None,
        config: dict[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        mode: str | None = None,
        log_freq: str | int = "epoch",
        checkpoint_paths: Sequence[str | os.PathLike[str]] | None = None,
        init_kwargs: dict[str, Any] | None = None,
        *,
        run: Any = None,
    ) -> None:
        super().__init__()
        for arg, value in (("project", project), ("name", name), ("entity", entity)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"`{arg}` must be a str or None. Received: {arg}={value!r}")
        if dir is not None and not isinstance(dir, str | os.PathLike):
            raise TypeError(f"`dir` must be a path or None. Received: dir={dir!r}")
        for arg, mapping in (("config", config), ("init_kwargs", init_kwargs)):
            if mapping is not None and not isinstance(mapping, dict):
                raise TypeError(f"`{arg}` must be a dict or None. Received: {arg}={mapping!r}")
        if isinstance(tags, str):
            raise TypeError(f"`tags` must be a list of str. Received: tags={tags!r}")
        if isinstance(checkpoint_paths, str | os.PathLike):
            raise TypeError(
                "`checkpoint_paths` must be a list of paths. "
                f"Received: checkpoint_paths={checkpoint_paths!r}"
            )
        if log_freq != "epoch":
            log_freq = check_int("log_freq", log_freq, minimum=1, also=("epoch",))
        if mode not in (None, "online", "offline", "disabled"):
            raise ValueError(
                f"`mode` must be 'online', 'offline', 'disabled' or None. Received: mode={mode!r}"
            )
        self.project = project
        self.name = name
        self.entity = entity
        self.dir = None if dir is None else os.fspath(dir)
        self.config = dict(config or {})
        self.tags = None if tags is None else list(tags)
        self.mode = mode
        self.log_freq = log_freq
        self.checkpoint_paths = [os.fspath(p) for p in checkpoint_paths or []]
        self.init_kwargs = dict(init_kwargs or {})
        self.run: Any = run
        self._given_run = run is not None
        self._owns_run = False
        self._resume_id: str | None = None
        self._batch_step = 0
        self._logged_mtimes: dict[str, float] = {}
        self._last_epoch: int | None = None

    def implements(self, hook: str) -> bool:
        if hook == "on_train_batch_end":
            return self.log_freq != "epoch"
        return super().implements(hook)

    @property
    def run_id(self) -> str | None:
        """The W&B run's id (`None` before the first ``fit``)."""
        return None if self.run is None else str(self.run.id)

    # ------------------------------------------------------------------ the run
    def _wandb(self) -> Any:
        try:
            import wandb
        except ImportError as exc:
            raise ImportError(
                "WandbLogger requires the `wandb` package: pip install 'epochal[wandb]'."
            ) from exc
        return wandb

    def _start(self) -> None:
        resume_id, self._resume_id = self._resume_id, None
        if self._given_run:
            return  # the run handed to the constructor
        wandb = self._wandb()
        active = wandb.run
        if resume_id is not None and active is not None and str(active.id) == resume_id:
            self.run, self._owns_run = active, True  # resumed in the same process: go on
            return
        if resume_id is None and active is not None:
            self.run, self._owns_run = active, False  # the user's run: left open at the end
            return
        kwargs: dict[str, Any] = {
            "project": self.project or os.environ.get("WANDB_PROJECT") or "epochal",
            "name": self.name,
            "entity": self.entity,
            "dir": self.dir,
            "tags": self.tags,
            "mode": self.mode,
            **self.init_kwargs,
        }
        if resume_id is not None:
            kwargs.update(id=resume_id, resume="allow")
        if self.dir is not None:
            os.makedirs(self.dir, exist_ok=True)
        self.run = wandb.init(**{k: v for k, v in kwargs.items() if v is not None})
        self._owns_run = True

    def _run_config(self) -> dict[str, Any]:
        values = run_settings(self.model, self.params)
        evaluation_sets = getattr(getattr(self.model, "train_state", None), "evaluation_sets", ())
        if evaluation_sets:
            values["evaluation_sets"] = list(evaluation_sets)
        values.update(self.config)
        return values

    def _learning_rate(self) -> float | None:
        optimizer = getattr(self.model, "optimizer", None)
        value: Any = getattr(optimizer, "learning_rate", None)
        try:
            return _number(float(value))  # a LearningRate (float32 variable) or a float
        except (TypeError, ValueError):
            return None

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._last_epoch = None
        if not self.resuming:
            self._batch_step = 0
            self._logged_mtimes = {}
        self._start()
        self.run.config.update(self._run_config(), allow_val_change=True)
        self.run.define_metric("epoch/epoch")
        self.run.define_metric("epoch/*", step_metric="epoch/epoch")
        if self.log_freq != "epoch":
            self.run.define_metric("batch/batch_step")
            self.run.define_metric("batch/*", step_metric="batch/batch_step")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batch_step += 1
        if self.run is None or not isinstance(self.log_freq, int):
            return
        if self._batch_step % self.log_freq:
            return
        row = {f"batch/{k}": v for k, v in (logs or {}).items() if _number(v) is not None}
        learning_rate = self._learning_rate()
        if learning_rate is not None:
            row["batch/learning_rate"] = learning_rate
        row["batch/batch_step"] = self._batch_step
        self.run.log(row)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.run is None:
            return
        row = {f"epoch/{k}": float(v) for k, v in (logs or {}).items() if _number(v) is not None}
        learning_rate = self._learning_rate()
        if learning_rate is not None and "epoch/learning_rate" not in row:
            row["epoch/learning_rate"] = learning_rate
        row["epoch/epoch"] = epoch
        self.run.log(row)
        self._last_epoch = epoch
        self._log_checkpoints()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # A checkpoint written after this callback's on_epoch_end (a ModelCheckpoint later
        # in the list) is found here, and at train end.
        self._log_checkpoints()

    def _log_checkpoints(self) -> None:
        if self.run is None or self._last_epoch is None:
            return
        for path in self.checkpoint_paths:
            if os.path.isfile(path) and self._logged_mtimes.get(path) != os.path.getmtime(path):
                self._log_checkpoint(path, self._last_epoch)
                self._logged_mtimes[path] = os.path.getmtime(path)

    def _log_checkpoint(self, path: str, epoch: int) -> None:
        wandb = self._wandb()
        stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in os.path.basename(path))
        artifact = wandb.Artifact(f"run-{self.run_id}-{stem}", type="model")
        artifact.add_file(path)
        self.run.log_artifact(artifact, aliases=["latest", f"epoch_{epoch}"])

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._log_checkpoints()
        if self.run is not None and self._owns_run:
            self.run.finish()
            self._owns_run = False

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """The run id and the batch counter, so a resumed ``fit`` continues the same run."""
        if self.run is None or self._given_run:
            return {}
        return {
            "run_id": self.run_id,
            "batch_step": self._batch_step,
            "logged_mtimes": dict(self._logged_mtimes),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues the W&B run of an interrupted ``fit`` (at the next ``on_train_begin``)."""
        run_id = state.get("run_id")
        if run_id is None:
            return
        self._resume_id = str(run_id)
        self._batch_step = check_int(
            "batch_step", state.get("batch_step", 0), minimum=0, where="WandbLogger state: "
        )
        self._logged_mtimes = {
            str(k): float(v) for k, v in dict(state.get("logged_mtimes") or {}).items()
        }
