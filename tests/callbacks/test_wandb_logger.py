"""WandbLogger, with the real wandb in offline mode: every logged value read back from the
run's ``.wandb`` transaction log (no network, no ``wandb sync``)."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

from epochal.callbacks import (
    BackupAndRestore,
    Callback,
    ModelCheckpoint,
    SystemMonitor,
    WandbLogger,
)

wandb = pytest.importorskip("wandb", reason="wandb is in the dev extra (pip install -e .[dev])")
from wandb.proto import wandb_internal_pb2  # noqa: E402

_BLOCK, _HEADER = 32768, 7  # wandb's record log: LevelDB-style 32 KiB blocks, 7-byte headers


def read_records(path: Path) -> list:
    """The protobuf records of one ``run-<id>.wandb`` file, in order."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a wandb transaction log"
    pos, parts, records = _HEADER, b"", []
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:
            pos += left  # block trailer padding
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        if length == 0 and kind == 0:
            pos += left
            continue
        parts += data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind in (1, 4):  # FULL, or LAST of a FIRST/MIDDLE/LAST chain
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            records.append(record)
            parts = b""
    return records


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


class OfflineRun:
    """What one offline run directory holds: history rows, config, artifacts, metrics."""

    def __init__(self, records: list) -> None:
        self.run_id = self.display_name = self.project = ""
        self.history: list[dict] = []
        self.config: dict = {}
        self.artifacts: list = []
        self.step_metrics: dict[str, str] = {}
        self.exit_code: int | None = None
        for record in records:
            kind = record.WhichOneof("record_type")
            if kind == "run":  # the first one names the run; later ones may be partial
                self.run_id = self.run_id or record.run.run_id
                self.display_name = self.display_name or record.run.display_name
                self.project = self.project or record.run.project
                for item in record.run.config.update:
                    self.config[_key(item)] = json.loads(item.value_json)
            elif kind == "config":
                for item in record.config.update:
                    self.config[_key(item)] = json.loads(item.value_json)
            elif kind == "history":
                row = {_key(i): json.loads(i.value_json) for i in record.history.item}
                self.history.append({k: v for k, v in row.items() if not k.startswith("_")})
            elif kind == "artifact":
                self.artifacts.append(record.artifact)
            elif kind == "metric" and record.metric.glob_name:
                self.step_metrics[record.metric.glob_name] = record.metric.step_metric
            elif kind == "exit":
                self.exit_code = record.exit.exit_code


def offline_runs(root: Path, deadline: float = 30.0) -> list[OfflineRun]:
    """Every offline run under ``root``, once each one's log holds its exit record.

    ``run.finish()`` returns before wandb's writer process has flushed the log: poll it
    (with a deadline) instead of reading it at once.
    """
    files = sorted(root.glob("wandb/offline-run-*/run-*.wandb"))
    runs, end = [], time.monotonic() + deadline
    for path in files:
        while True:
            run = OfflineRun(read_records(path))
            if run.exit_code is not None or time.monotonic() > end:
                break
            time.sleep(0.01)  # a poll step
        runs.append(run)
    return runs


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    wandb.teardown()  # settings are read from the environment once per setup: start afresh
    yield tmp_path
    if wandb.run is not None:
        wandb.run.finish()
    wandb.teardown()  # wandb reads WANDB_DIR once per setup: the next test gets a fresh one


