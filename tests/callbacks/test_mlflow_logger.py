"""MLflowLogger: a real SQLite tracking store (when mlflow is installed), missing-dep error."""

from __future__ import annotations

import builtins
import sys

import pytest

from epochal.callbacks import Callback, MLflowLogger


def test_clear_error_when_mlflow_missing(monkeypatch):
    real_import = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError("No module named 'mlflow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"pip install 'epochal\[mlflow\]'"):
        MLflowLogger()


def test_args_validation():
    with pytest.raises(TypeError, match="artifact_paths"):
        MLflowLogger(artifact_paths="best.pt", client=object())


class WriteCheckpoint(Callback):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        if epoch in (0, 2):
            self.path.write_text(f"weights of epoch {epoch}")


def _sqlite_uri(tmp_path):
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("alembic")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.mark.slow  # creating an MLflow SQLite database takes ~10 s
def test_logs_params_metrics_and_checkpoints_to_sqlite(tmp_path, tiny_data, compiled_model):
    uri = _sqlite_uri(tmp_path)
    from mlflow.tracking import MlflowClient

    x, y = tiny_data
    checkpoint = tmp_path / "best.ckpt"
    logger = MLflowLogger(
        uri,
        experiment_name="exp",
        run_name="r1",
        log_params={"seed": 7},
        artifact_paths=[checkpoint],
    )
    model = compiled_model()
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=10,
        verbose=0,
        validation_split=0.25,
        callbacks=[WriteCheckpoint(checkpoint), logger],
    )
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "r1"
    params = run.data.params
    assert params["epochs"] == "3"
    assert params["seed"] == "7"
    assert params["loss"] == "sparse_categorical_crossentropy"
    assert params["metrics"] == "accuracy"
    assert params["model.params"] == str(model.count_params())
    assert params["optimizer.learning_rate"] == "0.01"
    for key, values in history.history.items():
        logged = client.get_metric_history(logger.run_id, key)
        assert [(m.step, m.value) for m in logged] == [
            (e, pytest.approx(v)) for e, v in enumerate(values)
        ]
    artifacts = [a.path for a in client.list_artifacts(logger.run_id, "checkpoints")]
    assert artifacts == ["checkpoints/best.ckpt"]
    local = client.download_artifacts(logger.run_id, "checkpoints/best.ckpt", str(tmp_path / "dl"))
    with open(local) as handle:
        assert handle.read() == "weights of epoch 2"


@pytest.mark.slow
def test_resume_continues_the_same_run(tmp_path, tiny_data, compiled_model):
    uri = _sqlite_uri(tmp_path)
    from mlflow.tracking import MlflowClient

    x, y = tiny_data
    model = compiled_model()
    first = MLflowLogger(uri)
    model.fit(x, y, epochs=1, batch_size=10, verbose=0, callbacks=[first])
    resumed = MLflowLogger(uri)
    resumed.load_state_dict(first.state_dict())
    model.fit(x, y, epochs=2, initial_epoch=1, batch_size=10, verbose=0, callbacks=[resumed])
    assert resumed.run_id == first.run_id
    logged = MlflowClient(tracking_uri=uri).get_metric_history(first.run_id, "loss")
    assert [m.step for m in logged] == [0, 1]
