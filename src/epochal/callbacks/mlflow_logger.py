"""MLflowLogger: params, per-epoch metrics and checkpoint files to an MLflow tracking store."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from epochal._validation import check_str
from epochal.callbacks._run_settings import run_settings
from epochal.callbacks.callback import Callback

__all__ = ["MLflowLogger"]


def _default_uri() -> str:
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return "sqlite:///" + str(Path("mlflow.db").resolve())


def _text(value: Any) -> str:
    # Learning rates are float32-rounded: show 0.01, not 0.009999999776482582.
    if isinstance(value, float) and float(np.float32(value)) == value:
        return str(np.float32(value))
    return str(value)


def _to_uri(tracking_uri: str | os.PathLike[str]) -> str:
    text = os.fspath(tracking_uri)
    if "://" in text or text.startswith(("databricks", "file:")):
        return text
    return Path(text).resolve().as_uri()  # a local folder: MLflow's file store


class MLflowLogger(Callback):
    """Logs a ``fit`` run to MLflow: parameters, every epoch's metrics, checkpoint files.

    At train begin a run is created in ``experiment_name`` and the parameters are logged:
    ``epochs``, ``steps``, the optimizer's config (``optimizer.*``), the compiled loss and
    metrics, the model's class and parameter count, plus ``log_params``. At each epoch end the
    numeric logs are logged with ``step=epoch``, and each file of ``artifact_paths`` that
    changed since it was last logged (a ``ModelCheckpoint`` output, say) is uploaded under
    ``checkpoints/``. The run ends ``FINISHED`` at train end. Its id is part of
    :meth:`state_dict`, so a run resumed by ``BackupAndRestore`` continues the same MLflow
    run. Only the main process logs.

    Needs the optional ``mlflow`` package (``pip install epochal[mlflow]``; ``mlflow-skinny``
    plus ``sqlalchemy`` and ``alembic`` is enough for a SQLite store).

    Args:
        tracking_uri: Any MLflow tracking URI, or a local folder (MLflow's file store).
            Defaults to `None` (``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the
            current folder).
        experiment_name: Experiment to log into (created when missing). Defaults to
            `"epochal"`.
        run_name: Name of the MLflow run. Defaults to `None` (MLflow picks one).
        log_params: Extra parameters to log. Defaults to `None`.
        artifact_paths: Files to upload when they change (checkpoints). Defaults to `None`.
        client: An ``mlflow.MlflowClient``-like object (inject one in tests). Defaults to
            `None` (a client for ``tracking_uri``).

    Raises:
        ImportError: when mlflow is not installed and no ``client`` is given.
        TypeError: when ``artifact_paths`` is a string instead of a list.

    Example:
        >>> from epochal.callbacks import MLflowLogger
        >>> MLflowLogger.__name__
        'MLflowLogger'
    """

    main_process_only = True  # writes files / sends data: rank 0 of a distributed job only

    def __init__(
        self,
        tracking_uri: str | os.PathLike[str] | None = None,
        experiment_name: str = "epochal",
        run_name: str | None = None,
        log_params: dict[str, Any] | None = None,
        artifact_paths: Sequence[str | os.PathLike[str]] | None = None,
        *,
        client: Any = None,
    ) -> None:
        super().__init__()
        where = "MLflowLogger: "
        check_str("tracking_uri", tracking_uri, allow_none=True, path=True, where=where)
        check_str("experiment_name", experiment_name, non_empty=True, where=where)
        check_str("run_name", run_name, allow_none=True, where=where)
        if log_params is not None and not isinstance(log_params, dict):
            raise TypeError(
                f"{where}`log_params` must be a dict or None. Received: log_params={log_params!r}"
            )
        if isinstance(artifact_paths, str | os.PathLike):
            raise TypeError(
                "`artifact_paths` must be a list of paths. "
                f"Received: artifact_paths={artifact_paths!r}"
            )
        self.tracking_uri = _to_uri(tracking_uri) if tracking_uri is not None else _default_uri()
        if client is None:
            try:
                from mlflow.tracking import MlflowClient
            except ImportError as exc:
                raise ImportError(
                    "MLflowLogger requires the `mlflow` package: pip install 'epochal[mlflow]' "
                    "(or mlflow-skinny)."
                ) from exc
            client = MlflowClient(tracking_uri=self.tracking_uri)
        self.client = client
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.log_params = dict(log_params or {})
        self.artifact_paths = [os.fspath(p) for p in artifact_paths or []]
        self.run_id: str | None = None
        self._resume_run_id: str | None = None
        self._logged_mtimes: dict[str, float] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._resume_run_id is not None:
            self.run_id, self._resume_run_id = self._resume_run_id, None
            self.client.update_run(self.run_id, status="RUNNING")
            return
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            experiment_id = self.client.create_experiment(
                self.experiment_name, **self._artifact_location()
            )
        run = self.client.create_run(experiment_id, run_name=self.run_name)
        self.run_id = run.info.run_id
        self._logged_mtimes = {}
        from mlflow.entities import Param

        params = [Param(k, _text(v)[:6000]) for k, v in sorted(self._run_params().items())]
        self.client.log_batch(self.run_id, params=params)

    def _artifact_location(self) -> dict[str, str]:
        if self.tracking_uri.startswith("sqlite:///"):
            folder = Path(self.tracking_uri[len("sqlite:///") :]).parent / "mlartifacts"
            return {"artifact_location": folder.resolve().as_uri()}
        return {}

    def _run_params(self) -> dict[str, Any]:
        values = run_settings(self.model, self.params)
        if "metrics" in values:
            values["metrics"] = ",".join(values["metrics"])  # MLflow params are strings
        values.update(self.log_params)
        return values

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.run_id is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(key, float(value), now, epoch)
            for key, value in (logs or {}).items()
            if isinstance(value, int | float) and math.isfinite(float(value))
        ]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)
        for path in self.artifact_paths:
            if os.path.isfile(path) and self._logged_mtimes.get(path) != os.path.getmtime(path):
                self.client.log_artifact(self.run_id, path, "checkpoints")
                self._logged_mtimes[path] = os.path.getmtime(path)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, "FINISHED")

    @property
    def state_key(self) -> str:
        return self._generate_state_key(
            experiment_name=self.experiment_name, run_name=self.run_name
        )

    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id} if self.run_id else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continues the MLflow run of an interrupted ``fit``."""
        run_id = state.get("run_id")
        if run_id is None:
            return
        if self.run_id is None:
            self._resume_run_id = run_id  # used by the next on_train_begin
        elif self.run_id != run_id:
            # Restored after this run's begin hook: drop the fresh run, continue the old one.
            self.client.delete_run(self.run_id)
            self.run_id = run_id
            self.client.update_run(run_id, status="RUNNING")