class _Epochs(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.logs: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append(dict(logs))


def test_config_and_every_epoch_value_are_in_the_offline_run(offline, tiny_data, compiled_model):
    x, y = tiny_data
    model = compiled_model()
    seen = _Epochs()
    logger = WandbLogger(project="epochal-tests", name="first", config={"note": "hi"})
    model.fit(
        x,
        y,
        epochs=3,
        batch_size=10,
        verbose=0,
        validation_split=0.25,
        evaluation_data={"test": (x[:12], y[:12])},
        callbacks=[logger, seen],
    )
    [run] = offline_runs(offline)
    assert run.run_id == logger.run_id
    assert run.display_name == "first" and run.project == "epochal-tests"
    assert run.exit_code == 0
    assert run.config["epochs"] == 3 and run.config["steps"] == 3
    assert run.config["optimizer.name"] == "sgd"
    assert run.config["optimizer.learning_rate"] == pytest.approx(0.01)
    assert run.config["metrics"] == ["accuracy"]
    assert run.config["model.params"] == model.count_params()
    assert run.config["evaluation_sets"] == ["test"]
    assert run.config["note"] == "hi"
    assert run.step_metrics == {"epoch/*": "epoch/epoch"}
    assert len(run.history) == 3
    for epoch, (row, logs) in enumerate(zip(run.history, seen.logs, strict=True)):
        assert row["epoch/epoch"] == epoch
        assert row["epoch/learning_rate"] == pytest.approx(0.01)
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"):
            assert row[f"epoch/{key}"] == pytest.approx(logs[key], rel=1e-12), key


def test_batch_rows_every_log_freq_batches(offline, tiny_data, compiled_model):
    x, y = tiny_data
    batches: list[dict] = []

    class Batches(Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(dict(logs))

    logger = WandbLogger(log_freq=3)
    compiled_model().fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[Batches(), logger])
    [run] = offline_runs(offline)
    rows = [r for r in run.history if "batch/batch_step" in r]
    assert [r["batch/batch_step"] for r in rows] == [3, 6]
    for row in rows:
        logs = batches[row["batch/batch_step"] - 1]
        assert row["batch/loss"] == pytest.approx(logs["loss"], rel=1e-12)
        assert row["batch/accuracy"] == pytest.approx(logs["accuracy"])
        assert row["batch/learning_rate"] == pytest.approx(0.01)
    assert run.step_metrics["batch/*"] == "batch/batch_step"
    assert [r["epoch/epoch"] for r in run.history if "epoch/epoch" in r] == [0, 1]


def test_system_monitor_keys_and_checkpoints_are_logged(offline, tiny_data, compiled_model):
    x, y = tiny_data
    path = offline / "best.weights.h5"
    checkpoint = ModelCheckpoint(str(path), monitor="loss", save_weights_only=True)
    logger = WandbLogger(checkpoint_paths=[path])
    compiled_model().fit(
        x,
        y,
        epochs=2,
        batch_size=10,
        verbose=0,
        callbacks=[logger, checkpoint, SystemMonitor(gpu=False)],
    )
    [run] = offline_runs(offline)
    assert all(row["epoch/system/process_rss_mib"] > 0 for row in run.history)
    assert [a.type for a in run.artifacts] == ["model", "model"]
    assert run.artifacts[0].name == f"run-{logger.run_id}-best.weights.h5"
    assert [sorted(a.aliases) for a in run.artifacts] == [
        ["epoch_0", "latest"],
        ["epoch_1", "latest"],
    ]
    assert [m.path for m in run.artifacts[0].manifest.contents] == ["best.weights.h5"]


def test_backup_and_restore_resume_continues_the_same_run(offline, tiny_data, compiled_model):
    x, y = tiny_data

    class Interrupt(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("preempted")

    backup = offline / "backup"
    first = WandbLogger(project="resume")
    with pytest.raises(RuntimeError, match="preempted"):
        compiled_model().fit(
            x,
            y,
            epochs=4,
            batch_size=10,
            verbose=0,
            callbacks=[first, BackupAndRestore(backup), Interrupt()],
        )
    assert wandb.run is not None and wandb.run.id == first.run_id  # left open by the raise
    wandb.run.finish(exit_code=1)  # what wandb does when the preempted process exits
    second = WandbLogger(project="resume")  # a new process would build a new callback
    compiled_model().fit(
        x, y, epochs=4, batch_size=10, verbose=0, callbacks=[second, BackupAndRestore(backup)]
    )
    runs = offline_runs(offline)
    assert [r.run_id for r in runs] == [first.run_id, first.run_id]  # wandb sync merges them
    assert second.run_id == first.run_id
    assert runs[0].exit_code == 1 and runs[1].exit_code == 0
    epochs = [row["epoch/epoch"] for run in runs for row in run.history]
    assert epochs == [0, 1, 2, 3]


def test_an_active_run_is_used_and_left_open(offline, tiny_data, compiled_model):
    x, y = tiny_data
    run = wandb.init(project="mine")
    logger = WandbLogger()
    compiled_model().fit(x, y, epochs=1, batch_size=10, verbose=0, callbacks=[logger])
    assert logger.run_id == run.id
    assert wandb.run is run  # still open for the user's own logging
    run.log({"after": 1.0})
    run.finish()
    [read] = offline_runs(offline)
    assert read.history[-1] == {"after": 1}


def test_each_fit_without_resume_starts_a_new_run(offline, tiny_data, compiled_model):
    x, y = tiny_data
    logger = WandbLogger()
    model = compiled_model()
    model.fit(x, y, epochs=1, batch_size=10, verbose=0, callbacks=[logger])
    first = logger.run_id
    model.fit(x, y, epochs=1, batch_size=10, verbose=0, callbacks=[logger])
    assert logger.run_id != first
    assert len(offline_runs(offline)) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"log_freq": 0}, ValueError, "log_freq"),
        ({"log_freq": "batch"}, TypeError, "log_freq"),
        ({"checkpoint_paths": "best.h5"}, TypeError, "checkpoint_paths"),
        ({"mode": "cloud"}, ValueError, "mode"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        WandbLogger(**kwargs)


def test_missing_wandb_is_a_clear_import_error(monkeypatch, tiny_data, compiled_model):
    import sys

    monkeypatch.setitem(sys.modules, "wandb", None)
    x, y = tiny_data
    with pytest.raises(ImportError, match=r"epochal\[wandb\]"):
        compiled_model().fit(x, y, epochs=1, verbose=0, callbacks=[WandbLogger()])
